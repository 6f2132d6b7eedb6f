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
//! 2,000 per field, 150 per header, cut on character boundaries. Alert text goes through
//! [`super::inert::slack`], so no `<!channel>`, mention or link in it reaches anyone live.
//!
//! Every message the bot posts carries `metadata` naming its delivery. When an earlier
//! attempt at a delivery may have reached Slack without the notifier learning it (it died between
//! Slack's answer and recording it, or the answer never came), the bot first reads the Slack channel
//! (`conversations.history`, or `conversations.replies` in the incident's thread) for a message
//! with that delivery's metadata, and posts only if there is none. Webhooks can neither be read nor
//! be told a message's identity, so they send again.

use super::inert::slack::{mrkdwn, plain_text};
use super::{Attempt, Delivered, DeliveryError, Summary, Thread, send, truncate_chars};
use crate::pacing::Pacer;
use serde_json::{Value, json};
use std::time::Duration;
use tocsin_domain::{EventKind, IncidentStatus, Severity};
use tocsin_runtime::Secret;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3_000;
const MAX_FIELD_TEXT: usize = 2_000;
const MAX_HEADER_TEXT: usize = 150;

/// The `action_id`s of the buttons; `crate::slack_actions` turns them back into commands.
pub const ACKNOWLEDGE: &str = "tocsin_acknowledge";
pub const RESOLVE: &str = "tocsin_resolve";
pub const REOPEN: &str = "tocsin_reopen";

/// The `metadata.event_type` of the bot's messages; the `event_payload` holds `delivery_id`,
/// `event_id` and `incident_id`.
pub const METADATA_EVENT_TYPE: &str = "tocsin_notification";
/// A message of a delivery is looked for from this long before the delivery was recorded, in
/// case Slack's clock is behind the database's.
const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// How much of the Slack channel is read, at most, looking for a message in doubt: 10 pages of 200.
const LOOKUP_PAGES: usize = 10;
const LOOKUP_PAGE_SIZE: &str = "200";

pub struct SlackBot {
    http: reqwest::Client,
    /// `https://slack.com/api` unless `SLACK_API_URL` says otherwise.
    api_url: String,
    token: Secret,
    /// As configured: a name (`#payments-oncall`) or an id. Slack answers with the id, which is
    /// what `chat.update` needs and what the thread remembers.
    slack_channel: String,
    pacer: Pacer,
}

impl SlackBot {
    pub fn new(http: reqwest::Client, api_url: &str, token: Secret, slack_channel: String, pacer: Pacer) -> SlackBot {
        SlackBot { http, api_url: api_url.trim_end_matches('/').to_owned(), token, slack_channel, pacer }
    }

    /// The first event of an incident posts its message; every later one edits that message and
    /// replies in its thread. A delivery in doubt that turns out to be in the Slack channel already
    /// is not sent again.
    pub async fn deliver(
        &self,
        summary: &Summary<'_>,
        thread: Option<&Thread>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let blocks = message_blocks(summary, true);
        let text = fallback_text(summary);
        let metadata = metadata(attempt);
        let posted = match attempt.in_doubt {
            true => self.find_posted(attempt, thread).await?,
            false => None,
        };
        match (thread, posted) {
            (None, Some((slack_channel, ts))) => {
                Ok(Delivered { new_thread: Some(Thread { location: slack_channel, reference: ts }) })
            }
            (Some(_), Some(_)) => Ok(Delivered::default()),
            (None, None) => {
                self.pacer.wait_turn(&self.slack_channel).await;
                let answer = self
                    .call(
                        "chat.postMessage",
                        json!({ "channel": self.slack_channel, "text": text, "blocks": blocks, "metadata": metadata }),
                    )
                    .await?;
                // The id, whichever way the target names its Slack channel.
                let slack_channel = answer["channel"].as_str().unwrap_or(&self.slack_channel).to_owned();
                let ts = answer["ts"]
                    .as_str()
                    .ok_or_else(|| DeliveryError::permanent("slack chat.postMessage answered ok without a ts"))?;
                Ok(Delivered { new_thread: Some(Thread { location: slack_channel, reference: ts.to_owned() }) })
            }
            (Some(thread), None) => {
                self.call(
                    "chat.update",
                    // No metadata: the message keeps that of the delivery that posted it.
                    json!({ "channel": thread.location, "ts": thread.reference, "text": text, "blocks": blocks }),
                )
                .await?;
                self.pacer.wait_turn(&thread.location).await;
                self.call(
                    "chat.postMessage",
                    json!({ "channel": thread.location, "thread_ts": thread.reference, "text": thread_reply(summary), "metadata": metadata }),
                )
                .await?;
                Ok(Delivered::default())
            }
        }
    }

    /// The message an earlier attempt at this delivery posted, as (Slack channel id, ts), if the
    /// Slack channel holds one: the incident's message for its first event, a reply in its thread
    /// for a later one. `None` also when Slack cannot be asked (a scope or the Slack channel's id
    /// missing) or the message is not among the most recent ones: then the delivery is sent again,
    /// and the Slack channel may show it twice, which beats not showing it at all.
    async fn find_posted(
        &self,
        attempt: &Attempt,
        thread: Option<&Thread>,
    ) -> Result<Option<(String, String)>, DeliveryError> {
        let (method, slack_channel) = match thread {
            Some(thread) => ("conversations.replies", thread.location.clone()),
            None if is_slack_channel_id(&self.slack_channel) => ("conversations.history", self.slack_channel.clone()),
            None => match &attempt.known_slack_channel {
                Some(slack_channel) => ("conversations.history", slack_channel.clone()),
                None => {
                    tracing::warn!(delivery.id = attempt.delivery_id, slack.channel = %self.slack_channel, "a slack delivery in doubt cannot be looked for before anything was posted to a slack channel configured by name; sending it again");
                    return Ok(None);
                }
            },
        };
        let oldest = attempt.recorded_at - CLOCK_SKEW;
        let oldest = format!("{}.{:06}", oldest.unix_timestamp(), oldest.microsecond());
        let mut cursor = String::new();
        for _ in 0..LOOKUP_PAGES {
            let mut arguments = vec![
                ("channel", slack_channel.as_str()),
                ("oldest", oldest.as_str()),
                ("limit", LOOKUP_PAGE_SIZE),
                ("include_all_metadata", "true"),
            ];
            if let Some(thread) = thread {
                arguments.push(("ts", thread.reference.as_str()));
            }
            if !cursor.is_empty() {
                arguments.push(("cursor", cursor.as_str()));
            }
            let answer = match self.read(method, &arguments).await {
                Ok(answer) => answer,
                Err(DeliveryError::Permanent { reason }) => {
                    tracing::warn!(delivery.id = attempt.delivery_id, %reason, "cannot look for a slack delivery in doubt (reading a channel needs the channels:history and groups:history scopes); sending it again");
                    return Ok(None);
                }
                Err(error) => return Err(error),
            };
            // conversations.replies lists the thread's parent too: it is the incident's message, not a reply.
            let parent = thread.map(|thread| thread.reference.as_str());
            let mut messages = answer["messages"].as_array().into_iter().flatten();
            let found = messages.find(|message| is_message_of(message, attempt) && message["ts"].as_str() != parent);
            if let Some(ts) = found.and_then(|message| message["ts"].as_str()) {
                tracing::info!(
                    delivery.id = attempt.delivery_id,
                    slack.ts = ts,
                    "a slack delivery in doubt had been posted; not sending it again"
                );
                return Ok(Some((slack_channel, ts.to_owned())));
            }
            cursor = answer["response_metadata"]["next_cursor"].as_str().unwrap_or_default().to_owned();
            if cursor.is_empty() {
                return Ok(None);
            }
        }
        tracing::warn!(
            delivery.id = attempt.delivery_id,
            "a slack delivery in doubt is not among the slack channel's recent messages; sending it again"
        );
        Ok(None)
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
        answer_of(&api, send(&api, request).await?)
    }

    /// One Web API read (`conversations.*`), its arguments in the query string.
    async fn read(&self, method: &str, arguments: &[(&str, &str)]) -> Result<Value, DeliveryError> {
        let api = format!("slack {method}");
        let query = serde_urlencoded::to_string(arguments)
            .map_err(|error| DeliveryError::permanent(format!("{api}: arguments: {error}")))?;
        let request = self.http.get(format!("{}/{method}?{query}", self.api_url)).bearer_auth(self.token.expose());
        answer_of(&api, send(&api, request).await?)
    }
}

/// A Web API answer: `{"ok": true, …}`, or the error in `{"ok": false, "error": …}`, of which a few
/// are worth retrying.
pub(crate) fn answer_of(api: &str, body: String) -> Result<Value, DeliveryError> {
    let answer: Value = serde_json::from_str(&body)
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

/// The metadata naming a delivery, on each message the bot posts or edits for it.
pub(crate) fn metadata(attempt: &Attempt) -> Value {
    json!({
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {
            "delivery_id": attempt.delivery_id,
            "event_id": attempt.event_id.to_string(),
            "incident_id": attempt.incident_id.to_string(),
        }
    })
}

/// Whether a message read from Slack was posted for this delivery. The event id (a UUID) tells
/// apart two tocsin installations posting to one channel; the delivery id, two targets routed to it.
fn is_message_of(message: &Value, attempt: &Attempt) -> bool {
    let metadata = &message["metadata"];
    let payload = &metadata["event_payload"];
    metadata["event_type"].as_str() == Some(METADATA_EVENT_TYPE)
        && payload["delivery_id"].as_i64() == Some(attempt.delivery_id)
        && payload["event_id"].as_str() == Some(attempt.event_id.to_string().as_str())
}

/// A Slack conversation id (`C…` public, `G…` private, `D…` direct) rather than a name: channel
/// names are lower case, ids upper case.
fn is_slack_channel_id(slack_channel: &str) -> bool {
    let mut chars = slack_channel.chars();
    matches!(chars.next(), Some('C' | 'G' | 'D'))
        && slack_channel.len() > 1
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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

/// The text Slack shows in notifications and where blocks cannot be shown. Slack reads it as
/// mrkdwn, mentions included, which is why it is escaped like the blocks.
pub(crate) fn fallback_text(summary: &Summary<'_>) -> String {
    truncate_chars(
        &mrkdwn(&format!("{} ({})", summary.headline(), summary.event.incident.status.as_str())),
        MAX_SECTION_TEXT,
    )
}

/// The reply in the incident's thread: the step and the status it left. A note is what a person
/// said, not a move, so it stands alone; its Markdown reaches Slack escaped like alert text, so
/// its emphasis shows but no mention or link in it is live.
fn thread_reply(summary: &Summary<'_>) -> String {
    let incident = &summary.event.incident;
    let text = match summary.event.kind {
        EventKind::NoteAdded => format!(":memo: {}", mrkdwn(&summary.step())),
        _ => format!(
            "{} {} · now *{}*",
            status_emoji(incident.status),
            mrkdwn(&summary.step()),
            incident.status.as_str()
        ),
    };
    truncate_chars(&text, MAX_SECTION_TEXT)
}

/// The incident's message: what it is, where it is, what state it is in, and what to do.
pub fn message_blocks(summary: &Summary<'_>, interactive: bool) -> Vec<Value> {
    let incident = &summary.event.incident;
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": truncate_chars(&format!("{} {}", severity_emoji(incident.severity), plain_text(&summary.headline())), MAX_HEADER_TEXT), "emoji": true }
        }),
        json!({
            "type": "section",
            "text": alert_text(truncate_chars(&format!("{} *{}* · {}", status_emoji(incident.status), incident.status.as_str().to_uppercase(), mrkdwn(&summary.step())), MAX_SECTION_TEXT))
        }),
        json!({
            "type": "section",
            "fields": summary.facts().into_iter().map(|(label, value)| {
                alert_text(truncate_chars(&format!("*{label}*\n{}", mrkdwn(&value)), MAX_FIELD_TEXT))
            }).collect::<Vec<_>>()
        }),
    ];
    let alert = &incident.source_alert;
    let mut context = vec![format!(
        "Opened <!date^{}^{{date_short_pretty}} {{time}}|{}>",
        incident.opened_at.unix_timestamp(),
        incident.opened_at
    )];
    if let Some(name) = alert.labels.get("alertname") {
        context.push(format!("alert `{}`", mrkdwn(name)));
    }
    if let Some(instance) = alert.labels.get("instance") {
        context.push(format!("instance `{}`", mrkdwn(instance)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [alert_text(truncate_chars(&context.join(" · "), MAX_SECTION_TEXT))]
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

/// A mrkdwn text object holding escaped alert text. `verbatim` keeps Slack from turning bare URLs,
/// channel names and mentions in it into links of its own accord; tocsin's own markup (bold, the
/// `<!date^…>` of the context) still renders.
fn alert_text(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::sample_event;

    fn attempt(delivery_id: i64) -> Attempt {
        let event = sample_event(EventKind::Opened);
        Attempt {
            delivery_id,
            event_id: event.id,
            incident_id: event.incident.id,
            recorded_at: event.at,
            in_doubt: true,
            known_slack_channel: None,
        }
    }

    #[test]
    fn a_message_is_matched_to_its_delivery_by_metadata_alone() {
        let mine = attempt(41);
        let message = json!({"ts": "1.000001", "text": "…", "metadata": metadata(&mine)});
        assert!(is_message_of(&message, &mine));
        // Another target's delivery of the same event, in the same Slack channel.
        assert!(!is_message_of(&message, &attempt(42)));
        // Another installation's delivery with the same number, for another event.
        let other_installation = Attempt { event_id: uuid::Uuid::from_u128(99), ..attempt(41) };
        assert!(!is_message_of(&message, &other_installation));
        // A person's message, and one of another app.
        assert!(!is_message_of(&json!({"ts": "1.000002", "text": "on it"}), &mine));
        let foreign =
            json!({"metadata": {"event_type": "task_created", "event_payload": metadata(&mine)["event_payload"]}});
        assert!(!is_message_of(&foreign, &mine));
    }

    #[test]
    fn slack_channel_ids_are_told_from_names() {
        for id in ["C024BE91L", "C0123456789", "G0PRIVATE1", "D0DIRECT"] {
            assert!(is_slack_channel_id(id), "{id}");
        }
        for name in ["#oncall", "oncall", "payments-oncall", "C", "Cafe"] {
            assert!(!is_slack_channel_id(name), "{name}");
        }
    }
}
