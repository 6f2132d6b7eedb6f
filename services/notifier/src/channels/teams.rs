//! Microsoft Teams through a Workflows webhook (Power Automate's "When a Teams webhook request is
//! received" trigger, which replaced the retired Office 365 connectors). Each event is a new
//! Adaptive Card: a webhook can neither edit an earlier message nor thread under it.
//!
//! The webhook URL carries its own credential (the `sig` query parameter), so it is a [`Secret`]
//! and never appears in an error, which the delivery worker logs.
//!
//! Alert text goes through [`super::inert::adaptive_card`]: the card's only links are its
//! Open-URL actions.

use super::inert::adaptive_card;
use super::{Delivered, DeliveryError, Summary, retry_after, truncate_chars};
use serde_json::{Value, json};
use tocsin_domain::Severity;
use tocsin_runtime::Secret;

/// Teams refuses a message over about 28 KB; the headline is the only free text of any length
/// (an incident's title comes from an alert's annotations), so it is the one thing cut.
const MAX_HEADLINE: usize = 1_000;

pub struct Teams {
    http: reqwest::Client,
    url: Secret,
}

impl Teams {
    pub fn new(http: reqwest::Client, url: Secret) -> Teams {
        Teams { http, url }
    }

    /// Posts the event's card. Workflows answers `202 Accepted` before it runs the flow, so a
    /// success here means the flow was started, not that the card was shown.
    pub async fn deliver(&self, summary: &Summary<'_>) -> Result<Delivered, DeliveryError> {
        let request = self
            .http
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(message(summary).to_string());
        // Not `channels::send`: a reqwest error names the URL it was sending to, and this one is
        // the secret.
        let transport = |error: reqwest::Error| DeliveryError::from_transport("teams", error);
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let after = retry_after(response.headers());
        let body = response.text().await.map_err(transport)?;
        if status.is_success() {
            Ok(Delivered::default())
        } else {
            Err(DeliveryError::from_status("teams", status, after, &body))
        }
    }
}

/// The webhook's payload: a `message` with one Adaptive Card attachment, the form the Workflows
/// "Post card in a chat or channel" action expects.
pub fn message(summary: &Summary<'_>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card(summary),
        }],
    })
}

/// Adaptive Card 1.4, the newest version every Teams client renders; enum values are spelled as in
/// the card schema (`Bolder`, `Attention`).
pub fn card(summary: &Summary<'_>) -> Value {
    let facts: Vec<Value> = summary
        .facts()
        .into_iter()
        .map(|(title, value)| json!({ "title": title, "value": adaptive_card::text(&value) }))
        .collect();
    let actions: Vec<Value> = summary
        .links()
        .into_iter()
        .map(|(title, url)| json!({ "type": "Action.OpenUrl", "title": title, "url": url }))
        .collect();
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": truncate_chars(&adaptive_card::text(&summary.headline()), MAX_HEADLINE),
                "weight": "Bolder",
                "size": "Large",
                "wrap": true,
                "color": color(summary.event.incident.severity),
            },
            { "type": "TextBlock", "text": adaptive_card::text(&summary.step()), "wrap": true },
            { "type": "FactSet", "facts": facts },
        ],
        "actions": actions,
    })
}

fn color(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "Attention",
        Severity::Warning => "Warning",
        Severity::Info => "Default",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_domain::{EventKind, IncidentEvent, IncidentStatus};

    fn event(severity: Severity, runbook_url: Option<&str>) -> IncidentEvent {
        let mut event = crate::channels::sample_event(EventKind::Acknowledged);
        let incident = &mut event.incident;
        incident.severity = severity;
        incident.status = IncidentStatus::Acknowledged;
        incident.runbook_url = runbook_url.map(str::to_owned);
        incident.alert_count = 2;
        incident.acknowledged_at = Some(incident.opened_at);
        incident.acknowledged_by = Some("ana@example.com".into());
        incident.version = 2;
        event
    }

    #[test]
    fn the_card_carries_headline_step_facts_and_links() {
        let event = event(Severity::Critical, Some("https://runbooks.example.com/cpu"));
        let summary = Summary::new(&event, Some("https://tocsin.example.com/"));
        let message = message(&summary);
        assert_eq!(message["type"], "message");
        let attachment = &message["attachments"][0];
        assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(attachment["contentUrl"].is_null());
        let card = &attachment["content"];
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["body"][0],
            json!({
                "type": "TextBlock",
                "text": "[CRITICAL] High CPU usage on web-server-01",
                "weight": "Bolder",
                "size": "Large",
                "wrap": true,
                "color": "Attention",
            })
        );
        assert_eq!(card["body"][1]["text"], "Acknowledged by ana@example.com");
        assert_eq!(card["body"][2]["facts"][0], json!({ "title": "Status", "value": "acknowledged" }));
        assert_eq!(card["body"][2]["facts"][5], json!({ "title": "Alerts", "value": "1 firing of 2" }));
        assert_eq!(
            card["actions"],
            json!([
                { "type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks.example.com/cpu" },
                {
                    "type": "Action.OpenUrl",
                    "title": "Dashboard",
                    "url": "https://tocsin.example.com/incident/00000000-0000-0000-0000-000000000001",
                },
            ])
        );
    }

    #[test]
    fn the_headline_colour_follows_severity() {
        for (severity, expected) in [
            (Severity::Critical, "Attention"),
            (Severity::High, "Attention"),
            (Severity::Warning, "Warning"),
            (Severity::Info, "Default"),
        ] {
            let event = event(severity, None);
            let card = card(&Summary::new(&event, None));
            assert_eq!(card["body"][0]["color"], expected, "{severity}");
            assert_eq!(card["actions"], json!([]), "no links without a runbook or PUBLIC_URL");
        }
    }

    #[test]
    fn a_huge_title_is_cut() {
        let mut event = event(Severity::Info, None);
        event.incident.title = "x".repeat(50_000);
        let card = card(&Summary::new(&event, None));
        assert_eq!(card["body"][0]["text"].as_str().map(|text| text.chars().count()), Some(MAX_HEADLINE));
    }
}
