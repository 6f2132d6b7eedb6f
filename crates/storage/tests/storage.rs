//! Storage against a real PostgreSQL, one database per test: the rules that only the database can
//! enforce (one active incident per key under races, exactly-once commands, the outbox shared by
//! several relays) and the queries' behaviour after PostgreSQL switches to generic plans.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use tocsin_domain::{Action, AlertReceived, AlertState, Command, CommandOutcome, ObservedAlert, RejectionCode};
use tocsin_storage::StorageError;
use tocsin_storage::intake::{IntakeSettings, record_alert};
use tocsin_storage::{commands, outbox, reads};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

fn report(fingerprint: &str, service: &str, state: AlertState, at: OffsetDateTime) -> AlertReceived {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighCPU"),
        ("service", service),
        ("environment", "production"),
        ("severity", "critical"),
        ("instance", fingerprint),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    AlertReceived {
        alert: ObservedAlert {
            fingerprint: fingerprint.to_owned(),
            starts_at: at,
            ends_at: (state == AlertState::Resolved).then_some(at + time::Duration::minutes(1)),
            state,
            labels,
            annotations: BTreeMap::new(),
            generator_url: String::new(),
        },
        received_at: at,
        receiver: "test".into(),
        group_key: "{}:{}".into(),
        external_url: "http://alertmanager".into(),
    }
}

/// Runs `record_alert` in a transaction, again on contention, as incident-core does.
async fn record(conn: &mut AsyncPgConnection, report: &AlertReceived) -> tocsin_storage::intake::IntakeOutcome {
    let settings = IntakeSettings::default();
    for _ in 0..10 {
        let result = conn
            .transaction(async |conn| record_alert(conn, report, None, &settings, OffsetDateTime::now_utc()).await)
            .await;
        match result {
            Ok(outcome) => return outcome,
            Err(StorageError::Contended(_)) => continue,
            Err(error) => panic!("{error}"),
        }
    }
    panic!("still contended after 10 tries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_incidents_keeps_working_once_postgres_uses_generic_plans() {
    // PostgreSQL plans a prepared statement generically after five runs; the partial-index
    // ON CONFLICT must still find its index then.
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let at = OffsetDateTime::now_utc();
    for n in 0..12 {
        let outcome =
            record(&mut conn, &report(&format!("fp-{n}"), &format!("service-{n}"), AlertState::Firing, at)).await;
        assert!(outcome.opened_incident, "alert {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transactions_for_one_key_make_one_incident() {
    let db = TestDatabase::new().await;
    let at = OffsetDateTime::now_utc();
    for round in 0..10 {
        let service = format!("racing-{round}");
        let (mut a, mut b) = (db.connection().await, db.connection().await);
        let first = report(&format!("{round}-a"), &service, AlertState::Firing, at);
        let second = report(&format!("{round}-b"), &service, AlertState::Firing, at);
        let (x, y) = tokio::join!(record(&mut a, &first), record(&mut b, &second));
        assert_eq!(x.incident_id, y.incident_id, "round {round}: both alerts joined one incident");
        assert!(x.opened_incident != y.opened_incident, "round {round}: exactly one opened it");
    }
    let mut conn = db.connection().await;
    let page = reads::list_incidents(&mut conn, &reads::IncidentFilter::default(), 100, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.len(), 10);
    assert!(page.items.iter().all(|i| i.alert_count == 2 && i.firing_count == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_applied_once_whatever_the_redeliveries() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let outcome = record(&mut conn, &report("fp", "web", AlertState::Firing, OffsetDateTime::now_utc())).await;
    let incident_id = outcome.incident_id.unwrap_or_default();
    let command = Command {
        id: Uuid::now_v7(),
        incident_id,
        action: Action::Acknowledge,
        actor: "ana".into(),
        requested_at: OffsetDateTime::now_utc(),
    };
    let apply = async |conn: &mut AsyncPgConnection, command: &Command| {
        conn.transaction(async |conn| commands::apply_command(conn, command, None, OffsetDateTime::now_utc()).await)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    };
    let first = apply(&mut conn, &command).await;
    let again = apply(&mut conn, &command).await;
    assert!(matches!(first, CommandOutcome::Applied { .. }));
    assert_eq!(again, first, "a redelivered command is answered from its recorded outcome, not rejected as a conflict");

    let second_ack = Command { id: Uuid::now_v7(), ..command.clone() };
    assert!(matches!(
        apply(&mut conn, &second_ack).await,
        CommandOutcome::Rejected { code: RejectionCode::Conflict, .. }
    ));
    let detail =
        reads::incident_detail(&mut conn, incident_id).await.unwrap_or_default().unwrap_or_else(|| panic!("incident"));
    let acks = detail.timeline.iter().filter(|e| e.kind == tocsin_domain::EventKind::Acknowledged).count();
    assert_eq!(acks, 1);
    assert_eq!(commands::command_outcome(&mut conn, command.id).await.unwrap_or_default(), Some(first));
    assert_eq!(commands::command_outcome(&mut conn, Uuid::now_v7()).await.unwrap_or_default(), None);
}

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
    .unwrap_or_else(|e| panic!("{e}"));
    // 'l' is lz4; '' is the server's default, which is pglz unless configured otherwise.
    let expected = if compression.server_has_lz4 { "l" } else { "" };
    assert_eq!(compression.events_column, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_take_disjoint_parts_of_the_outbox() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let at = OffsetDateTime::now_utc();
    // Ten reports applied one by one: ten transactions, ten outbox rows.
    for n in 0..10 {
        record(&mut conn, &report(&format!("fp-{n}"), &format!("svc-{n}"), AlertState::Firing, at)).await;
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
    let taken_a = relay_a.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
    let _ = relay_b.await;
    assert_eq!(taken_a.len(), 6);
    assert_eq!(taken_b.len(), 4, "the rows relay A holds are skipped, not waited for");
    assert!(taken_a.iter().all(|id| !taken_b.contains(id)));
}

/// What an incident looks like, without what differs from run to run (ids, write times).
fn shape(incident: &tocsin_domain::Incident) -> String {
    format!(
        "{} {} {:?} alerts={} firing={} opened={} resolved={:?} by={:?} v={}",
        incident.service,
        incident.title,
        incident.status,
        incident.alert_count,
        incident.firing_count,
        incident.opened_at,
        incident.resolved_at,
        incident.resolved_by,
        incident.version
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_path_and_the_one_alert_path_agree() {
    let at = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let minute = time::Duration::minutes(1);
    let later = |mut r: AlertReceived, received: OffsetDateTime| {
        r.received_at = received;
        r
    };
    // Fires, resends, resolutions, a late firing report, a first report that is a resolution, a
    // re-fire long after the end, and a second key: in one stream, with duplicates.
    let reports = vec![
        report("a1", "web", AlertState::Firing, at),
        report("a2", "web", AlertState::Firing, at + minute),
        report("a1", "web", AlertState::Firing, at),
        report("b1", "db", AlertState::Firing, at),
        report("a1", "web", AlertState::Resolved, at),
        later(report("a1", "web", AlertState::Firing, at), at + time::Duration::seconds(5)),
        report("a2", "web", AlertState::Resolved, at + minute),
        report("c1", "cache", AlertState::Resolved, at),
        later(report("b1", "db", AlertState::Resolved, at), at + minute),
        later(report("b1", "db", AlertState::Firing, at), at + time::Duration::minutes(30)),
        report("a3", "web", AlertState::Firing, at + time::Duration::minutes(3)),
    ];
    let settings = IntakeSettings::default();

    let one_db = TestDatabase::new().await;
    let mut one = one_db.connection().await;
    for report in &reports {
        record(&mut one, report).await;
    }
    let batch_db = TestDatabase::new().await;
    let mut batch = batch_db.connection().await;
    let outcomes = batch
        .transaction(async |conn| {
            tocsin_storage::intake::record_alerts(
                conn,
                &reports.iter().collect::<Vec<_>>(),
                &[],
                &settings,
                OffsetDateTime::now_utc(),
            )
            .await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcomes.outcomes.len(), reports.len());

    let list = async |conn: &mut AsyncPgConnection| {
        let page = reads::list_incidents(conn, &reads::IncidentFilter::default(), 100, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut shapes: Vec<String> = page.items.iter().map(shape).collect();
        shapes.sort();
        shapes
    };
    let from_one = list(&mut one).await;
    let from_batch = list(&mut batch).await;
    assert_eq!(from_batch.len(), 3, "{from_batch:#?}");
    // Versions differ: the batch moves an incident once per round, not once per alert.
    let strip = |shapes: Vec<String>| {
        shapes.into_iter().map(|s| s.split(" v=").next().unwrap_or("").to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(strip(from_batch), strip(from_one));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_keep_working_once_postgres_uses_generic_plans() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let settings = IntakeSettings::default();
    let at = OffsetDateTime::now_utc();
    for n in 0..12 {
        let reports: Vec<AlertReceived> =
            (0..5).map(|m| report(&format!("fp-{n}-{m}"), &format!("service-{n}"), AlertState::Firing, at)).collect();
        let outcomes = conn
            .transaction(async |conn| {
                tocsin_storage::intake::record_alerts(conn, &reports.iter().collect::<Vec<_>>(), &[], &settings, at)
                    .await
            })
            .await
            .unwrap_or_else(|e| panic!("batch {n}: {e}"));
        assert_eq!(outcomes.outcomes.iter().filter(|o| o.opened_incident).count(), 1, "batch {n}");
        assert_eq!(outcomes.transitions.len(), 1, "batch {n}: the opening is the one status change");
    }
}

fn traceparent(n: u64) -> String {
    format!("00-{n:032x}-{n:016x}-01")
}

/// Every outbox event as (kind, the alert's fingerprint if any, traceparent), oldest first.
async fn outbox_traces(conn: &mut AsyncPgConnection) -> Vec<(String, String, Option<String>)> {
    let pending =
        conn.transaction(async |conn| outbox::lock_pending(conn, 100).await).await.unwrap_or_else(|e| panic!("{e}"));
    pending
        .into_iter()
        .flat_map(|row| row.events().unwrap_or_else(|e| panic!("{e}")))
        .map(|event| {
            let payload: serde_json::Value = serde_json::from_str(event.payload.get()).unwrap_or_default();
            let fingerprint = payload["detail"]["alert"]["fingerprint"].as_str().unwrap_or("").to_owned();
            (payload["kind"].as_str().unwrap_or("").to_owned(), fingerprint, event.traceparent)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_carries_the_trace_of_the_report_or_command_that_caused_it() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let settings = IntakeSettings::default();
    let at = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let (a, b, c, d, e, f) =
        (traceparent(1), traceparent(2), traceparent(3), traceparent(4), traceparent(5), traceparent(6));
    let apply = async |conn: &mut AsyncPgConnection, reports: Vec<AlertReceived>, traces: Vec<Option<&str>>| {
        conn.transaction(async |conn| {
            tocsin_storage::intake::record_alerts(conn, &reports.iter().collect::<Vec<_>>(), &traces, &settings, at)
                .await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    };
    // Two traced alerts of one key and an untraced one of another.
    let opened = apply(
        &mut conn,
        vec![
            report("a1", "web", AlertState::Firing, at),
            report("a2", "web", AlertState::Firing, at),
            report("b1", "db", AlertState::Firing, at),
        ],
        vec![Some(&a), Some(&b), None],
    )
    .await;
    // Both web alerts end (the incident resolves by itself, by the last of them), and an alert
    // first heard of as resolved takes the one-alert path.
    apply(
        &mut conn,
        vec![
            report("a1", "web", AlertState::Resolved, at),
            report("a2", "web", AlertState::Resolved, at),
            report("c1", "cache", AlertState::Resolved, at),
        ],
        vec![Some(&c), Some(&d), Some(&e)],
    )
    .await;
    let db_incident = opened.outcomes[2].incident_id.unwrap_or_default();
    let acknowledge = Command {
        id: Uuid::now_v7(),
        incident_id: db_incident,
        action: Action::Acknowledge,
        actor: "ana".into(),
        requested_at: at,
    };
    conn.transaction(async |conn| {
        commands::apply_command(conn, &acknowledge, Some(&f), OffsetDateTime::now_utc()).await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let seen = outbox_traces(&mut conn).await;
    let expect = |kind: &str, fingerprint: &str, trace: Option<&String>| {
        (kind.to_owned(), fingerprint.to_owned(), trace.cloned())
    };
    assert_eq!(
        seen,
        vec![
            expect("opened", "b1", None),
            expect("opened", "a1", Some(&a)),
            expect("alert_added", "a2", Some(&b)),
            expect("alert_resolved", "a1", Some(&c)),
            expect("alert_resolved", "a2", Some(&d)),
            expect("resolved", "", Some(&d)),
            expect("opened", "c1", Some(&e)),
            expect("resolved", "", Some(&e)),
            expect("acknowledged", "", Some(&f)),
        ]
    );
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
        },
        NewDelivery {
            event_id: Uuid::now_v7(),
            target: "teams",
            incident_id: incident,
            event: "{}",
            traceparent: None,
        },
    ];
    assert_eq!(enqueue(&mut conn, &rows).await.unwrap_or_default(), 2);
    let mut claimed =
        claim_due(&mut conn, 10, std::time::Duration::from_secs(60)).await.unwrap_or_else(|e| panic!("{e}"));
    claimed.sort_by(|x, y| x.target.cmp(&y.target));
    let traces: Vec<(&str, Option<&str>)> =
        claimed.iter().map(|delivery| (delivery.target.as_str(), delivery.traceparent.as_deref())).collect();
    assert_eq!(traces, [("slack", Some(traced.as_str())), ("teams", None)]);
}

/// The schema no longer refuses an alert or a timeline entry without its incident (migration
/// 000008); the integrity check is what finds one, and it counts each table on its own.
#[tokio::test]
async fn the_integrity_check_finds_rows_left_without_their_incident() {
    use diesel_async::RunQueryDsl;
    use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};

    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let at = OffsetDateTime::now_utc();
    let settings = IntakeSettings::default();
    record_alert(&mut conn, &report("kept", "web", AlertState::Firing, at), None, &settings, at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let orphans = orphaned_rows(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(orphans, OrphanedRows::default(), "an incident with its alert and entry");

    let missing = Uuid::now_v7();
    for statement in [
        format!(
            "INSERT INTO alerts (incident_id, fingerprint, starts_at, state, labels, annotations, generator_url, \
             receiver, group_key, first_received_at, last_received_at, last_firing_report_at) \
             VALUES ('{missing}', 'stray', now(), 'firing', '{{}}', '{{}}', '', 'test', '{{}}:{{}}', now(), now(), now())"
        ),
        format!(
            "INSERT INTO timeline_entries (incident_id, at, kind, actor) VALUES ('{missing}', now(), 'opened', 'test')"
        ),
        format!(
            "INSERT INTO timeline_entries (incident_id, at, kind, actor) VALUES ('{missing}', now(), 'resolved', 'test')"
        ),
    ] {
        diesel::sql_query(statement).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let orphans = orphaned_rows(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(orphans, OrphanedRows { alerts: 1, timeline_entries: 2 });
}

/// A correlation key longer than a btree entry (about 2.7 kB): the insert of its incident failed
/// after ingest had answered 202, and the alert went round until the dead-letter stream. Keys
/// are indexed by digest now, so any key opens, joins, resolves and reopens its incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_longer_than_a_btree_entry_open_join_and_reopen_incidents() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let settings = IntakeSettings::default();
    let at = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let long_service = format!("checkout-{}", tocsin_testkit::incompressible_text(9_000));
    let batch = async |conn: &mut AsyncPgConnection, reports: Vec<AlertReceived>| {
        conn.transaction(async |conn| {
            tocsin_storage::intake::record_alerts(conn, &reports.iter().collect::<Vec<_>>(), &[], &settings, at).await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    };

    let opened = batch(&mut conn, vec![report("long-1", &long_service, AlertState::Firing, at)]).await;
    assert!(opened.outcomes[0].opened_incident);
    let incident = opened.outcomes[0].incident_id;
    let joined = batch(&mut conn, vec![report("long-2", &long_service, AlertState::Firing, at)]).await;
    assert_eq!((joined.outcomes[0].opened_incident, joined.outcomes[0].incident_id), (false, incident));
    // The one-alert path finds it by digest too.
    let one = record(&mut conn, &report("long-3", &long_service, AlertState::Firing, at)).await;
    assert_eq!((one.opened_incident, one.incident_id), (false, incident));

    // Resolved by its alerts, then reopened within the window by the same key.
    let resolved = batch(
        &mut conn,
        ["long-1", "long-2", "long-3"].iter().map(|fp| report(fp, &long_service, AlertState::Resolved, at)).collect(),
    )
    .await;
    assert!(!resolved.transitions.is_empty(), "the incident resolved");
    let refired = batch(&mut conn, vec![report("long-4", &long_service, AlertState::Firing, at)]).await;
    assert_eq!((refired.outcomes[0].opened_incident, refired.outcomes[0].incident_id), (false, incident));

    // The digest incident-core looks keys up by is the one PostgreSQL stores.
    let (key, stored): (String, Vec<u8>) = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use tocsin_storage::schema::incidents;
        incidents::table
            .select((incidents::correlation_key, incidents::correlation_digest))
            .first(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(key.len() > 9_000, "the key is kept whole and readable");
    assert_eq!(stored, tocsin_domain::correlation::digest(&key));
}
