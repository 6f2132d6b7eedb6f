//! The on-call metrics of a real incident-core process: the engine pages the on-call person, an
//! acknowledgement arrives on the commands stream, and `/metrics` counts the page (by team,
//! person and night in the team's schedule's zone) and times the acknowledgement at its step and
//! under its responder, observed after each commit by the loops that run in production.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::AsyncConnection;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::{count, start_core};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::roles::Role;
use tocsin_domain::{Action, AlertReceived, AlertState, Command, ObservedAlert};
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_storage::escalation::{self, PolicyDefinition};
use tocsin_storage::people::{self, SignedInIdentity};
use tocsin_storage::schedules::{self, NewLayerVersion};
use tocsin_storage::{catalogue, teams};
use tocsin_testkit::{TestDatabase, TestRedis};
use uuid::Uuid;

mod support;

/// The team `payments`, alice always on call in its Berlin schedule and its policy paging the
/// schedule; one critical incident of it opened now. Returns the incident.
async fn incident_paging_alice(db: &TestDatabase) -> Uuid {
    let mut conn = db.connection().await;
    catalogue::set_owner(&mut conn, "checkout-api", "payments", "test").await.expect("set_owner");
    let team = teams::team(&mut conn, "payments").await.expect("team").expect("the team payments");
    let identity =
        SignedInIdentity { issuer: "https://login.example.com", subject: "alice", name: "alice", email: None };
    let alice = people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user");
    teams::set_member(&mut conn, &team, &alice, Role::Responder, "test", false).await.expect("set_member");
    let schedule = schedules::create(&mut conn, team.id, "primary", "Europe/Berlin").await.expect("create");
    let layer = NewLayerVersion {
        schedule_id: schedule,
        layer: Uuid::now_v7(),
        priority: 0,
        time_zone: None,
        first_handoff: time::macros::datetime!(2026-01-01 09:00),
        shift_unit: "weeks",
        shift_count: 1,
        restrictions: json!([]),
        members: &[alice.id],
        created_by: "test",
    };
    schedules::put_layer(&mut conn, &layer, time::macros::datetime!(2026-01-01 00:00 UTC)).await.expect("put_layer");
    let policy = escalation::create_policy(&mut conn, team.id, "payments").await.expect("create_policy");
    let definition: PolicyDefinition = serde_json::from_value(json!({"steps": [
        {"targets": [{"schedule": schedule}], "escalate_after_minutes": 5}
    ]}))
    .expect("a policy definition");
    escalation::put_version(&mut conn, policy, &definition, "test").await.expect("put_version");
    escalation::set_team_policy(&mut conn, team.id, Some(policy)).await.expect("set_team_policy");

    let at = OffsetDateTime::now_utc();
    let labels: BTreeMap<String, String> =
        [("alertname", "HighLatency"), ("service", "checkout-api"), ("severity", "critical"), ("team", "payments")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let report = AlertReceived {
        alert: ObservedAlert {
            fingerprint: "checkout-latency".into(),
            starts_at: at,
            ends_at: None,
            state: AlertState::Firing,
            labels,
            annotations: BTreeMap::new(),
            generator_url: String::new(),
        },
        received_at: at,
        receiver: "test".into(),
        group_key: "{}:{}".into(),
        external_url: "http://alertmanager".into(),
    };
    let settings = IntakeSettings::default();
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
