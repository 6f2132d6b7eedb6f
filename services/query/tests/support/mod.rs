//! What query's API tests share: query on a database of its own, requests with a token or in a
//! person's session, and people made as their first sign-in makes them.

#![allow(dead_code, reason = "each test binary uses its own part of what is shared")]

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::roles::DefaultRole;
use tocsin_query::Application;
use tocsin_query::config::{Config, SignInSettings};
use tocsin_query::sign_in::access::sha256;
use tocsin_runtime::Secret;
use tocsin_runtime::auth::Tokens;
use tocsin_storage::people::{self, NewSession, SignedInIdentity};
use tocsin_testkit::{TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const READER: &str = "reader-token-0123456789";
pub const ADMIN: &str = "admin-token-0123456789";

const TOKENS_FILE: &str = "
tokens:
  - {name: wallboard, scopes: [read], token: reader-token-0123456789}
  - {name: admin, scopes: [admin], token: admin-token-0123456789}
";

/// Sign-in on, with sessions made in the database as a sign-in makes them ([`Query::sign_in`]): the
/// provider is only asked at a sign-in, which these tests never make (tests/sign_in.rs does).
pub fn sign_in_without_provider() -> SignInSettings {
    SignInSettings {
        issuer_url: "http://127.0.0.1:9/unused".into(),
        client_id: "tocsin-test".into(),
        client_secret: Secret::new("tocsin-test-client-secret-0123456789"),
        public_url: url::Url::parse("http://127.0.0.1:9").expect("a URL"),
        session_lifetime: Duration::from_secs(3600),
        default_role: DefaultRole::Automatic,
    }
}

/// A person's session: its cookie and its CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub struct Query {
    pub url: String,
    pub db: TestDatabase,
    _redis: TestRedis,
    shutdown: CancellationToken,
    pub http: reqwest::Client,
}

impl Drop for Query {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Query {
    /// query on a database of its own, with the teams `payments` (owning checkout-api) and
    /// `search` (owning search-api); teams come with the catalogue.
    pub async fn start() -> Query {
        Query::start_with(false).await
    }

    /// With sign-in on, so that people can be let in by their session ([`Query::sign_in`]).
    pub async fn start_with(sign_in: bool) -> Query {
        let db = TestDatabase::new().await;
        let redis = TestRedis::new();
        let shutdown = CancellationToken::new();
        let tokens = Tokens::from_yaml(TOKENS_FILE).expect("Tokens::from_yaml");
        let mut config = Config::for_tests(&db.url, &redis.url, &redis.prefix, tokens);
        if sign_in {
            config.sign_in = Some(sign_in_without_provider());
        }
        let app = Application::build(config, shutdown.clone()).await.expect("building query");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let query = Query { url, db, _redis: redis, shutdown, http: reqwest::Client::new() };
        for (service, team) in [("checkout-api", "payments"), ("search-api", "search")] {
            let (status, body) =
                query.send("PUT", &format!("/services/{service}"), ADMIN, Some(json!({"team": team}))).await;
            assert_eq!(status, 201, "giving {service} to {team}: {body}");
        }
        query
    }

    /// A request with a bearer token: (status, body).
    pub async fn send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The error message of a refusal with `status`.
    pub async fn refused(&self, status: u16, method: &str, path: &str, token: &str, body: Option<Value>) -> String {
        let (answered, body) = self.send(method, path, token, body).await;
        assert_eq!(answered, status, "{method} {path}: {body}");
        body["error"]["message"].as_str().unwrap_or_default().to_owned()
    }

    /// A user, as their first sign-in makes them.
    pub async fn person(&self, name: &str, email: &str) -> Uuid {
        let mut conn = self.db.connection().await;
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: email, name, email: Some(email) };
        people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user").id
    }

    /// `login@example.com` signed in, with a session of their own (sign-in must be on).
    pub async fn sign_in(&self, login: &str) -> Session {
        let email = format!("{login}@example.com");
        let user = self.person(login, &email).await;
        let cookie = format!("session-of-{login}-{}", Uuid::new_v4());
        let csrf = format!("csrf-of-{login}-{}", Uuid::new_v4());
        let session = NewSession {
            id_sha256: &sha256(&cookie),
            user_id: user,
            csrf_token: &csrf,
            id_token: None,
            expires_at: OffsetDateTime::now_utc() + Duration::from_secs(3600),
        };
        people::create_session(&mut self.db.connection().await, &session).await.expect("create_session");
        Session { cookie, csrf }
    }

    /// A request in a person's session: (status, body).
    pub async fn send_as(&self, method: &str, path: &str, session: &Session, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("cookie", format!("tocsin_session={}", session.cookie))
            .header("x-csrf-token", &session.csrf)
            .json(&body)
            .send()
            .await
            .expect("sending the request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Gives `login@example.com` `role` in `team`, as an admin does.
    pub async fn make_member(&self, team: &str, login: &str, role: &str) {
        let path = format!("/teams/{team}/members/{login}@example.com");
        let (status, body) = self.send("PUT", &path, ADMIN, Some(json!({"role": role}))).await;
        assert!(status == 200 || status == 201, "making {login} a {role} of {team}: {body}");
    }
}
