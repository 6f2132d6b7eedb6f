//! Every service's `/metrics` is well-formed by Prometheus's own linter, `promtool check metrics`
//! (from Debian's `prometheus` package), after some traffic has filled in its labelled series.

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
        .unwrap_or_else(|e| panic!("promtool (Debian package `prometheus`): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(exposition.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().await.unwrap_or_else(|e| panic!("{e}"));
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
        let text = stack
            .http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default();
        let (clean, said) = promtool_check(&text).await;
        assert!(clean, "promtool check metrics on {url}/metrics:\n{said}\n--- exposition ---\n{text}");
    }
    stack.stop().await;
}
