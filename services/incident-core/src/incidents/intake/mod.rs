//! Applying a batch of alert reports with a handful of set-based statements instead of several per
//! alert: the difference between hundreds and tens of thousands of alerts per second.
//!
//! The batch is cut into rounds holding at most one report per occurrence (a firing report and
//! its resolution in the same batch go to consecutive rounds). A round:
//!
//! 1. locks its occurrences (advisory locks, taken in one sorted order by every replica), reads
//!    their stored state in one query, and settles each report with the domain's `merge`;
//! 2. [`refresh`]: reports of occurrences still firing update their alerts;
//! 3. [`firing`]: occurrences that start firing (new ones, and ones firing again after their end)
//!    join the active incident of their key, reopen one resolved within the reopen window, or open
//!    new incidents;
//! 4. [`ended`]: firing occurrences that ended resolve their alerts, and incidents left with
//!    nothing firing resolve by themselves;
//! 5. [`late`]: occurrences first heard of when they had already ended join the incident their key
//!    had at the time, or open an incident recorded as opened and resolved;
//! 6. every change becomes a timeline entry and an outbox event, one statement each.
//!
//! Concurrency: reports of one occurrence are serialised by the advisory locks; "one active
//! incident per correlation key" is the partial unique index `incidents_one_active_per_key`. A lost
//! race surfaces as [`StorageError::Contended`] and the caller runs the batch again.
//!
//! Events written for a round carry the incident as it stands at the end of that round, and the
//! trace context of the report that caused them (an incident resolved by its last alerts: the
//! trace of the last of them).

mod ended;
mod firing;
mod late;
mod refresh;
mod writes;

use super::timeline::{self, Change, StatusChange};
use super::{IntakeOutcome, IntakeSettings, statements};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use tocsin_domain::alert::merge;
use tocsin_domain::{AlertReceived, OccurrenceChange, StoredOccurrence};
use tocsin_storage::StorageError;
use tocsin_storage::rows::{AlertRow, IncidentRow};
use tocsin_storage::schema::alerts;
use uuid::Uuid;

/// What a batch did: one outcome per report, in order, and every status change it caused.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeBatch {
    pub outcomes: Vec<IntakeOutcome>,
    pub transitions: Vec<StatusChange>,
}

/// Applies `reports` in the caller's transaction. `traces[i]`, when there, is the W3C trace context
/// of the span applying `reports[i]`, which the events it causes carry on; `traces` may be shorter
/// (empty when nothing is traced).
pub async fn apply_alerts(
    conn: &mut AsyncPgConnection,
    reports: &[&AlertReceived],
    traces: &[Option<&str>],
    settings: &IntakeSettings,
    now: OffsetDateTime,
) -> Result<IntakeBatch, StorageError> {
    let mut outcomes: Vec<Option<IntakeOutcome>> = vec![None; reports.len()];
    let mut transitions = Vec::new();
    for indices in rounds(reports) {
        let round = Round {
            reports: indices.iter().map(|&i| reports[i]).collect(),
            traces: indices.iter().map(|&i| traces.get(i).copied().flatten()).collect(),
            settings,
            now,
        };
        let (applied, mut changed) = round.apply(conn).await?;
        transitions.append(&mut changed);
        for (index, outcome) in indices.into_iter().zip(applied) {
            outcomes[index] = Some(outcome);
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StorageError::Corrupt("a report was not applied".into())))
        .collect::<Result<_, _>>()?;
    Ok(IntakeBatch { outcomes, transitions })
}

/// Indices of `reports`, split so that no round holds two reports of one occurrence.
fn rounds(reports: &[&AlertReceived]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<(&str, OffsetDateTime), usize> = HashMap::new();
    for (index, report) in reports.iter().enumerate() {
        let count = seen.entry((report.alert.fingerprint.as_str(), stored_time(report.alert.starts_at))).or_insert(0);
        if rounds.len() <= *count {
            rounds.push(Vec::new());
        }
        rounds[*count].push(index);
        *count += 1;
    }
    rounds
}

/// Reports of distinct occurrences, applied together.
struct Round<'a> {
    reports: Vec<&'a AlertReceived>,
    /// The trace context of each report, by position.
    traces: Vec<Option<&'a str>>,
    settings: &'a IntakeSettings,
    now: OffsetDateTime,
}

/// Which step each report of a round goes to, by position in the round.
#[derive(Default)]
struct Settled<'r> {
    refreshed: Vec<(usize, &'r AlertRow)>,
    firing: Vec<firing::Occurrence<'r>>,
    ended: Vec<(usize, &'r AlertRow)>,
    late: Vec<usize>,
}

/// What the steps of a round did, written down together at its end.
struct Effects {
    outcomes: Vec<IntakeOutcome>,
    /// The incidents the round touched, as last returned by the database.
    touched: BTreeMap<Uuid, IncidentRow>,
    changes: Vec<(Uuid, Change)>,
}

impl Effects {
    fn touch(&mut self, row: IncidentRow) {
        self.touched.insert(row.id, row);
    }

    fn change(&mut self, incident_id: Uuid, change: Change) {
        self.changes.push((incident_id, change));
    }
}

impl Round<'_> {
    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(Vec<IntakeOutcome>, Vec<StatusChange>), StorageError> {
        lock_occurrences(conn, &self.reports).await?;
        let stored = stored_occurrences(conn, &self.reports).await?;
        let (settled, outcomes) = self.settle(&stored)?;
        let mut effects = Effects { outcomes, touched: BTreeMap::new(), changes: Vec::new() };

        refresh::apply(conn, self, &settled.refreshed).await?;
        firing::apply(conn, self, &settled.firing, &mut effects).await?;
        ended::apply(conn, self, &settled.ended, &mut effects).await?;
        late::apply(conn, self, &settled.late, &mut effects).await?;

        let Effects { mut outcomes, touched, changes } = effects;
        let (events, transitions) = record_changes(conn, &touched, changes, self.now).await?;
        for outcome in &mut outcomes {
            if let Some(count) = outcome.incident_id.and_then(|id| events.get(&id)) {
                outcome.events = *count;
            }
        }
        Ok((outcomes, transitions))
    }

    /// Settles each report against its stored occurrence and sorts it into its step.
    fn settle<'r>(
        &self,
        stored: &'r HashMap<(String, OffsetDateTime), AlertRow>,
    ) -> Result<(Settled<'r>, Vec<IntakeOutcome>), StorageError> {
        let mut settled = Settled::default();
        let mut outcomes = Vec::with_capacity(self.reports.len());
        for (position, report) in self.reports.iter().enumerate() {
            let alert = &report.alert;
            let row = stored.get(&(alert.fingerprint.clone(), stored_time(alert.starts_at)));
            let occurrence = match row {
                Some(row) => Some(StoredOccurrence { state: row.state()?, ends_at: row.ends_at }),
                None => None,
            };
            let change = merge(occurrence.as_ref(), alert.state, alert.ends_at, report.received_at);
            outcomes.push(IntakeOutcome {
                change,
                incident_id: row.map(|row| row.incident_id),
                opened_incident: false,
                events: 0,
            });
            match (change, row) {
                (OccurrenceChange::Stale, _) => {}
                (OccurrenceChange::Refreshed, Some(row)) => settled.refreshed.push((position, row)),
                (OccurrenceChange::Opened, None) => settled.firing.push(firing::Occurrence { position, refired: None }),
                (OccurrenceChange::Refired, Some(row)) => {
                    settled.firing.push(firing::Occurrence { position, refired: Some(row) })
                }
                (OccurrenceChange::Resolved, Some(row)) => settled.ended.push((position, row)),
                (OccurrenceChange::OpenedResolved, None) => settled.late.push(position),
                (change, row) => {
                    let stored = if row.is_some() { "with" } else { "without" };
                    return Err(StorageError::Corrupt(format!("{change:?} {stored} a stored occurrence")));
                }
            }
        }
        Ok((settled, outcomes))
    }

    fn trace(&self, position: usize) -> Option<&str> {
        self.traces[position]
    }

    /// When the occurrence reported at `position` ended: its own end, else when we heard of it.
    fn ended_at(&self, position: usize) -> OffsetDateTime {
        let report = self.reports[position];
        report.alert.ends_at.unwrap_or(report.received_at)
    }
}

/// `at` as PostgreSQL stores it: whole microseconds. Alertmanager may send nanoseconds; an
/// occurrence is matched, locked and grouped by the stored value.
fn stored_time(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000).unwrap_or(at)
}

/// The advisory-lock key of an occurrence.
fn occurrence_key(fingerprint: &str, starts_at: OffsetDateTime) -> String {
    format!("{fingerprint}@{}", stored_time(starts_at).unix_timestamp_nanos())
}

/// Advisory locks on every occurrence of the round, in one sorted order so that replicas never
/// wait on each other in a cycle.
async fn lock_occurrences(conn: &mut AsyncPgConnection, round: &[&AlertReceived]) -> Result<(), StorageError> {
    let keys: Vec<String> = round.iter().map(|r| occurrence_key(&r.alert.fingerprint, r.alert.starts_at)).collect();
    diesel::sql_query(statements::LOCK_OCCURRENCES).bind::<Array<Text>, _>(keys).execute(conn).await?;
    Ok(())
}

async fn stored_occurrences(
    conn: &mut AsyncPgConnection,
    round: &[&AlertReceived],
) -> Result<HashMap<(String, OffsetDateTime), AlertRow>, StorageError> {
    let fingerprints: Vec<&str> = round.iter().map(|r| r.alert.fingerprint.as_str()).collect();
    let rows: Vec<AlertRow> =
        alerts::table.filter(alerts::fingerprint.eq_any(fingerprints)).select(AlertRow::as_select()).load(conn).await?;
    Ok(rows.into_iter().map(|row| ((row.fingerprint.clone(), row.starts_at), row)).collect())
}

/// Timeline entries and outbox events for the round, one insert each; returns events per incident
/// (an incident put in maintenance has one more) and the status changes.
async fn record_changes(
    conn: &mut AsyncPgConnection,
    touched: &BTreeMap<Uuid, IncidentRow>,
    changes: Vec<(Uuid, Change)>,
    now: OffsetDateTime,
) -> Result<(HashMap<Uuid, usize>, Vec<StatusChange>), StorageError> {
    let mut counts = HashMap::new();
    let mut entries = Vec::with_capacity(changes.len());
    for (incident_id, change) in changes {
        let Some(incident) = touched.get(&incident_id) else {
            return Err(StorageError::Corrupt(format!("change for incident {incident_id} it did not touch")));
        };
        *counts.entry(incident_id).or_insert(0) += 1;
        entries.push((incident, change));
    }
    let recorded = timeline::record_many(conn, entries, now).await?;
    for incident_id in recorded.held {
        *counts.entry(incident_id).or_insert(0) += 1;
    }
    Ok((counts, recorded.transitions))
}

/// What the timeline and the events say about the alert of a report.
fn alert_detail(report: &AlertReceived) -> serde_json::Value {
    let alert = &report.alert;
    serde_json::json!({
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname"),
        "instance": alert.labels.get("instance"),
        "state": alert.state,
        "starts_at": alert.starts_at.unix_timestamp(),
    })
}
