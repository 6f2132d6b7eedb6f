//! What ingest's tests share: ingest started on a free port with its streams under a test prefix
//! of its own, its metrics, and what it enqueued.

#![allow(dead_code, reason = "each test file uses its own part of the set-up")]
#![allow(clippy::expect_used, reason = "test set-up stops at a failed step, saying what was being done")]

use serde_json::Value;
use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_testkit::TestRedis;
use tokio_util::sync::CancellationToken;

pub struct Ingest {
    pub url: String,
    pub redis: TestRedis,
    pub shutdown: CancellationToken,
    pub http: reqwest::Client,
}

impl Ingest {
    /// Starts ingest with `config` (from `Config::for_tests` under `redis`'s prefix).
    pub async fn start(config: Config, redis: TestRedis) -> Ingest {
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone()).await.expect("building ingest");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Ingest { url, redis, shutdown, http: reqwest::Client::new() }
    }

    pub async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.url)).send().await.expect("GET /metrics");
        response.text().await.unwrap_or_default()
    }

    /// Entries on the alerts stream; 0 when there is none.
    pub async fn stream_length(&self) -> u64 {
        let mut conn = tocsin_testkit::redis_connection(&self.redis.url).await;
        redis::cmd("XLEN")
            .arg(tocsin_bus::stream_key(&self.redis.prefix, "alerts"))
            .query_async(&mut conn)
            .await
            .unwrap_or(0)
    }

    /// The envelopes on the alerts stream, oldest first.
    pub async fn entries(&self) -> Vec<Value> {
        self.redis.stream_envelopes(&tocsin_bus::stream_key(&self.redis.prefix, "alerts")).await
    }
}
