//! `INGEST_WAIT_REPLICAS` against a real Redis primary and a real replica of it: a webhook gets
//! 202 only once the replica holds its alerts, and 503 with `Retry-After` (counted as
//! `unreplicated`) while no replica answers, so Alertmanager sends it again instead of trusting
//! alerts a failover could lose (docs/reliability.md, "Redis failover").

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::Value;
use std::time::{Duration, Instant};
use tocsin_e2e::faults::{RedisServer, Workdir};
use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_runtime::Env;
use tocsin_testkit::{WebhookAnswer, post_fixture, redis_connection};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "test-ingest-token-replication";
const PREFIX: &str = "tocsin-replication";

async fn post(http: &reqwest::Client, url: &str) -> WebhookAnswer {
    post_fixture(http, url, TOKEN, "mixed.json").await
}

async fn stream_length(redis: &RedisServer) -> u64 {
    let mut conn = redis_connection(&redis.url()).await;
    let key = tocsin_bus::stream_key(PREFIX, "alerts");
    redis::cmd("XLEN").arg(&key).query_async(&mut conn).await.expect("XLEN")
}

/// Waits, for at most 20 s, until the primary counts `replicas` replicas in sync with it.
async fn wait_for_replicas(primary: &RedisServer, replicas: usize) {
    let mut conn = redis_connection(&primary.url()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query_async(&mut conn).await.expect("INFO");
        let online = info.lines().filter(|line| line.starts_with("slave") && line.contains("state=online")).count();
        if online == replicas {
            return;
        }
        assert!(Instant::now() < deadline, "the primary has {online} replicas in sync, not {replicas}: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_accepted_only_once_a_replica_holds_its_alerts() {
    let workdir = Workdir::new("replication");
    let primary = RedisServer::start(workdir.path()).await;
    let mut replica = RedisServer::start_replica(workdir.path(), "replica", &primary).await;
    wait_for_replicas(&primary, 1).await;

    let shutdown = CancellationToken::new();
    let env = Env::from_pairs([
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REDIS_URL", primary.url().as_str()),
        ("INGEST_TOKEN", TOKEN),
        ("STREAM_PREFIX", PREFIX),
        ("INGEST_WAIT_REPLICAS", "1"),
        ("INGEST_WAIT_TIMEOUT", "300ms"),
        ("HTTP_WORKERS", "1"),
    ]);
    let config = Config::from_env(&env).expect("Config::from_env");
    let app = Application::build(config, shutdown.clone()).await.expect("building ingest");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();

    // The replica holds the three alerts by the time ingest answers.
    let accepted = post(&http, &url).await;
    assert_eq!((accepted.status, &accepted.body["accepted"]), (202, &Value::from(3)), "{}", accepted.body);
    assert_eq!(stream_length(&replica).await, 3, "the replica had the alerts before the 202");

    // No replica: the primary takes the alerts, but ingest does not vouch for them.
    replica.kill().await;
    let refused = post(&http, &url).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("replicas"), "the answer names the replicas: {message}");
    assert_eq!(refused.retry_after.as_deref(), Some("5"));
    let metrics = http.get(format!("{url}/metrics")).send().await.expect("GET /metrics");
    let metrics = metrics.text().await.expect("the metrics");
    assert!(
        metrics.lines().any(|line| line == "tocsin_ingest_webhooks_rejected_total{reason=\"unreplicated\"} 1"),
        "the refusal is counted: {metrics}"
    );

    // The replica is back and catches up: webhooks are accepted again, and it holds all of them,
    // the copy Alertmanager was refused for included (incident-core's dedup makes it harmless).
    replica.restart().await;
    wait_for_replicas(&primary, 1).await;
    let accepted = post(&http, &url).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(stream_length(&replica).await, 9);
    shutdown.cancel();
}
