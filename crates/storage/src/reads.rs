//! What the query service reads: incident lists with filters and keyset pagination, and one
//! incident with its alerts and timeline, which are paged by keyset too: an incident may hold
//! tens of thousands of alerts, and nothing reads them all at once.

use crate::StorageError;
use crate::rows::{AlertRow, IncidentRow, TimelineRow};
use crate::schema::{alerts, command_outcomes, incidents, timeline_entries};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_domain::{AlertRecord, CommandOutcome, Incident, IncidentStatus, Severity, TimelineEntry};
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
    let mut query = incidents::table.select(IncidentRow::as_select()).filter(planned_with_its_values()).into_boxed();
    // `column = value` for one value: PostgreSQL (before 17) reads an index on (column, opened_at,
    // id) in the list's order only for `=`; for `= ANY(...)` it reads every match and sorts them,
    // or walks the newest-first index instead (docs/benchmarks.md, "A year of data").
    macro_rules! narrow {
        ($column:expr, $values:expr) => {
            match $values.as_slice() {
                [] => {}
                [one] => query = query.filter($column.eq(*one)),
                many => query = query.filter($column.eq_any(many.to_vec())),
            }
        };
    }
    narrow!(incidents::status, filter.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    narrow!(incidents::service, filter.services.iter().map(String::as_str).collect::<Vec<_>>());
    narrow!(incidents::environment, filter.environments.iter().map(String::as_str).collect::<Vec<_>>());
    narrow!(incidents::severity, filter.severities.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    narrow!(incidents::team, filter.teams.iter().map(String::as_str).collect::<Vec<_>>());
    // The indexes on service and team hold values of up to INDEXED_VALUE_BYTES only (a btree entry
    // cannot hold the longest label values ingest accepts); saying so lets PostgreSQL use them.
    for (column, values) in [("service", &filter.services), ("team", &filter.teams)] {
        if !values.is_empty() && values.iter().all(|v| v.len() <= INDEXED_VALUE_BYTES) {
            let short = format!("octet_length(incidents.{column}) <= {INDEXED_VALUE_BYTES}");
            query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&short));
        }
    }
    if let Some(since) = filter.since {
        query = query.filter(incidents::opened_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(incidents::opened_at.lt(until));
    }
    if let Some(cursor) = after {
        // `opened_at <= cursor` repeats what the OR implies, because PostgreSQL can start an index
        // scan at a plain bound but not at an OR: without it, a page deep in a year of incidents
        // read every newer incident of the index first, and the last page of a filter that
        // matches few of them read the whole index (docs/benchmarks.md, "A year of data").
        query = query.filter(incidents::opened_at.le(cursor.opened_at)).filter(
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

/// Service and team values up to this many bytes are in the indexes the list's filters use
/// (migration 000011, `WHERE octet_length(...) <= 1000`).
const INDEXED_VALUE_BYTES: usize = 1_000;

/// A condition that is always true and makes diesel send the list's statement unnamed rather than
/// prepared and cached, so that PostgreSQL plans it with the request's values every time. Which
/// index serves a page depends on them: a quiet service's, the status index for the few open
/// incidents among a year of resolved ones, the newest-first index for a busy service. A cached
/// statement gets PostgreSQL's generic plan after five executions, which cannot see the values and
/// walked the newest-first index past hundreds of thousands of rows for a quiet service
/// (docs/benchmarks.md, "A year of data"). Planning it again costs a fraction of a millisecond.
fn planned_with_its_values() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("TRUE")
}

/// How many alerts and timeline entries `incident_detail` returns of each, at most: the first page.
pub const DETAIL_PAGE: i64 = 100;

/// The incident with the first page of its alerts (by `starts_at`, then id) and of its timeline
/// (by `at`, then id), and where each continues.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub alerts: Vec<AlertRecord>,
    /// `None` when `alerts` holds every alert.
    pub alerts_next: Option<EntryCursor>,
    pub timeline: Vec<TimelineEntry>,
    /// `None` when `timeline` holds every entry.
    pub timeline_next: Option<EntryCursor>,
}

/// Which of an incident's lists a cursor pages through, so one is never taken for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryList {
    Alerts,
    Timeline,
}

impl EntryList {
    fn tag(self) -> &'static str {
        match self {
            EntryList::Alerts => "a",
            EntryList::Timeline => "t",
        }
    }
}

/// Position after the last row of a page of an incident's alerts or timeline entries, oldest
/// first by (time, id): `starts_at` for alerts, `at` for timeline entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCursor {
    pub list: EntryList,
    pub at: OffsetDateTime,
    pub id: i64,
}

impl EntryCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}:{}", self.list.tag(), self.at.unix_timestamp_nanos(), self.id))
    }

    /// `None` for anything this API did not give out for `list`.
    pub fn decode(list: EntryList, text: &str) -> Option<EntryCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, ':');
        if parts.next()? != list.tag() {
            return None;
        }
        let at = OffsetDateTime::from_unix_timestamp_nanos(parts.next()?.parse().ok()?).ok()?;
        Some(EntryCursor { list, at, id: parts.next()?.parse().ok()? })
    }
}

/// One page of an incident's alerts or timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPage<T> {
    pub items: Vec<T>,
    pub next: Option<EntryCursor>,
}

pub async fn incident(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Incident>, StorageError> {
    let row: Option<IncidentRow> =
        incidents::table.find(id).select(IncidentRow::as_select()).first(conn).await.optional()?;
    row.map(IncidentRow::into_domain).transpose()
}

/// The incident with the first `DETAIL_PAGE` of its alerts and of its timeline.
pub async fn incident_detail(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<IncidentDetail>, StorageError> {
    let Some(incident) = incident(conn, id).await? else {
        return Ok(None);
    };
    let alerts = incident_alerts(conn, id, DETAIL_PAGE, None).await?;
    let timeline = incident_timeline(conn, id, DETAIL_PAGE, None).await?;
    Ok(Some(IncidentDetail {
        incident,
        alerts: alerts.items,
        alerts_next: alerts.next,
        timeline: timeline.items,
        timeline_next: timeline.next,
    }))
}

/// Up to `limit` of the incident's alerts after `after`, oldest `starts_at` first. Served by the
/// index on (incident_id, starts_at, id), the scan starting at the cursor: a page costs the same
/// at the start and deep down.
pub async fn incident_alerts(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    limit: i64,
    after: Option<EntryCursor>,
) -> Result<EntryPage<AlertRecord>, StorageError> {
    let mut query =
        alerts::table.filter(alerts::incident_id.eq(incident_id)).select(AlertRow::as_select()).into_boxed();
    if let Some(cursor) = after {
        // The plain bound lets the index scan start at the cursor (see `list_incidents`).
        query = query
            .filter(alerts::starts_at.ge(cursor.at))
            .filter(alerts::starts_at.gt(cursor.at).or(alerts::starts_at.eq(cursor.at).and(alerts::id.gt(cursor.id))));
    }
    // One row more than asked tells whether another page exists.
    let mut rows: Vec<AlertRow> = query.order((alerts::starts_at, alerts::id)).limit(limit + 1).load(conn).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| EntryCursor { list: EntryList::Alerts, at: row.starts_at, id: row.id })
    } else {
        None
    };
    let items = rows.into_iter().map(AlertRow::into_domain).collect::<Result<_, _>>()?;
    Ok(EntryPage { items, next })
}

/// Up to `limit` of the incident's timeline entries after `after`, oldest first. Served by the
/// index on (incident_id, at, id).
pub async fn incident_timeline(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    limit: i64,
    after: Option<EntryCursor>,
) -> Result<EntryPage<TimelineEntry>, StorageError> {
    let mut query = timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .select((TimelineRow::as_select(), timeline_entries::id))
        .into_boxed();
    if let Some(cursor) = after {
        // The plain bound lets the index scan start at the cursor (see `list_incidents`).
        query = query.filter(timeline_entries::at.ge(cursor.at)).filter(
            timeline_entries::at
                .gt(cursor.at)
                .or(timeline_entries::at.eq(cursor.at).and(timeline_entries::id.gt(cursor.id))),
        );
    }
    let mut rows: Vec<(TimelineRow, i64)> =
        query.order((timeline_entries::at, timeline_entries::id)).limit(limit + 1).load(conn).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(row, id)| EntryCursor { list: EntryList::Timeline, at: row.at, id: *id })
    } else {
        None
    };
    let items = rows.into_iter().map(|(row, _)| row.into_domain()).collect::<Result<_, _>>()?;
    Ok(EntryPage { items, next })
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

/// The recorded outcome of a command, once incident-core has applied it: query polls for it to
/// answer an action with what happened.
pub async fn command_outcome(
    conn: &mut AsyncPgConnection,
    command_id: Uuid,
) -> Result<Option<CommandOutcome>, StorageError> {
    let stored: Option<serde_json::Value> =
        command_outcomes::table.find(command_id).select(command_outcomes::outcome).first(conn).await.optional()?;
    stored
        .map(|value| {
            serde_json::from_value(value)
                .map_err(|error| StorageError::Corrupt(format!("command outcome {command_id}: {error}")))
        })
        .transpose()
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

    #[test]
    fn entry_cursors_round_trip_and_belong_to_one_list() {
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(1_764_189_385_705_000_001).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let alerts = EntryCursor { list: EntryList::Alerts, at, id: 42 };
        assert_eq!(EntryCursor::decode(EntryList::Alerts, &alerts.encode()), Some(alerts));
        assert_eq!(EntryCursor::decode(EntryList::Timeline, &alerts.encode()), None);
        let timeline = EntryCursor { list: EntryList::Timeline, at, id: 7 };
        assert_eq!(EntryCursor::decode(EntryList::Timeline, &timeline.encode()), Some(timeline));
        let list_cursor = Cursor { opened_at: at, id: Uuid::now_v7() };
        assert_eq!(EntryCursor::decode(EntryList::Alerts, &list_cursor.encode()), None);
        assert_eq!(EntryCursor::decode(EntryList::Alerts, "garbage"), None);
    }
}
