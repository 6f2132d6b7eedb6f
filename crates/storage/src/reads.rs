//! What the query service reads: incident lists with filters and keyset pagination, and one
//! incident with its alerts and timeline.

use crate::StorageError;
use crate::rows::{AlertRow, IncidentRow, TimelineRow};
use crate::schema::{alerts, incidents, timeline_entries};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_domain::{AlertRecord, Incident, IncidentStatus, Severity, TimelineEntry};
use uuid::Uuid;

/// Every field narrows the list; an empty list means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    pub statuses: Vec<IncidentStatus>,
    pub services: Vec<String>,
    pub environments: Vec<String>,
    pub severities: Vec<Severity>,
    pub teams: Vec<String>,
    /// Incidents opened at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Incidents opened before this time.
    pub until: Option<OffsetDateTime>,
}

/// Position after the last incident of a page: newest first by (opened_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub opened_at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.opened_at.unix_timestamp_nanos(), self.id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (nanos, id) = text.split_once(':')?;
        let opened_at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
        Some(Cursor { opened_at, id: id.parse().ok()? })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Incident>,
    pub next_cursor: Option<Cursor>,
}

pub async fn list_incidents(
    conn: &mut AsyncPgConnection,
    filter: &IncidentFilter,
    limit: i64,
    after: Option<Cursor>,
) -> Result<Page, StorageError> {
    let mut query = incidents::table.select(IncidentRow::as_select()).into_boxed();
    if !filter.statuses.is_empty() {
        query = query.filter(incidents::status.eq_any(filter.statuses.iter().map(|s| s.as_str())));
    }
    if !filter.services.is_empty() {
        query = query.filter(incidents::service.eq_any(&filter.services));
    }
    if !filter.environments.is_empty() {
        query = query.filter(incidents::environment.eq_any(&filter.environments));
    }
    if !filter.severities.is_empty() {
        query = query.filter(incidents::severity.eq_any(filter.severities.iter().map(|s| s.as_str())));
    }
    if !filter.teams.is_empty() {
        query = query.filter(incidents::team.eq_any(&filter.teams));
    }
    if let Some(since) = filter.since {
        query = query.filter(incidents::opened_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(incidents::opened_at.lt(until));
    }
    if let Some(cursor) = after {
        query = query.filter(
            incidents::opened_at
                .lt(cursor.opened_at)
                .or(incidents::opened_at.eq(cursor.opened_at).and(incidents::id.lt(cursor.id))),
        );
    }
    // One row more than asked tells whether another page exists.
    let mut rows: Vec<IncidentRow> =
        query.order((incidents::opened_at.desc(), incidents::id.desc())).limit(limit + 1).load(conn).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| Cursor { opened_at: row.opened_at, id: row.id })
    } else {
        None
    };
    let items = rows.into_iter().map(IncidentRow::into_domain).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub alerts: Vec<AlertRecord>,
    pub timeline: Vec<TimelineEntry>,
}

pub async fn incident(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Incident>, StorageError> {
    let row: Option<IncidentRow> =
        incidents::table.find(id).select(IncidentRow::as_select()).first(conn).await.optional()?;
    row.map(IncidentRow::into_domain).transpose()
}

pub async fn incident_detail(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<IncidentDetail>, StorageError> {
    let Some(incident) = incident(conn, id).await? else {
        return Ok(None);
    };
    let alerts: Vec<AlertRow> = alerts::table
        .filter(alerts::incident_id.eq(id))
        .order((alerts::starts_at, alerts::id))
        .select(AlertRow::as_select())
        .load(conn)
        .await?;
    let timeline: Vec<TimelineRow> = timeline_entries::table
        .filter(timeline_entries::incident_id.eq(id))
        .order((timeline_entries::at, timeline_entries::id))
        .select(TimelineRow::as_select())
        .load(conn)
        .await?;
    Ok(Some(IncidentDetail {
        incident,
        alerts: alerts.into_iter().map(AlertRow::into_domain).collect::<Result<_, _>>()?,
        timeline: timeline.into_iter().map(TimelineRow::into_domain).collect::<Result<_, _>>()?,
    }))
}

/// Active incidents counted by the fields incident metrics are labelled with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActiveCount {
    pub service: String,
    pub environment: String,
    pub severity: String,
    pub team: String,
    pub status: String,
    pub count: i64,
}

/// The open and acknowledged incidents, counted by service, environment, severity, team and
/// status. The database is the one source of truth, so replicas exporting it agree.
pub async fn active_counts(conn: &mut AsyncPgConnection) -> Result<Vec<ActiveCount>, StorageError> {
    let rows: Vec<(String, String, String, String, String, i64)> = incidents::table
        .filter(incidents::status.ne(IncidentStatus::Resolved.as_str()))
        .group_by((incidents::service, incidents::environment, incidents::severity, incidents::team, incidents::status))
        .select((
            incidents::service,
            incidents::environment,
            incidents::severity,
            incidents::team,
            incidents::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(service, environment, severity, team, status, count)| ActiveCount {
            service,
            environment,
            severity,
            team,
            status,
            count,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            opened_at: OffsetDateTime::from_unix_timestamp_nanos(1_764_189_385_705_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not-a-cursor"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
