//! Maintenance windows meeting incidents (docs/noise.md): holding an incident that opens inside a
//! window, and releasing it, exactly once, when the window ends.
//!
//! - [`hold_opened`]: the timeline calls it for every change it records, in the change's
//!   transaction. An incident that opens or reopens while windows matching it are active gets them
//!   attached (`incident_maintenance`) and an `in_maintenance` timeline entry. The escalation's
//!   start statement sees the attachment and leaves the new epoch with nothing due, and every event
//!   written about the incident while it is held carries the hold, which the notifier sends nowhere.
//!   Windows are matched when they apply, never again: a window created later, or edited, does not
//!   reach back to incidents already open.
//! - [`release_due`]: the escalation task calls it every tick. It claims an incident one of whose
//!   holds has come to its end (`FOR UPDATE SKIP LOCKED` on the incident's row, which the alert
//!   intake and people's commands also lock, so the incident's status cannot change under it),
//!   marks the due holds released and, when nothing holds the incident any more and it is still
//!   active, writes `maintenance_ended` (the notifier's cue to announce it) and starts its
//!   escalation, all in one transaction. A second replica skips the locked incident or finds the
//!   holds already released; a crash rolls everything back and the holds stay due. An incident that
//!   resolved inside the window is released with nothing written.

use crate::escalation;
use crate::incidents::timeline::{self, Change};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::HashMap;
use time::OffsetDateTime;
use tocsin_domain::maintenance::{Subject, applying};
use tocsin_domain::{EventKind, Incident, IncidentStatus};
use tocsin_storage::StorageError;
use tocsin_storage::maintenance;
use tocsin_storage::rows::IncidentRow;
use tocsin_storage::schema::incidents;
use uuid::Uuid;

/// Who signs the maintenance entries on the timeline.
pub const ACTOR: &str = "tocsin";

/// Attaches the windows active at `now` to the incidents `changes` open or reopen (those still
/// active after the changes, `snapshots` by id) and returns the `in_maintenance` changes to record
/// with them. Reads the windows only when something opened.
pub(crate) async fn hold_opened<'a>(
    conn: &mut AsyncPgConnection,
    changes: &[(&'a IncidentRow, Change)],
    snapshots: &HashMap<Uuid, Incident>,
    now: OffsetDateTime,
) -> Result<Vec<(&'a IncidentRow, Change)>, StorageError> {
    let mut opened: Vec<(&'a IncidentRow, &Incident)> = Vec::new();
    for (row, change) in changes {
        let opens = matches!(change.kind, EventKind::Opened | EventKind::Reopened) && change.status.is_some();
        let Some(incident) = snapshots.get(&row.id) else { continue };
        if opens && incident.status != IncidentStatus::Resolved && !opened.iter().any(|(known, _)| known.id == row.id) {
            opened.push((row, incident));
        }
    }
    if opened.is_empty() {
        return Ok(Vec::new());
    }
    let windows = maintenance::active_at(conn, now).await?;
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let mut held = Vec::new();
    for (row, incident) in opened {
        let subject =
            Subject::new(&incident.source_alert.labels, &incident.service, &incident.environment, &incident.team);
        let mut last: Option<(&tocsin_domain::maintenance::Window, OffsetDateTime)> = None;
        let mut window_ids = Vec::new();
        for (window, occurrence) in applying(&windows, &subject, now) {
            maintenance::attach(conn, row.id, window.id, occurrence, now).await?;
            window_ids.push(window.id);
            if last.is_none_or(|(_, until)| occurrence.ends_at > until) {
                last = Some((window, occurrence.ends_at));
            }
        }
        let Some((window, until)) = last else { continue };
        tracing::info!(
            incident.id = %row.id,
            maintenance.window_id = %window.id,
            "the incident opened in maintenance: nothing is notified or paged until the window ends"
        );
        let detail = json!({
            "window_id": window.id,
            "reason": window.reason,
            "until": until.unix_timestamp(),
            "windows": window_ids,
        });
        held.push((row, Change::new(EventKind::InMaintenance, now, ACTOR, detail)));
    }
    Ok(held)
}

/// What one [`release_due`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleasedSummary {
    /// Incidents claimed, whatever became of them.
    pub claimed: usize,
    /// Incidents notified and escalated now that nothing holds them.
    pub notified: usize,
    /// Incidents that resolved inside their windows: released with nothing sent.
    pub resolved_inside: usize,
    /// Incidents one window released but another, ending later, still holds.
    pub still_held: usize,
}

/// Releases the incidents whose holds are due at `now`, at most `limit`, each in a transaction of
/// its own on `conn`. Tests call it with the instant they choose: it reads no clock.
pub async fn release_due(
    conn: &mut AsyncPgConnection,
    now: OffsetDateTime,
    limit: usize,
) -> Result<ReleasedSummary, StorageError> {
    let mut summary = ReleasedSummary::default();
    while summary.claimed < limit {
        let released = conn.transaction(async |conn| release_one(conn, now).await).await?;
        let Some(released) = released else { break };
        summary.claimed += 1;
        match released {
            Released::Notified => summary.notified += 1,
            Released::ResolvedInside => summary.resolved_inside += 1,
            Released::StillHeld => summary.still_held += 1,
            Released::ByAnother => {}
        }
    }
    Ok(summary)
}

enum Released {
    Notified,
    ResolvedInside,
    StillHeld,
    /// Another replica released the holds between this one's claim and its update.
    ByAnother,
}

async fn release_one(conn: &mut AsyncPgConnection, now: OffsetDateTime) -> Result<Option<Released>, StorageError> {
    let Some(incident_id) = maintenance::claim_due(conn, now).await? else { return Ok(None) };
    let released = maintenance::release(conn, incident_id, now).await?;
    let Some(last) = released.iter().max_by_key(|hold| hold.until) else { return Ok(Some(Released::ByAnother)) };
    if maintenance::still_held(conn, incident_id).await? {
        return Ok(Some(Released::StillHeld));
    }
    let incident = incidents::table.find(incident_id).select(IncidentRow::as_select()).first(conn).await?;
    let status = incident.status()?;
    if status == IncidentStatus::Resolved {
        tracing::info!(incident.id = %incident_id, "the incident resolved in maintenance: nothing is sent");
        return Ok(Some(Released::ResolvedInside));
    }
    let detail = json!({
        "window_id": last.window_id,
        "reason": last.reason,
        "windows": released.iter().map(|hold| hold.window_id).collect::<Vec<_>>(),
    });
    timeline::record(conn, &incident, vec![Change::new(EventKind::MaintenanceEnded, now, ACTOR, detail)], now).await?;
    // Someone who acknowledged it during the window is on it already: nobody is paged.
    if status == IncidentStatus::Open {
        escalation::start(conn, &[incident_id], &[now]).await?;
    }
    tracing::info!(incident.id = %incident_id, "maintenance ended on an active incident: notified and escalated now");
    Ok(Some(Released::Notified))
}
