//! The upkeep of streams, in the background rather than on every publish: trimming by age
//! without ever removing an entry a consumer group still needs, and the backlog a producer turns
//! work away on before Redis fills up.

use crate::metrics::StreamLabel;
use crate::{Bus, BusError, BusMetrics, Stream};
use prometheus_client::metrics::gauge::Gauge;
use redis::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the background loops trim and read backlogs.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Most entries one trim removes, so a trim after a long pause never holds Redis for long; at one
/// trim a second that is far more than any stream receives.
const TRIM_LIMIT: u64 = 100_000;

/// Trims entries older than the age cutoff `ARGV[1]`, but none at or after the oldest entry any
/// consumer group of the stream has not acknowledged (its oldest pending entry) or not read yet
/// (after its last-delivered id). Reading the groups and trimming happen in one step, so a group
/// cannot fall behind the cutoff in between. Replies with the entries removed.
const TRIM_BEHIND_GROUPS: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function before(a, b)
  local a_ms, a_seq = string.match(a, '^(%d+)-(%d+)$')
  local b_ms, b_seq = string.match(b, '^(%d+)-(%d+)$')
  a_ms, a_seq, b_ms, b_seq = tonumber(a_ms), tonumber(a_seq), tonumber(b_ms), tonumber(b_seq)
  return a_ms < b_ms or (a_ms == b_ms and a_seq < b_seq)
end
local floor = ARGV[1]
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local group = {}
  for i = 1, #info, 2 do group[info[i]] = info[i + 1] end
  if before(group['last-delivered-id'], floor) then floor = group['last-delivered-id'] end
  if group['pending'] > 0 then
    local oldest = redis.call('XPENDING', KEYS[1], group['name'])[2]
    if before(oldest, floor) then floor = oldest end
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor, 'LIMIT', ARGV[2])
"#;

impl Bus {
    /// Removes entries of `stream` older than the bus's `max_age`, except those a consumer group
    /// has not acknowledged or not read yet, however old: a consumer that fell behind finds every
    /// entry it has still to handle. Returns how many entries went. Trimming works on whole nodes
    /// of the stream (`MINID ~`), so a few entries past the cutoff may stay a while longer.
    pub async fn trim(&self, stream: Stream) -> Result<u64, BusError> {
        let mut conn = self.connection().await?;
        let removed: u64 = redis::cmd("EVAL")
            .arg(TRIM_BEHIND_GROUPS)
            .arg(1)
            .arg(self.key(stream))
            .arg(self.oldest_kept_id())
            .arg(TRIM_LIMIT)
            .query_async(&mut conn)
            .await?;
        Ok(removed)
    }

    /// Entries of `stream` not handled yet: for the consumer group furthest behind, those it has
    /// not read (`lag`) plus those it read and has not acknowledged (`pending`). Where Redis does
    /// not know a group's lag (before Redis 7, or after entries it had not read were deleted), and
    /// while no group reads the stream, the stream's length counts instead.
    pub async fn backlog(&self, stream: Stream) -> Result<u64, BusError> {
        let key = self.key(stream);
        let mut conn = self.connection().await?;
        let groups: Result<Vec<HashMap<String, Value>>, redis::RedisError> =
            redis::cmd("XINFO").arg("GROUPS").arg(&key).query_async(&mut conn).await;
        let groups = match groups {
            Ok(groups) => groups,
            // No stream yet, so nothing waits on it.
            Err(error) if error.to_string().contains("no such key") => return Ok(0),
            Err(error) => return Err(error.into()),
        };
        let number = |group: &HashMap<String, Value>, field: &str| {
            group.get(field).and_then(|value| redis::from_redis_value::<u64>(value.clone()).ok())
        };
        let known: Option<Vec<u64>> =
            groups.iter().map(|group| Some(number(group, "lag")? + number(group, "pending").unwrap_or(0))).collect();
        match known {
            Some(backlogs) if !backlogs.is_empty() => Ok(backlogs.into_iter().max().unwrap_or(0)),
            _ => Ok(redis::cmd("XLEN").arg(&key).query_async(&mut conn).await?),
        }
    }

    /// Trims each of `streams` every [`UPKEEP_INTERVAL`] until `shutdown`: the streams a service
    /// writes, with its `STREAM_MAX_AGE`. Failures are logged and tried again at the next turn.
    pub async fn trim_in_background(self, streams: Vec<Stream>, shutdown: CancellationToken) {
        let mut turns = UpkeepTurns::new();
        while turns.next(&shutdown).await {
            for stream in &streams {
                match self.trim(*stream).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::debug!(stream = %self.key(*stream), removed, "trimmed old entries"),
                    Err(error) => tracing::debug!(%error, stream = %self.key(*stream), "cannot trim the stream"),
                }
            }
        }
    }

    /// Reads the backlog of `stream` into `backlog` every [`UPKEEP_INTERVAL`] until `shutdown`.
    /// While Redis does not answer, the last value stays: publishing fails anyway then.
    pub async fn watch_backlog(self, stream: Stream, backlog: Backlog, shutdown: CancellationToken) {
        let mut turns = UpkeepTurns::new();
        while turns.next(&shutdown).await {
            match self.backlog(stream).await {
                Ok(entries) => backlog.set(entries),
                Err(error) => tracing::debug!(%error, stream = %self.key(stream), "cannot read the backlog"),
            }
        }
    }
}

/// The turns of a background loop: the first at once, then every [`UPKEEP_INTERVAL`] after the
/// last one started (a slow turn delays the next rather than bunching them), until shutdown.
struct UpkeepTurns(tokio::time::Interval);

impl UpkeepTurns {
    fn new() -> UpkeepTurns {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        UpkeepTurns(ticks)
    }

    /// Waits for the next turn: false once `shutdown` is cancelled.
    async fn next(&mut self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = self.0.tick() => true,
        }
    }
}

/// A stream's backlog as [`Bus::watch_backlog`] last read it, for a request to check without
/// asking Redis; also the `tocsin_stream_backlog` gauge.
#[derive(Clone)]
pub struct Backlog {
    entries: Arc<AtomicU64>,
    gauge: Gauge,
}

impl Backlog {
    /// Starts at 0, until the first read.
    pub fn new(bus: &Bus, stream: Stream, metrics: &BusMetrics) -> Backlog {
        let gauge = metrics.backlog.get_or_create(&StreamLabel { stream: bus.key(stream) }).clone();
        Backlog { entries: Arc::new(AtomicU64::new(0)), gauge }
    }

    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    fn set(&self, entries: u64) {
        self.entries.store(entries, Ordering::Relaxed);
        self.gauge.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }
}
