//! The on-call metrics of a real incident-core process: the engine pages the on-call person, an
//! acknowledgement arrives on the commands stream, and `/metrics` counts the page (by team,
//! person and night in the team's schedule's zone) and times the acknowledgement at its step and
//! under its responder, observed after each commit by the loops that run in production.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::AsyncConnection;
use serde_json::json;
use std::time::Duration;
use support::{count, critical_alert, payments_on_call, start_core};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::{Action, Command};
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_testkit::{TestDatabase, TestRedis};
use uuid::Uuid;

mod support;

/// The team `payments`, alice always on call in its Berlin schedule and its policy paging the
/// schedule; one critical incident of it opened now. Returns the incident.
async fn incident_paging_alice(db: &TestDatabase) -> Uuid {
    payments_on_call(
        db,
        &["alice"],
        |schedule, _| json!({"steps": [{"targets": [{"schedule": schedule}], "escalate_after_minutes": 5}]}),
    )
    .await;
    let at = OffsetDateTime::now_utc();
    let report = critical_alert("checkout-latency".into(), "checkout-api", at);
    let settings = IntakeSettings::default();
    let mut conn = db.connection().await;
    let batch = conn
        .transaction(async |conn| apply_alerts(conn, &[&report], &[], &settings, at).await)
        .await
        .expect("apply_alerts");
    batch.outcomes[0].incident_id.expect("the incident's id")
}

async fn wait_for(db: &TestDatabase, sql: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(db, sql).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{sql}: still nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines of `/metrics` on `port` that start with one of `families`, once every family has one.
async fn metric_lines(port: u16, families: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let lines: Vec<String> = text
            .lines()
            .filter(|line| families.iter().any(|family| line.starts_with(family)))
            .map(str::to_owned)
            .collect();
        if families.iter().all(|family| lines.iter().any(|line| line.starts_with(family))) {
            return lines;
        }
        assert!(tokio::time::Instant::now() < deadline, "{families:?} not all in {lines:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_and_its_acknowledgement_are_counted_by_the_running_service() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let incident = incident_paging_alice(&db).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut core = start_core(
        &db,
        &redis,
        "core-metrics",
        [("LISTEN_ADDR", format!("127.0.0.1:{port}")), ("ESCALATION_TICK", "100ms".to_owned())],
    );
    wait_for(&db, "SELECT count(*) AS n FROM pages WHERE user_id IS NOT NULL").await;
    // Whether the page left at night in Berlin, alice having set no zone of her own.
    let night = count(
        &db,
        "SELECT count(*) AS n FROM pages \
         WHERE extract(hour FROM paged_at AT TIME ZONE 'Europe/Berlin') NOT BETWEEN 7 AND 21",
    )
    .await
        == 1;

    let bus = Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect");
    let command = Command {
        id: Uuid::now_v7(),
        incident_id: incident,
        action: Action::Acknowledge,
        actor: "alice".into(),
        requested_at: OffsetDateTime::now_utc(),
    };
    bus.publish(Stream::Commands, &[Envelope::new(command)]).await.expect("publish the acknowledgement");
    wait_for(&db, "SELECT count(*) AS n FROM incidents WHERE status = 'acknowledged'").await;

    let lines = metric_lines(
        port,
        &[
            "tocsin_escalation_people_paged_total",
            "tocsin_escalation_time_to_acknowledge_seconds_count",
            "tocsin_escalation_responder_time_to_acknowledge_seconds_count",
        ],
    )
    .await;
    core.kill().await.expect("killing");
    let paged = format!(r#"tocsin_escalation_people_paged_total{{team="payments",person="alice",night="{night}"}} 1"#);
    assert!(lines.contains(&paged), "{paged} in {lines:?}");
    assert_eq!(lines.iter().filter(|line| line.starts_with("tocsin_escalation_people_paged_total")).count(), 1);
    assert!(
        lines
            .contains(&r#"tocsin_escalation_time_to_acknowledge_seconds_count{team="payments",step="1"} 1"#.to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &r#"tocsin_escalation_responder_time_to_acknowledge_seconds_count{responder="alice"} 1"#.to_owned()
        ),
        "{lines:?}"
    );
}
