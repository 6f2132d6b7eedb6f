//! `POST /alerts` against a real Redis: what is accepted, what is refused and why, and that a
//! refused webhook leaves nothing on the stream.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use serde_json::{Value, json};
use support::Ingest;
use tocsin_ingest::config::Config;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_testkit::{TestRedis, fixture};

const TOKEN: &str = "test-ingest-token";
const LIMIT: usize = 64 * 1024;

async fn start_with_redis(redis_url: &str, redis: TestRedis) -> Ingest {
    let tokens = Tokens::single("ingest", &[Scope::Ingest], TOKEN);
    Ingest::start(Config { max_body_bytes: LIMIT, ..Config::for_tests(redis_url, &redis.prefix, tokens) }, redis).await
}

async fn start() -> Ingest {
    let redis = TestRedis::new();
    let url = redis.url.clone();
    start_with_redis(&url, redis).await
}

impl Ingest {
    async fn post(
        &self,
        content_type: Option<&str>,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/alerts", self.url)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn captured(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect("parsing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_entry_per_alert_with_every_field() {
    let ingest = start().await;
    let (status, body) = ingest.post(Some("application/json"), Some(TOKEN), fixture("mixed.json")).await;
    assert_eq!((status, body), (202, json!({"accepted": 3, "truncated_alerts": 0})));
    let entries = ingest.entries().await;
    assert_eq!(entries.len(), 3);
    let first = &entries[0];
    assert_eq!(first["type"], "alert.received");
    assert_eq!(first["schema"], 1);
    assert!(first["id"].as_str().is_some_and(|id| id.len() == 36));
    let report = &first["payload"];
    assert_eq!(report["alert"]["fingerprint"], "be687c6c8d355525");
    assert_eq!(report["alert"]["state"], "firing");
    assert_eq!(report["alert"]["ends_at"], Value::Null);
    assert_eq!(report["alert"]["labels"]["instance"], "web-server-01");
    assert!(report["alert"]["generator_url"].as_str().is_some_and(|u| u.contains("&g0.tab=1")));
    assert_eq!(report["receiver"], "webhook-grouped");
    assert_eq!(report["external_url"], "http://127.0.0.1:59193");
    assert_eq!(entries[1]["payload"]["alert"]["state"], "resolved");
    assert_eq!(entries[1]["payload"]["alert"]["ends_at"], "2026-11-26T20:39:36.736Z");
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_webhooks_are_accepted_and_counted() {
    let ingest = start().await;
    let (status, body) =
        ingest.post(Some("application/json; charset=utf-8"), Some(TOKEN), fixture("truncated.json")).await;
    assert_eq!((status, body), (202, json!({"accepted": 2, "truncated_alerts": 2})));
    let text = ingest.metrics().await;
    assert!(text.contains("tocsin_ingest_alerts_truncated_total 2"), "{text}");
    assert!(text.contains("tocsin_ingest_alerts_accepted_total 2"), "{text}");
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_named_problem_and_nothing_enqueued() {
    let ingest = start().await;
    let valid = captured("firing-group.json");
    let mut wrong_version = valid.clone();
    wrong_version["version"] = json!("3");
    let mut missing_field = valid.clone();
    missing_field["alerts"][1].as_object_mut().map(|alert| alert.remove("startsAt"));
    let mut bad_status = valid.clone();
    bad_status["alerts"][0]["status"] = json!("pending");
    let mut empty_fingerprint = valid.clone();
    empty_fingerprint["alerts"][2]["fingerprint"] = json!("");
    let mut bad_time = valid.clone();
    bad_time["alerts"][0]["startsAt"] = json!("yesterday");
    let mut no_alerts = valid.clone();
    no_alerts["alerts"] = json!([]);

    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("malformed JSON", "{\"receiver\": ".into(), 400, "invalid_payload", "malformed webhook: EOF while parsing"),
        (
            "not an object",
            "42".into(),
            400,
            "invalid_payload",
            "malformed webhook: invalid type: integer `42`, expected struct WebhookPayload",
        ),
        (
            "wrong version",
            wrong_version.to_string(),
            400,
            "invalid_payload",
            "invalid webhook: unsupported webhook version `3`",
        ),
        (
            "missing field",
            missing_field.to_string(),
            400,
            "invalid_payload",
            "malformed webhook: missing field `startsAt`",
        ),
        (
            "unknown status",
            bad_status.to_string(),
            400,
            "invalid_payload",
            "malformed webhook: unknown variant `pending`",
        ),
        (
            "empty fingerprint",
            empty_fingerprint.to_string(),
            400,
            "invalid_payload",
            "invalid webhook: alerts[2].fingerprint is empty",
        ),
        ("bad timestamp", bad_time.to_string(), 400, "invalid_payload", "malformed webhook: "),
        ("no alerts", no_alerts.to_string(), 400, "invalid_payload", "invalid webhook: `alerts` is empty"),
    ];
    for (case, body, status, code, message) in cases {
        let (got, answer) = ingest.post(Some("application/json"), Some(TOKEN), body).await;
        assert_eq!(got, status, "{case}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{case}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{case}: `{text}` should start with `{message}`");
    }

    let (status, answer) = ingest.post(Some("text/plain"), Some(TOKEN), valid.to_string()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    assert_eq!(answer["error"]["message"], "content type `text/plain` is not accepted: send application/json");
    let (status, answer) = ingest.post(None, Some(TOKEN), valid.to_string()).await;
    assert_eq!((status, answer["error"]["message"].as_str()), (415, Some("no content type: send application/json")));

    let mut huge = valid.clone();
    huge["alerts"][0]["annotations"]["description"] = json!("x".repeat(LIMIT));
    let (status, answer) = ingest.post(Some("application/json"), Some(TOKEN), huge.to_string()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("payload_too_large")), "{answer}");
    // The same without a Content-Length: the limit holds while streaming.
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(huge.to_string())];
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, _) = ingest.post(Some("application/json"), Some(TOKEN), stream).await;
    assert_eq!(status, 413);

    let (status, answer) = ingest.post(Some("application/json"), None, valid.to_string()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = ingest.post(Some("application/json"), Some("not-the-token"), valid.to_string()).await;
    assert_eq!(status, 401);

    assert_eq!(ingest.stream_length().await, 0, "nothing refused may reach the stream");
    let text = ingest.metrics().await;
    assert!(text.contains("tocsin_ingest_webhooks_rejected_total{reason=\"too_large\"} 2"), "{text}");
    assert!(text.contains("tocsin_ingest_webhooks_rejected_total{reason=\"content_type\"} 2"), "{text}");
    ingest.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_webhook_gets_503_and_ready_says_why() {
    // A port nothing listens on.
    let port = tocsin_testkit::free_port();
    let ingest = start_with_redis(&format!("redis://127.0.0.1:{port}/"), TestRedis::new()).await;
    let (status, answer) = ingest.post(Some("application/json"), Some(TOKEN), fixture("firing-single.json")).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable");
    assert_eq!(answer["error"]["message"], "the alert stream (Redis) is unavailable, try again shortly");

    let response = ingest.http.get(format!("{}/ready", ingest.url)).send().await.expect("sending the request");
    assert_eq!(response.status().as_u16(), 503);
    let ready: Value = response.json().await.unwrap_or_default();
    assert_eq!(ready, json!({"status": "unavailable"}), "an anonymous caller learns only that");
    let response =
        ingest.http.get(format!("{}/ready", ingest.url)).bearer_auth(TOKEN).send().await.expect("sending the request");
    let ready: Value = response.json().await.unwrap_or_default();
    assert_eq!(ready["status"], "unavailable");
    assert!(ready["checks"]["redis"].as_str().is_some_and(|check| check != "ok"), "{ready}");
    let health = ingest.http.get(format!("{}/health", ingest.url)).send().await.expect("sending the request");
    assert_eq!(health.status().as_u16(), 200, "liveness does not depend on Redis");
    ingest.shutdown.cancel();
}

/// Every bound of a webhook gets 413 naming the field, the limit and the variable that sets it,
/// and nothing of a refused webhook reaches the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_over_a_limit_are_refused_naming_field_limit_and_variable() {
    let ingest = start().await;
    let valid = captured("firing-group.json");
    let mut long_group_key = valid.clone();
    long_group_key["groupKey"] = json!("g".repeat(9_000));
    let mut long_label = valid.clone();
    long_label["alerts"][1]["labels"]["service"] = json!("s".repeat(5_000));
    let mut many_labels = valid.clone();
    many_labels["alerts"][0]["labels"] = (0..129).map(|n| (format!("label_{n}"), json!("v"))).collect();

    let cases = [
        (
            long_group_key,
            "webhook over a limit: groupKey has 9000 bytes, over the limit of 8192 (INGEST_MAX_CONTEXT_BYTES)",
        ),
        (
            long_label,
            r#"webhook over a limit: alerts[1].labels["service"] has 5000 bytes, over the limit of 4096 (INGEST_MAX_LABEL_VALUE_BYTES)"#,
        ),
        (
            many_labels,
            "webhook over a limit: alerts[0].labels has 129 entries, over the limit of 128 (INGEST_MAX_LABELS)",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = ingest.post(Some("application/json"), Some(TOKEN), body.to_string()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("payload_too_large")), "{answer}");
        assert_eq!(answer["error"]["message"], message);
    }
    assert_eq!(ingest.stream_length().await, 0, "nothing refused may reach the stream");

    // Under every limit, a long label value is taken whole.
    let mut long_but_allowed = valid.clone();
    long_but_allowed["alerts"][0]["labels"]["service"] = json!("s".repeat(3 * 1024));
    let (status, answer) = ingest.post(Some("application/json"), Some(TOKEN), long_but_allowed.to_string()).await;
    assert_eq!(status, 202, "{answer}");
    let text = ingest.metrics().await;
    assert!(text.contains("tocsin_ingest_webhooks_rejected_total{reason=\"over_limit\"} 3"), "{text}");
    ingest.shutdown.cancel();
}

/// The method of a request is whatever a client writes, and no token is needed to send one: as a
/// metric label taken as sent, a loop of made-up methods grew `/metrics` without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_http_methods_do_not_grow_the_metrics() {
    let ingest = start().await;
    let metrics_text = async || {
        let response = ingest.http.get(format!("{}/metrics", ingest.url)).send().await.expect("sending the request");
        response.text().await.unwrap_or_default()
    };
    let send_made_up = async |round: usize| {
        for n in 0..100 {
            for path in ["/alerts", "/nowhere"] {
                let method = reqwest::Method::from_bytes(format!("MADEUP{round}X{n}").as_bytes()).expect("from bytes");
                let response = ingest.http.request(method, format!("{}{path}", ingest.url)).send().await;
                assert!(response.is_ok_and(|r| r.status().is_client_error()));
            }
        }
    };
    // The scrape itself is counted once it is answered: one first so its series exist.
    metrics_text().await;
    send_made_up(0).await;
    let after_first = metrics_text().await;
    assert!(!after_first.contains("MADEUP"), "a made-up method became a label");
    assert!(after_first.contains(r#"method="other""#), "{after_first}");
    let series = |text: &str| text.lines().filter(|line| line.starts_with("tocsin_http_")).count();

    send_made_up(1).await;
    let after_second = metrics_text().await;
    assert_eq!(series(&after_second), series(&after_first), "100 more made-up methods added series");
    ingest.shutdown.cancel();
}
