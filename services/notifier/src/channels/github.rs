//! GitHub issues, on github.com or GitHub Enterprise Server: an incident opens one issue, each later
//! event is a comment on it, and the issue is closed and reopened with the incident.
//!
//! Every call is the REST API (version 2022-11-28) with a token that may write issues in the
//! repository: a fine-grained token with "Issues: read and write", or a classic one with `repo`.
//! Labels are applied only when the token may push; GitHub silently drops them otherwise.
//!
//! Alert text goes through [`super::inert::markdown`]: no mention, issue reference or link in it
//! is live, and the only links are the runbook and dashboard that [`Summary::links`] checked.

use super::inert::markdown;
use super::{Delivered, DeliveryError, Summary, Thread, retry_after, truncate_chars};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tocsin_domain::{EventKind, IncidentStatus};
use tocsin_runtime::Secret;

/// GitHub's limits: 256 characters of title, 65,536 of body or comment, 50 of label name.
const MAX_TITLE: usize = 256;
const MAX_BODY: usize = 65_536;
const MAX_LABEL: usize = 50;

/// GitHub asks a client that hit a secondary rate limit without a `Retry-After` to wait at least a
/// minute.
const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

pub struct GitHub {
    http: reqwest::Client,
    /// `https://api.github.com`, or `https://ghe.example.com/api/v3` for Enterprise Server.
    api_url: String,
    /// `owner/name`.
    repository: String,
    token: Secret,
    /// Added to every new issue after `severity:…` and `service:…`.
    labels: Vec<String>,
}

impl GitHub {
    pub fn new(
        http: reqwest::Client,
        api_url: String,
        repository: String,
        token: Secret,
        labels: Vec<String>,
    ) -> GitHub {
        GitHub { http, api_url: api_url.trim_end_matches('/').to_owned(), repository, token, labels }
    }

    /// Without a thread, opens the incident's issue (and closes it straight away if the incident is
    /// already resolved); with one, comments on that issue and follows resolve and reopen.
    pub async fn deliver(&self, summary: &Summary<'_>, thread: Option<&Thread>) -> Result<Delivered, DeliveryError> {
        match thread {
            None => self.open_issue(summary).await,
            Some(thread) => {
                self.follow_up(summary, thread).await?;
                Ok(Delivered::default())
            }
        }
    }

    async fn open_issue(&self, summary: &Summary<'_>) -> Result<Delivered, DeliveryError> {
        let body = json!({
            "title": truncate_chars(&markdown::title(&summary.headline()), MAX_TITLE),
            "body": issue_body(summary),
            "labels": labels(summary, &self.labels),
        });
        let path = format!("repos/{}/issues", self.repository);
        let created = self.call("github issues.create", Method::POST, &path, body).await?;
        let number = created["number"]
            .as_u64()
            .ok_or_else(|| DeliveryError::permanent("github issues.create answered without an issue number"))?;
        let new_thread = Thread { location: self.repository.clone(), reference: number.to_string() };
        if summary.event.incident.status == IncidentStatus::Resolved {
            // The issue exists now: failing the delivery would have it retried, opening a second
            // issue and leaving this one open for good. An open issue is the smaller harm.
            if let Err(error) = self.set_state(&new_thread, IssueState::Closed).await {
                tracing::warn!(
                    incident.id = %summary.event.incident.id,
                    github.issue = number,
                    %error,
                    "could not close the github issue of an incident that was already resolved"
                );
            }
        }
        Ok(Delivered { new_thread: Some(new_thread) })
    }

    /// The state change goes first: it is idempotent, so when the comment then fails, the retry
    /// repeats it harmlessly instead of posting the comment twice.
    async fn follow_up(&self, summary: &Summary<'_>, thread: &Thread) -> Result<(), DeliveryError> {
        if !thread.reference.bytes().all(|byte| byte.is_ascii_digit()) || thread.reference.is_empty() {
            return Err(DeliveryError::permanent(format!("github: {:?} is not an issue number", thread.reference)));
        }
        match summary.event.kind {
            EventKind::Resolved => self.set_state(thread, IssueState::Closed).await?,
            EventKind::Reopened => self.set_state(thread, IssueState::Open).await?,
            _ => {}
        }
        let path = format!("repos/{}/issues/{}/comments", thread.location, thread.reference);
        self.call("github issues.comment", Method::POST, &path, json!({ "body": comment_body(summary) })).await?;
        Ok(())
    }

    async fn set_state(&self, thread: &Thread, state: IssueState) -> Result<(), DeliveryError> {
        let body = match state {
            IssueState::Closed => json!({ "state": "closed", "state_reason": "completed" }),
            IssueState::Open => json!({ "state": "open" }),
        };
        let path = format!("repos/{}/issues/{}", thread.location, thread.reference);
        self.call("github issues.update", Method::PATCH, &path, body).await?;
        Ok(())
    }

    /// One REST call; answers the response's JSON (`null` for an empty body).
    async fn call(&self, api: &str, method: Method, path: &str, body: Value) -> Result<Value, DeliveryError> {
        let response = self
            .http
            .request(method, format!("{}/{path}", self.api_url))
            .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(USER_AGENT, "tocsin-notifier")
            .json(&body)
            .send()
            .await
            .map_err(|error| DeliveryError::from_transport(api, error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|error| DeliveryError::from_transport(api, error))?;
        if !status.is_success() {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            return Err(classify(api, status, &headers, &text, now));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|error| DeliveryError::retry(format!("{api} answered something other than JSON: {error}")))
    }
}

#[derive(Debug, Clone, Copy)]
enum IssueState {
    Open,
    /// Closed as completed: the incident was resolved.
    Closed,
}

/// Like [`DeliveryError::from_status`], plus GitHub's rate limits, which it answers with 403 as
/// often as with 429: `Retry-After` when present, else the `x-ratelimit-reset` time (epoch seconds)
/// once `x-ratelimit-remaining` is 0, else a minute for a secondary limit named only in the body.
fn classify(api: &str, status: StatusCode, headers: &HeaderMap, body: &str, now_unix: i64) -> DeliveryError {
    if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        let after = if let Some(after) = retry_after(headers) {
            Some(after)
        } else if header("x-ratelimit-remaining") == Some("0") {
            let reset = header("x-ratelimit-reset").and_then(|reset| reset.parse::<i64>().ok());
            // At least a second: a reset already past means the clocks disagree, not "now".
            Some(reset.map_or(SECONDARY_RATE_LIMIT_WAIT, |reset| {
                Duration::from_secs(reset.saturating_sub(now_unix).max(1).unsigned_abs())
            }))
        } else if body.to_ascii_lowercase().contains("rate limit") {
            Some(SECONDARY_RATE_LIMIT_WAIT)
        } else {
            None
        };
        if let Some(after) = after {
            return DeliveryError::Retry {
                reason: format!("{api} answered {status}: rate limited for {}s", after.as_secs()),
                after: Some(after),
            };
        }
    }
    DeliveryError::from_status(api, status, retry_after(headers), body)
}

/// `severity:<severity>`, `service:<service>`, then the configured labels, without repeats.
fn labels(summary: &Summary<'_>, configured: &[String]) -> Vec<String> {
    let incident = &summary.event.incident;
    let mut labels = vec![
        truncate_chars(&format!("severity:{}", incident.severity.as_str()), MAX_LABEL),
        truncate_chars(&format!("service:{}", incident.service), MAX_LABEL),
    ];
    for label in configured {
        if !labels.contains(label) {
            labels.push(label.clone());
        }
    }
    labels
}

/// The issue's description: what happened, the facts as a table, the links, and a hidden marker
/// naming the incident, for whoever (person or script) needs to tie the issue back to it.
pub fn issue_body(summary: &Summary<'_>) -> String {
    let mut body = format!("**{}**\n\n| | |\n|---|---|\n", markdown::inline(&summary.step()));
    for (label, value) in summary.facts() {
        // `inline` escapes `|` and joins lines, so a value stays in its table cell.
        body.push_str(&format!("| {label} | {} |\n", markdown::inline(&value)));
    }
    let links = links(summary);
    if !links.is_empty() {
        body.push_str(&format!("\n{links}\n"));
    }
    let marker = format!("\n<!-- tocsin:incident:{} -->\n", summary.event.incident.id);
    let mut body = truncate_chars(&body, MAX_BODY - marker.chars().count());
    body.push_str(&marker);
    body
}

/// A comment: the step, then where the incident stands.
pub fn comment_body(summary: &Summary<'_>) -> String {
    let incident = &summary.event.incident;
    let mut body = format!(
        "**{}**\n\nStatus: **{}** · {} firing of {} alerts · assignee: {}",
        markdown::inline(&summary.step()),
        incident.status.as_str(),
        incident.firing_count,
        incident.alert_count,
        markdown::inline(incident.assignee.as_deref().unwrap_or("nobody")),
    );
    if let Some(dashboard) = &summary.dashboard_url {
        body.push_str(&format!(" · [Dashboard](<{dashboard}>)"));
    }
    truncate_chars(&body, MAX_BODY)
}

/// The links as `[label](<url>)`: a checked URL holds no `<`, `>` or space, so it cannot end the
/// destination early.
fn links(summary: &Summary<'_>) -> String {
    summary.links().iter().map(|(label, url)| format!("[{label}](<{url}>)")).collect::<Vec<_>>().join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tocsin_domain::{IncidentEvent, Severity};

    fn event(kind: EventKind, status: IncidentStatus) -> IncidentEvent {
        let mut event = crate::channels::sample_event(kind);
        let incident = &mut event.incident;
        incident.title = "Disk | full\non db-1".into();
        incident.service = "billing".into();
        incident.severity = Severity::High;
        incident.status = status;
        incident.assignee = Some("bob".into());
        incident.runbook_url = Some("https://runbooks.example.com/disk (full)".into());
        incident.alert_count = 3;
        incident.firing_count = 0;
        incident.version = 4;
        event.detail = json!({ "alert": { "alertname": "DiskFull" } });
        event
    }

    #[test]
    fn the_issue_body_has_the_step_facts_links_and_marker() {
        let event = event(EventKind::Opened, IncidentStatus::Open);
        let body = issue_body(&Summary::new(&event, Some("https://tocsin.example.com")));
        assert_eq!(
            body,
            "**Opened by DiskFull**\n\n| | |\n|---|---|\n\
             | Status | open |\n| Severity | high |\n| Service | billing |\n| Environment | production |\n\
             | Team | payments |\n| Alerts | 0 firing of 3 |\n| Assignee | bob |\n\n\
             [Runbook](<https://runbooks.example.com/disk%20(full)>) · \
             [Dashboard](<https://tocsin.example.com/incident/00000000-0000-0000-0000-000000000001>)\n\n\
             <!-- tocsin:incident:00000000-0000-0000-0000-000000000001 -->\n"
        );
    }

    #[test]
    fn a_huge_body_keeps_its_marker() {
        let mut event = event(EventKind::Opened, IncidentStatus::Open);
        event.incident.service = "s".repeat(70_000);
        let body = issue_body(&Summary::new(&event, None));
        assert_eq!(body.chars().count(), MAX_BODY);
        assert!(body.ends_with("<!-- tocsin:incident:00000000-0000-0000-0000-000000000001 -->\n"));
    }

    #[test]
    fn the_comment_says_the_step_and_the_status() {
        let event = event(EventKind::Resolved, IncidentStatus::Resolved);
        assert_eq!(
            comment_body(&Summary::new(&event, None)),
            "**Resolved by ana@example.com**\n\nStatus: **resolved** · 0 firing of 3 alerts · assignee: bob"
        );
    }

    #[test]
    fn labels_come_from_the_incident_then_the_configuration() {
        let mut event = event(EventKind::Opened, IncidentStatus::Open);
        event.incident.service = "a-very-long-service-name-that-goes-on-and-on-and-on".into();
        let labels = labels(&Summary::new(&event, None), &["incident".into(), "severity:high".into()]);
        assert_eq!(labels, ["severity:high", "service:a-very-long-service-name-that-goes-on-and…", "incident"]);
        assert_eq!(labels[1].chars().count(), MAX_LABEL);
    }

    #[test]
    fn rate_limits_are_retried_after_the_reset() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1000042"));
        let error = classify("github issues.create", StatusCode::FORBIDDEN, &headers, "{}", 1_000_000);
        assert_eq!(
            error,
            DeliveryError::Retry {
                reason: "github issues.create answered 403 Forbidden: rate limited for 42s".into(),
                after: Some(Duration::from_secs(42)),
            }
        );
        // A reset in the past (clock skew) still waits a moment.
        let error = classify("github", StatusCode::TOO_MANY_REQUESTS, &headers, "", 2_000_000);
        assert!(matches!(error, DeliveryError::Retry { after: Some(after), .. } if after == Duration::from_secs(1)));
    }

    #[test]
    fn secondary_rate_limits_are_retried() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("30"));
        let error = classify("github", StatusCode::FORBIDDEN, &headers, "", 0);
        assert!(matches!(error, DeliveryError::Retry { after: Some(after), .. } if after == Duration::from_secs(30)));
        let body = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        let error = classify("github", StatusCode::FORBIDDEN, &HeaderMap::new(), body, 0);
        assert!(matches!(error, DeliveryError::Retry { after: Some(SECONDARY_RATE_LIMIT_WAIT), .. }));
    }

    #[test]
    fn other_refusals_are_permanent() {
        let body = r#"{"message":"Resource not accessible by personal access token"}"#;
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        assert!(matches!(
            classify("github", StatusCode::FORBIDDEN, &headers, body, 0),
            DeliveryError::Permanent { .. }
        ));
        assert!(matches!(
            classify("github", StatusCode::UNAUTHORIZED, &HeaderMap::new(), "", 0),
            DeliveryError::Permanent { .. }
        ));
        assert!(matches!(
            classify("github", StatusCode::BAD_GATEWAY, &HeaderMap::new(), "", 0),
            DeliveryError::Retry { after: None, .. }
        ));
    }
}
