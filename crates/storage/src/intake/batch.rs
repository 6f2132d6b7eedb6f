//! Applying a whole batch of alert reports with a handful of set-based statements instead of
//! several per alert: the difference between hundreds and tens of thousands of alerts per second.
//!
//! The batch is cut into rounds holding at most one report per occurrence (a firing report and
//! its resolution in the same batch go to consecutive rounds). Within a round:
//!
//! 1. the occurrences are locked (advisory locks, taken in one sorted order by every replica) and
//!    their stored state read in one query; each report is settled with the domain's `merge`;
//! 2. refreshes update their alerts in one statement;
//! 3. new firing occurrences join the active incident of their key (locked in one query), reopen a
//!    recently resolved one, or open new incidents (one multi-row insert arbitrated by the partial
//!    unique index); their alerts are inserted and the incidents' counts moved in one statement
//!    each;
//! 4. resolutions update their alerts and their incidents' counts in one statement each, then
//!    auto-resolve the incidents left with nothing firing;
//! 5. the rarer cases (an occurrence first reported resolved, one firing again after its end) go
//!    through the one-alert path, [`super::record_alert`];
//! 6. every change becomes a timeline entry and an outbox event, inserted in one statement each.
//!
//! Events written for a round carry the incident as it stands at the end of that round, and the
//! trace context of the report that caused them (an incident resolved by its last alerts: the
//! trace of the last of them).

use super::{
    IntakeOutcome, IntakeSettings, StatusChange, alert_detail, occurrence_key, record_alert, reopen, stored_time,
};
use crate::StorageError;
use crate::changes::{self, Change};
use crate::rows::{AlertRow, IncidentRow, JsonbMap, json_map};
use crate::schema::{alerts, incidents};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Int8, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use tocsin_domain::alert::merge;
use tocsin_domain::timeline::{ALERTMANAGER_ACTOR, SYSTEM_ACTOR};
use tocsin_domain::{
    AlertReceived, EventKind, IncidentFacts, IncidentStatus, OccurrenceChange, StoredOccurrence, correlation,
};
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
pub async fn record_alerts(
    conn: &mut AsyncPgConnection,
    reports: &[&AlertReceived],
    traces: &[Option<&str>],
    settings: &IntakeSettings,
    now: OffsetDateTime,
) -> Result<IntakeBatch, StorageError> {
    let mut outcomes: Vec<Option<IntakeOutcome>> = vec![None; reports.len()];
    let mut transitions = Vec::new();
    for round in rounds(reports) {
        let (applied, mut changed) = apply_round(conn, reports, traces, &round, settings, now).await?;
        transitions.append(&mut changed);
        for (index, mut outcome) in round.into_iter().zip(applied) {
            transitions.append(&mut outcome.transitions);
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

/// The incidents touched by the round, as last returned by the database.
type Touched = BTreeMap<Uuid, IncidentRow>;

async fn apply_round(
    conn: &mut AsyncPgConnection,
    reports: &[&AlertReceived],
    traces: &[Option<&str>],
    round: &[usize],
    settings: &IntakeSettings,
    now: OffsetDateTime,
) -> Result<(Vec<IntakeOutcome>, Vec<StatusChange>), StorageError> {
    let traces: Vec<Option<&str>> = round.iter().map(|&i| traces.get(i).copied().flatten()).collect();
    let round: Vec<&AlertReceived> = round.iter().map(|&i| reports[i]).collect();
    lock_occurrences(conn, &round).await?;
    let stored = stored_occurrences(conn, &round).await?;

    let mut outcomes = Vec::with_capacity(round.len());
    let mut refreshed = Vec::new();
    let mut opened = Vec::new();
    let mut resolved = Vec::new();
    let mut one_by_one = Vec::new();
    for (position, report) in round.iter().enumerate() {
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
            transitions: Vec::new(),
        });
        match (change, row) {
            (OccurrenceChange::Refreshed, Some(row)) => refreshed.push((position, row)),
            (OccurrenceChange::Opened, _) => opened.push(position),
            (OccurrenceChange::Resolved, Some(row)) => resolved.push((position, row)),
            (OccurrenceChange::Stale, _) => {}
            _ => one_by_one.push(position),
        }
    }

    let mut touched = Touched::new();
    let mut changes: Vec<(Uuid, Change)> = Vec::new();
    refresh(conn, &round, &refreshed, now).await?;
    open(conn, &round, &traces, &opened, settings, now, &mut outcomes, &mut touched, &mut changes).await?;
    resolve(conn, &round, &traces, &resolved, settings, now, &mut outcomes, &mut touched, &mut changes).await?;
    let (events, transitions) = record_changes(conn, &touched, changes).await?;
    for outcome in &mut outcomes {
        if let Some(count) = outcome.incident_id.and_then(|id| events.get(&id)) {
            outcome.events = *count;
        }
    }
    for position in one_by_one {
        outcomes[position] = record_alert(conn, round[position], traces[position], settings, now).await?;
    }
    Ok((outcomes, transitions))
}

/// Advisory locks on every occurrence of the round, in one sorted order so that replicas never
/// wait on each other in a cycle.
async fn lock_occurrences(conn: &mut AsyncPgConnection, round: &[&AlertReceived]) -> Result<(), StorageError> {
    let keys: Vec<String> = round.iter().map(|r| occurrence_key(&r.alert.fingerprint, r.alert.starts_at)).collect();
    diesel::sql_query(
        "SELECT count(pg_advisory_xact_lock(h)) FROM \
         (SELECT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks",
    )
    .bind::<Array<Text>, _>(keys)
    .execute(conn)
    .await?;
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

async fn refresh(
    conn: &mut AsyncPgConnection,
    round: &[&AlertReceived],
    refreshed: &[(usize, &AlertRow)],
    now: OffsetDateTime,
) -> Result<(), StorageError> {
    if refreshed.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = refreshed.iter().map(|(_, row)| row.id).collect();
    let annotations: Vec<JsonbMap<'_>> =
        refreshed.iter().map(|(p, _)| JsonbMap(&round[*p].alert.annotations)).collect();
    let received: Vec<OffsetDateTime> = refreshed.iter().map(|(p, _)| round[*p].received_at).collect();
    diesel::sql_query(
        "UPDATE alerts AS a SET annotations = d.annotations, last_received_at = $4, \
         last_firing_report_at = GREATEST(a.last_firing_report_at, d.received) \
         FROM unnest($1::bigint[], $2::jsonb[], $3::timestamptz[]) AS d(id, annotations, received) \
         WHERE a.id = d.id",
    )
    .bind::<Array<Int8>, _>(ids)
    .bind::<Array<Jsonb>, _>(annotations)
    .bind::<Array<Timestamptz>, _>(received)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// New firing occurrences: find, reopen or open their incidents, insert the alerts, move the
/// counts.
#[allow(clippy::too_many_arguments)]
async fn open(
    conn: &mut AsyncPgConnection,
    round: &[&AlertReceived],
    traces: &[Option<&str>],
    opened: &[usize],
    settings: &IntakeSettings,
    now: OffsetDateTime,
    outcomes: &mut [IntakeOutcome],
    touched: &mut Touched,
    changes: &mut Vec<(Uuid, Change)>,
) -> Result<(), StorageError> {
    if opened.is_empty() {
        return Ok(());
    }
    // Group by correlation key, oldest alert first so it is the one that opens the incident.
    let mut by_key: BTreeMap<String, Vec<(usize, IncidentFacts)>> = BTreeMap::new();
    for &position in opened {
        let alert = &round[position].alert;
        let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &settings.teams);
        let key = settings.correlation.key(&facts, &alert.labels).as_str().to_owned();
        by_key.entry(key).or_default().push((position, facts));
    }
    for members in by_key.values_mut() {
        members.sort_by_key(|(p, _)| (round[*p].alert.starts_at, round[*p].alert.fingerprint.clone()));
    }
    let keys: Vec<String> = by_key.keys().cloned().collect();
    let digests: Vec<Vec<u8>> = keys.iter().map(|key| correlation::digest(key)).collect();

    // Only the ids of the locked incidents: their rows, as they stand after this round, come back
    // from the update of their counts below. Reading whole rows here too cost PostgreSQL and this
    // process as much again, for every incident of the round.
    let mut incident_of: HashMap<String, Uuid> = incidents::table
        .filter(incidents::correlation_digest.eq_any(&digests))
        .filter(incidents::status.ne(IncidentStatus::Resolved.as_str()))
        .order(incidents::id)
        .select((incidents::correlation_key, incidents::id))
        .for_update()
        .load::<(String, Uuid)>(conn)
        .await?
        .into_iter()
        .collect();

    // Keys with no active incident: reopen one resolved within the window, else open one.
    let missing: Vec<&String> = keys.iter().filter(|k| !incident_of.contains_key(*k)).collect();
    let mut reopened: Vec<String> = Vec::new();
    if !missing.is_empty() && settings.reopen_window > time::Duration::ZERO {
        let earliest = missing
            .iter()
            .filter_map(|k| by_key.get(*k)?.as_slice().first().map(|(p, _)| round[*p].alert.starts_at))
            .min()
            .unwrap_or(now);
        let candidates: Vec<(Uuid, String, Option<OffsetDateTime>)> = incidents::table
            .filter(incidents::correlation_digest.eq_any(missing.iter().map(|key| correlation::digest(key))))
            .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
            .filter(incidents::resolved_at.gt(earliest - settings.reopen_window))
            .order((incidents::correlation_digest, incidents::resolved_at.desc()))
            .select((incidents::id, incidents::correlation_key, incidents::resolved_at))
            .load(conn)
            .await?;
        for key in &missing {
            let Some((first, _)) = by_key.get(*key).and_then(|members| members.as_slice().first()) else { continue };
            let alert = &round[*first].alert;
            let candidate = candidates.iter().find(|(_, k, resolved_at)| {
                k == *key && resolved_at.is_some_and(|at| at > alert.starts_at - settings.reopen_window)
            });
            if let Some((id, _, _)) = candidate {
                let row = reopen(conn, *id, now).await?;
                changes.push((
                    row.id,
                    Change::new(
                        EventKind::Reopened,
                        alert.starts_at,
                        SYSTEM_ACTOR,
                        json!({ "reason": "an alert fired again within the reopen window", "alert": alert_detail(round[*first]) }),
                    )
                    .with_status(IncidentStatus::Open)
                    .traced(traces[*first]),
                ));
                reopened.push((*key).clone());
                incident_of.insert((*key).clone(), row.id);
            }
        }
    }
    let to_open: Vec<&String> = keys.iter().filter(|k| !incident_of.contains_key(*k)).collect();
    let mut opened_by: HashMap<Uuid, usize> = HashMap::new();
    if !to_open.is_empty() {
        let rows: Vec<_> = to_open
            .iter()
            .filter_map(|key| {
                let (position, facts) = by_key.get(*key)?.as_slice().first()?;
                let alert = &round[*position].alert;
                Some((
                    incidents::id.eq(Uuid::now_v7()),
                    incidents::correlation_key.eq((*key).clone()),
                    incidents::title.eq(facts.title.clone()),
                    incidents::service.eq(facts.service.clone()),
                    incidents::environment.eq(facts.environment.clone()),
                    incidents::severity.eq(facts.severity.as_str()),
                    incidents::team.eq(facts.team.clone()),
                    incidents::status.eq(IncidentStatus::Open.as_str()),
                    incidents::runbook_url.eq(facts.runbook_url.clone()),
                    incidents::source_fingerprint.eq(alert.fingerprint.clone()),
                    incidents::source_starts_at.eq(alert.starts_at),
                    incidents::source_labels.eq(json_map(&alert.labels)),
                    incidents::opened_at.eq(alert.starts_at),
                    (incidents::created_at.eq(now), incidents::updated_at.eq(now)),
                ))
            })
            .collect();
        let inserted: Vec<(String, Uuid)> = diesel::insert_into(incidents::table)
            .values(rows)
            .on_conflict(incidents::correlation_digest)
            // A literal, not a bind: see `super::open_incident`.
            .filter_target(diesel::dsl::sql::<diesel::sql_types::Bool>("status <> 'resolved'"))
            .do_nothing()
            .returning((incidents::correlation_key, incidents::id))
            .get_results(conn)
            .await?;
        if inserted.len() != to_open.len() {
            // Another replica opened one of these keys since we looked: run the batch again.
            return Err(StorageError::Contended("incidents opened concurrently".into()));
        }
        for (key, id) in inserted {
            if let Some((position, _)) = by_key.get(&key).and_then(|m| m.as_slice().first()) {
                opened_by.insert(id, *position);
            }
            incident_of.insert(key, id);
        }
    }

    // The alerts, and the counts of their incidents.
    let mut alert_rows = NewAlerts::with_capacity(opened.len());
    let mut per_incident: BTreeMap<Uuid, (i32, OffsetDateTime)> = BTreeMap::new();
    for (key, members) in &by_key {
        let Some(&incident_id) = incident_of.get(key) else { continue };
        for (position, _) in members {
            let report = round[*position];
            let alert = &report.alert;
            alert_rows.push(incident_id, report);
            let entry = per_incident.entry(incident_id).or_insert((0, alert.starts_at));
            entry.0 += 1;
            entry.1 = entry.1.min(alert.starts_at);
            outcomes[*position].incident_id = Some(incident_id);
            let opened_it = opened_by.get(&incident_id) == Some(position);
            outcomes[*position].opened_incident = opened_it;
            let detail = json!({ "alert": alert_detail(report) });
            let change = if opened_it {
                Change::new(EventKind::Opened, alert.starts_at, ALERTMANAGER_ACTOR, detail)
                    .with_status(IncidentStatus::Open)
            } else {
                Change::new(EventKind::AlertAdded, alert.starts_at, ALERTMANAGER_ACTOR, detail)
            };
            changes.push((incident_id, change.traced(traces[*position])));
        }
    }
    alert_rows.insert(conn, now).await?;

    let ids: Vec<Uuid> = per_incident.keys().copied().collect();
    let added: Vec<i32> = per_incident.values().map(|(n, _)| *n).collect();
    let earliest: Vec<OffsetDateTime> = per_incident.values().map(|(_, at)| *at).collect();
    let updated: Vec<IncidentRow> = diesel::sql_query(
        "UPDATE incidents AS i SET alert_count = i.alert_count + d.added, \
         firing_count = i.firing_count + d.added, opened_at = LEAST(i.opened_at, d.earliest), \
         version = i.version + 1, updated_at = $4 \
         FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[]) AS d(id, added, earliest) \
         WHERE i.id = d.id RETURNING i.*",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Int4>, _>(added)
    .bind::<Array<Timestamptz>, _>(earliest)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    for row in updated {
        touched.insert(row.id, row);
    }
    Ok(())
}

/// New firing alerts, a column each, for one insert of the whole round. One array per column keeps
/// the statement the same for every batch, prepared once; a multi-row `VALUES` would bind thirteen
/// parameters per alert, which PostgreSQL would parse and plan afresh for every batch.
struct NewAlerts<'a> {
    incident_ids: Vec<Uuid>,
    fingerprints: Vec<&'a str>,
    starts_at: Vec<OffsetDateTime>,
    labels: Vec<JsonbMap<'a>>,
    annotations: Vec<JsonbMap<'a>>,
    generator_urls: Vec<&'a str>,
    receivers: Vec<&'a str>,
    group_keys: Vec<&'a str>,
    received_at: Vec<OffsetDateTime>,
}

impl<'a> NewAlerts<'a> {
    fn with_capacity(capacity: usize) -> Self {
        NewAlerts {
            incident_ids: Vec::with_capacity(capacity),
            fingerprints: Vec::with_capacity(capacity),
            starts_at: Vec::with_capacity(capacity),
            labels: Vec::with_capacity(capacity),
            annotations: Vec::with_capacity(capacity),
            generator_urls: Vec::with_capacity(capacity),
            receivers: Vec::with_capacity(capacity),
            group_keys: Vec::with_capacity(capacity),
            received_at: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, incident_id: Uuid, report: &'a AlertReceived) {
        let alert = &report.alert;
        self.incident_ids.push(incident_id);
        self.fingerprints.push(&alert.fingerprint);
        self.starts_at.push(alert.starts_at);
        self.labels.push(JsonbMap(&alert.labels));
        self.annotations.push(JsonbMap(&alert.annotations));
        self.generator_urls.push(&alert.generator_url);
        self.receivers.push(&report.receiver);
        self.group_keys.push(&report.group_key);
        self.received_at.push(report.received_at);
    }

    async fn insert(self, conn: &mut AsyncPgConnection, now: OffsetDateTime) -> Result<(), StorageError> {
        diesel::sql_query(
            "INSERT INTO alerts (incident_id, fingerprint, starts_at, state, labels, annotations, generator_url, \
             receiver, group_key, first_received_at, last_received_at, last_firing_report_at) \
             SELECT incident_id, fingerprint, starts_at, 'firing', labels, annotations, generator_url, receiver, \
             group_key, $10, $10, received_at \
             FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::jsonb[], $6::text[], \
             $7::text[], $8::text[], $9::timestamptz[]) \
             AS d(incident_id, fingerprint, starts_at, labels, annotations, generator_url, receiver, group_key, \
             received_at)",
        )
        .bind::<Array<SqlUuid>, _>(self.incident_ids)
        .bind::<Array<Text>, _>(self.fingerprints)
        .bind::<Array<Timestamptz>, _>(self.starts_at)
        .bind::<Array<Jsonb>, _>(self.labels)
        .bind::<Array<Jsonb>, _>(self.annotations)
        .bind::<Array<Text>, _>(self.generator_urls)
        .bind::<Array<Text>, _>(self.receivers)
        .bind::<Array<Text>, _>(self.group_keys)
        .bind::<Array<Timestamptz>, _>(self.received_at)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Firing occurrences that ended: the alerts, the counts, and auto-resolve.
#[allow(clippy::too_many_arguments)]
async fn resolve(
    conn: &mut AsyncPgConnection,
    round: &[&AlertReceived],
    traces: &[Option<&str>],
    resolved: &[(usize, &AlertRow)],
    settings: &IntakeSettings,
    now: OffsetDateTime,
    outcomes: &mut [IntakeOutcome],
    touched: &mut Touched,
    changes: &mut Vec<(Uuid, Change)>,
) -> Result<(), StorageError> {
    if resolved.is_empty() {
        return Ok(());
    }
    let ended = |position: usize| round[position].alert.ends_at.unwrap_or(round[position].received_at);
    let ids: Vec<i64> = resolved.iter().map(|(_, row)| row.id).collect();
    let ends: Vec<OffsetDateTime> = resolved.iter().map(|(p, _)| ended(*p)).collect();
    diesel::sql_query(
        "UPDATE alerts AS a SET state = 'resolved', ends_at = d.ends_at, last_received_at = $3 \
         FROM unnest($1::bigint[], $2::timestamptz[]) AS d(id, ends_at) WHERE a.id = d.id",
    )
    .bind::<Array<Int8>, _>(ids)
    .bind::<Array<Timestamptz>, _>(ends)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;

    let mut per_incident: BTreeMap<Uuid, i32> = BTreeMap::new();
    // An incident resolved by itself is resolved by the last of its alerts to end here.
    let mut last_trace: HashMap<Uuid, &str> = HashMap::new();
    for (position, row) in resolved {
        *per_incident.entry(row.incident_id).or_insert(0) += 1;
        if let Some(trace) = traces[*position] {
            last_trace.insert(row.incident_id, trace);
        }
        changes.push((
            row.incident_id,
            Change::new(
                EventKind::AlertResolved,
                ended(*position),
                ALERTMANAGER_ACTOR,
                json!({ "alert": alert_detail(round[*position]) }),
            )
            .traced(traces[*position]),
        ));
        outcomes[*position].incident_id = Some(row.incident_id);
    }
    let ids: Vec<Uuid> = per_incident.keys().copied().collect();
    let gone: Vec<i32> = per_incident.values().copied().collect();
    let updated: Vec<IncidentRow> = diesel::sql_query(
        "UPDATE incidents AS i SET firing_count = GREATEST(i.firing_count - d.gone, 0), \
         version = i.version + 1, updated_at = $3 \
         FROM unnest($1::uuid[], $2::int4[]) AS d(id, gone) WHERE i.id = d.id RETURNING i.*",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Int4>, _>(gone)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;

    let mut quiet = Vec::new();
    for row in updated {
        if settings.auto_resolve && row.firing_count == 0 && row.status()?.is_active() {
            quiet.push(row.id);
        }
        touched.insert(row.id, row);
    }
    if quiet.is_empty() {
        return Ok(());
    }
    // Resolved when their last alert ended, by the alerts' own clocks.
    let resolved_rows: Vec<IncidentRow> = diesel::sql_query(
        "UPDATE incidents AS i SET status = 'resolved', resolved_at = GREATEST(last.ended, i.opened_at), \
         resolved_by = $2, version = i.version + 1, updated_at = $3 \
         FROM (SELECT incident_id, max(ends_at) AS ended FROM alerts WHERE incident_id = ANY($1) \
               GROUP BY incident_id) AS last \
         WHERE i.id = last.incident_id RETURNING i.*",
    )
    .bind::<Array<SqlUuid>, _>(quiet)
    .bind::<Text, _>(SYSTEM_ACTOR)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    for row in resolved_rows {
        let at = row.resolved_at.unwrap_or(now);
        changes.push((
            row.id,
            Change::new(
                EventKind::Resolved,
                at,
                SYSTEM_ACTOR,
                json!({ "reason": "every alert of the incident resolved" }),
            )
            .with_status(IncidentStatus::Resolved)
            .traced(last_trace.get(&row.id).copied()),
        ));
        touched.insert(row.id, row);
    }
    Ok(())
}

/// Timeline entries and outbox events for the round, one insert each; returns events per incident
/// and the status changes.
async fn record_changes(
    conn: &mut AsyncPgConnection,
    touched: &Touched,
    changes: Vec<(Uuid, Change)>,
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
    let recorded = changes::record_many(conn, entries).await?;
    Ok((counts, recorded.transitions))
}
