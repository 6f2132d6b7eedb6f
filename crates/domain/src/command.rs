//! Commands: what people ask incident-core to do to an incident (from the API or from Slack), and
//! the outcome incident-core records for each, so a redelivered command is answered, not re-run.

use crate::incident::{Incident, Transition};
use crate::severity::Severity;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    Resolve,
    Reopen,
    /// `assignee: null` clears the assignment.
    Assign {
        assignee: Option<String>,
    },
    /// A Markdown note on the timeline, at most [`MAX_NOTE_BYTES`].
    Note {
        text: String,
    },
    /// A person's correction of the title or severity the first alert gave; `null` leaves a field
    /// as it is.
    Edit {
        title: Option<String>,
        severity: Option<Severity>,
    },
    /// Opens an incident by hand, without alerts: the command's `incident_id` is the new
    /// incident's. `team` is the service's owner in the catalogue when the command was sent, the
    /// team the sender was authorised against.
    Declare(Declaration),
}

/// What a person declaring an incident says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Declaration {
    pub title: String,
    pub severity: Severity,
    pub service: String,
    pub environment: String,
    pub team: String,
    /// What is known so far, Markdown, on the `opened` timeline entry.
    pub summary: Option<String>,
}

/// The longest note, in bytes of UTF-8: a page of Markdown, well past what a responder types in
/// the middle of an incident, short enough that a timeline of many notes stays quick to read.
pub const MAX_NOTE_BYTES: usize = 8_192;
/// The longest title a person may give, in bytes: titles from alerts are one line, and so is this.
pub const MAX_TITLE_BYTES: usize = 500;
/// The longest service or environment name a person may declare an incident for, in bytes: the
/// length the dashboard's filters index (migration 000011).
pub const MAX_NAME_BYTES: usize = 1_000;

/// The correlation key of a declared incident: its own, so no alert ever joins it by key and no
/// other incident's key is ever taken.
pub fn declared_key(incident_id: uuid::Uuid) -> String {
    format!("declared:{incident_id}")
}

/// What an edit changes: each field that differs from the incident's, as (before, after).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<FromTo<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<FromTo<Severity>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromTo<T> {
    pub from: T,
    pub to: T,
}

impl Edit {
    /// The changes `title` and `severity` make to an incident that has `current_title` and
    /// `current_severity`; a field asked for with the value it already has is no change.
    pub fn between(
        current_title: &str,
        current_severity: Severity,
        title: Option<&str>,
        severity: Option<Severity>,
    ) -> Edit {
        Edit {
            title: title
                .filter(|title| *title != current_title)
                .map(|title| FromTo { from: current_title.to_owned(), to: title.to_owned() }),
            severity: severity
                .filter(|severity| *severity != current_severity)
                .map(|severity| FromTo { from: current_severity, to: severity }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.severity.is_none()
    }

    /// The timeline's sentence, without the actor: "severity: warning → critical; title: “a” → “b”".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(change) = &self.severity {
            parts.push(format!("severity: {} → {}", change.from, change.to));
        }
        if let Some(change) = &self.title {
            parts.push(format!("title: “{}” → “{}”", change.from, change.to));
        }
        parts.join("; ")
    }
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Reopen => "reopen",
            Action::Assign { .. } => "assign",
            Action::Note { .. } => "note",
            Action::Edit { .. } => "edit",
            Action::Declare(_) => "declare",
        }
    }

    /// The lifecycle move, for actions that are one.
    pub fn transition(&self) -> Option<Transition> {
        match self {
            Action::Acknowledge => Some(Transition::Acknowledge),
            Action::Resolve => Some(Transition::Resolve),
            Action::Reopen => Some(Transition::Reopen),
            Action::Assign { .. } | Action::Note { .. } | Action::Edit { .. } | Action::Declare(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Chosen by the sender; the key under which the outcome is recorded.
    pub id: Uuid,
    pub incident_id: Uuid,
    #[serde(flatten)]
    pub action: Action,
    /// Who asked: an API user, a Slack user (`slack:U123`), …
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    NotFound,
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandOutcome {
    Applied { incident: Box<Incident> },
    Rejected { code: RejectionCode, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn commands_travel_as_flat_json() {
        let command = Command {
            id: Uuid::nil(),
            incident_id: Uuid::nil(),
            action: Action::Assign { assignee: Some("ana@example.com".into()) },
            actor: "ana@example.com".into(),
            requested_at: datetime!(2026-11-26 21:00 UTC),
        };
        let json = serde_json::to_value(&command).unwrap_or_default();
        assert_eq!(json["action"], "assign");
        assert_eq!(json["assignee"], "ana@example.com");
        let back: Command = serde_json::from_value(json).expect("converting");
        assert_eq!(back, command);
    }

    #[test]
    fn notes_and_edits_travel_as_flat_json() {
        let edit = Action::Edit { title: None, severity: Some(Severity::Critical) };
        let json = serde_json::to_value(&edit).unwrap_or_default();
        assert_eq!(json, serde_json::json!({"action": "edit", "title": null, "severity": "critical"}));
        let note = Action::Note { text: "*rolled back* the deploy".into() };
        let json = serde_json::to_value(&note).unwrap_or_default();
        assert_eq!(json, serde_json::json!({"action": "note", "text": "*rolled back* the deploy"}));
        assert_eq!(serde_json::from_value::<Action>(json).ok(), Some(note));
    }

    #[test]
    fn a_declaration_travels_flat_and_keys_no_alert_can_share() {
        let declare = Action::Declare(Declaration {
            title: "Checkout down".into(),
            severity: Severity::Critical,
            service: "checkout-api".into(),
            environment: "production".into(),
            team: "payments".into(),
            summary: None,
        });
        let json = serde_json::to_value(&declare).unwrap_or_default();
        assert_eq!(json["action"], "declare");
        assert_eq!(json["severity"], "critical");
        assert_eq!(serde_json::from_value::<Action>(json).ok(), Some(declare));
        // An alert's key is a JSON array of label pairs, never this.
        assert_eq!(declared_key(Uuid::nil()), "declared:00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn an_edit_holds_only_what_changes() {
        let edit = Edit::between("High CPU", Severity::Warning, Some("High CPU"), Some(Severity::Critical));
        assert_eq!(edit.title, None);
        assert_eq!(edit.severity, Some(FromTo { from: Severity::Warning, to: Severity::Critical }));
        assert_eq!(edit.describe(), "severity: warning → critical");
        assert!(Edit::between("High CPU", Severity::Warning, Some("High CPU"), Some(Severity::Warning)).is_empty());
        assert!(Edit::between("High CPU", Severity::Warning, None, None).is_empty());
        let both = Edit::between("High CPU", Severity::High, Some("CPU pinned by the batch job"), Some(Severity::Info));
        assert_eq!(both.describe(), "severity: high → info; title: “High CPU” → “CPU pinned by the batch job”");
        assert_eq!(
            serde_json::to_value(&both).unwrap_or_default(),
            serde_json::json!({"title": {"from": "High CPU", "to": "CPU pinned by the batch job"}, "severity": {"from": "high", "to": "info"}})
        );
    }
}
