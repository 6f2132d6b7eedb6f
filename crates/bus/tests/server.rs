//! The server check against the real Redis: it is recent enough for the bus, so the check passes
//! and the background work goes on to trimming; and a Redis that does not answer yet stops nothing.

mod support;

use std::time::{Duration, Instant};
use support::{Ping, settings};
use tocsin_bus::{Bus, BusSettings, Envelope, MIN_REDIS_VERSION, Stream};
use tocsin_testkit::TestRedis;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_test_redis_passes_the_check_and_the_background_work_goes_on_to_trimming() {
    let redis = TestRedis::new();
    let settings = BusSettings { max_age: Duration::from_millis(10), ..settings(&redis) };
    let bus = Bus::connect(&redis.url, settings).expect("Bus::connect");
    let version = bus.server_version().await.expect("server version");
    assert!(version.is_some_and(|version| version >= MIN_REDIS_VERSION), "{version:?}");

    let pings: Vec<_> = (0..300).map(|n| Envelope::new(Ping { n })).collect();
    bus.publish(Stream::Commands, &pings).await.expect("publish");
    let shutdown = CancellationToken::new();
    let background = tokio::spawn(bus.clone().run_in_background(vec![Stream::Commands], shutdown.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus.length(Stream::Commands).await.unwrap_or(0) >= 300 {
        assert!(Instant::now() < deadline, "the stream was never trimmed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!shutdown.is_cancelled(), "a supported server stops nothing");
    shutdown.cancel();
    assert!(background.await.is_ok_and(|result| result.is_ok()));
}

#[tokio::test]
async fn while_redis_does_not_answer_the_service_keeps_running() {
    let settings = BusSettings { timeout: Duration::from_millis(200), ..BusSettings::default() };
    let bus = Bus::connect("redis://127.0.0.1:1/", settings).expect("Bus::connect");
    let shutdown = CancellationToken::new();
    let background = tokio::spawn(bus.clone().run_in_background(vec![Stream::Commands], shutdown.clone()));
    // Tried, failed, waiting for the next try: not a reason to stop the service.
    assert!(bus.server_version().await.is_err());
    assert!(!shutdown.is_cancelled());
    shutdown.cancel();
    assert!(background.await.is_ok_and(|result| result.is_ok()), "an unreachable Redis is not an unsupported one");
}
