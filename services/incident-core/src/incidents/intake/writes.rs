//! The statements several steps share: finding the active incidents of keys, opening incidents,
//! inserting alerts, moving incidents' counts. Each takes a whole step's rows at once.

use crate::incidents::statements;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use tocsin_domain::{AlertReceived, AlertState, IncidentFacts, IncidentStatus, correlation};
use tocsin_storage::StorageError;
use tocsin_storage::rows::{IncidentRow, JsonbMap};
use tocsin_storage::schema::incidents;
use uuid::Uuid;

/// The active incident of each key that has one, locked, by key. Only the ids: their rows, as they
/// stand after this step, come back from moving their counts. Reading whole rows here too cost
/// PostgreSQL and this process as much again, for every incident of the round.
pub(super) async fn active_incidents(
    conn: &mut AsyncPgConnection,
    keys: impl Iterator<Item = &str>,
) -> Result<HashMap<String, Uuid>, StorageError> {
    let digests: Vec<Vec<u8>> = keys.map(correlation::digest).collect();
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq_any(&digests))
        .filter(incidents::status.ne(IncidentStatus::Resolved.as_str()))
        .order(incidents::id)
        .select((incidents::correlation_key, incidents::id))
        .for_update()
        .load::<(String, Uuid)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// An incident about to be opened, with the alerts it opens with.
pub(super) struct NewIncident<'a> {
    pub key: &'a str,
    pub facts: &'a IncidentFacts,
    /// The report of its oldest alert: the incident takes its start and its labels.
    pub first: &'a AlertReceived,
    pub alerts: i32,
    pub firing: i32,
}

/// Opens `new` incidents with their counts in one insert and returns them. One array per column,
/// like the alerts' insert: the statement is prepared once, where a multi-row `VALUES` bound
/// fifteen parameters per incident and was planned afresh for every batch, which made a storm of
/// new incidents much slower than alerts joining existing ones.
///
/// The partial unique index on active keys arbitrates races: an incident another replica opened
/// for one of these keys since we looked makes the insert skip it, and the whole batch runs again
/// (joining it, then).
pub(super) async fn open_incidents(
    conn: &mut AsyncPgConnection,
    new: &[NewIncident<'_>],
    now: OffsetDateTime,
) -> Result<Vec<IncidentRow>, StorageError> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let n = new.len();
    let (mut ids, mut keys, mut titles, mut services) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut environments, mut severities, mut teams, mut runbooks) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut fingerprints, mut starts, mut labels) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut alert_counts, mut firing_counts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for incident in new {
        let (facts, alert) = (incident.facts, &incident.first.alert);
        ids.push(Uuid::now_v7());
        keys.push(incident.key);
        titles.push(facts.title.as_str());
        services.push(facts.service.as_str());
        environments.push(facts.environment.as_str());
        severities.push(facts.severity.as_str());
        teams.push(facts.team.as_str());
        runbooks.push(facts.runbook_url.as_deref());
        fingerprints.push(alert.fingerprint.as_str());
        starts.push(alert.starts_at);
        labels.push(JsonbMap(&alert.labels));
        alert_counts.push(incident.alerts);
        firing_counts.push(incident.firing);
    }
    // Opened open even when its only alert already ended (the late step resolves it next), so
    // that the partial unique index arbitrates the race for the key.
    let opened: Vec<IncidentRow> = diesel::sql_query(statements::OPEN_INCIDENTS)
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Text>, _>(keys)
        .bind::<Array<Text>, _>(titles)
        .bind::<Array<Text>, _>(services)
        .bind::<Array<Text>, _>(environments)
        .bind::<Array<Text>, _>(severities)
        .bind::<Array<Text>, _>(teams)
        .bind::<Array<Nullable<Text>>, _>(runbooks)
        .bind::<Array<Text>, _>(fingerprints)
        .bind::<Array<Timestamptz>, _>(starts)
        .bind::<Array<Jsonb>, _>(labels)
        .bind::<Array<Int4>, _>(alert_counts)
        .bind::<Array<Int4>, _>(firing_counts)
        .bind::<Timestamptz, _>(now)
        .load(conn)
        .await?;
    if opened.len() != new.len() {
        return Err(StorageError::Contended("incidents opened concurrently".into()));
    }
    Ok(opened)
}

/// New alerts, a column each, for one insert of a whole step ([`statements::INSERT_ALERTS`]).
pub(super) struct NewAlerts<'a> {
    incident_ids: Vec<Uuid>,
    fingerprints: Vec<&'a str>,
    starts_at: Vec<OffsetDateTime>,
    ends_at: Vec<Option<OffsetDateTime>>,
    states: Vec<&'static str>,
    labels: Vec<JsonbMap<'a>>,
    annotations: Vec<JsonbMap<'a>>,
    generator_urls: Vec<&'a str>,
    receivers: Vec<&'a str>,
    group_keys: Vec<&'a str>,
    received_at: Vec<OffsetDateTime>,
}

impl<'a> NewAlerts<'a> {
    pub fn with_capacity(capacity: usize) -> Self {
        NewAlerts {
            incident_ids: Vec::with_capacity(capacity),
            fingerprints: Vec::with_capacity(capacity),
            starts_at: Vec::with_capacity(capacity),
            ends_at: Vec::with_capacity(capacity),
            states: Vec::with_capacity(capacity),
            labels: Vec::with_capacity(capacity),
            annotations: Vec::with_capacity(capacity),
            generator_urls: Vec::with_capacity(capacity),
            receivers: Vec::with_capacity(capacity),
            group_keys: Vec::with_capacity(capacity),
            received_at: Vec::with_capacity(capacity),
        }
    }

    /// The alert of `report`, on `incident_id`, in the state the report gives it.
    pub fn push(&mut self, incident_id: Uuid, report: &'a AlertReceived) {
        let alert = &report.alert;
        self.incident_ids.push(incident_id);
        self.fingerprints.push(&alert.fingerprint);
        self.starts_at.push(alert.starts_at);
        self.ends_at.push(match alert.state {
            AlertState::Firing => None,
            AlertState::Resolved => alert.ends_at,
        });
        self.states.push(alert.state.as_str());
        self.labels.push(JsonbMap(&alert.labels));
        self.annotations.push(JsonbMap(&alert.annotations));
        self.generator_urls.push(&alert.generator_url);
        self.receivers.push(&report.receiver);
        self.group_keys.push(&report.group_key);
        self.received_at.push(report.received_at);
    }

    pub async fn insert(self, conn: &mut AsyncPgConnection, now: OffsetDateTime) -> Result<(), StorageError> {
        if self.incident_ids.is_empty() {
            return Ok(());
        }
        diesel::sql_query(statements::INSERT_ALERTS)
            .bind::<Array<SqlUuid>, _>(self.incident_ids)
            .bind::<Array<Text>, _>(self.fingerprints)
            .bind::<Array<Timestamptz>, _>(self.starts_at)
            .bind::<Array<Nullable<Timestamptz>>, _>(self.ends_at)
            .bind::<Array<Text>, _>(self.states)
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

/// How a step moves one incident's counts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    /// Alerts the incident gained.
    pub added: i32,
    /// Of its alerts, how many more are firing.
    pub firing: i32,
    /// The earliest start among the alerts it gained: an alert that started before the incident's
    /// first one moves its origin back, so MTTA and MTTR count from the true start.
    pub earliest: OffsetDateTime,
}

impl Counts {
    pub fn new(earliest: OffsetDateTime) -> Counts {
        Counts { added: 0, firing: 0, earliest }
    }

    pub fn gained(&mut self, starts_at: OffsetDateTime, added: i32, firing: i32) {
        self.added += added;
        self.firing += firing;
        self.earliest = self.earliest.min(starts_at);
    }
}

/// Moves the counts of every incident in `counts` in one statement and returns the incidents as
/// they stand after it.
pub(super) async fn move_counts(
    conn: &mut AsyncPgConnection,
    counts: &BTreeMap<Uuid, Counts>,
    now: OffsetDateTime,
) -> Result<Vec<IncidentRow>, StorageError> {
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = counts.keys().copied().collect();
    let added: Vec<i32> = counts.values().map(|c| c.added).collect();
    let firing: Vec<i32> = counts.values().map(|c| c.firing).collect();
    let earliest: Vec<OffsetDateTime> = counts.values().map(|c| c.earliest).collect();
    Ok(diesel::sql_query(statements::ADD_TO_COUNTS)
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Int4>, _>(added)
        .bind::<Array<Int4>, _>(firing)
        .bind::<Array<Timestamptz>, _>(earliest)
        .bind::<Timestamptz, _>(now)
        .load(conn)
        .await?)
}
