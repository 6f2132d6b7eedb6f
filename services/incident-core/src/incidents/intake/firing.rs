//! Occurrences that start firing: new ones, and ones firing again after they had ended (the same
//! fingerprint and start, resolved earlier). Grouped by correlation key, each group joins the
//! active incident of its key, reopens one resolved within the reopen window, or opens a new
//! incident, the oldest alert of the group opening it.

use super::writes::{self, Counts, NewAlerts, NewIncident};
use super::{Effects, Round, alert_detail};
use crate::incidents::lifecycle;
use crate::incidents::timeline::Change;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int8, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use tocsin_domain::timeline::{ALERTMANAGER_ACTOR, SYSTEM_ACTOR};
use tocsin_domain::{EventKind, IncidentFacts, IncidentStatus, correlation};
use tocsin_storage::StorageError;
use tocsin_storage::rows::AlertRow;
use tocsin_storage::schema::incidents;
use uuid::Uuid;

/// A report that makes its occurrence fire.
pub(super) struct Occurrence<'r> {
    pub position: usize,
    /// The stored alert of an occurrence firing again after its end; `None` for a new one.
    pub refired: Option<&'r AlertRow>,
}

/// The occurrences of one correlation key, oldest first, with the facts of each.
type Group<'o, 'r> = Vec<(&'o Occurrence<'r>, IncidentFacts)>;

pub(super) async fn apply(
    conn: &mut AsyncPgConnection,
    round: &Round<'_>,
    firing: &[Occurrence<'_>],
    effects: &mut Effects,
) -> Result<(), StorageError> {
    if firing.is_empty() {
        return Ok(());
    }
    let settings = round.settings;
    let mut by_key: BTreeMap<String, Group<'_, '_>> = BTreeMap::new();
    for occurrence in firing {
        let alert = &round.reports[occurrence.position].alert;
        let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &settings.teams);
        let key = settings.correlation.key(&facts, &alert.labels).as_str().to_owned();
        by_key.entry(key).or_default().push((occurrence, facts));
    }
    for group in by_key.values_mut() {
        group.sort_by(|(a, _), (b, _)| {
            let (a, b) = (&round.reports[a.position].alert, &round.reports[b.position].alert);
            (a.starts_at, &a.fingerprint).cmp(&(b.starts_at, &b.fingerprint))
        });
    }
    let first = |key: &str| {
        by_key.get(key).and_then(|group| group.as_slice().first()).map(|(occurrence, _)| occurrence.position)
    };

    let mut incident_of = writes::active_incidents(conn, by_key.keys().map(String::as_str)).await?;
    reopen_recently_resolved(conn, round, &by_key, &mut incident_of, effects).await?;

    // Keys left without an incident open one with all their alerts counted: its row as it stands
    // after this step comes back from the insert.
    let to_open: Vec<NewIncident<'_>> = by_key
        .iter()
        .filter(|(key, _)| !incident_of.contains_key(*key))
        .filter_map(|(key, group)| {
            let (occurrence, facts) = group.as_slice().first()?;
            let alerts = i32::try_from(group.len()).ok()?;
            Some(NewIncident { key, facts, first: round.reports[occurrence.position], alerts, firing: alerts })
        })
        .collect();
    let mut opened_by: HashMap<Uuid, usize> = HashMap::new();
    for row in writes::open_incidents(conn, &to_open, round.now).await? {
        if let Some(position) = first(&row.correlation_key) {
            opened_by.insert(row.id, position);
        }
        incident_of.insert(row.correlation_key.clone(), row.id);
        effects.touch(row);
    }

    // The alerts, and the counts of the incidents they joined.
    let mut new_alerts = NewAlerts::with_capacity(firing.len());
    let mut refired = Refired::default();
    let mut counts: BTreeMap<Uuid, Counts> = BTreeMap::new();
    for (key, group) in &by_key {
        let Some(&incident_id) = incident_of.get(key) else { continue };
        for (occurrence, _) in group {
            let position = occurrence.position;
            let report = round.reports[position];
            let alert = &report.alert;
            // A re-fired occurrence that stays on its incident is counted there once, not again.
            let added = match occurrence.refired {
                Some(row) => {
                    refired.push(row.id, incident_id, report.received_at);
                    i32::from(row.incident_id != incident_id)
                }
                None => {
                    new_alerts.push(incident_id, report);
                    1
                }
            };
            if !opened_by.contains_key(&incident_id) {
                counts.entry(incident_id).or_insert_with(|| Counts::new(alert.starts_at)).gained(
                    alert.starts_at,
                    added,
                    1,
                );
            }

            let outcome = &mut effects.outcomes[position];
            outcome.incident_id = Some(incident_id);
            outcome.opened_incident = opened_by.get(&incident_id) == Some(&position);
            let detail = json!({ "alert": alert_detail(report) });
            let change = if outcome.opened_incident {
                Change::new(EventKind::Opened, alert.starts_at, ALERTMANAGER_ACTOR, detail)
                    .with_status(IncidentStatus::Open)
            } else {
                Change::new(EventKind::AlertAdded, alert.starts_at, ALERTMANAGER_ACTOR, detail)
            };
            effects.change(incident_id, change.traced(round.trace(position)));
        }
    }
    new_alerts.insert(conn, round.now).await?;
    refired.update(conn, round.now).await?;
    for row in writes::move_counts(conn, &counts, round.now).await? {
        effects.touch(row);
    }
    Ok(())
}

/// Keys with no active incident reopen the one they had if it resolved within the reopen window
/// before their oldest alert started.
async fn reopen_recently_resolved(
    conn: &mut AsyncPgConnection,
    round: &Round<'_>,
    by_key: &BTreeMap<String, Group<'_, '_>>,
    incident_of: &mut HashMap<String, Uuid>,
    effects: &mut Effects,
) -> Result<(), StorageError> {
    let window = round.settings.reopen_window;
    let missing: Vec<(&String, usize)> = by_key
        .iter()
        .filter(|(key, _)| !incident_of.contains_key(*key))
        .filter_map(|(key, group)| Some((key, group.as_slice().first()?.0.position)))
        .collect();
    if missing.is_empty() || window <= time::Duration::ZERO {
        return Ok(());
    }
    let earliest = missing.iter().map(|(_, first)| round.reports[*first].alert.starts_at).min().unwrap_or(round.now);
    let candidates: Vec<(Uuid, String, Option<OffsetDateTime>)> = incidents::table
        .filter(incidents::correlation_digest.eq_any(missing.iter().map(|(key, _)| correlation::digest(key))))
        .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
        .filter(incidents::resolved_at.gt(earliest - window))
        .order((incidents::correlation_digest, incidents::resolved_at.desc()))
        .select((incidents::id, incidents::correlation_key, incidents::resolved_at))
        .load(conn)
        .await?;
    for (key, first) in missing {
        let report = round.reports[first];
        let starts_at = report.alert.starts_at;
        let candidate = candidates
            .iter()
            .find(|(_, k, resolved_at)| k == key && resolved_at.is_some_and(|at| at > starts_at - window));
        let Some((id, _, _)) = candidate else { continue };
        let row = lifecycle::reopen(conn, *id, round.now).await?;
        effects.change(
            row.id,
            Change::new(
                EventKind::Reopened,
                starts_at,
                SYSTEM_ACTOR,
                json!({ "reason": "an alert fired again within the reopen window", "alert": alert_detail(report) }),
            )
            .with_status(IncidentStatus::Open)
            .traced(round.trace(first)),
        );
        incident_of.insert(key.clone(), row.id);
        effects.touch(row);
    }
    Ok(())
}

/// Stored alerts firing again, moved to their incident, in one statement.
#[derive(Default)]
struct Refired {
    ids: Vec<i64>,
    incident_ids: Vec<Uuid>,
    received_at: Vec<OffsetDateTime>,
}

impl Refired {
    fn push(&mut self, alert_id: i64, incident_id: Uuid, received_at: OffsetDateTime) {
        self.ids.push(alert_id);
        self.incident_ids.push(incident_id);
        self.received_at.push(received_at);
    }

    async fn update(self, conn: &mut AsyncPgConnection, now: OffsetDateTime) -> Result<(), StorageError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "UPDATE alerts AS a SET incident_id = d.incident_id, state = 'firing', last_received_at = $4, \
             last_firing_report_at = d.received \
             FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[]) AS d(id, incident_id, received) \
             WHERE a.id = d.id",
        )
        .bind::<Array<Int8>, _>(self.ids)
        .bind::<Array<SqlUuid>, _>(self.incident_ids)
        .bind::<Array<Timestamptz>, _>(self.received_at)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}
