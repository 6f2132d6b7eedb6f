//! Back-pressure against a real Redis: once incident-core's backlog on the alerts stream passes
//! `STREAM_MAX_BACKLOG`, webhooks get 503 with `Retry-After` and nothing goes on the stream,
//! `/ready` says why and `/metrics` counts it; once the backlog is worked off, webhooks are taken
//! again.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::Value;
use std::time::{Duration, Instant};
use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_runtime::Env;
use tocsin_testkit::{TestRedis, WebhookAnswer, post_fixture, redis_connection};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "test-ingest-token-backpressure";
const GROUP: &str = "incident-core";
const MAX_BACKLOG: u64 = 5;

async fn post(http: &reqwest::Client, url: &str) -> WebhookAnswer {
    post_fixture(http, url, TOKEN, "mixed.json").await
}

async fn get(http: &reqwest::Client, url: &str, path: &str) -> (u16, String) {
    let response = http.get(format!("{url}{path}")).bearer_auth(TOKEN).send().await.expect("sending the request");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// Waits, for at most 10 s, until the backlog ingest last read in the background is `entries`.
async fn wait_for_backlog(http: &reqwest::Client, url: &str, key: &str, entries: u64) {
    let gauge = format!("tocsin_stream_backlog{{stream=\"{key}\"}} {entries}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = get(http, url, "/metrics").await;
        if metrics.lines().any(|line| line == gauge) {
            return;
        }
        assert!(Instant::now() < deadline, "no `{gauge}` in /metrics: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_backlog_bound_webhooks_get_503_until_incident_core_catches_up() {
    let redis = TestRedis::new();
    let key = tocsin_bus::stream_key(&redis.prefix, "alerts");
    let mut conn = redis_connection(&redis.url).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .expect("query async");
    let shutdown = CancellationToken::new();
    // Read from the environment, as the service reads it, with the bound at five alerts.
    let env = Env::from_pairs([
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REDIS_URL", redis.url.as_str()),
        ("INGEST_TOKEN", TOKEN),
        ("STREAM_PREFIX", redis.prefix.as_str()),
        ("STREAM_MAX_BACKLOG", "5"),
        ("HTTP_WORKERS", "1"),
    ]);
    let config = Config::from_env(&env).expect("Config::from_env");
    assert_eq!(config.stream_max_backlog, MAX_BACKLOG);
    let app = Application::build(config, shutdown.clone()).await.expect("building");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();

    // Two webhooks of three alerts: six unread, over the bound of five.
    for _ in 0..2 {
        assert_eq!(post(&http, &url).await.status, 202);
    }
    wait_for_backlog(&http, &url, &key, 6).await;
    let refused = post(&http, &url).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "unavailable");
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("STREAM_MAX_BACKLOG (5)") && message.contains("holds 6 alerts"), "{message}");
    assert_eq!(refused.retry_after.as_deref(), Some("30"));
    let length: u64 = redis::cmd("XLEN").arg(&key).query_async(&mut conn).await.unwrap_or(0);
    assert_eq!(length, 6, "a refused webhook puts nothing on the stream");

    let (status, ready) = get(&http, &url, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("STREAM_MAX_BACKLOG (5)"), "/ready says why: {ready}");
    let (_, metrics) = get(&http, &url, "/metrics").await;
    let refusals = "tocsin_ingest_webhooks_rejected_total{reason=\"backlog\"} ";
    assert!(
        metrics.lines().any(|line| line.strip_prefix(refusals).is_some_and(|count| count != "0")),
        "the refusals are counted: {metrics}"
    );

    // incident-core reads and acknowledges everything: the backlog is gone, webhooks are taken.
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("core-1")
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut conn)
        .await
        .expect("query async");
    let ids: Vec<String> = read.keys.iter().flat_map(|k| k.ids.iter().map(|entry| entry.id.clone())).collect();
    assert_eq!(ids.len(), 6);
    let _: u64 = redis::cmd("XACK").arg(&key).arg(GROUP).arg(&ids).query_async(&mut conn).await.unwrap_or(0);
    wait_for_backlog(&http, &url, &key, 0).await;
    let accepted = post(&http, &url).await;
    assert_eq!((accepted.status, &accepted.body["accepted"]), (202, &Value::from(3)), "{}", accepted.body);
    let (status, ready) = get(&http, &url, "/ready").await;
    assert_eq!(status, 200, "{ready}");
    shutdown.cancel();
}

#[test]
fn absurd_bounds_stop_start_up_naming_the_variable() {
    let refused = |name: &str, value: &str| {
        let env = Env::from_pairs([("REDIS_URL", "redis://127.0.0.1:1/"), ("INGEST_TOKEN", TOKEN), (name, value)]);
        match Config::from_env(&env) {
            Ok(_) => panic!("{name}={value} was accepted"),
            Err(error) => error.to_string(),
        }
    };
    for age in ["0s", "10ms", "59s"] {
        let error = refused("STREAM_MAX_AGE", age);
        assert!(error.contains("STREAM_MAX_AGE") && error.contains("at least 60 s (1m)"), "{error}");
    }
    let error = refused("STREAM_MAX_BACKLOG", "0");
    assert!(error.contains("STREAM_MAX_BACKLOG") && error.contains("at least 1"), "{error}");
    let env = Env::from_pairs([("REDIS_URL", "redis://127.0.0.1:1/"), ("INGEST_TOKEN", TOKEN)]);
    let defaults = Config::from_env(&env).expect("Config::from_env");
    assert_eq!((defaults.stream_max_age.as_secs(), defaults.stream_max_backlog), (7 * 24 * 3600, 1_000_000));
    let env =
        Env::from_pairs([("REDIS_URL", "redis://127.0.0.1:1/"), ("INGEST_TOKEN", TOKEN), ("STREAM_MAX_AGE", "1m")]);
    assert!(Config::from_env(&env).is_ok(), "a minute is enough");
}
