//! Firing occurrences that ended: their alerts resolve, their incidents count one fewer firing,
//! and an incident left with nothing firing resolves by itself (when auto-resolve is on), at the
//! time its last alert ended by the alerts' own clocks, not when we heard of it.

use super::{Effects, Round, alert_detail};
use crate::incidents::timeline::Change;
use diesel::sql_types::{Array, Int4, Int8, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use tocsin_domain::timeline::{ALERTMANAGER_ACTOR, SYSTEM_ACTOR};
use tocsin_domain::{EventKind, IncidentStatus};
use tocsin_storage::StorageError;
use tocsin_storage::rows::{AlertRow, IncidentRow};
use uuid::Uuid;

pub(super) async fn apply(
    conn: &mut AsyncPgConnection,
    round: &Round<'_>,
    ended: &[(usize, &AlertRow)],
    effects: &mut Effects,
) -> Result<(), StorageError> {
    if ended.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ended.iter().map(|(_, row)| row.id).collect();
    let ends: Vec<OffsetDateTime> = ended.iter().map(|(p, _)| round.ended_at(*p)).collect();
    diesel::sql_query(
        "UPDATE alerts AS a SET state = 'resolved', ends_at = d.ends_at, last_received_at = $3 \
         FROM unnest($1::bigint[], $2::timestamptz[]) AS d(id, ends_at) WHERE a.id = d.id",
    )
    .bind::<Array<Int8>, _>(ids)
    .bind::<Array<Timestamptz>, _>(ends)
    .bind::<Timestamptz, _>(round.now)
    .execute(conn)
    .await?;

    let mut gone_per_incident: BTreeMap<Uuid, i32> = BTreeMap::new();
    // An incident resolved by itself is resolved by the last of its alerts to end here.
    let mut last_trace: HashMap<Uuid, &str> = HashMap::new();
    for (position, row) in ended {
        *gone_per_incident.entry(row.incident_id).or_insert(0) += 1;
        if let Some(trace) = round.trace(*position) {
            last_trace.insert(row.incident_id, trace);
        }
        effects.change(
            row.incident_id,
            Change::new(
                EventKind::AlertResolved,
                round.ended_at(*position),
                ALERTMANAGER_ACTOR,
                json!({ "alert": alert_detail(round.reports[*position]) }),
            )
            .traced(round.trace(*position)),
        );
        effects.outcomes[*position].incident_id = Some(row.incident_id);
    }
    let ids: Vec<Uuid> = gone_per_incident.keys().copied().collect();
    let gone: Vec<i32> = gone_per_incident.values().copied().collect();
    let updated: Vec<IncidentRow> = diesel::sql_query(
        "UPDATE incidents AS i SET firing_count = GREATEST(i.firing_count - d.gone, 0), \
         version = i.version + 1, updated_at = $3 \
         FROM unnest($1::uuid[], $2::int4[]) AS d(id, gone) WHERE i.id = d.id RETURNING i.*",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Int4>, _>(gone)
    .bind::<Timestamptz, _>(round.now)
    .load(conn)
    .await?;

    let mut quiet = Vec::new();
    for row in updated {
        if round.settings.auto_resolve && row.firing_count == 0 && row.status()?.is_active() {
            quiet.push(row.id);
        }
        effects.touch(row);
    }
    if quiet.is_empty() {
        return Ok(());
    }
    let resolved: Vec<IncidentRow> = diesel::sql_query(
        "UPDATE incidents AS i SET status = 'resolved', resolved_at = GREATEST(last.ended, i.opened_at), \
         resolved_by = $2, version = i.version + 1, updated_at = $3 \
         FROM (SELECT incident_id, max(ends_at) AS ended FROM alerts WHERE incident_id = ANY($1) \
               GROUP BY incident_id) AS last \
         WHERE i.id = last.incident_id RETURNING i.*",
    )
    .bind::<Array<SqlUuid>, _>(quiet)
    .bind::<Text, _>(SYSTEM_ACTOR)
    .bind::<Timestamptz, _>(round.now)
    .load(conn)
    .await?;
    for row in resolved {
        let at = row.resolved_at.unwrap_or(round.now);
        effects.change(
            row.id,
            Change::new(
                EventKind::Resolved,
                at,
                SYSTEM_ACTOR,
                json!({ "reason": "every alert of the incident resolved" }),
            )
            .with_status(IncidentStatus::Resolved)
            .traced(last_trace.get(&row.id).copied()),
        );
        effects.touch(row);
    }
    Ok(())
}
