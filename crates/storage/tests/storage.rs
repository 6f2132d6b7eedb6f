//! Storage against a real PostgreSQL, one database per test: the outbox's mechanics (its
//! compression, several relays sharing it) and the notifier's deliveries. The incident rules, which
//! write through this crate, are tested in incident-core (`services/incident-core/tests`).

use diesel_async::AsyncConnection;
use tocsin_storage::StorageError;
use tocsin_storage::outbox;
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Compression {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    server_has_lz4: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    events_column: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_compressed_with_lz4_where_the_server_has_it() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let compression: Compression = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' \
             AND 'lz4' = ANY (enumvals)) AS server_has_lz4, \
             attcompression::text AS events_column FROM pg_attribute \
             WHERE attrelid = 'outbox'::regclass AND attname = 'events'",
        ),
        &mut conn,
    )
    .await
    .expect("get result");
    // 'l' is lz4; '' is the server's default, which is pglz unless configured otherwise.
    let expected = if compression.server_has_lz4 { "l" } else { "" };
    assert_eq!(compression.events_column, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_take_disjoint_parts_of_the_outbox() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    // Ten transactions' events: ten outbox rows.
    for n in 0..10 {
        let event = outbox::NewEvent { id: Uuid::now_v7(), json: format!("{{\"n\":{n}}}"), traceparent: None };
        outbox::insert(&mut conn, vec![event]).await.expect("insert");
    }
    assert_eq!(outbox::backlog(&mut conn).await.unwrap_or(0), 10);

    let (mut a, mut b) = (db.connection().await, db.connection().await);
    let (tx_a, tx_b) = (tokio::sync::oneshot::channel::<()>(), tokio::sync::oneshot::channel::<Vec<i64>>());
    let (release_a, held_a) = tx_a;
    let (send_b, got_b) = tx_b;
    let relay_a = tokio::spawn(async move {
        a.transaction(async |conn| {
            let taken: Vec<i64> = outbox::lock_pending(conn, 6).await?.into_iter().map(|event| event.id).collect();
            let _ = held_a.await;
            Ok::<_, StorageError>(taken)
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let relay_b = tokio::spawn(async move {
        let taken = b
            .transaction(async |conn| {
                Ok::<_, StorageError>(
                    outbox::lock_pending(conn, 10).await?.into_iter().map(|event| event.id).collect::<Vec<_>>(),
                )
            })
            .await;
        let _ = send_b.send(taken.unwrap_or_default());
    });
    let taken_b = got_b.await.unwrap_or_default();
    let _ = release_a.send(());
    let taken_a = relay_a.await.expect("the first relay task").unwrap_or_default();
    let _ = relay_b.await;
    assert_eq!(taken_a.len(), 6);
    assert_eq!(taken_b.len(), 4, "the rows relay A holds are skipped, not waited for");
    assert!(taken_a.iter().all(|id| !taken_b.contains(id)));
}

fn traceparent(n: u64) -> String {
    format!("00-{n:032x}-{n:016x}-01")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_keeps_the_trace_it_was_recorded_in() {
    use tocsin_storage::notifications::{NewDelivery, claim_due, enqueue};
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let (traced, incident) = (traceparent(9), Uuid::now_v7());
    let rows = [
        NewDelivery {
            event_id: Uuid::now_v7(),
            target: "slack",
            incident_id: incident,
            event: "{}",
            traceparent: Some(&traced),
            contact_method_id: None,
            next_attempt_at: None,
        },
        NewDelivery {
            event_id: Uuid::now_v7(),
            target: "teams",
            incident_id: incident,
            event: "{}",
            traceparent: None,
            contact_method_id: None,
            next_attempt_at: None,
        },
    ];
    assert_eq!(enqueue(&mut conn, &rows).await.unwrap_or_default(), 2);
    let mut claimed = claim_due(&mut conn, 10, std::time::Duration::from_secs(60)).await.expect("claim due");
    claimed.sort_by(|x, y| x.target.cmp(&y.target));
    let traces: Vec<(&str, Option<&str>)> =
        claimed.iter().map(|delivery| (delivery.target.as_str(), delivery.traceparent.as_deref())).collect();
    assert_eq!(traces, [("slack", Some(traced.as_str())), ("teams", None)]);
}
