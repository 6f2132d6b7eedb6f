//! The bus's pooled connections against a real Redis: a connection Redis closed is not handed out
//! again. Pooled connections are no longer checked with a PING each time they are handed out, so
//! without this a dead one would fail every publish it served. Alone in its test binary: it looks
//! its connection up among Redis's clients, and a concurrent test's would get in the way.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use std::collections::HashSet;
use std::time::Duration;
use support::{Ping, settings};
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_testkit::{TestRedis, redis_connection};

/// Redis's clients as (id, addr) pairs, from CLIENT LIST.
async fn clients(admin: &mut redis::aio::MultiplexedConnection) -> HashSet<(String, String)> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(admin).await.expect("query async");
    list.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split(' ').find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            };
            Some((field("id")?.to_owned(), field("addr")?.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn a_connection_redis_closed_fails_at_most_once_and_is_then_replaced() {
    let redis = TestRedis::new();
    let settings = BusSettings { pool_size: 1, ..settings(&redis) };
    let bus = Bus::connect(&redis.url, settings).expect("Bus::connect");

    let mut admin = redis_connection(&redis.url).await;
    let before = clients(&mut admin).await;
    bus.publish(Stream::Alerts, &[Envelope::new(Ping { n: 0 })]).await.expect("publish");
    let after = clients(&mut admin).await;
    let opened: Vec<_> = after.difference(&before).collect();
    let [(_, addr)] = opened.as_slice() else { panic!("expected the bus's one new connection, found {opened:?}") };

    let killed: u64 =
        redis::cmd("CLIENT").arg("KILL").arg("ADDR").arg(addr).query_async(&mut admin).await.expect("query async");
    assert_eq!(killed, 1);
    // Give the client a moment to read the close, as a connection idle between two webhooks would.
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The pool holds one connection, the dead one, and hands it out without a PING: the first
    // publish may fail on it (an error, so ingest answers 503 and Alertmanager sends again). The
    // dead connection must then be gone from the pool: the next ones succeed on a new connection.
    let first = bus.publish(Stream::Alerts, &[Envelope::new(Ping { n: 1 })]).await;
    for n in 2..5 {
        bus.publish(Stream::Alerts, &[Envelope::new(Ping { n })])
            .await
            .unwrap_or_else(|e| panic!("publish {n} after the kill (the first gave {first:?}): {e}"));
    }
    let length: u64 =
        redis::cmd("XLEN").arg(bus.key(Stream::Alerts)).query_async(&mut admin).await.expect("query async");
    assert_eq!(
        length,
        if first.is_ok() { 5 } else { 4 },
        "every publish that succeeded is on the stream, and only those"
    );
}
