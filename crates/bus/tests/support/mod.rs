//! What the bus's tests share: the messages they send, a bus under the test's own prefix, and
//! consumers of its alerts stream in one group.

#![allow(dead_code, reason = "each test file uses its own part of the set-up")]
#![allow(clippy::expect_used, reason = "test set-up stops at a failed step, saying what was being done")]

use std::time::Duration;
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, Delivery, Envelope, Stream};
use tocsin_domain::Message;
use tocsin_testkit::{TestRedis, redis_connection};

pub const GROUP: &str = "testers";
pub const KIB: usize = 1024;

/// A small message. Its schema version is 2, so a test can put an older or a newer one on a stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ping {
    pub n: u32,
}

impl Message for Ping {
    const TYPE: &'static str = "test.ping";
    const SCHEMA_VERSION: u32 = 2;
}

/// A message of the size a test asks for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    pub n: u32,
    pub padding: String,
}

impl Message for Blob {
    const TYPE: &'static str = "test.blob";
    const SCHEMA_VERSION: u32 = 1;
}

/// The test messages are numbered, so a test can say which ones a batch holds.
pub trait Numbered {
    fn n(&self) -> u32;
}

impl Numbered for Ping {
    fn n(&self) -> u32 {
        self.n
    }
}

impl Numbered for Blob {
    fn n(&self) -> u32 {
        self.n
    }
}

pub fn numbers<M: Message + Numbered>(batch: &[Delivery<M>]) -> Vec<u32> {
    batch.iter().map(|d| d.envelope.payload.n()).collect()
}

pub fn pings(range: std::ops::Range<u32>) -> Vec<Envelope<Ping>> {
    range.map(|n| Envelope::new(Ping { n })).collect()
}

pub fn blob(n: u32, bytes: usize) -> Envelope<Blob> {
    Envelope::new(Blob { n, padding: "x".repeat(bytes) })
}

pub fn blobs(range: std::ops::Range<u32>, bytes: usize) -> Vec<Envelope<Blob>> {
    range.map(|n| blob(n, bytes)).collect()
}

/// The bus's defaults under the test's prefix.
pub fn settings(redis: &TestRedis) -> BusSettings {
    BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() }
}

pub fn bus(redis: &TestRedis) -> Bus {
    bus_with(&redis.url, settings(redis))
}

pub fn bus_with(url: &str, settings: BusSettings) -> Bus {
    Bus::connect(url, settings).expect("Bus::connect")
}

/// Batches of up to 100 entries, a short block, and the visibility timeout and deliveries a test
/// is about.
pub fn reading(visibility_ms: u64, max_deliveries: usize) -> ConsumerSettings {
    ConsumerSettings {
        batch_size: 100,
        block: Duration::from_millis(100),
        visibility_timeout: Duration::from_millis(visibility_ms),
        max_deliveries,
        ..ConsumerSettings::default()
    }
}

/// The consumer `name` of the alerts stream in [`GROUP`].
pub fn consumer<M: Message>(bus: &Bus, name: &str, settings: ConsumerSettings, metrics: &BusMetrics) -> Consumer<M> {
    Consumer::new(bus.clone(), Stream::Alerts, GROUP, name, settings, metrics.clone())
}

/// The bytes an entry takes on the stream: its one field's name and the envelope's JSON.
pub fn entry_bytes<M: Message>(delivery: &Delivery<M>) -> usize {
    "envelope".len() + serde_json::to_string(&delivery.envelope).map_or(0, |json| json.len())
}

pub async fn ack_all<M: Message>(consumer: &Consumer<M>, batch: &[Delivery<M>]) {
    let ids: Vec<String> = batch.iter().map(|d| d.entry_id.clone()).collect();
    consumer.ack(&ids).await.expect("ack");
}

/// The entries on the alerts stream's dead-letter stream, oldest first.
pub async fn dead_letters(redis: &TestRedis, bus: &Bus) -> Vec<redis::streams::StreamId> {
    let mut conn = redis_connection(&redis.url).await;
    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(bus.dead_letter_key(Stream::Alerts))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    dead.ids
}
