//! Sign-in with OpenID Connect against a real provider: panva's certified `oidc-provider`
//! (`scripts/oidc-provider/`, installed by `scripts/test-tools.sh`), started per test on a free
//! port, with query and incident-core running on a database and a Redis prefix of the test's own.
//!
//! The browser is reqwest: it follows the provider's redirects, fills in the provider's own login
//! form, and carries tocsin's cookies as a browser would. What is checked: the whole sign-in, the
//! signed-in person as the actor of an action, CSRF, sign-out here and at the provider, expired and
//! revoked sessions, forged and replayed callbacks, mixed-up attempts, and, on the ID tokens the
//! provider issues, a wrong nonce, another issuer and a key the provider rotated out. Without an
//! issuer configured, there is no `/auth` and tokens work as they always did.
//!
//! Teams and roles too: who may act on a team's incidents (its responders and managers, admins),
//! who may change its members (its managers, admins), the last manager and the last admin kept,
//! the audit log of it all, the default role before anyone is a member, and machine tokens judged
//! by their scopes as before.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::AlertReceived;
use tocsin_domain::roles::{DefaultRole, Role};
use tocsin_domain::webhook::WebhookPayload;
use tocsin_incident_core::incidents::{IntakeSettings, apply_alerts};
use tocsin_query::config::SignInSettings;
use tocsin_query::sign_in::oidc::{Oidc, OidcError};
use tocsin_runtime::Secret;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_testkit::{TestDatabase, TestRedis, fixture, free_port};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;

const CLIENT_ID: &str = "tocsin-test";
const CLIENT_SECRET: &str = "tocsin-test-client-secret-0123456789";
const MACHINE_TOKEN: &str = "ops-bot-token-0123456789";
const ADMIN_TOKEN: &str = "admin-token-0123456789";
const TOKENS: &str = "
tokens:
  - {name: ops-bot, scopes: [read, act], token: ops-bot-token-0123456789}
  - {name: admin-bot, scopes: [admin], token: admin-token-0123456789}
";
const ACCOUNTS: &str = r#"[
  {"login": "alice", "password": "alice-password", "name": "Alice Liddell", "email": "alice@example.com"},
  {"login": "bob", "password": "bob-password", "name": "Bob Dobbs", "email": "bob@example.com"},
  {"login": "carol", "password": "carol-password", "name": "Carol Danvers", "email": "carol@example.com"},
  {"login": "dave", "password": "dave-password", "name": "Dave Lister", "email": "dave@example.com"}
]"#;

/// The provider's folder: `scripts/oidc-provider`, with its `node_modules` from `npm ci`.
fn provider_folder() -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oidc-provider");
    assert!(
        folder.join("node_modules/oidc-provider/package.json").exists(),
        "oidc-provider is not installed in {}: run scripts/test-tools.sh (npm ci there)",
        folder.display()
    );
    folder
}

/// One `oidc-provider` process, restartable on its port with other signing keys.
struct Provider {
    port: u16,
    folder: PathBuf,
    accounts: PathBuf,
    redirect_uri: String,
    post_logout_uri: String,
    child: Option<Child>,
}

impl Provider {
    async fn start(redirect_uri: &str, post_logout_uri: &str, jwks: &Path) -> Provider {
        let accounts = temp_file("accounts.json");
        std::fs::write(&accounts, ACCOUNTS).expect("write");
        let mut provider = Provider {
            port: free_port(),
            folder: provider_folder(),
            accounts,
            redirect_uri: redirect_uri.into(),
            post_logout_uri: post_logout_uri.into(),
            child: None,
        };
        provider.run(jwks).await;
        provider
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self, jwks: &Path) {
        let node = std::env::var_os("TOCSIN_TEST_NODE").unwrap_or_else(|| "node".into());
        // Its warnings (the in-memory adapter, the Node.js version) go to a file, shown if it fails.
        let log = temp_file("provider.log");
        let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut child = Command::new(node)
            .arg("provider.js")
            .current_dir(&self.folder)
            .env("OIDC_PROVIDER_PORT", self.port.to_string())
            .env("OIDC_PROVIDER_CLIENT_ID", CLIENT_ID)
            .env("OIDC_PROVIDER_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_PROVIDER_REDIRECT_URIS", &self.redirect_uri)
            .env("OIDC_PROVIDER_POST_LOGOUT_REDIRECT_URIS", &self.post_logout_uri)
            .env("OIDC_PROVIDER_ACCOUNTS", &self.accounts)
            .env("OIDC_PROVIDER_JWKS", jwks)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("starting node scripts/oidc-provider/provider.js");
        let Some(stdout) = child.stdout.take() else { panic!("the provider's output is not piped") };
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("oidc-provider listening on") {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let errors = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        assert!(listening, "oidc-provider did not start on port {} within 30 s: {errors}", self.port);
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    /// Stops the provider and starts it again on the same port with the keys of `jwks`: a key
    /// rotation, as far as a relying party can tell.
    async fn restart(&mut self, jwks: &Path) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        self.run(jwks).await;
    }
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tocsin-sign-in-{}-{name}", Uuid::new_v4().simple()))
}

/// A browser at the provider: follows nothing by itself and keeps the provider's cookies in a jar.
/// tocsin's cookies are carried by hand ([`Stack`]): they are `Secure`, which a cookie jar keeps off
/// plain http.
struct Browser {
    provider: reqwest::Client,
}

impl Browser {
    fn new() -> Browser {
        let provider = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("build");
        Browser { provider }
    }

    /// Signs in at the provider, from its authorization URL to the callback URL it sends the
    /// browser to (not followed): through the provider's own login page and form.
    async fn provider_login(&self, authorize: &str, login: &str, password: &str, callback_prefix: &str) -> Url {
        let mut url = Url::parse(authorize).expect("parse");
        let mut submitted = false;
        for _ in 0..20 {
            if url.as_str().starts_with(callback_prefix) {
                return url;
            }
            let response = self.provider.get(url.clone()).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = response.status().as_u16();
            if let Some(location) = location(&response) {
                url = url.join(&location).expect("join");
                continue;
            }
            let page = response.text().await.unwrap_or_default();
            assert_eq!(status, 200, "{url}: {page}");
            assert!(!submitted, "the provider showed a page again after the login: {page}");
            // The provider's login page: <form method="post" action="/interaction/<uid>/login">.
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no form on the provider's page: {page}"));
            assert!(page.contains("name=\"login\"") && page.contains("name=\"password\""), "{page}");
            let action = url.join(action).expect("join");
            let response = self
                .provider
                .post(action.clone())
                .form(&[("login", login), ("password", password)])
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {action}: {e}"));
            let Some(next) = location(&response) else {
                panic!("the login form answered {} without a redirect", response.status());
            };
            url = action.join(&next).expect("join");
            submitted = true;
        }
        panic!("the provider never sent the browser back to {callback_prefix}")
    }
}

fn location(response: &reqwest::Response) -> Option<String> {
    response.headers().get("location").and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// The value of `name` in a response's `Set-Cookie` headers, with the attributes it was set with.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all("set-cookie").iter().filter_map(|value| value.to_str().ok()).find_map(|value| {
        let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
        let (key, cookie) = pair.split_once('=')?;
        (key.trim() == name).then(|| (cookie.to_owned(), attributes.to_owned()))
    })
}

/// incident-core and query, signing in at `provider`.
struct Stack {
    url: String,
    db: TestDatabase,
    _redis: TestRedis,
    shutdown: CancellationToken,
    http: reqwest::Client,
    jwks: PathBuf,
    provider: Provider,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_file(&self.jwks);
        let _ = std::fs::remove_file(&self.provider.accounts);
    }
}

struct Session {
    cookie: String,
    csrf: String,
}

/// Who sends a request.
#[derive(Clone, Copy)]
enum As<'a> {
    Person(&'a Session),
    Token(&'a str),
}

impl Stack {
    async fn start() -> Stack {
        Stack::start_with(DefaultRole::Automatic).await
    }

    /// With `default_role` as `SIGN_IN_DEFAULT_ROLE`.
    async fn start_with(default_role: DefaultRole) -> Stack {
        let db = TestDatabase::new().await;
        let redis = TestRedis::new();
        let shutdown = CancellationToken::new();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let jwks = temp_file("jwks.json");
        let provider = Provider::start(&format!("{url}/auth/callback"), &format!("{url}/"), &jwks).await;

        let core = tocsin_incident_core::Application::build(
            tocsin_incident_core::config::Config {
                database_pool_size: 2,
                batch_size: 100,
                apply_shards: 1,
                metrics_refresh_interval: Duration::from_secs(1),
                catalogue_refresh: Duration::from_secs(10),
                ..tocsin_incident_core::config::Config::for_tests(&db.url, &redis.url, &redis.prefix)
            },
            shutdown.clone(),
        )
        .await
        .expect("incident-core");
        tokio::spawn(core.run_until_stopped());

        let query = tocsin_query::Application::build(
            tocsin_query::config::Config {
                listen_addr: format!("127.0.0.1:{port}"),
                database_pool_size: 4,
                action_timeout: Duration::from_secs(10),
                sign_in: Some(SignInSettings { default_role, ..settings(&provider.issuer(), &url) }),
                ..tocsin_query::config::Config::for_tests(
                    &db.url,
                    &redis.url,
                    &redis.prefix,
                    Tokens::from_yaml(TOKENS).expect("the test's tokens"),
                )
            },
            shutdown.clone(),
        )
        .await
        .expect("query");
        tokio::spawn(query.run_until_stopped());
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("build");
        Stack { url, db, _redis: redis, shutdown, http, jwks, provider }
    }

    fn callback_prefix(&self) -> String {
        format!("{}/auth/callback", self.url)
    }

    /// `GET /auth/login`: the provider's authorization URL and the browser's sign-in cookie.
    async fn start_login(&self, browser_cookie: Option<&str>) -> (String, String) {
        let mut request = self.http.get(format!("{}/auth/login?return_to=/incidents", self.url));
        if let Some(cookie) = browser_cookie {
            request = request.header("cookie", format!("tocsin_sign_in={cookie}"));
        }
        let response = request.send().await.expect("GET /auth/login");
        assert_eq!(response.status().as_u16(), 303, "GET /auth/login");
        let authorize = location(&response).unwrap_or_else(|| panic!("no Location"));
        let (cookie, attributes) =
            set_cookie(&response, "tocsin_sign_in").unwrap_or_else(|| panic!("no sign-in cookie"));
        assert!(attributes.contains("HttpOnly") && attributes.contains("Secure"), "{attributes}");
        (authorize, cookie)
    }

    /// `GET /auth/callback` as the provider sent the browser there.
    async fn callback(&self, callback: &Url, browser_cookie: &str) -> reqwest::Response {
        self.http
            .get(callback.clone())
            .header("cookie", format!("tocsin_sign_in={browser_cookie}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {callback}: {e}"))
    }

    /// The whole sign-in of `login`, through the provider's login page.
    async fn sign_in(&self, browser: &Browser, login: &str, password: &str) -> Session {
        let (authorize, browser_cookie) = self.start_login(None).await;
        let callback = browser.provider_login(&authorize, login, password, &self.callback_prefix()).await;
        let response = self.callback(&callback, &browser_cookie).await;
        assert_eq!(response.status().as_u16(), 303, "the callback: {:?}", response.text().await);
        assert_eq!(location(&response).as_deref(), Some("/incidents"), "back where the sign-in started");
        let (cookie, attributes) = set_cookie(&response, "tocsin_session").unwrap_or_else(|| panic!("no session"));
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
            assert!(attributes.contains(attribute), "the session cookie lacks {attribute}: {attributes}");
        }
        let me = self.get("/auth/me", Some(&cookie)).await;
        assert_eq!(me.0, 200, "{me:?}");
        let csrf = me.1["csrf_token"].as_str().unwrap_or_else(|| panic!("no csrf_token: {me:?}")).to_owned();
        Session { cookie, csrf }
    }

    async fn get(&self, path: &str, session: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(cookie) = session {
            request = request.header("cookie", format!("tocsin_session={cookie}"));
        }
        answer(request).await
    }

    async fn post(&self, path: &str, session: Option<&str>, csrf: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(cookie) = session {
            request = request.header("cookie", format!("tocsin_session={cookie}"));
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        answer(request).await
    }

    /// An open incident, recorded as incident-core would from a captured webhook.
    async fn incident(&self) -> Uuid {
        let payload: WebhookPayload =
            serde_json::from_str(&fixture("firing-single.json")).expect("the fixture is a webhook");
        self.open(payload).await
    }

    /// An open incident of `service`, owned by `team` (its alert's `team` label).
    async fn incident_of(&self, service: &str, team: &str) -> Uuid {
        let mut payload: Value = serde_json::from_str(&fixture("firing-single.json")).expect("the fixture is JSON");
        let alert = &mut payload["alerts"][0];
        alert["labels"]["service"] = json!(service);
        alert["labels"]["team"] = json!(team);
        alert["fingerprint"] = json!(format!("{service}-{team}"));
        self.open(serde_json::from_value(payload).expect("the fixture is a webhook")).await
    }

    /// The incident the webhook's first alert opens, as incident-core would record it.
    async fn open(&self, payload: WebhookPayload) -> Uuid {
        use diesel_async::AsyncConnection;
        let now = OffsetDateTime::now_utc();
        let report: AlertReceived =
            AlertReceived::from_webhook(payload, now).into_iter().next().unwrap_or_else(|| panic!("no alert"));
        let mut conn = self.db.connection().await;
        let outcome = conn
            .transaction(async |conn| apply_alerts(conn, &[&report], &[], &IntakeSettings::default(), now).await)
            .await
            .expect("applying the alert");
        outcome.outcomes[0].incident_id.unwrap_or_else(|| panic!("no incident opened"))
    }

    /// `method path` as `who`: a signed-in person with their CSRF token, or a bearer token.
    /// The roles the authorization tests start from, given by the admin token: alice responds for
    /// payments, bob views it, carol responds for web (dave is in no team).
    async fn give_roles(&self) {
        for (team, user, role) in [
            ("payments", "alice@example.com", "responder"),
            ("payments", "bob@example.com", "viewer"),
            ("web", "carol@example.com", "responder"),
        ] {
            let path = format!("/teams/{team}/members/{user}");
            let body = Some(json!({"role": role}));
            let (status, answer) = self.call(Method::PUT, &path, As::Token(ADMIN_TOKEN), body).await;
            assert_eq!(status, 201, "{path}: {answer}");
        }
    }

    async fn make_admin(&self, email: &str) {
        let path = format!("/users/{email}/admin");
        let body = Some(json!({"admin": true}));
        let (status, promoted) = self.call(Method::PUT, &path, As::Token(ADMIN_TOKEN), body).await;
        assert_eq!(status, 200, "{promoted}");
    }

    async fn call(&self, method: reqwest::Method, path: &str, who: As<'_>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        request = match who {
            As::Person(session) => request
                .header("cookie", format!("tocsin_session={}", session.cookie))
                .header("x-csrf-token", &session.csrf),
            As::Token(token) => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    async fn sql(&self, statement: &str) {
        let mut conn = self.db.connection().await;
        diesel_async::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn settings(issuer: &str, public_url: &str) -> SignInSettings {
    SignInSettings {
        issuer_url: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        public_url: Url::parse(public_url).expect("parse"),
        session_lifetime: Duration::from_secs(12 * 3600),
        default_role: DefaultRole::Automatic,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_acts_as_themselves_and_signs_out_here_and_at_the_provider() {
    let stack = Stack::start().await;
    let incident = stack.incident().await;
    assert_eq!(stack.get("/auth/me", None).await.0, 401, "nobody is signed in yet");
    assert_eq!(stack.get("/auth/status", None).await, (200, json!({"provider": true})), "the dashboard's question");

    let browser = Browser::new();
    let session = stack.sign_in(&browser, "alice", "alice-password").await;
    let (status, me) = stack.get("/auth/me", Some(&session.cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["name"], "Alice Liddell");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["is_admin"], false);
    let (status, page) = stack.get("/auth/status", Some(&session.cookie)).await;
    assert_eq!(
        (status, &page["provider"], &page["user"], &page["csrf_token"]),
        (200, &json!(true), &me["user"], &me["csrf_token"])
    );

    // Reading needs no CSRF token; acting does, and the body's actor is not believed.
    assert_eq!(stack.get(&format!("/incidents/{incident}"), Some(&session.cookie)).await.0, 200);
    let acknowledge = format!("/incidents/{incident}/acknowledge");
    let forged = json!({"actor": "mallory@example.com"});
    let (status, refused) = stack.post(&acknowledge, Some(&session.cookie), None, forged.clone()).await;
    assert_eq!((status, &refused["error"]["code"]), (403, &json!("forbidden")), "{refused}");
    let (status, _) = stack.post(&acknowledge, Some(&session.cookie), Some("not-the-token"), forged.clone()).await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let (status, acknowledged) = stack.post(&acknowledge, Some(&session.cookie), Some(&session.csrf), forged).await;
    assert_eq!(status, 200, "{acknowledged}");
    assert_eq!(acknowledged["status"], "acknowledged");
    assert_eq!(acknowledged["acknowledged_by"], "alice@example.com");
    let (_, timeline) = stack.get(&format!("/incidents/{incident}/timeline"), Some(&session.cookie)).await;
    let actors: Vec<&str> =
        timeline["items"].as_array().into_iter().flatten().filter_map(|e| e["actor"].as_str()).collect();
    assert!(actors.contains(&"alice@example.com"), "the timeline names the signed-in person: {timeline}");
    assert!(!actors.contains(&"mallory@example.com"), "{timeline}");

    // A machine token needs no CSRF token, and its body's actor stays a label.
    let resolve = format!("/incidents/{incident}/resolve");
    let response = stack
        .http
        .post(format!("{}{resolve}", stack.url))
        .bearer_auth(MACHINE_TOKEN)
        .json(&json!({"actor": "deploy-bot"}));
    let (status, resolved) = answer(response).await;
    assert_eq!((status, &resolved["resolved_by"]), (200, &json!("deploy-bot")), "{resolved}");

    // The same person signing in again is the same user.
    let again = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let (_, me_again) = stack.get("/auth/me", Some(&again.cookie)).await;
    assert_eq!(me_again["user"]["id"], me["user"]["id"]);

    // Sign-out needs the CSRF token too, ends the session here, and says where the provider's is ended.
    assert_eq!(stack.post("/auth/logout", Some(&session.cookie), None, json!({})).await.0, 403);
    let (status, logged_out) = stack.post("/auth/logout", Some(&session.cookie), Some(&session.csrf), json!({})).await;
    assert_eq!(status, 200, "{logged_out}");
    assert_eq!(stack.get("/auth/me", Some(&session.cookie)).await.0, 401, "a revoked session");
    assert_eq!(stack.get("/auth/status", Some(&session.cookie)).await, (200, json!({"provider": true})));
    let reopen = format!("/incidents/{incident}/reopen");
    assert_eq!(stack.post(&reopen, Some(&session.cookie), Some(&session.csrf), json!({})).await.0, 401);
    assert_eq!(stack.get(&format!("/incidents/{incident}"), Some(&session.cookie)).await.0, 401);
    assert_eq!(stack.get("/auth/me", Some(&again.cookie)).await.0, 200, "another session lives on");

    let logout_url = logged_out["provider_logout_url"].as_str().unwrap_or_else(|| panic!("{logged_out}"));
    let logout_url = Url::parse(logout_url).expect("parse");
    assert!(logout_url.as_str().starts_with(&format!("{}/session/end", stack.provider.issuer())), "{logout_url}");
    let params: std::collections::HashMap<_, _> = logout_url.query_pairs().into_owned().collect();
    assert_eq!(params.get("post_logout_redirect_uri"), Some(&format!("{}/", stack.url)));
    assert!(params.get("id_token_hint").is_some_and(|hint| hint.split('.').count() == 3), "{params:?}");
    // The provider takes the hint and the redirect, and asks the person to confirm.
    let page = browser.provider.get(logout_url.clone()).send().await.expect("send");
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap_or_default();
    let xsrf = page
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no logout form: {page}"));
    let confirm = logout_url.join("/session/end/confirm").expect("join");
    let confirmed =
        browser.provider.post(confirm).form(&[("xsrf", xsrf), ("logout", "yes")]).send().await.expect("send");
    assert_eq!(location(&confirmed), Some(format!("{}/", stack.url)), "back to the dashboard, signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_unknown_sessions_are_401_and_a_bearer_token_is_judged_alone() {
    let stack = Stack::start().await;
    let incident = stack.incident().await;
    let session = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    assert_eq!(stack.get("/incidents", Some(&session.cookie)).await.0, 200);
    assert_eq!(stack.get("/incidents", Some("made-up-session-value")).await.0, 401);

    stack.sql("UPDATE sessions SET expires_at = now() - interval '1 second'").await;
    let (status, expired) = stack.get("/incidents", Some(&session.cookie)).await;
    assert_eq!((status, &expired["error"]["code"]), (401, &json!("unauthorized")), "{expired}");
    let acknowledge = format!("/incidents/{incident}/acknowledge");
    assert_eq!(stack.post(&acknowledge, Some(&session.cookie), Some(&session.csrf), json!({})).await.0, 401);
    assert_eq!(stack.get("/auth/me", Some(&session.cookie)).await.0, 401);

    // A bearer token is judged alone, whatever cookie comes with it.
    let with_both = stack
        .http
        .get(format!("{}/incidents", stack.url))
        .bearer_auth("not-a-token-0123456789")
        .header("cookie", format!("tocsin_session={}", session.cookie));
    assert_eq!(answer(with_both).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_mixed_up_callbacks_are_refused() {
    let stack = Stack::start().await;
    let browser = Browser::new();

    // A forged state: no attempt has it.
    let (authorize, browser_cookie) = stack.start_login(None).await;
    let callback = browser.provider_login(&authorize, "alice", "alice-password", &stack.callback_prefix()).await;
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    forged.query_pairs_mut().clear();
    for (key, value) in &pairs {
        forged.query_pairs_mut().append_pair(key, if key == "state" { "forged-state" } else { value });
    }
    let response = stack.callback(&forged, &browser_cookie).await;
    assert_eq!(response.status().as_u16(), 400, "a forged state");
    assert!(set_cookie(&response, "tocsin_session").is_none());

    // Another browser's callback (the right state without the browser's cookie) takes nothing...
    let response = stack.callback(&callback, "another-browser").await;
    assert_eq!(response.status().as_u16(), 400, "a callback opened in another browser");
    // ...so the browser that started the sign-in still finishes it, once.
    let response = stack.callback(&callback, &browser_cookie).await;
    assert_eq!(response.status().as_u16(), 303, "{:?}", response.text().await);
    let response = stack.callback(&callback, &browser_cookie).await;
    assert_eq!(response.status().as_u16(), 400, "a replayed callback");
    assert!(set_cookie(&response, "tocsin_session").is_none());

    // The code of one attempt with the state of another: the attempt's PKCE verifier and nonce
    // are not the code's, and the provider refuses the exchange.
    let (first, cookie) = stack.start_login(None).await;
    let (second, same_cookie) = stack.start_login(Some(&cookie)).await;
    assert_eq!(cookie, same_cookie, "one browser, one sign-in cookie");
    let first = browser.provider_login(&first, "alice", "alice-password", &stack.callback_prefix()).await;
    let second = browser.provider_login(&second, "alice", "alice-password", &stack.callback_prefix()).await;
    let state_of = |url: &Url| url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
    let mut mixed = second.clone();
    mixed.query_pairs_mut().clear();
    for (key, value) in second.query_pairs() {
        let value = if key == "state" { state_of(&first).unwrap_or_default() } else { value.into_owned() };
        mixed.query_pairs_mut().append_pair(&key, &value);
    }
    let response = stack.callback(&mixed, &cookie).await;
    assert_eq!(response.status().as_u16(), 401, "{:?}", response.text().await);
    assert!(set_cookie(&stack.callback(&mixed, &cookie).await, "tocsin_session").is_none());

    // A local return path only.
    let outside = stack.get("/auth/login?return_to=//evil.example/", None).await;
    assert_eq!(outside.0, 400, "{outside:?}");

    // Each callback is counted by how it ended.
    let (_, metrics) = stack.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    for (outcome, count) in [("unknown_attempt", 4), ("signed_in", 1), ("refused", 1)] {
        let line = format!("tocsin_query_sign_ins_total{{outcome=\"{outcome}\"}} {count}");
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
    }
}

/// An ID token the provider issues to `oidc`'s client for a sign-in of alice.
async fn id_token(oidc: &Oidc, browser: &Browser, callback_prefix: &str) -> (String, String) {
    let request = oidc.authorization_request().await.expect("authorization_request");
    let callback = browser.provider_login(request.url.as_str(), "alice", "alice-password", callback_prefix).await;
    let code = callback.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap_or_default();
    let signed_in = oidc.finish(&code, &request.pkce_verifier, &request.nonce).await.expect("finish");
    assert_eq!(signed_in.identity.subject, "alice");
    (signed_in.id_token, request.nonce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_with_a_wrong_nonce_another_issuer_or_a_rotated_out_key_are_refused() {
    let mut stack = Stack::start().await;
    let prefix = stack.callback_prefix();
    // query signs someone in, and so holds the provider's first key.
    let before = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    assert_eq!(stack.get("/auth/me", Some(&before.cookie)).await.0, 200);
    let relying_party = settings(&stack.provider.issuer(), &stack.url);
    let oidc = Oidc::new(&relying_party).expect("new");
    let (token, nonce) = id_token(&oidc, &Browser::new(), &prefix).await;
    let identity = oidc.verify(&token, &nonce).await.expect("verify");
    assert_eq!((identity.issuer.as_str(), identity.name.as_str()), (stack.provider.issuer().as_str(), "Alice Liddell"));

    let wrong_nonce = oidc.verify(&token, "another-attempts-nonce").await;
    assert!(matches!(&wrong_nonce, Err(OidcError::InvalidIdToken(m)) if m.contains("nonce")), "{wrong_nonce:?}");

    // Another provider with the very same keys and client: only the issuer differs.
    let other = Provider::start(&format!("{}/auth/callback", stack.url), &format!("{}/", stack.url), &stack.jwks).await;
    let other_oidc = Oidc::new(&settings(&other.issuer(), &stack.url)).expect("new");
    let (foreign, foreign_nonce) = id_token(&other_oidc, &Browser::new(), &prefix).await;
    let refused = oidc.verify(&foreign, &foreign_nonce).await;
    assert!(matches!(&refused, Err(OidcError::InvalidIdToken(m)) if m.contains("issuer")), "{refused:?}");

    // The provider rotates its key. A token signed with the new key is taken after one fetch of
    // the keys; a token signed with the old key, which the provider no longer publishes, is not.
    let rotated = temp_file("jwks-rotated.json");
    stack.provider.restart(&rotated).await;
    let fresh = Oidc::new(&relying_party).expect("new");
    let (new_token, new_nonce) = id_token(&fresh, &Browser::new(), &prefix).await;
    let taken = oidc.verify(&new_token, &new_nonce).await;
    assert!(taken.is_ok(), "a token signed with the provider's new key: {taken:?}");
    // Refused without another fetch: the keys were fetched less than a minute ago.
    let old = oidc.verify(&token, &nonce).await;
    assert!(
        matches!(&old, Err(OidcError::InvalidIdToken(m)) if m.contains("does not publish")),
        "a token signed with the rotated-out key: {old:?}"
    );
    // Refused after a fetch too: the provider publishes only its new key.
    let old_elsewhere = fresh.verify(&token, &nonce).await;
    assert!(
        matches!(&old_elsewhere, Err(OidcError::InvalidIdToken(m)) if m.contains("No matching key")),
        "{old_elsewhere:?}"
    );

    // And query's own sign-in works across the rotation, fetching the new key itself.
    let session = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    assert_eq!(stack.get("/auth/me", Some(&session.cookie)).await.0, 200);
    let _ = std::fs::remove_file(&rotated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_issuer_there_is_no_sign_in_and_a_cookie_lets_nobody_in() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let shutdown = CancellationToken::new();
    let query = tocsin_query::Application::build(
        tocsin_query::config::Config::for_tests(
            &db.url,
            &redis.url,
            &redis.prefix,
            Tokens::single("ops-bot", &[Scope::Read, Scope::Act], MACHINE_TOKEN),
        ),
        shutdown.clone(),
    )
    .await
    .expect("query");
    let url = format!("http://127.0.0.1:{}", query.port());
    tokio::spawn(query.run_until_stopped());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("build");

    for path in ["/auth/login", "/auth/me", "/auth/callback?code=c&state=s"] {
        assert_eq!(answer(http.get(format!("{url}{path}"))).await.0, 404, "{path}");
    }
    // Every method, as JSON saying why (not the dashboard's 405 for a POST, which Schemathesis found).
    let (status, body) = answer(http.post(format!("{url}/auth/logout"))).await;
    assert!(
        status == 404
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("sign-in with an identity provider is off")),
        "{body}"
    );
    assert_eq!(answer(http.get(format!("{url}/auth/status"))).await, (200, json!({"provider": false})));
    let (status, body) =
        answer(http.get(format!("{url}/incidents")).header("cookie", "tocsin_session=anything-at-all")).await;
    assert_eq!(
        (status, &body["error"]["message"]),
        (401, &json!("missing bearer token: send `Authorization: Bearer <token>`"))
    );
    assert_eq!(answer(http.get(format!("{url}/incidents")).bearer_auth(MACHINE_TOKEN)).await.0, 200);
    shutdown.cancel();
}

/// The members of `team` in a `GET /teams/{team}` answer, as (e-mail address, role).
fn members_of(team: &Value) -> Vec<(String, String)> {
    team["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|member| {
            let field = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            (field(&member["user"]["email"]), field(&member["role"]))
        })
        .collect()
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responders_of_the_owning_team_act_and_its_viewers_and_other_teams_get_403_naming_the_team() {
    let stack = Stack::start().await;
    let checkout = stack.incident_of("checkout-api", "payments").await;
    let unowned = stack.incident().await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let carol = stack.sign_in(&Browser::new(), "carol", "carol-password").await;
    let dave = stack.sign_in(&Browser::new(), "dave", "dave-password").await;
    let admin = As::Token(ADMIN_TOKEN);
    let assign = |incident: Uuid| format!("/incidents/{incident}/assign");

    // Nobody is a member of any team yet: everyone who signs in acts, as before roles existed.
    let (status, assigned) =
        stack.call(Method::POST, &assign(checkout), As::Person(&dave), Some(json!({"assignee": "dave"}))).await;
    assert_eq!(status, 200, "{assigned}");

    stack.give_roles().await;

    // The team's viewer, a responder of another team and someone in no team are refused, by name.
    let acknowledge = format!("/incidents/{checkout}/acknowledge");
    for (who, held) in [
        (&bob, "you are a viewer there"),
        (&carol, "you are not a member of it"),
        (&dave, "you are not a member of it"),
    ] {
        let (status, refused) = stack.call(Method::POST, &acknowledge, As::Person(who), None).await;
        assert_eq!((status, &refused["error"]["code"]), (403, &json!("forbidden")), "{refused}");
        let message = error_message(&refused);
        assert!(
            message.contains("team `payments`") && message.contains("responder") && message.ends_with(held),
            "{message}"
        );
    }
    let by_body = json!({"incident_id": checkout, "action": "acknowledge"});
    assert_eq!(stack.call(Method::POST, "/resolve", As::Person(&bob), Some(by_body)).await.0, 403, "POST /resolve");

    // The team's responder acknowledges, as themselves.
    let (status, acknowledged) = stack.call(Method::POST, &acknowledge, As::Person(&alice), None).await;
    assert_eq!((status, &acknowledged["acknowledged_by"]), (200, &json!("alice@example.com")), "{acknowledged}");

    // An incident no team's member owns: a responder of any team acts on it, someone in no team not.
    let take = Some(json!({"assignee": "carol"}));
    assert_eq!(stack.call(Method::POST, &assign(unowned), As::Person(&carol), take).await.0, 200);
    let (status, refused) = stack.call(Method::POST, &assign(unowned), As::Person(&dave), Some(json!({}))).await;
    assert!(status == 403 && error_message(&refused).contains("team `unowned`"), "{refused}");

    // An admin acts on every team's incidents and reads the audit log; dave becomes one.
    assert_eq!(stack.call(Method::GET, "/audit-log", As::Person(&dave), None).await.0, 403);
    let promote = Some(json!({"admin": true}));
    let (status, promoted) = stack.call(Method::PUT, "/users/dave@example.com/admin", admin, promote).await;
    assert_eq!((status, &promoted["admin"]), (200, &json!(true)), "{promoted}");
    let resolve = format!("/incidents/{checkout}/resolve");
    let (status, resolved) = stack.call(Method::POST, &resolve, As::Person(&dave), None).await;
    assert_eq!((status, &resolved["resolved_by"]), (200, &json!("dave@example.com")), "{resolved}");
    assert_eq!(stack.call(Method::GET, "/audit-log", As::Person(&dave), None).await.0, 200);

    // Machine tokens keep their scopes: `act` acts on any team's incident, and manages no team.
    let reopen = format!("/incidents/{checkout}/reopen");
    let label = Some(json!({"actor": "deploy-bot"}));
    let (status, reopened) = stack.call(Method::POST, &reopen, As::Token(MACHINE_TOKEN), label).await;
    assert_eq!((status, &reopened["status"]), (200, &json!("open")), "{reopened}");
    let (status, refused) = stack
        .call(
            Method::PUT,
            "/teams/payments/members/bob@example.com",
            As::Token(MACHINE_TOKEN),
            Some(json!({"role": "manager"})),
        )
        .await;
    assert_eq!((status, &refused["error"]["code"]), (403, &json!("forbidden")), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_change_their_teams_members_in_the_audit_log_and_the_last_manager_and_admin_stay() {
    let stack = Stack::start().await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let carol = stack.sign_in(&Browser::new(), "carol", "carol-password").await;
    let admin = As::Token(ADMIN_TOKEN);
    let members = |team: &str, user: &str| format!("/teams/{team}/members/{user}");
    let role = |role: &str| Some(json!({ "role": role }));
    for (team, user) in [("payments", "alice@example.com"), ("web", "carol@example.com")] {
        assert_eq!(stack.call(Method::PUT, &members(team, user), admin, role("manager")).await.0, 201);
    }

    // A manager adds a member (named by e-mail address, in any case): it says who added them,
    // and the audit log has it.
    let (status, team) =
        stack.call(Method::PUT, &members("payments", "BOB@example.com"), As::Person(&alice), role("responder")).await;
    assert_eq!(status, 201, "{team}");
    assert_eq!(
        members_of(&team),
        [
            ("alice@example.com".to_owned(), "manager".to_owned()),
            ("bob@example.com".to_owned(), "responder".to_owned())
        ]
    );
    let added = team["members"].as_array().and_then(|members| members.get(1)).cloned().unwrap_or_default();
    assert_eq!(added["added_by"], "alice@example.com", "{team}");
    let again =
        stack.call(Method::PUT, &members("payments", "bob@example.com"), As::Person(&alice), role("responder")).await;
    assert_eq!(again.0, 200, "the same role again changes nothing: {again:?}");
    let (_, log) = stack.call(Method::GET, "/audit-log", admin, None).await;
    let newest = &log["items"][0];
    assert_eq!(
        (&newest["actor"], &newest["action"], &newest["subject"]),
        (&json!("alice@example.com"), &json!("team.member.set"), &json!("payments")),
        "{log}"
    );
    assert_eq!(
        (&newest["details"]["user"]["email"], &newest["details"]["role"], &newest["details"]["previous_role"]),
        (&json!("bob@example.com"), &json!("responder"), &Value::Null),
        "{log}"
    );

    // A manager of another team may not, nor a responder of this one, nor the manager without the
    // session's CSRF token.
    let (status, refused) =
        stack.call(Method::PUT, &members("payments", "carol@example.com"), As::Person(&carol), role("manager")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        error_message(&refused),
        "managing team `payments` needs the manager role in it, or admin; you are not a member of it"
    );
    let (status, refused) =
        stack.call(Method::DELETE, &members("payments", "alice@example.com"), As::Person(&bob), None).await;
    assert!(status == 403 && error_message(&refused).ends_with("you are a responder there"), "{refused}");
    let without_csrf = stack
        .http
        .put(format!("{}{}", stack.url, members("payments", "carol@example.com")))
        .header("cookie", format!("tocsin_session={}", alice.cookie))
        .json(&json!({"role": "viewer"}));
    assert_eq!(answer(without_csrf).await.0, 403);

    // The last manager is neither removed nor demoted by a manager, themselves included; an admin may.
    for (method, body) in [(Method::DELETE, None), (Method::PUT, role("responder"))] {
        let (status, refused) =
            stack.call(method, &members("payments", "alice@example.com"), As::Person(&alice), body).await;
        assert_eq!((status, &refused["error"]["code"]), (409, &json!("conflict")), "{refused}");
        assert!(error_message(&refused).contains("last manager of team `payments`"), "{refused}");
    }
    let (status, removed) = stack.call(Method::DELETE, &members("payments", "alice@example.com"), admin, None).await;
    assert_eq!(status, 204, "{removed}");
    let (status, team) = stack.call(Method::GET, "/teams/payments", As::Person(&carol), None).await;
    assert_eq!((status, members_of(&team)), (200, vec![("bob@example.com".to_owned(), "responder".to_owned())]));
    let (_, teams) = stack.call(Method::GET, "/teams", As::Person(&carol), None).await;
    let id = |index: usize| teams["items"][index]["id"].as_str().and_then(|id| id.parse::<Uuid>().ok());
    assert!(id(0).is_some() && id(0) != id(1), "each team's id, what a policy's team target names: {teams}");
    assert_eq!(team["id"].as_str(), teams["items"][0]["id"].as_str(), "the same id in the team's own answer");
    assert_eq!(
        teams["items"],
        json!([
            {"id": teams["items"][0]["id"], "slug": "payments", "name": "payments",
             "created_at": teams["items"][0]["created_at"], "members": 1, "managers": 0},
            {"id": teams["items"][1]["id"], "slug": "web", "name": "web",
             "created_at": teams["items"][1]["created_at"], "members": 1, "managers": 1},
        ])
    );

    // What is wrong is named: the role, the user, a person who never signed in, a team that is not.
    let (status, refused) = stack.call(Method::PUT, &members("web", "bob@example.com"), admin, role("admin")).await;
    assert!(status == 400 && error_message(&refused).starts_with("role must be"), "{refused}");
    let (status, refused) = stack.call(Method::PUT, &members("web", "bob"), admin, role("viewer")).await;
    assert!(status == 400 && error_message(&refused).starts_with("user must be"), "{refused}");
    let (status, refused) = stack.call(Method::PUT, &members("web", "zoe@example.com"), admin, role("viewer")).await;
    assert!(status == 404 && error_message(&refused).contains("once they have signed in"), "{refused}");
    assert_eq!(stack.call(Method::GET, "/teams/nowhere", As::Person(&bob), None).await.0, 404);

    // /auth/me tells the dashboard a person's teams and roles, and their role elsewhere.
    let (_, me) = stack.get("/auth/me", Some(&bob.cookie)).await;
    assert_eq!(
        (&me["teams"], &me["user"]["is_admin"], &me["default_role"]),
        (&json!([{"slug": "payments", "name": "payments", "role": "responder"}]), &json!(false), &json!("viewer")),
        "{me}"
    );

    // Only admins make admins, and the last admin stays one.
    let make = |admin: bool| Some(json!({ "admin": admin }));
    assert_eq!(stack.call(Method::PUT, "/users/alice@example.com/admin", admin, make(true)).await.0, 200);
    let (status, refused) =
        stack.call(Method::PUT, "/users/carol@example.com/admin", As::Person(&carol), make(true)).await;
    assert_eq!(status, 403, "{refused}");
    let (status, refused) =
        stack.call(Method::PUT, "/users/alice@example.com/admin", As::Person(&alice), make(false)).await;
    assert!(status == 409 && error_message(&refused).contains("the last admin"), "{refused}");
    let bob_id = me["user"]["id"].as_str().unwrap_or_default().to_owned();
    let (status, promoted) =
        stack.call(Method::PUT, &format!("/users/{bob_id}/admin"), As::Person(&alice), make(true)).await;
    assert_eq!((status, &promoted["user"]["email"]), (200, &json!("bob@example.com")), "by id: {promoted}");
    assert_eq!(stack.call(Method::PUT, "/users/alice@example.com/admin", As::Person(&alice), make(false)).await.0, 200);
    assert_eq!(stack.call(Method::GET, "/audit-log", As::Person(&alice), None).await.0, 403, "no admin any more");
    let (_, log) = stack.call(Method::GET, "/audit-log", As::Person(&bob), None).await;
    let newest = &log["items"][0];
    assert_eq!(
        (&newest["actor"], &newest["action"], &newest["subject"], &newest["details"]["admin"]),
        (&json!("alice@example.com"), &json!("user.admin"), &json!("alice@example.com"), &json!(false)),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_role_of_viewer_lets_nobody_outside_a_team_act_even_before_any_membership() {
    let stack = Stack::start_with(DefaultRole::Fixed(Role::Viewer)).await;
    let incident = stack.incident_of("checkout-api", "payments").await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let (_, me) = stack.get("/auth/me", Some(&alice.cookie)).await;
    assert_eq!((&me["teams"], &me["default_role"]), (&json!([]), &json!("viewer")), "{me}");
    let acknowledge = format!("/incidents/{incident}/acknowledge");
    let (status, refused) = stack.call(Method::POST, &acknowledge, As::Person(&alice), None).await;
    assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");
    assert_eq!(stack.call(Method::GET, &format!("/incidents/{incident}"), As::Person(&alice), None).await.0, 200);
    let (status, acknowledged) = stack.call(Method::POST, &acknowledge, As::Token(MACHINE_TOKEN), None).await;
    assert_eq!((status, &acknowledged["acknowledged_by"]), (200, &json!("ops-bot")), "{acknowledged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_managers_change_its_schedules_and_its_responders_and_other_teams_managers_cannot() {
    let stack = Stack::start().await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let carol = stack.sign_in(&Browser::new(), "carol", "carol-password").await;
    let admin = As::Token(ADMIN_TOKEN);
    let members = |team: &str, user: &str| format!("/teams/{team}/members/{user}");
    for (team, user, role) in [
        ("payments", "alice@example.com", "manager"),
        ("payments", "bob@example.com", "responder"),
        ("web", "carol@example.com", "manager"),
    ] {
        let (status, answer) =
            stack.call(Method::PUT, &members(team, user), admin, Some(json!({ "role": role }))).await;
        assert_eq!(status, 201, "{answer}");
    }

    let schedule = Some(json!({"team": "payments", "name": "primary", "time_zone": "Europe/Berlin"}));
    let (status, refused) = stack.call(Method::POST, "/schedules", As::Person(&bob), schedule.clone()).await;
    assert!(status == 403 && error_message(&refused).ends_with("you are a responder there"), "{refused}");
    let (status, refused) = stack.call(Method::POST, "/schedules", As::Person(&carol), schedule.clone()).await;
    assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");
    let (status, created) = stack.call(Method::POST, "/schedules", As::Person(&alice), schedule).await;
    assert_eq!(status, 201, "{created}");

    // Changing it asks about the schedule's own team.
    let path = format!("/schedules/{}", created["id"].as_str().unwrap_or_default());
    let rename = Some(json!({"name": "day shift"}));
    let (status, refused) = stack.call(Method::PATCH, &path, As::Person(&carol), rename.clone()).await;
    assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");
    let (status, renamed) = stack.call(Method::PATCH, &path, As::Person(&alice), rename).await;
    assert_eq!((status, &renamed["name"]), (200, &json!("day shift")), "{renamed}");
    let (_, log) = stack.call(Method::GET, "/audit-log", admin, None).await;
    assert_eq!(
        (&log["items"][0]["actor"], &log["items"][0]["action"]),
        (&json!("alice@example.com"), &json!("schedule.rename")),
        "{log}"
    );
    assert_eq!(stack.call(Method::GET, &path, As::Person(&bob), None).await.0, 200, "a responder reads it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_acts_as_its_person_within_its_scopes_until_revoked_or_expired() {
    let stack = Stack::start().await;
    let checkout = stack.incident_of("checkout-api", "payments").await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let admin = As::Token(ADMIN_TOKEN);
    let (status, answer) = stack
        .call(Method::PUT, "/teams/payments/members/alice@example.com", admin, Some(json!({"role": "responder"})))
        .await;
    assert_eq!(status, 201, "{answer}");

    // Alice makes two tokens from her session; the secret is in the answer and nowhere else.
    let make = |name: &str, scopes: Value| Some(json!({"name": name, "scopes": scopes, "expires_in_days": 30}));
    let (status, laptop) =
        stack.call(Method::POST, "/users/me/tokens", As::Person(&alice), make("laptop", json!(["act"]))).await;
    assert_eq!(status, 201, "{laptop}");
    let laptop_secret = laptop["secret"].as_str().unwrap_or_default().to_owned();
    assert!(laptop_secret.starts_with("tocsin_pat_") && laptop_secret.len() > 40, "{laptop}");
    let (status, reader) =
        stack.call(Method::POST, "/users/me/tokens", As::Person(&alice), make("grafana", json!(["read"]))).await;
    assert_eq!(status, 201, "{reader}");
    let reader_secret = reader["secret"].as_str().unwrap_or_default().to_owned();
    let mut conn = stack.db.connection().await;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let stored: Found = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT count(*) AS count FROM personal_tokens WHERE position(convert_to($1, 'UTF8') IN secret_sha256) > 0 \
             OR name = $1",
        )
        .bind::<diesel::sql_types::Text, _>(&laptop_secret),
        &mut conn,
    )
    .await
    .expect("searching for the secret");
    assert_eq!(stored.count, 0, "the secret itself is stored nowhere");

    // The `act` token acknowledges her team's incident as her, with no CSRF header (a bearer).
    let acknowledge = format!("/incidents/{checkout}/acknowledge");
    let (status, acknowledged) = stack.call(Method::POST, &acknowledge, As::Token(&laptop_secret), None).await;
    assert_eq!((status, &acknowledged["acknowledged_by"]), (200, &json!("alice@example.com")), "{acknowledged}");
    // Her roles still apply: bob's token would be as refused as bob is (he is in no team here,
    // and the team has members now).
    let (status, bobs) =
        stack.call(Method::POST, "/users/me/tokens", As::Person(&bob), make("bob", json!(["act"]))).await;
    assert_eq!(status, 201, "{bobs}");
    let (status, refused) = stack
        .call(
            Method::POST,
            &format!("/incidents/{checkout}/resolve"),
            As::Token(bobs["secret"].as_str().unwrap_or_default()),
            None,
        )
        .await;
    assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");

    // The read token reads and does not act, naming the scope.
    assert_eq!(stack.call(Method::GET, "/incidents", As::Token(&reader_secret), None).await.0, 200);
    let (status, refused) =
        stack.call(Method::POST, &format!("/incidents/{checkout}/resolve"), As::Token(&reader_secret), None).await;
    assert!(status == 403 && error_message(&refused).contains("`act` scope"), "{refused}");
    // A token makes no tokens, and reaches no admin route without being an admin's.
    let (status, refused) =
        stack.call(Method::POST, "/users/me/tokens", As::Token(&laptop_secret), make("more", json!(["act"]))).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(stack.call(Method::GET, "/audit-log", As::Token(&laptop_secret), None).await.0, 403);

    // Her list shows when each was last used, never a secret; bob cannot see it, an admin can.
    let (status, listed) = stack.call(Method::GET, "/users/me/tokens", As::Person(&alice), None).await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.iter().map(|t| t["name"].clone()).collect::<Vec<_>>(), [json!("grafana"), json!("laptop")]);
    assert!(items.iter().all(|t| !t["last_used_at"].is_null() && t.get("secret").is_none()), "{listed}");
    assert!(!listed.to_string().contains(&laptop_secret));
    assert_eq!(stack.call(Method::GET, "/users/alice@example.com/tokens", As::Person(&bob), None).await.0, 403);
    assert_eq!(stack.call(Method::GET, "/users/alice@example.com/tokens", admin, None).await.0, 200);

    // Limits, named.
    for (body, field) in [
        (json!({"name": "", "scopes": ["read"]}), "name is empty"),
        (json!({"name": "x", "scopes": []}), "scopes is empty"),
        (json!({"name": "x", "scopes": ["ingest"]}), "is not a scope"),
        (json!({"name": "x", "scopes": ["read"], "expires_in_days": 366}), "expires_in_days is 366"),
    ] {
        let (status, refused) = stack.call(Method::POST, "/users/me/tokens", As::Person(&alice), Some(body)).await;
        assert!(status == 400 && error_message(&refused).contains(field), "{field}: {refused}");
    }
    let (status, refused) =
        stack.call(Method::POST, "/users/me/tokens", As::Person(&alice), make("laptop", json!(["read"]))).await;
    assert_eq!(status, 409, "the same name twice: {refused}");

    // Revoked: 401 from then on. Expired: 401 too. Both in the audit log.
    let laptop_id = laptop["token"]["id"].as_str().unwrap_or_default();
    let path = format!("/users/me/tokens/{laptop_id}");
    assert_eq!(stack.call(Method::DELETE, &path, As::Person(&alice), None).await.0, 204);
    assert_eq!(stack.call(Method::DELETE, &path, As::Person(&alice), None).await.0, 404, "revoked once");
    let (status, refused) = stack.call(Method::GET, "/incidents", As::Token(&laptop_secret), None).await;
    assert!(status == 401 && error_message(&refused).contains("revoked"), "{refused}");
    stack.sql("UPDATE personal_tokens SET expires_at = now() - interval '1 second' WHERE name = 'grafana'").await;
    assert_eq!(stack.call(Method::GET, "/incidents", As::Token(&reader_secret), None).await.0, 401);
    let (_, log) = stack.call(Method::GET, "/audit-log", admin, None).await;
    let actions: Vec<&str> =
        log["items"].as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "token.created").count(), 3, "{log}");
    assert_eq!(actions.iter().filter(|a| **a == "token.revoked").count(), 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_and_edits_are_the_signed_in_responders_or_an_admins_and_stay_within_their_limits() {
    let stack = Stack::start().await;
    let checkout = stack.incident_of("checkout-api", "payments").await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let carol = stack.sign_in(&Browser::new(), "carol", "carol-password").await;
    let dave = stack.sign_in(&Browser::new(), "dave", "dave-password").await;
    stack.give_roles().await;
    stack.make_admin("dave@example.com").await;
    let notes = format!("/incidents/{checkout}/notes");
    let edit = format!("/incidents/{checkout}/edit");

    // The team's viewer and another team's responder may neither write a note nor edit.
    for who in [&bob, &carol] {
        let note = Some(json!({"text": "looking"}));
        let (status, refused) = stack.call(Method::POST, &notes, As::Person(who), note).await;
        assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");
        let raise = Some(json!({"severity": "critical"}));
        assert_eq!(stack.call(Method::POST, &edit, As::Person(who), raise).await.0, 403);
    }

    // The responder's note is theirs, whatever actor the body names.
    let text = "Rolled back **v2.3** <script>alert(1)</script>";
    let note = Some(json!({"text": text, "actor": "mallory"}));
    let (status, noted) = stack.call(Method::POST, &notes, As::Person(&alice), note).await;
    assert_eq!((status, &noted["version"]), (200, &json!(2)), "{noted}");

    // Limits, each refusal naming its field.
    let over = "é".repeat(4_097);
    for (path, body, words) in [
        (&notes, json!({"text": over}), ["text is 8194 bytes", "8192"]),
        (&notes, json!({"text": " \n "}), ["text is empty", "note"]),
        (&edit, json!({}), ["title", "severity"]),
        (&edit, json!({"title": "x".repeat(501)}), ["title is 501 bytes", "500"]),
        (&edit, json!({"title": "two\nlines"}), ["title", "one line"]),
        (&edit, json!({"title": "   "}), ["title is blank", "title"]),
    ] {
        let (status, refused) = stack.call(Method::POST, path, As::Person(&alice), Some(body.clone())).await;
        let message = error_message(&refused);
        assert_eq!((status, &refused["error"]["code"]), (400, &json!("invalid_payload")), "{body}: {refused}");
        assert!(words.iter().all(|word| message.contains(word)), "{body}: {message}");
    }
    let (status, refused) =
        stack.call(Method::POST, &edit, As::Person(&alice), Some(json!({"severity": "catastrophic"}))).await;
    assert_eq!(status, 400, "an unknown severity: {refused}");

    // An admin of no team edits, as themselves.
    let lower = Some(json!({"severity": "warning", "title": "  Checkout slow for some  "}));
    let (status, edited) = stack.call(Method::POST, &edit, As::Person(&dave), lower).await;
    assert_eq!(
        (status, &edited["severity"], &edited["title"]),
        (200, &json!("warning"), &json!("Checkout slow for some"))
    );

    let (status, timeline) =
        stack.call(Method::GET, &format!("/incidents/{checkout}/timeline"), As::Person(&alice), None).await;
    assert_eq!(status, 200, "{timeline}");
    let people: Vec<(&Value, &Value, &Value)> = timeline["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["kind"] == "note_added" || entry["kind"] == "edited")
        .map(|entry| (&entry["kind"], &entry["actor"], &entry["detail"]))
        .collect();
    let changes = json!({
        "severity": {"from": "critical", "to": "warning"},
        "title": {"from": "High CPU usage on web-server-01", "to": "Checkout slow for some"},
    });
    assert_eq!(
        people,
        [
            (&json!("note_added"), &json!("alice@example.com"), &json!({"text": text})),
            (&json!("edited"), &json!("dave@example.com"), &changes),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_incident_is_for_the_services_responders_and_admins_and_opens_it_like_an_alert_would() {
    let stack = Stack::start().await;
    let alice = stack.sign_in(&Browser::new(), "alice", "alice-password").await;
    let bob = stack.sign_in(&Browser::new(), "bob", "bob-password").await;
    let carol = stack.sign_in(&Browser::new(), "carol", "carol-password").await;
    let dave = stack.sign_in(&Browser::new(), "dave", "dave-password").await;
    let admin = As::Token(ADMIN_TOKEN);
    let (status, owned) =
        stack.call(Method::PUT, "/services/checkout-api", admin, Some(json!({"team": "payments"}))).await;
    assert_eq!(status, 201, "{owned}");
    stack.give_roles().await;
    stack.make_admin("dave@example.com").await;
    let declaration = json!({
        "title": "Checkout failing for card payments",
        "severity": "critical",
        "service": "checkout-api",
        "environment": "production",
        "summary": "Support reports *card* payments failing since 14:02.",
        "actor": "mallory",
    });

    for who in [&bob, &carol] {
        let (status, refused) =
            stack.call(Method::POST, "/incidents", As::Person(who), Some(declaration.clone())).await;
        assert!(status == 403 && error_message(&refused).contains("team `payments`"), "{refused}");
    }
    for (body, words) in [
        (json!({"title": " ", "severity": "high", "service": "checkout-api"}), ["title is blank"]),
        (json!({"title": "t", "severity": "high", "service": "s".repeat(1_001)}), ["service is 1001 bytes"]),
        (
            json!({"title": "t", "severity": "high", "service": "checkout-api", "environment": ""}),
            ["environment is blank"],
        ),
        (
            json!({"title": "t", "severity": "high", "service": "checkout-api", "summary": "é".repeat(4_097)}),
            ["text is 8194 bytes"],
        ),
    ] {
        let (status, refused) = stack.call(Method::POST, "/incidents", As::Person(&alice), Some(body.clone())).await;
        let message = error_message(&refused);
        assert!(status == 400 && words.iter().all(|word| message.contains(word)), "{body}: {refused}");
    }

    let (status, declared) =
        stack.call(Method::POST, "/incidents", As::Person(&alice), Some(declaration.clone())).await;
    assert_eq!(status, 201, "{declared}");
    assert_eq!(
        (&declared["team"], &declared["status"], &declared["severity"], &declared["alert_count"]),
        (&json!("payments"), &json!("open"), &json!("critical"), &json!(0))
    );
    let id = declared["id"].as_str().unwrap_or_default().to_owned();
    let (status, detail) = stack.call(Method::GET, &format!("/incidents/{id}"), As::Person(&bob), None).await;
    assert_eq!(status, 200, "{detail}");
    let opened = &detail["timeline"][0];
    assert_eq!(
        (&opened["kind"], &opened["actor"], &opened["detail"]),
        (
            &json!("opened"),
            &json!("alice@example.com"),
            &json!({"declared": true, "summary": "Support reports *card* payments failing since 14:02."})
        )
    );
    // An admin of no team declares for any service; a service nobody owns is `unowned`'s.
    let mut unowned = declaration.clone();
    unowned["service"] = json!("batch-reports");
    let (status, declared) = stack.call(Method::POST, "/incidents", As::Person(&dave), Some(unowned)).await;
    assert_eq!((status, &declared["team"], &declared["environment"]), (201, &json!("unowned"), &json!("production")));
}
