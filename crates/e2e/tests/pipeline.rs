//! Alerts to incidents, end to end: captured Alertmanager webhooks posted to ingest, incidents read
//! back from query.

use serde_json::{Value, json};
use time::OffsetDateTime;
use tocsin_e2e::{DISTINCT_KEYS, Stack, StackOptions, capture, webhook, webhooks};
use tocsin_incident_core::incidents::IntakeSettings;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The firing webhook of the `checkout-api` group whose resolution `resolved-all-at-once.json`
/// captured.
fn checkout_firing(resolved: &Value) -> Value {
    tocsin_loadgen::replay::firing_version(resolved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_opens_an_incident_with_its_facts() {
    let stack = Stack::start().await;
    stack.send(&webhook("firing-single.json", now())).await;

    let incidents = stack.incidents_when("", |items| items.len() == 1).await;
    let incident = &incidents[0];
    assert_eq!(incident["title"], "High CPU usage on web-server-01");
    assert_eq!(incident["service"], "web-server");
    assert_eq!(incident["environment"], "production");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["team"], "unowned");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["runbook_url"], "https://runbooks.example.com/cpu");
    assert_eq!(incident["source_alert"]["fingerprint"], "be687c6c8d355525");
    assert_eq!(incident["source_alert"]["labels"]["instance"], "web-server-01");
    assert_eq!(incident["alert_count"], 1);

    let id = incident["id"].as_str().unwrap_or_default();
    let (status, detail) = stack.get(&format!("/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["alerts"][0]["state"], "firing");
    assert_eq!(detail["alerts"][0]["ends_at"], Value::Null);
    assert_eq!(detail["alerts"][0]["labels"]["instance"], "web-server-01", "labels stored as they came");
    assert_eq!(detail["alerts"][0]["labels"].as_object().map(|labels| labels.len()), Some(6));
    assert_eq!(detail["alerts"][0]["annotations"]["summary"], "High CPU usage on web-server-01");
    assert_eq!(detail["timeline"][0]["kind"], "opened");
    assert_eq!(detail["timeline"][0]["status"], "open");
    assert_eq!(detail["timeline"][0]["actor"], "alertmanager");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_are_deduplicated_and_a_group_correlates_into_one_incident() {
    let stack = Stack::start().await;
    let payloads = webhooks(&["firing-single.json", "firing-group.json", "firing-repeat.json"], now());
    for payload in &payloads {
        stack.send(payload).await;
    }
    // Alertmanager resends byte-identical payloads; deliver the group twice more for good measure.
    stack.send(&payloads[1]).await;
    stack.send(&payloads[2]).await;

    let incidents = stack.settled_incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0]["alert_count"], 3);
    assert_eq!(incidents[0]["firing_count"], 3);
    let id = incidents[0]["id"].as_str().unwrap_or_default();
    let (_, detail) = stack.get(&format!("/incidents/{id}")).await;
    let fingerprints: Vec<&str> =
        detail["alerts"].as_array().into_iter().flatten().filter_map(|a| a["fingerprint"].as_str()).collect();
    assert_eq!(fingerprints.len(), 3, "{fingerprints:?}");
    let kinds: Vec<&str> =
        detail["timeline"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["opened", "alert_added", "alert_added"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_keys_open_different_incidents_with_documented_defaults() {
    let stack = Stack::start().await;
    let at = now();
    stack.send_fixtures(&DISTINCT_KEYS, at).await;
    let incidents = stack.settled_incidents().await;
    let by_service = |service: &str| incidents.iter().find(|i| i["service"] == service).cloned().unwrap_or_default();

    let unicode = by_service("東京-db");
    assert!(unicode["title"].as_str().is_some_and(|t| t.starts_with("Überlast auf 東京-db")), "{unicode:#}");

    // Only alertname, instance and severity: service and environment are unknown.
    let bare = by_service("unknown");
    assert_eq!(bare["environment"], "unknown");
    assert_eq!(bare["title"], "Instance 10.0.0.7:9100 is down", "{bare:#}");
    assert_eq!(bare["runbook_url"], Value::Null);

    let storage = by_service("storage-backend");
    assert_eq!(storage["team"], "storage");
    assert_eq!(storage["alert_count"], 2, "truncated webhook carries 2 of 4 alerts");

    assert_eq!(by_service("web-server")["alert_count"], 1);
    let services: Vec<&str> = incidents.iter().filter_map(|i| i["service"].as_str()).collect();
    assert_eq!(incidents.len(), 6, "{services:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolves_itself_when_all_its_alerts_resolved() {
    let stack = Stack::start().await;
    let payloads = webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], now());
    stack.send(&payloads[0]).await;
    stack.send(&payloads[1]).await;
    let open = stack.incidents_when("", |items| items.first().is_some_and(|i| i["firing_count"] == 2)).await;
    assert_eq!(open[0]["status"], "open");

    stack.send(&payloads[2]).await;
    let resolved = stack.incidents_when("?status=resolved", |items| items.len() == 1).await;
    let incident = &resolved[0];
    assert_eq!(incident["firing_count"], 0);
    assert_eq!(incident["resolved_by"], "tocsin");
    // Resolved when the last alert ended, by Alertmanager's clock.
    let last_end = payloads[2]["alerts"].as_array().into_iter().flatten().filter_map(|a| a["endsAt"].as_str()).max();
    // PostgreSQL keeps microseconds.
    let micros = |text: &str| {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos() / 1000)
            .ok()
    };
    assert_eq!(incident["resolved_at"].as_str().and_then(micros), last_end.and_then(micros));

    let id = incident["id"].as_str().unwrap_or_default();
    let (_, detail) = stack.get(&format!("/incidents/{id}")).await;
    let kinds: Vec<&str> =
        detail["timeline"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["opened", "alert_added", "alert_added", "alert_resolved", "alert_resolved", "alert_resolved", "resolved"]
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_resolve_can_be_switched_off() {
    let stack = Stack::start_with(StackOptions {
        intake: IntakeSettings { auto_resolve: false, ..IntakeSettings::default() },
        ..StackOptions::default()
    })
    .await;
    let payloads = webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], now());
    for payload in &payloads {
        stack.send(payload).await;
    }
    let incidents = stack.settled_incidents().await;
    assert_eq!(incidents[0]["firing_count"], 0);
    assert_eq!(incidents[0]["status"], "open");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_arriving_before_its_firing_report_wins() {
    let stack = Stack::start().await;
    let resolved = webhook("resolved-all-at-once.json", now());
    let firing = checkout_firing(&resolved);

    stack.send(&resolved).await;
    stack.wait_drained("alerts", tocsin_incident_core::CONSUMER_GROUP).await;
    stack.send(&firing).await;

    let incidents = stack.settled_incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(incident["service"], "checkout-api");
    assert_eq!(incident["status"], "resolved", "a late firing report must not reopen it: {incident:#}");
    assert_eq!(incident["alert_count"], 3);
    assert_eq!(incident["firing_count"], 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_and_resolution_in_one_burst_settle_by_timestamps() {
    let stack = Stack::start().await;
    let resolved = webhook("resolved-all-at-once.json", now());
    let firing = checkout_firing(&resolved);
    // Both reports in the stream before incident-core reads them, resolution first.
    stack.send(&resolved).await;
    stack.send(&firing).await;
    stack.send(&resolved).await;
    let incidents = stack.settled_incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
    assert_eq!(incidents[0]["firing_count"], 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_firing_again_soon_after_resolving_reopens_its_incident() {
    let stack = Stack::start().await;
    let at = now();
    let payloads = webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], at - time::Duration::minutes(1));
    for payload in &payloads {
        stack.send(payload).await;
    }
    stack.incidents_when("?status=resolved", |items| items.len() == 1).await;

    // The same group fires again: a new occurrence (new startsAt) of the same correlation key.
    let mut again = webhook("firing-single.json", at);
    again["alerts"][0]["startsAt"] =
        json!(at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
    stack.send(&again).await;
    let incidents = stack.incidents_when("", |items| items.first().is_some_and(|i| i["status"] == "open")).await;
    assert_eq!(incidents.len(), 1, "reopened, not a second incident: {incidents:#?}");
    let id = incidents[0]["id"].as_str().unwrap_or_default();
    let (_, detail) = stack.get(&format!("/incidents/{id}")).await;
    let kinds: Vec<&str> =
        detail["timeline"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().rev().take(2).collect::<Vec<_>>(), [&"alert_added", &"reopened"], "{kinds:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_stream_entry_changes_nothing_twice() {
    use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
    use tocsin_domain::AlertReceived;

    let stack = Stack::start().await;
    stack.send(&webhook("firing-group.json", now())).await;
    let incidents = stack.settled_incidents().await;
    let version = incidents[0]["version"].clone();
    let events_before = stack.stream_length("events").await;

    // Put the very same messages on the stream again, as a redelivery after a crash would.
    let bus =
        Bus::connect(&stack.redis.url, BusSettings { prefix: stack.redis.prefix.clone(), ..BusSettings::default() })
            .expect("Bus::connect");
    let mut conn = stack.redis().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(tocsin_bus::stream_key(&stack.redis.prefix, "alerts"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    let envelopes: Vec<Envelope<AlertReceived>> = entries
        .ids
        .iter()
        .filter_map(|entry| entry.get::<String>("envelope"))
        .filter_map(|raw| serde_json::from_str(&raw).ok())
        .collect();
    assert_eq!(envelopes.len(), 3);
    bus.publish(Stream::Alerts, &envelopes).await.expect("publish");

    let again = stack.settled_incidents().await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["version"], version, "a redelivery must not touch the incident");
    assert_eq!(again[0]["alert_count"], 3);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(stack.stream_length("events").await, events_before, "no new events");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_events_stream_and_the_notifier() {
    let stack = Stack::start().await;
    let payloads = webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], now());
    for payload in &payloads {
        stack.send(payload).await;
    }
    stack.incidents_when("?status=resolved", |items| items.len() == 1).await;
    // opened, 2 × alert_added, 3 × alert_resolved, resolved
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while stack.stream_length("events").await < 7 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stack.stream_length("events").await, 7);
    stack.wait_drained("events", tocsin_notifier::CONSUMER_GROUP).await;
    let metrics = stack.http.get(format!("{}/metrics", stack.notifier_url)).send().await.expect("sending the request");
    let text = metrics.text().await.unwrap_or_default();
    assert!(text.contains("tocsin_notifier_events_total{kind=\"resolved\"} 1"), "{text}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_captured_bytes_are_accepted_as_alertmanager_sends_them() {
    let stack = Stack::start().await;
    // The exact bytes: HTML-escaped `&`, raw UTF-8, trailing newline.
    let raw = tocsin_testkit::fixture("unicode.json");
    let response = stack
        .http
        .post(format!("{}/alerts", stack.ingest_url))
        .header("Content-Type", "application/json")
        .bearer_auth(tocsin_e2e::INGEST_TOKEN)
        .body(raw)
        .send()
        .await
        .expect("sending the request");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(body, json!({"accepted": 1, "truncated_alerts": 0}));
    let _ = capture("unicode.json");
    stack.stop().await;
}

/// A `service` of 3 kB makes a correlation key longer than a btree entry holds. ingest took it
/// (202) and incident-core could never insert its incident: the alert ended in the dead-letter
/// stream. Every alert ingest accepts becomes an incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_alert_with_a_3_kb_service_becomes_an_incident() {
    let stack = Stack::start().await;
    let service = format!("checkout-{}", tocsin_testkit::incompressible_text(3 * 1024));
    let mut payload = webhook("firing-single.json", now());
    payload["alerts"][0]["labels"]["service"] = json!(service);
    stack.send(&payload).await;

    let incidents = stack.incidents_when("", |items| items.len() == 1).await;
    assert_eq!(incidents[0]["service"], service.as_str());
    assert_eq!(incidents[0]["alert_count"], 1);
    stack.stop().await;
}
