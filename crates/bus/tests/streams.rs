//! The bus against a real Redis: delivery, acknowledgement, reclaim after the visibility timeout,
//! keep-alive, dead letters, trimming behind the consumer groups and the backlog.

mod support;

use prometheus_client::registry::Registry;
use std::time::Duration;
use support::{GROUP, Ping, bus_with, dead_letters, numbers, pings, reading, settings};
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, Stream};
use tocsin_testkit::{TestRedis, group_lag, redis_connection};

fn bus(redis: &TestRedis, max_age: Duration) -> Bus {
    bus_with(&redis.url, BusSettings { max_age, ..settings(redis) })
}

fn consumer(bus: &Bus, name: &str, visibility_ms: u64, max_deliveries: usize, metrics: &BusMetrics) -> Consumer<Ping> {
    support::consumer(bus, name, reading(visibility_ms, max_deliveries), metrics)
}

async fn pending(redis: &TestRedis) -> Option<u64> {
    group_lag(&redis.url, &tocsin_bus::stream_key(&redis.prefix, "alerts"), GROUP).await.1
}

#[tokio::test]
async fn published_messages_arrive_once_in_order_and_acks_clear_them() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    let reader = consumer(&bus, "a", 30_000, 5, &metrics);
    reader.ensure_group().await.expect("ensure group");
    reader.ensure_group().await.expect("a second ensure_group is harmless");

    let sent = pings(0..5);
    let ids = bus.publish(Stream::Alerts, &sent).await.expect("publish");
    assert_eq!(ids.len(), 5);
    let batch = reader.next_batch().await.expect("next batch");
    assert_eq!(numbers(&batch), [0, 1, 2, 3, 4]);
    assert_eq!(batch[0].envelope, sent[0], "the envelope travels whole: id, type, schema, time, payload");
    assert_eq!(batch[0].envelope.kind, "test.ping");
    assert_eq!(pending(&redis).await, Some(5));

    let entry_ids: Vec<String> = batch.iter().map(|d| d.entry_id.clone()).collect();
    reader.ack(&entry_ids).await.expect("ack");
    assert_eq!(pending(&redis).await, Some(0));
    assert!(reader.next_batch().await.expect("next batch").is_empty());
}

#[tokio::test]
async fn entries_left_pending_by_a_silent_consumer_are_claimed_by_another() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    let crashed = consumer(&bus, "crashed", 200, 5, &metrics);
    let survivor = consumer(&bus, "survivor", 200, 5, &metrics);
    crashed.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..3)).await.expect("publish");
    assert_eq!(numbers(&crashed.next_batch().await.unwrap_or_default()), [0, 1, 2]);

    // Not yet idle long enough: nothing to claim, nothing new.
    assert!(survivor.next_batch().await.unwrap_or_default().is_empty());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let claimed = survivor.next_batch().await.unwrap_or_default();
    assert_eq!(numbers(&claimed), [0, 1, 2]);
    // A second claimer right after finds them freshly owned, so each entry has one owner.
    assert!(crashed.next_batch().await.unwrap_or_default().is_empty());
    survivor.ack(&claimed.iter().map(|d| d.entry_id.clone()).collect::<Vec<_>>()).await.expect("ack");
    assert_eq!(pending(&redis).await, Some(0));
}

#[tokio::test]
async fn keep_alive_stops_others_claiming_work_in_progress() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    let busy = consumer(&bus, "busy", 300, 5, &metrics);
    let other = consumer(&bus, "other", 300, 5, &metrics);
    busy.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..2)).await.expect("publish");
    let held = busy.next_batch().await.unwrap_or_default();
    let ids: Vec<String> = held.iter().map(|d| d.entry_id.clone()).collect();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        busy.keep_alive(&ids).await.expect("keep alive");
        assert!(other.next_batch().await.unwrap_or_default().is_empty(), "kept alive entries are not claimable");
    }
}

#[tokio::test]
async fn entries_delivered_too_often_go_to_the_dead_letter_stream() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let mut registry = Registry::with_prefix("tocsin");
    let metrics = BusMetrics::register(&mut registry);
    let a = consumer(&bus, "a", 100, 2, &metrics);
    let b = consumer(&bus, "b", 100, 2, &metrics);
    a.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(7..8)).await.expect("publish");

    assert_eq!(numbers(&a.next_batch().await.unwrap_or_default()), [7]); // delivery 1
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(numbers(&b.next_batch().await.unwrap_or_default()), [7]); // delivery 2
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(a.next_batch().await.unwrap_or_default().is_empty(), "a third delivery is refused");

    assert_eq!(pending(&redis).await, Some(0), "dead-lettered entries are acknowledged");
    let dead = dead_letters(&redis, &bus).await;
    assert_eq!(dead.len(), 1);
    let entry = &dead[0];
    assert_eq!(
        entry.get::<String>("reason").as_deref(),
        Some("delivered 2 times without being acknowledged (MAX_DELIVERIES is 2)")
    );
    assert_eq!(entry.get::<String>("group").as_deref(), Some("testers"));
    assert!(entry.get::<String>("envelope").is_some_and(|raw| raw.contains("\"n\":7")));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
    assert!(
        text.contains(&format!("tocsin_stream_dead_lettered_total{{stream=\"{}:alerts\"}} 1", redis.prefix)),
        "{text}"
    );
}

#[tokio::test]
async fn undecodable_entries_are_dead_lettered_at_once() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    let reader = consumer(&bus, "a", 30_000, 5, &metrics);
    reader.ensure_group().await.expect("ensure group");
    let key = bus.key(Stream::Alerts);
    let mut conn = redis_connection(&redis.url).await;
    let newer = serde_json::json!({
        "id": "01a219ca-3f81-7164-933b-2c408112a009", "type": "test.ping", "schema": 3,
        "time": "2026-11-26T21:00:00Z", "traceparent": null, "payload": {"n": 1}
    });
    for raw in ["not json", r#"{"type": "other"}"#, &newer.to_string()] {
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("envelope")
            .arg(raw)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
    }
    bus.publish(Stream::Alerts, &pings(9..10)).await.expect("publish");
    assert_eq!(numbers(&reader.next_batch().await.unwrap_or_default()), [9], "only the good entry is handed out");
    let dead = dead_letters(&redis, &bus).await;
    let reasons: Vec<String> = dead.iter().filter_map(|e| e.get::<String>("reason")).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("not an envelope"));
    assert!(
        reasons[2].starts_with("schema version 3 of `test.ping` is newer than this release reads (2)"),
        "{reasons:?}"
    );
}

/// The stream's entry ids, oldest first.
async fn entry_ids(redis: &TestRedis, bus: &Bus) -> Vec<String> {
    let mut conn = redis_connection(&redis.url).await;
    let all: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(bus.key(Stream::Alerts))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    all.ids.into_iter().map(|entry| entry.id).collect()
}

#[tokio::test]
async fn publishing_trims_nothing_and_a_trim_keeps_every_entry_a_group_still_needs() {
    let redis = TestRedis::new();
    let keep = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    let reader = consumer(&keep, "a", 30_000, 5, &metrics);
    reader.ensure_group().await.expect("ensure group");
    for chunk in 0..6 {
        keep.publish(Stream::Alerts, &pings(chunk * 100..chunk * 100 + 100)).await.expect("publish");
    }
    // The group has read 300 entries and acknowledged 200: 100 pending, 300 not read yet.
    let mut read = Vec::new();
    while read.len() < 300 {
        read.extend(reader.next_batch().await.expect("next batch"));
    }
    reader.ack(&read[..200].iter().map(|d| d.entry_id.clone()).collect::<Vec<_>>()).await.expect("ack");
    let before = entry_ids(&redis, &keep).await;
    assert_eq!(before.len(), 600);
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Every entry is older than this bus's time to live. Publishing no longer trims; a trim
    // removes only what the group acknowledged (in whole nodes of the stream's radix tree).
    let short = bus(&redis, Duration::from_millis(10));
    short.publish(Stream::Alerts, &pings(1000..1001)).await.expect("publish");
    assert_eq!(short.length(Stream::Alerts).await.unwrap_or(0), 601, "a publish trims nothing");
    let removed = short.trim(Stream::Alerts).await.expect("trim");
    let after = entry_ids(&redis, &keep).await;
    assert!(removed > 0 && removed <= 200, "only acknowledged entries go: {removed} removed");
    assert_eq!(after.len() as u64, 601 - removed);
    let kept = after.len() - 1;
    assert_eq!(after[..kept], before[before.len() - kept..], "the newest entries stay, the oldest go");
    assert!(after.contains(&read[200].entry_id), "the oldest pending entry stays");
    assert_eq!(pending(&redis).await, Some(100));

    // Once the group has handled everything, the trim goes up to its last read entry.
    let mut rest = Vec::new();
    while rest.len() < 301 {
        rest.extend(reader.next_batch().await.expect("next batch"));
    }
    let all: Vec<String> = read[200..].iter().chain(&rest).map(|d| d.entry_id.clone()).collect();
    reader.ack(&all).await.expect("ack");
    short.trim(Stream::Alerts).await.expect("trim");
    let left = short.length(Stream::Alerts).await.unwrap_or(0);
    assert!((1..=101).contains(&left), "{left} left");
}

#[tokio::test]
async fn without_a_group_a_trim_goes_by_age_alone() {
    let redis = TestRedis::new();
    let keep = bus(&redis, Duration::from_secs(3600));
    for chunk in 0..3 {
        keep.publish(Stream::Alerts, &pings(chunk * 100..chunk * 100 + 100)).await.expect("publish");
    }
    assert_eq!(keep.trim(Stream::Alerts).await.expect("trim"), 0, "nothing is old yet");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let short = bus(&redis, Duration::from_millis(10));
    assert!(short.trim(Stream::Alerts).await.expect("trim") >= 200);
    assert_eq!(short.trim(Stream::Commands).await.expect("trim"), 0, "no stream, no trim");
}

#[tokio::test]
async fn the_backlog_is_what_the_group_furthest_behind_has_not_handled() {
    let redis = TestRedis::new();
    let bus = bus(&redis, Duration::from_secs(3600));
    let metrics = BusMetrics::default();
    assert_eq!(bus.backlog(Stream::Alerts).await.expect("backlog"), 0, "no stream yet");
    bus.publish(Stream::Alerts, &pings(0..10)).await.expect("publish");
    assert_eq!(bus.backlog(Stream::Alerts).await.expect("backlog"), 10, "no group: the length");

    let reader = consumer(&bus, "a", 30_000, 5, &metrics);
    reader.ensure_group().await.expect("ensure group");
    let other = Consumer::<Ping>::new(
        bus.clone(),
        Stream::Alerts,
        "others",
        "b",
        ConsumerSettings { block: Duration::from_millis(100), ..ConsumerSettings::default() },
        metrics.clone(),
    );
    other.ensure_group().await.expect("ensure group");
    let batch = reader.next_batch().await.expect("next batch");
    reader.ack(&batch[..4].iter().map(|d| d.entry_id.clone()).collect::<Vec<_>>()).await.expect("ack");
    let others = other.next_batch().await.expect("next batch");
    other.ack(&others.iter().map(|d| d.entry_id.clone()).collect::<Vec<_>>()).await.expect("ack");
    // `testers` holds 6 unacknowledged, `others` none.
    assert_eq!(bus.backlog(Stream::Alerts).await.expect("backlog"), 6);
    bus.publish(Stream::Alerts, &pings(10..13)).await.expect("publish");
    assert_eq!(bus.backlog(Stream::Alerts).await.expect("backlog"), 9, "pending plus not read");
}
