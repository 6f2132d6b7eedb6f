//! Commands: what people ask incident-core to do to an incident (from the API or from Slack), and
//! the outcome incident-core records for each, so a redelivered command is answered, not re-run.

use crate::incident::{Incident, Transition};
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
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Reopen => "reopen",
            Action::Assign { .. } => "assign",
        }
    }

    /// The lifecycle move, for actions that are one.
    pub fn transition(&self) -> Option<Transition> {
        match self {
            Action::Acknowledge => Some(Transition::Acknowledge),
            Action::Resolve => Some(Transition::Resolve),
            Action::Reopen => Some(Transition::Reopen),
            Action::Assign { .. } => None,
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
}
