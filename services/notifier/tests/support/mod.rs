//! What the notifier's tests share: the settings every notifier under test runs with, and the
//! commands it queued.

#![allow(dead_code, reason = "each test binary uses its own part of what is shared")]

use tocsin_bus::Envelope;
use tocsin_domain::Command;
use tocsin_testkit::{TestDatabase, TestRedis};

/// The test's database and streams, a free port, and short waits so that retries and claims
/// happen within a test's patience.
pub fn base_settings<'a>(db: &'a TestDatabase, redis: &'a TestRedis) -> Vec<(&'a str, &'a str)> {
    vec![
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("STREAM_PREFIX", redis.prefix.as_str()),
        ("CONSUMER_NAME", "notifier-test"),
        ("VISIBILITY_TIMEOUT", "2s"),
        ("DELIVERY_BACKOFF", "50ms"),
        ("DELIVERY_MAX_BACKOFF", "200ms"),
        ("DELIVERY_TIMEOUT", "2s"),
        ("CHANNEL_INTERVAL", "10ms"),
        ("PUBLIC_URL", "https://tocsin.example.com"),
    ]
}

/// The commands on the commands stream, oldest first.
pub async fn queued_commands(redis: &TestRedis) -> Vec<Command> {
    let mut conn = tocsin_testkit::redis_connection(&redis.url).await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(tocsin_bus::stream_key(&redis.prefix, "commands"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    entries
        .ids
        .iter()
        .filter_map(|entry| entry.get::<String>("envelope"))
        .filter_map(|text| serde_json::from_str::<Envelope<Command>>(&text).ok())
        .map(|envelope| envelope.payload)
        .collect()
}
