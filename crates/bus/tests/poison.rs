//! Entries that could take a consumer down, against a real Redis: batches are bounded by bytes as
//! well as by count, on new reads and on reclaims alike, and an entry that always fails reaches the
//! dead-letter stream after its last delivery while the entries behind it are handled.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{Blob, GROUP, KIB, ack_all, blob, bus, dead_letters, entry_bytes, reading};
use tocsin_bus::{Bus, BusMetrics, Consumer, ConsumerSettings, Delivery, Envelope, Stream};
use tocsin_testkit::{TestRedis, group_lag};

fn consumer(bus: &Bus, name: &str, visibility_ms: u64, max_deliveries: usize, budget: usize) -> Consumer<Blob> {
    let settings = ConsumerSettings { max_batch_bytes: budget, ..reading(visibility_ms, max_deliveries) };
    support::consumer(bus, name, settings, &BusMetrics::default())
}

fn assert_within(batch: &[Delivery<Blob>], budget: usize) {
    let bytes: usize = batch.iter().map(entry_bytes).sum();
    let numbers: Vec<u32> = batch.iter().map(|d| d.envelope.payload.n).collect();
    assert!(batch.len() == 1 || bytes <= budget, "a batch of {bytes} bytes over the {budget}-byte budget: {numbers:?}");
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead = dead_letters(&redis, &bus).await;
        if !dead.is_empty() && !later_published {
            // Written after the poison entry was given up on: the pipeline goes on by itself.
            bus.publish(Stream::Alerts, &[blob(10, 100)]).await.expect("publish");
            later_published = true;
        }
        if later_published && handled.len() == 10 {
            assert_eq!(dead.len(), 1, "only the poison entry is dead-lettered");
            let entry = &dead[0];
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
