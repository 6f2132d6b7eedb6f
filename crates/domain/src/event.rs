//! Events: what incident-core tells the rest of the system after a change is committed. They go
//! through the outbox, so every committed change yields its event exactly once in the outbox and at
//! least once on the stream; consumers dedupe by `id`.

use crate::incident::Incident;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    AlertAdded,
    AlertResolved,
    Acknowledged,
    Resolved,
    Reopened,
    Assigned,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::AlertAdded => "alert_added",
            EventKind::AlertResolved => "alert_resolved",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
            EventKind::Assigned => "assigned",
        }
    }

    pub fn parse(value: &str) -> Option<EventKind> {
        [
            EventKind::Opened,
            EventKind::AlertAdded,
            EventKind::AlertResolved,
            EventKind::Acknowledged,
            EventKind::Resolved,
            EventKind::Reopened,
            EventKind::Assigned,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub id: Uuid,
    pub kind: EventKind,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// The incident as it is after the change.
    pub incident: Incident,
    /// Kind-specific facts, the same as the timeline entry's detail (which alert, who was assigned).
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for name in ["opened", "alert_added", "alert_resolved", "acknowledged", "resolved", "reopened", "assigned"] {
            assert_eq!(EventKind::parse(name).map(EventKind::as_str), Some(name));
        }
    }
}
