//! A person's contact methods and notification rules through query's API against a real
//! PostgreSQL: the person themself (signed in, with the session's CSRF token) and admins (a token
//! with `admin`, a signed-in admin) may read and change them, anyone else gets 403 whether the
//! person exists or not; `me` names the person signed in; refusals name the field and the limit;
//! the limits of 10 methods and 20 rules are 409s; a test page is queued for the notifier; every
//! change is in the audit log.
//!
//! Sessions are made as a sign-in makes them (a row in `sessions`, the cookie's SHA-256 as its
//! key), without an identity provider: sign-in itself is what tests/sign_in.rs covers.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::PageUrgency;
use tocsin_query::Application;
use tocsin_query::config::Config;
use tocsin_query::sign_in::access::sha256;
use tocsin_runtime::auth::Tokens;
use tocsin_storage::contacts;
use tocsin_storage::people::{self, NewSession, SignedInIdentity};
use tocsin_testkit::{TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const READER: &str = "reader-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";
const TOKENS_FILE: &str = "
tokens:
  - {name: wallboard, scopes: [read, act], token: reader-token-0123456789}
  - {name: admin-bot, scopes: [admin], token: admin-token-0123456789}
";

/// Who sends a request.
#[derive(Clone, Copy)]
enum As<'a> {
    Token(&'a str),
    Person(&'a Session),
    /// A signed-in person's cookie without the CSRF token.
    PersonWithoutCsrf(&'a Session),
}

struct Session {
    user_id: Uuid,
    cookie: String,
    csrf: String,
}

struct Query {
    url: String,
    db: TestDatabase,
    _redis: TestRedis,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

impl Drop for Query {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Query {
    async fn start() -> Query {
        let db = TestDatabase::new().await;
        let redis = TestRedis::new();
        let shutdown = CancellationToken::new();
        let tokens = Tokens::from_yaml(TOKENS_FILE).expect("Tokens::from_yaml");
        let mut config = Config::for_tests(&db.url, &redis.url, &redis.prefix, tokens);
        config.sign_in = Some(support::sign_in_without_provider());
        let app = Application::build(config, shutdown.clone()).await.expect("building query");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Query { url, db, _redis: redis, shutdown, http: reqwest::Client::new() }
    }

    /// A person who signed in, with a live session; an admin if `admin`.
    async fn sign_in(&self, login: &str, admin: bool) -> Session {
        let mut conn = self.db.connection().await;
        let email = format!("{login}@example.com");
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: login, name: login, email: Some(&email) };
        let user = people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user");
        if admin {
            diesel::sql_query(format!("UPDATE users SET is_admin = true WHERE id = '{}'", user.id))
                .execute(&mut conn)
                .await
                .expect("making an admin");
        }
        let cookie = format!("session-of-{login}-{}", Uuid::new_v4());
        let csrf = format!("csrf-of-{login}-{}", Uuid::new_v4());
        let session = NewSession {
            id_sha256: &sha256(&cookie),
            user_id: user.id,
            csrf_token: &csrf,
            id_token: None,
            expires_at: OffsetDateTime::now_utc() + Duration::from_secs(3600),
        };
        people::create_session(&mut conn, &session).await.expect("create_session");
        Session { user_id: user.id, cookie, csrf }
    }

    async fn send(&self, method: &str, path: &str, who: As<'_>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        request = match who {
            As::Token(token) => request.bearer_auth(token),
            As::Person(session) => request
                .header("cookie", format!("tocsin_session={}", session.cookie))
                .header("x-csrf-token", &session.csrf),
            As::PersonWithoutCsrf(session) => request.header("cookie", format!("tocsin_session={}", session.cookie)),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The message of a refusal with `status`.
    async fn refused(&self, status: u16, method: &str, path: &str, who: As<'_>, body: Option<Value>) -> String {
        let (answered, body) = self.send(method, path, who, body).await;
        assert_eq!(answered, status, "{method} {path}: {body}");
        body["error"]["message"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_keeps_their_own_methods_and_rules_and_admins_may_too_but_nobody_else() {
    let query = Query::start().await;
    let ana = query.sign_in("ana", false).await;
    let bo = query.sign_in("bo", false).await;
    let root = query.sign_in("root", true).await;

    // Ana adds a Slack DM and an SMS method to herself, as `me`.
    let (status, slack) = query
        .send(
            "POST",
            "/users/me/contact-methods",
            As::Person(&ana),
            Some(json!({"kind": "slack", "address": "U0ANA1234"})),
        )
        .await;
    assert_eq!(status, 201, "{slack}");
    assert_eq!(
        (slack["kind"].as_str(), slack["address"].as_str(), slack["label"].as_str()),
        (Some("slack"), Some("U0ANA1234"), Some(""))
    );
    let (status, sms) = query
        .send(
            "POST",
            "/users/ana@example.com/contact-methods",
            As::Person(&ana),
            Some(json!({"kind": "sms", "address": "+1 415 555-0123", "label": "work phone"})),
        )
        .await;
    assert_eq!(status, 201, "{sms}");
    assert_eq!(sms["address"], "+14155550123", "stored in E.164 form");
    let slack_id = slack["id"].as_str().expect("an id").to_owned();
    let sms_id = sms["id"].as_str().expect("an id").to_owned();

    // "Slack DM at once, SMS after 5 minutes" for high urgency.
    for (method, delay) in [(&slack_id, 0), (&sms_id, 5)] {
        let body = json!({"contact_method_id": method, "urgency": "high", "delay_minutes": delay});
        let (status, rule) = query.send("POST", "/users/me/notification-rules", As::Person(&ana), Some(body)).await;
        assert_eq!(status, 201, "{rule}");
        assert_eq!(rule["delay_minutes"], delay);
    }
    let (status, rules) = query.send("GET", "/users/me/notification-rules", As::Person(&ana), None).await;
    assert_eq!(status, 200);
    let delays: Vec<(String, i64)> = rules["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|rule| {
            (
                rule["contact_method_id"].as_str().unwrap_or_default().to_owned(),
                rule["delay_minutes"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(delays, [(slack_id.clone(), 0), (sms_id.clone(), 5)]);

    // Bo may neither read nor change Ana's, named any way, nor learn whether a person exists.
    let ana_path = format!("/users/{}/contact-methods", ana.user_id);
    for path in
        [ana_path.as_str(), "/users/ana@example.com/contact-methods", "/users/nobody@example.com/contact-methods"]
    {
        let message = query.refused(403, "GET", path, As::Person(&bo), None).await;
        assert!(message.contains("person themself and for admins"), "{message}");
    }
    query.refused(403, "DELETE", &format!("{ana_path}/{sms_id}"), As::Person(&bo), None).await;
    query.refused(403, "POST", &format!("{ana_path}/{sms_id}/test"), As::Person(&bo), None).await;
    // A token without `admin` is stopped by the route; a change without the CSRF token too.
    query.refused(403, "GET", &ana_path, As::Token(READER), None).await;
    query
        .refused(
            403,
            "POST",
            "/users/me/contact-methods",
            As::PersonWithoutCsrf(&ana),
            Some(json!({"kind": "email", "address": "ana@example.com"})),
        )
        .await;
    // `me` means nothing to a token.
    let message = query.refused(400, "GET", "/users/me/contact-methods", As::Token(ADMIN), None).await;
    assert!(message.contains("user `me`"), "{message}");

    // Admins may: a signed-in admin reads them, an admin token removes one and its rules.
    let (status, listed) = query.send("GET", &ana_path, As::Person(&root), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(query.send("DELETE", &format!("{ana_path}/{sms_id}"), As::Token(ADMIN), None).await.0, 204);
    query.refused(404, "DELETE", &format!("{ana_path}/{sms_id}"), As::Token(ADMIN), None).await;
    let (_, rules) = query.send("GET", "/users/me/notification-rules", As::Person(&ana), None).await;
    assert_eq!(rules["items"].as_array().map(Vec::len), Some(1), "the SMS rule went with its method: {rules}");
    let rule_id = rules["items"][0]["id"].as_str().expect("a rule id").to_owned();
    query.refused(404, "GET", "/users/nobody@example.com/contact-methods", As::Token(ADMIN), None).await;

    // A test page is queued in the notifier's deliveries, through Ana's Slack method.
    let (status, test) =
        query.send("POST", &format!("/users/me/contact-methods/{slack_id}/test"), As::Person(&ana), None).await;
    assert_eq!(status, 202, "{test}");
    let mut conn = query.db.connection().await;
    let queued: Vec<tocsin_storage::notifications::ClaimedDelivery> =
        tocsin_storage::notifications::claim_due(&mut conn, 10, Duration::from_secs(1)).await.expect("claim_due");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, test["delivery_id"].as_i64().unwrap_or(-1));
    assert_eq!(queued[0].contact_method_id.map(|id| id.to_string()), Some(slack_id.clone()));
    assert_eq!(queued[0].target, format!("test-page:{slack_id}"));

    // Ana removes her rule; every change is in the audit log under who made it.
    assert_eq!(
        query.send("DELETE", &format!("/users/me/notification-rules/{rule_id}"), As::Person(&ana), None).await.0,
        204
    );
    let (status, audit) = query.send("GET", "/audit-log", As::Token(ADMIN), None).await;
    assert_eq!(status, 200, "{audit}");
    let mut entries: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default().to_owned(),
                entry["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    entries.reverse();
    assert_eq!(
        entries,
        [
            ("contact_method.add".into(), "ana@example.com".into()),
            ("contact_method.add".into(), "ana@example.com".into()),
            ("notification_rule.add".into(), "ana@example.com".into()),
            ("notification_rule.add".into(), "ana@example.com".into()),
            ("contact_method.remove".into(), "admin-bot".into()),
            ("contact_method.test".into(), "ana@example.com".into()),
            ("notification_rule.remove".into(), "ana@example.com".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_and_the_limit() {
    let query = Query::start().await;
    let ana = query.sign_in("ana", false).await;
    let me = As::Person(&ana);
    let methods = "/users/me/contact-methods";

    for (body, field, words) in [
        (json!({"kind": "pigeon", "address": "roof"}), "kind", "slack, email, sms, voice or webhook"),
        (json!({"kind": "x".repeat(21), "address": "roof"}), "kind", "the limit is 20"),
        (json!({"kind": "sms", "address": "4155550123"}), "address", "E.164"),
        (json!({"kind": "sms", "address": "+1234567890123456"}), "address", "at most 15 digits"),
        (json!({"kind": "voice", "address": ""}), "address", "is empty"),
        (json!({"kind": "email", "address": format!("{}@example.com", "a".repeat(400))}), "address", "at most 320"),
        (json!({"kind": "email", "address": "not-an-address"}), "address", "not an e-mail address"),
        (json!({"kind": "slack", "address": "@ana"}), "address", "Slack member id"),
        (json!({"kind": "webhook", "address": "http://pager.example.com/hook"}), "address", "https URL"),
        (
            json!({"kind": "webhook", "address": format!("https://pager.example.com/{}", "a".repeat(2048))}),
            "address",
            "at most 2048",
        ),
        (json!({"kind": "email", "address": "ana@example.com", "label": "l".repeat(101)}), "label", "the limit is 100"),
    ] {
        let message = query.refused(400, "POST", methods, me, Some(body.clone())).await;
        assert!(message.starts_with(field) && message.contains(words), "{body}: {message}");
    }
    // Unknown fields are refused by name.
    let message = query
        .refused(
            400,
            "POST",
            methods,
            me,
            Some(json!({"kind": "email", "address": "ana@example.com", "verified": true})),
        )
        .await;
    assert!(message.contains("verified"), "{message}");

    // Ten methods, then 409 naming the limit.
    let mut ids = Vec::new();
    for index in 0..10 {
        let body = json!({"kind": "sms", "address": format!("+1415555{index:04}")});
        let (status, method) = query.send("POST", methods, me, Some(body)).await;
        assert_eq!(status, 201, "{method}");
        ids.push(method["id"].as_str().expect("an id").to_owned());
    }
    let message =
        query.refused(409, "POST", methods, me, Some(json!({"kind": "email", "address": "ana@example.com"}))).await;
    assert!(message.contains("maximum of 10 contact methods"), "{message}");
    let message =
        query.refused(409, "POST", methods, me, Some(json!({"kind": "sms", "address": "+14155550000"}))).await;
    assert!(message.contains("maximum of 10") || message.contains("already"), "{message}");

    let rules = "/users/me/notification-rules";
    for (body, field, words) in [
        (json!({"contact_method_id": ids[0], "urgency": "urgent", "delay_minutes": 0}), "urgency", "high or low"),
        (
            json!({"contact_method_id": ids[0], "urgency": "high", "delay_minutes": 121}),
            "delay_minutes",
            "between 0 and 120",
        ),
        (
            json!({"contact_method_id": ids[0], "urgency": "high", "delay_minutes": -1}),
            "delay_minutes",
            "between 0 and 120",
        ),
        (
            json!({"contact_method_id": Uuid::now_v7(), "urgency": "high", "delay_minutes": 0}),
            "contact_method_id",
            "no contact method",
        ),
    ] {
        let message = query.refused(400, "POST", rules, me, Some(body.clone())).await;
        assert!(message.starts_with(field) && message.contains(words), "{body}: {message}");
    }
    let message = query
        .refused(
            400,
            "POST",
            rules,
            me,
            Some(json!({"contact_method_id": "not-a-uuid", "urgency": "high", "delay_minutes": 0})),
        )
        .await;
    assert!(message.contains("contact_method_id"), "{message}");

    // Twenty rules, then 409; the same rule twice is 409 too.
    let mut added = 0;
    'methods: for id in &ids {
        for delay in [0, 5] {
            if added == 20 {
                break 'methods;
            }
            let body = json!({"contact_method_id": id, "urgency": "high", "delay_minutes": delay});
            let (status, rule) = query.send("POST", rules, me, Some(body)).await;
            assert_eq!(status, 201, "{rule}");
            added += 1;
        }
    }
    let body = json!({"contact_method_id": ids[0], "urgency": "low", "delay_minutes": 0});
    let message = query.refused(409, "POST", rules, me, Some(body)).await;
    assert!(message.contains("maximum of 20 notification rules"), "{message}");
    let body = json!({"contact_method_id": ids[0], "urgency": "high", "delay_minutes": 0});
    query.refused(409, "POST", rules, me, Some(body)).await;

    // Malformed ids in the path are 400s naming the id.
    let message = query.refused(400, "DELETE", "/users/me/contact-methods/123", me, None).await;
    assert!(message.starts_with("id `123`"), "{message}");
    let message = query.refused(400, "DELETE", "/users/me/notification-rules/abc", me, None).await;
    assert!(message.starts_with("id `abc`"), "{message}");
    let message = query.refused(400, "GET", "/users/not%20a%20user/contact-methods", As::Token(ADMIN), None).await;
    assert!(message.starts_with("user must be"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_method_pages_nobody_until_it_is_turned_on_again() {
    let query = Query::start().await;
    let ana = query.sign_in("ana", false).await;
    let bo = query.sign_in("bo", false).await;
    let body = json!({"kind": "sms", "address": "+14155550123", "label": "work phone"});
    let (status, sms) = query.send("POST", "/users/me/contact-methods", As::Person(&ana), Some(body)).await;
    assert_eq!(status, 201, "{sms}");
    let sms_path = format!("/users/me/contact-methods/{}", sms["id"].as_str().expect("an id"));
    let rule = json!({"contact_method_id": sms["id"], "urgency": "high", "delay_minutes": 0});
    assert_eq!(query.send("POST", "/users/me/notification-rules", As::Person(&ana), Some(rule)).await.0, 201);
    let paged_through = async || {
        let mut conn = query.db.connection().await;
        let rules = contacts::page_rules(&mut conn, &[ana.user_id], PageUrgency::High).await.expect("page_rules");
        rules.into_iter().map(|rule| rule.contact_method_id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(paged_through().await, [sms["id"].as_str().unwrap_or_default()]);

    // The phone stays at home this week: turned off, its rule kept but no page goes through it.
    let (status, off) = query.send("PATCH", &sms_path, As::Person(&ana), Some(json!({"disabled": true}))).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!((&off["disabled"], &off["label"]), (&json!(true), &json!("work phone")));
    assert!(paged_through().await.is_empty(), "a disabled method is paged through");
    let (_, rules) = query.send("GET", "/users/me/notification-rules", As::Person(&ana), None).await;
    assert_eq!(rules["items"].as_array().map(Vec::len), Some(1), "the rule stays: {rules}");

    // Back on, relabelled; nobody else may, and the label keeps its limit.
    let on = json!({"disabled": false, "label": "own phone"});
    let (status, on) = query.send("PATCH", &sms_path, As::Person(&ana), Some(on)).await;
    assert_eq!(status, 200, "{on}");
    assert_eq!((&on["disabled"], &on["label"]), (&json!(false), &json!("own phone")));
    assert_eq!(paged_through().await.len(), 1);
    let anas = format!("/users/ana@example.com/contact-methods/{}", sms["id"].as_str().unwrap_or_default());
    query.refused(403, "PATCH", &anas, As::Person(&bo), Some(json!({"disabled": true}))).await;
    let long = Some(json!({"label": "x".repeat(101)}));
    assert_eq!(
        query.refused(400, "PATCH", &sms_path, As::Person(&ana), long).await,
        "label is 101 bytes; the limit is 100"
    );
    let unknown = format!("/users/me/contact-methods/{}", Uuid::now_v7());
    query.refused(404, "PATCH", &unknown, As::Person(&ana), Some(json!({"disabled": true}))).await;
    let unknown_field = Some(json!({"address": "+14155550199"}));
    query.refused(400, "PATCH", &sms_path, As::Person(&ana), unknown_field).await;
    assert_eq!(paged_through().await.len(), 1, "nothing refused changed anything");

    let (_, audit) = query.send("GET", "/audit-log?limit=2", As::Token(ADMIN), None).await;
    let changes: Vec<(&Value, &Value, &Value)> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| (&entry["action"], &entry["actor"], &entry["details"]["disabled"]))
        .collect();
    let update = json!("contact_method.update");
    let by_ana = json!("ana@example.com");
    assert_eq!(changes, [(&update, &by_ana, &json!(false)), (&update, &by_ana, &json!(true))]);
}
