//! The escalation engine in real incident-core processes: 500 escalations due at once, the
//! process SIGKILLed in the middle of firing them and started again; and two replicas firing the
//! same due rows. Either way every step is paged exactly once: one set of pages rows, one `paged`
//! timeline entry and one `paged` event (on the events stream or still in the outbox) per
//! incident and step.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::{count, critical_alert, payments_on_call, start_core};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Stream};
use tocsin_domain::{AlertReceived, EventKind, IncidentEvent, Paged};
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};
use tocsin_testkit::{TestDatabase, TestRedis};
use uuid::Uuid;

mod support;

const INCIDENTS: usize = 500;

/// The team `payments` whose policy pages whoever is on call in its schedule (alice, always),
/// then bob five minutes later; and `INCIDENTS` critical incidents of it opened now, their first
/// step due at once.
async fn due_escalations(db: &TestDatabase) {
    payments_on_call(db, &["alice", "bob"], |schedule, people| {
        json!({"steps": [
            {"targets": [{"schedule": schedule}], "escalate_after_minutes": 5},
            {"targets": [{"user": people[1]}], "escalate_after_minutes": 5}
        ]})
    })
    .await;
    let at = OffsetDateTime::now_utc();
    let reports: Vec<AlertReceived> =
        (0..INCIDENTS).map(|n| critical_alert(format!("{n:016x}"), &format!("service-{n:03}"), at)).collect();
    let reports: Vec<&AlertReceived> = reports.iter().collect();
    let settings = IntakeSettings::default();
    let mut conn = db.connection().await;
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &reports, &[], &settings, at).await)
        .await
        .expect("apply_alerts");
    assert_eq!(batch.outcomes.iter().filter(|outcome| outcome.opened_incident).count(), INCIDENTS);
}

/// incident-core's settings for these tests: its metrics on `port` (each replica's steps are
/// read from them), and a short escalation tick.
fn core_settings(port: u16) -> [(&'static str, String); 2] {
    [("LISTEN_ADDR", format!("127.0.0.1:{port}")), ("ESCALATION_TICK", "100ms".to_owned())]
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

async fn wait_for(db: &TestDatabase, sql: &str, done: impl Fn(i64) -> bool, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = count(db, sql).await;
        if done(value) {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sql}: still {value}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const PAGES: &str = "SELECT count(*) AS n FROM pages";

/// `tocsin_escalation_steps_fired_total{outcome="paged"}` of the incident-core listening on `port`.
async fn steps_fired(port: u16) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    text.lines()
        .find_map(|line| line.strip_prefix("tocsin_escalation_steps_fired_total{outcome=\"paged\"} "))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[derive(QueryableByName)]
struct EventText {
    #[diesel(sql_type = Text)]
    event: String,
}

/// Every step fired exactly once: one pages row (alice, the first step), one `paged` timeline
/// entry and one `paged` event per incident, none for the second step (due in five minutes).
async fn assert_each_step_paged_once(db: &TestDatabase, redis: &TestRedis) {
    assert_eq!(count(db, PAGES).await, INCIDENTS as i64);
    assert_eq!(
        count(db, "SELECT count(DISTINCT incident_id) AS n FROM pages WHERE epoch = 1 AND step = 0 AND pass = 0").await,
        INCIDENTS as i64
    );
    assert_eq!(count(db, "SELECT count(*) AS n FROM timeline_entries WHERE kind = 'paged'").await, INCIDENTS as i64);
    assert_eq!(
        count(db, "SELECT count(DISTINCT incident_id) AS n FROM timeline_entries WHERE kind = 'paged'").await,
        INCIDENTS as i64
    );
    assert_eq!(
        count(db, "SELECT count(*) AS n FROM incident_escalations WHERE step = 1 AND next_at > now()").await,
        INCIDENTS as i64,
        "each escalation waits for its second step"
    );

    // The events: on the stream (the relay may have published one twice before it was killed:
    // the same event id), or still in the outbox.
    let mut events: HashMap<Uuid, IncidentEvent> = HashMap::new();
    let bus = Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect");
    let mut after = "0-0".to_owned();
    loop {
        let page = bus.range_after::<IncidentEvent>(Stream::Events, &after, 1000).await.expect("range_after");
        for entry in page.entries {
            events.insert(entry.envelope.payload.id, entry.envelope.payload);
        }
        match page.last_id {
            Some(last) => after = last,
            None => break,
        }
    }
    let mut conn: AsyncPgConnection = db.connection().await;
    let outbox: Vec<EventText> =
        diesel::sql_query("SELECT e::text AS event FROM outbox o, jsonb_array_elements(o.events::jsonb) AS e")
            .load(&mut conn)
            .await
            .expect("the outbox");
    for row in outbox {
        let event: IncidentEvent = serde_json::from_str(&row.event).expect("an event");
        events.insert(event.id, event);
    }
    let paged: Vec<&IncidentEvent> = events.values().filter(|event| event.kind == EventKind::Paged).collect();
    assert_eq!(paged.len(), INCIDENTS, "one paged event per incident and step");
    let mut steps = HashSet::new();
    for event in paged {
        let detail: Paged = serde_json::from_value(event.detail.clone()).expect("a paged detail");
        assert!(steps.insert((event.incident.id, detail.epoch, detail.step, detail.pass)), "a step paged twice");
        assert_eq!(detail.users.len(), 1);
        assert_eq!(detail.users[0].name, "alice", "the schedule's on-call person");
    }
    let orphans = orphaned_rows(&mut conn).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_firing_and_restarted_every_step_is_paged_exactly_once() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    due_escalations(&db).await;

    let mut first = start_core(&db, &redis, "core-first", core_settings(free_port()));
    wait_for(&db, PAGES, |pages| pages > 0, Duration::from_secs(60)).await;
    first.kill().await.expect("killing");
    let at_kill = count(&db, PAGES).await;
    assert!(at_kill < INCIDENTS as i64, "killed too late to prove anything: {at_kill} pages");

    let mut second = start_core(&db, &redis, "core-second", core_settings(free_port()));
    wait_for(&db, PAGES, |pages| pages >= INCIDENTS as i64, Duration::from_secs(120)).await;
    // Until the relay has moved what the first process left in the outbox.
    wait_for(&db, "SELECT count(*) AS n FROM outbox", |rows| rows == 0, Duration::from_secs(60)).await;
    second.kill().await.expect("killing");
    assert_each_step_paged_once(&db, &redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_the_same_due_steps_page_each_once() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    due_escalations(&db).await;

    let ports = [free_port(), free_port()];
    let mut one = start_core(&db, &redis, "core-one", core_settings(ports[0]));
    let mut two = start_core(&db, &redis, "core-two", core_settings(ports[1]));
    wait_for(&db, PAGES, |pages| pages >= INCIDENTS as i64, Duration::from_secs(120)).await;
    wait_for(&db, "SELECT count(*) AS n FROM outbox", |rows| rows == 0, Duration::from_secs(60)).await;
    // A few more ticks each, to give a second firing every chance to happen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Each replica counts the steps it fired: together, each step once.
    let mut fired = Vec::new();
    for port in ports {
        fired.push(steps_fired(port).await);
    }
    println!("steps fired by each replica: {fired:?}");
    assert_eq!(fired.iter().sum::<u64>(), INCIDENTS as u64, "steps fired by each replica: {fired:?}");
    assert!(fired.iter().all(|&count| count > 0), "both replicas fired steps, on the same rows: {fired:?}");
    one.kill().await.expect("killing");
    two.kill().await.expect("killing");
    assert_each_step_paged_once(&db, &redis).await;
}
