//! Rows as the archive keeps them: one JSON object per row, printed by PostgreSQL itself
//! (`to_jsonb`), so every column keeps its exact value (microseconds, `jsonb`, NULLs) and a restore
//! gives back the same rows. This module knows which tables are archived, under which day each row
//! is filed, and how archived rows go back into a database.
//!
//! A row is filed under the UTC day of a column that never changes once written: an incident
//! under the day it was created, and its alerts, timeline entries, notification threads and pages
//! (escalation, migration 000017) under the same day as their incident, so one day's files always hold whole incidents; a command
//! outcome under the day it was applied; a delivery under the day it was recorded.

use crate::StorageError;
use diesel::QueryableByName;
use diesel::sql_types::{Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArchivedTable {
    Incidents,
    Alerts,
    TimelineEntries,
    NotificationThreads,
    /// The pages escalation steps sent (migration 000017).
    Pages,
    CommandOutcomes,
    NotificationDeliveries,
}

impl ArchivedTable {
    /// Every archived table, in the order a restore loads them: incidents before the rows that
    /// refer to them. The outbox is not archived: its rows live only until the relay publishes
    /// them, and the events are in the timeline.
    pub const ALL: [ArchivedTable; 7] = [
        ArchivedTable::Incidents,
        ArchivedTable::Alerts,
        ArchivedTable::TimelineEntries,
        ArchivedTable::NotificationThreads,
        ArchivedTable::Pages,
        ArchivedTable::CommandOutcomes,
        ArchivedTable::NotificationDeliveries,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ArchivedTable::Incidents => "incidents",
            ArchivedTable::Alerts => "alerts",
            ArchivedTable::TimelineEntries => "timeline_entries",
            ArchivedTable::NotificationThreads => "notification_threads",
            ArchivedTable::Pages => "pages",
            ArchivedTable::CommandOutcomes => "command_outcomes",
            ArchivedTable::NotificationDeliveries => "notification_deliveries",
        }
    }

    /// The columns of the primary key: an archive holds each row once, sorted by them.
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            ArchivedTable::Incidents
            | ArchivedTable::Alerts
            | ArchivedTable::TimelineEntries
            | ArchivedTable::Pages
            | ArchivedTable::NotificationDeliveries => &["id"],
            ArchivedTable::NotificationThreads => &["incident_id", "target"],
            ArchivedTable::CommandOutcomes => &["command_id"],
        }
    }

    /// The rows filed under the day from `$1` (inclusive) to `$2` (exclusive), as JSON text.
    fn rows_of_day_sql(self) -> &'static str {
        match self {
            ArchivedTable::Incidents => {
                "SELECT to_jsonb(t)::text AS row FROM incidents t
                 WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.id"
            }
            ArchivedTable::Alerts => {
                "SELECT to_jsonb(t)::text AS row FROM alerts t JOIN incidents i ON i.id = t.incident_id
                 WHERE i.created_at >= $1 AND i.created_at < $2 ORDER BY t.id"
            }
            ArchivedTable::TimelineEntries => {
                "SELECT to_jsonb(t)::text AS row FROM timeline_entries t JOIN incidents i ON i.id = t.incident_id
                 WHERE i.created_at >= $1 AND i.created_at < $2 ORDER BY t.id"
            }
            ArchivedTable::NotificationThreads => {
                "SELECT to_jsonb(t)::text AS row FROM notification_threads t JOIN incidents i ON i.id = t.incident_id
                 WHERE i.created_at >= $1 AND i.created_at < $2 ORDER BY t.incident_id, t.target"
            }
            ArchivedTable::Pages => {
                "SELECT to_jsonb(t)::text AS row FROM pages t JOIN incidents i ON i.id = t.incident_id
                 WHERE i.created_at >= $1 AND i.created_at < $2 ORDER BY t.id"
            }
            ArchivedTable::CommandOutcomes => {
                "SELECT to_jsonb(t)::text AS row FROM command_outcomes t
                 WHERE t.applied_at >= $1 AND t.applied_at < $2 ORDER BY t.command_id"
            }
            ArchivedTable::NotificationDeliveries => {
                "SELECT to_jsonb(t)::text AS row FROM notification_deliveries t
                 WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.id"
            }
        }
    }

    /// The first and last day that have rows of this table, if any.
    fn day_span_sql(self) -> &'static str {
        match self {
            ArchivedTable::Incidents
            | ArchivedTable::Alerts
            | ArchivedTable::TimelineEntries
            | ArchivedTable::NotificationThreads
            | ArchivedTable::Pages => {
                "SELECT (min(created_at) AT TIME ZONE 'UTC')::date AS first,
                        (max(created_at) AT TIME ZONE 'UTC')::date AS last FROM incidents"
            }
            ArchivedTable::CommandOutcomes => {
                "SELECT (min(applied_at) AT TIME ZONE 'UTC')::date AS first,
                        (max(applied_at) AT TIME ZONE 'UTC')::date AS last FROM command_outcomes"
            }
            ArchivedTable::NotificationDeliveries => {
                "SELECT (min(created_at) AT TIME ZONE 'UTC')::date AS first,
                        (max(created_at) AT TIME ZONE 'UTC')::date AS last FROM notification_deliveries"
            }
        }
    }
}

impl fmt::Display for ArchivedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown table `{0}`: expected incidents, alerts, timeline_entries, notification_threads, pages, \
     command_outcomes or notification_deliveries"
)]
pub struct UnknownTable(pub String);

impl FromStr for ArchivedTable {
    type Err = UnknownTable;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ArchivedTable::ALL
            .into_iter()
            .find(|table| table.name() == name.trim())
            .ok_or_else(|| UnknownTable(name.into()))
    }
}

/// Midnight UTC starting `day`.
pub fn start_of(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// Midnight UTC ending `day`; the day after the last representable one has no end and reads as its start.
fn end_of(day: Date) -> OffsetDateTime {
    day.next_day().map(start_of).unwrap_or_else(|| start_of(day))
}

#[derive(QueryableByName)]
struct RowText {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct DaySpan {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    first: Option<Date>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    last: Option<Date>,
}

/// Times in the rows read from here on (to the end of the transaction) print in UTC, so the same
/// row prints the same text whatever the server's or the role's time zone.
pub(crate) async fn print_times_in_utc(conn: &mut AsyncPgConnection) -> Result<(), StorageError> {
    diesel::sql_query("SET LOCAL TIME ZONE 'UTC'").execute(conn).await?;
    Ok(())
}

/// The rows of `table` filed under `day`, as JSON text, in key order. Run it inside
/// [`read_days`]' snapshot, or after [`print_times_in_utc`] in a transaction of your own.
pub(crate) async fn rows_of_day(
    conn: &mut AsyncPgConnection,
    table: ArchivedTable,
    day: Date,
) -> Result<Vec<String>, StorageError> {
    let rows: Vec<RowText> = diesel::sql_query(table.rows_of_day_sql())
        .bind::<Timestamptz, _>(start_of(day))
        .bind::<Timestamptz, _>(end_of(day))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.row).collect())
}

/// The rows of each table filed under `day`, read in one snapshot so an incident and its alerts
/// are read at the same moment.
pub async fn read_day(
    conn: &mut AsyncPgConnection,
    tables: &[ArchivedTable],
    day: Date,
) -> Result<Vec<(ArchivedTable, Vec<String>)>, StorageError> {
    let tables = tables.to_vec();
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async move |conn| {
            print_times_in_utc(conn).await?;
            let mut read = Vec::with_capacity(tables.len());
            for table in tables {
                read.push((table, rows_of_day(conn, table, day).await?));
            }
            Ok::<_, StorageError>(read)
        })
        .await
}

/// The first and the last day that have rows of `table`; `None` when it has none.
pub async fn day_span(
    conn: &mut AsyncPgConnection,
    table: ArchivedTable,
) -> Result<Option<(Date, Date)>, StorageError> {
    let span: DaySpan = diesel::sql_query(table.day_span_sql()).get_result(conn).await?;
    Ok(span.first.zip(span.last))
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    /// PostgreSQL computes it (such as `incidents.correlation_digest`): archived, never restored.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    generated: bool,
}

async fn columns_of(conn: &mut AsyncPgConnection, table: ArchivedTable) -> Result<Vec<Column>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT attname::text AS name, attgenerated <> '' AS generated FROM pg_attribute
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .bind::<Text, _>(table.name())
    .load(conn)
    .await?)
}

/// Rows a restore inserts per statement.
const RESTORE_CHUNK: usize = 1000;

/// Inserts archived rows of `table` as they were; rows already there (same key, or any other
/// unique value taken) are left as they are. Returns how many were inserted.
///
/// Only the columns the archived rows carry are written, so rows archived before a migration
/// added a column get that column's default, and generated columns are computed anew. A column the
/// database does not have (rows archived by a newer release) is refused rather than dropped.
pub async fn restore_rows(
    conn: &mut AsyncPgConnection,
    table: ArchivedTable,
    rows: &[String],
) -> Result<usize, StorageError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut archived_columns = BTreeSet::new();
    for (line, row) in rows.iter().enumerate() {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(row)
            .map_err(|error| StorageError::Corrupt(format!("archived {table} row {}: {error}", line + 1)))?;
        archived_columns.extend(object.into_iter().map(|(column, _)| column));
    }
    let known = columns_of(conn, table).await?;
    if let Some(unknown) = archived_columns.iter().find(|column| !known.iter().any(|known| &known.name == *column)) {
        return Err(StorageError::Corrupt(format!(
            "archived {table} rows have a column `{unknown}` that the database lacks: migrate it to the release that \
             wrote the archive first"
        )));
    }
    archived_columns.retain(|column| known.iter().any(|known| &known.name == column && !known.generated));
    // Names from the catalog, quoted all the same.
    let columns =
        archived_columns.iter().map(|column| format!("\"{}\"", column.replace('"', "\"\""))).collect::<Vec<_>>();
    let columns = columns.join(", ");
    let sql = format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb) \
         ON CONFLICT DO NOTHING"
    );
    let mut inserted = 0;
    for chunk in rows.chunks(RESTORE_CHUNK) {
        let array = format!("[{}]", chunk.join(","));
        refuse_rows_without_their_incident(conn, table, &array).await?;
        inserted += diesel::sql_query(&sql).bind::<Text, _>(array).execute(conn).await?;
    }
    Ok(inserted)
}

#[derive(QueryableByName)]
struct MissingIncident {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    incident_id: Uuid,
}

/// Alerts, timeline entries and pages go back only under incidents the database holds. No foreign
/// key refuses them (migrations 000008 and 000017), and an alert restored without its incident would be
/// in no list and no incident page: the restore stops, naming incidents to restore first.
async fn refuse_rows_without_their_incident(
    conn: &mut AsyncPgConnection,
    table: ArchivedTable,
    array: &str,
) -> Result<(), StorageError> {
    if !matches!(table, ArchivedTable::Alerts | ArchivedTable::TimelineEntries | ArchivedTable::Pages) {
        return Ok(());
    }
    let missing: Vec<MissingIncident> = diesel::sql_query(format!(
        "SELECT DISTINCT r.incident_id FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb) AS r \
         WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = r.incident_id) ORDER BY 1 LIMIT 3"
    ))
    .bind::<Text, _>(array)
    .load(conn)
    .await?;
    if missing.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = missing.iter().map(|row| row.incident_id.to_string()).collect();
    Err(StorageError::Corrupt(format!(
        "archived {table} rows belong to incidents the database does not hold ({}{}): restore the incidents of \
         the same days first",
        ids.join(", "),
        if missing.len() == 3 { ", …" } else { "" }
    )))
}

/// Moves the id sequences past the largest restored id, so rows written after a restore never
/// collide with restored ones. Never moves a sequence back.
pub async fn advance_sequences(conn: &mut AsyncPgConnection) -> Result<(), StorageError> {
    for table in [
        ArchivedTable::Alerts,
        ArchivedTable::TimelineEntries,
        ArchivedTable::Pages,
        ArchivedTable::NotificationDeliveries,
    ] {
        diesel::sql_query(format!(
            "SELECT setval(s.sequence, s.top) FROM (
                 SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS sequence, (SELECT max(id) FROM {table}) AS top
             ) s
             WHERE s.top > COALESCE(pg_sequence_last_value(s.sequence), 0)"
        ))
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_by_their_sql_name_only() {
        for table in ArchivedTable::ALL {
            assert_eq!(table.name().parse::<ArchivedTable>(), Ok(table));
        }
        let error = "incident".parse::<ArchivedTable>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("unknown table `incident`: expected incidents, alerts"), "{error}");
    }

    #[test]
    fn a_day_runs_from_midnight_to_midnight_utc() {
        let day = time::macros::date!(2026 - 02 - 28);
        assert_eq!(start_of(day), time::macros::datetime!(2026-02-28 0:00 UTC));
        assert_eq!(end_of(day), time::macros::datetime!(2026-03-01 0:00 UTC));
    }
}
