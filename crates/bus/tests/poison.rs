//! Entries that could take a consumer down, against a real Redis: batches are bounded by bytes as
//! well as by count, on new reads and on reclaims alike, and an entry that always fails reaches the
//! dead-letter stream after its last delivery while the entries behind it are handled.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, Delivery, Envelope, Stream};
use tocsin_domain::Message;
use tocsin_testkit::{TestRedis, group_lag, redis_connection};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Blob {
    n: u32,
    padding: String,
}

impl Message for Blob {
    const TYPE: &'static str = "test.blob";
    const SCHEMA_VERSION: u32 = 1;
}

const KIB: usize = 1024;
const GROUP: &str = "testers";

fn bus(redis: &TestRedis) -> Bus {
    Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect")
}

fn consumer(bus: &Bus, name: &str, visibility_ms: u64, max_deliveries: usize, budget: usize) -> Consumer<Blob> {
    Consumer::new(
        bus.clone(),
        Stream::Alerts,
        GROUP,
        name,
        ConsumerSettings {
            batch_size: 100,
            block: Duration::from_millis(100),
            visibility_timeout: Duration::from_millis(visibility_ms),
            max_deliveries,
            max_batch_bytes: budget,
        },
        BusMetrics::default(),
    )
}

fn blob(n: u32, bytes: usize) -> Envelope<Blob> {
    Envelope::new(Blob { n, padding: "x".repeat(bytes) })
}

/// The bytes an entry takes on the stream: its one field's name and the envelope's JSON.
fn entry_bytes(delivery: &Delivery<Blob>) -> usize {
    "envelope".len() + serde_json::to_string(&delivery.envelope).map_or(0, |json| json.len())
}

fn assert_within(batch: &[Delivery<Blob>], budget: usize) {
    let bytes: usize = batch.iter().map(entry_bytes).sum();
    let numbers: Vec<u32> = batch.iter().map(|d| d.envelope.payload.n).collect();
    assert!(batch.len() == 1 || bytes <= budget, "a batch of {bytes} bytes over the {budget}-byte budget: {numbers:?}");
}

async fn ack_all(consumer: &Consumer<Blob>, batch: &[Delivery<Blob>]) {
    let ids: Vec<String> = batch.iter().map(|d| d.entry_id.clone()).collect();
    consumer.ack(&ids).await.expect("ack");
}

#[tokio::test]
async fn batches_stop_at_the_byte_budget_and_a_larger_entry_comes_alone() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let budget = 64 * KIB;
    let reader = consumer(&bus, "a", 30_000, 5, budget);
    reader.ensure_group().await.expect("ensure group");
    // Small entries, entries sixteen times the budget, and entries that fill it a third at a time.
    let mut sent = Vec::new();
    for n in 0..60 {
        sent.push(match n % 10 {
            3 | 7 => blob(n, 1024 * KIB),
            5 | 6 | 8 => blob(n, 20 * KIB),
            _ => blob(n, 100),
        });
    }
    bus.publish(Stream::Alerts, &sent).await.expect("publish");

    let mut received = Vec::new();
    let mut batches = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.len() < sent.len() {
        assert!(Instant::now() < deadline, "only {} of {} entries arrived", received.len(), sent.len());
        let batch = reader.next_batch().await.expect("next batch");
        assert_within(&batch, budget);
        if batch.iter().any(|d| d.envelope.payload.padding.len() > budget) {
            assert_eq!(batch.len(), 1, "an entry over the budget comes alone");
        }
        batches += usize::from(!batch.is_empty());
        received.extend(batch.iter().map(|d| d.envelope.payload.n));
        ack_all(&reader, &batch).await;
    }
    assert_eq!(received, (0..60).collect::<Vec<_>>(), "every entry once, in order");
    assert!(batches < 40, "small entries still share batches: {batches} batches");
}

#[tokio::test]
async fn abandoned_entries_are_reclaimed_within_the_byte_budget() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let budget = 300 * KIB;
    let crashed = consumer(&bus, "crashed", 100, 5, usize::MAX);
    let survivor = consumer(&bus, "survivor", 100, 5, budget);
    crashed.ensure_group().await.expect("ensure group");
    let sent: Vec<_> = (0..12).map(|n| blob(n, if n % 2 == 0 { 200 * KIB } else { 10 * KIB })).collect();
    bus.publish(Stream::Alerts, &sent).await.expect("publish");
    assert_eq!(crashed.next_batch().await.expect("next batch").len(), 12, "all held, then abandoned");

    let mut reclaimed = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reclaimed.len() < sent.len() {
        assert!(Instant::now() < deadline, "only {reclaimed:?} were reclaimed");
        let batch = survivor.next_batch().await.expect("next batch");
        assert_within(&batch, budget);
        for delivery in &batch {
            assert!(reclaimed.insert(delivery.envelope.payload.n), "{} reclaimed twice", delivery.envelope.payload.n);
        }
        ack_all(&survivor, &batch).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(group_lag(&redis.url, &bus.key(Stream::Alerts), GROUP).await.1, Some(0));
}

#[tokio::test]
async fn a_poison_entry_is_dead_lettered_after_its_last_delivery_and_the_rest_goes_on() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let budget = 64 * KIB;
    let max_deliveries = 3;
    let reader = consumer(&bus, "a", 100, max_deliveries, budget);
    reader.ensure_group().await.expect("ensure group");
    const POISON: u32 = 4;
    // The poison entry is also far over the budget, as the entries that killed incident-core were.
    let sent: Vec<_> = (0..10).map(|n| if n == POISON { blob(n, 2048 * KIB) } else { blob(n, 30 * KIB) }).collect();
    bus.publish(Stream::Alerts, &sent).await.expect("publish");

    let mut handled = BTreeSet::new();
    let mut poison_deliveries = 0;
    let mut later_published = false;
    let dead_letter_key = bus.dead_letter_key(Stream::Alerts);
    let mut conn = redis_connection(&redis.url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&dead_letter_key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !dead.ids.is_empty() && !later_published {
            // Written after the poison entry was given up on: the pipeline goes on by itself.
            bus.publish(Stream::Alerts, &[blob(10, 100)]).await.expect("publish");
            later_published = true;
        }
        if later_published && handled.len() == 10 {
            assert_eq!(dead.ids.len(), 1, "only the poison entry is dead-lettered");
            let entry = &dead.ids[0];
            assert_eq!(
                entry.get::<String>("reason").as_deref(),
                Some("delivered 3 times without being acknowledged (MAX_DELIVERIES is 3)")
            );
            let envelope = entry.get::<String>("envelope").unwrap_or_default();
            let moved: Envelope<Blob> = serde_json::from_str(&envelope).expect("parsing");
            assert_eq!(moved, sent[POISON as usize], "the dead letter keeps the envelope as it was");
            break;
        }
        assert!(Instant::now() < deadline, "handled {handled:?}, poison delivered {poison_deliveries} times");
        let batch = reader.next_batch().await.expect("next batch");
        assert_within(&batch, budget);
        let (poison, good): (Vec<_>, Vec<_>) = batch.into_iter().partition(|d| d.envelope.payload.n == POISON);
        poison_deliveries += poison.len();
        for delivery in &good {
            assert!(handled.insert(delivery.envelope.payload.n), "{} handled twice", delivery.envelope.payload.n);
        }
        ack_all(&reader, &good).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(poison_deliveries, max_deliveries, "delivered exactly MAX_DELIVERIES times");
    let expected: BTreeSet<u32> = (0..11).filter(|n| *n != POISON).collect();
    assert_eq!(handled, expected);
    assert_eq!(group_lag(&redis.url, &bus.key(Stream::Alerts), GROUP).await, (Some(0), Some(0)));
}
