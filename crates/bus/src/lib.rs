//! The Redis Streams bus between the services.
//!
//! - Every entry is a versioned JSON [`Envelope`]: id, type, schema version, time, W3C
//!   `traceparent`, payload; stored in the entry's single field `envelope`.
//! - Producers [`Bus::publish`] a batch atomically (MULTI/EXEC): all of it is on the stream, or none;
//!   [`Bus::publish_with`] can also wait until replicas hold it ([`Durability`]).
//! - Streams are trimmed by age in the background ([`Bus::trim_in_background`]), never past an
//!   entry a consumer group has not acknowledged; a producer reads a stream's backlog there too
//!   ([`Bus::watch_backlog`]) to turn work away before Redis fills up.
//! - Consumers read through a consumer group and acknowledge only after their work committed
//!   ([`Consumer::ack`]). A batch is bounded by a count and by bytes: a plain read while producers
//!   have marked no large entry ahead of it, sized inside Redis before any payload is sent when
//!   one may be (`consumer`, `scripts`). Entries another consumer left pending past the visibility
//!   timeout are claimed (XCLAIM with a minimum idle time, so two consumers never both win one);
//!   an entry already delivered `max_deliveries` times moves to the stream's dead-letter stream by
//!   id, without its payload leaving Redis, and one that cannot be decoded moves there too; both
//!   are counted.
//! - Every consumer runs the same loop ([`Consumer::run`], `handler`): read, hand the batch to a
//!   [`Handler`], acknowledge, retry or dead-letter what it says, with one [`Backoff`] for outages.
//!
//! - Traces cross the streams in the envelope: a producer span per message ([`Bus::producer_span`])
//!   puts its context in `traceparent`, and the consumer's span ([`Consumer::span`]) continues it.
//!
//! Redis for these streams must be 6.2 or newer (every connection checks, `server`) and run with
//! `maxmemory-policy noeviction`: an evicted stream is a lost alert.

mod backoff;
mod connections;
mod consumer;
mod envelope;
mod handler;
mod metrics;
mod scripts;
mod server;
mod tail;
mod upkeep;
mod verbatim;

pub use backoff::Backoff;
pub use consumer::{Consumer, ConsumerSettings, Delivery, SIZED_AFTER_UNMARKED};
pub use envelope::Envelope;
pub use handler::{Handler, Settled};
pub use metrics::BusMetrics;
pub use server::{MIN_REDIS_VERSION, RedisVersion};
pub use tail::{Page, TailEntry, entry_id_before, parse_entry_id};
pub use upkeep::{Backlog, UPKEEP_INTERVAL};
pub use verbatim::Verbatim;

use connections::{Connection, Connections, Pool};
use redis::AsyncCommands;
use std::time::Duration;
use tocsin_runtime::traces::{SpanKind, TraceContext, TraceSpan, Tracer};
use tocsin_runtime::{ConfigError, Env};
use tokio_util::sync::CancellationToken;

/// The streams the services talk through, named under a configurable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Alert reports from ingest, one entry per alert; read by incident-core.
    Alerts,
    /// People's commands from query and the Slack buttons; read by incident-core.
    Commands,
    /// Incident events relayed from incident-core's outbox; read by notifier and query.
    Events,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Alerts => "alerts",
            Stream::Commands => "commands",
            Stream::Events => "events",
        }
    }

    fn publish_span_name(self) -> &'static str {
        match self {
            Stream::Alerts => "publish alerts",
            Stream::Commands => "publish commands",
            Stream::Events => "publish events",
        }
    }
}

/// The key of the stream `name` under `prefix`: `<prefix>:<name>`. The one place the format is
/// spelled; what lies beside a stream (its dead letters, its mark of large entries) is named after it.
pub fn stream_key(prefix: &str, name: &str) -> String {
    format!("{prefix}:{name}")
}

/// The dead-letter stream beside the stream `name`: `<prefix>:<name>:dead-letter`.
pub fn dead_letter_key(prefix: &str, name: &str) -> String {
    format!("{}:dead-letter", stream_key(prefix, name))
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    #[error("message does not serialise: {0}")]
    Encode(#[from] serde_json::Error),
    /// Redis answers, but is older than the bus needs: the service must stop rather than run on it.
    #[error("{}", .0.refusal())]
    UnsupportedServer(RedisVersion),
    /// The primary took the entries, but fewer replicas than asked for had them within the
    /// timeout ([`Durability::Replicas`]): a failover now could lose them.
    #[error("redis replicas: {acknowledged} of {wanted} had the entries within {timeout:?}")]
    NotReplicated { acknowledged: u32, wanted: u32, timeout: Duration },
}

/// How sure a publish is that its entries outlive the Redis primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Applied by the primary, which sends it on to its replicas after it answered: a failover in
    /// the next milliseconds can lose it (docs/reliability.md).
    #[default]
    Primary,
    /// Also held by `replicas` replicas within `timeout` (Redis `WAIT`), else
    /// [`BusError::NotReplicated`] and the caller says so to its sender (ingest answers 503).
    Replicas { replicas: u32, timeout: Duration },
}

impl From<redis::RedisError> for BusError {
    fn from(error: redis::RedisError) -> Self {
        BusError::Unavailable(error.to_string())
    }
}

impl From<deadpool::managed::PoolError<redis::RedisError>> for BusError {
    fn from(error: deadpool::managed::PoolError<redis::RedisError>) -> Self {
        BusError::Unavailable(error.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct BusSettings {
    /// Put before every key, so several installations (or tests) share one Redis.
    pub prefix: String,
    /// Entries older than this are trimmed from the streams this bus trims, unless a consumer
    /// group still needs them.
    pub max_age: Duration,
    pub pool_size: usize,
    /// How long a caller waits for a connection before Redis counts as unavailable.
    pub timeout: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            prefix: "tocsin".into(),
            max_age: DEFAULT_MAX_AGE,
            pool_size: 32,
            timeout: Duration::from_secs(3),
        }
    }
}

const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// An entry larger than this (its field's name and value) is marked when it is published, so that
/// consumers size the reads that may reach it inside Redis; below it, they read plainly, at most
/// `max_batch_bytes / LARGE_ENTRY_BYTES` entries at a time (512 in the default 4 MiB). An alert or
/// an event takes 1 to 2 KiB.
pub const LARGE_ENTRY_BYTES: usize = 8 * 1024;

/// The shortest `STREAM_MAX_AGE` a service accepts. Trimming never removes what a consumer group
/// still needs, but the live feed and the dead-letter streams keep only this long.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(60);

/// `STREAM_MAX_AGE` as every service reads it: 7 days unless set, at least [`MIN_MAX_AGE`].
pub fn max_age_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let max_age = env.duration_or("STREAM_MAX_AGE", DEFAULT_MAX_AGE)?;
    if max_age < MIN_MAX_AGE {
        return Err(ConfigError::Invalid {
            name: "STREAM_MAX_AGE".into(),
            value: env.get("STREAM_MAX_AGE").unwrap_or_default(),
            reason: format!("expected at least {} s (1m); 7d is the default", MIN_MAX_AGE.as_secs()),
        });
    }
    Ok(max_age)
}

#[derive(Clone)]
pub struct Bus {
    pool: Pool,
    settings: BusSettings,
}

impl Bus {
    /// Builds the pool without connecting, so a service starts (not ready) while Redis is down.
    pub fn connect(redis_url: &str, settings: BusSettings) -> Result<Bus, BusError> {
        let pool = Pool::builder(Connections::new(redis_url)?)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        Ok(Bus { pool, settings })
    }

    pub fn key(&self, stream: Stream) -> String {
        stream_key(&self.settings.prefix, stream.name())
    }

    pub fn dead_letter_key(&self, stream: Stream) -> String {
        dead_letter_key(&self.settings.prefix, stream.name())
    }

    /// The key holding the id of the newest entry larger than [`LARGE_ENTRY_BYTES`] on `stream`;
    /// absent until one is published.
    pub fn large_entry_key(&self, stream: Stream) -> String {
        format!("{}:large", self.key(stream))
    }

    pub(crate) async fn connection(&self) -> Result<Connection, BusError> {
        self.connection_waiting(Duration::ZERO).await
    }

    /// A connection whose replies may take `blocking` longer than usual (a blocking XREADGROUP).
    /// The client's own default, 500 ms, would abandon a blocking read that Redis then completes,
    /// leaving the entries it delivered pending until the visibility timeout.
    pub(crate) async fn connection_waiting(&self, blocking: Duration) -> Result<Connection, BusError> {
        match self.pool.get().await {
            Ok(pooled) => Ok(Connection::new(pooled, self.settings.timeout + blocking)),
            Err(error) => match self.pool.manager().refused_version() {
                Some(version) => Err(BusError::UnsupportedServer(version)),
                None => Err(error.into()),
            },
        }
    }

    /// The Redis server's version, once a connection to it succeeds; [`BusError::UnsupportedServer`]
    /// when it is older than [`MIN_REDIS_VERSION`].
    pub async fn server_version(&self) -> Result<Option<RedisVersion>, BusError> {
        let mut conn = self.connection().await?;
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await?;
        match RedisVersion::from_info(&info) {
            Some(version) if !version.is_supported() => Err(BusError::UnsupportedServer(version)),
            version => Ok(version),
        }
    }

    /// The bus's background work in a service, until `shutdown`: first the server's version, as
    /// soon as Redis answers (while it does not, the service runs and reports not ready), then
    /// trimming `written`, the streams the service writes, every [`UPKEEP_INTERVAL`]. A Redis
    /// older than the bus needs ends it: the error is logged, `shutdown` is cancelled so that the
    /// whole service stops, and the error is returned for the service to exit with.
    pub async fn run_in_background(self, written: Vec<Stream>, shutdown: CancellationToken) -> Result<(), BusError> {
        loop {
            match self.server_version().await {
                Ok(version) => {
                    let version = version.map_or_else(|| "unknown".to_owned(), |version| version.to_string());
                    tracing::info!(redis.version = %version, "redis server checked");
                    break;
                }
                Err(error @ BusError::UnsupportedServer(_)) => {
                    tracing::error!(%error, "stopping: the redis server is too old for the bus");
                    shutdown.cancel();
                    return Err(error);
                }
                Err(error) => {
                    tracing::debug!(%error, "redis not reachable yet to check its version");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(UPKEEP_INTERVAL) => {}
                    }
                }
            }
        }
        self.trim_in_background(written, shutdown).await;
        Ok(())
    }

    /// The `/ready` check of a service that needs Redis.
    pub fn readiness_check(
        &self,
    ) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
        let bus = self.clone();
        move || {
            let bus = bus.clone();
            Box::pin(async move { bus.ping().await.map_err(|error| error.to_string()) })
        }
    }

    /// Whether Redis answers, for `/ready`.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Appends `messages` to `stream` in one MULTI/EXEC: once this returns, Redis holds every one
    /// of them; on error, none. Returns the entry ids. A message larger than [`LARGE_ENTRY_BYTES`]
    /// is added with a script that also marks it ([`Bus::large_entry_key`]), in the same
    /// transaction.
    pub async fn publish<T: serde::Serialize>(
        &self,
        stream: Stream,
        messages: &[Envelope<T>],
    ) -> Result<Vec<String>, BusError> {
        self.publish_with(stream, messages, Durability::Primary).await
    }

    /// [`Bus::publish`], answering only once the entries are as durable as `durability` asks.
    pub async fn publish_with<T: serde::Serialize>(
        &self,
        stream: Stream,
        messages: &[Envelope<T>],
        durability: Durability,
    ) -> Result<Vec<String>, BusError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key(stream);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for message in messages {
            let text = serde_json::to_string(message)?;
            // No trimming here: that happens in the background, behind the consumer groups.
            if envelope::FIELD.len() + text.len() > LARGE_ENTRY_BYTES {
                pipe.cmd("EVAL")
                    .arg(scripts::ADD_LARGE)
                    .arg(2)
                    .arg(&key)
                    .arg(self.large_entry_key(stream))
                    .arg(envelope::FIELD)
                    .arg(text);
            } else {
                pipe.cmd("XADD").arg(&key).arg("*").arg(envelope::FIELD).arg(text);
            }
        }
        let mut conn = match durability {
            Durability::Primary => self.connection().await?,
            // WAIT holds the reply back for up to its timeout.
            Durability::Replicas { timeout, .. } => self.connection_waiting(timeout).await?,
        };
        // EXEC answers nil when Redis refused the transaction (a WATCH on the connection saw a
        // change): nothing was added, which must not pass for success.
        let ids: Option<Vec<String>> = pipe.query_async(&mut conn).await?;
        let ids = match ids {
            Some(ids) if ids.len() == messages.len() => ids,
            _ => return Err(BusError::Unavailable("redis refused the transaction; nothing was published".into())),
        };
        if let Durability::Replicas { replicas, timeout } = durability {
            // On the same connection and after EXEC: WAIT counts the writes of its own connection,
            // and inside a transaction it would not block.
            let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
            let acknowledged: u32 = redis::cmd("WAIT").arg(replicas).arg(timeout_ms).query_async(&mut conn).await?;
            if acknowledged < replicas {
                return Err(BusError::NotReplicated { acknowledged, wanted: replicas, timeout });
            }
        }
        Ok(ids)
    }

    /// A producer span for `message`, in the trace of `parent` (the request that produced it, or the
    /// context stored with it), whose context the message then carries to its consumer. With traces
    /// off, or no parent, there is no span and the message carries nothing. End the span once the
    /// message is published.
    pub fn producer_span<T>(
        &self,
        tracer: &Tracer,
        stream: Stream,
        parent: Option<&TraceContext>,
        message: &mut Envelope<T>,
    ) -> TraceSpan {
        let mut span = tracer.follow(stream.publish_span_name(), SpanKind::Producer, parent);
        if span.is_recording() {
            span.set_str("messaging.system", "redis");
            span.set_str("messaging.operation.type", "send");
            span.set_str("messaging.destination.name", &self.key(stream));
            span.set_str("messaging.message.id", &message.id.to_string());
        }
        message.traceparent = span.traceparent();
        span
    }

    /// Appends a record to the dead-letter stream `name` (`<prefix>:<name>:dead-letter`), for work
    /// that failed outside a consumer group, such as a notification given up on. Trimmed by age
    /// like every stream.
    pub async fn dead_letter<T: serde::Serialize>(&self, name: &str, record: &T) -> Result<String, BusError> {
        let key = dead_letter_key(&self.settings.prefix, name);
        let mut conn = self.connection().await?;
        let id: String = redis::cmd("XADD")
            .arg(&key)
            .arg("MINID")
            .arg("~")
            .arg(self.oldest_kept_id())
            .arg("*")
            .arg(envelope::FIELD)
            .arg(serde_json::to_string(record)?)
            .query_async(&mut conn)
            .await?;
        Ok(id)
    }

    /// Entries left on `stream`, for `/metrics`.
    pub async fn length(&self, stream: Stream) -> Result<u64, BusError> {
        let mut conn = self.connection().await?;
        Ok(conn.xlen(self.key(stream)).await?)
    }

    pub(crate) fn oldest_kept_id(&self) -> String {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let cutoff = now_ms.saturating_sub(self.settings.max_age.as_millis() as i128).max(0);
        format!("{cutoff}-0")
    }
}
