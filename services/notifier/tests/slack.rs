//! The notifier against real PostgreSQL and Redis, with a local HTTP server standing in for Slack:
//! incident events go on the events stream as incident-core puts them there, and the test asserts
//! the exact requests Slack receives.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use support::queued_commands;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusSettings, Envelope, Stream};
use tocsin_domain::incident::SourceAlert;
use tocsin_domain::maintenance::Hold;
use tocsin_domain::roles::Role;
use tocsin_domain::{Command, EventKind, Incident, IncidentEvent, IncidentStatus};
use tocsin_notifier::Application;
use tocsin_notifier::config::Config;
use tocsin_runtime::Env;
use tocsin_storage::AsyncConnection;
use tocsin_storage::contacts::{self, ContactKind, NewMethod};
use tocsin_storage::people::{self, SignedInIdentity, UserRow};
use tocsin_storage::schedules::{self, NewLayerVersion};
use tocsin_storage::teams;
use tocsin_testkit::{FakeApi, RecordedRequest, Reply, TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BOT_TOKEN: &str = "xoxb-test-token";
const SIGNING_SECRET: &str = "test-signing-secret";

struct Notifier {
    url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Notifier {
    async fn start(db: &TestDatabase, redis: &TestRedis, extra: &[(&str, &str)]) -> Notifier {
        let mut env = support::base_settings(db, redis);
        env.extend([("SLACK_SIGNING_SECRET", SIGNING_SECRET)]);
        env.extend_from_slice(extra);
        let config = Config::from_env(&Env::from_pairs(env)).expect("config");
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone()).await.expect("notifier");
        let url = format!("http://127.0.0.1:{}", app.port());
        Notifier { url, shutdown, task: tokio::spawn(app.run_until_stopped()) }
    }

    /// A notifier posting to `channel` through the fake Slack API, with `extra` on top.
    async fn posting_to_slack(
        db: &TestDatabase,
        redis: &TestRedis,
        slack: &FakeApi,
        channel: &str,
        extra: &[(&str, &str)],
    ) -> Notifier {
        let api = format!("{}/api", slack.url);
        let mut env = vec![("SLACK_BOT_TOKEN", BOT_TOKEN), ("SLACK_CHANNEL", channel), ("SLACK_API_URL", api.as_str())];
        env.extend_from_slice(extra);
        Notifier::start(db, redis, &env).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(20), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the notifier did not stop cleanly: {other:?}"),
        }
    }
}

fn bus(redis: &TestRedis) -> Bus {
    Bus::connect(&redis.url, BusSettings { prefix: redis.prefix.clone(), ..BusSettings::default() })
        .expect("Bus::connect")
}

fn incident(id: Uuid, status: IncidentStatus, version: i64) -> Incident {
    let at = OffsetDateTime::now_utc();
    let labels = tocsin_testkit::labels(&[
        ("alertname", "HighCPU"),
        ("instance", "web-server-01"),
        ("service", "web-server"),
        ("severity", "critical"),
    ]);
    Incident {
        id,
        service: "web-server".into(),
        team: "platform".into(),
        status,
        runbook_url: Some("https://runbooks.example.com/cpu".into()),
        source_alert: SourceAlert { fingerprint: "be687c6c8d355525".into(), starts_at: at, labels },
        acknowledged_at: (status != IncidentStatus::Open).then_some(at),
        acknowledged_by: (status != IncidentStatus::Open).then(|| "ana@example.com".to_owned()),
        resolved_at: (status == IncidentStatus::Resolved).then_some(at),
        resolved_by: (status == IncidentStatus::Resolved).then(|| "ana@example.com".to_owned()),
        version,
        ..tocsin_testkit::open_incident(at)
    }
}

fn event(kind: EventKind, incident: Incident, actor: &str) -> IncidentEvent {
    let detail = match kind {
        EventKind::Opened => {
            json!({"alert": {"fingerprint": "be687c6c8d355525", "alertname": "HighCPU", "instance": "web-server-01", "state": "firing"}})
        }
        _ => json!({}),
    };
    IncidentEvent {
        id: Uuid::now_v7(),
        kind,
        at: OffsetDateTime::now_utc(),
        actor: actor.into(),
        incident,
        detail,
        maintenance: None,
    }
}

async fn publish(bus: &Bus, events: &[IncidentEvent]) {
    let envelopes: Vec<Envelope<IncidentEvent>> =
        events.iter().map(|event| Envelope::new(event.clone()).with_id(event.id)).collect();
    bus.publish(Stream::Events, &envelopes).await.expect("publish");
}

fn slack_ok(channel: &str, ts: &str) -> Reply {
    Reply::json(200, json!({"ok": true, "channel": channel, "ts": ts, "message": {}}))
}

fn assert_slack_call(request: &RecordedRequest, method: &str) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/api/{method}"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {BOT_TOKEN}").as_str()));
    assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
    request.json()
}

fn action_ids(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
        .collect()
}

async fn metric(notifier: &Notifier, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", notifier.url)).await.expect("get").text().await.unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// A Slack stand-in that posts every message to `#payments` (`C0PAYMENTS`) as one ts and takes
/// every update of it.
async fn slack_posting_to_payments() -> FakeApi {
    let slack = FakeApi::start().await;
    slack.respond("POST", "/api/chat.postMessage", slack_ok("C0PAYMENTS", "1764201234.000100"));
    slack.respond("POST", "/api/chat.update", slack_ok("C0PAYMENTS", "1764201234.000100"));
    slack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_one_message_updated_in_place_with_its_steps_in_the_thread() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), slack_posting_to_payments().await);
    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    let bus = bus(&redis);
    let id = Uuid::now_v7();

    publish(&bus, &[event(EventKind::Opened, incident(id, IncidentStatus::Open, 1), "alertmanager")]).await;
    let requests = slack.wait_for(1, Duration::from_secs(20)).await;
    let post = assert_slack_call(&requests[0], "chat.postMessage");
    assert_eq!(post["channel"], "#payments-oncall");
    assert_eq!(post["text"], "[CRITICAL] High CPU usage on web-server-01 (open)");
    let blocks = post["blocks"].as_array().cloned().unwrap_or_default();
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[0]["text"]["text"].as_str().unwrap_or_default().contains("[CRITICAL] High CPU usage on web-server-01")
    );
    let fields: Vec<String> = blocks[2]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["text"].as_str().map(str::to_owned))
        .collect();
    for expected in [
        "*Severity*\ncritical",
        "*Service*\nweb-server",
        "*Environment*\nproduction",
        "*Team*\nplatform",
        "*Alerts*\n1 firing of 1",
    ] {
        assert!(fields.iter().any(|field| field == expected), "{expected} missing from {fields:?}");
    }
    assert_eq!(action_ids(&post), ["tocsin_acknowledge", "tocsin_resolve", "tocsin_link_0", "tocsin_link_1"]);
    let links: Vec<&str> = blocks
        .last()
        .and_then(|b| b["elements"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert_eq!(
        links,
        ["https://runbooks.example.com/cpu".to_owned(), format!("https://tocsin.example.com/incident/{id}")]
    );

    publish(&bus, &[event(EventKind::Acknowledged, incident(id, IncidentStatus::Acknowledged, 2), "ana@example.com")])
        .await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    let update = assert_slack_call(&requests[1], "chat.update");
    // chat.update needs the channel id Slack answered with, not the name.
    assert_eq!(update["channel"], "C0PAYMENTS");
    assert_eq!(update["ts"], "1764201234.000100");
    assert_eq!(action_ids(&update)[..1], ["tocsin_resolve".to_owned()], "acknowledged: no more Acknowledge button");
    let reply = assert_slack_call(&requests[2], "chat.postMessage");
    assert_eq!(reply["channel"], "C0PAYMENTS");
    assert_eq!(reply["thread_ts"], "1764201234.000100");
    assert!(reply["text"].as_str().unwrap_or_default().contains("Acknowledged by ana@example.com"), "{reply}");

    publish(&bus, &[event(EventKind::Resolved, incident(id, IncidentStatus::Resolved, 3), "ana@example.com")]).await;
    let requests = slack.wait_for(5, Duration::from_secs(20)).await;
    let update = assert_slack_call(&requests[3], "chat.update");
    assert_eq!(action_ids(&update)[..1], ["tocsin_reopen".to_owned()]);
    assert!(
        assert_slack_call(&requests[4], "chat.postMessage")["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Resolved by")
    );
    assert_eq!(metric(&notifier, "tocsin_notifier_deliveries_total{channel=\"slack\",outcome=\"sent\"}").await, 3.0);

    notifier.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_or_a_redelivered_event_never_posts_twice() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), slack_posting_to_payments().await);
    let bus = bus(&redis);
    let id = Uuid::now_v7();
    let opened = event(EventKind::Opened, incident(id, IncidentStatus::Open, 1), "alertmanager");

    let first = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    // The same event twice, as a redelivery after a crash would bring it.
    publish(&bus, std::slice::from_ref(&opened)).await;
    publish(&bus, std::slice::from_ref(&opened)).await;
    slack.wait_for(1, Duration::from_secs(20)).await;
    first.stop().await;

    let second = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    publish(&bus, std::slice::from_ref(&opened)).await;
    publish(&bus, &[event(EventKind::Acknowledged, incident(id, IncidentStatus::Acknowledged, 2), "ana@example.com")])
        .await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    // Let anything else that would come arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls: Vec<(String, Option<String>)> = slack
        .requests()
        .iter()
        .map(|request| (request.path.clone(), request.json()["thread_ts"].as_str().map(str::to_owned)))
        .collect();
    assert_eq!(
        calls,
        [
            ("/api/chat.postMessage".to_owned(), None),
            ("/api/chat.update".to_owned(), None),
            ("/api/chat.postMessage".to_owned(), Some("1764201234.000100".to_owned())),
        ],
        "one post, then an edit of it after the restart"
    );
    assert_eq!(requests[1].json()["ts"], "1764201234.000100");
    second.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_honoured_and_failures_retried_or_dead_lettered() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    let notifier =
        Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[("DELIVERY_MAX_ATTEMPTS", "3")]).await;
    let bus = bus(&redis);

    // 429 with Retry-After: 1, then a 503, then success: three attempts, the second one a second
    // after the first at the earliest.
    slack.respond_once(
        "POST",
        "/api/chat.postMessage",
        Reply::json(429, json!({"ok": false, "error": "ratelimited"})).header("Retry-After", "1"),
    );
    slack.respond_once("POST", "/api/chat.postMessage", Reply::text(503, "upstream unavailable"));
    slack.respond("POST", "/api/chat.postMessage", slack_ok("C0PAYMENTS", "1.1"));
    publish(&bus, &[event(EventKind::Opened, incident(Uuid::now_v7(), IncidentStatus::Open, 1), "alertmanager")]).await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    assert!(
        requests[1].received_at.duration_since(requests[0].received_at) >= Duration::from_secs(1),
        "the retry came before Retry-After"
    );
    assert_eq!(requests[0].json(), requests[2].json(), "the same message, retried");
    assert_eq!(deliveries(&notifier, "retried").await, 2.0);
    assert_eq!(deliveries(&notifier, "sent").await, 1.0);

    // A 4xx is not retried: one attempt, then the dead-letter stream.
    slack.respond_once(
        "POST",
        "/api/chat.postMessage",
        Reply::json(200, json!({"ok": false, "error": "channel_not_found"})),
    );
    let refused = event(EventKind::Opened, incident(Uuid::now_v7(), IncidentStatus::Open, 1), "alertmanager");
    publish(&bus, std::slice::from_ref(&refused)).await;
    // 5xx every time: three attempts, then the dead-letter stream.
    let failing = event(EventKind::Opened, incident(Uuid::now_v7(), IncidentStatus::Open, 1), "alertmanager");
    let dead_letters = wait_dead_letters(&redis, 1).await;
    assert_eq!(dead_letters[0]["event_id"], refused.id.to_string());
    assert_eq!(dead_letters[0]["attempts"], 1);
    assert!(dead_letters[0]["error"].as_str().unwrap_or_default().contains("channel_not_found"));
    slack.respond("POST", "/api/chat.postMessage", Reply::text(500, "boom"));
    publish(&bus, std::slice::from_ref(&failing)).await;
    let dead_letters = wait_dead_letters(&redis, 2).await;
    assert_eq!(dead_letters[1]["event_id"], failing.id.to_string());
    assert_eq!(dead_letters[1]["attempts"], 3);
    assert!(dead_letters[1]["error"].as_str().unwrap_or_default().starts_with("gave up after 3 attempts"));
    assert_eq!(deliveries(&notifier, "dead").await, 2.0);
    // Retries read the channel first (a failed post may have gone through); only posts count here.
    let posts = slack.requests().iter().filter(|request| request.path == "/api/chat.postMessage").count();
    assert_eq!(posts, 3 + 1 + 3, "3 for the first incident, 1 refused, 3 failing");

    notifier.stop().await;
    slack.stop().await;
}

async fn deliveries(notifier: &Notifier, outcome: &str) -> f64 {
    metric(notifier, &format!("tocsin_notifier_deliveries_total{{channel=\"slack\",outcome=\"{outcome}\"}}")).await
}

async fn wait_dead_letters(redis: &TestRedis, count: usize) -> Vec<Value> {
    let mut conn = tocsin_testkit::redis_connection(&redis.url).await;
    let key = tocsin_bus::dead_letter_key(&redis.prefix, "notifications");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries: redis::streams::StreamRangeReply =
            redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query_async(&mut conn).await.unwrap_or_default();
        let records: Vec<Value> = entries
            .ids
            .iter()
            .filter_map(|entry| entry.get::<String>("envelope"))
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect();
        if records.len() >= count {
            return records;
        }
        assert!(tokio::time::Instant::now() < deadline, "expected {count} dead letters, found {}", records.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_channel_goes_out_one_message_per_interval() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    // The webhook URL is a secret: the routing file names a file holding it.
    let hook_file = std::env::temp_dir().join(format!("tocsin-hook-{}", Uuid::new_v4()));
    std::fs::write(&hook_file, format!("{}/services/T000/B000/XXXX\n", slack.url)).expect("writing a test file");
    let routing = std::env::temp_dir().join(format!("tocsin-routing-{}.yaml", Uuid::new_v4()));
    std::fs::write(
        &routing,
        format!(
            "targets:\n  infra:\n    slack_webhook:\n      url_file: {}\nroutes: []\ndefault_route:\n  targets: [infra]\n",
            hook_file.display()
        ),
    )
    .expect("write");
    let routing_path = routing.display().to_string();
    let notifier =
        Notifier::start(&db, &redis, &[("ROUTING_FILE", &routing_path), ("CHANNEL_INTERVAL", "300ms")]).await;
    slack.respond("POST", "/services/T000/B000/XXXX", Reply::text(200, "ok"));
    let bus = bus(&redis);
    let burst: Vec<IncidentEvent> = (0..3)
        .map(|_| event(EventKind::Opened, incident(Uuid::now_v7(), IncidentStatus::Open, 1), "alertmanager"))
        .collect();
    publish(&bus, &burst).await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    for pair in requests.windows(2) {
        assert!(
            pair[1].received_at.duration_since(pair[0].received_at) >= Duration::from_millis(250),
            "paced at 300 ms"
        );
    }
    // Webhook mode: posts only, no buttons (a webhook cannot receive clicks).
    for request in &requests {
        assert_eq!(request.path, "/services/T000/B000/XXXX");
        assert_eq!(request.header("content-type"), Some("application/json; charset=utf-8"));
        let body = request.json();
        assert!(body["text"].as_str().unwrap_or_default().starts_with("[CRITICAL] High CPU usage"));
        assert!(action_ids(&body).iter().all(|id| id.starts_with("tocsin_link_")), "{:?}", action_ids(&body));
    }
    notifier.stop().await;
    slack.stop().await;
    let _ = std::fs::remove_file(routing);
    let _ = std::fs::remove_file(hook_file);
}

/// The word joiner tocsin puts where alert text would otherwise start a mention or a link.
const WJ: &str = "\u{2060}";

/// What no Slack request may hold: a mention Slack would act on, or anything linking to evil.example.
fn assert_no_live_mention_or_link(sent: &str) {
    for live in ["<!channel>", "<!here>", "<@U0ADMIN>", "@acme/security", "https://evil.example", "<https"] {
        assert!(!sent.contains(live), "slack received {live:?} live: {sent}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_alert_text_reaches_slack_as_inert_text() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), slack_posting_to_payments().await);
    slack.respond("POST", "/services/T000/B000/XXXX", Reply::text(200, "ok"));
    let secrets = std::env::temp_dir().join(format!("tocsin-hostile-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&secrets).expect("create dir all");
    std::fs::write(secrets.join("token"), BOT_TOKEN).expect("writing a test file");
    std::fs::write(secrets.join("hook"), format!("{}/services/T000/B000/XXXX\n", slack.url)).expect("write");
    let routing = secrets.join("routing.yaml");
    std::fs::write(
        &routing,
        format!(
            "targets:\n  bot:\n    slack:\n      channel: '#payments-oncall'\n      token_file: {0}/token\n  \
             hook:\n    slack_webhook:\n      url_file: {0}/hook\nroutes: []\ndefault_route:\n  targets: [bot, hook]\n",
            secrets.display()
        ),
    )
    .expect("write");
    let api = format!("{}/api", slack.url);
    let routing_path = routing.display().to_string();
    let notifier =
        Notifier::start(&db, &redis, &[("ROUTING_FILE", routing_path.as_str()), ("SLACK_API_URL", api.as_str())]).await;
    let bus = bus(&redis);
    let id = Uuid::now_v7();
    let hostile = |status: IncidentStatus, version: i64| {
        let mut incident = incident(id, status, version);
        incident.title = "<!channel> <https://evil.example|Runbook>".into();
        incident.service = "@acme/security".into();
        incident.opened_at = time::macros::datetime!(2026-03-01 12:00 UTC);
        incident
    };
    let mut opened = event(EventKind::Opened, hostile(IncidentStatus::Open, 1), "alertmanager");
    opened.detail = json!({"alert": {"alertname": "[Runbook](https://evil.example) <@U0ADMIN>"}});

    publish(&bus, &[opened]).await;
    slack.wait_for(2, Duration::from_secs(20)).await;
    let text = "[CRITICAL] &lt;!channel&gt; &lt;https:\u{2060}//evil.example|Runbook&gt; (open)";
    let header = json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": format!("🔴 [CRITICAL] <{WJ}!channel> <{WJ}https:{WJ}//evil.example|Runbook>"),
            "emoji": true,
        },
    });
    let status = json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": format!(":rotating_light: *OPEN* · Opened by [Runbook](https:{WJ}//evil.example) &lt;@{WJ}U0ADMIN&gt;"),
            "verbatim": true,
        },
    });
    let field = |text: String| json!({ "type": "mrkdwn", "text": text, "verbatim": true });
    let facts = json!({
        "type": "section",
        "fields": [
            field("*Status*\nopen".into()),
            field("*Severity*\ncritical".into()),
            field(format!("*Service*\n@{WJ}acme/security")),
            field("*Environment*\nproduction".into()),
            field("*Team*\nplatform".into()),
            field("*Alerts*\n1 firing of 1".into()),
            field("*Assignee*\nnobody".into()),
        ],
    });
    let context = json!({
        "type": "context",
        "elements": [field(
            "Opened <!date^1772366400^{date_short_pretty} {time}|2026-03-01 12:00:00.0 +00:00:00> · \
             alert `HighCPU` · instance `web-server-01`"
                .into(),
        )],
    });
    let links = [
        json!({ "type": "button", "action_id": "tocsin_link_0", "url": "https://runbooks.example.com/cpu", "text": { "type": "plain_text", "text": "Runbook" } }),
        json!({ "type": "button", "action_id": "tocsin_link_1", "url": format!("https://tocsin.example.com/incident/{id}"), "text": { "type": "plain_text", "text": "Dashboard" } }),
    ];
    let requests = slack.requests();
    let mut post = requests
        .iter()
        .find(|request| request.path == "/api/chat.postMessage")
        .unwrap_or_else(|| panic!("no chat.postMessage in {requests:?}"))
        .json();
    assert_eq!(post["metadata"]["event_type"], "tocsin_notification");
    post.as_object_mut().map(|body| body.remove("metadata"));
    let acknowledge = json!({ "type": "button", "action_id": "tocsin_acknowledge", "value": id.to_string(), "style": "primary", "text": { "type": "plain_text", "text": "Acknowledge" } });
    let resolve = json!({ "type": "button", "action_id": "tocsin_resolve", "value": id.to_string(), "text": { "type": "plain_text", "text": "Resolve" },
        "confirm": { "title": { "type": "plain_text", "text": "Resolve this incident?" }, "text": { "type": "mrkdwn", "text": "Its alerts may still be firing." }, "confirm": { "type": "plain_text", "text": "Resolve" }, "deny": { "type": "plain_text", "text": "Cancel" } } });
    assert_eq!(
        post,
        json!({
            "channel": "#payments-oncall",
            "text": text,
            "blocks": [header, status, facts, context, {
                "type": "actions",
                "elements": [acknowledge, resolve, links[0], links[1]],
            }],
        })
    );
    let hook = requests
        .iter()
        .find(|request| request.path == "/services/T000/B000/XXXX")
        .unwrap_or_else(|| panic!("nothing reached the webhook: {requests:?}"))
        .json();
    assert_eq!(
        hook,
        json!({ "text": text, "blocks": [header, status, facts, context, { "type": "actions", "elements": links }] })
    );

    // A later step's actor is free text too: the edit and the reply in the thread keep it inert.
    publish(
        &bus,
        &[event(EventKind::Acknowledged, hostile(IncidentStatus::Acknowledged, 2), "<!here> @acme/security")],
    )
    .await;
    let requests = slack.wait_for(5, Duration::from_secs(20)).await;
    let reply = requests
        .iter()
        .find(|request| request.path == "/api/chat.postMessage" && !request.json()["thread_ts"].is_null())
        .unwrap_or_else(|| panic!("no reply in the thread: {requests:?}"))
        .json();
    assert_eq!(reply["text"], format!(":eyes: Acknowledged by &lt;!here&gt; @{WJ}acme/security · now *acknowledged*"));
    for request in &requests {
        assert_no_live_mention_or_link(&request.text());
    }
    notifier.stop().await;
    slack.stop().await;
    let _ = std::fs::remove_dir_all(secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_is_an_inert_reply_in_the_thread_and_an_edit_updates_the_message_in_place() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), slack_posting_to_payments().await);
    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    let bus = bus(&redis);
    let id = Uuid::now_v7();
    publish(&bus, &[event(EventKind::Opened, incident(id, IncidentStatus::Open, 1), "alertmanager")]).await;
    slack.wait_for(1, Duration::from_secs(20)).await;

    let mut note = event(EventKind::NoteAdded, incident(id, IncidentStatus::Open, 2), "ana@example.com");
    note.detail = json!({"text": "Rolled back *v2.3* <!channel> [status](https://evil.example) @acme/security"});
    publish(&bus, &[note]).await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    assert_slack_call(&requests[1], "chat.update");
    let mut reply = assert_slack_call(&requests[2], "chat.postMessage");
    assert_eq!(reply["metadata"]["event_type"], "tocsin_notification");
    reply.as_object_mut().map(|body| body.remove("metadata"));
    assert_eq!(
        reply,
        json!({
            "channel": "C0PAYMENTS",
            "thread_ts": "1764201234.000100",
            "text": format!(
                ":memo: Note by ana@example.com: Rolled back *v2.3* &lt;!channel&gt; [status](https:{WJ}//evil.example) @{WJ}acme/security"
            ),
        })
    );

    let mut edited = incident(id, IncidentStatus::Open, 3);
    edited.title = "Checkout down in eu-west-1".into();
    edited.severity = tocsin_domain::Severity::Warning;
    let mut edit = event(EventKind::Edited, edited, "ana@example.com");
    edit.detail = json!({
        "title": {"from": "High CPU usage on web-server-01", "to": "Checkout down in eu-west-1"},
        "severity": {"from": "critical", "to": "warning"},
    });
    publish(&bus, &[edit]).await;
    let requests = slack.wait_for(5, Duration::from_secs(20)).await;
    let update = assert_slack_call(&requests[3], "chat.update");
    assert_eq!((&update["channel"], &update["ts"]), (&json!("C0PAYMENTS"), &json!("1764201234.000100")));
    assert_eq!(update["text"], "[WARNING] Checkout down in eu-west-1 (open)");
    assert_eq!(update["blocks"][0]["text"]["text"], "🟡 [WARNING] Checkout down in eu-west-1");
    let reply = assert_slack_call(&requests[4], "chat.postMessage");
    assert_eq!(
        reply["text"],
        ":rotating_light: Edited by ana@example.com: severity: critical → warning; \
         title: “High CPU usage on web-server-01” → “Checkout down in eu-west-1” · now *open*"
    );
    for request in &requests {
        assert_no_live_mention_or_link(&request.text());
    }
    notifier.stop().await;
    slack.stop().await;
}

fn sign(body: &str, timestamp: i64, secret: &str) -> String {
    tocsin_notifier::slack_actions::signature_of(&tocsin_runtime::Secret::new(secret), timestamp, body.as_bytes())
}

/// The form body Slack posts for a button click, as user `ana` of workspace `T0`.
pub fn click_body(action_id: &str, incident_id: Uuid) -> String {
    click_body_from(action_id, incident_id, "U0ANA", "T0", "https://hooks.slack.com/actions/T0/1/abc")
}

/// The form body Slack posts when `user` of workspace `team` clicks, with the `response_url`
/// through which the click may be answered.
fn click_body_from(action_id: &str, incident_id: Uuid, user: &str, team: &str, response_url: &str) -> String {
    let name = user.trim_start_matches("U0").to_lowercase();
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": team},
        "api_app_id": "A0", "token": "legacy", "trigger_id": format!("{}.{}", Uuid::new_v4(), 1),
        "team": {"id": team, "domain": "acme"}, "channel": {"id": "C0PAYMENTS", "name": "payments-oncall"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0PAYMENTS"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b1", "value": incident_id.to_string(), "type": "button", "action_ts": "1764201234.5"}]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("serialising")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_click_queues_a_command_and_a_bad_one_changes_nothing() {
    let (db, redis) = (TestDatabase::new().await, TestRedis::new());
    // A shop without tocsin users: clicks are done by the Slack user, as before tocsin had users.
    let notifier = Notifier::start(&db, &redis, &[("SLACK_UNMAPPED_CLICKS", "allow")]).await;
    let http = reqwest::Client::new();
    let incident_id = Uuid::now_v7();
    let body = click_body("tocsin_acknowledge", incident_id);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let post = |signature: String, timestamp: i64, body: String| {
        http.post(format!("{}/slack/actions", notifier.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header("X-Slack-Signature", signature)
            .body(body)
            .send()
    };

    let refused = [
        (sign(&body, now, "wrong-secret"), now, body.clone()),
        (sign(&body, now - 600, SIGNING_SECRET), now - 600, body.clone()),
        (sign(&body, now, SIGNING_SECRET), now, body.replace("ana", "eve")),
    ];
    for (signature, timestamp, sent) in refused {
        let response = post(signature, timestamp, sent).await.expect("POST");
        assert_eq!(response.status(), 401);
        let error: Value = response.json().await.unwrap_or_default();
        assert_eq!(error["error"]["code"], "unauthorized");
    }
    // Slack's payloads are small: a body over the route's 64 KiB is refused before it is verified.
    let oversized = format!("{body}&padding={}", "x".repeat(64 * 1024));
    let response = post(sign(&oversized, now, SIGNING_SECRET), now, oversized).await.expect("POST");
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap_or_default();
    assert_eq!(error["error"]["code"], "payload_too_large", "{error}");
    let mut conn = tocsin_testkit::redis_connection(&redis.url).await;
    let commands_key = tocsin_bus::stream_key(&redis.prefix, "commands");
    let length: u64 = redis::cmd("XLEN").arg(&commands_key).query_async(&mut conn).await.unwrap_or(99);
    assert_eq!(length, 0, "refused clicks queue nothing");

    let started = std::time::Instant::now();
    let response = post(sign(&body, now, SIGNING_SECRET), now, body.clone()).await.expect("POST");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3), "Slack gives up after 3 seconds");
    let entries: redis::streams::StreamRangeReply =
        redis::cmd("XRANGE").arg(&commands_key).arg("-").arg("+").query_async(&mut conn).await.unwrap_or_default();
    assert_eq!(entries.ids.len(), 1);
    let envelope: Envelope<Command> = entries.ids[0]
        .get::<String>("envelope")
        .and_then(|text| serde_json::from_str(&text).ok())
        .expect("the command does not decode");
    assert_eq!(envelope.payload.incident_id, incident_id);
    assert_eq!(envelope.payload.action, tocsin_domain::Action::Acknowledge);
    assert_eq!(envelope.payload.actor, "slack:ana");

    notifier.stop().await;
}

async fn post_click(notifier: &Notifier, body: String) -> reqwest::Response {
    post_signed(notifier, "/slack/actions", body).await
}

/// Posts `body` to `path` signed as Slack signs its requests, now.
async fn post_signed(notifier: &Notifier, path: &str, body: String) -> reqwest::Response {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    reqwest::Client::new()
        .post(format!("{}{path}", notifier.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", now.to_string())
        .header("X-Slack-Signature", sign(&body, now, SIGNING_SECRET))
        .body(body)
        .send()
        .await
        .expect("sending the request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_are_taken_only_from_allowed_workspaces_and_user_groups() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    slack.respond_with("GET", "/api/usergroups.users.list", |request| {
        if request.path == "/api/usergroups.users.list?usergroup=S0ONCALL" {
            Reply::json(200, json!({"ok": true, "users": ["U0ANA", "U0BOB"]}))
        } else {
            Reply::json(200, json!({"ok": false, "error": "no_such_subteam"}))
        }
    });
    slack.respond("POST", "/actions/T0ACME/1/abc", Reply::json(200, json!({"ok": true})));
    // Nobody is a tocsin user here: Ana's Slack account has no e-mail address tocsin knows, and
    // her clicks are done by her Slack user, as `SLACK_UNMAPPED_CLICKS=allow` says.
    slack.respond(
        "GET",
        "/api/users.info",
        Reply::json(200, json!({"ok": true, "user": {"id": "U0ANA", "profile": {"email": "ana@acme.example"}}})),
    );
    let notifier = Notifier::posting_to_slack(
        &db,
        &redis,
        &slack,
        "#payments-oncall",
        &[
            ("SLACK_ALLOWED_TEAMS", "T0ACME, T0ACMEEU"),
            ("SLACK_ALLOWED_USER_GROUPS", "S0ONCALL"),
            ("SLACK_UNMAPPED_CLICKS", "allow"),
        ],
    )
    .await;
    let response_url = format!("{}/actions/T0ACME/1/abc", slack.url);
    let incident_id = Uuid::now_v7();
    let click = |user: &str, team: &str| click_body_from("tocsin_acknowledge", incident_id, user, team, &response_url);

    // Ana, of an allowed workspace and in the on-call group: her click is queued.
    assert_eq!(post_click(&notifier, click("U0ANA", "T0ACME")).await.status(), 200);
    let commands = queued_commands(&redis).await;
    assert_eq!(commands.len(), 1);
    assert_eq!((commands[0].incident_id, commands[0].actor.as_str()), (incident_id, "slack:ana"));
    let requests = slack.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/api/usergroups.users.list?usergroup=S0ONCALL")
    );
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {BOT_TOKEN}").as_str()));
    assert!(requests[0].body.is_empty());
    assert_eq!((requests[1].method.as_str(), requests[1].path.as_str()), ("GET", "/api/users.info?user=U0ANA"));

    // Mallory, in a channel shared with another workspace: refused before Slack is even asked.
    assert_eq!(post_click(&notifier, click("U0MALLORY", "T0OTHER")).await.status(), 200);
    let requests = slack.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!((requests[2].method.as_str(), requests[2].path.as_str()), ("POST", "/actions/T0ACME/1/abc"));
    assert_eq!(requests[2].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[2].json(),
        json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": "Nothing was changed: only people of the Slack workspaces allowed to act on incidents can use these buttons.",
        })
    );

    // Eve, of the right workspace but in none of the groups: refused, from the membership read
    // a moment ago (it is cached).
    assert_eq!(post_click(&notifier, click("U0EVE", "T0ACME")).await.status(), 200);
    let requests = slack.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!((requests[3].method.as_str(), requests[3].path.as_str()), ("POST", "/actions/T0ACME/1/abc"));
    assert_eq!(
        requests[3].json(),
        json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": "Nothing was changed: only members of the Slack user groups allowed to act on incidents can use these buttons.",
        })
    );

    // Ana again: still allowed, and Slack is asked neither for the group nor for who she is.
    assert_eq!(post_click(&notifier, click("U0ANA", "T0ACME")).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.requests().len(), 4, "{:?}", slack.requests());
    let commands = queued_commands(&redis).await;
    assert_eq!(commands.len(), 2, "refused clicks queue nothing: {commands:?}");
    assert!(commands.iter().all(|command| command.actor == "slack:ana"), "{commands:?}");
    let refused = |reason: &str| format!("tocsin_notifier_slack_clicks_refused_total{{reason=\"{reason}\"}}");
    assert_eq!(metric(&notifier, &refused("team_not_allowed")).await, 1.0);
    assert_eq!(metric(&notifier, &refused("not_in_user_group")).await, 1.0);
    assert_eq!(metric(&notifier, &refused("membership_unknown")).await, 0.0);

    notifier.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_whose_user_groups_slack_cannot_tell_is_refused() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    slack.respond(
        "GET",
        "/api/usergroups.users.list",
        Reply::json(200, json!({"ok": false, "error": "missing_scope"})),
    );
    slack.respond("POST", "/actions/T0/1/abc", Reply::json(200, json!({"ok": true})));
    let notifier = Notifier::posting_to_slack(
        &db,
        &redis,
        &slack,
        "#payments-oncall",
        &[("SLACK_ALLOWED_USER_GROUPS", "S0ONCALL")],
    )
    .await;
    let body =
        click_body_from("tocsin_resolve", Uuid::now_v7(), "U0ANA", "T0", &format!("{}/actions/T0/1/abc", slack.url));

    assert_eq!(post_click(&notifier, body).await.status(), 200);

    let requests = slack.wait_for(2, Duration::from_secs(10)).await;
    let calls: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(calls, [("GET", "/api/usergroups.users.list?usergroup=S0ONCALL"), ("POST", "/actions/T0/1/abc")]);
    assert_eq!(
        requests[1].json()["text"],
        "Nothing was changed: Slack could not tell tocsin which user groups you are in. Try again in a minute."
    );
    assert!(queued_commands(&redis).await.is_empty());
    assert_eq!(
        metric(&notifier, "tocsin_notifier_slack_clicks_refused_total{reason=\"membership_unknown\"}").await,
        1.0
    );
    notifier.stop().await;
    slack.stop().await;
}

/// A tocsin user, as their first sign-in makes them.
async fn tocsin_user(db: &TestDatabase, login: &str, email: &str) -> UserRow {
    let identity =
        SignedInIdentity { issuer: "https://login.example.com", subject: login, name: login, email: Some(email) };
    people::sign_in_user(&mut db.connection().await, &identity).await.expect("sign_in_user")
}

/// `user` with `role` in team `team`.
async fn member_of(db: &TestDatabase, team: &str, user: &UserRow, role: Role) {
    let mut conn = db.connection().await;
    conn.transaction(async |conn| {
        let team = teams::lock_or_create_team(conn, team, "test").await?;
        teams::set_member(conn, &team, user, role, "test", false).await.map_err(|error| match error {
            teams::MembershipError::Storage(error) => error,
            other => tocsin_storage::StorageError::Corrupt(other.to_string()),
        })?;
        Ok::<_, tocsin_storage::StorageError>(())
    })
    .await
    .expect("a team member");
}

/// A Slack contact method of `user` naming their member id.
async fn slack_member_id(db: &TestDatabase, user: &UserRow, member_id: &str) {
    let mut conn = db.connection().await;
    conn.transaction(async |conn| {
        contacts::lock_user(conn, user.id).await?;
        let method = NewMethod { kind: ContactKind::Slack, address: member_id, label: "" };
        contacts::add_method(conn, user, &method, "test").await?;
        Ok::<_, contacts::ContactError>(())
    })
    .await
    .expect("a slack contact method");
}

/// An open incident of team `team` as incident-core stores it, for a click to name.
async fn stored_incident(db: &TestDatabase, team: &str) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status, \
         source_fingerprint, source_starts_at, source_labels, opened_at) \
         VALUES ($1, $2, 'Checkout down', 'checkout-api', 'production', 'critical', $3, 'open', 'f1', now(), '{}', now())",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Text, _>(id.to_string())
    .bind::<diesel::sql_types::Text, _>(team)
    .execute(&mut db.connection().await)
    .await
    .expect("inserting the incident");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_is_done_by_the_tocsin_user_the_slack_user_is_and_judged_by_their_roles() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    // Slack's users.info: Ana's address in another case than tocsin's; Eve's, of a viewer;
    // Mallory's, of nobody tocsin knows.
    slack.respond_with("GET", "/api/users.info", |request| {
        let email = match request.path.as_str() {
            "/api/users.info?user=U0ANA" => "Ana@Example.com",
            "/api/users.info?user=U0EVE" => "eve@example.com",
            _ => "mallory@elsewhere.example",
        };
        Reply::json(200, json!({"ok": true, "user": {"id": "U0X", "profile": {"email": email}}}))
    });
    slack.respond("POST", "/actions/T0/1/abc", Reply::json(200, json!({"ok": true})));
    let ana = tocsin_user(&db, "ana", "ana@example.com").await;
    let eve = tocsin_user(&db, "eve", "eve@example.com").await;
    let bo = tocsin_user(&db, "bo", "bo@example.com").await;
    member_of(&db, "payments", &ana, Role::Responder).await;
    member_of(&db, "payments", &eve, Role::Viewer).await;
    member_of(&db, "payments", &bo, Role::Manager).await;
    slack_member_id(&db, &bo, "U0BO").await;
    let incident_id = stored_incident(&db, "payments").await;
    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    let response_url = format!("{}/actions/T0/1/abc", slack.url);
    let click = |user: &str| click_body_from("tocsin_acknowledge", incident_id, user, "T0", &response_url);
    let calls = |requests: &[RecordedRequest]| -> Vec<String> {
        requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect()
    };

    // Ana, a responder of the incident's team: her click is hers, by her e-mail address.
    assert_eq!(post_click(&notifier, click("U0ANA")).await.status(), 200);
    let commands = queued_commands(&redis).await;
    assert_eq!(commands.len(), 1);
    assert_eq!((commands[0].incident_id, commands[0].actor.as_str()), (incident_id, "ana@example.com"));
    let requests = slack.requests();
    assert_eq!(calls(&requests), ["GET /api/users.info?user=U0ANA"]);
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {BOT_TOKEN}").as_str()));

    // Bo's Slack contact method names his member id: Slack is not asked who he is.
    assert_eq!(post_click(&notifier, click("U0BO")).await.status(), 200);
    let commands = queued_commands(&redis).await;
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[1].actor, "bo@example.com");
    assert_eq!(slack.requests().len(), 1, "{:?}", calls(&slack.requests()));

    // Mallory is no tocsin user: refused, told why, nothing queued.
    assert_eq!(post_click(&notifier, click("U0MALLORY")).await.status(), 200);
    let requests = slack.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(calls(&requests[1..]), ["GET /api/users.info?user=U0MALLORY", "POST /actions/T0/1/abc"]);
    assert_eq!(requests[2].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[2].json(),
        json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": "Nothing was changed: tocsin does not know who you are. Sign in to tocsin once with the e-mail \
                     address of your Slack account, or add your Slack member id to your tocsin profile as a Slack \
                     contact method.",
        })
    );

    // Eve is a viewer of the team: refused by her role, as the API would refuse her.
    assert_eq!(post_click(&notifier, click("U0EVE")).await.status(), 200);
    let requests = slack.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(calls(&requests[3..]), ["GET /api/users.info?user=U0EVE", "POST /actions/T0/1/abc"]);
    assert_eq!(
        requests[4].json()["text"],
        "Nothing was changed: acting on an incident of team `payments` needs the responder or manager role in \
         that team, or admin; you are a viewer there."
    );

    // A storm of clicks: what Slack said is kept in PostgreSQL, so it is not asked again.
    for _ in 0..3 {
        assert_eq!(post_click(&notifier, click("U0ANA")).await.status(), 200);
    }
    assert_eq!(post_click(&notifier, click("U0MALLORY")).await.status(), 200);
    slack.wait_for(6, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(calls(&slack.requests()[5..]), ["POST /actions/T0/1/abc"], "no users.info call");
    let commands = queued_commands(&redis).await;
    assert_eq!(commands.len(), 5, "{commands:?}");
    assert!(commands[2..].iter().all(|command| command.actor == "ana@example.com"), "{commands:?}");

    let refused = |reason: &str| format!("tocsin_notifier_slack_clicks_refused_total{{reason=\"{reason}\"}}");
    assert_eq!(metric(&notifier, &refused("not_a_tocsin_user")).await, 2.0);
    assert_eq!(metric(&notifier, &refused("not_permitted")).await, 1.0);
    assert_eq!(metric(&notifier, &refused("identity_unknown")).await, 0.0);
    notifier.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_unmapped_clicks_allowed_a_stranger_acts_as_the_slack_user_and_a_tocsin_user_as_themselves() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    slack.respond_with("GET", "/api/users.info", |request| {
        let email = if request.path.ends_with("U0ANA") { "ana@example.com" } else { "mallory@elsewhere.example" };
        Reply::json(200, json!({"ok": true, "user": {"id": "U0X", "profile": {"email": email}}}))
    });
    let ana = tocsin_user(&db, "ana", "ana@example.com").await;
    member_of(&db, "payments", &ana, Role::Responder).await;
    let incident_id = stored_incident(&db, "payments").await;
    let notifier =
        Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[("SLACK_UNMAPPED_CLICKS", "allow")])
            .await;
    let click = |user: &str| {
        click_body_from("tocsin_acknowledge", incident_id, user, "T0", "https://hooks.slack.com/actions/T0/1/abc")
    };

    assert_eq!(post_click(&notifier, click("U0MALLORY")).await.status(), 200);
    assert_eq!(post_click(&notifier, click("U0ANA")).await.status(), 200);
    let actors: Vec<String> = queued_commands(&redis).await.into_iter().map(|command| command.actor).collect();
    assert_eq!(actors, ["slack:mallory", "ana@example.com"]);
    let paths: Vec<String> = slack.requests().into_iter().map(|request| request.path).collect();
    assert_eq!(paths, ["/api/users.info?user=U0MALLORY", "/api/users.info?user=U0ANA"]);
    notifier.stop().await;
    slack.stop().await;
}

/// A Slack channel on `slack` that keeps what is posted to it and reads it back with its metadata,
/// as `conversations.history` (newest first) and `conversations.replies` do. The posts numbered in
/// `lost_answers` (from 1) are kept but answered only after 2.5 s, as when Slack takes a message and
/// the answer is lost.
fn keeping_channel(slack: &FakeApi, channel: &'static str, lost_answers: &'static [usize]) -> Arc<Mutex<Vec<Value>>> {
    let kept: Arc<Mutex<Vec<Value>>> = Arc::default();
    let posts = kept.clone();
    slack.respond_with("POST", "/api/chat.postMessage", move |request| {
        let body = request.json();
        let (ts, lost) = {
            let mut posts = posts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let ts = format!("1764201234.{:06}", posts.len() + 1);
            let mut message = json!({"type": "message", "ts": ts, "text": body["text"], "metadata": body["metadata"]});
            if let Some(thread) = body["thread_ts"].as_str() {
                message["thread_ts"] = json!(thread);
            }
            posts.push(message);
            (ts, lost_answers.contains(&posts.len()))
        };
        if lost {
            std::thread::sleep(Duration::from_millis(2500));
        }
        slack_ok(channel, &ts)
    });
    slack.respond_with("POST", "/api/chat.update", move |request| {
        slack_ok(channel, request.json()["ts"].as_str().unwrap_or(""))
    });
    let history = kept.clone();
    slack.respond_with("GET", "/api/conversations.history", move |_| {
        let posts = history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let messages: Vec<Value> = posts.iter().rev().filter(|m| m["thread_ts"].is_null()).cloned().collect();
        Reply::json(200, json!({"ok": true, "messages": messages, "has_more": false}))
    });
    let replies = kept.clone();
    slack.respond_with("GET", "/api/conversations.replies", move |request| {
        let parent = request.path.split("ts=").nth(1).and_then(|rest| rest.split('&').next()).unwrap_or("").to_owned();
        let posts = replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let messages: Vec<Value> =
            posts.iter().filter(|m| m["ts"] == parent.as_str() || m["thread_ts"] == parent.as_str()).cloned().collect();
        Reply::json(200, json!({"ok": true, "messages": messages, "has_more": false}))
    });
    kept
}

fn posts(slack: &FakeApi) -> Vec<Value> {
    slack.requests().iter().filter(|r| r.path == "/api/chat.postMessage").map(RecordedRequest::json).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_slack_took_whose_answer_was_lost_is_found_in_the_channel_not_posted_again() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    let kept = keeping_channel(&slack, "C0PAYMENTS", &[1, 2]);
    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "C0PAYMENTS", &[("DELIVERY_TIMEOUT", "1s")]).await;
    let bus = bus(&redis);
    let id = Uuid::now_v7();
    let opened = event(EventKind::Opened, incident(id, IncidentStatus::Open, 1), "alertmanager");

    // Slack keeps the message, the answer comes after the notifier gave up waiting: the retry
    // reads the channel, finds the message by its metadata and does not post it again.
    publish(&bus, std::slice::from_ref(&opened)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while deliveries(&notifier, "sent").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the delivery was never marked sent: {:?}", slack.requests());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The fake serves one request at a time, so the look at the channel may wait out the lost
    // answer and time out once more: at least one failed attempt.
    assert!(deliveries(&notifier, "retried").await >= 1.0, "the lost answer counts as a failed attempt");
    let sent = posts(&slack);
    assert_eq!(sent.len(), 1, "posted once: {sent:?}");
    assert_eq!(sent[0]["metadata"]["event_type"], "tocsin_notification");
    assert_eq!(sent[0]["metadata"]["event_payload"]["event_id"], opened.id.to_string());
    assert_eq!(sent[0]["metadata"]["event_payload"]["incident_id"], id.to_string());
    let reads: Vec<RecordedRequest> =
        slack.requests().into_iter().filter(|r| r.path.starts_with("/api/conversations.history?")).collect();
    assert!(!reads.is_empty(), "the channel is looked at before posting again");
    assert!(reads[0].path.contains("channel=C0PAYMENTS") && reads[0].path.contains("include_all_metadata=true"));

    // The message found is the incident's: the next event edits it and replies in its thread. That
    // reply's answer is lost too: the retry finds it in the thread and neither edits nor replies again.
    publish(&bus, &[event(EventKind::Acknowledged, incident(id, IncidentStatus::Acknowledged, 2), "ana@example.com")])
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while deliveries(&notifier, "sent").await < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "the acknowledgement was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(deliveries(&notifier, "retried").await >= 2.0);
    let updates: Vec<Value> =
        slack.requests().iter().filter(|r| r.path == "/api/chat.update").map(RecordedRequest::json).collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["ts"], "1764201234.000001");
    assert!(updates[0]["metadata"].is_null(), "an edit keeps the message's own metadata");
    let sent = posts(&slack);
    assert_eq!((sent.len(), &sent[1]["thread_ts"]), (2, &json!("1764201234.000001")));
    let replies: Vec<RecordedRequest> =
        slack.requests().into_iter().filter(|r| r.path.starts_with("/api/conversations.replies?")).collect();
    assert!(!replies.is_empty(), "the thread is read before replying again");
    assert!(replies[0].path.contains("ts=1764201234.000001"), "{}", replies[0].path);
    assert_eq!(kept.lock().map(|posts| posts.len()).unwrap_or_default(), 2, "one message and one reply");
    notifier.stop().await;
    slack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_left_by_a_dead_replica_are_looked_for_before_they_are_posted() {
    use tocsin_storage::notifications::{NewDelivery, claim_due, enqueue};
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), FakeApi::start().await);
    let kept = keeping_channel(&slack, "C0PAYMENTS", &[]);
    // Two incidents' first events, claimed by a replica that then died (its claims ran out at
    // once): it had posted the first one, not the second.
    let (posted, unposted) = (Uuid::now_v7(), Uuid::now_v7());
    let events = [
        event(EventKind::Opened, incident(posted, IncidentStatus::Open, 1), "alertmanager"),
        event(EventKind::Opened, incident(unposted, IncidentStatus::Open, 1), "alertmanager"),
    ];
    let texts: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
    let mut conn = db.connection().await;
    let rows: Vec<NewDelivery<'_>> = events
        .iter()
        .zip(&texts)
        .map(|(e, text)| NewDelivery {
            event_id: e.id,
            target: "slack",
            incident_id: e.incident.id,
            event: text,
            traceparent: None,
            contact_method_id: None,
            next_attempt_at: None,
        })
        .collect();
    assert_eq!(enqueue(&mut conn, &rows).await.unwrap_or_default(), 2);
    let claimed = claim_due(&mut conn, 10, Duration::ZERO).await.expect("claim due");
    let dead_replicas_post = claimed.iter().find(|d| d.incident_id == posted).unwrap_or_else(|| panic!("{claimed:?}"));
    kept.lock().unwrap_or_else(|p| p.into_inner()).push(json!({
        "type": "message", "ts": "1764201000.000001", "text": "[CRITICAL] High CPU usage on web-server-01 (open)",
        "metadata": {"event_type": "tocsin_notification", "event_payload": {
            "delivery_id": dead_replicas_post.id, "event_id": dead_replicas_post.event_id.to_string(), "incident_id": posted.to_string()}}
    }));

    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "C0PAYMENTS", &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while deliveries(&notifier, "sent").await < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "both deliveries should be settled: {:?}", slack.requests());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = posts(&slack);
    assert_eq!(sent.len(), 1, "only the delivery the dead replica had not posted: {sent:?}");
    assert_eq!(sent[0]["metadata"]["event_payload"]["incident_id"], unposted.to_string());
    let reads = slack.requests().iter().filter(|r| r.path.starts_with("/api/conversations.history?")).count();
    assert_eq!(reads, 2, "each delivery in doubt is looked for");

    // The message found became the incident's thread: its next event edits it.
    let bus = bus(&redis);
    publish(&bus, &[event(EventKind::Acknowledged, incident(posted, IncidentStatus::Acknowledged, 2), "ana")]).await;
    while deliveries(&notifier, "sent").await < 3.0 {
        assert!(tokio::time::Instant::now() < deadline, "the acknowledgement was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let updates: Vec<Value> =
        slack.requests().iter().filter(|r| r.path == "/api/chat.update").map(RecordedRequest::json).collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["ts"], "1764201000.000001", "the dead replica's message is edited, not a new one posted");
    notifier.stop().await;
    slack.stop().await;
}

/// Posts a signed `/tocsin` slash command with `text` and returns the notifier's answer.
async fn slash_command(notifier: &Notifier, text: &str) -> reqwest::Response {
    let body = serde_urlencoded::to_string([
        ("token", "legacy"),
        ("team_id", "T0"),
        ("channel_id", "C0PAYMENTS"),
        ("user_id", "U0ANA"),
        ("user_name", "ana"),
        ("command", "/tocsin"),
        ("text", text),
        ("response_url", "https://hooks.slack.com/commands/T0/1/abc"),
        ("trigger_id", "1.2.3"),
    ])
    .expect("serialising");
    post_signed(notifier, "/slack/commands", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsin_oncall_answers_who_is_on_call_now_only_to_the_asker() {
    let (db, redis) = (TestDatabase::new().await, TestRedis::new());
    // A name that would mention the whole channel were it not escaped.
    let ana = tocsin_user(&db, "ana", "ana@example.com").await;
    diesel::sql_query("UPDATE users SET name = 'Ana <!here> & co' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(ana.id)
        .execute(&mut db.connection().await)
        .await
        .expect("renaming Ana");
    let mut conn = db.connection().await;
    let payments = conn
        .transaction(async |conn| teams::lock_or_create_team(conn, "payments", "test").await)
        .await
        .expect("the payments team");
    conn.transaction(async |conn| teams::lock_or_create_team(conn, "search", "test").await)
        .await
        .expect("the search team");
    let primary = schedules::create(&mut conn, payments.id, "primary", "Europe/Berlin").await.expect("a schedule");
    schedules::create(&mut conn, payments.id, "secondary", "Europe/Berlin").await.expect("a schedule");
    let members = [ana.id];
    let daily = NewLayerVersion {
        schedule_id: primary,
        layer: Uuid::now_v7(),
        priority: 0,
        time_zone: None,
        first_handoff: time::macros::datetime!(2026-03-01 09:00),
        shift_unit: "days",
        shift_count: 1,
        restrictions: json!([]),
        members: &members,
        created_by: "test",
    };
    schedules::put_layer(&mut conn, &daily, time::macros::datetime!(2026-03-01 00:00 UTC)).await.expect("a layer");
    let notifier = Notifier::start(&db, &redis, &[]).await;
    let ephemeral = |text: &str| json!({"response_type": "ephemeral", "text": text});

    let started = std::time::Instant::now();
    let response = slash_command(&notifier, "oncall payments").await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3), "Slack gives up after 3 seconds");
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        ephemeral(
            "*On call now*\n• *payments* · primary: Ana &lt;!here&gt; &amp; co\n• *payments* · secondary: _nobody_"
        )
    );
    // Every team's schedules when none is named.
    let every = slash_command(&notifier, "  oncall ").await.json::<Value>().await.expect("JSON");
    assert_eq!(
        every,
        ephemeral(
            "*On call now*\n• *payments* · primary: Ana &lt;!here&gt; &amp; co\n• *payments* · secondary: _nobody_"
        )
    );
    assert_eq!(
        slash_command(&notifier, "oncall search").await.json::<Value>().await.expect("JSON"),
        ephemeral("Team `search` has no on-call schedule.")
    );
    assert_eq!(
        slash_command(&notifier, "oncall <!channel>").await.json::<Value>().await.expect("JSON"),
        ephemeral("tocsin has no team `&lt;!channel&gt;`. `/tocsin oncall` lists every team's schedules.")
    );
    assert_eq!(
        slash_command(&notifier, "help").await.json::<Value>().await.expect("JSON"),
        ephemeral(
            "Try `/tocsin oncall` for who is on call now in every team, or `/tocsin oncall &lt;team&gt;` for one team."
        )
    );

    // Signed as a click is: anything else is refused.
    let response = reqwest::Client::new()
        .post(format!("{}/slack/commands", notifier.url))
        .header("X-Slack-Request-Timestamp", OffsetDateTime::now_utc().unix_timestamp().to_string())
        .header("X-Slack-Signature", "v0=00")
        .body("command=%2Ftocsin&text=oncall")
        .send()
        .await
        .expect("sending the request");
    assert_eq!(response.status(), 401);
    notifier.stop().await;
}

/// An event as incident-core writes it while a maintenance window holds the incident.
fn held(kind: EventKind, incident: Incident, actor: &str) -> IncidentEvent {
    let until = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let hold = Hold { window_id: Uuid::from_u128(0x3a1), reason: "database upgrade".into(), until };
    IncidentEvent { maintenance: Some(hold), ..event(kind, incident, actor) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_while_maintenance_holds_an_incident_and_one_message_when_it_ends() {
    let (db, redis, slack) = (TestDatabase::new().await, TestRedis::new(), slack_posting_to_payments().await);
    let notifier = Notifier::posting_to_slack(&db, &redis, &slack, "#payments-oncall", &[]).await;
    let bus = bus(&redis);
    let (still_firing, resolved_inside) = (Uuid::now_v7(), Uuid::now_v7());

    publish(
        &bus,
        &[
            held(EventKind::Opened, incident(still_firing, IncidentStatus::Open, 1), "alertmanager"),
            held(EventKind::InMaintenance, incident(still_firing, IncidentStatus::Open, 1), "tocsin"),
            held(EventKind::AlertAdded, incident(still_firing, IncidentStatus::Open, 2), "alertmanager"),
            held(EventKind::Opened, incident(resolved_inside, IncidentStatus::Open, 1), "alertmanager"),
            held(EventKind::InMaintenance, incident(resolved_inside, IncidentStatus::Open, 1), "tocsin"),
            held(EventKind::Resolved, incident(resolved_inside, IncidentStatus::Resolved, 2), "tocsin"),
        ],
    )
    .await;
    // The window ends on the incident still firing: incident-core's release, not held.
    let mut ended = event(EventKind::MaintenanceEnded, incident(still_firing, IncidentStatus::Open, 2), "tocsin");
    ended.detail = json!({"window_id": Uuid::from_u128(0x3a1), "reason": "database upgrade"});
    publish(&bus, &[ended]).await;

    let requests = slack.wait_for(1, Duration::from_secs(20)).await;
    let post = assert_slack_call(&requests[0], "chat.postMessage");
    assert_eq!(post["channel"], "#payments-oncall");
    assert!(post.get("thread_ts").is_none(), "the incident's own message, not a reply: {post}");
    assert_eq!(post["text"], "[CRITICAL] High CPU usage on web-server-01 (open)");
    assert!(post.to_string().contains("Still firing after the maintenance window ended (database upgrade)"), "{post}");
    assert_eq!(action_ids(&post)[..2], ["tocsin_acknowledge".to_owned(), "tocsin_resolve".to_owned()]);

    // Notified now, so its resolve passes: the message is updated and the thread told.
    publish(&bus, &[event(EventKind::Resolved, incident(still_firing, IncidentStatus::Resolved, 3), "tocsin")]).await;
    let requests = slack.wait_for(3, Duration::from_secs(20)).await;
    assert_slack_call(&requests[1], "chat.update");
    assert_eq!(assert_slack_call(&requests[2], "chat.postMessage")["thread_ts"], "1764201234.000100");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(slack.requests().len(), 3, "nothing for the held events, nor for the incident resolved inside");
    // Two deliveries: the release's message, and the resolve (an update and its reply).
    assert_eq!(metric(&notifier, "tocsin_notifier_deliveries_total{channel=\"slack\",outcome=\"sent\"}").await, 2.0);

    notifier.stop().await;
    slack.stop().await;
}
