//! Turning alert reports into incidents: dedup, correlation, out-of-order settlement, auto-resolve
//! and the reopen window. Every function runs inside the caller's transaction.
//!
//! Concurrency: reports of one occurrence are serialised by a transaction-scoped advisory lock on
//! (fingerprint, startsAt); "one active incident per correlation key" is the partial unique index
//! `incidents_one_active_per_key`. A lost race surfaces as [`StorageError::Contended`] and the
//! caller runs the batch again.

use crate::StorageError;
use crate::changes::{self, Change};
use crate::rows::{AlertRow, IncidentRow, json_map};
use crate::schema::{alerts, incidents};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tocsin_domain::alert::merge;
use tocsin_domain::timeline::{ALERTMANAGER_ACTOR, SYSTEM_ACTOR};
use tocsin_domain::{
    AlertReceived, AlertState, CorrelationKey, CorrelationRule, EventKind, IncidentFacts, IncidentStatus,
    OccurrenceChange, StoredOccurrence, TeamMapping,
};
use uuid::Uuid;

mod batch;
pub use crate::changes::StatusChange;
pub use batch::{IntakeBatch, record_alerts};

/// How alerts become incidents; from incident-core's configuration.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub correlation: CorrelationRule,
    pub teams: TeamMapping,
    /// Resolve an incident by itself once every one of its alerts has resolved.
    pub auto_resolve: bool,
    /// A firing alert whose key matches an incident resolved less than this long ago reopens that
    /// incident instead of opening a new one (flapping alerts stay one incident). Zero disables it.
    pub reopen_window: Duration,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            correlation: CorrelationRule::default(),
            teams: TeamMapping::default(),
            auto_resolve: true,
            reopen_window: Duration::minutes(5),
        }
    }
}

/// What one report did.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeOutcome {
    pub change: OccurrenceChange,
    pub incident_id: Option<Uuid>,
    /// Whether a new incident was opened for it.
    pub opened_incident: bool,
    pub events: usize,
    /// Status changes it caused, to be counted once the transaction commits.
    pub transitions: Vec<StatusChange>,
}

/// Applies one report in the caller's transaction. The events it causes carry `traceparent`, the
/// trace context of the span applying it.
pub async fn record_alert(
    conn: &mut AsyncPgConnection,
    report: &AlertReceived,
    traceparent: Option<&str>,
    settings: &IntakeSettings,
    now: OffsetDateTime,
) -> Result<IntakeOutcome, StorageError> {
    let alert = &report.alert;
    lock_occurrence(conn, &alert.fingerprint, alert.starts_at).await?;

    let existing: Option<AlertRow> = alerts::table
        .filter(alerts::fingerprint.eq(&alert.fingerprint))
        .filter(alerts::starts_at.eq(alert.starts_at))
        .select(AlertRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let stored = match &existing {
        Some(row) => Some(StoredOccurrence { state: row.state()?, ends_at: row.ends_at }),
        None => None,
    };
    let change = merge(stored.as_ref(), alert.state, alert.ends_at, report.received_at);
    let quiet =
        |incident_id| IntakeOutcome { change, incident_id, opened_incident: false, events: 0, transitions: Vec::new() };

    match (change, existing) {
        (OccurrenceChange::Opened | OccurrenceChange::OpenedResolved, _) => {
            attach(conn, report, traceparent, settings, now, change, None).await
        }
        (OccurrenceChange::Refired, Some(row)) => {
            attach(conn, report, traceparent, settings, now, change, Some(&row)).await
        }
        (OccurrenceChange::Refreshed, Some(row)) => {
            diesel::update(alerts::table.find(row.id))
                .set((
                    alerts::last_received_at.eq(now),
                    alerts::last_firing_report_at.eq(report.received_at.max(row.last_firing_report_at)),
                    alerts::annotations.eq(json_map(&alert.annotations)),
                ))
                .execute(conn)
                .await?;
            Ok(quiet(Some(row.incident_id)))
        }
        (OccurrenceChange::Resolved, Some(row)) => resolve_alert(conn, report, traceparent, settings, now, row).await,
        (OccurrenceChange::Stale, row) => Ok(quiet(row.map(|row| row.incident_id))),
        (change, None) => Err(StorageError::Corrupt(format!("{change:?} without a stored occurrence"))),
    }
}

/// `at` as PostgreSQL stores it: whole microseconds. Alertmanager may send nanoseconds; an
/// occurrence is matched, locked and grouped by the stored value.
pub(crate) fn stored_time(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000).unwrap_or(at)
}

/// The advisory-lock key of an occurrence.
pub(crate) fn occurrence_key(fingerprint: &str, starts_at: OffsetDateTime) -> String {
    format!("{fingerprint}@{}", stored_time(starts_at).unix_timestamp_nanos())
}

/// Serialises every transaction touching this occurrence until it commits.
async fn lock_occurrence(
    conn: &mut AsyncPgConnection,
    fingerprint: &str,
    starts_at: OffsetDateTime,
) -> Result<(), StorageError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(occurrence_key(fingerprint, starts_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// A new (or re-fired) occurrence joins the active incident of its key, reopens a recently
/// resolved one, or opens a new one.
#[allow(clippy::too_many_arguments)]
async fn attach(
    conn: &mut AsyncPgConnection,
    report: &AlertReceived,
    traceparent: Option<&str>,
    settings: &IntakeSettings,
    now: OffsetDateTime,
    change: OccurrenceChange,
    refired_alert: Option<&AlertRow>,
) -> Result<IntakeOutcome, StorageError> {
    let alert = &report.alert;
    let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &settings.teams);
    let key = settings.correlation.key(&facts, &alert.labels);
    let firing = alert.state == AlertState::Firing;
    let alert_detail = alert_detail(report);

    let mut changes = Vec::new();
    let (incident, opened) = match find_active(conn, &key).await? {
        Some(incident) => (incident, false),
        None if !firing => match overlapping_resolved(conn, &key, report, settings).await? {
            // An alert we first hear of as resolved belongs with the incident its key had then.
            Some(incident) => (incident, false),
            None => (open_incident(conn, report, &facts, &key, now).await?, true),
        },
        None => match reopenable(conn, &key, report, settings, firing).await? {
            Some(incident) => {
                let incident = reopen(conn, incident.id, now).await?;
                changes.push(
                    Change::new(
                        EventKind::Reopened,
                        alert.starts_at,
                        SYSTEM_ACTOR,
                        json!({ "reason": "an alert fired again within the reopen window", "alert": alert_detail }),
                    )
                    .with_status(IncidentStatus::Open),
                );
                (incident, false)
            }
            None => (open_incident(conn, report, &facts, &key, now).await?, true),
        },
    };

    // A re-fired occurrence that stays on its incident is counted there once, not again.
    let alerts_added = match refired_alert {
        Some(row) if row.incident_id == incident.id => 0,
        _ => 1,
    };
    match refired_alert {
        Some(row) => {
            diesel::update(alerts::table.find(row.id))
                .set((
                    alerts::incident_id.eq(incident.id),
                    alerts::state.eq(AlertState::Firing.as_str()),
                    alerts::last_received_at.eq(now),
                    alerts::last_firing_report_at.eq(report.received_at),
                ))
                .execute(conn)
                .await?;
        }
        None => insert_alert(conn, report, incident.id, now).await?,
    }
    let mut incident = adjust_counts(conn, incident.id, alerts_added, i32::from(firing), now).await?;
    if alert.starts_at < incident.opened_at {
        // An alert that started earlier than the incident's first one moves its origin back, so
        // MTTA and MTTR count from the true start.
        incident = diesel::update(incidents::table.find(incident.id))
            .set(incidents::opened_at.eq(alert.starts_at))
            .returning(IncidentRow::as_returning())
            .get_result(conn)
            .await?;
    }

    if opened {
        changes.push(
            Change::new(EventKind::Opened, alert.starts_at, ALERTMANAGER_ACTOR, json!({ "alert": alert_detail }))
                .with_status(IncidentStatus::Open),
        );
        if !firing {
            // The first report of this occurrence was already its resolution: the incident is
            // recorded as it happened, opened and resolved by the alert's own times.
            let ended = alert.ends_at.unwrap_or(report.received_at);
            incident = set_resolved(conn, incident.id, ended, ALERTMANAGER_ACTOR, now).await?;
            changes.push(
                Change::new(
                    EventKind::Resolved,
                    ended,
                    ALERTMANAGER_ACTOR,
                    json!({ "reason": "its only alert resolved" }),
                )
                .with_status(IncidentStatus::Resolved),
            );
        }
    } else {
        let at = if firing { alert.starts_at } else { alert.ends_at.unwrap_or(report.received_at) };
        if !firing {
            incident = extend_automatic_resolution(conn, incident, at).await?;
        }
        changes.push(Change::new(EventKind::AlertAdded, at, ALERTMANAGER_ACTOR, json!({ "alert": alert_detail })));
    }
    let changes = changes.into_iter().map(|change| change.traced(traceparent)).collect();
    let recorded = changes::record(conn, &incident, changes).await?;
    Ok(IntakeOutcome {
        change,
        incident_id: Some(incident.id),
        opened_incident: opened,
        events: recorded.events,
        transitions: recorded.transitions,
    })
}

async fn find_active(conn: &mut AsyncPgConnection, key: &CorrelationKey) -> Result<Option<IncidentRow>, StorageError> {
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq(key.digest()))
        .filter(incidents::status.ne(IncidentStatus::Resolved.as_str()))
        .select(IncidentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// The resolved incident of `key` whose time span overlaps the alert's (give or take the reopen
/// window).
async fn overlapping_resolved(
    conn: &mut AsyncPgConnection,
    key: &CorrelationKey,
    report: &AlertReceived,
    settings: &IntakeSettings,
) -> Result<Option<IncidentRow>, StorageError> {
    let alert = &report.alert;
    let ended = alert.ends_at.unwrap_or(report.received_at);
    let slack = settings.reopen_window.max(Duration::ZERO);
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq(key.digest()))
        .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
        .filter(incidents::opened_at.le(ended + slack))
        .filter(incidents::resolved_at.ge(alert.starts_at - slack))
        .order(incidents::resolved_at.desc())
        .select(IncidentRow::as_select())
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

async fn reopenable(
    conn: &mut AsyncPgConnection,
    key: &CorrelationKey,
    report: &AlertReceived,
    settings: &IntakeSettings,
    firing: bool,
) -> Result<Option<IncidentRow>, StorageError> {
    if !firing || settings.reopen_window <= Duration::ZERO {
        return Ok(None);
    }
    Ok(incidents::table
        .filter(incidents::correlation_digest.eq(key.digest()))
        .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
        .filter(incidents::resolved_at.gt(report.alert.starts_at - settings.reopen_window))
        .order(incidents::resolved_at.desc())
        .select(IncidentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

async fn open_incident(
    conn: &mut AsyncPgConnection,
    report: &AlertReceived,
    facts: &IncidentFacts,
    key: &CorrelationKey,
    now: OffsetDateTime,
) -> Result<IncidentRow, StorageError> {
    let alert = &report.alert;
    let inserted = diesel::insert_into(incidents::table)
        .values((
            incidents::id.eq(Uuid::now_v7()),
            incidents::correlation_key.eq(key.as_str()),
            incidents::title.eq(&facts.title),
            incidents::service.eq(&facts.service),
            incidents::environment.eq(&facts.environment),
            incidents::severity.eq(facts.severity.as_str()),
            incidents::team.eq(&facts.team),
            // Inserted open and resolved by `attach` when its only alert already ended, so that
            // the partial unique index arbitrates the race for the key either way.
            incidents::status.eq(IncidentStatus::Open.as_str()),
            incidents::runbook_url.eq(&facts.runbook_url),
            incidents::source_fingerprint.eq(&alert.fingerprint),
            incidents::source_starts_at.eq(alert.starts_at),
            incidents::source_labels.eq(json_map(&alert.labels)),
            incidents::opened_at.eq(alert.starts_at),
            incidents::created_at.eq(now),
            incidents::updated_at.eq(now),
        ))
        .on_conflict(incidents::correlation_digest)
        // A literal, not a bind: PostgreSQL matches the partial index's predicate at planning
        // time, which a generic plan for a bound parameter cannot do.
        .filter_target(diesel::dsl::sql::<diesel::sql_types::Bool>("status <> 'resolved'"))
        .do_nothing()
        .returning(IncidentRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    // Another replica opened the incident for this key since we looked: join it on the retry.
    inserted.ok_or_else(|| StorageError::Contended(format!("incident for {key} opened concurrently")))
}

async fn insert_alert(
    conn: &mut AsyncPgConnection,
    report: &AlertReceived,
    incident_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StorageError> {
    let alert = &report.alert;
    diesel::insert_into(alerts::table)
        .values((
            alerts::incident_id.eq(incident_id),
            alerts::fingerprint.eq(&alert.fingerprint),
            alerts::starts_at.eq(alert.starts_at),
            alerts::ends_at.eq(match alert.state {
                AlertState::Firing => None,
                AlertState::Resolved => alert.ends_at,
            }),
            alerts::state.eq(alert.state.as_str()),
            alerts::labels.eq(json_map(&alert.labels)),
            alerts::annotations.eq(json_map(&alert.annotations)),
            alerts::generator_url.eq(&alert.generator_url),
            alerts::receiver.eq(&report.receiver),
            alerts::group_key.eq(&report.group_key),
            alerts::first_received_at.eq(now),
            alerts::last_received_at.eq(now),
            alerts::last_firing_report_at.eq(report.received_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn resolve_alert(
    conn: &mut AsyncPgConnection,
    report: &AlertReceived,
    traceparent: Option<&str>,
    settings: &IntakeSettings,
    now: OffsetDateTime,
    row: AlertRow,
) -> Result<IntakeOutcome, StorageError> {
    let ended = report.alert.ends_at.unwrap_or(report.received_at);
    diesel::update(alerts::table.find(row.id))
        .set((
            alerts::state.eq(AlertState::Resolved.as_str()),
            alerts::ends_at.eq(Some(ended)),
            alerts::last_received_at.eq(now),
        ))
        .execute(conn)
        .await?;
    let mut incident = adjust_counts(conn, row.incident_id, 0, -1, now).await?;
    let mut changes = vec![Change::new(
        EventKind::AlertResolved,
        ended,
        ALERTMANAGER_ACTOR,
        json!({ "alert": alert_detail(report) }),
    )];
    if settings.auto_resolve && incident.firing_count == 0 && incident.status()?.is_active() {
        // Resolved when its last alert ended, by the alerts' own clocks, not when we heard of it.
        let last_end: Option<OffsetDateTime> = alerts::table
            .filter(alerts::incident_id.eq(incident.id))
            .select(diesel::dsl::max(alerts::ends_at))
            .first(conn)
            .await?;
        let resolved_at = last_end.unwrap_or(ended).max(incident.opened_at);
        incident = set_resolved(conn, incident.id, resolved_at, SYSTEM_ACTOR, now).await?;
        changes.push(
            Change::new(
                EventKind::Resolved,
                resolved_at,
                SYSTEM_ACTOR,
                json!({ "reason": "every alert of the incident resolved" }),
            )
            .with_status(IncidentStatus::Resolved),
        );
    }
    let changes = changes.into_iter().map(|change| change.traced(traceparent)).collect();
    let recorded = changes::record(conn, &incident, changes).await?;
    Ok(IntakeOutcome {
        change: OccurrenceChange::Resolved,
        incident_id: Some(incident.id),
        opened_incident: false,
        events: recorded.events,
        transitions: recorded.transitions,
    })
}

async fn adjust_counts(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    alerts_added: i32,
    firing_delta: i32,
    now: OffsetDateTime,
) -> Result<IncidentRow, StorageError> {
    Ok(diesel::update(incidents::table.find(incident_id))
        .set((
            incidents::alert_count.eq(incidents::alert_count + alerts_added),
            incidents::firing_count.eq(diesel::dsl::sql::<diesel::sql_types::Int4>("GREATEST(firing_count + ")
                .bind::<diesel::sql_types::Int4, _>(firing_delta)
                .sql(", 0)")),
            incidents::version.eq(incidents::version + 1),
            incidents::updated_at.eq(now),
        ))
        .returning(IncidentRow::as_returning())
        .get_result(conn)
        .await?)
}

pub(crate) async fn set_resolved(
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

pub(crate) async fn reopen(
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

fn alert_detail(report: &AlertReceived) -> serde_json::Value {
    let alert = &report.alert;
    json!({
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname"),
        "instance": alert.labels.get("instance"),
        "state": alert.state,
        "starts_at": alert.starts_at.unix_timestamp(),
    })
}
