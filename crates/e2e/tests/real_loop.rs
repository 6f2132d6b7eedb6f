//! The real loop: a real Prometheus scrapes the four services, one of its rules fires, a real
//! Alertmanager delivers the alert to ingest with the bearer token, and the incident opens; when
//! the rule stops firing, the incident resolves. Debian's `prometheus` and
//! `prometheus-alertmanager` run on free ports with every interval shortened.

use serde_json::Value;
use std::time::Duration;
use tocsin_e2e::tools::{binary, spawn, workdir, write};
use tocsin_e2e::{INGEST_TOKEN, Stack};
use tocsin_testkit::free_port;

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_rule_opens_an_incident_through_alertmanager_and_resolves_it() {
    let mut stack = Stack::start().await;
    let dir = workdir();
    let (prometheus_port, alertmanager_port) = (free_port(), free_port());

    write(
        &dir.join("alertmanager.yml"),
        &format!(
            r#"route:
  receiver: tocsin
  group_by: [service, environment, severity]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {ingest}/alerts
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {INGEST_TOKEN}
"#,
            ingest = stack.ingest_url
        ),
    );
    write(
        &dir.join("rules.yml"),
        r#"groups:
  - name: tocsin-self
    rules:
      - alert: TocsinNotifierDown
        expr: up{job="tocsin-notifier"} == 0
        labels:
          severity: critical
          service: tocsin-notifier
          environment: test
          team: sre
        annotations:
          summary: The tocsin notifier is down
          runbook_url: https://github.com/tocsin-oncall/tocsin/blob/main/docs/runbooks.md#notifier-down
"#,
    );
    let scrape = |job: &str, url: &str| {
        format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n", host_port(url))
    };
    write(
        &dir.join("prometheus.yml"),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{rules}]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n\
             scrape_configs:\n{}{}{}{}",
            scrape("tocsin-ingest", &stack.ingest_url),
            scrape("tocsin-incident-core", &stack.core_urls[0]),
            scrape("tocsin-query", &stack.query_url),
            scrape("tocsin-notifier", &stack.notifier_url),
            rules = dir.join("rules.yml").display(),
        ),
    );

    let _alertmanager = spawn(
        &binary("prometheus-alertmanager", "prometheus-alertmanager"),
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{alertmanager_port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.join("alertmanager.log"),
    );
    let _prometheus = spawn(
        &binary("prometheus", "prometheus"),
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            "--rules.alert.resend-delay=1s".into(),
            "--rules.alert.for-grace-period=1s".into(),
        ],
        &dir.join("prometheus.log"),
    );

    // Prometheus scrapes all four services.
    let targets_up = async || {
        let url = format!("http://127.0.0.1:{prometheus_port}/api/v1/query?query=sum(up)");
        let body: Value = stack.http.get(url).send().await.ok()?.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse::<f64>().ok()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while targets_up().await != Some(4.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus never scraped all four services; see {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The notifier goes away: the rule fires, Alertmanager delivers, the incident opens.
    stack.stop_notifier().await;
    let opened = stack
        .incidents_when("?status=open", |items| items.iter().any(|i| i["title"] == "The tocsin notifier is down"))
        .await;
    let incident = opened.iter().find(|i| i["title"] == "The tocsin notifier is down").cloned().unwrap_or_default();
    assert_eq!(incident["service"], "tocsin-notifier");
    assert_eq!(incident["environment"], "test");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["team"], "sre");
    assert_eq!(incident["source_alert"]["labels"]["alertname"], "TocsinNotifierDown");
    let id = incident["id"].as_str().unwrap_or_default().to_owned();
    let (_, detail) = stack.get(&format!("/incidents/{id}")).await;
    assert!(
        detail["alerts"][0]["generator_url"].as_str().is_some_and(|u| u.contains(&format!(":{prometheus_port}/"))),
        "the alert links back to the Prometheus that fired it: {detail:#}"
    );

    // It comes back: the rule stops firing, Alertmanager sends the resolution, the incident resolves.
    stack.start_notifier().await;
    let resolved = stack.incidents_when("?status=resolved", |items| items.iter().any(|i| i["id"] == id.as_str())).await;
    let incident = resolved.iter().find(|i| i["id"] == id.as_str()).cloned().unwrap_or_default();
    assert_eq!(incident["resolved_by"], "tocsin", "resolved by itself once its alert resolved");
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
