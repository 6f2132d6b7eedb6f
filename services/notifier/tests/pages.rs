//! Pages to people against real PostgreSQL and Redis, with local HTTP servers standing in for
//! Slack, a Twilio-compatible API and a webhook receiver, each asserting the exact requests.
//! `paged` events go on the events stream as incident-core's escalation engine puts them there;
//! their `at` lies in the past, so a rule's delay of a minute comes due within seconds (the due
//! time counts from the event, not from when the notifier read it).
//!
//! What is checked: "Slack DM at once, SMS after 1 minute" sends the DM, then the SMS when due;
//! acknowledging before the SMS is due cancels it; the page of an incident resolved meanwhile is
//! dropped; a voice call's TwiML says the escaped title; a webhook page's signature verifies; a
//! Slack address given as an e-mail is looked up; a step that paged nobody goes to the team's
//! channel; a test page goes out through its method; an e-mail page reaches a real SMTP server
//! (tests/support/smtp_sink.py) with the alert's text escaped in its HTML. Answering from the
//! phone: a signed SMS reply with the page's code acknowledges (one command with the incident, the
//! action and the person, however often Twilio retries it), a forged, tampered or wrongly
//! addressed signature is refused, another number or an unknown code changes nothing, a code is
//! reused once its incident is resolved; a key pressed in a call acknowledges its own page only.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use support::queued_commands;

use diesel_async::RunQueryDsl;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::{EventKind, Incident, IncidentEvent, IncidentStatus, PageUrgency, Paged, PagedUser};
use tocsin_notifier::Application;
use tocsin_notifier::config::Config;
use tocsin_runtime::Env;
use tocsin_storage::contacts::{self, ContactKind, ContactMethod, NewMethod, NewRule};
use tocsin_storage::people::{self, SignedInIdentity, UserRow};
use tocsin_storage::{AsyncConnection, AsyncPgConnection};
use tocsin_testkit::{FakeApi, RecordedRequest, Reply, TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const DM_TOKEN: &str = "xoxb-dm-token";
const ACCOUNT_SID: &str = "AC0123456789";
const AUTH_TOKEN: &str = "twilio-auth-token";
const FROM: &str = "+15005550006";
const WEBHOOK_SECRET: &str = "page-webhook-secret";

struct Stack {
    /// The notifier's own address: `/metrics`.
    url: String,
    db: TestDatabase,
    _redis: TestRedis,
    bus: Bus,
    slack: FakeApi,
    twilio: FakeApi,
    shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Stack {
    /// The notifier with Slack, Twilio and the webhook secret set, posting incidents' channel
    /// messages to `#payments`.
    async fn start() -> Stack {
        Stack::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Stack {
        let db = TestDatabase::new().await;
        let redis = TestRedis::new();
        let slack = FakeApi::start().await;
        slack.respond(
            "POST",
            "/api/chat.postMessage",
            Reply::json(200, json!({"ok": true, "channel": "D0DM", "ts": "1700000000.000100"})),
        );
        slack.respond(
            "GET",
            "/api/users.lookupByEmail",
            Reply::json(200, json!({"ok": true, "user": {"id": "U0BYMAIL"}})),
        );
        let twilio = FakeApi::start().await;
        for resource in ["Messages.json", "Calls.json"] {
            twilio.respond(
                "POST",
                &format!("/2010-04-01/Accounts/{ACCOUNT_SID}/{resource}"),
                Reply::json(201, json!({"sid": "SM0001"})),
            );
        }
        let slack_api = format!("{}/api", slack.url);
        let mut env = support::base_settings(&db, &redis);
        env.extend([
            ("SLACK_BOT_TOKEN", "xoxb-channel-token"),
            ("SLACK_CHANNEL", "#payments"),
            ("SLACK_DM_TOKEN", DM_TOKEN),
            ("SLACK_API_URL", slack_api.as_str()),
            ("TWILIO_API_URL", twilio.url.as_str()),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_FROM", FROM),
            ("PAGE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ]);
        env.extend_from_slice(extra);
        let config = Config::from_env(&Env::from_pairs(env)).expect("config");
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone()).await.expect("notifier");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let bus = Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
            .expect("Bus::connect");
        Stack { url, db, _redis: redis, bus, slack, twilio, shutdown }
    }

    async fn person(&self, login: &str) -> UserRow {
        let mut conn = self.db.connection().await;
        let email = format!("{login}@example.com");
        let identity =
            SignedInIdentity { issuer: "https://login.example.com", subject: login, name: login, email: Some(&email) };
        people::sign_in_user(&mut conn, &identity).await.expect("sign_in_user")
    }

    /// A contact method of `person` with a high-urgency rule `delay_minutes` after the page.
    async fn method(&self, person: &UserRow, kind: ContactKind, address: &str, delay_minutes: i32) -> ContactMethod {
        let mut conn = self.db.connection().await;
        conn.transaction(async |conn| {
            contacts::lock_user(conn, person.id).await?;
            let method = contacts::add_method(conn, person, &NewMethod { kind, address, label: "" }, "test").await?;
            let rule = NewRule { contact_method_id: method.id, urgency: PageUrgency::High, delay_minutes };
            contacts::add_rule(conn, person, rule, "test").await?;
            Ok::<_, contacts::ContactError>(method)
        })
        .await
        .expect("a method and its rule")
    }

    /// The incident as incident-core stores it: the notifier reads its status before a page.
    async fn incident(&self, title: &str, status: IncidentStatus) -> Incident {
        let at = OffsetDateTime::now_utc() - Duration::from_secs(600);
        let incident =
            Incident { id: Uuid::now_v7(), title: title.into(), status, ..tocsin_testkit::open_incident(at) };
        let mut conn = self.db.connection().await;
        diesel::sql_query(
            "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status, \
             source_fingerprint, source_starts_at, source_labels, opened_at, resolved_at) \
             VALUES ($1, $2, $3, 'checkout-api', 'production', 'critical', 'payments', $4, 'f1', $5, '{}', $5, \
             CASE WHEN $4 = 'resolved' THEN now() END)",
        )
        .bind::<diesel::sql_types::Uuid, _>(incident.id)
        .bind::<diesel::sql_types::Text, _>(incident.id.to_string())
        .bind::<diesel::sql_types::Text, _>(&incident.title)
        .bind::<diesel::sql_types::Text, _>(status.as_str())
        .bind::<diesel::sql_types::Timestamptz, _>(at)
        .execute(&mut conn)
        .await
        .expect("inserting the incident");
        Incident { severity: tocsin_domain::Severity::Critical, ..incident }
    }

    async fn publish(&self, event: &IncidentEvent) {
        let envelope = Envelope::new(event.clone()).with_id(event.id);
        self.bus.publish(Stream::Events, &[envelope]).await.expect("publish");
    }

    async fn delivery_statuses(&self, incident: Uuid) -> Vec<(String, String, Option<String>)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            target: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last_error: Option<String>,
        }
        let mut conn: AsyncPgConnection = self.db.connection().await;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT target, status, last_error FROM notification_deliveries WHERE incident_id = $1 ORDER BY id",
        )
        .bind::<diesel::sql_types::Uuid, _>(incident)
        .load(&mut conn)
        .await
        .expect("reading deliveries");
        rows.into_iter().map(|row| (row.target, row.status, row.last_error)).collect()
    }
}

fn paged(incident: &Incident, users: &[&UserRow], at: OffsetDateTime) -> IncidentEvent {
    let detail = Paged {
        epoch: 1,
        policy_id: Uuid::from_u128(7),
        policy_version: 1,
        step: 0,
        pass: 0,
        urgency: PageUrgency::High,
        users: users
            .iter()
            .map(|user| PagedUser { id: user.id, name: user.name.clone(), email: user.email.clone() })
            .collect(),
        channels: Vec::new(),
        unreached: Vec::new(),
        next_at: None,
    };
    IncidentEvent {
        id: Uuid::now_v7(),
        kind: EventKind::Paged,
        at,
        actor: "tocsin".into(),
        incident: incident.clone(),
        detail: serde_json::to_value(detail).expect("the paged detail"),
        maintenance: None,
    }
}

fn basic_auth() -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
}

fn form(request: &RecordedRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&request.body).expect("a form body")
}

/// The buttons' action ids of a Slack message's blocks.
fn buttons(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
        .collect()
}

/// The messages posted to `slack_channel`: a member id for a direct message, `#payments` for the
/// team's channel.
fn posts_to(stack: &Stack, slack_channel: &str) -> Vec<RecordedRequest> {
    let posted = |request: &RecordedRequest| {
        request.path == "/api/chat.postMessage" && request.json()["channel"] == slack_channel
    };
    stack.slack.requests().into_iter().filter(posted).collect()
}

/// The first message posted to `slack_channel` whose status line (the second block) says `step`,
/// waiting up to 10 seconds for it.
async fn post_saying(stack: &Stack, slack_channel: &str, step: &str) -> RecordedRequest {
    let says = |request: &RecordedRequest| {
        request.json()["blocks"][1]["text"]["text"].as_str().is_some_and(|line| line.contains(step))
    };
    let mut found = None;
    wait_until(&format!("a message to {slack_channel} saying {step:?}"), Duration::from_secs(10), async || {
        found = posts_to(stack, slack_channel).into_iter().find(says);
        found.is_some()
    })
    .await;
    found.expect("found")
}

/// The statuses of the incident's pages to people, leaving out its deliveries to channels.
async fn page_statuses(stack: &Stack, incident: Uuid) -> Vec<(String, Option<String>)> {
    let statuses = stack.delivery_statuses(incident).await;
    statuses
        .into_iter()
        .filter(|(target, _, _)| target.starts_with("page:"))
        .map(|(_, status, error)| (status, error))
        .collect()
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_urgency_page_sends_the_slack_dm_at_once_then_the_sms_when_its_minute_is_up() {
    let stack = Stack::start().await;
    let ana = stack.person("ana").await;
    stack.method(&ana, ContactKind::Slack, "U0ANA1234", 0).await;
    stack.method(&ana, ContactKind::Sms, "+14155550123", 1).await;
    let incident = stack.incident("Checkout <b>down</b> & @here", IncidentStatus::Open).await;

    // Paged 57 seconds ago: the DM is due now, the SMS in 3 seconds.
    let published = std::time::Instant::now();
    stack.publish(&paged(&incident, &[&ana], OffsetDateTime::now_utc() - Duration::from_secs(57))).await;

    let dm = &post_saying(&stack, "U0ANA1234", "paging ana").await;
    assert_eq!((dm.method.as_str(), dm.path.as_str()), ("POST", "/api/chat.postMessage"));
    assert_eq!(dm.header("authorization"), Some(format!("Bearer {DM_TOKEN}").as_str()));
    let body = dm.json();
    assert_eq!(body["channel"], "U0ANA1234", "a direct message goes to the member id");
    let buttons = buttons(&body);
    assert_eq!(buttons[..2], ["tocsin_acknowledge", "tocsin_resolve"], "the channel message's buttons");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("Checkout &lt;b&gt;down&lt;/b&gt; &amp; @\u{2060}here"), "escaped for mrkdwn: {text}");
    assert!(stack.twilio.requests().is_empty(), "the SMS waits for its minute");

    let sms = &stack.twilio.wait_for(1, Duration::from_secs(10)).await[0];
    assert!(sms.received_at >= dm.received_at);
    assert!(published.elapsed() >= Duration::from_secs(2), "the SMS came when due, not at once");
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
    assert_eq!(sms.header("authorization"), Some(basic_auth().as_str()));
    assert_eq!(sms.header("content-type"), Some("application/x-www-form-urlencoded"));
    let expected_body = format!(
        "tocsin: [CRITICAL] Checkout <b>down</b> & @\u{2060}here · Escalation step 1: paging ana · \
         https://tocsin.example.com/incident/{}",
        incident.id
    );
    assert_eq!(
        form(sms),
        [
            ("To".to_owned(), "+14155550123".to_owned()),
            ("From".to_owned(), FROM.to_owned()),
            ("Body".to_owned(), expected_body)
        ]
    );
    wait_until("both pages recorded as sent", Duration::from_secs(5), async || {
        page_statuses(&stack, incident.id).await.iter().filter(|(status, _)| status == "sent").count() == 2
    })
    .await;
    assert_eq!(posts_to(&stack, "U0ANA1234").len(), 1, "one DM");
    // The team's channel hears of the step in the incident's message, from the channel's token.
    let step = post_saying(&stack, "#payments", "Escalation step 1: paging ana").await;
    assert_eq!(step.header("authorization"), Some("Bearer xoxb-channel-token"));

    // Counted by method and outcome.
    let metrics = reqwest::get(format!("{}/metrics", stack.url)).await.expect("/metrics").text().await.expect("text");
    for (method, outcome, count) in
        [("slack", "sent", 1), ("sms", "sent", 1), ("voice", "sent", 0), ("sms", "cancelled", 0)]
    {
        let line = format!("notifier_pages_total{{method=\"{method}\",outcome=\"{outcome}\"}} {count}");
        assert!(metrics.lines().any(|l| l.ends_with(&line)), "no {line} in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_before_the_sms_is_due_cancels_it_and_a_resolved_incidents_page_is_dropped() {
    let stack = Stack::start().await;
    let ana = stack.person("ana").await;
    stack.method(&ana, ContactKind::Slack, "U0ANA1234", 0).await;
    stack.method(&ana, ContactKind::Sms, "+14155550123", 1).await;
    let incident = stack.incident("Checkout down", IncidentStatus::Open).await;

    // The SMS is due in 4 seconds; the incident is acknowledged after the DM, before that.
    stack.publish(&paged(&incident, &[&ana], OffsetDateTime::now_utc() - Duration::from_secs(56))).await;
    post_saying(&stack, "U0ANA1234", "paging ana").await;
    let acknowledged = Incident { status: IncidentStatus::Acknowledged, ..incident.clone() };
    let ack = IncidentEvent {
        id: Uuid::now_v7(),
        kind: EventKind::Acknowledged,
        at: OffsetDateTime::now_utc(),
        actor: "ana@example.com".into(),
        incident: acknowledged,
        detail: json!({}),
        maintenance: None,
    };
    stack.publish(&ack).await;
    wait_until("the SMS cancelled", Duration::from_secs(5), async || {
        stack.delivery_statuses(incident.id).await.iter().any(|(_, status, _)| status == "cancelled")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(stack.twilio.requests().is_empty(), "the SMS was sent: {:?}", stack.twilio.requests());
    let pages = page_statuses(&stack, incident.id).await;
    assert_eq!(
        pages,
        [("sent".to_owned(), None), ("cancelled".to_owned(), Some("the incident was acknowledged".to_owned()))]
    );

    // An incident resolved before its page was due: the page is dropped, not sent.
    let resolved = stack.incident("Disk full", IncidentStatus::Resolved).await;
    let before = posts_to(&stack, "U0ANA1234").len();
    stack.publish(&paged(&resolved, &[&ana], OffsetDateTime::now_utc() - Duration::from_secs(60))).await;
    wait_until("the resolved incident's pages dropped", Duration::from_secs(10), async || {
        let statuses = page_statuses(&stack, resolved.id).await;
        statuses.len() == 2 && statuses.iter().all(|(status, _)| status != "pending")
    })
    .await;
    let statuses = page_statuses(&stack, resolved.id).await;
    assert!(
        statuses
            .iter()
            .all(|(status, error)| status == "cancelled" && error.as_deref() == Some("the incident is resolved")),
        "{statuses:?}"
    );
    assert_eq!(posts_to(&stack, "U0ANA1234").len(), before, "no DM for a resolved incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_says_the_escaped_title_a_webhook_page_is_signed_and_nobody_on_call_reaches_the_team() {
    let stack = Stack::start().await;
    let receiver = FakeApi::start().await;
    receiver.respond("POST", "/hooks/page", Reply::status(204));
    let bo = stack.person("bo").await;
    stack.method(&bo, ContactKind::Voice, "+14155550199", 0).await;
    // Stored as the API would never let it (http, not https), to reach the local receiver.
    stack.method(&bo, ContactKind::Webhook, &format!("{}/hooks/page", receiver.url), 0).await;
    stack.method(&bo, ContactKind::Slack, "bo@example.com", 0).await;
    let incident = stack.incident("Payments <Say>hacked</Say> & co", IncidentStatus::Open).await;
    stack.publish(&paged(&incident, &[&bo], OffsetDateTime::now_utc())).await;

    // The call: TwiML inline, the title escaped for XML.
    let call = &stack.twilio.wait_for(1, Duration::from_secs(10)).await[0];
    assert_eq!(call.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"));
    assert_eq!(call.header("authorization"), Some(basic_auth().as_str()));
    let said = "This is tocsin. A critical incident needs you: Payments &lt;Say&gt;hacked&lt;/Say&gt; &amp; co. \
                Acknowledge it in tocsin.";
    assert_eq!(
        form(call),
        [
            ("To".to_owned(), "+14155550199".to_owned()),
            ("From".to_owned(), FROM.to_owned()),
            (
                "Twiml".to_owned(),
                format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
            ),
        ]
    );

    // The webhook: its signature verifies with the secret, over the timestamp, a dot and the body.
    let hook = &receiver.wait_for(1, Duration::from_secs(10)).await[0];
    let timestamp = hook.header("x-tocsin-timestamp").expect("a timestamp").to_owned();
    let age = OffsetDateTime::now_utc().unix_timestamp() - timestamp.parse::<i64>().expect("a Unix time");
    assert!((0..60).contains(&age), "signed {age}s ago");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("a key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&hook.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hook.header("x-tocsin-signature"), Some(expected.as_str()));
    assert_eq!(hook.header("content-type"), Some("application/json"));
    let body = hook.json();
    assert_eq!(body["type"], "page");
    assert_eq!(body["incident"]["id"], incident.id.to_string());
    assert_eq!(body["incident"]["title"], "Payments <Say>hacked</Say> & co");
    assert_eq!(body["page"]["users"][0]["id"], bo.id.to_string());
    assert_eq!(body["dashboard_url"], format!("https://tocsin.example.com/incident/{}", incident.id));

    // The Slack address was an e-mail: looked up, then messaged by member id.
    let dm = post_saying(&stack, "U0BYMAIL", "paging bo").await;
    let lookups: Vec<RecordedRequest> = stack
        .slack
        .requests()
        .into_iter()
        .filter(|request| request.path.starts_with("/api/users.lookupByEmail"))
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0].path, "/api/users.lookupByEmail?email=bo%40example.com");
    assert_eq!(lookups[0].header("authorization"), Some(format!("Bearer {DM_TOKEN}").as_str()));
    assert!(lookups[0].received_at <= dm.received_at, "looked up before the DM");

    // A step that paged nobody goes to the team's channel, as the incident's opening did.
    let nobody = stack.incident("Nobody home", IncidentStatus::Open).await;
    stack.publish(&paged(&nobody, &[], OffsetDateTime::now_utc())).await;
    let channel_post = post_saying(&stack, "#payments", "Escalation step 1: nobody to page").await;
    assert_eq!(channel_post.header("authorization"), Some("Bearer xoxb-channel-token"));

    // A test page through Bo's voice method.
    let voice = contacts::methods(&mut stack.db.connection().await, bo.id).await.expect("methods")[0].clone();
    let mut conn = stack.db.connection().await;
    tocsin_storage::notifications::queue_test_page(&mut conn, voice.id, "bo@example.com").await.expect("a test page");
    let test_call = &stack.twilio.wait_for(2, Duration::from_secs(10)).await[1];
    let twiml = form(test_call).into_iter().find(|(name, _)| name == "Twiml").map(|(_, value)| value);
    assert!(twiml.is_some_and(|twiml| twiml.contains("This is a test page from tocsin")));
}

/// Python with aiosmtpd, for tests/support/smtp_sink.py: `TOCSIN_TEST_PYTHON`, else the venv
/// scripts/test-tools.sh makes.
async fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/venv/bin/python");
    let candidates: Vec<std::path::PathBuf> =
        std::env::var_os("TOCSIN_TEST_PYTHON").map(std::path::PathBuf::from).into_iter().chain([venv]).collect();
    for candidate in &candidates {
        let status = tokio::process::Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
        if status.is_ok_and(|status| status.success()) {
            return candidate.clone();
        }
    }
    panic!(
        "the e-mail page test needs Python with aiosmtpd; none of {candidates:?} has it. \
         Run scripts/test-tools.sh (installs it into .local/venv), or set TOCSIN_TEST_PYTHON"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_page_reaches_the_smtp_server_with_the_alert_text_escaped() {
    use tokio::io::AsyncBufReadExt;
    let mail = std::env::temp_dir().join(format!("tocsin-page-mail-{}", Uuid::now_v7()));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut sink = tokio::process::Command::new(python().await)
        .arg(&script)
        .arg(&mail)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the SMTP sink");
    let stdout = sink.stdout.take().expect("the SMTP sink's stdout");
    let mut port = String::new();
    tokio::time::timeout(Duration::from_secs(30), tokio::io::BufReader::new(stdout).read_line(&mut port))
        .await
        .expect("the SMTP sink did not start within 30s")
        .expect("the SMTP sink's port");
    let smtp_url = format!("smtp://127.0.0.1:{}", port.trim());
    let stack =
        Stack::start_with(&[("SMTP_URL", smtp_url.as_str()), ("SMTP_FROM", "tocsin <pages@example.com>")]).await;
    let cy = stack.person("cy").await;
    stack.method(&cy, ContactKind::Email, "cy@example.com", 0).await;
    let incident = stack.incident("Queue <script>alert(1)</script> stuck", IncidentStatus::Open).await;
    stack.publish(&paged(&incident, &[&cy], OffsetDateTime::now_utc())).await;

    let first = mail.join("1.json");
    wait_until("the e-mail page", Duration::from_secs(15), async || first.exists()).await;
    let received: Value = serde_json::from_slice(&std::fs::read(&first).expect("the message")).expect("JSON");
    assert_eq!(received["mail_from"], "pages@example.com");
    assert_eq!(received["rcpt_tos"], json!(["cy@example.com"]));
    let header = |name: &str| {
        received["headers"].as_array().into_iter().flatten().find(|pair| pair[0] == name).map(|pair| pair[1].clone())
    };
    assert_eq!(header("Subject"), Some(json!("[CRITICAL] Queue <script>alert(1)</script> stuck")));
    assert_eq!(
        header("In-Reply-To"),
        Some(json!(format!("<incident-{}@tocsin>", incident.id))),
        "in the incident's thread"
    );
    let html = received["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|part| part["content_type"] == "text/html")
        .and_then(|part| part["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(html.contains("Queue &lt;script&gt;alert(1)&lt;/script&gt; stuck"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    let text = received["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Escalation step 1: paging cy"), "{text}");
    let _ = std::fs::remove_dir_all(&mail);
}

/// Where the notifier says Twilio reaches it: not the address the test posts to, which is the
/// point: signatures are checked against URLs built from this, never from the `Host` header.
const WEBHOOK_BASE: &str = "https://pager.example.com/notifier";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// Posts a Twilio webhook to `path` of the notifier, signed as Twilio signs it for
/// `signed_url` with `token` (`None`: unsigned).
async fn post_twilio(
    stack: &Stack,
    path: &str,
    params: &[(String, String)],
    signed_url: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).expect("a form"));
    if let Some(token) = token {
        let signature =
            tocsin_notifier::twilio_replies::signature_of(&tocsin_runtime::Secret::new(token), signed_url, params);
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.expect("POST")
}

/// An SMS reply from `from`, signed as Twilio signs it.
async fn reply(stack: &Stack, sid: &str, from: &str, body: &str) -> (u16, String) {
    let params = pairs(&[
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", FROM),
        ("Body", body),
        ("NumMedia", "0"),
    ]);
    let response =
        post_twilio(stack, "/twilio/sms", &params, &format!("{WEBHOOK_BASE}/twilio/sms"), Some(AUTH_TOKEN)).await;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.expect("the answer");
    if status == 200 {
        assert!(content_type.starts_with("text/xml"), "TwiML answers: {content_type}");
    }
    (status, text)
}

async fn replies_counted(stack: &Stack, method: &str, outcome: &str) -> String {
    let metrics = reqwest::get(format!("{}/metrics", stack.url)).await.expect("/metrics").text().await.expect("text");
    let series = format!("notifier_page_replies_total{{method=\"{method}\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.split_once(&series).map(|(_, value)| value.to_owned()))
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

async fn set_status(stack: &Stack, incident: Uuid, status: &str) {
    diesel::sql_query("UPDATE incidents SET status = $2 WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(incident)
        .bind::<diesel::sql_types::Text, _>(status)
        .execute(&mut stack.db.connection().await)
        .await
        .expect("setting the incident's status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_sms_reply_with_the_pages_code_acknowledges_and_nothing_else_does() {
    let stack = Stack::start_with(&[("TWILIO_WEBHOOK_BASE_URL", "https://pager.example.com/notifier/")]).await;
    let ana = stack.person("ana").await;
    let bo = stack.person("bo").await;
    const ANA: &str = "+14155550123";
    const BO: &str = "+14155550777";
    stack.method(&ana, ContactKind::Sms, ANA, 0).await;
    stack.method(&bo, ContactKind::Sms, BO, 0).await;

    // Two incidents page Ana at once: each SMS names its own code.
    let checkout = stack.incident("Checkout down", IncidentStatus::Open).await;
    let disk = stack.incident("Disk full", IncidentStatus::Open).await;
    stack.publish(&paged(&checkout, &[&ana], OffsetDateTime::now_utc())).await;
    stack.twilio.wait_for(1, Duration::from_secs(10)).await;
    stack.publish(&paged(&disk, &[&ana], OffsetDateTime::now_utc())).await;
    let sent = stack.twilio.wait_for(2, Duration::from_secs(10)).await;
    let body_of = |request: &RecordedRequest| {
        form(request).into_iter().find(|(name, _)| name == "Body").map(|(_, body)| body).unwrap_or_default()
    };
    assert_eq!(
        body_of(&sent[0]),
        format!(
            "tocsin: [CRITICAL] Checkout down · Escalation step 1: paging ana · Reply 1a to acknowledge, 1r to \
             resolve · https://tocsin.example.com/incident/{}",
            checkout.id
        )
    );
    assert!(body_of(&sent[1]).contains(" · Reply 2a to acknowledge, 2r to resolve · "), "{}", body_of(&sent[1]));

    // Forged, tampered with, signed for another URL (the one the request was really sent to,
    // as a Host-trusting check would rebuild it) or with an old token: 401, nothing queued.
    let good = pairs(&[("MessageSid", "SM0001"), ("From", ANA), ("To", FROM), ("Body", "2a")]);
    let sms_url = format!("{WEBHOOK_BASE}/twilio/sms");
    let as_sent = format!("{}/twilio/sms", stack.url);
    let mut tampered = good.clone();
    tampered[3].1 = "1r".into();
    for (params, url, token, what) in [
        (&good, sms_url.as_str(), None, "unsigned"),
        (&good, sms_url.as_str(), Some("a-rotated-out-token"), "another token"),
        (&good, as_sent.as_str(), Some(AUTH_TOKEN), "the Host's URL"),
        (&tampered, sms_url.as_str(), Some(AUTH_TOKEN), "tampered"),
    ] {
        let response = if what == "tampered" {
            // Signed over the original fields, sent with the changed ones.
            let signature =
                tocsin_notifier::twilio_replies::signature_of(&tocsin_runtime::Secret::new(AUTH_TOKEN), url, &good);
            reqwest::Client::new()
                .post(format!("{}/twilio/sms", stack.url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", signature)
                .body(serde_urlencoded::to_string(params).expect("a form"))
                .send()
                .await
                .expect("POST")
        } else {
            post_twilio(&stack, "/twilio/sms", params, url, token).await
        };
        assert_eq!(response.status(), 401, "{what}");
        let error: Value = response.json().await.unwrap_or_default();
        assert_eq!(error["error"]["code"], "unauthorized", "{what}: {error}");
    }
    assert!(queued_commands(&stack._redis).await.is_empty(), "refused replies queue nothing");

    // Ana's "2a" acknowledges the disk incident, as Ana; Twilio retrying it queues nothing more.
    let (status, answer) = reply(&stack, "SM0001", ANA, " 2A ").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, "<Response><Message>tocsin: acknowledging 2.</Message></Response>");
    let commands = queued_commands(&stack._redis).await;
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].incident_id, disk.id);
    assert_eq!(commands[0].action, tocsin_domain::Action::Acknowledge);
    assert_eq!(commands[0].actor, "ana@example.com");
    let (status, again) = reply(&stack, "SM0001", ANA, " 2A ").await;
    assert_eq!((status, again), (200, answer));
    assert_eq!(queued_commands(&stack._redis).await.len(), 1, "a retried webhook is one command");

    // Bo has no code 1, a stranger has no code at all, Ana has no 7, "ok" is no answer: each
    // hears it was not understood, and nothing is queued.
    for (sid, from, body) in
        [("SM0002", BO, "1a"), ("SM0003", "+19995550100", "1a"), ("SM0004", ANA, "7a"), ("SM0005", ANA, "ok")]
    {
        let (status, answer) = reply(&stack, sid, from, body).await;
        assert_eq!(status, 200, "{from} {body}");
        assert!(answer.starts_with("<Response><Message>tocsin did not understand that."), "{answer}");
    }
    // A body over Twilio's own limit is refused naming the field.
    let (status, answer) = reply(&stack, "SM0006", ANA, &"1".repeat(1_601)).await;
    assert_eq!(status, 400);
    assert!(answer.contains("Body is longer than 1600 characters"), "{answer}");
    assert_eq!(queued_commands(&stack._redis).await.len(), 1);

    // "1r" resolves the checkout incident. Once it is resolved, its code is the next page's.
    let (status, answer) = reply(&stack, "SM0007", ANA, "1r").await;
    assert_eq!((status, answer.as_str()), (200, "<Response><Message>tocsin: resolving 1.</Message></Response>"));
    let commands = queued_commands(&stack._redis).await;
    assert_eq!(
        (commands.len(), commands[1].incident_id, &commands[1].action),
        (2, checkout.id, &tocsin_domain::Action::Resolve)
    );
    set_status(&stack, checkout.id, "resolved").await;
    let queue = stack.incident("Queue stuck", IncidentStatus::Open).await;
    stack.publish(&paged(&queue, &[&ana], OffsetDateTime::now_utc())).await;
    let third = &stack.twilio.wait_for(3, Duration::from_secs(10)).await[2];
    assert!(body_of(third).contains(" · Reply 1a to acknowledge, 1r to resolve · "), "{}", body_of(third));

    for (outcome, count) in [
        ("accepted", "2"),
        ("repeated", "1"),
        ("bad_signature", "4"),
        ("unknown_code", "2"),
        ("unknown_number", "1"),
        ("not_understood", "1"),
        ("malformed", "1"),
    ] {
        assert_eq!(replies_counted(&stack, "sms", outcome).await, count, "{outcome}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_4_in_the_call_acknowledges_its_own_page_and_no_other() {
    let stack = Stack::start_with(&[("TWILIO_WEBHOOK_BASE_URL", WEBHOOK_BASE)]).await;
    let bo = stack.person("bo").await;
    let cy = stack.person("cy").await;
    const BO: &str = "+14155550199";
    const CY: &str = "+14155550188";
    stack.method(&bo, ContactKind::Voice, BO, 0).await;
    stack.method(&cy, ContactKind::Voice, CY, 0).await;
    let payments = stack.incident("Payments <down> & out", IncidentStatus::Open).await;
    let search = stack.incident("Search slow", IncidentStatus::Open).await;
    stack.publish(&paged(&payments, &[&bo], OffsetDateTime::now_utc())).await;
    let call = stack.twilio.wait_for(1, Duration::from_secs(10)).await[0].clone();
    stack.publish(&paged(&search, &[&cy], OffsetDateTime::now_utc())).await;
    let other_call = stack.twilio.wait_for(2, Duration::from_secs(10)).await[1].clone();

    let twiml_of = |request: &RecordedRequest| {
        form(request).into_iter().find(|(name, _)| name == "Twiml").map(|(_, twiml)| twiml).unwrap_or_default()
    };
    let action_of = |twiml: &str| -> String {
        let start = twiml.find("action=\"").expect("a Gather action") + "action=\"".len();
        twiml[start..].split('"').next().unwrap_or_default().to_owned()
    };
    let twiml = twiml_of(&call);
    let action = action_of(&twiml);
    let path = action.strip_prefix(WEBHOOK_BASE).expect("the action is under the base URL").to_owned();
    assert!(path.starts_with("/twilio/voice/"), "{path}");
    let said = "This is tocsin. A critical incident needs you: Payments &lt;down&gt; &amp; out. Acknowledge it in \
                tocsin. Press 4 to acknowledge.";
    assert_eq!(
        twiml,
        format!(
            "<Response><Gather numDigits=\"1\" method=\"POST\" action=\"{action}\"><Say>{said}</Say><Pause \
             length=\"1\"/><Say>{said}</Say></Gather><Say>No key was pressed. Goodbye.</Say></Response>"
        )
    );
    let other_path = action_of(&twiml_of(&other_call)).strip_prefix(WEBHOOK_BASE).unwrap_or_default().to_owned();
    assert_ne!(path, other_path);

    let key = |path: &str, to: &str, digits: &str| {
        let params = pairs(&[
            ("CallSid", "CA0001"),
            ("From", FROM),
            ("To", to),
            ("Digits", digits),
            ("CallStatus", "in-progress"),
        ]);
        let url = format!("{WEBHOOK_BASE}{path}");
        let path = path.to_owned();
        let stack = &stack;
        async move {
            let response = post_twilio(stack, &path, &params, &url, Some(AUTH_TOKEN)).await;
            (response.status().as_u16(), response.text().await.expect("the answer"))
        }
    };
    // Unsigned: 401. Bo's number on Cy's page, or Bo's page for another number: not a page this
    // call is about. A key other than 4 does nothing.
    let unsigned = pairs(&[("CallSid", "CA0001"), ("From", FROM), ("To", BO), ("Digits", "4")]);
    let response = post_twilio(&stack, &path, &unsigned, &format!("{WEBHOOK_BASE}{path}"), None).await;
    assert_eq!(response.status(), 401);
    for (path, to) in
        [(other_path.as_str(), BO), (path.as_str(), CY), ("/twilio/voice/999999", BO), ("/twilio/voice/x", BO)]
    {
        let (status, answer) = key(path, to, "4").await;
        assert_eq!(
            (status, answer.as_str()),
            (200, "<Response><Say>This call is not a page tocsin knows. Goodbye.</Say></Response>"),
            "{path} {to}"
        );
    }
    let (status, answer) = key(&path, BO, "9").await;
    assert_eq!(
        (status, answer.as_str()),
        (200, "<Response><Say>Only 4 acknowledges. Nothing was changed. Goodbye.</Say></Response>")
    );
    assert!(queued_commands(&stack._redis).await.is_empty());

    let (status, answer) = key(&path, BO, "4").await;
    assert_eq!((status, answer.as_str()), (200, "<Response><Say>Acknowledged. Thank you. Goodbye.</Say></Response>"));
    let commands = queued_commands(&stack._redis).await;
    assert_eq!(commands.len(), 1);
    assert_eq!(
        (commands[0].incident_id, &commands[0].action, commands[0].actor.as_str()),
        (payments.id, &tocsin_domain::Action::Acknowledge, "bo@example.com")
    );
    for (outcome, count) in [("accepted", "1"), ("bad_signature", "1"), ("unknown_page", "4"), ("wrong_key", "1")] {
        assert_eq!(replies_counted(&stack, "voice", outcome).await, count, "{outcome}");
    }
}
