//! What happens when things go wrong: PostgreSQL going away under incident-core, and several
//! incident-core replicas racing for the same alerts.

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::{Stack, StackOptions, webhook, webhooks};
use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn core_metric(stack: &Stack, name: &str) -> f64 {
    let text = stack.text_at(&format!("{}/metrics", stack.core_urls[0])).await;
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_core_holds_alerts_while_postgres_is_away_and_resumes_by_itself() {
    let stack = Stack::start_with(StackOptions { proxy_core_database: true, ..StackOptions::default() }).await;
    let payloads = webhooks(&["firing-single.json", "firing-group.json"], now());
    stack.send(&payloads[0]).await;
    stack.settled_incidents().await;

    let proxy = stack.core_database_proxy.as_ref().expect("proxy");
    proxy.cut();
    stack.send(&payloads[1]).await;
    // The alerts are read but not acknowledged, and no incident changed.
    let key = tocsin_bus::stream_key(&stack.redis.prefix, "alerts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (lag, pending) = tocsin_e2e::group_lag(&stack.redis.url, &key, tocsin_incident_core::CONSUMER_GROUP).await;
        if (lag, pending) == (Some(0), Some(3)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never read and held: lag {lag:?}, pending {pending:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Held across several retries, not just read once.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (lag, pending) = tocsin_e2e::group_lag(&stack.redis.url, &key, tocsin_incident_core::CONSUMER_GROUP).await;
    assert_eq!((lag, pending), (Some(0), Some(3)), "read, held, not acknowledged");
    let (_, page) = stack.get("/incidents").await;
    assert_eq!(page["items"][0]["alert_count"], 1);
    let ready = stack
        .http
        .get(format!("{}/ready", stack.core_urls[0]))
        .bearer_auth(tocsin_e2e::API_TOKEN)
        .send()
        .await
        .expect("sending the request");
    assert_eq!(ready.status().as_u16(), 503);
    let ready: Value = ready.json().await.unwrap_or_default();
    assert_ne!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");
    assert!(core_metric(&stack, "tocsin_core_batch_retries_total").await >= 1.0);

    proxy.restore();
    let incidents = stack.settled_incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["alert_count"], 3, "every alert applied once the database is back");
    let ready = stack.http.get(format!("{}/ready", stack.core_urls[0])).send().await.expect("sending the request");
    assert_eq!(ready.status().as_u16(), 200);
    let dead = stack.length_of(&tocsin_bus::dead_letter_key(&stack.redis.prefix, "alerts")).await;
    assert_eq!(dead, 0, "an outage is not a reason to dead-letter");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_incident_core_replicas_make_one_incident_per_key() {
    let stack = Stack::start_with(StackOptions { core_replicas: 2, ..StackOptions::default() }).await;
    let at = now();
    // 40 webhooks, each with its own alert, over 4 correlation keys, sent concurrently.
    let template = webhook("firing-single.json", at);
    let mut sends = Vec::new();
    for n in 0..40 {
        let mut payload = template.clone();
        let alert = &mut payload["alerts"][0];
        alert["fingerprint"] = json!(format!("{n:016x}"));
        alert["labels"]["instance"] = json!(format!("web-server-{n:02}"));
        alert["labels"]["environment"] = json!(["production", "staging"][n % 2]);
        alert["labels"]["service"] = json!(["web-server", "checkout-api"][(n / 2) % 2]);
        sends.push(payload);
    }
    let results = futures_util::future::join_all(sends.iter().map(|payload| stack.post_webhook(payload))).await;
    assert!(results.iter().all(|r| r.status().as_u16() == 202));

    let incidents = stack.settled_incidents().await;
    let mut keys: Vec<(String, String)> = incidents
        .iter()
        .map(|i| (i["service"].as_str().unwrap_or("").to_owned(), i["environment"].as_str().unwrap_or("").to_owned()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(incidents.len(), 4, "one incident per key: {incidents:#?}");
    assert_eq!(keys.len(), 4);
    let alerts: i64 = incidents.iter().filter_map(|i| i["alert_count"].as_i64()).sum();
    assert_eq!(alerts, 40, "every alert counted exactly once");
    let orphans = orphaned_rows(&mut stack.db.connection().await).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows::default(), "every alert and timeline entry has its incident");

    stack.stop().await;
}
