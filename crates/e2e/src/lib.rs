//! A whole tocsin stack inside a test: ingest, incident-core (one or more replicas), query and
//! notifier, each on a free port, on a database and a Redis prefix of the test's own.

#![allow(clippy::expect_used, reason = "test support stops at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_incident_core::incidents::IntakeSettings;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_testkit::{TcpProxy, TestDatabase, TestRedis};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const INGEST_TOKEN: &str = "test-ingest-token";
pub const API_TOKEN: &str = "test-api-token-for-e2e";
/// query's token with the `admin` scope (the service catalogue, the audit log).
pub const ADMIN_TOKEN: &str = "test-admin-token-for-e2e";

#[derive(Clone)]
pub struct StackOptions {
    pub core_replicas: usize,
    pub visibility_timeout: Duration,
    pub intake: IntakeSettings,
    pub action_timeout: Duration,
    /// Put incident-core's PostgreSQL behind a [`TcpProxy`] the test can cut.
    pub proxy_core_database: bool,
    /// A dashboard build for query to serve at `/`.
    pub web_root: Option<std::path::PathBuf>,
    /// More of the notifier's environment (`SLACK_*`, `ROUTING_FILE`, `DELIVERY_*`…), on top of
    /// what the stack sets (database, Redis, ports).
    pub notifier_env: Vec<(String, String)>,
    /// The `OTEL_*` variables every service is given, as its environment would hold them. Each
    /// service exports under its own `service.name`; empty leaves traces off.
    pub otel_env: Vec<(String, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            core_replicas: 1,
            visibility_timeout: Duration::from_secs(30),
            intake: IntakeSettings::default(),
            action_timeout: Duration::from_secs(5),
            proxy_core_database: false,
            web_root: None,
            notifier_env: Vec::new(),
            otel_env: Vec::new(),
        }
    }
}

pub struct Stack {
    pub db: TestDatabase,
    pub redis: TestRedis,
    pub ingest_url: String,
    pub query_url: String,
    pub core_urls: Vec<String>,
    pub notifier_url: String,
    pub http: reqwest::Client,
    pub core_database_proxy: Option<TcpProxy>,
    notifier: Option<Notifier>,
    notifier_settings: NotifierSettings,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Stack {
        // The services' logs, when asked for: RUST_LOG=warn cargo test -p tocsin-e2e -- --nocapture
        if std::env::var_os("RUST_LOG").is_some() {
            tocsin_runtime::logging::init("e2e");
        }
        let db = TestDatabase::new().await;
        let redis = TestRedis::new();
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let max_age = Duration::from_secs(3600);
        let otel = |service: &str| {
            let env = tocsin_runtime::Env::from_pairs(options.otel_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            tocsin_runtime::traces::OtelSettings::from_env(&env, service)
                .unwrap_or_else(|error| panic!("{service}'s OTEL_* variables: {error}"))
        };

        let ingest = tocsin_ingest::Application::build(
            tocsin_ingest::config::Config {
                otel: otel("ingest"),
                ..tocsin_ingest::config::Config::for_tests(
                    &redis.url,
                    &redis.prefix,
                    Tokens::single("ingest", &[Scope::Ingest], INGEST_TOKEN),
                )
            },
            shutdown.clone(),
        )
        .await
        .expect("ingest");
        let ingest_url = format!("http://127.0.0.1:{}", ingest.port());
        tasks.push(tokio::spawn(ingest.run_until_stopped()));

        let core_database_proxy = match options.proxy_core_database {
            true => Some(TcpProxy::start(tocsin_testkit::server_address(&db.url)).await),
            false => None,
        };
        let core_database_url = match &core_database_proxy {
            Some(proxy) => tocsin_testkit::through_port(&db.url, proxy.port),
            None => db.url.clone(),
        };
        let mut core_urls = Vec::new();
        for replica in 0..options.core_replicas {
            let core = tocsin_incident_core::Application::build(
                tocsin_incident_core::config::Config {
                    consumer_name: format!("core-{replica}"),
                    visibility_timeout: options.visibility_timeout,
                    intake: options.intake.clone(),
                    operator_tokens: Tokens::single("api", &[Scope::Read, Scope::Act], API_TOKEN),
                    otel: otel("incident-core"),
                    ..tocsin_incident_core::config::Config::for_tests(&core_database_url, &redis.url, &redis.prefix)
                },
                shutdown.clone(),
            )
            .await
            .expect("incident-core");
            core_urls.push(format!("http://127.0.0.1:{}", core.port()));
            tasks.push(tokio::spawn(core.run_until_stopped()));
        }

        let query = tocsin_query::Application::build(
            tocsin_query::config::Config {
                database_pool_size: 4,
                stream_max_age: max_age,
                action_timeout: options.action_timeout,
                web_root: options.web_root.clone(),
                otel: otel("query"),
                ..tocsin_query::config::Config::for_tests(
                    &db.url,
                    &redis.url,
                    &redis.prefix,
                    Tokens::from_yaml(&format!(
                        "tokens:\n  - {{name: api, scopes: [read, act], token: {API_TOKEN}}}\n  - {{name: admin, scopes: [admin], token: {ADMIN_TOKEN}}}\n"
                    ))
                    .expect("query's tokens"),
                )
            },
            shutdown.clone(),
        )
        .await
        .expect("query");
        let query_url = format!("http://127.0.0.1:{}", query.port());
        tasks.push(tokio::spawn(query.run_until_stopped()));

        let notifier_settings = NotifierSettings {
            database_url: db.url.clone(),
            redis_url: redis.url.clone(),
            stream_prefix: redis.prefix.clone(),
            visibility_timeout: options.visibility_timeout,
            extra_env: options.notifier_env.iter().chain(&options.otel_env).cloned().collect(),
        };
        let notifier = Notifier::start(&notifier_settings, 0, &shutdown).await;
        let notifier_url = format!("http://127.0.0.1:{}", notifier.port);

        Stack {
            db,
            redis,
            ingest_url,
            query_url,
            core_urls,
            notifier_url,
            http: reqwest::Client::new(),
            core_database_proxy,
            notifier: Some(notifier),
            notifier_settings,
            shutdown,
            tasks,
        }
    }

    /// Stops the notifier alone, as a crashed or scaled-down notifier would be.
    pub async fn stop_notifier(&mut self) {
        if let Some(notifier) = self.notifier.take() {
            notifier.stop().await;
        }
    }

    /// Starts the notifier again on its port.
    pub async fn start_notifier(&mut self) {
        let port = self.notifier_url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        self.notifier = Some(Notifier::start(&self.notifier_settings, port, &self.shutdown).await);
    }

    /// Posts a webhook body to ingest as Alertmanager does (same headers).
    pub async fn post_webhook(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/alerts", self.ingest_url))
            .header("Content-Type", "application/json")
            .header("User-Agent", "Alertmanager/0.25.0")
            .bearer_auth(INGEST_TOKEN)
            .body(body.to_string())
            .send()
            .await
            .expect("POST /alerts")
    }

    /// Posts a webhook and insists on 202.
    pub async fn send(&self, body: &Value) {
        let response = self.post_webhook(body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 202, "POST /alerts answered {status}: {text}");
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.query_request(reqwest::Method::GET, path, API_TOKEN, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.query_request(reqwest::Method::POST, path, API_TOKEN, Some(body)).await
    }

    /// A request to query with the admin token, as an operator makes it; insists on `expected`.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: &Value, expected: u16) -> Value {
        let body = Some(body).filter(|body| !body.is_null());
        let (status, answer) = self.query_request(method.clone(), path, ADMIN_TOKEN, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer
    }

    /// `method path` to query with `token` and a JSON `body`: the status and the JSON answer
    /// (null when there is none).
    async fn query_request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.query_url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// What paging needs, set up through query's API as an operator does: `service` owned by
    /// `team`, whose schedule in `time_zone` has the person `email` (`name`) on call all week,
    /// and the service's policy paging that schedule (its next step after 30 minutes). The person signs in once,
    /// in the database, which is how people become users. Returns the schedule's id.
    pub async fn someone_on_call(&self, service: &str, team: &str, name: &str, email: &str, time_zone: &str) -> String {
        use reqwest::Method;
        let identity = tocsin_storage::people::SignedInIdentity {
            issuer: "https://login.example.com",
            subject: name,
            name,
            email: Some(email),
        };
        tocsin_storage::people::sign_in_user(&mut self.db.connection().await, &identity)
            .await
            .unwrap_or_else(|error| panic!("{email} signs in: {error}"));
        self.admin(Method::PUT, &format!("/services/{service}"), &json!({"team": team}), 201).await;
        let schedule = self
            .admin(Method::POST, "/schedules", &json!({"team": team, "name": "primary", "time_zone": time_zone}), 201)
            .await;
        let schedule_id = schedule["id"].as_str().unwrap_or_else(|| panic!("a schedule's id: {schedule}")).to_owned();
        let layer = json!({
            "first_handoff": "2026-01-05T09:00",
            "shift_unit": "weeks",
            "shift_count": 1,
            "members": [email],
            "priority": 0
        });
        self.admin(Method::POST, &format!("/schedules/{schedule_id}/layers"), &layer, 201).await;
        let definition = json!({"steps": [{"targets": [{"schedule": schedule_id}], "escalate_after_minutes": 30}]});
        let policy = self
            .admin(
                Method::POST,
                "/escalation-policies",
                &json!({"team": team, "name": "default", "definition": definition}),
                201,
            )
            .await;
        let policy_id = policy["id"].as_str().unwrap_or_else(|| panic!("a policy's id: {policy}")).to_owned();
        self.admin(
            Method::PUT,
            &format!("/services/{service}/escalation-policy"),
            &json!({"policy_id": policy_id}),
            200,
        )
        .await;
        schedule_id
    }

    /// The body of a plain GET of `url` (any service's `/metrics` or `/openapi.json`); empty when
    /// there is none.
    pub async fn text_at(&self, url: &str) -> String {
        let response = self.http.get(url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        response.text().await.unwrap_or_default()
    }

    /// The JSON body of a plain GET of `url`; null when there is none.
    pub async fn json_at(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        response.json().await.unwrap_or(Value::Null)
    }

    /// Sends the webhook fixtures `names` in turn, each fired at `at`.
    pub async fn send_fixtures(&self, names: &[&str], at: OffsetDateTime) {
        for name in names {
            self.send(&webhook(name, at)).await;
        }
    }

    /// The incident list for `query` (`?status=open`), once `until` holds for it; panics with the
    /// last answer after 45 seconds (a loaded CI machine runs Prometheus and Alertmanager slowly).
    pub async fn incidents_when(&self, query: &str, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
        loop {
            let (status, body) = self.get(&format!("/incidents{query}")).await;
            assert_eq!(status, 200, "GET /incidents{query}: {body}");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            if until(&items) {
                return items;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("GET /incidents{query} never satisfied the condition; last answer: {body:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until incident-core has acknowledged every alert entry, then returns the incidents.
    pub async fn settled_incidents(&self) -> Vec<Value> {
        self.wait_drained("alerts", tocsin_incident_core::CONSUMER_GROUP).await;
        self.get("/incidents?limit=500").await.1["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `group` has read and acknowledged everything on `stream`.
    pub async fn wait_drained(&self, stream: &str, group: &str) {
        let key = self.stream_key(stream);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (lag, pending) = group_lag(&self.redis.url, &key, group).await;
            if lag == Some(0) && pending == Some(0) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{key} not drained by {group}: lag {lag:?}, pending {pending:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_connection(&self.redis.url).await
    }

    /// The key of the test's stream `name` (`alerts`, `commands`, `events`).
    pub fn stream_key(&self, name: &str) -> String {
        tocsin_bus::stream_key(&self.redis.prefix, name)
    }

    /// Entries on the stream `key` (see [`Stack::stream_key`]); 0 when it does not exist.
    pub async fn length_of(&self, key: &str) -> u64 {
        let mut conn = self.redis().await;
        redis::cmd("XLEN").arg(key).query_async(&mut conn).await.unwrap_or(0)
    }

    pub async fn stream_length(&self, stream: &str) -> u64 {
        self.length_of(&self.stream_key(stream)).await
    }

    pub async fn stop(mut self) {
        self.stop_notifier().await;
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            match tokio::time::timeout(Duration::from_secs(20), task).await {
                Ok(Ok(Ok(()))) => {}
                other => panic!("a service did not stop cleanly: {other:?}"),
            }
        }
    }
}

pub use tocsin_testkit::{group_lag, redis_connection};

pub mod faults;

/// Running the Prometheus and Alertmanager of Debian's packages next to a stack.
pub mod tools {
    use std::path::PathBuf;
    use std::process::Stdio;
    use tokio::process::{Child, Command};

    pub fn binary(name: &str, package: &str) -> String {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let path = format!("{dir}/{name}");
            if std::path::Path::new(&path).exists() {
                return path;
            }
        }
        panic!("{name} is missing: install Debian's `{package}` package (.ci/run does)")
    }

    pub fn workdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tocsin-real-loop-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        dir
    }

    pub fn write(path: &PathBuf, text: &str) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    pub fn spawn(program: &str, args: &[String], log: &PathBuf) -> Child {
        let log = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = log.try_clone().expect("try clone");
        Command::new(program)
            .args(args)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"))
    }
}

/// What the notifier is started with, kept so a test can restart it.
struct NotifierSettings {
    database_url: String,
    redis_url: String,
    stream_prefix: String,
    visibility_timeout: Duration,
    extra_env: Vec<(String, String)>,
}

/// The notifier, on a shutdown token of its own so a test can stop and restart it alone.
struct Notifier {
    port: u16,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Notifier {
    async fn start(settings: &NotifierSettings, port: u16, stack: &CancellationToken) -> Notifier {
        let shutdown = stack.child_token();
        let listen_addr = format!("127.0.0.1:{port}");
        let visibility_timeout = format!("{}ms", settings.visibility_timeout.as_millis());
        let mut env: Vec<(&str, &str)> = vec![
            ("LISTEN_ADDR", &listen_addr),
            ("DATABASE_URL", &settings.database_url),
            ("REDIS_URL", &settings.redis_url),
            ("STREAM_PREFIX", &settings.stream_prefix),
            ("CONSUMER_NAME", "notifier-0"),
            ("VISIBILITY_TIMEOUT", &visibility_timeout),
        ];
        env.extend(settings.extra_env.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        let config = tocsin_notifier::config::Config::from_env(&tocsin_runtime::Env::from_pairs(env))
            .expect("notifier configuration");
        let app = tocsin_notifier::Application::build(config, shutdown.clone()).await.expect("notifier");
        let port = app.port();
        Notifier { port, shutdown, task: tokio::spawn(app.run_until_stopped()) }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(20), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the notifier did not stop cleanly: {other:?}"),
        }
    }
}

/// A captured webhook (`testdata/alertmanager/raw/NAME`) as if Alertmanager sent it `now`.
/// Fixtures whose alerts differ in service and key: each opens an incident of its own.
pub const DISTINCT_KEYS: [&str; 6] = [
    "firing-single.json",
    "unicode.json",
    "no-service-label.json",
    "truncated.json",
    "ungrouped.json",
    "ungrouped-2.json",
];

pub fn webhook(name: &str, now: OffsetDateTime) -> Value {
    tocsin_loadgen::replay::rebase(capture(name), now)
}

/// A captured webhook with its original times.
pub fn capture(name: &str) -> Value {
    serde_json::from_str(&tocsin_testkit::fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Captures shifted together so that the latest time among them is `now`, keeping their relative
/// timing (a firing capture and its resolution, say).
pub fn webhooks(names: &[&str], now: OffsetDateTime) -> Vec<Value> {
    let mut payloads: Vec<Value> = names.iter().map(|name| capture(name)).collect();
    let offset = tocsin_loadgen::replay::offset_to_now(&payloads.iter().collect::<Vec<_>>(), now);
    for payload in &mut payloads {
        tocsin_loadgen::replay::shift(payload, offset);
    }
    payloads
}

/// A local server standing in for Slack's Web API, and the notifier settings that point at it.
pub mod slack {
    use serde_json::json;
    use tocsin_runtime::Secret;
    use tocsin_testkit::{FakeApi, RecordedRequest, Reply};

    pub const SIGNING_SECRET: &str = "e2e-signing-secret";
    /// The channel id and message `ts` the fake answers every post with.
    pub const CHANNEL_ID: &str = "C0ONCALL";
    pub const MESSAGE_TS: &str = "1764201234.000200";

    /// A fake Slack that accepts `chat.postMessage` and `chat.update`.
    pub async fn start() -> FakeApi {
        let slack = FakeApi::start().await;
        let posted = json!({"ok": true, "channel": CHANNEL_ID, "ts": MESSAGE_TS});
        slack.respond("POST", "/api/chat.postMessage", Reply::json(200, posted.clone()));
        slack.respond("POST", "/api/chat.update", Reply::json(200, posted));
        slack
    }

    /// `StackOptions::notifier_env` for one Slack channel (`#oncall`) on `slack`, with buttons.
    pub fn notifier_env(slack: &FakeApi) -> Vec<(String, String)> {
        [
            ("SLACK_BOT_TOKEN", "xoxb-e2e".to_owned()),
            ("SLACK_CHANNEL", "#oncall".to_owned()),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
            ("SLACK_API_URL", format!("{}/api", slack.url)),
            ("CHANNEL_INTERVAL", "10ms".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// The incident id carried by the buttons of a posted message.
    pub fn incident_of(message: &RecordedRequest) -> String {
        let body = message.json();
        body["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
            .find_map(|element| element["value"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no button with an incident id in {body}"))
    }

    /// The address Ana's clicks are recorded under: the tocsin user her Slack member id maps to.
    pub const ANA: &str = "ana@example.com";

    /// Ana as tocsin knows her: a user whose Slack contact method is her member id (`U0ANA`), so
    /// that her clicks are done by her, with no `users.info` call to Slack. Made at most once.
    pub async fn ana(stack: &super::Stack) {
        use tocsin_storage::AsyncConnection;
        use tocsin_storage::contacts::{self, ContactKind, NewMethod};
        use tocsin_storage::people::{self, SignedInIdentity};
        let mut conn = stack.db.connection().await;
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: "ana", name: "Ana", email: Some(ANA) };
        let user = people::sign_in_user(&mut conn, &identity).await.expect("Ana's user");
        conn.transaction(async |conn| {
            contacts::lock_user(conn, user.id).await?;
            if contacts::methods(conn, user.id).await?.is_empty() {
                let method = NewMethod { kind: ContactKind::Slack, address: "U0ANA", label: "" };
                contacts::add_method(conn, &user, &method, "e2e").await?;
            }
            Ok::<_, contacts::ContactError>(())
        })
        .await
        .expect("Ana's Slack member id");
    }

    /// Slack posting a signed click on one of a message's buttons (`tocsin_acknowledge`, …) to
    /// the notifier, as Slack user `ana` (`U0ANA`), who is the tocsin user [`ANA`]; returns the
    /// notifier's answer.
    pub async fn click(stack: &super::Stack, action_id: &str, incident_id: &str) -> reqwest::Response {
        ana(stack).await;
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U0ANA", "username": "ana", "name": "ana", "team_id": "T0"},
            "trigger_id": format!("trigger-{action_id}-{incident_id}"),
            "channel": {"id": CHANNEL_ID, "name": "oncall"},
            "container": {"type": "message", "message_ts": MESSAGE_TS, "channel_id": CHANNEL_ID},
            "actions": [{"action_id": action_id, "block_id": "actions", "value": incident_id, "type": "button", "action_ts": "1764201240.000300"}]
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("serialising");
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature =
            tocsin_notifier::slack_actions::signature_of(&Secret::new(SIGNING_SECRET), timestamp, body.as_bytes());
        stack
            .http
            .post(format!("{}/slack/actions", stack.notifier_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header("X-Slack-Signature", signature)
            .body(body)
            .send()
            .await
            .expect("POST /slack/actions")
    }
}
