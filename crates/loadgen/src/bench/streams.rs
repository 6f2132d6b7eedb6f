//! The bench's view of the bus: the streams of a phase under the bus crate's own key names
//! ([`tocsin_bus::Bus::key`]), read with the bus's own readers. Whether incident-core has
//! committed everything on the alerts stream, which alerts the events stream shows applied, samples
//! of the entries ingest and incident-core really wrote (for the ceiling), and removing a phase's
//! streams afterwards, or an interrupted run's.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tocsin_bus::{Bus, BusSettings, Envelope, Stream, Verbatim};
use tocsin_domain::{AlertReceived, IncidentEvent};

/// A plain connection for what the bus has no reader for (consumer groups' state, deleting keys).
pub async fn connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection().await?)
}

/// The key prefix of one phase of this run: `bench-p<pid>-<unix time>-<phase>`. The pid says
/// whether the run that made a key is still going ([`delete_earlier_runs`]).
pub fn prefix(run: i64, phase: &str) -> String {
    format!("bench-p{}-{run}-{phase}", std::process::id())
}

/// The streams of one phase, as the services started with `STREAM_PREFIX=prefix` name them.
#[derive(Clone)]
pub struct PhaseStreams {
    bus: Bus,
    prefix: String,
    redis_url: String,
}

impl PhaseStreams {
    pub fn new(redis_url: &str, prefix: &str) -> anyhow::Result<PhaseStreams> {
        let settings = BusSettings { prefix: prefix.to_owned(), ..BusSettings::default() };
        let bus = Bus::connect(redis_url, settings).context("the bench's bus")?;
        Ok(PhaseStreams { bus, prefix: prefix.to_owned(), redis_url: redis_url.to_owned() })
    }

    pub fn key(&self, stream: Stream) -> String {
        self.bus.key(stream)
    }

    /// Waits until incident-core's group has read and acknowledged everything on the alerts
    /// stream, that is, until every alert posted so far is committed.
    pub async fn drained(&self, limit: Duration) -> anyhow::Result<()> {
        let key = self.key(Stream::Alerts);
        let mut conn = connect(&self.redis_url).await?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let groups: Vec<HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("GROUPS").arg(&key).query_async(&mut conn).await.unwrap_or_default();
            if groups.iter().any(group_is_done) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("{key} was not drained within {} s", limit.as_secs())
    }

    /// The newest entry id on the events stream, to follow it from there.
    pub async fn last_event_id(&self) -> anyhow::Result<String> {
        Ok(self.bus.last_entry_id(Stream::Events).await?.unwrap_or_else(|| "0-0".to_owned()))
    }

    /// Follows the events stream after `after` and records when each alert's first event
    /// arrived, by fingerprint, until aborted.
    pub fn watch_applied(
        &self,
        after: String,
        seen_at: std::sync::Arc<tokio::sync::Mutex<HashMap<String, Instant>>>,
    ) -> tokio::task::JoinHandle<()> {
        let bus = self.bus.clone();
        tokio::spawn(async move {
            let mut last_id = after;
            loop {
                let Ok(page) =
                    bus.read_after::<IncidentEvent>(Stream::Events, &last_id, 1000, Duration::from_millis(200)).await
                else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let arrived = Instant::now();
                let mut seen = seen_at.lock().await;
                for entry in page.entries {
                    if let Some(fingerprint) = entry.envelope.payload.detail["alert"]["fingerprint"].as_str() {
                        seen.entry(fingerprint.to_owned()).or_insert(arrived);
                    }
                }
                if let Some(id) = page.last_id {
                    last_id = id;
                }
            }
        })
    }

    /// Up to `count` entries of the alerts stream, each as the exact text of its stream entry.
    pub async fn sample_alert_entries(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let page = self.bus.range_after::<Verbatim<AlertReceived>>(Stream::Alerts, "0-0", count).await?;
        page.entries.into_iter().map(|entry| Ok(serde_json::to_string(&entry.envelope)?)).collect()
    }

    /// Up to `count` events of the events stream, each as the JSON the outbox held for it.
    pub async fn sample_events(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let page = self.bus.range_after::<Verbatim<IncidentEvent>>(Stream::Events, "0-0", count).await?;
        Ok(page.entries.into_iter().map(|entry: tocsin_bus::TailEntry<_>| event_json(entry.envelope)).collect())
    }

    /// Deletes every key under the phase's prefix: its streams and dead-letter streams, whatever
    /// the services named them.
    pub async fn delete(&self) -> anyhow::Result<()> {
        delete_matching(&self.redis_url, &format!("{}:*", self.prefix), |_| true).await.map(|_| ())
    }
}

fn event_json(envelope: Envelope<Verbatim<IncidentEvent>>) -> String {
    envelope.payload.json().to_owned()
}

/// Whether a consumer group (one `XINFO GROUPS` entry) has read and acknowledged everything.
fn group_is_done(group: &HashMap<String, redis::Value>) -> bool {
    let number = |field: &str| group.get(field).and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok());
    number("lag") == Some(0) && number("pending") == Some(0)
}

/// Streams that runs no longer going left behind: an interrupted run's. Hundreds of megabytes of
/// them make every AOF rewrite of the next run slower and skew its figures. A key of a run that is
/// still going (another checkout's `make bench` on the same machine) is left alone.
pub async fn delete_earlier_runs(url: &str) -> anyhow::Result<usize> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    delete_matching(url, "bench-*", |key| {
        left_behind(key, now, |pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    })
    .await
}

/// Whether the bench run that made `key` is over: its process is gone (`bench-p<pid>-…`), or, for
/// the keys of benches before the pid was in the name (`bench-<unix time>-…`), it began more than
/// an hour ago, longer than any run lasts.
fn left_behind(key: &str, now: i64, running: impl Fn(u32) -> bool) -> bool {
    let Some(rest) = key.strip_prefix("bench-") else { return false };
    let first = rest.split(['-', ':']).next().unwrap_or_default();
    if let Some(pid) = first.strip_prefix('p').and_then(|pid| pid.parse::<u32>().ok()) {
        return !running(pid);
    }
    first.parse::<i64>().is_ok_and(|began| now - began > 3600)
}

async fn delete_matching(url: &str, pattern: &str, delete: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
    let mut conn = connect(url).await?;
    let mut cursor = 0u64;
    let mut doomed = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        doomed.extend(keys.into_iter().filter(|key| delete(key)));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for chunk in doomed.chunks(500) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_prefix_names_this_process() {
        let prefix = prefix(1_765_000_000, "storm");
        assert_eq!(prefix, format!("bench-p{}-1765000000-storm", std::process::id()));
        let streams = PhaseStreams::new("redis://127.0.0.1:1/", &prefix).expect("creating");
        assert_eq!(streams.key(Stream::Alerts), format!("{prefix}:alerts"), "the bus's own name");
    }

    #[test]
    fn only_keys_of_runs_that_are_over_are_left_behind() {
        let now = 1_765_000_000;
        let running = |pid: u32| pid == 42;
        assert!(!left_behind("bench-p42-1765000000-storm:alerts", now, running), "a run still going");
        assert!(left_behind("bench-p43-1765000000-storm:alerts", now, running), "its process is gone");
        assert!(left_behind("bench-1764990000-ingest:alerts", now, running), "an old-style key, hours old");
        assert!(!left_behind("bench-1764999000-ingest:alerts", now, running), "an old-style key, minutes old");
        assert!(!left_behind("bench-data:alerts", now, running), "not a bench run's key");
        assert!(!left_behind("tocsin:alerts", now, running));
    }

    #[test]
    fn a_group_is_done_when_nothing_is_left_to_read_or_acknowledge() {
        let group = |lag: i64, pending: i64| {
            HashMap::from([
                ("lag".to_owned(), redis::Value::Int(lag)),
                ("pending".to_owned(), redis::Value::Int(pending)),
            ])
        };
        assert!(group_is_done(&group(0, 0)));
        assert!(!group_is_done(&group(0, 3)));
        assert!(!group_is_done(&group(10, 0)));
        assert!(!group_is_done(&HashMap::new()), "a group Redis said nothing about");
    }
}
