//! What a change of an incident's status does to its escalation, in the transaction that makes
//! the change: `timeline::record_many`, which every status change goes through, calls
//! [`follow_status_changes`] after writing the timeline.

use super::statements;
use crate::incidents::timeline::Change;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use time::OffsetDateTime;
use tocsin_domain::EventKind;
use tocsin_storage::StorageError;
use tocsin_storage::rows::IncidentRow;
use uuid::Uuid;

/// Starts, stops or ends the escalations of the incidents whose status `changes` changed: one
/// statement per kind of change present, none at all when no status changed (alerts joining an
/// incident, the hot path, cost nothing). When one batch changes an incident's status twice (a
/// late alert opens and resolves it), the last change decides.
pub(crate) async fn follow_status_changes(
    conn: &mut AsyncPgConnection,
    changes: &[(&IncidentRow, Change)],
) -> Result<(), StorageError> {
    let mut last: HashMap<Uuid, (Effect, OffsetDateTime)> = HashMap::new();
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
    }
    if last.is_empty() {
        return Ok(());
    }
    for effect in [Effect::Start, Effect::Acknowledge, Effect::End] {
        let (ids, ats): (Vec<Uuid>, Vec<OffsetDateTime>) =
            last.iter().filter(|(_, (kind, _))| *kind == effect).map(|(id, (_, at))| (*id, *at)).unzip();
        if ids.is_empty() {
            continue;
        }
        let sql = match effect {
            Effect::Start => statements::START,
            Effect::Acknowledge => statements::ACKNOWLEDGE,
            Effect::End => statements::END,
        };
        diesel::sql_query(sql).bind::<Array<SqlUuid>, _>(ids).bind::<Array<Timestamptz>, _>(ats).execute(conn).await?;
    }
    Ok(())
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
