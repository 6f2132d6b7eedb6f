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
    /// A step of the incident's escalation policy fired: its detail is a [`Paged`].
    Paged,
    /// The incident opened or reopened inside a maintenance window that matches it: nothing is
    /// notified or paged until the window ends (docs/noise.md). Its detail names the window.
    InMaintenance,
    /// The last maintenance window holding the incident ended while it was still active: it is
    /// notified now, as if it had just opened, and its escalation starts.
    MaintenanceEnded,
    /// A person wrote a note: its detail is `{"text": …}`, Markdown.
    NoteAdded,
    /// A person changed the title or severity: its detail is a [`crate::command::Edit`].
    Edited,
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
            EventKind::Paged => "paged",
            EventKind::InMaintenance => "in_maintenance",
            EventKind::MaintenanceEnded => "maintenance_ended",
            EventKind::NoteAdded => "note_added",
            EventKind::Edited => "edited",
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
            EventKind::Paged,
            EventKind::InMaintenance,
            EventKind::MaintenanceEnded,
            EventKind::NoteAdded,
            EventKind::Edited,
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
    /// Set while a maintenance window holds the incident: the notifier sends nothing for the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::maintenance::Hold>,
}

/// What a `paged` event and its timeline entry say: one step of an escalation policy fired.
///
/// incident-core's escalation engine writes it in the transaction that fires the step; the
/// notifier delivers it to each person by their notification rules. Acknowledging, resolving and
/// reopening an incident start a new escalation epoch, so a page of an older epoch (a notification
/// rule's delivery still waiting for its delay) is stale and is not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paged {
    /// The incident's escalation epoch when the step fired.
    pub epoch: i64,
    pub policy_id: Uuid,
    pub policy_version: i32,
    /// The step that fired (0: the first), on which pass through the policy (0: the first).
    pub step: u32,
    pub pass: u32,
    pub urgency: PageUrgency,
    /// The people paged, each once however many of the step's targets named them.
    pub users: Vec<PagedUser>,
    /// The routing file's targets the step named (a team's Slack channel).
    pub channels: Vec<String>,
    /// The step's targets that had nobody to page: a schedule with a gap, a team without
    /// responders, a user who no longer exists.
    pub unreached: Vec<crate::escalation::Target>,
    /// When the next step fires; `None` when this was the last one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_at: Option<OffsetDateTime>,
}

/// A person a step paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagedUser {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

/// How urgently people are paged, from the incident's severity and the policy's urgency rule:
/// notification rules are kept per urgency ("call me at once when high, e-mail me when low").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageUrgency {
    High,
    Low,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for name in [
            "opened",
            "alert_added",
            "alert_resolved",
            "acknowledged",
            "resolved",
            "reopened",
            "assigned",
            "paged",
            "in_maintenance",
            "maintenance_ended",
            "note_added",
            "edited",
        ] {
            assert_eq!(EventKind::parse(name).map(EventKind::as_str), Some(name));
        }
    }
}
