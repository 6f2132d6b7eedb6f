//! One alert occurrence and the rule that settles what a newly received report of it means.
//!
//! An occurrence is Alertmanager's `fingerprint` plus `startsAt`: the same labels firing again
//! after they resolved get a new `startsAt`, hence a new occurrence. Reports of an occurrence can
//! arrive twice (Alertmanager resends every repeat interval, the stream redelivers) and out of order
//! (two incident-core replicas, retries). The merge below settles them by the alert's own
//! timestamps, never by arrival order, so replaying any permutation of reports ends in one state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<AlertState> {
        match value {
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// A firing report received this long after the occurrence's recorded end means the alert really
/// fired again with the same `startsAt` (Alertmanager does that when Prometheus resumes sending an
/// alert it had timed out). Anything closer is a late or repeated report of the old state. The
/// margin absorbs clock skew between Alertmanager, which stamps `endsAt`, and ingest, which stamps
/// the receive time.
pub const REFIRE_MARGIN: Duration = Duration::seconds(30);

/// What a report says about an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAlert {
    pub fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub state: AlertState,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: String,
}

/// What is already recorded about the occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOccurrence {
    pub state: AlertState,
    /// When it last ended. Kept when the occurrence fires again, so that an old resolution
    /// delivered late is recognised as old.
    pub ends_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OccurrenceChange {
    /// First report, firing: the alert joins (or opens) an incident.
    Opened,
    /// First report is already the resolution (the firing report is late or was never sent):
    /// recorded so the history is complete.
    OpenedResolved,
    /// The same firing occurrence again: only its last-seen time moves.
    Refreshed,
    /// The occurrence ended.
    Resolved,
    /// It ended, then fired again with the same `startsAt`.
    Refired,
    /// A report that is older than what is recorded: nothing changes.
    Stale,
}

impl OccurrenceChange {
    /// The word for it in the `change` label of `tocsin_core_alerts_processed_total`, the
    /// `alert.change` span attribute and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OccurrenceChange::Opened => "opened",
            OccurrenceChange::OpenedResolved => "opened_resolved",
            OccurrenceChange::Refreshed => "refreshed",
            OccurrenceChange::Resolved => "resolved",
            OccurrenceChange::Refired => "refired",
            OccurrenceChange::Stale => "stale",
        }
    }
}

/// Settles an incoming report against what is stored. `received_at` is when ingest accepted the
/// report, the only time a firing report carries besides `startsAt`.
pub fn merge(
    stored: Option<&StoredOccurrence>,
    incoming: AlertState,
    incoming_ends_at: Option<OffsetDateTime>,
    received_at: OffsetDateTime,
) -> OccurrenceChange {
    let Some(stored) = stored else {
        return match incoming {
            AlertState::Firing => OccurrenceChange::Opened,
            AlertState::Resolved => OccurrenceChange::OpenedResolved,
        };
    };
    match (stored.state, incoming) {
        (AlertState::Firing, AlertState::Firing) => OccurrenceChange::Refreshed,
        (AlertState::Firing, AlertState::Resolved) => match (stored.ends_at, incoming_ends_at) {
            // It fired again after an end we know; a resolution no later than that end is old.
            (Some(previous_end), Some(ended)) if ended <= previous_end => OccurrenceChange::Stale,
            _ => OccurrenceChange::Resolved,
        },
        (AlertState::Resolved, AlertState::Firing) => match stored.ends_at {
            Some(ended) if received_at > ended + REFIRE_MARGIN => OccurrenceChange::Refired,
            _ => OccurrenceChange::Stale,
        },
        (AlertState::Resolved, AlertState::Resolved) => OccurrenceChange::Stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-11-26 20:36:25 UTC);
    const END: OffsetDateTime = datetime!(2026-11-26 20:39:36 UTC);

    fn stored(state: AlertState, ends_at: Option<OffsetDateTime>) -> StoredOccurrence {
        StoredOccurrence { state, ends_at }
    }

    #[test]
    fn first_reports_open_the_occurrence() {
        assert_eq!(merge(None, AlertState::Firing, None, START), OccurrenceChange::Opened);
        assert_eq!(merge(None, AlertState::Resolved, Some(END), END), OccurrenceChange::OpenedResolved);
    }

    #[test]
    fn resends_refresh_and_resolution_resolves() {
        let firing = stored(AlertState::Firing, None);
        assert_eq!(merge(Some(&firing), AlertState::Firing, None, END), OccurrenceChange::Refreshed);
        assert_eq!(merge(Some(&firing), AlertState::Resolved, Some(END), END), OccurrenceChange::Resolved);
    }

    #[test]
    fn a_late_firing_report_cannot_undo_a_resolution() {
        let resolved = stored(AlertState::Resolved, Some(END));
        // Received before the end: it describes the time before the alert resolved.
        let late = END - Duration::seconds(20);
        assert_eq!(merge(Some(&resolved), AlertState::Firing, None, late), OccurrenceChange::Stale);
        // Received just after the end, within the skew margin: still the old state.
        let close = END + Duration::seconds(10);
        assert_eq!(merge(Some(&resolved), AlertState::Firing, None, close), OccurrenceChange::Stale);
    }

    #[test]
    fn firing_well_after_the_end_is_a_refire() {
        let resolved = stored(AlertState::Resolved, Some(END));
        let later = END + Duration::minutes(5);
        assert_eq!(merge(Some(&resolved), AlertState::Firing, None, later), OccurrenceChange::Refired);
    }

    #[test]
    fn a_resolution_older_than_a_refire_is_stale() {
        let refired = stored(AlertState::Firing, Some(END));
        assert_eq!(merge(Some(&refired), AlertState::Resolved, Some(END), END), OccurrenceChange::Stale);
        let later_end = END + Duration::minutes(10);
        assert_eq!(merge(Some(&refired), AlertState::Resolved, Some(later_end), later_end), OccurrenceChange::Resolved);
    }

    #[test]
    fn duplicate_resolutions_change_nothing() {
        let resolved = stored(AlertState::Resolved, Some(END));
        assert_eq!(merge(Some(&resolved), AlertState::Resolved, Some(END), END), OccurrenceChange::Stale);
    }

    #[test]
    fn any_order_of_firing_and_resolved_ends_resolved() {
        // Firing then resolved.
        let after_firing = stored(AlertState::Firing, None);
        assert_eq!(merge(Some(&after_firing), AlertState::Resolved, Some(END), END), OccurrenceChange::Resolved);
        // Resolved then the (older) firing report.
        let after_resolved = stored(AlertState::Resolved, Some(END));
        assert_eq!(
            merge(Some(&after_resolved), AlertState::Firing, None, START + Duration::seconds(5)),
            OccurrenceChange::Stale
        );
    }
}

/// An alert as recorded on an incident, for the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRecord {
    pub fingerprint: String,
    pub state: AlertState,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<OffsetDateTime>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_received_at: OffsetDateTime,
}
