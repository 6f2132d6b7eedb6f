//! The load: webhooks shaped like the captured Alertmanager payloads ([`crate::synthetic`]), and
//! the ways the phases send them to ingest:
//!
//! - [`flat_out`]: `CLIENTS` connections posting back to back for a while;
//! - [`offer`]: a steady rate, a tick every 10 ms, whatever the answers' speed;
//! - [`at_fixed_rate`]: a webhook every few milliseconds, noting when each alert was accepted;
//! - [`post_all`]: a given list of webhooks as fast as `CLIENTS` connections go (the storm).
//!
//! Bodies are prepared before a clock starts wherever the rate matters: building JSON while
//! measuring would measure the load generator, which shares the machine with what it measures.

use super::{ALERTS_PER_WEBHOOK, CLIENTS, KEYS, TOKEN};
use crate::poster::Poster;
use crate::synthetic;
use anyhow::bail;
use bytes::Bytes;
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// Connections the sustained phase posts over: enough that 12,000 alerts/s keep going with
/// answers as slow as 100 ms.
const OFFER_CONNECTIONS: usize = 128;

/// The webhook of alerts `first` to `first + 9` of the ordinary load, spread over [`KEYS`]
/// correlation keys.
pub fn body(first: u64, now: OffsetDateTime) -> String {
    let alerts = (first..first + ALERTS_PER_WEBHOOK).map(|n| synthetic::alert(n, KEYS, now)).collect();
    synthetic::webhook(alerts).to_string()
}

/// The webhook of alerts `first` to `first + 9` of a storm: alert `n` is the ordinary alert `n`
/// of a service of its own, `storm-<run>-<n>`, so that its correlation key is new and it opens an
/// incident.
pub fn storm_body(first: u64, run: i64, now: OffsetDateTime) -> String {
    let alerts = (first..first + ALERTS_PER_WEBHOOK)
        .map(|n| {
            let mut alert = synthetic::alert(n, KEYS, now);
            alert["labels"]["service"] = json!(format!("storm-{run}-{n:05}"));
            alert
        })
        .collect();
    synthetic::webhook(alerts).to_string()
}

/// Alert `n` of the ordinary load as ingest hands it on: its labels and annotations, its
/// generator URL and the group key of its webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertParts {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: String,
    pub group_key: String,
}

pub fn alert_parts(n: u64, now: OffsetDateTime) -> AlertParts {
    let alert = synthetic::alert(n, KEYS, now);
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let map = |value: &Value| -> BTreeMap<String, String> {
        value.as_object().into_iter().flatten().map(|(name, value)| (name.clone(), text(value))).collect()
    };
    let group_key = text(&synthetic::webhook(vec![alert.clone()])["groupKey"]);
    AlertParts {
        labels: map(&alert["labels"]),
        annotations: map(&alert["annotations"]),
        generator_url: text(&alert["generatorURL"]),
        group_key,
    }
}

/// Webhook `w` of the unique load, the one [`body`] gives for alerts `10w` to `10w + 9`, made by
/// copying a prepared body and writing the fingerprints into it. Everything else about alert `n`
/// repeats every [`UniqueBodies::PERIOD`] alerts, so that many alerts' worth of bodies serve for
/// any number.
#[derive(Default)]
pub struct UniqueBodies {
    /// Per webhook of one period: its body, and where each alert's 16 fingerprint digits start.
    prepared: Vec<(String, Vec<usize>)>,
}

impl UniqueBodies {
    /// A multiple of the synthetic alerts' periods: keys, rules and instance numbers.
    const PERIOD: u64 = 10_000;

    pub fn new(now: OffsetDateTime) -> UniqueBodies {
        let prepared = (0..Self::PERIOD / ALERTS_PER_WEBHOOK)
            .map(|w| {
                let body = body(w * ALERTS_PER_WEBHOOK, now);
                let marker = "\"fingerprint\":\"";
                let digits = body.match_indices(marker).map(|(at, _)| at + marker.len()).collect();
                (body, digits)
            })
            .collect();
        UniqueBodies { prepared }
    }

    pub fn body(&self, w: u64) -> String {
        let Some((template, digits)) = self.prepared.get((w % self.prepared.len().max(1) as u64) as usize) else {
            return body(w * ALERTS_PER_WEBHOOK, OffsetDateTime::now_utc());
        };
        let mut bytes = template.clone().into_bytes();
        for (i, &at) in digits.iter().enumerate() {
            let fingerprint = format!("{:016x}", w * ALERTS_PER_WEBHOOK + i as u64);
            bytes[at..at + 16].copy_from_slice(fingerprint.as_bytes());
        }
        String::from_utf8(bytes).unwrap_or_default()
    }
}

/// Posts webhooks from [`CLIENTS`] concurrent clients, each on a connection of its own, for
/// `seconds`; adds the alerts accepted (answered 202) to `accepted`. Without `unique`, a few
/// bodies are reused (ingest does not dedupe); with it, every webhook gets fresh fingerprints.
pub async fn flat_out(addr: &str, seconds: u64, accepted: Arc<AtomicU64>, unique: bool) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicU64::new(0));
    let now = OffsetDateTime::now_utc();
    let prepared: Arc<Vec<Bytes>> = Arc::new((0..64).map(|n| Bytes::from(body(n * ALERTS_PER_WEBHOOK, now))).collect());
    let unique_bodies = Arc::new(if unique { UniqueBodies::new(now) } else { UniqueBodies::default() });
    let posters = connect_all(addr, CLIENTS).await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let clients = posters.into_iter().map(|mut poster| {
        let (next, accepted, prepared, unique_bodies) =
            (next.clone(), accepted.clone(), prepared.clone(), unique_bodies.clone());
        async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body =
                    if unique { Bytes::from(unique_bodies.body(n)) } else { prepared[(n % 64) as usize].clone() };
                let status = poster.post(body).await?;
                if status.as_u16() != 202 {
                    bail!("ingest answered {status}");
                }
                accepted.fetch_add(ALERTS_PER_WEBHOOK, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for result in join_all(clients).await {
        result?;
    }
    Ok(started.elapsed())
}

/// Posts every one of `bodies` as fast as [`CLIENTS`] connections go; fails unless each is
/// answered 202. Returns when the last is answered.
pub async fn post_all(addr: &str, bodies: Vec<Bytes>) -> anyhow::Result<()> {
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let clients = connect_all(addr, CLIENTS).await?.into_iter().map(|mut poster| {
        let queue = queue.clone();
        async move {
            loop {
                let Some(body) = queue.lock().await.next() else { return Ok(()) };
                let status = poster.post(body).await?;
                if status.as_u16() != 202 {
                    bail!("ingest answered {status}");
                }
            }
        }
    });
    for result in join_all(clients).await {
        result?;
    }
    Ok(())
}

/// What [`offer`] did at a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offered {
    pub alerts: u64,
    pub accepted: u64,
    /// Alerts per second actually offered: less than asked when the load generator fell behind.
    pub rate: f64,
}

/// Offers `rate` alerts per second of new alerts for `seconds`: a tick every 10 ms queues that
/// tick's share of webhooks, which [`OFFER_CONNECTIONS`] connections post as each comes free, so
/// a slow answer delays nothing else. Webhooks are numbered from `next_webhook` on.
pub async fn offer(
    addr: &str,
    bodies: &UniqueBodies,
    rate: u64,
    seconds: u64,
    next_webhook: &mut u64,
) -> anyhow::Result<Offered> {
    let (queue, queued) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let queued = Arc::new(Mutex::new(queued));
    let mut posters = Vec::with_capacity(OFFER_CONNECTIONS);
    for mut poster in connect_all(addr, OFFER_CONNECTIONS).await? {
        let queued = queued.clone();
        posters.push(tokio::spawn(async move {
            let mut accepted = 0;
            loop {
                let Some(body) = queued.lock().await.recv().await else { break };
                if poster.post(body).await.is_ok_and(|status| status.as_u16() == 202) {
                    accepted += ALERTS_PER_WEBHOOK;
                }
            }
            accepted
        }));
    }
    let webhooks_per_tick = rate as f64 / ALERTS_PER_WEBHOOK as f64 / 100.0;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut owed = 0.0;
    let mut alerts = 0;
    let started = Instant::now();
    for _ in 0..seconds * 100 {
        ticker.tick().await;
        owed += webhooks_per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            queue.send(Bytes::from(bodies.body(*next_webhook)))?;
            *next_webhook += 1;
            alerts += ALERTS_PER_WEBHOOK;
        }
    }
    drop(queue);
    let mut accepted = 0;
    for poster in posters {
        accepted += poster.await?;
    }
    Ok(Offered { alerts, accepted, rate: alerts as f64 / started.elapsed().as_secs_f64() })
}

/// The rates the sustained search tries: in steps of [`SustainedSearch::STEP`] alerts/s, up from
/// the flat-out rate while the pipeline keeps up, down while it does not, until the highest rate
/// kept up with is next to the lowest one not.
#[derive(Debug, Clone, PartialEq)]
pub struct SustainedSearch {
    pub rate: u64,
    pub best: Option<u64>,
    worst_failed: Option<u64>,
}

impl SustainedSearch {
    pub const STEP: u64 = 500;

    pub fn from(flat_out: f64) -> SustainedSearch {
        SustainedSearch {
            rate: ((flat_out as u64) / Self::STEP * Self::STEP).max(Self::STEP),
            best: None,
            worst_failed: None,
        }
    }

    /// Records whether the current rate was kept up with; the next rate to try, if any.
    pub fn next(&mut self, kept_up: bool) -> Option<u64> {
        const STEP: u64 = SustainedSearch::STEP;
        let rate = self.rate;
        if kept_up {
            self.best = self.best.max(Some(rate));
        } else {
            self.worst_failed = Some(self.worst_failed.map_or(rate, |failed| failed.min(rate)));
        }
        let next = if kept_up {
            match self.worst_failed {
                Some(failed) if rate + STEP >= failed => return None,
                Some(failed) if rate + 2 * STEP >= failed => rate + STEP,
                _ => rate + 2 * STEP,
            }
        } else {
            match self.best {
                Some(best) if best + STEP >= rate => return None,
                Some(best) => best + STEP,
                None if rate <= STEP => return None,
                None => rate - 2 * STEP,
            }
        };
        self.rate = next;
        Some(next)
    }
}

/// Sends `rate` alerts per second for `seconds`, one 10-alert webhook at a time on a schedule, and
/// returns when each alert was accepted (its webhook answered 202), by fingerprint. Alerts are
/// numbered from `first`.
pub async fn at_fixed_rate(
    addr: &str,
    rate: u64,
    seconds: u64,
    first: u64,
) -> anyhow::Result<HashMap<String, Instant>> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let accepted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let webhooks_per_second = rate / ALERTS_PER_WEBHOOK;
    let interval = Duration::from_secs(1) / webhooks_per_second.max(1) as u32;
    let url = format!("http://{addr}/alerts");
    let mut ticker = tokio::time::interval(interval);
    let mut in_flight = Vec::new();
    for n in 0..webhooks_per_second * seconds {
        ticker.tick().await;
        let base = first + n * ALERTS_PER_WEBHOOK;
        let body = body(base, OffsetDateTime::now_utc());
        let (http, url, accepted_at) = (http.clone(), url.clone(), accepted_at.clone());
        in_flight.push(tokio::spawn(async move {
            let response =
                http.post(&url).bearer_auth(TOKEN).header("Content-Type", "application/json").body(body).send().await?;
            let answered = Instant::now();
            if response.status().as_u16() != 202 {
                bail!("ingest answered {}", response.status());
            }
            let mut accepted = accepted_at.lock().await;
            for alert in base..base + ALERTS_PER_WEBHOOK {
                accepted.insert(format!("{alert:016x}"), answered);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in in_flight {
        task.await??;
    }
    Ok(std::mem::take(&mut *accepted_at.lock().await))
}

async fn connect_all(addr: &str, count: usize) -> anyhow::Result<Vec<Poster>> {
    let mut posters = Vec::with_capacity(count);
    for _ in 0..count {
        posters.push(Poster::connect(addr, "/alerts", TOKEN).await?);
    }
    Ok(posters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn alert_parts_are_the_alerts_labels_and_annotations() {
        let now = OffsetDateTime::now_utc();
        let parts = alert_parts(3, now);
        let alert = synthetic::alert(3, KEYS, now);
        assert_eq!(parts.labels.get("service").map(String::as_str), alert["labels"]["service"].as_str());
        assert_eq!(parts.labels.len(), 6);
        assert_eq!(parts.annotations.get("summary").map(String::as_str), alert["annotations"]["summary"].as_str());
        assert!(parts.generator_url.starts_with("http://prometheus:9090/"));
        assert!(parts.group_key.contains("service="), "{}", parts.group_key);
    }

    #[test]
    fn prepared_unique_bodies_are_the_bodies_themselves() {
        let now = OffsetDateTime::now_utc();
        let bodies = UniqueBodies::new(now);
        for w in [0, 1, 999, 1000, 1001, 23_456] {
            assert_eq!(bodies.body(w), body(w * ALERTS_PER_WEBHOOK, now), "webhook {w}");
        }
    }

    #[test]
    fn every_storm_alert_has_a_service_of_its_own() {
        let now = OffsetDateTime::now_utc();
        let mut services = HashSet::new();
        for w in 0..100 {
            let hook: Value = serde_json::from_str(&storm_body(w * ALERTS_PER_WEBHOOK, 7, now))
                .unwrap_or_else(|e| panic!("storm webhook {w} is not JSON: {e}"));
            for alert in hook["alerts"].as_array().into_iter().flatten() {
                services.insert(alert["labels"]["service"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(services.len(), 1_000, "1,000 alerts, 1,000 services");
        assert!(services.contains("storm-7-00999"));
    }

    #[test]
    fn the_sustained_search_settles_between_a_kept_rate_and_a_missed_one() {
        // The pipeline keeps up with anything up to 10,000 alerts/s, and the flat-out rate was 8,900.
        let mut search = SustainedSearch::from(8_900.0);
        let mut tried = vec![search.rate];
        while let Some(rate) = search.next(search.rate <= 10_000) {
            tried.push(rate);
        }
        assert_eq!(tried, [8_500, 9_500, 10_500, 10_000]);
        assert_eq!(search.best, Some(10_000));
    }

    #[test]
    fn the_sustained_search_goes_down_until_a_rate_is_kept_up_with() {
        let mut search = SustainedSearch::from(6_200.0);
        let mut tried = vec![search.rate];
        while let Some(rate) = search.next(search.rate <= 4_500) {
            tried.push(rate);
        }
        assert_eq!(tried, [6_000, 5_000, 4_000, 4_500]);
        assert_eq!(search.best, Some(4_500));
        let mut hopeless = SustainedSearch::from(100.0);
        assert_eq!(hopeless.next(false), None, "nothing below the first step");
        assert_eq!(hopeless.best, None);
    }
}
