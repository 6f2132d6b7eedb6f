//! The whole Slack loop through the running stack: an alert comes in at ingest, the incident's
//! message goes out to Slack, someone clicks Acknowledge, the incident is acknowledged in the query
//! API and the message is edited to say so. Slack is a local HTTP server asserting the requests.

use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::{Stack, StackOptions, webhook};
use tocsin_runtime::Secret;
use tocsin_testkit::{FakeApi, Reply};

const SIGNING_SECRET: &str = "e2e-signing-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_from_slack_changes_the_incident_and_the_message() {
    let slack = FakeApi::start().await;
    slack.respond(
        "POST",
        "/api/chat.postMessage",
        Reply::json(200, json!({"ok": true, "channel": "C0ONCALL", "ts": "1764201234.000200"})),
    );
    slack.respond(
        "POST",
        "/api/chat.update",
        Reply::json(200, json!({"ok": true, "channel": "C0ONCALL", "ts": "1764201234.000200"})),
    );
    let notifier_env = [
        ("SLACK_BOT_TOKEN", "xoxb-e2e"),
        ("SLACK_CHANNEL", "#oncall"),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_API_URL", &format!("{}/api", slack.url)),
        ("CHANNEL_INTERVAL", "10ms"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    let stack = Stack::start_with(StackOptions { notifier_env, ..StackOptions::default() }).await;

    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let requests = slack.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(requests[0].path, "/api/chat.postMessage");
    let message = requests[0].json();
    assert_eq!(message["channel"], "#oncall");
    let acknowledge = message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .find(|element| element["action_id"] == "tocsin_acknowledge")
        .unwrap_or_else(|| panic!("no Acknowledge button in {message}"));
    let incident_id = acknowledge["value"].as_str().unwrap_or_default().to_owned();

    // Ana clicks Acknowledge; Slack posts the signed interaction payload to the notifier.
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0ANA", "username": "ana", "name": "ana", "team_id": "T0"},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "channel": {"id": "C0ONCALL", "name": "oncall"},
        "container": {"type": "message", "message_ts": "1764201234.000200", "channel_id": "C0ONCALL"},
        "actions": [{"action_id": "tocsin_acknowledge", "block_id": "actions", "value": incident_id, "type": "button", "action_ts": "1764201240.000300"}]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_else(|e| panic!("{e}"));
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let signature =
        tocsin_notifier::slack_actions::signature_of(&Secret::new(SIGNING_SECRET), timestamp, body.as_bytes());
    let click = stack
        .http
        .post(format!("{}/slack/actions", stack.notifier_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", timestamp.to_string())
        .header("X-Slack-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(click.status(), 200);

    let acknowledged = stack
        .incidents_when("?status=acknowledged", |items| items.iter().any(|i| i["id"] == incident_id.as_str()))
        .await;
    assert_eq!(acknowledged[0]["acknowledged_by"], "slack:ana");

    let requests = slack.wait_for(3, Duration::from_secs(30)).await;
    let update = requests[1].json();
    assert_eq!(requests[1].path, "/api/chat.update");
    assert_eq!(update["channel"], "C0ONCALL");
    assert_eq!(update["ts"], "1764201234.000200");
    let status_line = update["blocks"][1]["text"]["text"].as_str().unwrap_or_default();
    assert!(status_line.contains("ACKNOWLEDGED") && status_line.contains("slack:ana"), "{status_line}");
    let reply: Value = requests[2].json();
    assert_eq!(reply["thread_ts"], "1764201234.000200");

    stack.stop().await;
    slack.stop().await;
}
