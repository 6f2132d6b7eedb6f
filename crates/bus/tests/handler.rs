//! The one consumer loop (`Consumer::run`) against a real Redis: a handler's answers are settled
//! after it returns (acknowledged, retried without counting a delivery, dead-lettered, or left
//! pending to come back), outages are waited out and recovered from by themselves, and shutdown
//! finishes the batch in hand.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{GROUP, Ping, bus, bus_with, dead_letters, pings, reading, settings};
use tocsin_bus::{Bus, BusMetrics, Consumer, Delivery, Handler, Settled, Stream};
use tocsin_testkit::{TcpProxy, TestRedis, group_lag, redis_connection, server_address, through_port};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn consumer(bus: &Bus, name: &str, visibility_ms: u64, max_deliveries: usize) -> Consumer<Ping> {
    support::consumer(bus, name, reading(visibility_ms, max_deliveries), &BusMetrics::default())
}

/// What the test handler answers for an entry, given its number and how many batches the handler
/// has been handed so far (this one included).
#[derive(Debug, Clone, Copy)]
enum Answer {
    Ack,
    Retry,
    DeadLetter,
    Leave,
}

/// A handler that records every entry it is handed and answers as `answer` says. With a `gate`,
/// each batch waits for the gate before answering, and `entered` is rung when it starts waiting.
struct Scripted<F> {
    answer: F,
    seen: Arc<Mutex<Vec<u32>>>,
    batches: Arc<Mutex<usize>>,
    gate: Option<(Arc<Notify>, Arc<Notify>)>,
}

impl<F: FnMut(u32, usize) -> Answer + Send> Scripted<F> {
    fn new(answer: F) -> Scripted<F> {
        Scripted { answer, seen: Arc::default(), batches: Arc::default(), gate: None }
    }
}

impl<F: FnMut(u32, usize) -> Answer + Send> Handler<Ping> for Scripted<F> {
    async fn handle(&mut self, batch: Vec<Delivery<Ping>>, _consumer: &Consumer<Ping>) -> Settled<Ping> {
        let call = {
            let mut batches = self.batches.lock().expect("a poisoned lock");
            *batches += 1;
            *batches
        };
        if let Some((entered, gate)) = &self.gate {
            entered.notify_one();
            gate.notified().await;
        }
        let mut settled = Settled::default();
        for delivery in batch {
            let n = delivery.envelope.payload.n;
            self.seen.lock().expect("a poisoned lock").push(n);
            match (self.answer)(n, call) {
                Answer::Ack => settled.ack(delivery.entry_id),
                Answer::Retry => settled.retry(delivery),
                Answer::DeadLetter => settled.dead_letter(delivery.entry_id, format!("ping {n} makes no sense")),
                Answer::Leave => {}
            }
        }
        settled
    }
}

fn count(seen: &Mutex<Vec<u32>>, n: u32) -> usize {
    seen.lock().expect("a poisoned lock").iter().filter(|seen| **seen == n).count()
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Entries of the group, by id, with their delivery counts.
async fn deliveries(redis: &TestRedis, bus: &Bus) -> Vec<usize> {
    let mut conn = redis_connection(&redis.url).await;
    let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(bus.key(Stream::Alerts))
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(100)
        .query_async(&mut conn)
        .await
        .expect("query async");
    pending.ids.iter().map(|entry| entry.times_delivered).collect()
}

async fn pending(redis: &TestRedis, bus: &Bus) -> Option<u64> {
    group_lag(&redis.url, &bus.key(Stream::Alerts), GROUP).await.1
}

/// Every entry read and settled: nothing left to read, nothing pending.
async fn all_settled(redis: &TestRedis, bus: &Bus) -> bool {
    group_lag(&redis.url, &bus.key(Stream::Alerts), GROUP).await == (Some(0), Some(0))
}

#[tokio::test]
async fn entries_are_handed_over_in_order_and_acknowledged_only_once_the_handler_returned() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut handler = Scripted::new(|_, _| Answer::Ack);
    handler.gate = Some((entered.clone(), gate.clone()));
    let seen = handler.seen.clone();
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 30_000, 5);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..5)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    entered.notified().await;
    assert_eq!(pending(&redis, &bus).await, Some(5), "read, and not acknowledged while the handler works");
    gate.notify_one();
    eventually("the batch acknowledged", async || all_settled(&redis, &bus).await).await;
    assert_eq!(*seen.lock().expect("a poisoned lock"), [0, 1, 2, 3, 4]);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), running).await.expect("timed out").ok();
}

#[tokio::test]
async fn entries_to_retry_are_held_kept_alive_and_handed_back_without_counting_a_delivery() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    // Retried through five batches, about a second: longer than the visibility timeout.
    let handler = Scripted::new(|_, call| if call <= 5 { Answer::Retry } else { Answer::Ack });
    let (seen, batches) = (handler.seen.clone(), handler.batches.clone());
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 300, 2);
    let other = consumer(&bus, "other", 300, 2);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..3)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    let started = Instant::now();
    eventually("the batch read", async || *batches.lock().expect("a poisoned lock") >= 1).await;
    while *batches.lock().expect("a poisoned lock") <= 5 {
        assert!(other.next_batch().await.unwrap_or_default().is_empty(), "held entries are not claimable");
        assert!(deliveries(&redis, &bus).await.iter().all(|count| *count == 1), "a retry is not a delivery");
        assert!(started.elapsed() < Duration::from_secs(20), "still retrying");
    }
    let retried_for = started.elapsed();
    eventually("the retried batch acknowledged", async || all_settled(&redis, &bus).await).await;
    assert!(retried_for > Duration::from_millis(300), "retried past the visibility timeout: {retried_for:?}");
    assert_eq!(count(&seen, 1), 6, "handed back after each of the five retries");
    assert!(dead_letters(&redis, &bus).await.is_empty(), "a retry never runs towards the dead-letter limit");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), running).await.expect("timed out").ok();
}

#[tokio::test]
async fn an_entry_the_handler_gives_up_on_is_dead_lettered_at_once_with_its_reason() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let handler = Scripted::new(|n, _| if n == 2 { Answer::DeadLetter } else { Answer::Ack });
    let seen = handler.seen.clone();
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 30_000, 5);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..4)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    eventually("every entry settled", async || all_settled(&redis, &bus).await).await;
    let dead = dead_letters(&redis, &bus).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].get::<String>("reason").as_deref(), Some("ping 2 makes no sense"));
    assert_eq!(dead[0].get::<String>("group").as_deref(), Some(GROUP));
    assert!(dead[0].get::<String>("envelope").is_some_and(|raw| raw.contains("\"n\":2")), "the envelope as it was");
    assert_eq!(count(&seen, 2), 1, "handed over once");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), running).await.expect("timed out").ok();
}

#[tokio::test]
async fn an_entry_left_unsettled_comes_back_and_is_dead_lettered_after_its_last_delivery() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let handler = Scripted::new(|n, _| if n == 1 { Answer::Leave } else { Answer::Ack });
    let seen = handler.seen.clone();
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 100, 3);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..3)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    eventually("the unsettled entry dead-lettered", async || !dead_letters(&redis, &bus).await.is_empty()).await;
    bus.publish(Stream::Alerts, &pings(3..4)).await.expect("publish");
    eventually("the loop goes on", async || count(&seen, 3) == 1 && all_settled(&redis, &bus).await).await;
    let dead = dead_letters(&redis, &bus).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].get::<String>("reason").as_deref(),
        Some("delivered 3 times without being acknowledged (MAX_DELIVERIES is 3)")
    );
    assert_eq!(count(&seen, 1), 3, "delivered exactly MAX_DELIVERIES times");
    assert_eq!((count(&seen, 0), count(&seen, 2)), (1, 1));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), running).await.expect("timed out").ok();
}

#[tokio::test]
async fn shutdown_finishes_and_acknowledges_the_batch_in_hand() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut handler = Scripted::new(|_, _| Answer::Ack);
    handler.gate = Some((entered.clone(), gate.clone()));
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 30_000, 5);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..3)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    entered.notified().await;
    shutdown.cancel();
    gate.notify_one();
    tokio::time::timeout(Duration::from_secs(2), running).await.expect("timed out").ok();
    assert_eq!(pending(&redis, &bus).await, Some(0), "the batch in hand was finished and acknowledged");
    bus.publish(Stream::Alerts, &pings(3..4)).await.expect("publish");
    assert_eq!(group_lag(&redis.url, &bus.key(Stream::Alerts), GROUP).await, (Some(1), Some(0)), "nothing read after");
}

#[tokio::test]
async fn shutdown_while_waiting_out_an_outage_leaves_the_held_entries_pending() {
    let redis = TestRedis::new();
    let bus = bus(&redis);
    let handler = Scripted::new(|_, _| Answer::Retry);
    let batches = handler.batches.clone();
    let shutdown = CancellationToken::new();
    let reader = consumer(&bus, "a", 30_000, 5);
    reader.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &pings(0..3)).await.expect("publish");
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));

    eventually("retried a few times", async || *batches.lock().expect("a poisoned lock") >= 3).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), running).await.expect("stopped late").ok();
    assert_eq!(pending(&redis, &bus).await, Some(3), "held, not acknowledged");
    assert!(dead_letters(&redis, &bus).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_the_loop_waits_and_picks_up_by_itself_when_it_is_back() {
    let redis = TestRedis::new();
    let direct = bus(&redis);
    let proxy = TcpProxy::start(server_address(&redis.url)).await;
    let proxied = bus_with(&through_port(&redis.url, proxy.port), settings(&redis));
    let handler = Scripted::new(|_, _| Answer::Ack);
    let seen = handler.seen.clone();
    let shutdown = CancellationToken::new();
    // A read Redis had taken in just as the connection was cut may deliver the next entries to
    // a client that is gone; they come back after the visibility timeout, short here so that
    // this slower path also ends well inside the test's wait.
    let reader = consumer(&proxied, "a", 2_000, 5);
    // The group cannot be created yet: the loop waits for Redis rather than giving up.
    proxy.cut();
    let running = tokio::spawn(reader.run(handler, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!running.is_finished(), "an outage ends nothing");
    proxy.restore();
    direct.publish(Stream::Alerts, &pings(0..2)).await.expect("publish");
    eventually("the first entries handled", async || seen.lock().map_or(0, |seen| seen.len()) == 2).await;

    // Redis goes away between reads, for longer than the longest backoff. (Entries published
    // while a blocking read was under way would be delivered to a connection that is gone, and
    // come back only after the visibility timeout: published once the read has failed.)
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    direct.publish(Stream::Alerts, &pings(2..4)).await.expect("publish");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(seen.lock().map_or(0, |seen| seen.len()), 2, "nothing read while Redis is away");
    proxy.restore();
    let restored = Instant::now();
    eventually("the rest handled once Redis is back", async || all_settled(&redis, &direct).await).await;
    // Each entry once. Not necessarily in order: under load, one of the two published during the
    // outage can still reach a blocking read of the cut connection (Redis notices the client is
    // gone only later) and comes back after the visibility timeout, behind the other.
    let mut handled = seen.lock().expect("a poisoned lock").clone();
    handled.sort_unstable();
    assert_eq!(handled, [0, 1, 2, 3], "handled in this order: {:?}", seen.lock().expect("a poisoned lock"));
    // Within the longest backoff (5 s), plus the visibility timeout when a delivery was lost.
    assert!(restored.elapsed() < Duration::from_secs(9), "back within a backoff: {:?}", restored.elapsed());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("timed out").ok();
}
