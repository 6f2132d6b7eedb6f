//! How a consumer keeps its byte budget cheaply, against a real Redis: plain reads while no large
//! entry is ahead, reads sized inside Redis when a marked one may be reached or after an unmarked
//! one came through, never a batch past the budget while large entries are being published, and
//! no WATCH left behind on a pooled connection.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};
use support::{Blob, KIB, ack_all, blob, blobs, bus_with, entry_bytes, numbers, settings};
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, LARGE_ENTRY_BYTES, Stream};
use tocsin_testkit::{TestRedis, redis_connection};

fn bus(redis: &TestRedis, pool_size: usize) -> Bus {
    bus_with(&redis.url, BusSettings { pool_size, ..settings(redis) })
}

fn consumer(bus: &Bus, batch_size: usize, budget: usize, metrics: &BusMetrics) -> Consumer<Blob> {
    let settings = ConsumerSettings {
        batch_size,
        block: Duration::from_millis(50),
        max_batch_bytes: budget,
        ..ConsumerSettings::default()
    };
    support::consumer(bus, "a", settings, metrics)
}

/// A bus with a pool of `pool_size`, and a consumer (its group made) of batches of up to
/// `batch_size` entries and `budget` bytes, whose reads the registry counts.
async fn counted_reader(
    redis: &TestRedis,
    pool_size: usize,
    batch_size: usize,
    budget: usize,
) -> (Bus, Registry, Consumer<Blob>) {
    let bus = bus(redis, pool_size);
    let mut registry = Registry::with_prefix("tocsin");
    let reader = consumer(&bus, batch_size, budget, &BusMetrics::register(&mut registry));
    reader.ensure_group().await.expect("ensure group");
    (bus, registry, reader)
}

/// `(plain, sized)` reads counted for the test's alerts stream.
fn reads(registry: &Registry, redis: &TestRedis) -> (u64, u64) {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    let count = |read: &str| {
        let stream = tocsin_bus::stream_key(&redis.prefix, "alerts");
        let series = format!("tocsin_stream_reads_total{{stream=\"{stream}\",read=\"{read}\"}} ");
        text.lines().find_map(|line| line.strip_prefix(&series)?.parse().ok()).unwrap_or_else(|| panic!("{text}"))
    };
    (count("plain"), count("sized"))
}

async fn mark(redis: &TestRedis, bus: &Bus) -> Option<String> {
    let mut conn = redis_connection(&redis.url).await;
    redis::cmd("GET").arg(bus.large_entry_key(Stream::Alerts)).query_async(&mut conn).await.unwrap_or_default()
}

#[tokio::test]
async fn small_entries_are_read_plainly_and_a_marked_large_entry_has_the_reads_that_may_reach_it_sized() {
    let redis = TestRedis::new();
    let (bus, registry, reader) = counted_reader(&redis, 4, 100, 1024 * KIB).await;

    bus.publish(Stream::Alerts, &blobs(0..150, 100)).await.expect("publish");
    assert_eq!(mark(&redis, &bus).await, None, "small entries are not marked");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), (0..100).collect::<Vec<_>>());
    assert_eq!(reads(&registry, &redis), (1, 0), "one plain read");
    ack_all(&reader, &batch).await;

    let ids =
        bus.publish(Stream::Alerts, &[blob(150, 100), blob(151, 300 * KIB), blob(152, 100)]).await.expect("publish");
    assert_eq!(mark(&redis, &bus).await.as_deref(), Some(ids[1].as_str()), "the large entry is marked by its id");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), (100..153).collect::<Vec<_>>(), "all of it fits the budget");
    assert_eq!(reads(&registry, &redis), (1, 1), "sized: the marked entry was ahead");
    ack_all(&reader, &batch).await;

    bus.publish(Stream::Alerts, &blobs(153..163, 100)).await.expect("publish");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), (153..163).collect::<Vec<_>>());
    assert_eq!(reads(&registry, &redis), (2, 1), "plain again once the marked entry is behind the group");
}

#[tokio::test]
async fn a_plain_read_takes_no_more_entries_than_the_budget_holds_at_the_largest_unmarked_size() {
    let redis = TestRedis::new();
    let budget = 64 * KIB;
    let (bus, registry, reader) = counted_reader(&redis, 4, 100, budget).await;
    bus.publish(Stream::Alerts, &blobs(0..20, LARGE_ENTRY_BYTES - 300)).await.expect("publish");
    assert_eq!(mark(&redis, &bus).await, None, "just under the mark");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(batch.len(), budget / LARGE_ENTRY_BYTES);
    assert!(batch.iter().map(entry_bytes).sum::<usize>() <= budget);
    assert_eq!(reads(&registry, &redis), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_entries_published_while_a_consumer_reads_never_take_a_batch_past_its_budget() {
    let redis = TestRedis::new();
    let budget = 128 * KIB;
    let (bus, registry, reader) = counted_reader(&redis, 8, 16, budget).await;
    // Rounds of small entries, every tenth with an entry larger than the whole budget among them.
    const ROUNDS: u32 = 300;
    let producer = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let mut sent = blobs(round * 6..round * 6 + 5, 100);
                sent.push(blob(round * 6 + 5, if round % 10 == 9 { 200 * KIB } else { 100 }));
                bus.publish(Stream::Alerts, &sent).await.expect("publish");
                if round % 3 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < (ROUNDS * 6) as usize {
        assert!(Instant::now() < deadline, "only {} of {} entries arrived", received.len(), ROUNDS * 6);
        let batch = reader.next_batch().await.expect("next batch");
        let bytes: usize = batch.iter().map(entry_bytes).sum();
        assert!(batch.len() <= 1 || bytes <= budget, "{bytes} bytes in one batch: {:?}", numbers(&batch));
        received.extend(numbers(&batch));
        ack_all(&reader, &batch).await;
    }
    producer.await.expect("the producer task");
    assert_eq!(received, (0..ROUNDS * 6).collect::<Vec<_>>(), "every entry once, in order");
    // Every large entry was marked, so each was delivered by a sized read. How many plain reads
    // came between them depends on how the two tasks were scheduled (under load the producer can
    // stay ahead all along), so plain reads are proven after it: with the large entries all
    // delivered, the next read is plain again.
    let (plain_during, sized) = reads(&registry, &redis);
    assert!(sized > 0, "the large entries came by sized reads: {plain_during} plain, {sized} sized");
    bus.publish(Stream::Alerts, &blobs(ROUNDS * 6..ROUNDS * 6 + 5, 100)).await.expect("publish");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), (ROUNDS * 6..ROUNDS * 6 + 5).collect::<Vec<_>>());
    assert_eq!(reads(&registry, &redis), (plain_during + 1, sized), "read plainly once nothing large is ahead");
}

#[tokio::test]
async fn an_unmarked_large_entry_has_the_consumer_size_its_reads_for_a_while() {
    let redis = TestRedis::new();
    let (bus, registry, reader) = counted_reader(&redis, 4, 100, 1024 * KIB).await;
    // As an older producer would have written it: no mark.
    let unmarked = serde_json::to_string(&blob(1, 20 * KIB)).expect("serialising");
    bus.publish(Stream::Alerts, &[blob(0, 100)]).await.expect("publish");
    let mut conn = redis_connection(&redis.url).await;
    let _: String = redis::cmd("XADD")
        .arg(bus.key(Stream::Alerts))
        .arg("*")
        .arg("envelope")
        .arg(unmarked)
        .query_async(&mut conn)
        .await
        .expect("query async");
    assert_eq!(mark(&redis, &bus).await, None);

    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), [0, 1], "read plainly, within the budget all the same");
    assert_eq!(reads(&registry, &redis), (1, 0));
    ack_all(&reader, &batch).await;
    bus.publish(Stream::Alerts, &blobs(2..5, 100)).await.expect("publish");
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), [2, 3, 4]);
    assert_eq!(reads(&registry, &redis), (1, 1), "sized from then on, mark or not");
}

#[tokio::test]
async fn reads_leave_no_watch_behind_on_a_pooled_connection() {
    let redis = TestRedis::new();
    // One connection: the consumer's commands and this producer's all go through it. A WATCH left
    // on it would have Redis refuse the producer's next MULTI/EXEC once another client (`other`)
    // moved the mark.
    let bus = bus(&redis, 1);
    let other = self::bus(&redis, 1);
    let metrics = BusMetrics::default();
    let reader = consumer(&bus, 100, 64 * KIB, &metrics);
    let large = |n| blob(n, 100 * KIB);
    reader.ensure_group().await.expect("ensure group");

    // A marked entry ahead: checked, and not read plainly.
    other.publish(Stream::Alerts, &[large(0)]).await.expect("publish");
    assert_eq!(numbers(&reader.next_batch().await.expect("next batch")), [0]);
    other.publish(Stream::Alerts, &[large(1)]).await.expect("publish");
    bus.publish(Stream::Alerts, &[blob(2, 100)]).await.expect("after a refused check");
    assert_eq!(numbers(&reader.next_batch().await.expect("next batch")), [1], "larger than the budget");
    // Read plainly: EXEC ended the WATCH.
    assert_eq!(numbers(&reader.next_batch().await.expect("next batch")), [2]);
    other.publish(Stream::Alerts, &[large(3)]).await.expect("publish");
    bus.publish(Stream::Alerts, &[blob(4, 100)]).await.expect("after a plain read");
    assert_eq!(numbers(&reader.next_batch().await.expect("next batch")), [3]);
    assert_eq!(numbers(&reader.next_batch().await.expect("next batch")), [4]);
}
