//! The incident and its lifecycle: open → acknowledged → resolved, with reopen.

use crate::severity::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<IncidentStatus> {
        match value {
            "open" => Some(IncidentStatus::Open),
            "acknowledged" => Some(IncidentStatus::Acknowledged),
            "resolved" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }

    pub fn is_active(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

/// A lifecycle move a person (or the system) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    Resolve,
    Reopen,
}

/// Why a move is impossible from the incident's current status; answered as 409 Conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the incident is already acknowledged")]
    AlreadyAcknowledged,
    #[error("the incident is already resolved")]
    AlreadyResolved,
    #[error("only a resolved incident can be reopened; this one is {0}")]
    NotResolved(&'static str),
}

impl Transition {
    pub fn apply(self, from: IncidentStatus) -> Result<IncidentStatus, TransitionError> {
        use IncidentStatus::*;
        match (self, from) {
            (Transition::Acknowledge, Open) => Ok(Acknowledged),
            (Transition::Acknowledge, Acknowledged) => Err(TransitionError::AlreadyAcknowledged),
            (Transition::Acknowledge | Transition::Resolve, Resolved) => Err(TransitionError::AlreadyResolved),
            (Transition::Resolve, Open | Acknowledged) => Ok(Resolved),
            (Transition::Reopen, Resolved) => Ok(Open),
            (Transition::Reopen, other) => Err(TransitionError::NotResolved(other.as_str())),
        }
    }
}

impl Transition {
    /// As [`Transition::apply`], for an acknowledged incident whose acknowledgement ran out and
    /// that is paging people again (its policy's acknowledge timeout): acknowledging it once more
    /// is allowed, and is how one of them takes it back.
    pub fn apply_after_expired_acknowledgement(self, from: IncidentStatus) -> Result<IncidentStatus, TransitionError> {
        match (self, from) {
            (Transition::Acknowledge, IncidentStatus::Acknowledged) => Ok(IncidentStatus::Acknowledged),
            _ => self.apply(from),
        }
    }
}

/// DESIGN.md's `source_alert`: the alert that opened the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceAlert {
    pub fingerprint: String,
    #[serde(rename = "startsAt", with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    pub labels: BTreeMap<String, String>,
}

/// An incident as the API shows it and the events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: Uuid,
    pub title: String,
    pub service: String,
    pub environment: String,
    pub severity: Severity,
    pub team: String,
    pub status: IncidentStatus,
    pub assignee: Option<String>,
    pub runbook_url: Option<String>,
    pub source_alert: SourceAlert,
    /// Alerts ever attached, and those still firing.
    pub alert_count: i32,
    pub firing_count: i32,
    /// When the first alert started (its own `startsAt`), the origin of MTTA and MTTR.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Increases by one with every change, so a reader can tell which of two copies is newer.
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::IncidentStatus::*;
    use super::*;

    #[test]
    fn the_lifecycle_moves_forward_and_reopens() {
        assert_eq!(Transition::Acknowledge.apply(Open), Ok(Acknowledged));
        assert_eq!(Transition::Resolve.apply(Open), Ok(Resolved));
        assert_eq!(Transition::Resolve.apply(Acknowledged), Ok(Resolved));
        assert_eq!(Transition::Reopen.apply(Resolved), Ok(Open));
    }

    #[test]
    fn an_expired_acknowledgement_may_be_taken_again_and_nothing_else_changes() {
        let expired = Transition::apply_after_expired_acknowledgement;
        assert_eq!(expired(Transition::Acknowledge, Acknowledged), Ok(Acknowledged));
        assert_eq!(expired(Transition::Acknowledge, Open), Ok(Acknowledged));
        assert_eq!(expired(Transition::Acknowledge, Resolved), Err(TransitionError::AlreadyResolved));
        assert_eq!(expired(Transition::Resolve, Acknowledged), Ok(Resolved));
        assert_eq!(expired(Transition::Reopen, Acknowledged), Err(TransitionError::NotResolved("acknowledged")));
    }

    #[test]
    fn impossible_moves_say_why() {
        assert_eq!(Transition::Acknowledge.apply(Acknowledged), Err(TransitionError::AlreadyAcknowledged));
        assert_eq!(Transition::Acknowledge.apply(Resolved), Err(TransitionError::AlreadyResolved));
        assert_eq!(Transition::Resolve.apply(Resolved), Err(TransitionError::AlreadyResolved));
        assert_eq!(Transition::Reopen.apply(Open), Err(TransitionError::NotResolved("open")));
        assert_eq!(
            TransitionError::NotResolved("acknowledged").to_string(),
            "only a resolved incident can be reopened; this one is acknowledged"
        );
    }

    #[test]
    fn status_names_round_trip() {
        for status in [Open, Acknowledged, Resolved] {
            assert_eq!(IncidentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(IncidentStatus::parse("closed"), None);
    }
}
