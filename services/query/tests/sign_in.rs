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

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::AlertReceived;
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
const ACCOUNTS: &str = r#"[
  {"login": "alice", "password": "alice-password", "name": "Alice Liddell", "email": "alice@example.com"},
  {"login": "bob", "password": "bob-password", "name": "Bob Dobbs", "email": "bob@example.com"}
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

impl Stack {
    async fn start() -> Stack {
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
                sign_in: Some(settings(&provider.issuer(), &url)),
                ..tocsin_query::config::Config::for_tests(
                    &db.url,
                    &redis.url,
                    &redis.prefix,
                    Tokens::single("ops-bot", &[Scope::Read, Scope::Act], MACHINE_TOKEN),
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
        use diesel_async::AsyncConnection;
        let payload: WebhookPayload =
            serde_json::from_str(&fixture("firing-single.json")).expect("the fixture is a webhook");
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
