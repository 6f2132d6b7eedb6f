//! What a change of an incident's status does to its escalation, in the transaction that makes
//! the change: `timeline::record_many`, which every status change goes through, calls
//! [`follow_status_changes`] after writing the timeline.

use super::statements;
use super::task::AcknowledgedStep;
use crate::incidents::timeline::Change;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use time::OffsetDateTime;
use tocsin_domain::EventKind;
use tocsin_storage::StorageError;
use tocsin_storage::rows::IncidentRow;
use uuid::Uuid;

/// Starts, stops or ends the escalations of the incidents whose status `changes` changed: one
/// statement per kind of change present (acknowledgements two more, to read the step they stop),
/// none at all when no status changed (alerts joining an incident, the hot path, cost nothing). When one batch changes an incident's status twice (a
/// late alert opens and resolves it), the last change decides.
///
/// Returns, by incident, the step each acknowledgement stopped when its escalation had fired one,
/// for the caller to observe once the transaction commits.
pub(crate) async fn follow_status_changes(
    conn: &mut AsyncPgConnection,
    changes: &[(&IncidentRow, Change)],
) -> Result<HashMap<Uuid, AcknowledgedStep>, StorageError> {
    let mut last: HashMap<Uuid, (Effect, OffsetDateTime)> = HashMap::new();
    let mut actors: HashMap<Uuid, &str> = HashMap::new();
    for (incident, change) in changes {
        if change.status.is_none() {
            continue;
        }
        let effect = match change.kind {
            EventKind::Opened | EventKind::Reopened => Effect::Start,
            EventKind::Acknowledged => Effect::Acknowledge,
            EventKind::Resolved => Effect::End,
            _ => continue,
        };
        last.insert(incident.id, (effect, change.at));
        actors.insert(incident.id, &change.actor);
    }
    if last.is_empty() {
        return Ok(HashMap::new());
    }
    let mut acknowledged = HashMap::new();
    for effect in [Effect::Start, Effect::Acknowledge, Effect::End] {
        let (ids, ats): (Vec<Uuid>, Vec<OffsetDateTime>) =
            last.iter().filter(|(_, (kind, _))| *kind == effect).map(|(id, (_, at))| (*id, *at)).unzip();
        if ids.is_empty() {
            continue;
        }
        if effect == Effect::Acknowledge {
            for (incident, step, started_at, team) in acknowledged_steps(conn, &ids).await? {
                let (Some(&(_, at)), Some(&actor)) = (last.get(&incident), actors.get(&incident)) else { continue };
                acknowledged.insert(
                    incident,
                    AcknowledgedStep {
                        team,
                        step,
                        responder: actor.to_owned(),
                        seconds: (at - started_at).as_seconds_f64().max(0.0),
                    },
                );
            }
        }
        let sql = match effect {
            Effect::Start => statements::START,
            Effect::Acknowledge => statements::ACKNOWLEDGE,
            Effect::End => statements::END,
        };
        diesel::sql_query(sql).bind::<Array<SqlUuid>, _>(ids).bind::<Array<Timestamptz>, _>(ats).execute(conn).await?;
    }
    Ok(acknowledged)
}

/// Starts a new epoch of the escalations of `incidents`, each at its time in `ats`, as an open
/// does: what the release of a maintenance hold does for an incident still open.
pub(crate) async fn start(
    conn: &mut AsyncPgConnection,
    incidents: &[Uuid],
    ats: &[OffsetDateTime],
) -> Result<(), StorageError> {
    diesel::sql_query(statements::START)
        .bind::<Array<SqlUuid>, _>(incidents)
        .bind::<Array<Timestamptz>, _>(ats)
        .execute(conn)
        .await?;
    Ok(())
}

/// For the escalations of `incidents` that fired a step in their epoch: the incident, the last
/// step fired, when the epoch started and the slug of the policy's team. Locks the escalations
/// first, so a step the engine is firing at this moment counts (see [`statements::LOCK_ACKNOWLEDGED`]).
async fn acknowledged_steps(
    conn: &mut AsyncPgConnection,
    incidents: &[Uuid],
) -> Result<Vec<(Uuid, u32, OffsetDateTime, String)>, StorageError> {
    #[derive(QueryableByName)]
    struct Locked {
        #[allow(dead_code, reason = "only locked")]
        #[diesel(sql_type = SqlUuid)]
        incident_id: Uuid,
    }
    #[derive(QueryableByName)]
    struct Reached {
        #[diesel(sql_type = SqlUuid)]
        incident_id: Uuid,
        #[diesel(sql_type = Timestamptz)]
        started_at: OffsetDateTime,
        #[diesel(sql_type = Text)]
        team: String,
        #[diesel(sql_type = Integer)]
        step: i32,
    }
    diesel::sql_query(statements::LOCK_ACKNOWLEDGED).bind::<Array<SqlUuid>, _>(incidents).load::<Locked>(conn).await?;
    let reached: Vec<Reached> =
        diesel::sql_query(statements::ACKNOWLEDGED_STEPS).bind::<Array<SqlUuid>, _>(incidents).load(conn).await?;
    Ok(reached
        .into_iter()
        .map(|row| (row.incident_id, u32::try_from(row.step).unwrap_or(0), row.started_at, row.team))
        .collect())
}

/// Whether `incident`, acknowledged, is paging people again because its acknowledgement ran out
/// (the policy's acknowledge timeout): then acknowledging it once more is how one of them takes
/// it back, and starts the timeout anew (docs/oncall.md, "Acknowledge timeout").
pub(crate) async fn acknowledgement_expired(
    conn: &mut AsyncPgConnection,
    incident: Uuid,
) -> Result<bool, StorageError> {
    #[derive(QueryableByName)]
    struct Expired {
        #[diesel(sql_type = Bool)]
        expired: bool,
    }
    let row: Expired =
        diesel::sql_query(statements::ACKNOWLEDGEMENT_EXPIRED).bind::<SqlUuid, _>(incident).get_result(conn).await?;
    Ok(row.expired)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Opened or reopened: escalate from the first step.
    Start,
    /// Acknowledged: stop, until the acknowledge timeout if the policy has one.
    Acknowledge,
    /// Resolved: nothing more.
    End,
}

/// After a person raised the severity of an open incident: an escalation decided at the old
/// severity that has paged nobody yet is decided again (see [`statements::RAISED`]).
pub(crate) async fn follow_severity_raise(
    conn: &mut AsyncPgConnection,
    incident: Uuid,
    at: OffsetDateTime,
) -> Result<(), StorageError> {
    diesel::sql_query(statements::RAISED).bind::<SqlUuid, _>(incident).bind::<Timestamptz, _>(at).execute(conn).await?;
    Ok(())
}
