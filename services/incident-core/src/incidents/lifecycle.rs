//! The lifecycle moves of an incident: people's commands (acknowledge, resolve, reopen, assign,
//! note, edit, and declaring one), applied exactly once per command id, and the resolve and reopen statements the
//! alert rules use too.

use super::timeline::{self, Change, StatusChange};
use crate::escalation;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use time::OffsetDateTime;
use tocsin_domain::incident::Transition;
use tocsin_domain::{
    Action, Command, CommandOutcome, Declaration, Edit, EventKind, IncidentStatus, RejectionCode, Severity,
    declared_key,
};
use tocsin_storage::StorageError;
use tocsin_storage::reads::command_outcome;
use tocsin_storage::rows::IncidentRow;
use tocsin_storage::schema::{command_outcomes, incidents};
use uuid::Uuid;

/// Applies `command` in the caller's transaction, or returns the outcome recorded when it was
/// first applied: a redelivered command changes nothing twice. The status changes it caused come
/// with the outcome (none for a redelivery). The event it causes carries `traceparent`, the trace
/// context of the span applying it.
pub async fn apply_command(
    conn: &mut AsyncPgConnection,
    command: &Command,
    traceparent: Option<&str>,
    now: OffsetDateTime,
) -> Result<(CommandOutcome, Vec<StatusChange>), StorageError> {
    if let Some(outcome) = command_outcome(conn, command.id).await? {
        return Ok((outcome, Vec::new()));
    }
    let (outcome, transitions) = decide(conn, command, traceparent, now).await?;
    let stored = serde_json::to_value(&outcome)
        .map_err(|error| StorageError::Corrupt(format!("outcome does not serialise: {error}")))?;
    // A concurrent replica applying the same command loses here with a unique violation; its
    // retry then finds this outcome.
    diesel::insert_into(command_outcomes::table)
        .values((
            command_outcomes::command_id.eq(command.id),
            command_outcomes::incident_id.eq(command.incident_id),
            command_outcomes::action.eq(command.action.name()),
            command_outcomes::actor.eq(&command.actor),
            command_outcomes::outcome.eq(stored),
            command_outcomes::applied_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok((outcome, transitions))
}

async fn decide(
    conn: &mut AsyncPgConnection,
    command: &Command,
    traceparent: Option<&str>,
    now: OffsetDateTime,
) -> Result<(CommandOutcome, Vec<StatusChange>), StorageError> {
    if let Action::Declare(declaration) = &command.action {
        return declare(conn, command, declaration, traceparent, now).await;
    }
    let Some(incident) = incidents::table
        .find(command.incident_id)
        .select(IncidentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
    else {
        return Ok((rejected(RejectionCode::NotFound, format!("no incident {}", command.incident_id)), Vec::new()));
    };
    let status = incident.status()?;
    let at = command.requested_at;
    let actor = command.actor.as_str();

    let (incident, change) = match &command.action {
        Action::Assign { assignee } => {
            if incident.assignee == *assignee {
                return Ok((CommandOutcome::Applied { incident: Box::new(incident.into_domain()?) }, Vec::new()));
            }
            let updated = diesel::update(incidents::table.find(incident.id))
                .set((
                    incidents::assignee.eq(assignee),
                    incidents::version.eq(incidents::version + 1),
                    incidents::updated_at.eq(now),
                ))
                .returning(IncidentRow::as_returning())
                .get_result(conn)
                .await?;
            let change = Change::new(EventKind::Assigned, at, actor, json!({ "assignee": assignee }));
            (updated, change)
        }
        Action::Note { text } => {
            // A note changes nothing of the incident but its version, so a reader holding an
            // older copy can tell that the timeline moved on.
            let updated = diesel::update(incidents::table.find(incident.id))
                .set((incidents::version.eq(incidents::version + 1), incidents::updated_at.eq(now)))
                .returning(IncidentRow::as_returning())
                .get_result(conn)
                .await?;
            (updated, Change::new(EventKind::NoteAdded, at, actor, json!({ "text": text })))
        }
        Action::Edit { title, severity } => {
            let current_severity = Severity::parse(&incident.severity).ok_or_else(|| {
                StorageError::Corrupt(format!("incident {} has severity `{}`", incident.id, incident.severity))
            })?;
            let edit = Edit::between(&incident.title, current_severity, title.as_deref(), *severity);
            if edit.is_empty() {
                return Ok((CommandOutcome::Applied { incident: Box::new(incident.into_domain()?) }, Vec::new()));
            }
            let new_title = edit.title.as_ref().map_or(incident.title.as_str(), |change| change.to.as_str());
            let new_severity = edit.severity.as_ref().map_or(current_severity, |change| change.to);
            let updated = diesel::update(incidents::table.find(incident.id))
                .set((
                    incidents::title.eq(new_title),
                    incidents::severity.eq(new_severity.as_str()),
                    incidents::version.eq(incidents::version + 1),
                    incidents::updated_at.eq(now),
                ))
                .returning(IncidentRow::as_returning())
                .get_result(conn)
                .await?;
            if status == IncidentStatus::Open && new_severity > current_severity {
                escalation::follow_severity_raise(conn, incident.id, at).await?;
            }
            let detail = serde_json::to_value(&edit)
                .map_err(|error| StorageError::Corrupt(format!("an edit does not serialise: {error}")))?;
            (updated, Change::new(EventKind::Edited, at, actor, detail))
        }
        action => {
            let Some(transition) = action.transition() else {
                return Err(StorageError::Corrupt(format!("action {} is not a transition", action.name())));
            };
            // Only a second acknowledgement asks whether the first ran out (docs/oncall.md,
            // "Acknowledge timeout").
            let expired = transition == Transition::Acknowledge
                && status == IncidentStatus::Acknowledged
                && escalation::acknowledgement_expired(conn, incident.id).await?;
            let applied =
                if expired { transition.apply_after_expired_acknowledgement(status) } else { transition.apply(status) };
            let next = match applied {
                Ok(next) => next,
                Err(error) => return Ok((rejected(RejectionCode::Conflict, error.to_string()), Vec::new())),
            };
            match transition {
                Transition::Acknowledge => {
                    // `acknowledged_at` keeps the first acknowledgement, where MTTA ends;
                    // `acknowledged_by` names whoever holds the incident now.
                    let first_acknowledged_at =
                        incident.acknowledged_at.filter(|_| status == IncidentStatus::Acknowledged).unwrap_or(at);
                    let updated = diesel::update(incidents::table.find(incident.id))
                        .set((
                            incidents::status.eq(next.as_str()),
                            incidents::acknowledged_at.eq(Some(first_acknowledged_at)),
                            incidents::acknowledged_by.eq(Some(actor)),
                            incidents::version.eq(incidents::version + 1),
                            incidents::updated_at.eq(now),
                        ))
                        .returning(IncidentRow::as_returning())
                        .get_result(conn)
                        .await?;
                    (updated, Change::new(EventKind::Acknowledged, at, actor, json!({})).with_status(next))
                }
                Transition::Resolve => {
                    let updated = set_resolved(conn, incident.id, at, actor, now).await?;
                    (updated, Change::new(EventKind::Resolved, at, actor, json!({})).with_status(next))
                }
                Transition::Reopen => {
                    if let Some(active) = active_with_key(conn, &incident.correlation_key).await? {
                        return Ok((
                            rejected(
                                RejectionCode::Conflict,
                                format!(
                                    "incident {active} is already open for the same correlation key; new alerts join it"
                                ),
                            ),
                            Vec::new(),
                        ));
                    }
                    let updated = reopen(conn, incident.id, now).await?;
                    let change =
                        Change::new(EventKind::Reopened, at, actor, json!({})).with_status(IncidentStatus::Open);
                    (updated, change)
                }
            }
        }
    };
    let recorded = timeline::record(conn, &incident, vec![change.traced(traceparent)], now).await?;
    Ok((CommandOutcome::Applied { incident: Box::new(incident.into_domain()?) }, recorded.transitions))
}

/// Opens the incident a person declared: no alerts, a correlation key of its own, and an `opened`
/// entry by the person, which starts its escalation and notifies like any other opening.
async fn declare(
    conn: &mut AsyncPgConnection,
    command: &Command,
    declaration: &Declaration,
    traceparent: Option<&str>,
    now: OffsetDateTime,
) -> Result<(CommandOutcome, Vec<StatusChange>), StorageError> {
    let at = command.requested_at;
    let inserted = diesel::insert_into(incidents::table)
        .values((
            incidents::id.eq(command.incident_id),
            incidents::correlation_key.eq(declared_key(command.incident_id)),
            incidents::title.eq(&declaration.title),
            incidents::service.eq(&declaration.service),
            incidents::environment.eq(&declaration.environment),
            incidents::severity.eq(declaration.severity.as_str()),
            incidents::team.eq(&declaration.team),
            incidents::status.eq(IncidentStatus::Open.as_str()),
            incidents::source_fingerprint.eq(""),
            incidents::source_starts_at.eq(at),
            incidents::source_labels.eq(json!({})),
            incidents::alert_count.eq(0),
            incidents::firing_count.eq(0),
            incidents::opened_at.eq(at),
            incidents::created_at.eq(now),
            incidents::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .returning(IncidentRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    let Some(incident) = inserted else {
        let message = format!("incident {} exists already", command.incident_id);
        return Ok((rejected(RejectionCode::Conflict, message), Vec::new()));
    };
    let detail = json!({ "declared": true, "summary": declaration.summary });
    let change = Change::new(EventKind::Opened, at, &command.actor, detail)
        .with_status(IncidentStatus::Open)
        .traced(traceparent);
    let recorded = timeline::record(conn, &incident, vec![change], now).await?;
    Ok((CommandOutcome::Applied { incident: Box::new(incident.into_domain()?) }, recorded.transitions))
}

async fn active_with_key(conn: &mut AsyncPgConnection, key: &str) -> Result<Option<Uuid>, StorageError> {
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq(tocsin_domain::correlation::digest(key)))
        .filter(incidents::status.ne(IncidentStatus::Resolved.as_str()))
        .select(incidents::id)
        .first(conn)
        .await
        .optional()?)
}

fn rejected(code: RejectionCode, message: String) -> CommandOutcome {
    CommandOutcome::Rejected { code, message }
}

/// Resolves an incident at `at` by `actor`.
pub(super) async fn set_resolved(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    at: OffsetDateTime,
    actor: &str,
    now: OffsetDateTime,
) -> Result<IncidentRow, StorageError> {
    Ok(diesel::update(incidents::table.find(incident_id))
        .set((
            incidents::status.eq(IncidentStatus::Resolved.as_str()),
            incidents::resolved_at.eq(Some(at)),
            incidents::resolved_by.eq(Some(actor)),
            incidents::version.eq(incidents::version + 1),
            incidents::updated_at.eq(now),
        ))
        .returning(IncidentRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Opens a resolved incident again.
pub(super) async fn reopen(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    now: OffsetDateTime,
) -> Result<IncidentRow, StorageError> {
    Ok(diesel::update(incidents::table.find(incident_id))
        .set((
            incidents::status.eq(IncidentStatus::Open.as_str()),
            // Open again means unacknowledged again; the earlier acknowledgement stays in the
            // timeline.
            incidents::acknowledged_at.eq(None::<OffsetDateTime>),
            incidents::acknowledged_by.eq(None::<String>),
            incidents::resolved_at.eq(None::<OffsetDateTime>),
            incidents::resolved_by.eq(None::<String>),
            incidents::version.eq(incidents::version + 1),
            incidents::updated_at.eq(now),
        ))
        .returning(IncidentRow::as_returning())
        .get_result(conn)
        .await?)
}
