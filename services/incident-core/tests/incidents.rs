//! The incident rules against a real PostgreSQL, one database per test: what only the database
//! can enforce (one active incident per key under races, exactly-once commands), batches of every
//! shape giving the same incidents as one report at a time, the trace each event carries, keys
//! longer than an index entry, and the statements' behaviour after PostgreSQL switches to generic
//! plans.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::macros::datetime;
use tocsin_domain::{
    Action, AlertReceived, AlertState, Command, CommandOutcome, IncidentStatus, ObservedAlert, RejectionCode,
};
use tocsin_incident_core::incidents::{IntakeBatch, IntakeOutcome, IntakeSettings, apply_alerts, apply_command};
use tocsin_storage::StorageError;
use tocsin_storage::{outbox, reads};
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

/// Applies `reports` as one batch in a transaction, again on contention, as incident-core does.
async fn apply(conn: &mut AsyncPgConnection, reports: &[AlertReceived], traces: &[Option<&str>]) -> IntakeBatch {
    let settings = IntakeSettings::default();
    let reports: Vec<&AlertReceived> = reports.iter().collect();
    for _ in 0..10 {
        let result = conn
            .transaction(async |conn| apply_alerts(conn, &reports, traces, &settings, OffsetDateTime::now_utc()).await)
            .await;
        match result {
            Ok(batch) => return batch,
            Err(StorageError::Contended(_)) => continue,
            Err(error) => panic!("{error}"),
        }
    }
    panic!("still contended after 10 tries")
}

/// Applies one report as a batch of its own.
async fn record(conn: &mut AsyncPgConnection, report: &AlertReceived) -> IntakeOutcome {
    let mut batch = apply(conn, std::slice::from_ref(report), &[]).await;
    batch.outcomes.remove(0)
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
    let page =
        reads::list_incidents(&mut conn, &reads::IncidentFilter::default(), 100, None).await.expect("list incidents");
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
        conn.transaction(async |conn| apply_command(conn, command, None, OffsetDateTime::now_utc()).await)
            .await
            .expect("transaction")
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
    let detail = reads::incident_detail(&mut conn, incident_id).await.unwrap_or_default().expect("incident");
    let acks = detail.timeline.iter().filter(|e| e.kind == tocsin_domain::EventKind::Acknowledged).count();
    assert_eq!(acks, 1);
    assert_eq!(reads::command_outcome(&mut conn, command.id).await.unwrap_or_default(), Some(first));
    assert_eq!(reads::command_outcome(&mut conn, Uuid::now_v7()).await.unwrap_or_default(), None);
}

/// What an incident looks like, without what differs from run to run (ids, write times) or with
/// the shape of the batches (versions: a batch moves an incident once per round, not once per
/// alert).
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    service: String,
    status: IncidentStatus,
    alerts: i32,
    firing: i32,
    opened_at: OffsetDateTime,
    resolved: Option<(OffsetDateTime, String)>,
}

async fn shapes(conn: &mut AsyncPgConnection) -> Vec<Shape> {
    let page = reads::list_incidents(conn, &reads::IncidentFilter::default(), 100, None).await.expect("list incidents");
    let mut shapes: Vec<Shape> = page
        .items
        .into_iter()
        .map(|incident| Shape {
            service: incident.service,
            status: incident.status,
            alerts: incident.alert_count,
            firing: incident.firing_count,
            opened_at: incident.opened_at,
            resolved: incident.resolved_at.zip(incident.resolved_by),
        })
        .collect();
    shapes.sort_by(|a, b| a.service.cmp(&b.service));
    shapes
}

/// Every kind of report in one stream: fires, resends, resolutions, a late firing report, a first
/// report that is already a resolution, a re-fire long after the end, a second and a third key,
/// with duplicates. Applied one report per batch, in a single batch (cut into rounds), and in
/// batches of three, they give the same incidents, and the ones the rules say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_any_size_give_the_incidents_the_rules_say() {
    let at = datetime!(2026-03-01 09:00 UTC);
    let minute = time::Duration::minutes(1);
    let later = |mut r: AlertReceived, received: OffsetDateTime| {
        r.received_at = received;
        r
    };
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
    let expected = vec![
        // First heard of as resolved: opened and resolved by its own times, by Alertmanager.
        Shape {
            service: "cache".into(),
            status: IncidentStatus::Resolved,
            alerts: 1,
            firing: 0,
            opened_at: at,
            resolved: Some((at + minute, "alertmanager".into())),
        },
        // Resolved by its only alert, then reopened by the same occurrence firing again.
        Shape {
            service: "db".into(),
            status: IncidentStatus::Open,
            alerts: 1,
            firing: 1,
            opened_at: at,
            resolved: None,
        },
        // Three alerts, two of them resolved; a3 keeps it open (or reopens it).
        Shape {
            service: "web".into(),
            status: IncidentStatus::Open,
            alerts: 3,
            firing: 1,
            opened_at: at,
            resolved: None,
        },
    ];

    let one_db = TestDatabase::new().await;
    let mut one = one_db.connection().await;
    for report in &reports {
        record(&mut one, report).await;
    }
    assert_eq!(shapes(&mut one).await, expected, "one report per batch");

    let whole_db = TestDatabase::new().await;
    let mut whole = whole_db.connection().await;
    let batch = apply(&mut whole, &reports, &[]).await;
    assert_eq!(batch.outcomes.len(), reports.len());
    assert_eq!(shapes(&mut whole).await, expected, "one batch");

    let threes_db = TestDatabase::new().await;
    let mut threes = threes_db.connection().await;
    for chunk in reports.chunks(3) {
        apply(&mut threes, chunk, &[]).await;
    }
    assert_eq!(shapes(&mut threes).await, expected, "batches of three");
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
            .transaction(async |conn| apply_alerts(conn, &reports.iter().collect::<Vec<_>>(), &[], &settings, at).await)
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
    let pending = conn.transaction(async |conn| outbox::lock_pending(conn, 100).await).await.expect("transaction");
    pending
        .into_iter()
        .flat_map(|row| row.events().expect("events"))
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
            apply_alerts(conn, &reports.iter().collect::<Vec<_>>(), &traces, &settings, at).await
        })
        .await
        .expect("transaction")
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
    // first heard of as resolved opens and resolves an incident of its own (the late step).
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
    conn.transaction(async |conn| apply_command(conn, &acknowledge, Some(&f), OffsetDateTime::now_utc()).await)
        .await
        .expect("transaction");

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

/// The schema no longer refuses an alert or a timeline entry without its incident (migration
/// 000008); the integrity check is what finds one, and it counts each table on its own.
#[tokio::test]
async fn the_integrity_check_finds_rows_left_without_their_incident() {
    use diesel_async::RunQueryDsl;
    use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};

    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let at = OffsetDateTime::now_utc();
    record(&mut conn, &report("kept", "web", AlertState::Firing, at)).await;
    let orphans = orphaned_rows(&mut conn).await.expect("orphaned rows");
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
        diesel::sql_query(statement).execute(&mut conn).await.expect("execute");
    }
    let orphans = orphaned_rows(&mut conn).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows { alerts: 1, timeline_entries: 2, ..OrphanedRows::default() });
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
        conn.transaction(async |conn| apply_alerts(conn, &reports.iter().collect::<Vec<_>>(), &[], &settings, at).await)
            .await
            .expect("transaction")
    };

    let opened = batch(&mut conn, vec![report("long-1", &long_service, AlertState::Firing, at)]).await;
    assert!(opened.outcomes[0].opened_incident);
    let incident = opened.outcomes[0].incident_id;
    let joined = batch(&mut conn, vec![report("long-2", &long_service, AlertState::Firing, at)]).await;
    assert_eq!((joined.outcomes[0].opened_incident, joined.outcomes[0].incident_id), (false, incident));
    // An alert first heard of as resolved finds it by digest too.
    let late = batch(&mut conn, vec![report("long-3", &long_service, AlertState::Resolved, at)]).await;
    assert_eq!((late.outcomes[0].opened_incident, late.outcomes[0].incident_id), (false, incident));

    // Resolved by its alerts, then reopened within the window by the same key.
    let resolved = batch(
        &mut conn,
        ["long-1", "long-2"].iter().map(|fp| report(fp, &long_service, AlertState::Resolved, at)).collect(),
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
            .expect("first")
    };
    assert!(key.len() > 9_000, "the key is kept whole and readable");
    assert_eq!(stored, tocsin_domain::correlation::digest(&key));
}
