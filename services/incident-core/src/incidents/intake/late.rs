//! Occurrences first heard of when they had already ended (Alertmanager's first word on them was
//! their resolution: tocsin was down while they fired, or they fired and ended between two group
//! intervals). Each belongs with the incident its key had at the time: the active one, else a
//! resolved one whose span overlaps the alert's (give or take the reopen window), else a new
//! incident recorded as it happened, opened and resolved by the alert's own times.
//!
//! Rare, and each report may find the incident the one before it opened, so they are applied one
//! after the other, with the statements the other steps use.

use super::writes::{self, Counts, NewAlerts, NewIncident};
use super::{Effects, Round, alert_detail};
use crate::incidents::lifecycle;
use crate::incidents::timeline::Change;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};
use tocsin_domain::timeline::{ALERTMANAGER_ACTOR, SYSTEM_ACTOR};
use tocsin_domain::{EventKind, IncidentFacts, IncidentStatus, correlation};
use tocsin_storage::StorageError;
use tocsin_storage::rows::IncidentRow;
use tocsin_storage::schema::incidents;
use uuid::Uuid;

/// Where a late occurrence goes.
enum Home {
    Active(Uuid),
    Resolved(Uuid),
    Opened(Uuid),
}

pub(super) async fn apply(
    conn: &mut AsyncPgConnection,
    round: &Round<'_>,
    late: &[usize],
    effects: &mut Effects,
) -> Result<(), StorageError> {
    let settings = round.settings;
    for &position in late {
        let report = round.reports[position];
        let alert = &report.alert;
        let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &settings.teams);
        let key = settings.correlation.key(&facts, &alert.labels);
        let ended = round.ended_at(position);

        let home = match writes::active_incidents(conn, std::iter::once(key.as_str())).await?.into_values().next() {
            Some(id) => Home::Active(id),
            None => match overlapping_resolved(conn, key.as_str(), alert.starts_at, ended, settings.reopen_window)
                .await?
            {
                Some(id) => Home::Resolved(id),
                None => {
                    // Opened with its one alert counted, not firing; resolved below.
                    let new = [NewIncident { key: key.as_str(), facts: &facts, first: report, alerts: 1, firing: 0 }];
                    match writes::open_incidents(conn, &new, round.now).await?.as_slice().first() {
                        Some(row) => Home::Opened(row.id),
                        None => return Err(StorageError::Corrupt("an incident was opened and not returned".into())),
                    }
                }
            },
        };
        let incident_id = match home {
            Home::Active(id) | Home::Resolved(id) | Home::Opened(id) => id,
        };
        let mut alert_row = NewAlerts::with_capacity(1);
        alert_row.push(incident_id, report);
        alert_row.insert(conn, round.now).await?;
        let detail = json!({ "alert": alert_detail(report) });
        let trace = round.trace(position);
        let incident = match home {
            Home::Opened(_) => {
                let incident = lifecycle::set_resolved(conn, incident_id, ended, ALERTMANAGER_ACTOR, round.now).await?;
                effects.change(
                    incident_id,
                    Change::new(EventKind::Opened, alert.starts_at, ALERTMANAGER_ACTOR, detail)
                        .with_status(IncidentStatus::Open)
                        .traced(trace),
                );
                effects.change(
                    incident_id,
                    Change::new(
                        EventKind::Resolved,
                        ended,
                        ALERTMANAGER_ACTOR,
                        json!({ "reason": "its only alert resolved" }),
                    )
                    .with_status(IncidentStatus::Resolved)
                    .traced(trace),
                );
                incident
            }
            Home::Active(_) | Home::Resolved(_) => {
                let mut counts = Counts::new(alert.starts_at);
                counts.gained(alert.starts_at, 1, 0);
                let moved = writes::move_counts(conn, &BTreeMap::from([(incident_id, counts)]), round.now).await?;
                let Some(mut incident) = moved.into_iter().next() else {
                    return Err(StorageError::Corrupt(format!(
                        "incident {incident_id} vanished while an alert joined it"
                    )));
                };
                if matches!(home, Home::Resolved(_)) {
                    incident = extend_automatic_resolution(conn, incident, ended).await?;
                }
                effects.change(
                    incident_id,
                    Change::new(EventKind::AlertAdded, ended, ALERTMANAGER_ACTOR, detail).traced(trace),
                );
                incident
            }
        };
        effects.outcomes[position].incident_id = Some(incident_id);
        effects.outcomes[position].opened_incident = matches!(home, Home::Opened(_));
        effects.touch(incident);
    }
    Ok(())
}

/// The resolved incident of `key` whose time span overlaps the alert's (`starts_at` to `ended`),
/// give or take `slack`.
async fn overlapping_resolved(
    conn: &mut AsyncPgConnection,
    key: &str,
    starts_at: OffsetDateTime,
    ended: OffsetDateTime,
    slack: Duration,
) -> Result<Option<Uuid>, StorageError> {
    let slack = slack.max(Duration::ZERO);
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq(correlation::digest(key)))
        .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
        .filter(incidents::opened_at.le(ended + slack))
        .filter(incidents::resolved_at.ge(starts_at - slack))
        .order(incidents::resolved_at.desc())
        .select(incidents::id)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// A resolved alert joining an incident that resolved by itself moves the resolution to the
/// alert's end if that is later. A person's resolution stays as they made it.
async fn extend_automatic_resolution(
    conn: &mut AsyncPgConnection,
    incident: IncidentRow,
    ended: OffsetDateTime,
) -> Result<IncidentRow, StorageError> {
    let automatic = matches!(incident.resolved_by.as_deref(), Some(SYSTEM_ACTOR | ALERTMANAGER_ACTOR));
    match incident.resolved_at {
        Some(resolved_at) if automatic && ended > resolved_at => Ok(diesel::update(incidents::table.find(incident.id))
            .set(incidents::resolved_at.eq(Some(ended)))
            .returning(IncidentRow::as_returning())
            .get_result(conn)
            .await?),
        _ => Ok(incident),
    }
}
