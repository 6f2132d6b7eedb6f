//! The channels a notification goes out through: the Slack app, Slack incoming webhooks, Teams,
//! e-mail and GitHub issues, one module each. Each turns one incident event into requests to one
//! third-party API and says how it went; the delivery worker (`crate::deliveries`) owns retries,
//! pacing, the dead-letter stream and what is remembered between events.
//!
//! The words, as docs/notifications.md defines them:
//!
//! - a **channel** ([`Channel`]) is a kind of integration: `slack`, `slack_webhook`, `teams`,
//!   `email`, `github`. It is the `channel` label of the delivery metrics.
//! - a **target** (`crate::routing::Target`) is a named place in the routing file to send to: one
//!   channel and where on it (a Slack channel and its bot token, a webhook URL, addresses, a
//!   repository).
//! - a **sender** (`crate::deliveries::Sender`) is what sends to one target, built at start-up.
//! - a **Slack channel** (`slack_channel` in the code) is a conversation in Slack, `#payments`
//!   or `C0123456789`.
//!
//! Senders are an enum rather than trait objects: there are few channels, each is configured from
//! the routing file, and a `match` keeps the async code free of boxing.
//!
//! Everything an alert or an API caller wrote (titles, label values, alert names, actors, the
//! runbook annotation) reaches a channel through the escaping of its syntax in [`inert`]; the
//! only links are the ones [`Summary::links`] builds.

pub mod email;
pub mod github;
pub mod inert;
pub mod slack;
pub mod teams;

use std::time::Duration;
use tocsin_domain::{IncidentEvent, IncidentStatus};

/// A kind of integration a notification goes out through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The tocsin Slack app (a bot token): one message per incident, updated in place, buttons.
    Slack,
    /// A Slack incoming webhook: one message per event, no buttons.
    SlackWebhook,
    Teams,
    Email,
    GitHub,
}

impl Channel {
    /// Its name in the routing file, the `channel` label of the delivery metrics and the spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::SlackWebhook => "slack_webhook",
            Channel::Teams => "teams",
            Channel::Email => "email",
            Channel::GitHub => "github",
        }
    }

    /// The name of an attempt's span.
    pub fn span_name(self) -> &'static str {
        match self {
            Channel::Slack => "deliver slack",
            Channel::SlackWebhook => "deliver slack_webhook",
            Channel::Teams => "deliver teams",
            Channel::Email => "deliver email",
            Channel::GitHub => "deliver github",
        }
    }

    /// Whether later events of an incident build on what the first one left (a message, an issue).
    pub fn keeps_threads(self) -> bool {
        matches!(self, Channel::Slack | Channel::GitHub)
    }

    /// Whether a delivery in doubt is looked for before it is sent again.
    pub fn looks_before_resending(self) -> bool {
        matches!(self, Channel::Slack)
    }
}

/// An incident's earlier notification on a target, so later events edit or reply to it instead of
/// posting anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// Where it lives: the Slack channel id, or the GitHub repository.
    pub location: String,
    /// Which it is there: the message's `ts`, or the number.
    pub reference: String,
}

/// Which delivery a sender is sending, and whether an earlier attempt at it may already have
/// arrived.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub event_id: uuid::Uuid,
    pub incident_id: uuid::Uuid,
    /// When the delivery was recorded: nothing was sent for it before.
    pub recorded_at: time::OffsetDateTime,
    /// An earlier attempt ended with no answer recorded: the replica sending it died, the answer
    /// never came, or the database could not take it. It may already have arrived.
    pub in_doubt: bool,
    /// The id of the Slack channel where the target's threads live, for a target that names its
    /// Slack channel (`#payments`) and must look for a message in doubt.
    pub known_slack_channel: Option<String>,
}

/// What a successful delivery leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Set when this delivery started the incident's thread on the target.
    pub new_thread: Option<Thread>,
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// 429, 5xx, a timeout, a refused connection: try again, after `after` when the API said so.
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
    /// Any other refusal (bad token, unknown Slack channel, malformed request): trying again would fail
    /// the same way.
    #[error("{reason}")]
    Permanent { reason: String },
    /// A page that must not go out any more (its incident was acknowledged or resolved, its
    /// contact method disabled): nothing failed, and nothing is tried again.
    #[error("{reason}")]
    Cancelled { reason: String },
}

impl DeliveryError {
    pub fn retry(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Retry { reason: reason.into(), after: None }
    }

    pub fn permanent(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Permanent { reason: reason.into() }
    }

    pub fn cancelled(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Cancelled { reason: reason.into() }
    }

    /// A transport failure: the request may not have reached the API, so it is worth another try.
    /// The URL is left out of the reason: for webhooks (Slack, Teams) the URL is the secret.
    pub fn from_transport(api: &str, error: reqwest::Error) -> DeliveryError {
        DeliveryError::retry(format!("{api}: {}", describe(&error.without_url())))
    }

    /// Classifies an HTTP answer that is not a success: 429 honours `Retry-After`, 5xx (and 408)
    /// are retried, any other 4xx is permanent.
    pub fn from_status(
        api: &str,
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        body: &str,
    ) -> DeliveryError {
        let body = body.trim();
        let reason = if body.is_empty() {
            format!("{api} answered {status}")
        } else {
            format!("{api} answered {status}: {}", truncate_chars(body, 300))
        };
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            DeliveryError::Retry { reason, after: retry_after }
        } else if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            DeliveryError::retry(reason)
        } else {
            DeliveryError::permanent(reason)
        }
    }
}

/// The `Retry-After` header in seconds (the form Slack, GitHub and Teams use); an HTTP date or
/// garbage is ignored and the usual backoff applies.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends a request and turns a non-success answer into a [`DeliveryError`]; returns the body of a
/// success.
pub async fn send(api: &str, request: reqwest::RequestBuilder) -> Result<String, DeliveryError> {
    let response = request.send().await.map_err(|error| DeliveryError::from_transport(api, error))?;
    let status = response.status();
    let after = retry_after(response.headers());
    let body = response.text().await.map_err(|error| DeliveryError::from_transport(api, error))?;
    if status.is_success() { Ok(body) } else { Err(DeliveryError::from_status(api, status, after, &body)) }
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Cuts `text` to at most `max` characters (not bytes, so never inside a character), ending with
/// an ellipsis when something was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The facts every channel shows, worded once.
pub struct Summary<'a> {
    pub event: &'a IncidentEvent,
    /// Where the incident is on the dashboard, when `PUBLIC_URL` is set.
    pub dashboard_url: Option<String>,
    /// Who the incident's escalation is paging until someone acknowledges, first paged first
    /// (`tocsin_storage::notifications::thread_and_paging`): read for the Slack app's message,
    /// empty elsewhere.
    pub paging: Vec<String>,
}

impl<'a> Summary<'a> {
    pub fn new(event: &'a IncidentEvent, public_url: Option<&str>) -> Summary<'a> {
        let dashboard_url =
            public_url.map(|base| format!("{}/incident/{}", base.trim_end_matches('/'), event.incident.id));
        Summary { event, dashboard_url, paging: Vec::new() }
    }

    /// "[CRITICAL] High CPU usage on web-server-01"
    pub fn headline(&self) -> String {
        let incident = &self.event.incident;
        format!("[{}] {}", incident.severity.as_str().to_uppercase(), incident.title)
    }

    /// What happened, in one sentence: "Acknowledged by ana@example.com".
    pub fn step(&self) -> String {
        use tocsin_domain::EventKind::*;
        let actor = &self.event.actor;
        let incident = &self.event.incident;
        let alert = self.event.detail.get("alert");
        let alert_name = || {
            alert
                .and_then(|alert| alert.get("alertname").and_then(|name| name.as_str()))
                .unwrap_or("an alert")
                .to_owned()
        };
        match self.event.kind {
            Opened if self.event.detail.get("declared").and_then(serde_json::Value::as_bool) == Some(true) => {
                format!("Declared by {actor}")
            }
            Opened => format!("Opened by {}", alert_name()),
            AlertAdded => {
                format!("{} joined ({} of {} alerts firing)", alert_name(), incident.firing_count, incident.alert_count)
            }
            AlertResolved => format!(
                "{} resolved ({} of {} alerts still firing)",
                alert_name(),
                incident.firing_count,
                incident.alert_count
            ),
            Acknowledged => format!("Acknowledged by {actor}"),
            Resolved if actor == "tocsin" => "Resolved: every alert stopped firing".to_owned(),
            Resolved => format!("Resolved by {actor}"),
            Reopened => format!("Reopened by {actor}"),
            Assigned => match &incident.assignee {
                Some(assignee) => format!("Assigned to {assignee} by {actor}"),
                None => format!("Unassigned by {actor}"),
            },
            Paged => match serde_json::from_value::<tocsin_domain::Paged>(self.event.detail.clone()) {
                Ok(paged) if paged.users.is_empty() => format!("Escalation step {}: nobody to page", paged.step + 1),
                Ok(paged) => {
                    let names: Vec<&str> = paged.users.iter().map(|user| user.name.as_str()).collect();
                    format!("Escalation step {}: paging {}", paged.step + 1, names.join(", "))
                }
                Err(_) => "Escalation step fired".to_owned(),
            },
            // Never sent: the notifier sends nothing while maintenance holds an incident.
            InMaintenance => "In maintenance".to_owned(),
            MaintenanceEnded => {
                let reason = self.event.detail.get("reason").and_then(|reason| reason.as_str());
                match reason {
                    Some(reason) => format!("Still firing after the maintenance window ended ({reason})"),
                    None => "Still firing after the maintenance window ended".to_owned(),
                }
            }
            NoteAdded => {
                let text = self.event.detail.get("text").and_then(|text| text.as_str()).unwrap_or_default();
                format!("Note by {actor}: {text}")
            }
            Edited => match serde_json::from_value::<tocsin_domain::Edit>(self.event.detail.clone()) {
                Ok(edit) => format!("Edited by {actor}: {}", edit.describe()),
                Err(_) => format!("Edited by {actor}"),
            },
        }
    }

    /// `(label, value)` pairs in the order people read them. A runbook annotation that is not a
    /// web address is a fact, shown as text, rather than a link.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let incident = &self.event.incident;
        let mut facts = vec![
            ("Status", incident.status.as_str().to_owned()),
            ("Severity", incident.severity.as_str().to_owned()),
            ("Service", incident.service.clone()),
            ("Environment", incident.environment.clone()),
            ("Team", incident.team.clone()),
            ("Alerts", format!("{} firing of {}", incident.firing_count, incident.alert_count)),
            ("Assignee", incident.assignee.clone().unwrap_or_else(|| "nobody".to_owned())),
        ];
        if let Some(runbook) = incident.runbook_url.as_deref().filter(|runbook| web_link(runbook).is_none()) {
            facts.push(("Runbook", runbook.to_owned()));
        }
        if incident.status == IncidentStatus::Open && !self.paging.is_empty() {
            facts.push(("Paging", paging_names(&self.paging)));
        }
        facts
    }

    /// `(label, url)` pairs: the runbook and the dashboard, when known. These are the only links
    /// a message carries. The runbook is one only when it is an `http` or `https` URL, and it is
    /// written out as parsed, so characters that could end a link early in a channel's syntax
    /// (`<`, `>`, `"`, spaces) are percent-encoded.
    pub fn links(&self) -> Vec<(&'static str, String)> {
        let mut links = Vec::new();
        if let Some(runbook) = self.event.incident.runbook_url.as_deref().and_then(web_link) {
            links.push(("Runbook", runbook));
        }
        if let Some(dashboard) = &self.dashboard_url {
            links.push(("Dashboard", dashboard.clone()));
        }
        links
    }
}

/// `url` as a link a channel may carry: an absolute `http` or `https` URL with a host, written
/// out as the URL standard serialises it.
/// "Ana Lopez, Bo Chen", or with more than the storage reads, "… and others".
fn paging_names(names: &[String]) -> String {
    let shown = names.len().min(tocsin_storage::notifications::MAX_PAGING_NAMES);
    let mut text = names[..shown].join(", ");
    if names.len() > shown {
        text.push_str(" and others");
    }
    text
}

fn web_link(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    let is_web = matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some_and(|host| !host.is_empty());
    is_web.then(|| parsed.to_string())
}

/// An incident event for the channels' unit tests to adjust: incident 1, event 2, opened by
/// ana@example.com's team `payments` in production at a fixed time, one alert firing.
#[cfg(test)]
pub(crate) fn sample_event(kind: tocsin_domain::EventKind) -> IncidentEvent {
    use tocsin_domain::Incident;
    let at = time::macros::datetime!(2026-03-01 12:00 UTC);
    IncidentEvent {
        id: uuid::Uuid::from_u128(2),
        kind,
        at,
        actor: "ana@example.com".into(),
        incident: Incident { id: uuid::Uuid::from_u128(1), ..tocsin_testkit::open_incident(at) },
        detail: serde_json::json!({}),
        maintenance: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_character_boundaries() {
        assert_eq!(truncate_chars("short", 10), "short");
        let cut = truncate_chars(&"é".repeat(3_500), 3_000);
        assert_eq!(cut.chars().count(), 3_000);
        assert!(cut.ends_with('…'));
        let emoji = truncate_chars("🔥🔥🔥🔥", 3);
        assert_eq!(emoji, "🔥🔥…");
    }

    #[test]
    fn only_web_runbooks_are_links() {
        let mut event = sample_event(tocsin_domain::EventKind::Opened);
        event.incident.runbook_url = Some("https://runbooks.example.com/x>)[a](https://evil.example \"t\"".into());
        let summary = Summary::new(&event, Some("https://tocsin.example.com/"));
        assert_eq!(
            summary.links(),
            [
                ("Runbook", "https://runbooks.example.com/x%3E)[a](https://evil.example%20%22t%22".to_owned()),
                ("Dashboard", "https://tocsin.example.com/incident/00000000-0000-0000-0000-000000000001".to_owned()),
            ]
        );
        assert!(summary.facts().iter().all(|(label, _)| *label != "Runbook"));
        for not_web in ["javascript:alert(1)", "see the wiki", "file:///etc/passwd", "https://", "data:text/html,x"] {
            event.incident.runbook_url = Some(not_web.into());
            let summary = Summary::new(&event, None);
            assert!(summary.links().is_empty(), "{not_web}");
            assert_eq!(summary.facts().last(), Some(&("Runbook", not_web.to_owned())), "{not_web}");
        }
    }

    #[test]
    fn people_s_notes_edits_and_declarations_are_worded_with_who_did_them() {
        use tocsin_domain::EventKind;
        let mut declared = sample_event(EventKind::Opened);
        declared.detail = serde_json::json!({"declared": true, "summary": null});
        assert_eq!(Summary::new(&declared, None).step(), "Declared by ana@example.com");
        let mut note = sample_event(EventKind::NoteAdded);
        note.detail = serde_json::json!({"text": "rolled back"});
        assert_eq!(Summary::new(&note, None).step(), "Note by ana@example.com: rolled back");
        let mut edit = sample_event(EventKind::Edited);
        edit.detail = serde_json::json!({"severity": {"from": "warning", "to": "critical"}});
        assert_eq!(Summary::new(&edit, None).step(), "Edited by ana@example.com: severity: warning → critical");
    }

    #[test]
    fn answers_are_classified_for_retry() {
        use reqwest::StatusCode;
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            DeliveryError::from_status("slack", StatusCode::TOO_MANY_REQUESTS, after, ""),
            DeliveryError::Retry { reason: "slack answered 429 Too Many Requests".into(), after }
        );
        assert!(matches!(
            DeliveryError::from_status("slack", StatusCode::BAD_GATEWAY, None, "oops"),
            DeliveryError::Retry { after: None, .. }
        ));
        assert!(matches!(
            DeliveryError::from_status("github", StatusCode::UNAUTHORIZED, None, "{\"message\":\"Bad credentials\"}"),
            DeliveryError::Permanent { .. }
        ));
    }
}
