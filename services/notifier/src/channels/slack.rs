//! Slack, in its two modes.
//!
//! - **Bot token** ([`SlackBot`]): the incident gets one message (`chat.postMessage`), which is
//!   edited in place (`chat.update`) as the incident changes, and each step is a reply in the
//!   message's thread. The message carries Acknowledge / Resolve (or Reopen) buttons, which Slack
//!   sends to `POST /slack/actions` (`crate::slack_actions`).
//! - **Incoming webhook** ([`SlackWebhook`]): for teams that only have a webhook URL. Each event is
//!   a new message, without buttons: a webhook can neither edit nor receive clicks.
//!
//! Both use Block Kit within Slack's limits: at most 50 blocks, 3,000 characters per section text,
//! 2,000 per field, 150 per header, cut on character boundaries.

use super::{Delivered, DeliveryError, Summary, Thread, send, truncate_chars};
use crate::pacing::Pacer;
use serde_json::{Value, json};
use tocsin_domain::{IncidentStatus, Severity};
use tocsin_runtime::Secret;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3_000;
const MAX_FIELD_TEXT: usize = 2_000;
const MAX_HEADER_TEXT: usize = 150;

/// The `action_id`s of the buttons; `crate::slack_actions` turns them back into commands.
pub const ACKNOWLEDGE: &str = "tocsin_acknowledge";
pub const RESOLVE: &str = "tocsin_resolve";
pub const REOPEN: &str = "tocsin_reopen";

pub struct SlackBot {
    http: reqwest::Client,
    /// `https://slack.com/api` unless `SLACK_API_URL` says otherwise.
    api_url: String,
    token: Secret,
    /// As configured: a name (`#payments-oncall`) or an id. Slack answers with the id, which is
    /// what `chat.update` needs and what the thread remembers.
    channel: String,
    pacer: Pacer,
}

impl SlackBot {
    pub fn new(http: reqwest::Client, api_url: &str, token: Secret, channel: String, pacer: Pacer) -> SlackBot {
        SlackBot { http, api_url: api_url.trim_end_matches('/').to_owned(), token, channel, pacer }
    }

    /// The first event of an incident posts its message; every later one edits that message and
    /// replies in its thread.
    pub async fn deliver(&self, summary: &Summary<'_>, thread: Option<&Thread>) -> Result<Delivered, DeliveryError> {
        let blocks = message_blocks(summary, true);
        let text = fallback_text(summary);
        match thread {
            None => {
                self.pacer.wait_turn(&self.channel).await;
                let answer = self
                    .call("chat.postMessage", json!({ "channel": self.channel, "text": text, "blocks": blocks }))
                    .await?;
                let channel = answer["channel"].as_str().unwrap_or(&self.channel).to_owned();
                let ts = answer["ts"]
                    .as_str()
                    .ok_or_else(|| DeliveryError::permanent("slack chat.postMessage answered ok without a ts"))?;
                Ok(Delivered { new_thread: Some(Thread { channel, reference: ts.to_owned() }) })
            }
            Some(thread) => {
                self.call(
                    "chat.update",
                    json!({ "channel": thread.channel, "ts": thread.reference, "text": text, "blocks": blocks }),
                )
                .await?;
                self.pacer.wait_turn(&thread.channel).await;
                self.call(
                    "chat.postMessage",
                    json!({ "channel": thread.channel, "thread_ts": thread.reference, "text": thread_reply(summary) }),
                )
                .await?;
                Ok(Delivered::default())
            }
        }
    }

    /// One Web API call. Slack answers errors with `200 {"ok": false, "error": …}`; a few of those
    /// are worth retrying.
    async fn call(&self, method: &str, body: Value) -> Result<Value, DeliveryError> {
        let api = format!("slack {method}");
        let request = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string());
        let answer = send(&api, request).await?;
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|error| DeliveryError::retry(format!("{api} answered something other than JSON: {error}")))?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        let reason = format!("{api} refused: {error}");
        match error {
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                Err(DeliveryError::retry(reason))
            }
            _ => Err(DeliveryError::permanent(reason)),
        }
    }
}

pub struct SlackWebhook {
    http: reqwest::Client,
    url: Secret,
    pacer: Pacer,
}

impl SlackWebhook {
    pub fn new(http: reqwest::Client, url: Secret, pacer: Pacer) -> SlackWebhook {
        SlackWebhook { http, url, pacer }
    }

    pub async fn deliver(&self, summary: &Summary<'_>) -> Result<Delivered, DeliveryError> {
        let body = json!({ "text": fallback_text(summary), "blocks": message_blocks(summary, false) });
        // The URL is a secret: it neither goes in logs nor in the pacing key as it is.
        self.pacer.wait_turn(&pace_key_of_secret(&self.url)).await;
        let request = self
            .http
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string());
        // A webhook answers `ok` as plain text, or an error word with a 4xx.
        send("slack webhook", request).await?;
        Ok(Delivered::default())
    }
}

fn pace_key_of_secret(secret: &Secret) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.expose().as_bytes());
    format!("webhook:{}", hex::encode(&digest[..8]))
}

/// The text Slack shows in notifications and where blocks cannot be shown.
fn fallback_text(summary: &Summary<'_>) -> String {
    truncate_chars(&format!("{} ({})", summary.headline(), summary.event.incident.status.as_str()), MAX_SECTION_TEXT)
}

fn thread_reply(summary: &Summary<'_>) -> String {
    let incident = &summary.event.incident;
    truncate_chars(
        &format!("{} {} · now *{}*", status_emoji(incident.status), escape(&summary.step()), incident.status.as_str()),
        MAX_SECTION_TEXT,
    )
}

/// The incident's message: what it is, where it is, what state it is in, and what to do.
pub fn message_blocks(summary: &Summary<'_>, interactive: bool) -> Vec<Value> {
    let incident = &summary.event.incident;
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": truncate_chars(&format!("{} {}", severity_emoji(incident.severity), summary.headline()), MAX_HEADER_TEXT), "emoji": true }
        }),
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate_chars(&format!("{} *{}* · {}", status_emoji(incident.status), incident.status.as_str().to_uppercase(), escape(&summary.step())), MAX_SECTION_TEXT) }
        }),
        json!({
            "type": "section",
            "fields": summary.facts().into_iter().map(|(label, value)| json!({
                "type": "mrkdwn",
                "text": truncate_chars(&format!("*{label}*\n{}", escape(&value)), MAX_FIELD_TEXT),
            })).collect::<Vec<_>>()
        }),
    ];
    let alert = &incident.source_alert;
    let mut context = vec![format!(
        "Opened <!date^{}^{{date_short_pretty}} {{time}}|{}>",
        incident.opened_at.unix_timestamp(),
        incident.opened_at
    )];
    if let Some(name) = alert.labels.get("alertname") {
        context.push(format!("alert `{}`", escape(name)));
    }
    if let Some(instance) = alert.labels.get("instance") {
        context.push(format!("instance `{}`", escape(instance)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": truncate_chars(&context.join(" · "), MAX_SECTION_TEXT) }]
    }));

    let mut elements = Vec::new();
    if interactive {
        let id = incident.id.to_string();
        if incident.status == IncidentStatus::Open {
            elements.push(json!({ "type": "button", "action_id": ACKNOWLEDGE, "value": id, "style": "primary", "text": { "type": "plain_text", "text": "Acknowledge" } }));
        }
        if incident.status != IncidentStatus::Resolved {
            elements.push(json!({ "type": "button", "action_id": RESOLVE, "value": id, "text": { "type": "plain_text", "text": "Resolve" },
                "confirm": { "title": { "type": "plain_text", "text": "Resolve this incident?" }, "text": { "type": "mrkdwn", "text": "Its alerts may still be firing." }, "confirm": { "type": "plain_text", "text": "Resolve" }, "deny": { "type": "plain_text", "text": "Cancel" } } }));
        } else {
            elements.push(json!({ "type": "button", "action_id": REOPEN, "value": id, "text": { "type": "plain_text", "text": "Reopen" } }));
        }
    }
    for (index, (label, url)) in summary.links().into_iter().enumerate() {
        // Slack refuses a button whose url is longer than 3,000 characters; such a link is left out.
        if url.chars().count() <= 3_000 {
            elements.push(json!({ "type": "button", "action_id": format!("tocsin_link_{index}"), "url": url, "text": { "type": "plain_text", "text": label } }));
        }
    }
    if !elements.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": elements }));
    }
    blocks.truncate(MAX_BLOCKS);
    blocks
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🔴",
        Severity::High => "🟠",
        Severity::Warning => "🟡",
        Severity::Info => "🔵",
    }
}

fn status_emoji(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Open => ":rotating_light:",
        IncidentStatus::Acknowledged => ":eyes:",
        IncidentStatus::Resolved => ":white_check_mark:",
    }
}
