//! What the notifier's tests share: the settings every notifier under test runs with.

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
