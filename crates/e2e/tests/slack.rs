//! The whole Slack loop through the running stack: an alert comes in at ingest, the incident's
//! message goes out to Slack, Ana, a tocsin user, clicks Acknowledge, the incident is acknowledged in the query
//! API and the message is edited to say so. Slack is a local HTTP server asserting the requests.

use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_e2e::slack::{CHANNEL_ID, MESSAGE_TS};
use tocsin_e2e::{Stack, StackOptions, slack, webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_from_slack_changes_the_incident_and_the_message() {
    let fake_slack = slack::start().await;
    let stack =
        Stack::start_with(StackOptions { notifier_env: slack::notifier_env(&fake_slack), ..StackOptions::default() })
            .await;

    stack.send(&webhook("firing-single.json", OffsetDateTime::now_utc())).await;
    let requests = fake_slack.wait_for(1, Duration::from_secs(30)).await;
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
    let click = slack::click(&stack, "tocsin_acknowledge", &incident_id).await;
    assert_eq!(click.status(), 200);

    let acknowledged = stack
        .incidents_when("?status=acknowledged", |items| items.iter().any(|i| i["id"] == incident_id.as_str()))
        .await;
    // Done by the tocsin user Ana's Slack member id names, not by a Slack user name.
    assert_eq!(acknowledged[0]["acknowledged_by"], slack::ANA);

    let requests = fake_slack.wait_for(3, Duration::from_secs(30)).await;
    let update = requests[1].json();
    assert_eq!(requests[1].path, "/api/chat.update");
    assert_eq!(update["channel"], CHANNEL_ID);
    assert_eq!(update["ts"], MESSAGE_TS);
    let status_line = update["blocks"][1]["text"]["text"].as_str().unwrap_or_default();
    assert!(status_line.contains("ACKNOWLEDGED") && status_line.contains(slack::ANA), "{status_line}");
    let reply: Value = requests[2].json();
    assert_eq!(reply["thread_ts"], MESSAGE_TS);

    stack.stop().await;
    fake_slack.stop().await;
}
