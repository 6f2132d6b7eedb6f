//! The timeline of an incident: every change, with its time, its actor and what it was about.
//! MTTA and MTTR are read from it.

use crate::event::EventKind;
use crate::incident::IncidentStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Actor of changes made by tocsin's own rules (auto-resolve, reopen within the window).
pub const SYSTEM_ACTOR: &str = "tocsin";
/// Actor of changes reported by Alertmanager (alerts firing and resolving).
pub const ALERTMANAGER_ACTOR: &str = "alertmanager";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub kind: EventKind,
    pub actor: String,
    /// The incident's status after this entry, on entries that changed it (DESIGN.md's
    /// `{"status", "timestamp"}` pairs).
    pub status: Option<IncidentStatus>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
