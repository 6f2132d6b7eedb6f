//! What stands in front of `POST /alerts`, against a real Redis: named tokens and their scopes,
//! the rate limits per token and per source, the source allowlist behind a trusted proxy, and the
//! HTTP limits every service has. Every refusal is JSON, counted by reason, and enqueues nothing.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;
use support::Ingest;
use tocsin_ingest::admission::{AdmissionSettings, RateLimit, parse_networks};
use tocsin_ingest::config::Config;
use tocsin_runtime::auth::Tokens;
use tocsin_testkit::{TestRedis, fixture};

const ALERTMANAGER: &str = "alertmanager-token-2026-11";
const ALERTMANAGER_NEXT: &str = "alertmanager-token-2026-12";
const DASHBOARD: &str = "dashboard-token-read-only";

const TOKENS_FILE: &str = "
tokens:
  - name: alertmanager
    scopes: [ingest]
    token: alertmanager-token-2026-11
  - name: alertmanager-next
    scopes: [ingest]
    token: alertmanager-token-2026-12
  - name: dashboard
    scopes: [read]
    token: dashboard-token-read-only
";

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

async fn start(admission: AdmissionSettings) -> Ingest {
    let redis = TestRedis::new();
    let tokens = Tokens::from_yaml(TOKENS_FILE).expect("Tokens::from_yaml");
    let config =
        Config { admission, max_body_bytes: 64 * 1024, ..Config::for_tests(&redis.url, &redis.prefix, tokens) };
    Ingest::start(config, redis).await
}

impl Ingest {
    /// Posts a real webhook with `token`, and `X-Forwarded-For: forwarded_for` when given.
    async fn post(&self, token: Option<&str>, forwarded_for: Option<&str>) -> Answer {
        let mut request = self
            .http
            .post(format!("{}/alerts", self.url))
            .header("Content-Type", "application/json")
            .body(fixture("firing-single.json"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(address) = forwarded_for {
            request = request.header("X-Forwarded-For", address);
        }
        let response = request.send().await.expect("POST /alerts");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, body: response.json().await.unwrap_or(Value::Null) }
    }
}

fn limit(text: &str) -> Option<RateLimit> {
    RateLimit::parse(text, None).expect("parsing")
}

fn networks(text: &str) -> Vec<ipnet::IpNet> {
    parse_networks(text).expect("parse networks")
}

fn assert_rejections(metrics: &str, expected: &[(&str, u64)]) {
    for (reason, count) in expected {
        let line = format!("tocsin_ingest_webhooks_rejected_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.lines().any(|l| l == line), "expected `{line}` in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_tokens_rotate_and_each_needs_the_ingest_scope() {
    let ingest = start(AdmissionSettings::default()).await;

    // The old and the new token work side by side while Alertmanager moves over.
    assert_eq!(ingest.post(Some(ALERTMANAGER), None).await.status, 202);
    assert_eq!(ingest.post(Some(ALERTMANAGER_NEXT), None).await.status, 202);

    let read_only = ingest.post(Some(DASHBOARD), None).await;
    assert_eq!((read_only.status, read_only.code()), (403, "forbidden"));
    assert_eq!(read_only.message(), "the token `dashboard` does not have the `ingest` scope this route needs");

    let unknown = ingest.post(Some("alertmanager-token-2026-10"), None).await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.message()),
        (401, "unauthorized", "the bearer token is not valid")
    );
    assert_eq!(unknown.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let missing = ingest.post(None, None).await;
    assert_eq!(
        (missing.status, missing.message()),
        (401, "missing bearer token: send `Authorization: Bearer <token>`")
    );

    assert_eq!(ingest.stream_length().await, 2, "only the two accepted webhooks are on the stream");
    assert_rejections(&ingest.metrics().await, &[("forbidden", 1), ("unauthorized", 2)]);
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_has_its_own_rate_limit() {
    let ingest = start(AdmissionSettings { per_token: limit("2/h"), ..AdmissionSettings::default() }).await;
    assert_eq!(ingest.post(Some(ALERTMANAGER), None).await.status, 202);
    assert_eq!(ingest.post(Some(ALERTMANAGER), None).await.status, 202);

    let limited = ingest.post(Some(ALERTMANAGER), None).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"), "{}", limited.body);
    assert_eq!(
        limited.message(),
        "too many webhooks with the token `alertmanager`: the limit is 2/h (bursts of 2) per token"
    );
    // The bucket refills one webhook every 30 minutes.
    let retry_after: u64 = limited.headers["retry-after"].to_str().ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!((1790..=1800).contains(&retry_after), "Retry-After: {retry_after}");

    assert_eq!(ingest.post(Some(ALERTMANAGER_NEXT), None).await.status, 202, "another token has its own bucket");
    assert_eq!(ingest.stream_length().await, 3);
    assert_rejections(&ingest.metrics().await, &[("rate_limited_token", 1), ("rate_limited_source", 0)]);
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_behind_a_trusted_proxy_has_its_own_rate_limit() {
    // The test client plays the ingress controller: its X-Forwarded-For names the Alertmanager.
    let ingest = start(AdmissionSettings {
        per_source: limit("1/h"),
        trusted_proxies: networks("127.0.0.1"),
        ..AdmissionSettings::default()
    })
    .await;
    assert_eq!(ingest.post(Some(ALERTMANAGER), Some("203.0.113.7")).await.status, 202);
    let limited = ingest.post(Some(ALERTMANAGER_NEXT), Some("203.0.113.7")).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    assert!(limited.message().starts_with("too many webhooks from 203.0.113.7"), "{}", limited.message());
    assert!(limited.headers.contains_key("retry-after"));

    // A flood without a valid token is cut by the source limit before its token is looked at.
    assert_eq!(ingest.post(Some("guessing"), Some("203.0.113.7")).await.status, 429);
    assert_eq!(ingest.post(Some(ALERTMANAGER), Some("198.51.100.20")).await.status, 202);
    assert_rejections(&ingest.metrics().await, &[("rate_limited_source", 2), ("unauthorized", 0)]);
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_sources_may_post() {
    let direct =
        start(AdmissionSettings { allowed_sources: networks("10.0.0.0/8"), ..AdmissionSettings::default() }).await;
    let refused = direct.post(Some(ALERTMANAGER), None).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_eq!(refused.message(), "127.0.0.1 may not post alerts: it is not in ALERTS_ALLOWED_SOURCES");
    // Without a trusted proxy, X-Forwarded-For is anyone's to write and changes nothing.
    assert_eq!(direct.post(Some(ALERTMANAGER), Some("10.1.2.3")).await.status, 403);
    assert_rejections(&direct.metrics().await, &[("source_not_allowed", 2)]);
    assert_eq!(direct.stream_length().await, 0);
    direct.shutdown.cancel();

    let proxied = start(AdmissionSettings {
        allowed_sources: networks("10.0.0.0/8, 2001:db8::/32"),
        trusted_proxies: networks("127.0.0.1"),
        ..AdmissionSettings::default()
    })
    .await;
    assert_eq!(proxied.post(Some(ALERTMANAGER), Some("10.1.2.3")).await.status, 202);
    assert_eq!(proxied.post(Some(ALERTMANAGER), Some("2001:db8::9")).await.status, 202);
    assert_eq!(proxied.post(Some(ALERTMANAGER), Some("192.0.2.1")).await.status, 403);
    proxied.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ingest = start(AdmissionSettings::default()).await;

    // A header block over actix-http's 128 KiB: 431 before any tocsin code runs.
    let big = ingest
        .http
        .post(format!("{}/alerts", ingest.url))
        .bearer_auth(ALERTMANAGER)
        .header("X-Padding", "x".repeat(140 * 1024))
        .send()
        .await;
    match big {
        Ok(response) => assert_eq!(response.status().as_u16(), 431),
        // The server stops reading at 128 KiB and closes; the kernel may reset the connection
        // before the client reads the 431. The case below reads its answer every time.
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    let mut stream = tokio::net::TcpStream::connect(ingest.url.trim_start_matches("http://")).await.expect("connect");
    let padding = "x".repeat(1024);
    let head: String = std::iter::once("GET /health HTTP/1.1\r\nHost: ingest\r\n".to_owned())
        .chain((0..100).map(|n| format!("X-Header-{n}: {padding}\r\n")))
        .chain(std::iter::once("\r\n".to_owned()))
        .collect();
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = vec![0u8; 64];
    let read = stream.read(&mut answer).await.unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 431"), "more than 96 headers: {answer}");

    // A client that never finishes its request head is answered 408 and disconnected.
    let mut slow = tokio::net::TcpStream::connect(ingest.url.trim_start_matches("http://")).await.expect("connect");
    slow.write_all(b"POST /alerts HTTP/1.1\r\nHost: ingest\r\n").await.expect("writing");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), slow.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "an unfinished head: {answer}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(10), "cut after {waited:?}");
    ingest.shutdown.cancel();
}
