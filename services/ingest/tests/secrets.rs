//! No secret in a log line or an answer: ingest runs with every log line of every crate captured
//! (TRACE), is sent right, wrong and malformed requests, loses its Redis, and afterwards neither
//! the logs nor any answer holds a token or the Redis password, nor its configuration's `Debug`
//! a token.
//!
//! One test in its own binary: it installs the process-wide subscriber.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_runtime::Env;
use tocsin_testkit::{TestRedis, fixture};
use tokio_util::sync::CancellationToken;

const LEGACY_TOKEN: &str = "legacy-ingest-token-5f1d0c";
const FILE_TOKEN: &str = "file-ingest-token-a93b27e4";
const READ_TOKEN: &str = "file-read-token-77c2e0d1";
const WRONG_TOKEN: &str = "file-ingest-token-a93b27e5";
const REDIS_PASSWORD: &str = "redis-password-0c4f8e";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }
}

async fn start(env: &[(&str, &str)]) -> (Config, String, CancellationToken) {
    let config = Config::from_env(&Env::from_pairs(env.iter().copied())).expect("Config::from_env");
    let shutdown = CancellationToken::new();
    let app = Application::build(config.clone(), shutdown.clone()).await.expect("building");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (config, url, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_password_reaches_a_log_line_or_an_answer() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = std::env::temp_dir().join(format!("tocsin-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create dir all");
    let tokens_file = dir.join("tokens.yaml");
    let file = format!(
        "tokens:\n  - {{name: alertmanager, scopes: [ingest], token: {FILE_TOKEN}}}\n  - {{name: dashboard, scopes: [read], token: {READ_TOKEN}}}\n"
    );
    std::fs::write(&tokens_file, file).expect("writing a test file");
    let tokens_file = tokens_file.to_string_lossy().into_owned();

    let redis = TestRedis::new();
    let working = [
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REDIS_URL", redis.url.as_str()),
        ("STREAM_PREFIX", redis.prefix.as_str()),
        ("INGEST_TOKEN", LEGACY_TOKEN),
        ("TOKENS_FILE", tokens_file.as_str()),
        ("HTTP_WORKERS", "1"),
    ];
    let (config, url, shutdown) = start(&working).await;
    // Redis behind a password, down: the 503 path logs the connection error.
    let unreachable = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}/", tocsin_testkit::free_port());
    let mut broken = working;
    broken[1] = ("REDIS_URL", unreachable.as_str());
    let (_, broken_url, broken_shutdown) = start(&broken).await;

    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    let requests: [(&str, Option<&str>, String); 7] = [
        (&url, Some(LEGACY_TOKEN), fixture("firing-single.json")),
        (&url, Some(FILE_TOKEN), fixture("firing-single.json")),
        (&url, Some(WRONG_TOKEN), fixture("firing-single.json")),
        (&url, Some(READ_TOKEN), fixture("firing-single.json")),
        (&url, Some(FILE_TOKEN), "{\"receiver\": ".to_owned()),
        (&url, None, fixture("firing-single.json")),
        (&broken_url, Some(FILE_TOKEN), fixture("firing-single.json")),
    ];
    for (base, token, body) in requests {
        let mut request = http.post(format!("{base}/alerts")).header("Content-Type", "application/json").body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        answers.push(format!("{status} {headers} {}", response.text().await.unwrap_or_default()));
    }
    let statuses: Vec<&str> = answers.iter().map(|answer| &answer[..3]).collect();
    assert_eq!(statuses, ["202", "202", "401", "403", "400", "401", "503"]);
    shutdown.cancel();
    broken_shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let logs = logs.text();
    assert!(logs.contains("dependency unavailable"), "the capture works and saw the 503:\n{logs}");
    let config_debug = format!("{config:?}");
    assert!(
        config_debug.contains(r#"tokens: {"ingest": ["ingest"], "alertmanager": ["ingest"], "dashboard": ["read"]}"#)
    );
    for token in [LEGACY_TOKEN, FILE_TOKEN, READ_TOKEN] {
        assert!(!config_debug.contains(token), "`{token}` is in the configuration's Debug: {config_debug}");
    }
    for secret in [LEGACY_TOKEN, FILE_TOKEN, READ_TOKEN, WRONG_TOKEN, REDIS_PASSWORD] {
        assert!(!logs.contains(secret), "`{secret}` is in the logs:\n{logs}");
        for answer in &answers {
            assert!(!answer.contains(secret), "`{secret}` is in an answer: {answer}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
