//! `POST /slack/actions`: the Acknowledge, Resolve and Reopen buttons of a Slack message.
//!
//! Slack signs every request: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`
//! with the app's signing secret, and `X-Slack-Request-Timestamp`. A request whose signature does
//! not match (compared in constant time), or whose timestamp is more than five minutes away, is
//! refused with 401 and changes nothing: that is what stops a replayed or forged click.
//!
//! A signed click from someone `crate::slack_access` lets act (the allowlists of workspaces and
//! user groups, when set) is done by the tocsin user they are (`crate::slack_people`), if that
//! user's roles let them act on an incident of its team, exactly as for their API call
//! (`tocsin_storage::teams::may_act_on_incident`). It becomes a command on the commands stream
//! with that user as the actor, and is answered at once (Slack gives up after 3 seconds). A click
//! by a Slack user who is no tocsin user is refused, unless `SLACK_UNMAPPED_CLICKS=allow`, which
//! acts on it as the Slack user (`slack:<name>`), as before tocsin had users. A refused click is
//! counted in `tocsin_notifier_slack_clicks_refused_total`, queues nothing, and its user is told
//! why in a message only they see, posted to the click's `response_url`. The message itself changes when incident-core
//! has applied the command and the resulting event comes back through the notifier. Slack retries a
//! request it thinks went unanswered; the command id is derived from the click's `trigger_id`, so a
//! retried click is the same command and incident-core applies it once.
//!
//! A traced click's command carries a "publish commands" span of the request's trace, so the click,
//! incident-core applying it and the message being edited are one trace.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::Bus;
use tocsin_domain::{Action, Command};
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{ApiError, Secret};
use uuid::Uuid;

use crate::channels::slack::{ACKNOWLEDGE, REOPEN, RESOLVE};
use crate::config::UnmappedClicks;
use crate::metrics::ReasonLabel;
use crate::slack_access::{Refusal, SlackAccess};
use crate::slack_people::{Identity, SlackPeople};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tocsin_domain::roles::DefaultRole;
use tocsin_storage::{reads, teams};

/// How far a request's timestamp may be from now, either way.
pub const MAX_CLOCK_DISTANCE: Duration = Duration::from_secs(5 * 60);
/// The namespace of command ids derived from Slack's `trigger_id`.
const SLACK_COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a57_3c1e_4d0b_9a55_5c4b_7d1e_0a11);

pub struct SlackActions {
    pub signing_secret: Secret,
    pub bus: Bus,
    pub tracer: Tracer,
    pub access: SlackAccess,
    /// Answers refused clicks through their `response_url`.
    pub http: reqwest::Client,
    pub refused: Family<ReasonLabel, Counter>,
    /// Who the clicker is in tocsin.
    pub people: SlackPeople,
    pub unmapped_clicks: UnmappedClicks,
    /// `SIGN_IN_DEFAULT_ROLE`, as query decides by it.
    pub default_role: DefaultRole,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed (X-Slack-Signature and X-Slack-Request-Timestamp are required)")]
    Missing,
    #[error("X-Slack-Request-Timestamp is not a Unix time")]
    BadTimestamp,
    #[error("the request is older than five minutes (or from the future); replays are refused")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks Slack's `v0` signature of `body` against the signing secret, at `now`.
pub fn verify_signature(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), SignatureError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(timestamp), Some(signature)) = (header("X-Slack-Request-Timestamp"), header("X-Slack-Signature")) else {
        return Err(SignatureError::Missing);
    };
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    if now.unix_timestamp().abs_diff(sent_at) > MAX_CLOCK_DISTANCE.as_secs() {
        return Err(SignatureError::Stale);
    }
    let expected =
        signature.strip_prefix("v0=").and_then(|hex| hex::decode(hex).ok()).ok_or(SignatureError::Mismatch)?;
    let mac = slack_mac(secret, timestamp, body).ok_or(SignatureError::Mismatch)?;
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

type SlackMac = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 of `v0:<timestamp>:<body>` keyed with the signing secret. (HMAC takes keys of any
/// length, so there is always one.)
fn slack_mac(secret: &Secret, timestamp: &str, body: &[u8]) -> Option<SlackMac> {
    let mut mac = SlackMac::new_from_slice(secret.expose().as_bytes()).ok()?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Some(mac)
}

/// The `X-Slack-Signature` Slack sends for `body` at `timestamp`: what a test, or a proxy that
/// re-signs requests, needs to produce.
pub fn signature_of(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    slack_mac(secret, &timestamp.to_string(), body)
        .map(|mac| format!("v0={}", hex::encode(mac.finalize().into_bytes())))
        .unwrap_or_default()
}

/// The part of Slack's `block_actions` payload a click needs.
#[derive(Debug, Deserialize)]
pub struct ActionPayload {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: SlackUser,
    /// The workspace the click came through; `user.team_id` is the user's own.
    #[serde(default)]
    pub team: Option<SlackTeam>,
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// Where Slack takes a message in answer to this click, for half an hour.
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub actions: Vec<ClickedAction>,
}

#[derive(Debug, Deserialize)]
pub struct SlackUser {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The user's workspace.
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SlackTeam {
    #[serde(default)]
    pub id: Option<String>,
}

impl ActionPayload {
    /// The workspace of the user who clicked: theirs when Slack says, else the one the click came
    /// through.
    pub fn user_team(&self) -> Option<&str> {
        self.user.team_id.as_deref().or_else(|| self.team.as_ref().and_then(|team| team.id.as_deref()))
    }
}

#[derive(Debug, Deserialize)]
pub struct ClickedAction {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub action_ts: Option<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not a form with a `payload` field")]
    NoPayload,
    #[error("the payload is not Slack's interaction JSON: {0}")]
    Malformed(String),
}

/// Reads the `payload` field of Slack's `application/x-www-form-urlencoded` body.
pub fn parse_payload(body: &[u8]) -> Result<ActionPayload, PayloadError> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| PayloadError::NoPayload)?;
    let payload =
        form.into_iter().find(|(key, _)| key == "payload").map(|(_, value)| value).ok_or(PayloadError::NoPayload)?;
    serde_json::from_str(&payload).map_err(|error| PayloadError::Malformed(error.to_string()))
}

/// The commands a payload asks for: one per tocsin button it carries. Link buttons and anything
/// else are ignored.
pub fn commands_of(payload: &ActionPayload, now: OffsetDateTime) -> Vec<Command> {
    if payload.kind != "block_actions" {
        return Vec::new();
    }
    let user = &payload.user;
    let actor = format!("slack:{}", user.username.as_deref().or(user.name.as_deref()).unwrap_or(&user.id));
    payload
        .actions
        .iter()
        .filter_map(|clicked| {
            let action = match clicked.action_id.as_str() {
                ACKNOWLEDGE => Action::Acknowledge,
                RESOLVE => Action::Resolve,
                REOPEN => Action::Reopen,
                _ => return None,
            };
            let incident_id = clicked.value.as_deref().and_then(|value| Uuid::parse_str(value).ok())?;
            // The same click retried by Slack gives the same command id.
            let click = format!(
                "{}:{}:{}:{}",
                payload.trigger_id.as_deref().unwrap_or_default(),
                clicked.action_ts.as_deref().unwrap_or_default(),
                clicked.action_id,
                user.id
            );
            Some(Command {
                id: Uuid::new_v5(&SLACK_COMMAND_NAMESPACE, click.as_bytes()),
                incident_id,
                action,
                actor: actor.clone(),
                requested_at: now,
            })
        })
        .collect()
}

pub async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    slack: web::Data<SlackActions>,
) -> Result<HttpResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    if let Err(error) = verify_signature(&slack.signing_secret, request.headers(), &body, now) {
        tracing::warn!(%error, "refusing a Slack action");
        return Err(ApiError::new(tocsin_runtime::ErrorCode::Unauthorized, format!("slack signature: {error}")));
    }
    let payload = parse_payload(&body).map_err(|error| ApiError::invalid_payload(error.to_string()))?;
    let mut commands = commands_of(&payload, now);
    if commands.is_empty() {
        // Link buttons also call this URL; there is nothing to do for them.
        return Ok(HttpResponse::Ok().finish());
    }
    let mut checked = slack.access.check(&payload.user.id, payload.user_team()).await;
    if checked.is_ok() {
        match acting_user(&slack, &payload, &commands).await {
            Ok(Some(actor)) => commands.iter_mut().for_each(|command| command.actor = actor.clone()),
            Ok(None) => {}
            Err(refusal) => checked = Err(refusal),
        }
    }
    if let Err(refusal) = checked {
        slack.refused.get_or_create(&ReasonLabel { reason: refusal.reason() }).inc();
        tracing::info!(
            slack.user = %payload.user.id,
            slack.team = payload.user_team().unwrap_or_default(),
            reason = refusal.reason(),
            "refused a slack click: nothing queued"
        );
        if let Some(response_url) = payload.response_url.clone() {
            // Slack wants its answer within 3 seconds; the message may take longer.
            tokio::spawn(tell_the_user(slack.http.clone(), response_url, refusal));
        }
        // 200 all the same: anything else makes Slack show an error on the button, not why.
        return Ok(HttpResponse::Ok().finish());
    }
    crate::commands::queue(&slack.bus, &slack.tracer, &request, &commands, "a slack button").await?;
    Ok(HttpResponse::Ok().finish())
}

/// The actor of a click's commands: the tocsin user the Slack user is, when their roles let them
/// act on every incident the click names; `None` to keep the Slack user (`slack:<name>`), for a
/// clicker who is no tocsin user where `SLACK_UNMAPPED_CLICKS=allow`.
async fn acting_user(
    slack: &SlackActions,
    payload: &ActionPayload,
    commands: &[Command],
) -> Result<Option<String>, Refusal> {
    let allow_unmapped = slack.unmapped_clicks == UnmappedClicks::Allow;
    let identity = match slack.people.identify(&payload.user.id).await {
        Ok(identity) => identity,
        Err(error) if allow_unmapped => {
            tracing::warn!(slack.user = %payload.user.id, %error, "cannot tell who a slack user is; acting as the slack user (SLACK_UNMAPPED_CLICKS=allow)");
            return Ok(None);
        }
        Err(error) => {
            tracing::warn!(slack.user = %payload.user.id, %error, "cannot tell who a slack user is");
            return Err(Refusal::IdentityUnknown);
        }
    };
    let user = match identity {
        Identity::User(user) => user,
        Identity::Unmapped if allow_unmapped => return Ok(None),
        Identity::Unmapped => return Err(Refusal::NotATocsinUser),
    };
    let unknown = |error: &dyn std::fmt::Display| {
        tracing::warn!(slack.user = %payload.user.id, %error, "cannot read what a slack clicker may do");
        Refusal::IdentityUnknown
    };
    let mut conn = slack.people.pool.get().await.map_err(|error| unknown(&error))?;
    for command in commands {
        let incident = reads::incident(&mut conn, command.incident_id).await.map_err(|error| unknown(&error))?;
        let incident = incident.ok_or(Refusal::UnknownIncident)?;
        teams::may_act_on_incident(&mut conn, user.id, user.is_admin, &incident.team, slack.default_role)
            .await
            .map_err(|error| unknown(&error))?
            .map_err(Refusal::NotPermitted)?;
    }
    // As query records a signed-in person's action: their e-mail address, else their name.
    Ok(Some(user.email.clone().unwrap_or_else(|| user.name.clone())))
}

/// Posts why a click was refused to the click's `response_url`, as a message only its user sees,
/// leaving the incident's message as it is.
async fn tell_the_user(http: reqwest::Client, response_url: String, refusal: Refusal) {
    if !(response_url.starts_with("https://") || response_url.starts_with("http://")) {
        tracing::warn!("a refused slack click came with a response_url that is not a web address; not answered");
        return;
    }
    let body =
        serde_json::json!({ "response_type": "ephemeral", "replace_original": false, "text": refusal.message() });
    let sent = http
        .post(&response_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    if let Err(error) = sent {
        tracing::warn!(error = %error.without_url(), "could not tell a slack user why their click was refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn signed(secret: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let signature = signature_of(&Secret::new(secret), timestamp, body);
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-slack-request-timestamp"),
            HeaderValue::from_str(&timestamp.to_string()).expect("a header value"),
        );
        headers.insert(
            HeaderName::from_static("x-slack-signature"),
            HeaderValue::from_str(&signature).expect("a header value"),
        );
        headers
    }

    #[test]
    fn slack_signatures_are_checked() {
        let secret = Secret::new(SECRET);
        let now = OffsetDateTime::now_utc();
        let body = b"payload=%7B%22type%22%3A%22block_actions%22%7D";
        let fresh = now.unix_timestamp();
        assert_eq!(verify_signature(&secret, &signed(SECRET, fresh, body), body, now), Ok(()));
        assert_eq!(
            verify_signature(&secret, &signed("another-secret", fresh, body), body, now),
            Err(SignatureError::Mismatch),
            "wrong secret"
        );
        assert_eq!(
            verify_signature(&secret, &signed(SECRET, fresh - 301, body), body, now),
            Err(SignatureError::Stale),
            "older than five minutes"
        );
        assert_eq!(
            verify_signature(&secret, &signed(SECRET, fresh + 301, body), body, now),
            Err(SignatureError::Stale)
        );
        let tampered = b"payload=%7B%22type%22%3A%22block_actions%22%2C%22x%22%3A1%7D";
        assert_eq!(
            verify_signature(&secret, &signed(SECRET, fresh, body), tampered, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_signature(&secret, &HeaderMap::new(), body, now), Err(SignatureError::Missing));
        let mut garbage = signed(SECRET, fresh, body);
        garbage.insert(HeaderName::from_static("x-slack-signature"), HeaderValue::from_static("v0=zz"));
        assert_eq!(verify_signature(&secret, &garbage, body, now), Err(SignatureError::Mismatch));
    }

    fn form(payload: &serde_json::Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())]).expect("serialising").into_bytes()
    }

    #[test]
    fn a_click_becomes_a_command_with_the_slack_user_as_actor() {
        let incident = Uuid::now_v7();
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U0123ABC", "username": "ana", "name": "ana", "team_id": "T1"},
            "trigger_id": "1234.5678.abcd",
            "actions": [
                {"action_id": ACKNOWLEDGE, "block_id": "b", "value": incident.to_string(), "type": "button", "action_ts": "1764201234.1"},
                {"action_id": "tocsin_link_0", "type": "button", "action_ts": "1764201234.2"}
            ]
        });
        let now = OffsetDateTime::now_utc();
        let parsed = parse_payload(&form(&payload)).expect("parse payload");
        let commands = commands_of(&parsed, now);
        assert_eq!(commands.len(), 1);
        assert_eq!(commands[0].incident_id, incident);
        assert_eq!(commands[0].action, Action::Acknowledge);
        assert_eq!(commands[0].actor, "slack:ana");
        // Slack's retry of the same click is the same command.
        assert_eq!(commands_of(&parsed, now)[0].id, commands[0].id);
    }

    #[test]
    fn malformed_payloads_are_named() {
        assert_eq!(parse_payload(b"nothing=here").err(), Some(PayloadError::NoPayload));
        assert!(matches!(parse_payload(b"payload=%7Bnot-json"), Err(PayloadError::Malformed(_))));
    }
}
