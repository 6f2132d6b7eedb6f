//! Paging a person, the whole way through the running stack (issue "Page a person", "Prove it"):
//! a team with a schedule that has Ana on call and a policy that pages it, Ana's rules "Slack DM
//! at once, SMS after a minute"; an alert comes in at ingest, the incident opens, incident-core's
//! escalation engine pages the schedule, the notifier sends Ana the Slack DM within 5 seconds;
//! nobody acknowledges, so the SMS goes out when its minute is up; Ana replies "1a", signed as
//! Twilio signs it, and the incident is acknowledged in query's API and its Slack channel message
//! is edited to say so. Slack and Twilio are local HTTP servers recording the requests.
//!
//! Everything is set up through query's API with an admin token, as an operator would, but for
//! Ana herself: people become users by signing in, which this test does in the database. A rule's
//! delay is in whole minutes, so the test waits for one: the shortest the settings allow.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tocsin_e2e::slack::{CHANNEL_ID, MESSAGE_TS};
use tocsin_e2e::{Stack, StackOptions, slack, webhook};
use tocsin_runtime::Secret;
use tocsin_testkit::{FakeApi, RecordedRequest, Reply};

const ACCOUNT_SID: &str = "AC0E2E";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token";
const FROM: &str = "+15005550006";
const ANA_PHONE: &str = "+14155550123";
const ANA_SLACK: &str = "U0ANA1234";
const WEBHOOK_BASE: &str = "https://tocsin.example.com";

/// Polls `check` until it gives something, or fails after `timeout` saying `what`.
async fn within<T>(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `chat.update`s of the incident's channel message, oldest first.
fn channel_updates(fake_slack: &FakeApi) -> Vec<Value> {
    let requests = fake_slack.requests().into_iter();
    requests.filter(|request| request.path == "/api/chat.update").map(|request| request.json()).collect()
}

/// The facts of a channel message ("*Status*\nopen", "*Paging*\nAna", …): its third block's fields.
fn facts(message: &Value) -> Vec<String> {
    let fields = message["blocks"][2]["fields"].as_array().into_iter().flatten();
    fields.filter_map(|field| field["text"].as_str().map(str::to_owned)).collect()
}

fn form(request: &RecordedRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&request.body).expect("a form body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_pages_the_on_call_person_by_slack_then_sms_and_an_sms_reply_acknowledges() {
    let fake_slack = slack::start().await;
    let twilio = FakeApi::start().await;
    twilio.respond(
        "POST",
        &format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"),
        Reply::json(201, json!({"sid": "SM0E2E"})),
    );
    let mut notifier_env = slack::notifier_env(&fake_slack);
    notifier_env.extend(
        [
            ("SLACK_DM_TOKEN", "xoxb-e2e-dm"),
            ("TWILIO_API_URL", twilio.url.as_str()),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_FROM", FROM),
            ("TWILIO_WEBHOOK_BASE_URL", WEBHOOK_BASE),
            ("PUBLIC_URL", "https://tocsin.example.com"),
            ("DELIVERY_BACKOFF", "50ms"),
            ("DELIVERY_MAX_BACKOFF", "200ms"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let stack = Stack::start_with(StackOptions { notifier_env, ..StackOptions::default() }).await;

    // The team `payments` owns the alert's service; its schedule has Ana on call all week, and
    // the service's policy pages whoever is on call.
    stack.someone_on_call("web-server", "payments", "Ana", "ana@example.com", "Europe/London").await;
    let on_call = stack.admin(reqwest::Method::GET, "/oncall?team=payments", &Value::Null, 200).await;
    assert_eq!(on_call["items"][0]["user"]["email"], "ana@example.com", "{on_call}");

    // Ana's rules: a Slack DM at once, an SMS a minute after the page.
    let mut methods = Vec::new();
    for (kind, address) in [("slack", ANA_SLACK), ("sms", ANA_PHONE)] {
        let method = stack
            .admin(
                reqwest::Method::POST,
                "/users/ana@example.com/contact-methods",
                &json!({"kind": kind, "address": address}),
                201,
            )
            .await;
        methods.push(method["id"].as_str().expect("the method's id").to_owned());
    }
    for (method, delay_minutes) in methods.iter().zip([0, 1]) {
        let rule = json!({"contact_method_id": method, "urgency": "high", "delay_minutes": delay_minutes});
        stack.admin(reqwest::Method::POST, "/users/ana@example.com/notification-rules", &rule, 201).await;
    }

    // The alert. Within 5 seconds: the team's channel message and Ana's direct message.
    let alerted = Instant::now();
    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let is_dm =
        |request: &RecordedRequest| request.path == "/api/chat.postMessage" && request.json()["channel"] == ANA_SLACK;
    let dm = within("Ana's Slack DM", Duration::from_secs(5), async || {
        fake_slack.requests().into_iter().find(|request| is_dm(request))
    })
    .await;
    assert_eq!(dm.header("authorization"), Some("Bearer xoxb-e2e-dm"));
    let channel_message = fake_slack
        .requests()
        .into_iter()
        .find(|request| request.path == "/api/chat.postMessage" && request.json()["channel"] == "#oncall")
        .expect("the incident's message in the team's channel");
    let incident_id = slack::incident_of(&channel_message);
    assert_eq!(slack::incident_of(&dm), incident_id, "the DM carries the incident's buttons");
    let dm_text = dm.json()["text"].as_str().unwrap_or_default().to_owned();
    assert!(dm_text.contains("HighCPU") || dm_text.contains("CRITICAL"), "{dm_text}");
    assert!(twilio.requests().is_empty(), "the SMS waits for its minute");

    // The channel message is edited to name who is being paged, and the step is in its thread.
    within("the channel message naming Ana as paged", Duration::from_secs(5), async || {
        channel_updates(&fake_slack).into_iter().find(|update| facts(update).iter().any(|fact| fact == "*Paging*\nAna"))
    })
    .await;
    within("the step in the message's thread", Duration::from_secs(5), async || {
        fake_slack.requests().into_iter().map(|request| request.json()).find(|reply| {
            reply["thread_ts"] == MESSAGE_TS
                && reply["text"].as_str().is_some_and(|text| text.contains("Escalation step 1: paging Ana"))
        })
    })
    .await;

    // Nobody acknowledges: the SMS goes out when its minute is up, saying how to answer.
    let sms = within("the SMS", Duration::from_secs(90), async || twilio.requests().into_iter().next()).await;
    assert!(alerted.elapsed() >= Duration::from_secs(55), "the SMS came at {:?}, before its minute", alerted.elapsed());
    assert_eq!(sms.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
    let fields = form(&sms);
    let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    assert_eq!(field("To").as_deref(), Some(ANA_PHONE));
    assert_eq!(field("From").as_deref(), Some(FROM));
    let text = field("Body").unwrap_or_default();
    assert!(text.contains(" · Reply 1a to acknowledge, 1r to resolve · "), "{text}");
    assert!(text.ends_with(&format!("https://tocsin.example.com/incident/{incident_id}")), "{text}");
    let (status, _) = stack.get(&format!("/incidents/{incident_id}")).await;
    assert_eq!(status, 200);

    // Ana replies "1a"; Twilio posts it to the notifier, signed for the URL it was given.
    let reply = [
        ("MessageSid", "SM0E2EREPLY0001"),
        ("AccountSid", ACCOUNT_SID),
        ("From", ANA_PHONE),
        ("To", FROM),
        ("Body", "1a"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    let signature = tocsin_notifier::twilio_replies::signature_of(
        &Secret::new(AUTH_TOKEN),
        &format!("{WEBHOOK_BASE}/twilio/sms"),
        &reply,
    );
    let answer = stack
        .http
        .post(format!("{}/twilio/sms", stack.notifier_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(serde_urlencoded::to_string(&reply).expect("a form"))
        .send()
        .await
        .expect("POST /twilio/sms");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap_or_default(),
        "<Response><Message>tocsin: acknowledging 1.</Message></Response>"
    );

    // Acknowledged in query's API (what the dashboard reads), by Ana.
    let acknowledged = stack
        .incidents_when("?status=acknowledged", |items| items.iter().any(|i| i["id"] == incident_id.as_str()))
        .await;
    assert_eq!(acknowledged[0]["acknowledged_by"], "ana@example.com");

    // The channel message is edited to say so.
    let status_line = |update: &Value| update["blocks"][1]["text"]["text"].as_str().unwrap_or_default().to_owned();
    let update = within("the channel message edited to say acknowledged", Duration::from_secs(15), async || {
        channel_updates(&fake_slack).into_iter().find(|update| status_line(update).contains("ACKNOWLEDGED"))
    })
    .await;
    assert_eq!((update["channel"].as_str(), update["ts"].as_str()), (Some(CHANNEL_ID), Some(MESSAGE_TS)));
    assert!(status_line(&update).contains("ana@example.com"), "{}", status_line(&update));
    assert!(!facts(&update).iter().any(|fact| fact.starts_with("*Paging*")), "nobody is paged once acknowledged");
    assert_eq!(twilio.requests().len(), 1, "one SMS, no more pages once acknowledged");

    stack.stop().await;
    fake_slack.stop().await;
    twilio.stop().await;
}
