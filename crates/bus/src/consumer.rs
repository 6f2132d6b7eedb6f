//! Reading a stream through a consumer group, at least once.

use crate::envelope::{self, Envelope};
use crate::{Bus, BusError, BusMetrics, Stream, scripts};
use redis::Value;
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamPendingId, StreamReadReply};
use std::marker::PhantomData;
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
    key: String,
    group: String,
    name: String,
    settings: ConsumerSettings,
    metrics: BusMetrics,
    /// When the stream gauges were last refreshed, in ms since the Unix epoch.
    gauges_refreshed_ms: std::sync::atomic::AtomicU64,
    _message: PhantomData<fn() -> T>,
}

/// How often a consumer refreshes its stream gauges, between reads.
const GAUGE_REFRESH: Duration = Duration::from_secs(5);

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
        Consumer {
            key,
            bus,
            stream,
            group: group.to_owned(),
            name: name.to_owned(),
            settings,
            metrics,
            gauges_refreshed_ms: std::sync::atomic::AtomicU64::new(0),
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
    /// fit in the byte budget beside the `used` bytes the batch already holds.
    async fn read_new(&self, count: usize, used: usize) -> Result<Vec<StreamId>, BusError> {
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
        use std::sync::atomic::Ordering;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
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
        let groups: Vec<std::collections::HashMap<String, Value>> =
            redis::cmd("XINFO").arg("GROUPS").arg(&self.key).query_async(&mut conn).await.unwrap_or_default();
        self.metrics.length.get_or_create(&BusMetrics::label(&self.key)).set(length as i64);
        let ours = groups.iter().find(|group| {
            group.get("name").and_then(|name| redis::from_redis_value::<String>(name.clone()).ok()).as_deref()
                == Some(self.group.as_str())
        });
        if let Some(group) = ours {
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
    /// batch claimed and dead-lettered by another.
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

    /// [`Consumer::keep_alive`] for every entry this consumer holds, including a batch read ahead
    /// while the current one waits for the database.
    pub async fn keep_alive_all(&self) -> Result<(), BusError> {
        let mut conn = self.bus.connection().await?;
        let held: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(&self.group)
            .arg("-")
            .arg("+")
            .arg(10_000)
            .arg(&self.name)
            .query_async(&mut conn)
            .await?;
        drop(conn);
        let ids: Vec<String> = held.ids.into_iter().map(|pending| pending.id).collect();
        self.keep_alive(&ids).await
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

    /// Moves entries delivered `max_deliveries` times to the dead-letter stream by id: claimed
    /// with JUSTID, copied and acknowledged inside Redis, so their payload never reaches this
    /// process.
    async fn dead_letter_spent(&self, spent: &[&StreamPendingId], min_idle_ms: u64) -> Result<(), BusError> {
        let reasons: Vec<String> = spent
            .iter()
            .map(|entry| {
                format!(
                    "delivered {} times without being acknowledged (MAX_DELIVERIES is {})",
                    entry.times_delivered, self.settings.max_deliveries
                )
            })
            .collect();
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
        for (entry, reason) in spent.iter().zip(&reasons) {
            script.arg(&entry.id).arg(reason);
        }
        let mut conn = self.bus.connection().await?;
        let moved: Vec<String> = script.query_async(&mut conn).await?;
        drop(conn);
        for id in &moved {
            let reason = spent.iter().zip(&reasons).find(|(entry, _)| &entry.id == id).map(|(_, reason)| reason);
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
