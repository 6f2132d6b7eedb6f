//! Reading a stream through a consumer group, at least once, within a count and a byte budget.
//!
//! A read must never hold more than `max_batch_bytes` of entries (an entry larger than that comes
//! alone), so one oversized entry cannot run a consumer out of memory. Sizing every entry inside
//! Redis before delivering it (`scripts::READ_WITHIN_BUDGET`) guarantees that, but passes each
//! entry through Lua twice, which cost Redis about 7 µs per entry read, more than the plain read
//! itself. So the budget is kept in two ways:
//!
//! - **Plain reads, while nothing large is ahead.** Producers mark every entry larger than
//!   [`LARGE_ENTRY_BYTES`]: the id of the newest one is kept beside the stream
//!   ([`Bus::publish`]). When that id is at or behind the group's last delivered entry, every entry
//!   still to be delivered is at most `LARGE_ENTRY_BYTES`, and a plain `XREADGROUP` of
//!   `max_batch_bytes / LARGE_ENTRY_BYTES` entries (512 for 4 MiB) cannot pass the budget. The
//!   check and the read are one optimistic transaction (`WATCH` on the mark, then `MULTI`
//!   `XREADGROUP` `EXEC`): a large entry marked in between aborts the read before anything is
//!   delivered.
//! - **Sized reads otherwise**: a marked entry is ahead, the budget leaves room for no plain read,
//!   or a plain read came back with an entry larger than `LARGE_ENTRY_BYTES` that nobody marked
//!   (written by an older release or by hand), after which this consumer sizes its reads for
//!   [`SIZED_AFTER_UNMARKED`].

use crate::envelope::{self, Envelope};
use crate::metrics::ReadLabel;
use crate::{Bus, BusError, BusMetrics, LARGE_ENTRY_BYTES, Stream, parse_entry_id, scripts};
use prometheus_client::metrics::counter::Counter;
use redis::Value;
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamPendingId, StreamReadReply};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tocsin_domain::Message;
use tocsin_runtime::traces::{SpanKind, TraceSpan, Tracer};

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Most entries handed out by one [`Consumer::next_batch`].
    pub batch_size: usize,
    /// How long one read waits for new entries; also how quickly a consumer notices shutdown.
    pub block: Duration,
    /// An entry pending this long with another consumer is presumed lost with it and claimed.
    pub visibility_timeout: Duration,
    /// Deliveries after which an entry is dead-lettered instead of tried again.
    pub max_deliveries: usize,
    /// Most bytes of entries (their fields' names and values) in one batch: a batch stops before
    /// the entry that would take it past this. An entry larger than this is handed out alone.
    pub max_batch_bytes: usize,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            batch_size: 500,
            block: Duration::from_secs(1),
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 5,
            max_batch_bytes: 4 * 1024 * 1024,
        }
    }
}

/// One entry handed to the consumer.
#[derive(Debug, Clone)]
pub struct Delivery<T> {
    pub entry_id: String,
    pub envelope: Envelope<T>,
}

pub struct Consumer<T> {
    bus: Bus,
    stream: Stream,
    pub(crate) key: String,
    /// Where producers keep the id of the stream's newest large entry ([`Bus::large_entry_key`]).
    large_key: String,
    group: String,
    pub(crate) name: String,
    pub(crate) settings: ConsumerSettings,
    metrics: BusMetrics,
    /// When the stream gauges were last refreshed, in ms since the Unix epoch.
    gauges_refreshed_ms: AtomicU64,
    /// Until when every read is sized inside Redis, in ms since the Unix epoch: set when a plain
    /// read met an entry larger than [`LARGE_ENTRY_BYTES`] that no producer had marked.
    sized_until_ms: AtomicU64,
    plain_reads: Counter,
    sized_reads: Counter,
    _message: PhantomData<fn() -> T>,
}

/// How often a consumer refreshes its stream gauges, between reads.
const GAUGE_REFRESH: Duration = Duration::from_secs(5);

/// How long a consumer sizes every read inside Redis after a plain read met an unmarked large
/// entry: long enough for a rolling upgrade to replace the producers that do not mark.
pub const SIZED_AFTER_UNMARKED: Duration = Duration::from_secs(300);

impl<T: Message> Consumer<T> {
    pub fn new(
        bus: Bus,
        stream: Stream,
        group: &str,
        name: &str,
        settings: ConsumerSettings,
        metrics: BusMetrics,
    ) -> Consumer<T> {
        let key = bus.key(stream);
        // The counters exist at zero from the start, so `increase()` also sees the first one.
        let _ = metrics.dead_lettered.get_or_create(&BusMetrics::label(&key));
        let _ = metrics.reclaimed.get_or_create(&BusMetrics::label(&key));
        let reads = |read| metrics.reads.get_or_create(&ReadLabel { stream: key.clone(), read }).clone();
        let (plain_reads, sized_reads) = (reads(ReadLabel::PLAIN), reads(ReadLabel::SIZED));
        Consumer {
            key,
            large_key: bus.large_entry_key(stream),
            bus,
            stream,
            group: group.to_owned(),
            name: name.to_owned(),
            settings,
            metrics,
            gauges_refreshed_ms: AtomicU64::new(0),
            sized_until_ms: AtomicU64::new(0),
            plain_reads,
            sized_reads,
            _message: PhantomData,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the group (and the stream) if missing. A new group starts at the beginning of the
    /// stream, so nothing written before the first consumer started is skipped.
    pub async fn ensure_group(&self) -> Result<(), BusError> {
        let mut conn = self.bus.connection().await?;
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.key)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The next entries to work on: first those abandoned by other consumers, then new ones
    /// (waiting up to `block` for them), at most `batch_size` of them and `max_batch_bytes` in
    /// all (an entry larger than that comes alone). Undecodable and too-often-delivered entries
    /// are moved to the dead-letter stream on the way and never returned.
    pub async fn next_batch(&self) -> Result<Vec<Delivery<T>>, BusError> {
        self.refresh_gauges_now_and_then().await;
        let reclaimed = self.reclaim_abandoned().await?;
        if !reclaimed.is_empty() {
            return Ok(reclaimed);
        }
        let mut entries = self.read_new(self.settings.batch_size, 0).await?;
        if entries.is_empty() {
            // Nothing waiting: wait for the next entry alone, whatever its size, then take what
            // came with it, within the budget.
            entries = self.wait_for_one().await?;
            let used: usize = entries.iter().map(entry_bytes).sum();
            if !entries.is_empty() && self.settings.batch_size > 1 && used < self.settings.max_batch_bytes {
                entries.extend(self.read_new(self.settings.batch_size - 1, used).await?);
            }
        }
        self.decode_all(entries).await
    }

    /// Entries not yet delivered to the group, without waiting: at most `count`, and as many as
    /// fit in the byte budget beside the `used` bytes the batch already holds. Read plainly when
    /// that is safe, sized inside Redis otherwise (the module's header says when).
    async fn read_new(&self, count: usize, used: usize) -> Result<Vec<StreamId>, BusError> {
        let room = self.settings.max_batch_bytes.saturating_sub(used);
        let plain_count = count.min(room / LARGE_ENTRY_BYTES);
        if plain_count > 0
            && now_ms() >= self.sized_until_ms.load(Ordering::Relaxed)
            && let Some(entries) = self.read_plain(plain_count).await?
        {
            self.plain_reads.inc();
            self.look_for_unmarked(&entries);
            return Ok(entries);
        }
        self.sized_reads.inc();
        self.read_sized(count, used).await
    }

    /// Up to `count` new entries with a plain XREADGROUP, if no marked large entry is among those
    /// the group has still to deliver; `None` if one is, or if one was marked during the check, and
    /// then nothing was delivered. Both steps are one optimistic transaction on one connection:
    /// WATCH the mark and read it with the group's last delivered id, then MULTI XREADGROUP EXEC,
    /// which Redis refuses if the mark changed in between.
    async fn read_plain(&self, count: usize) -> Result<Option<Vec<StreamId>>, BusError> {
        let mut conn = self.bus.connection().await?;
        conn.watching(true);
        let checked: Result<(Option<String>, Vec<GroupInfo>), redis::RedisError> = redis::pipe()
            .cmd("WATCH")
            .arg(&self.large_key)
            .ignore()
            .cmd("GET")
            .arg(&self.large_key)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(&self.key)
            .query_async(&mut conn)
            .await;
        let safe = match &checked {
            Ok((mark, groups)) => match mark.as_deref() {
                None => true,
                Some(mark) => group_info(groups, &self.group)
                    .and_then(|group| group.get("last-delivered-id"))
                    .and_then(|last| redis::from_redis_value::<String>(last.clone()).ok())
                    .and_then(|last| Some(parse_entry_id(mark)? <= parse_entry_id(&last)?))
                    .unwrap_or(false),
            },
            Err(_) => false,
        };
        if !safe {
            // A failed check leaves the connection watching: clear it, or the next MULTI/EXEC
            // anyone sends on this pooled connection could be refused.
            let _: () = redis::cmd("UNWATCH").query_async(&mut conn).await?;
            conn.watching(false);
            // The sized read reports what went wrong with the stream or the group, if anything.
            return Ok(None);
        }
        let read: Option<(Option<StreamReadReply>,)> = redis::pipe()
            .atomic()
            .cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        conn.watching(false);
        Ok(read.map(|(reply,)| reply.into_iter().flat_map(|reply| reply.keys).flat_map(|key| key.ids).collect()))
    }

    /// A plain read relies on producers marking every large entry. One that did not (an older
    /// release during an upgrade, or an entry added by hand) has just been read with others;
    /// from now on, for a while, this consumer sizes its reads inside Redis again.
    fn look_for_unmarked(&self, entries: &[StreamId]) {
        let Some(entry) = entries.iter().find(|entry| entry_bytes(entry) > LARGE_ENTRY_BYTES) else { return };
        let until = now_ms() + SIZED_AFTER_UNMARKED.as_millis() as u64;
        if self.sized_until_ms.swap(until, Ordering::Relaxed) < now_ms() {
            tracing::warn!(
                stream = %self.key,
                entry.id = %entry.id,
                entry.bytes = entry_bytes(entry),
                sized_for_s = SIZED_AFTER_UNMARKED.as_secs(),
                "a stream entry larger than its producer should have marked; sizing every read inside redis for a while"
            );
        }
    }

    /// New entries sized inside Redis, as [`Consumer::read_new`] promises, whatever is on the stream.
    async fn read_sized(&self, count: usize, used: usize) -> Result<Vec<StreamId>, BusError> {
        let mut conn = self.bus.connection().await?;
        let reply: Option<StreamReadReply> = redis::cmd("EVAL")
            .arg(scripts::READ_WITHIN_BUDGET)
            .arg(1)
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.name)
            .arg(count)
            .arg(self.settings.max_batch_bytes)
            .arg(used)
            .query_async(&mut conn)
            .await?;
        Ok(reply.into_iter().flat_map(|reply| reply.keys).flat_map(|key| key.ids).collect())
    }

    /// The next entry delivered to the group, waiting up to `block` for one.
    async fn wait_for_one(&self) -> Result<Vec<StreamId>, BusError> {
        let mut conn = self.bus.connection_waiting(self.settings.block).await?;
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(self.settings.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(&mut conn)
            .await?;
        Ok(reply.into_iter().flat_map(|reply| reply.keys).flat_map(|key| key.ids).collect())
    }

    /// A consumer span named `name` for handling `delivery`, continuing the producer's trace: the
    /// child of the context its envelope carries, and nothing when it carries none.
    pub fn span(&self, tracer: &Tracer, name: &'static str, delivery: &Delivery<T>) -> TraceSpan {
        let mut span = tracer.follow(name, SpanKind::Consumer, delivery.envelope.trace_context().as_ref());
        if span.is_recording() {
            span.set_str("messaging.system", "redis");
            span.set_str("messaging.operation.type", "process");
            span.set_str("messaging.destination.name", &self.key);
            span.set_str("messaging.consumer.group.name", &self.group);
            span.set_str("messaging.message.id", &delivery.envelope.id.to_string());
        }
        span
    }

    /// Acknowledges entries whose work has committed.
    pub async fn ack(&self, entry_ids: &[String]) -> Result<(), BusError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.bus.connection().await?;
        let _: u64 = redis::cmd("XACK").arg(&self.key).arg(&self.group).arg(entry_ids).query_async(&mut conn).await?;
        Ok(())
    }

    async fn refresh_gauges_now_and_then(&self) {
        let now_ms = now_ms();
        let last = self.gauges_refreshed_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < GAUGE_REFRESH.as_millis() as u64 {
            return;
        }
        self.gauges_refreshed_ms.store(now_ms, Ordering::Relaxed);
        if let Err(error) = self.refresh_gauges().await {
            tracing::debug!(%error, stream = %self.key, "cannot refresh the stream gauges");
        }
    }

    /// Reads the stream's length and this group's pending entries and lag into the gauges of
    /// [`BusMetrics`]. Every replica of a group reports the same numbers: aggregate with `max`.
    pub async fn refresh_gauges(&self) -> Result<(), BusError> {
        let mut conn = self.bus.connection().await?;
        let length: u64 = redis::cmd("XLEN").arg(&self.key).query_async(&mut conn).await?;
        let groups: Vec<GroupInfo> =
            redis::cmd("XINFO").arg("GROUPS").arg(&self.key).query_async(&mut conn).await.unwrap_or_default();
        self.metrics.length.get_or_create(&BusMetrics::label(&self.key)).set(length as i64);
        if let Some(group) = group_info(&groups, &self.group) {
            let number = |field: &str| {
                group.get(field).and_then(|value| redis::from_redis_value::<i64>(value.clone()).ok()).unwrap_or(0)
            };
            let label = crate::metrics::GroupLabel { stream: self.key.clone(), group: self.group.clone() };
            self.metrics.pending.get_or_create(&label).set(number("pending"));
            self.metrics.lag.get_or_create(&label).set(number("lag"));
        }
        Ok(())
    }

    /// Tells the group these entries are still being worked on (resets their idle time without
    /// counting a delivery), so a consumer waiting for the database to come back does not have its
    /// batch claimed and dead-lettered by another ([`Consumer::run`] does it for entries to retry).
    pub async fn keep_alive(&self, entry_ids: &[String]) -> Result<(), BusError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.bus.connection().await?;
        let _: Value = redis::cmd("XCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.name)
            .arg(0)
            .arg(entry_ids)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Claims entries other consumers left pending past the visibility timeout. The decision is
    /// made on ids and delivery counts (XPENDING) before any payload is read: an entry delivered
    /// `max_deliveries` times already is moved to the dead-letter stream inside Redis, and the
    /// others are claimed, within the byte budget, to be tried again.
    async fn reclaim_abandoned(&self) -> Result<Vec<Delivery<T>>, BusError> {
        let min_idle_ms = self.settings.visibility_timeout.as_millis() as u64;
        let mut conn = self.bus.connection().await?;
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(&self.group)
            .arg("IDLE")
            .arg(min_idle_ms)
            .arg("-")
            .arg("+")
            .arg(self.settings.batch_size)
            .query_async(&mut conn)
            .await?;
        drop(conn);
        if pending.ids.is_empty() {
            return Ok(Vec::new());
        }
        let (spent, retried): (Vec<_>, Vec<_>) =
            pending.ids.iter().partition(|entry| entry.times_delivered >= self.settings.max_deliveries);
        if !spent.is_empty() {
            self.dead_letter_spent(&spent, min_idle_ms).await?;
        }
        if retried.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.bus.connection().await?;
        // XCLAIM re-checks the idle time under Redis's single thread: if another consumer claimed
        // an entry first, its idle time was reset and it is not returned here.
        let claimed: StreamClaimReply = redis::cmd("EVAL")
            .arg(scripts::CLAIM_WITHIN_BUDGET)
            .arg(1)
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.name)
            .arg(min_idle_ms)
            .arg(self.settings.max_batch_bytes)
            .arg(retried.iter().map(|entry| entry.id.as_str()).collect::<Vec<_>>())
            .query_async(&mut conn)
            .await?;
        drop(conn);
        self.metrics.reclaimed.get_or_create(&BusMetrics::label(&self.key)).inc_by(claimed.ids.len() as u64);
        let deliveries = self.decode_all(claimed.ids).await?;
        if !deliveries.is_empty() {
            tracing::warn!(
                stream = %self.key,
                consumer = %self.name,
                entries = deliveries.len(),
                "claimed entries abandoned by another consumer"
            );
        }
        Ok(deliveries)
    }

    /// Moves entries delivered `max_deliveries` times to the dead-letter stream by id (below).
    async fn dead_letter_spent(&self, spent: &[&StreamPendingId], min_idle_ms: u64) -> Result<(), BusError> {
        let spent: Vec<(String, String)> = spent
            .iter()
            .map(|entry| {
                let reason = format!(
                    "delivered {} times without being acknowledged (MAX_DELIVERIES is {})",
                    entry.times_delivered, self.settings.max_deliveries
                );
                (entry.id.clone(), reason)
            })
            .collect();
        self.dead_letter_by_id(&spent, min_idle_ms).await
    }

    /// Moves entries a handler gave up on to the dead-letter stream by id, with why (below).
    pub(crate) async fn dead_letter_now(&self, entries: &[(String, String)]) -> Result<(), BusError> {
        self.dead_letter_by_id(entries, 0).await
    }

    /// Moves pending entries idle for `min_idle_ms` to the dead-letter stream by id, each with its
    /// reason: claimed with JUSTID, copied and acknowledged inside Redis, so their payload does not
    /// travel to this process again.
    async fn dead_letter_by_id(&self, entries: &[(String, String)], min_idle_ms: u64) -> Result<(), BusError> {
        let mut script = redis::cmd("EVAL");
        script
            .arg(scripts::DEAD_LETTER_BY_ID)
            .arg(2)
            .arg(&self.key)
            .arg(self.bus.dead_letter_key(self.stream))
            .arg(&self.group)
            .arg(&self.name)
            .arg(min_idle_ms)
            // Dead letters age out like everything else on the bus.
            .arg(self.bus.oldest_kept_id());
        for (id, reason) in entries {
            script.arg(id).arg(reason);
        }
        let mut conn = self.bus.connection().await?;
        let moved: Vec<String> = script.query_async(&mut conn).await?;
        drop(conn);
        for id in &moved {
            let reason = entries.iter().find(|(entry, _)| entry == id).map(|(_, reason)| reason);
            tracing::error!(
                stream = %self.key,
                entry.id = %id,
                reason = reason.map_or("", String::as_str),
                "moving stream entry to the dead-letter stream"
            );
        }
        self.metrics.dead_lettered.get_or_create(&BusMetrics::label(&self.key)).inc_by(moved.len() as u64);
        Ok(())
    }

    async fn decode_all(&self, entries: Vec<StreamId>) -> Result<Vec<Delivery<T>>, BusError> {
        let mut deliveries = Vec::with_capacity(entries.len());
        for entry in entries {
            match envelope::decode::<T>(envelope::field_of(&entry)) {
                Ok(envelope) => deliveries.push(Delivery { entry_id: entry.id, envelope }),
                Err(reason) => self.dead_letter(&entry, &reason).await?,
            }
        }
        Ok(deliveries)
    }

    /// Moves an entry to the dead-letter stream and acknowledges it, atomically.
    async fn dead_letter(&self, entry: &StreamId, reason: &str) -> Result<(), BusError> {
        let raw = match entry.map.get(envelope::FIELD) {
            Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        tracing::error!(
            stream = %self.key,
            entry.id = %entry.id,
            reason,
            "moving stream entry to the dead-letter stream"
        );
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(self.bus.dead_letter_key(self.stream))
            // Dead letters age out like everything else on the bus.
            .arg("MINID")
            .arg("~")
            .arg(self.bus.oldest_kept_id())
            .arg("*")
            .arg("stream")
            .arg(&self.key)
            .arg("entry_id")
            .arg(&entry.id)
            .arg("group")
            .arg(&self.group)
            .arg("reason")
            .arg(reason)
            .arg(envelope::FIELD)
            .arg(raw)
            .ignore()
            .cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&entry.id)
            .ignore();
        let mut conn = self.bus.connection().await?;
        let () = pipe.query_async(&mut conn).await?;
        self.metrics.dead_lettered.get_or_create(&BusMetrics::label(&self.key)).inc();
        Ok(())
    }
}

/// The bytes an entry takes on the stream, as the consumer's budget counts them: its fields' names
/// and values.
fn entry_bytes(entry: &StreamId) -> usize {
    entry
        .map
        .iter()
        .map(|(field, value)| {
            field.len()
                + match value {
                    Value::BulkString(bytes) => bytes.len(),
                    Value::SimpleString(text) => text.len(),
                    _ => 0,
                }
        })
        .sum()
}

/// One group of `XINFO GROUPS`: name, consumers, pending, last-delivered-id, and so on.
type GroupInfo = HashMap<String, Value>;

fn group_info<'a>(groups: &'a [GroupInfo], name: &str) -> Option<&'a GroupInfo> {
    groups.iter().find(|group| {
        group.get("name").and_then(|value| redis::from_redis_value::<String>(value.clone()).ok()).as_deref()
            == Some(name)
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}
