//! A burst of alerts shaped like Alertmanager's traffic, and a client that sends it the way
//! Alertmanager does: each aggregation group posts its webhooks one after the other, groups side
//! by side, and a webhook that gets a 5xx or no connection is sent again, unchanged, with
//! exponential backoff until it is accepted.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A burst: webhooks per aggregation group (one group per correlation key), and the distinct
/// alerts they carry.
pub struct Burst {
    pub groups: Vec<Vec<Value>>,
    /// Every distinct alert's `instance` label (each distinct alert has its own).
    pub instances: BTreeSet<String>,
    /// The `service` label of each group; the correlation key is (service, production, critical).
    pub services: Vec<String>,
}

impl Burst {
    /// `alerts` distinct firing alerts over `groups` services, `per_webhook` new alerts per
    /// webhook. As Alertmanager does when a group grows, every third webhook of a group carries the
    /// previous webhook's alerts again, and every fifth one is posted twice (a resend after a
    /// timeout); those repeats are the same occurrences and must change nothing.
    pub fn new(tag: &str, alerts: usize, groups: usize, per_webhook: usize) -> Burst {
        let template = crate::webhook("firing-single.json", time::OffsetDateTime::now_utc());
        let services: Vec<String> = (0..groups).map(|group| format!("{tag}-service-{group}")).collect();
        let mut instances = BTreeSet::new();
        let mut by_group: Vec<Vec<Value>> = vec![Vec::new(); groups];
        for n in 0..alerts {
            let group = n % groups;
            let mut alert = template["alerts"][0].clone();
            let instance = format!("{tag}-host-{n:05}");
            alert["fingerprint"] = json!(format!("{tag}-{n:05}"));
            alert["labels"]["service"] = json!(services[group]);
            alert["labels"]["instance"] = json!(instance);
            alert["annotations"]["summary"] = json!(format!("High CPU usage on {instance}"));
            instances.insert(instance);
            by_group[group].push(alert);
        }
        let groups = by_group
            .into_iter()
            .zip(&services)
            .map(|(alerts, service)| {
                let chunks: Vec<&[Value]> = alerts.chunks(per_webhook).collect();
                let mut webhooks = Vec::new();
                for (index, chunk) in chunks.iter().enumerate() {
                    let mut carried: Vec<Value> = chunk.to_vec();
                    if index % 3 == 2 {
                        carried.extend(chunks[index - 1].iter().cloned());
                    }
                    let webhook = group_webhook(&template, service, carried);
                    if index % 5 == 4 {
                        webhooks.push(webhook.clone());
                    }
                    webhooks.push(webhook);
                }
                webhooks
            })
            .collect();
        Burst { groups, instances, services }
    }

    pub fn webhook_count(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    /// Alert reports in all the webhooks, repeats included.
    pub fn report_count(&self) -> usize {
        self.groups.iter().flatten().map(|webhook| webhook["alerts"].as_array().map_or(0, Vec::len)).sum()
    }
}

fn group_webhook(template: &Value, service: &str, alerts: Vec<Value>) -> Value {
    let mut webhook = template.clone();
    let group_labels = json!({"environment": "production", "service": service, "severity": "critical"});
    webhook["groupKey"] =
        json!(format!("{{}}:{{environment=\"production\", service=\"{service}\", severity=\"critical\"}}"));
    webhook["groupLabels"] = group_labels.clone();
    webhook["commonLabels"] = group_labels;
    webhook["commonAnnotations"] = json!({});
    webhook["alerts"] = Value::Array(alerts);
    webhook
}

/// What one attempt to post a webhook got.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    /// No answer: refused, reset or timed out.
    NoAnswer,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(status) => write!(f, "{status}"),
            Outcome::NoAnswer => f.write_str("no answer"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    /// (group, index of the webhook in its group)
    pub webhook: (usize, usize),
    pub outcome: Outcome,
    pub at: Instant,
}

/// Alertmanager's webhook notifier, as far as retries go: 5xx and transport errors are retried
/// with exponential backoff (0.5 s, × 1.5, here capped at 2 s); a 429 waits for its Retry-After;
/// any other 4xx is a broken request (the test's fault, so it fails the test).
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    url: String,
    token: String,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    accepted: Arc<AtomicUsize>,
}

/// The longest a webhook may stay unaccepted before the test gives up on it.
const ACCEPT_DEADLINE: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Sender {
    pub fn new(ingest_url: &str, token: &str) -> Sender {
        Sender {
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client"),
            url: format!("{ingest_url}/alerts"),
            token: token.to_owned(),
            attempts: Arc::default(),
            accepted: Arc::default(),
        }
    }

    /// Sends every group's webhooks, groups side by side, `pace` apart within a group; returns
    /// once every webhook was accepted.
    pub async fn send(&self, burst: &Burst, pace: Duration) {
        let groups = burst.groups.iter().enumerate().map(|(group, webhooks)| async move {
            for (index, webhook) in webhooks.iter().enumerate() {
                self.deliver((group, index), webhook).await;
                tokio::time::sleep(pace).await;
            }
        });
        futures_util::future::join_all(groups).await;
    }

    /// Posts one webhook until it gets 202.
    pub async fn deliver(&self, webhook: (usize, usize), body: &Value) {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let response = self
                .http
                .post(&self.url)
                .header("Content-Type", "application/json")
                .header("User-Agent", "Alertmanager/0.25.0")
                .bearer_auth(&self.token)
                .body(body.to_string())
                .send()
                .await;
            let (outcome, retry_after) = match response {
                Ok(response) => {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (Outcome::Status(response.status().as_u16()), retry_after)
                }
                Err(_) => (Outcome::NoAnswer, None),
            };
            self.record(webhook, outcome.clone());
            let wait = match outcome {
                Outcome::Status(202) => {
                    self.accepted.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Outcome::Status(429) => retry_after.unwrap_or(backoff),
                Outcome::Status(status) if status >= 500 => backoff,
                Outcome::NoAnswer => backoff,
                Outcome::Status(status) => {
                    panic!("webhook {webhook:?} was refused with {status}: the test sent a bad request")
                }
            };
            assert!(
                started.elapsed() < ACCEPT_DEADLINE,
                "webhook {webhook:?} was not accepted within {ACCEPT_DEADLINE:?}; its attempts: {:?}",
                self.attempts_of(webhook)
            );
            tokio::time::sleep(wait).await;
            backoff = (backoff.mul_f64(1.5)).min(MAX_BACKOFF);
        }
    }

    fn record(&self, webhook: (usize, usize), outcome: Outcome) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        attempts.push(Attempt { webhook, outcome, at: Instant::now() });
    }

    fn attempts_of(&self, webhook: (usize, usize)) -> Vec<Outcome> {
        self.attempts().into_iter().filter(|a| a.webhook == webhook).map(|a| a.outcome).collect()
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Webhooks accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many attempts got each outcome.
    pub fn outcomes(&self) -> BTreeMap<Outcome, usize> {
        let mut counts = BTreeMap::new();
        for attempt in self.attempts() {
            *counts.entry(attempt.outcome).or_default() += 1;
        }
        counts
    }

    /// The webhooks that needed more than one attempt.
    pub fn retried(&self) -> BTreeSet<(usize, usize)> {
        let mut tries: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for attempt in self.attempts() {
            *tries.entry(attempt.webhook).or_default() += 1;
        }
        tries.into_iter().filter(|(_, count)| *count > 1).map(|(webhook, _)| webhook).collect()
    }
}
