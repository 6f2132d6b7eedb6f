//! Every service's `/metrics` is well-formed by Prometheus's own linter, `promtool check metrics`
//! (from Debian's `prometheus` package), after some traffic has filled in its labelled series.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::process::Stdio;
use time::OffsetDateTime;
use tocsin_e2e::{Stack, webhooks};
use tokio::io::AsyncWriteExt;

async fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`)");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(exposition.as_bytes()).await.expect("writing");
    }
    let output = child.wait_with_output().await.expect("wait with output");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success() && said.trim().is_empty(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_to_complain_about() {
    let stack = Stack::start().await;
    for payload in webhooks(&["firing-group.json", "mixed.json", "resolved-all.json"], OffsetDateTime::now_utc()) {
        stack.send(&payload).await;
    }
    stack.incidents_when("?status=resolved", |items| items.len() == 1).await;
    let (status, _) = stack.get("/incidents?status=bogus").await;
    assert_eq!(status, 400);

    for url in [&stack.ingest_url, &stack.core_urls[0], &stack.query_url, &stack.notifier_url] {
        let text = stack.text_at(&format!("{url}/metrics")).await;
        let (clean, said) = promtool_check(&text).await;
        assert!(clean, "promtool check metrics on {url}/metrics:\n{said}\n--- exposition ---\n{text}");
    }
    stack.stop().await;
}

async fn core_metrics(stack: &Stack) -> String {
    stack.text_at(&format!("{}/metrics", stack.core_urls[0])).await
}

/// The value of the sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|line| line.starts_with(prefix)).and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

async fn eventually(stack: &Stack, prefix: &str, expected: f64) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = core_metrics(stack).await;
        if sample(&text, prefix) == Some(expected) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{prefix} never became {expected}:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_metrics_count_what_people_and_alerts_did() {
    let stack = Stack::start().await;
    let labels = r#"service="web-server",environment="production",severity="critical",team="unowned""#;
    // The alert started three minutes ago.
    let started = OffsetDateTime::now_utc() - time::Duration::minutes(3);
    stack.send(&tocsin_e2e::webhook("firing-single.json", started)).await;
    let incidents = stack.incidents_when("", |items| items.len() == 1).await;
    let id = incidents[0]["id"].as_str().unwrap_or_default().to_owned();

    let text = eventually(&stack, &format!("tocsin_incidents_active{{{labels},status=\"open\"}}"), 1.0).await;
    assert_eq!(sample(&text, &format!("tocsin_incidents_opened_total{{{labels}}}")), Some(1.0));

    let (status, _) = stack.post(&format!("/incidents/{id}/acknowledge"), &serde_json::json!({})).await;
    assert_eq!(status, 200);
    let text = eventually(&stack, &format!("tocsin_incidents_active{{{labels},status=\"acknowledged\"}}"), 1.0).await;
    assert_eq!(sample(&text, &format!("tocsin_incidents_active{{{labels},status=\"open\"}}")), Some(0.0));
    assert_eq!(sample(&text, &format!("tocsin_incident_time_to_acknowledge_seconds_count{{{labels}}}")), Some(1.0));
    let waited = sample(&text, &format!("tocsin_incident_time_to_acknowledge_seconds_sum{{{labels}}}"));
    assert!(waited.is_some_and(|s| (180.0..240.0).contains(&s)), "time to acknowledge: {waited:?}");
    // Counted in the bucket for up to 5 minutes, not in the one for up to 2.
    assert_eq!(
        sample(&text, &format!("tocsin_incident_time_to_acknowledge_seconds_bucket{{le=\"120.0\",{labels}}}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("tocsin_incident_time_to_acknowledge_seconds_bucket{{le=\"300.0\",{labels}}}")),
        Some(1.0)
    );

    // The pipeline's own gauges: the stream, the group's backlog, the database pool.
    let alerts = tocsin_bus::stream_key(&stack.redis.prefix, "alerts");
    assert!(sample(&text, &format!("tocsin_stream_length{{stream=\"{alerts}\"}}")).is_some(), "{text}");
    assert!(sample(&text, &format!("tocsin_stream_lag{{stream=\"{alerts}\",group=\"incident-core\"}}")).is_some());
    assert!(sample(&text, &format!("tocsin_stream_pending{{stream=\"{alerts}\",group=\"incident-core\"}}")).is_some());
    assert_eq!(sample(&text, "tocsin_db_pool_connections{state=\"max\"}"), Some(4.0));

    let (status, _) = stack.post(&format!("/incidents/{id}/resolve"), &serde_json::json!({})).await;
    assert_eq!(status, 200);
    let text = eventually(&stack, &format!("tocsin_incidents_active{{{labels},status=\"acknowledged\"}}"), 0.0).await;
    assert_eq!(sample(&text, &format!("tocsin_incidents_resolved_total{{{labels}}}")), Some(1.0));
    assert_eq!(sample(&text, &format!("tocsin_incident_duration_seconds_count{{{labels}}}")), Some(1.0));
    stack.stop().await;
}
