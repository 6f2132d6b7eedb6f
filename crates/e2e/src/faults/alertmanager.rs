//! Debian's Alertmanager delivering to ingest, so that its own retries (not the test's) are what
//! recover a webhook refused while Redis is away.

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::process::Child;

pub struct Alertmanager {
    pub port: u16,
    http: reqwest::Client,
    _process: Child,
}

impl Alertmanager {
    /// One route to ingest, grouped by service, with every interval shortened (as the real loop
    /// test does); waits until it is ready.
    pub async fn start(dir: &Path, ingest_url: &str, token: &str) -> Alertmanager {
        let port = tocsin_testkit::free_port();
        let config = dir.join("alertmanager.yml");
        crate::tools::write(
            &config,
            &format!(
                r#"route:
  receiver: tocsin
  group_by: [service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {ingest_url}/alerts
        send_resolved: false
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#
            ),
        );
        let process = crate::tools::spawn(
            &crate::tools::binary("prometheus-alertmanager", "prometheus-alertmanager"),
            &[
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", dir.join("alertmanager-data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--cluster.listen-address=".into(),
            ],
            &dir.join("alertmanager.log"),
        );
        let alertmanager = Alertmanager { port, http: reqwest::Client::new(), _process: process };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = alertmanager.http.get(format!("{}/-/ready", alertmanager.url())).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return alertmanager;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Alertmanager was not ready within 30 s; see {}",
                dir.join("alertmanager.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Firing alerts, as Prometheus posts them (`POST /api/v2/alerts`). Each is identified by its
    /// `instance` label.
    pub async fn fire(&self, services: &[String], instances: &[String]) {
        let starts_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("formatting now");
        let alerts: Vec<Value> = instances
            .iter()
            .enumerate()
            .map(|(n, instance)| {
                json!({
                    "labels": {
                        "alertname": "DiskFull",
                        "service": services[n % services.len()],
                        "environment": "production",
                        "severity": "critical",
                        "instance": instance,
                    },
                    "annotations": {"summary": format!("Disk full on {instance}")},
                    "startsAt": starts_at,
                    "generatorURL": "http://prometheus.invalid/graph",
                })
            })
            .collect();
        let response = self
            .http
            .post(format!("{}/api/v2/alerts", self.url()))
            .json(&alerts)
            .send()
            .await
            .expect("POST /api/v2/alerts");
        assert!(response.status().is_success(), "Alertmanager refused the alerts: {}", response.status());
    }

    /// Webhook requests Alertmanager saw fail (each is retried): its
    /// `alertmanager_notification_requests_failed_total{integration="webhook"}`.
    pub async fn failed_requests(&self) -> f64 {
        self.metric("alertmanager_notification_requests_failed_total{integration=\"webhook\"}").await
    }

    /// Webhook requests Alertmanager sent, retries included.
    pub async fn requests(&self) -> f64 {
        self.metric("alertmanager_notification_requests_total{integration=\"webhook\"}").await
    }

    async fn metric(&self, series: &str) -> f64 {
        let text = match self.http.get(format!("{}/metrics", self.url())).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => panic!("Alertmanager's /metrics: {error}"),
        };
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|value| value.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}
