//! Maintenance windows against a real PostgreSQL: a window reads back as written; the active ones
//! are those whose `[start, end)` holds the instant, an early end included; ending a window brings
//! the end of the holds it has forward; an incident held by overlapping windows is held until the
//! last of them ends.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use time::OffsetDateTime;
use time::macros::datetime;
use tocsin_domain::maintenance::{Occurrence, Window};
use tocsin_domain::matcher;
use tocsin_storage::maintenance;
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

const TEN: OffsetDateTime = datetime!(2026-12-08 10:00 UTC);
const ELEVEN: OffsetDateTime = datetime!(2026-12-08 11:00 UTC);
const NOON: OffsetDateTime = datetime!(2026-12-08 12:00 UTC);

fn window(matchers: &str, starts_at: OffsetDateTime, ends_at: OffsetDateTime, reason: &str) -> Window {
    let matchers = matcher::parse_set(matchers).expect("matchers");
    Window::new(Uuid::now_v7(), matchers, starts_at, ends_at, reason).expect("a window")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_reads_back_and_is_active_over_its_start_to_its_end() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let upgrade = window(r#"{service="checkout", instance=~"db-[0-9]+", team!="search"}"#, TEN, ELEVEN, "db upgrade");
    maintenance::insert(&mut conn, &upgrade, "alice@example.com", TEN).await.expect("insert");

    let stored = maintenance::get(&mut conn, upgrade.id).await.expect("get").expect("the window");
    assert_eq!(stored.window, upgrade);
    assert_eq!((stored.author.as_str(), stored.created_at, stored.ended_by), ("alice@example.com", TEN, None));

    // PostgreSQL keeps microseconds: the instant just before is one microsecond before.
    let microsecond = time::Duration::microseconds(1);
    assert_eq!(active(&mut conn, TEN - microsecond).await, Vec::<Uuid>::new());
    assert_eq!(active(&mut conn, TEN).await, [upgrade.id]);
    assert_eq!(active(&mut conn, ELEVEN - microsecond).await, [upgrade.id]);
    assert_eq!(active(&mut conn, ELEVEN).await, Vec::<Uuid>::new());
}

async fn active(conn: &mut diesel_async::AsyncPgConnection, at: OffsetDateTime) -> Vec<Uuid> {
    maintenance::active_at(conn, at).await.expect("active_at").into_iter().map(|window| window.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_window_early_ends_it_and_the_holds_it_has_then() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let upgrade = window(r#"service="checkout""#, TEN, NOON, "db upgrade");
    let later = window(r#"team="payments""#, TEN, NOON, "rack move");
    for planned in [&upgrade, &later] {
        maintenance::insert(&mut conn, planned, "alice@example.com", TEN).await.expect("insert");
    }
    let incident = Uuid::now_v7();
    let whole = Occurrence { starts_at: TEN, ends_at: NOON };
    maintenance::attach(&mut conn, incident, upgrade.id, whole, TEN).await.expect("attach");
    maintenance::attach(&mut conn, incident, later.id, whole, TEN).await.expect("attach");
    // Reopened inside the same window: still one hold.
    maintenance::attach(&mut conn, incident, upgrade.id, whole, ELEVEN).await.expect("attach again");

    let half_past_ten = datetime!(2026-12-08 10:30 UTC);
    let ended = maintenance::end(&mut conn, upgrade.id, "bob@example.com", half_past_ten).await.expect("end");
    let ended = ended.expect("the window");
    assert_eq!((ended.window.ended_at, ended.ended_by.as_deref()), (Some(half_past_ten), Some("bob@example.com")));
    assert_eq!(maintenance::active_at(&mut conn, ELEVEN).await.expect("active_at").len(), 1, "the other one");

    // Ending it again, later, changes nothing; a window that does not exist is none.
    let again = maintenance::end(&mut conn, upgrade.id, "carol@example.com", ELEVEN).await.expect("end");
    assert_eq!(again.and_then(|w| w.ended_by), Some("bob@example.com".to_owned()));
    assert_eq!(maintenance::end(&mut conn, Uuid::now_v7(), "carol", ELEVEN).await.expect("end"), None);

    // Held by both: the hold shown is the one that ends last.
    let holds = maintenance::holds(&mut conn, &[incident, Uuid::now_v7()]).await.expect("holds");
    assert_eq!(holds.len(), 1);
    let hold = &holds[&incident];
    assert_eq!((hold.window_id, hold.reason.as_str(), hold.until), (later.id, "rack move", NOON));
    let ending = maintenance::end(&mut conn, later.id, "bob@example.com", ELEVEN).await.expect("end");
    assert!(ending.is_some());
    let hold = maintenance::holds(&mut conn, &[incident]).await.expect("holds").remove(&incident).expect("held");
    assert_eq!((hold.window_id, hold.until), (later.id, ELEVEN));
}
