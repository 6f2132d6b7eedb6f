//! Redis over TLS (`rediss://`), as Azure Cache for Redis serves it. `make test` runs the local
//! Redis with a TLS port and exports `TOCSIN_TEST_REDIS_TLS_URL`; its certificate comes from a CA
//! made for the checkout, so the URL ends in `#insecure` (encryption without verification), which
//! is for development servers only.

mod support;

use std::time::Duration;
use support::{Ping, settings};
use tocsin_bus::{BusMetrics, Consumer, ConsumerSettings, Envelope, Stream};
use tocsin_testkit::TestRedis;

#[tokio::test]
async fn the_bus_works_over_tls() {
    let url = std::env::var("TOCSIN_TEST_REDIS_TLS_URL").unwrap_or_else(|_| {
        panic!("TOCSIN_TEST_REDIS_TLS_URL is not set: run `make test`, or point it at a rediss:// server of yours")
    });
    let redis = TestRedis::new();
    let bus = support::bus_with(&url, settings(&redis));
    bus.ping().await.expect("PING over TLS");
    let consumer = Consumer::<Ping>::new(
        bus.clone(),
        Stream::Alerts,
        "tls",
        "tls-1",
        ConsumerSettings { block: Duration::from_millis(100), ..ConsumerSettings::default() },
        BusMetrics::default(),
    );
    consumer.ensure_group().await.expect("ensure group");
    bus.publish(Stream::Alerts, &[Envelope::new(Ping { n: 42 })]).await.expect("publish");
    let batch = consumer.next_batch().await.expect("next batch");
    assert_eq!(batch.iter().map(|d| d.envelope.payload.n).collect::<Vec<_>>(), [42]);
}
