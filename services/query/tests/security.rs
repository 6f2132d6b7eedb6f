//! query's front door against a real PostgreSQL and Redis: which token scope each route needs,
//! the actor an action is recorded under when the request names none, the browser security
//! headers on every answer (the dashboard's, the API's, the errors'), and the body limit.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel_async::AsyncConnection;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::AlertReceived;
use tocsin_domain::webhook::WebhookPayload;
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_query::Application;
use tocsin_query::config::Config;
use tocsin_runtime::auth::Tokens;
use tocsin_testkit::{TestDatabase, TestRedis, fixture};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const READER: &str = "reader-token-0123456789";
const ACTOR: &str = "actor-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

const TOKENS_FILE: &str = "
tokens:
  - {name: wallboard, scopes: [read], token: reader-token-0123456789}
  - {name: ops-bot, scopes: [act], token: actor-token-0123456789}
  - {name: admin, scopes: [admin], token: admin-token-0123456789}
";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Query {
    url: String,
    db: TestDatabase,
    redis: TestRedis,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn error(&self) -> (u16, &str, &str) {
        let field = |name: &str| self.body["error"][name].as_str().unwrap_or_default();
        (self.status, field("code"), field("message"))
    }
}

async fn start(web_root: Option<PathBuf>, hsts_max_age: Option<Duration>) -> Query {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let shutdown = CancellationToken::new();
    let app = Application::build(
        Config {
            // Nothing applies the commands here: an action publishes and times out quickly.
            web_root,
            hsts_max_age,
            ..Config::for_tests(
                &db.url,
                &redis.url,
                &redis.prefix,
                Tokens::from_yaml(TOKENS_FILE).expect("Tokens::from_yaml"),
            )
        },
        shutdown.clone(),
    )
    .await
    .expect("building");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Query { url, db, redis, shutdown, http: reqwest::Client::new() }
}

impl Query {
    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<String>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("from bytes");
        self.answer(self.http.request(method, format!("{}{path}", self.url)), token, body).await
    }

    /// A GET as a browser sends it when it loads a page.
    async fn page(&self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.url)).header("Accept", "text/html,*/*;q=0.8");
        self.answer(request, None, None).await
    }

    async fn answer(&self, mut request: reqwest::RequestBuilder, token: Option<&str>, body: Option<String>) -> Answer {
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    /// An open incident, recorded as incident-core would from a captured webhook.
    async fn incident(&self) -> Uuid {
        let payload: WebhookPayload = serde_json::from_str(&fixture("firing-single.json")).expect("parsing");
        let now = OffsetDateTime::now_utc();
        let report: AlertReceived =
            AlertReceived::from_webhook(payload.clone(), now).into_iter().next().expect("no alert");
        let mut conn = self.db.connection().await;
        let outcome = conn
            .transaction(async |conn| apply_alerts(conn, &[&report], &[], &IntakeSettings::default(), now).await)
            .await
            .expect("transaction");
        outcome.outcomes[0].incident_id.expect("no incident opened")
    }

    /// The actors of the commands query has published.
    async fn command_actors(&self) -> Vec<String> {
        self.redis
            .stream_envelopes(&tocsin_bus::stream_key(&self.redis.prefix, "commands"))
            .await
            .iter()
            .filter_map(|envelope| envelope["payload"]["actor"].as_str().map(str::to_owned))
            .collect()
    }
}

fn assert_security_headers(answer: &Answer, what: &str) {
    assert_eq!(answer.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(answer.header("cross-origin-opener-policy"), Some("same-origin"), "{what}");
    assert_eq!(answer.header("cross-origin-resource-policy"), Some("same-origin"), "{what}");
    assert!(answer.header("permissions-policy").is_some_and(|policy| policy.contains("camera=()")), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_needs_read_and_acting_needs_act() {
    let query = start(None, None).await;
    let incident = query.incident().await;
    let acknowledge = format!("/incidents/{incident}/acknowledge");

    for (method, path) in
        [("GET", "/incidents".to_owned()), ("GET", format!("/incidents/{incident}")), ("GET", "/events".into())]
    {
        let answer = query.send(method, &path, Some(ACTOR), None).await;
        assert_eq!(
            answer.error(),
            (403, "forbidden", "the token `ops-bot` does not have the `read` scope this route needs"),
            "{path}"
        );
        let answer = query.send(method, &path, None, None).await;
        assert_eq!(answer.error().0, 401, "{path}");
    }
    assert_eq!(query.send("GET", "/incidents", Some(READER), None).await.status, 200);
    assert_eq!(query.send("GET", &format!("/incidents/{incident}"), Some(ADMIN), None).await.status, 200);

    for (path, body) in [
        (acknowledge.clone(), None),
        (format!("/incidents/{incident}/assign"), Some(json!({"assignee": "sam"}).to_string())),
        ("/resolve".to_owned(), Some(json!({"incident_id": incident, "action": "resolve"}).to_string())),
    ] {
        let answer = query.send("POST", &path, Some(READER), body).await;
        assert_eq!(
            answer.error(),
            (403, "forbidden", "the token `wallboard` does not have the `act` scope this route needs"),
            "{path}"
        );
    }
    assert!(query.command_actors().await.is_empty(), "a refused action publishes nothing");

    // Past the auth, the action is published; nothing applies it here, hence the 504.
    assert_eq!(query.send("POST", &acknowledge, Some(ACTOR), None).await.status, 504);
    let named = Some(json!({"actor": "sam@example.com"}).to_string());
    assert_eq!(query.send("POST", &acknowledge, Some(ADMIN), named).await.status, 504);
    assert_eq!(query.command_actors().await, ["ops-bot", "sam@example.com"], "the token's name when no actor is given");
    query.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let web_root = std::env::temp_dir().join(format!("tocsin-web-root-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(web_root.join("assets")).expect("create dir all");
    let page = r#"<!doctype html><html><head><script src="/theme.js"></script></head><body><div id="root"></div></body></html>"#;
    std::fs::write(web_root.join("index.html"), page).expect("writing a test file");
    std::fs::write(web_root.join("theme.js"), "void 0;").expect("writing a test file");
    let query = start(Some(web_root.clone()), None).await;

    let answers = [
        ("the dashboard", query.page("/").await, 200),
        ("a page route", query.page("/incident/42").await, 200),
        ("the theme script", query.send("GET", "/theme.js", None, None).await, 200),
        ("the API", query.send("GET", "/incidents", Some(READER), None).await, 200),
        ("a refusal", query.send("GET", "/incidents", None, None).await, 401),
        ("the OpenAPI document", query.send("GET", "/openapi.json", None, None).await, 200),
        ("a missing file", query.send("GET", "/assets/missing.js", None, None).await, 404),
    ];
    for (what, answer, status) in &answers {
        assert_eq!(answer.status, *status, "{what}: {:?}", answer.body);
        assert_security_headers(answer, what);
        assert_eq!(answer.header("strict-transport-security"), None, "{what}: HSTS only when configured");
    }
    query.shutdown.cancel();

    let behind_tls = start(Some(web_root.clone()), Some(Duration::from_secs(365 * 24 * 3600))).await;
    let page = behind_tls.page("/").await;
    assert_eq!(page.header("strict-transport-security"), Some("max-age=31536000"));
    behind_tls.shutdown.cancel();
    let _ = std::fs::remove_dir_all(&web_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_as_json() {
    let query = start(None, None).await;
    let incident = query.incident().await;
    let big_actor = json!({"actor": "x".repeat(100 * 1024)}).to_string();
    for path in
        [format!("/incidents/{incident}/acknowledge"), format!("/incidents/{incident}/assign"), "/resolve".into()]
    {
        let answer = query.send("POST", &path, Some(ACTOR), Some(big_actor.clone())).await;
        let (status, code, message) = answer.error();
        assert_eq!((status, code), (413, "payload_too_large"), "{path}: {message}");
        assert_security_headers(&answer, &path);
    }
    assert!(query.command_actors().await.is_empty());
    query.shutdown.cancel();
}
