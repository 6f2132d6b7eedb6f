//! On-call schedules against a real PostgreSQL: two overlapping overrides of one schedule, written
//! at the same moment by two transactions, cannot both commit; an edit of a layer, or the removal
//! of a layer or an override, leaves the past as it was; a stored schedule reads back as the input
//! of the shift arithmetic.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tocsin_domain::schedule::{Interval, shifts};
use tocsin_storage::catalogue;
use tocsin_storage::people::{self, SignedInIdentity};
use tocsin_storage::schedules::{self, NewLayerVersion, NewOverride, OverrideError, OverrideRemoval};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

async fn person(conn: &mut AsyncPgConnection, name: &str) -> Uuid {
    let identity = SignedInIdentity { issuer: "https://login.example.com", subject: name, name, email: None };
    people::sign_in_user(conn, &identity).await.expect("sign_in_user").id
}

/// A schedule of the team `payments` in `zone`.
async fn schedule(conn: &mut AsyncPgConnection, zone: &str) -> Uuid {
    catalogue::set_owner(conn, "checkout-api", "payments", "test").await.expect("set_owner");
    let team: Uuid = diesel::dsl::sql::<diesel::sql_types::Uuid>("SELECT id FROM teams WHERE slug = 'payments'")
        .get_result(conn)
        .await
        .expect("the team's id");
    schedules::create(conn, team, "primary", zone).await.expect("create")
}

/// A version of `layer` handing off daily at 09:00 local time, counted from March 1, 2026.
fn daily_at_nine(schedule_id: Uuid, layer: Uuid, members: &[Uuid]) -> NewLayerVersion<'_> {
    NewLayerVersion {
        schedule_id,
        layer,
        priority: 0,
        time_zone: None,
        first_handoff: datetime!(2026-03-01 09:00),
        shift_unit: "days",
        shift_count: 1,
        restrictions: json!([]),
        members,
        created_by: "test",
    }
}

fn to_jiff(at: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).expect("an instant jiff knows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_taking_overlapping_shifts_at_the_same_moment_cannot_both_succeed() {
    let db = TestDatabase::new().await;
    let mut setup = db.connection().await;
    let (alice, bob) = (person(&mut setup, "alice").await, person(&mut setup, "bob").await);
    let schedule_id = schedule(&mut setup, "Europe/Berlin").await;
    let start = datetime!(2026-12-24 18:00 UTC);
    let taken = |member, start: OffsetDateTime, hours: i64| NewOverride {
        schedule_id,
        member,
        replaces: None,
        start,
        end: start + Duration::hours(hours),
        reason: "Christmas Eve",
        created_by: "test",
    };

    // Alice's transaction has written her override but not committed it yet.
    let mut first = db.connection().await;
    first.batch_execute("BEGIN").await.expect("BEGIN");
    schedules::add_override(&mut first, &taken(alice, start, 12)).await.expect("alice's override");

    // Bob's overlapping insert, in a transaction of its own, waits for hers...
    let mut second = db.connection().await;
    let bobs = taken(bob, start + Duration::hours(6), 12);
    let bob_tries = tokio::spawn(async move { schedules::add_override(&mut second, &bobs).await.map(|_| ()) });
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE 'INSERT INTO schedule_overrides%'";
    for attempt in 0.. {
        let blocked: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(waiting)
            .get_result(&mut setup)
            .await
            .expect("pg_stat_activity");
        if blocked == 1 {
            break;
        }
        assert!(attempt < 500, "bob's insert never waited for alice's transaction");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // ...and is refused once hers commits.
    first.batch_execute("COMMIT").await.expect("COMMIT");
    let outcome = bob_tries.await.expect("bob's task");
    assert!(matches!(outcome, Err(OverrideError::Overlaps)), "{outcome:?}");
    let stored: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM schedule_overrides")
        .get_result(&mut setup)
        .await
        .expect("count");
    assert_eq!(stored, 1);

    // Back to back is not overlapping: [18:00, 06:00) then [06:00, 18:00).
    schedules::add_override(&mut setup, &taken(bob, start + Duration::hours(12), 12)).await.expect("back to back");
    // Another schedule's overrides are its own business.
    let other = {
        let team: Uuid = diesel::dsl::sql::<diesel::sql_types::Uuid>("SELECT id FROM teams WHERE slug = 'payments'")
            .get_result(&mut setup)
            .await
            .expect("the team's id");
        schedules::create(&mut setup, team, "secondary", "Europe/Berlin").await.expect("create")
    };
    schedules::add_override(&mut setup, &NewOverride { schedule_id: other, ..taken(bob, start, 12) })
        .await
        .expect("the same hours on another schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_schedule_reads_back_as_the_shift_arithmetic_takes_it_and_an_edit_leaves_the_past() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let (alice, bob, carol) =
        (person(&mut conn, "alice").await, person(&mut conn, "bob").await, person(&mut conn, "carol").await);
    let schedule_id = schedule(&mut conn, "America/New_York").await;
    let layer = Uuid::now_v7();
    let first = [alice, bob];
    schedules::put_layer(&mut conn, &daily_at_nine(schedule_id, layer, &first), datetime!(2026-03-01 00:00 UTC))
        .await
        .expect("first version");
    // Edited on March 9 at noon, New York time: Carol alone from then on.
    let edited_at = datetime!(2026-03-09 16:00 UTC);
    let carol_only = [carol];
    conn.transaction(async |conn| {
        schedules::put_layer(conn, &daily_at_nine(schedule_id, layer, &carol_only), edited_at).await
    })
    .await
    .expect("the edit");
    schedules::add_override(
        &mut conn,
        &NewOverride {
            schedule_id,
            member: bob,
            replaces: Some(carol),
            start: datetime!(2026-03-10 13:00 UTC),
            end: datetime!(2026-03-10 17:00 UTC),
            reason: "dentist",
            created_by: "test",
        },
    )
    .await
    .expect("override");

    let (from, until) = (datetime!(2026-03-07 00:00 UTC), datetime!(2026-03-11 00:00 UTC));
    let stored = schedules::load(&mut conn, schedule_id, from, until).await.expect("load").expect("the schedule");
    let found = shifts(&stored, Interval::new(to_jiff(from), to_jiff(until))).expect("shifts");
    let lines: Vec<(Uuid, String, String)> =
        found.iter().map(|shift| (shift.member, shift.start.to_string(), shift.end.to_string())).collect();
    // Daily at 09:00 New York: EST (14:00 UTC) until March 8, EDT (13:00 UTC) after; the 23-hour
    // day is March 8's. Alice takes March 1's turn and every other one after, Bob those
    // between; Carol from the edit on.
    assert_eq!(
        lines,
        vec![
            (bob, "2026-03-07T00:00:00Z".into(), "2026-03-07T14:00:00Z".into()),
            (alice, "2026-03-07T14:00:00Z".into(), "2026-03-08T13:00:00Z".into()),
            (bob, "2026-03-08T13:00:00Z".into(), "2026-03-09T13:00:00Z".into()),
            (alice, "2026-03-09T13:00:00Z".into(), "2026-03-09T16:00:00Z".into()),
            (carol, "2026-03-09T16:00:00Z".into(), "2026-03-10T13:00:00Z".into()),
            (bob, "2026-03-10T13:00:00Z".into(), "2026-03-10T17:00:00Z".into()),
            (carol, "2026-03-10T17:00:00Z".into(), "2026-03-11T00:00:00Z".into()),
        ]
    );
    assert!(schedules::load(&mut conn, Uuid::now_v7(), from, until).await.expect("load").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_override_or_a_layer_changes_only_what_comes_after_the_removal() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let (alice, bob) = (person(&mut conn, "alice").await, person(&mut conn, "bob").await);
    let schedule_id = schedule(&mut conn, "Europe/London").await;
    let removal = datetime!(2026-12-10 12:00 UTC);
    let taking = |start: OffsetDateTime, end: OffsetDateTime| NewOverride {
        schedule_id,
        member: bob,
        replaces: None,
        start,
        end,
        reason: "",
        created_by: "test",
    };
    let over = taking(datetime!(2026-12-08 00:00 UTC), datetime!(2026-12-09 00:00 UTC));
    let under_way = taking(datetime!(2026-12-10 00:00 UTC), datetime!(2026-12-11 00:00 UTC));
    let to_come = taking(datetime!(2026-12-12 00:00 UTC), datetime!(2026-12-13 00:00 UTC));
    let mut ids = Vec::new();
    for overriding in [&over, &under_way, &to_come] {
        ids.push(schedules::add_override(&mut conn, overriding).await.expect("add_override"));
    }
    let remove = async |conn: &mut AsyncPgConnection, id| {
        schedules::remove_override(conn, schedule_id, id, removal).await.expect("remove_override")
    };
    assert_eq!(remove(&mut conn, ids[0]).await, OverrideRemoval::AlreadyOver);
    assert_eq!(remove(&mut conn, ids[1]).await, OverrideRemoval::Ended);
    assert_eq!(remove(&mut conn, ids[2]).await, OverrideRemoval::Deleted);
    assert_eq!(remove(&mut conn, ids[2]).await, OverrideRemoval::NotFound);
    let left: Vec<(Uuid, OffsetDateTime, OffsetDateTime)> =
        schedules::overrides_ending_after(&mut conn, schedule_id, datetime!(2026-12-01 00:00 UTC))
            .await
            .expect("overrides_ending_after")
            .into_iter()
            .map(|overriding| (overriding.id, overriding.start, overriding.end))
            .collect();
    assert_eq!(
        left,
        vec![(ids[0], over.start, over.end), (ids[1], under_way.start, removal)],
        "the one over is kept whole, the one under way ends at the removal"
    );

    // A layer ends at its removal; one that was never the schedule's is not found.
    let layer = Uuid::now_v7();
    let members = [alice];
    schedules::put_layer(&mut conn, &daily_at_nine(schedule_id, layer, &members), datetime!(2026-12-01 00:00 UTC))
        .await
        .expect("put_layer");
    assert!(schedules::end_layer(&mut conn, schedule_id, layer, removal).await.expect("end_layer"));
    assert!(!schedules::end_layer(&mut conn, schedule_id, layer, removal).await.expect("end_layer again"));
    assert!(!schedules::end_layer(&mut conn, schedule_id, Uuid::now_v7(), removal).await.expect("end_layer"));
    let versions = schedules::current_layers(&mut conn, schedule_id, datetime!(2026-12-01 00:00 UTC))
        .await
        .expect("current_layers");
    let ranges: Vec<(OffsetDateTime, Option<OffsetDateTime>)> =
        versions.iter().map(|version| (version.effective_from, version.effective_until)).collect();
    assert_eq!(ranges, vec![(datetime!(2026-12-01 00:00 UTC), Some(removal))]);
    assert_eq!(versions[0].members, [alice]);
    assert!(schedules::current_layers(&mut conn, schedule_id, removal).await.expect("current_layers").is_empty());
}
