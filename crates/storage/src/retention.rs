//! What retention deletes, and how, on plain PostgreSQL: rows past their table's retention, in
//! small batches, each batch its own short transaction that locks only the rows it deletes (`FOR
//! UPDATE SKIP LOCKED`), so no writer ever waits on retention for long.
//!
//! What expires (docs/operations.md, "Retention and archival"), counted in whole UTC days:
//!
//! - an incident that is resolved, whose resolution and last change are older than the cutoff,
//!   and none of whose alerts was reported since the cutoff; with it go its alerts, its timeline,
//!   its notification threads, its pages and its escalation's row. Open and acknowledged incidents never expire, nor does a
//!   resolved one whose alert still fires (Alertmanager keeps resending it).
//! - a command outcome applied before the cutoff.
//! - a notification delivery recorded and finished (`sent` or `dead`) before the cutoff; a pending
//!   one never expires.
//!
//! The outbox has no retention: the relay deletes its rows once they are on the events stream.

use crate::archive::{ArchivedTable, print_times_in_utc, rows_of_day, start_of};
use crate::{Pool, StorageError};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Date as SqlDate, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

/// The three kinds of rows retention deletes, each with its own setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Retained {
    /// Incidents with their alerts, timeline entries, notification threads and pages.
    Incidents,
    CommandOutcomes,
    NotificationDeliveries,
}

impl Retained {
    pub const ALL: [Retained; 3] = [Retained::Incidents, Retained::CommandOutcomes, Retained::NotificationDeliveries];

    pub fn name(self) -> &'static str {
        self.table().name()
    }

    /// The table whose rows decide what expires.
    pub fn table(self) -> ArchivedTable {
        match self {
            Retained::Incidents => ArchivedTable::Incidents,
            Retained::CommandOutcomes => ArchivedTable::CommandOutcomes,
            Retained::NotificationDeliveries => ArchivedTable::NotificationDeliveries,
        }
    }

    /// Every table an expired row takes rows from, archived together.
    pub fn tables(self) -> &'static [ArchivedTable] {
        match self {
            Retained::Incidents => &[
                ArchivedTable::Incidents,
                ArchivedTable::Alerts,
                ArchivedTable::TimelineEntries,
                ArchivedTable::NotificationThreads,
                ArchivedTable::Pages,
            ],
            Retained::CommandOutcomes => &[ArchivedTable::CommandOutcomes],
            Retained::NotificationDeliveries => &[ArchivedTable::NotificationDeliveries],
        }
    }
}

/// The oldest moment retention keeps: midnight UTC, `days` days before today's. Everything filed
/// under an earlier day may expire, so an archived day is always a whole day.
pub fn cutoff(now: OffsetDateTime, days: u32) -> OffsetDateTime {
    start_of(now.to_offset(time::UtcOffset::UTC).date()) - Duration::days(i64::from(days))
}

/// The rows of `$1`-cutoff that may go, as a condition on the table aliased `t`.
fn expired_condition(retained: Retained) -> &'static str {
    match retained {
        Retained::Incidents => {
            "t.status = 'resolved' AND t.resolved_at < $1 AND t.updated_at < $1 AND t.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = t.id AND a.last_received_at >= $1)"
        }
        Retained::CommandOutcomes => "t.applied_at < $1",
        Retained::NotificationDeliveries => {
            "t.status IN ('sent', 'dead', 'cancelled') AND t.created_at < $1 AND t.finished_at < $1"
        }
    }
}

/// The column a row is filed under: see [`crate::archive`].
fn day_column(retained: Retained) -> &'static str {
    match retained {
        Retained::Incidents | Retained::NotificationDeliveries => "created_at",
        Retained::CommandOutcomes => "applied_at",
    }
}

#[derive(QueryableByName)]
struct Day {
    #[diesel(sql_type = Nullable<SqlDate>)]
    day: Option<Date>,
}

/// The first day after `after` (or the first day at all) under which rows have expired.
pub async fn next_expired_day(
    conn: &mut AsyncPgConnection,
    retained: Retained,
    cutoff: OffsetDateTime,
    after: Option<Date>,
) -> Result<Option<Date>, StorageError> {
    // Every row was written after 1970.
    let from = after.and_then(Date::next_day).map(start_of).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let sql = format!(
        "SELECT (min(t.{column}) AT TIME ZONE 'UTC')::date AS day FROM {table} t
         WHERE t.{column} >= $2 AND {expired}",
        column = day_column(retained),
        table = retained.table(),
        expired = expired_condition(retained),
    );
    let day: Day =
        diesel::sql_query(sql).bind::<Timestamptz, _>(cutoff).bind::<Timestamptz, _>(from).get_result(conn).await?;
    Ok(day.day)
}

/// Expired rows, as they were when archived: a batch deletes only those still the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiredRows {
    /// Incident ids with the version archived: an incident changed since is kept.
    Incidents(Vec<(Uuid, i64)>),
    CommandOutcomes(Vec<Uuid>),
    NotificationDeliveries(Vec<i64>),
}

impl ExpiredRows {
    pub fn len(&self) -> usize {
        match self {
            ExpiredRows::Incidents(rows) => rows.len(),
            ExpiredRows::CommandOutcomes(rows) => rows.len(),
            ExpiredRows::NotificationDeliveries(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same rows in batches of at most `size`.
    pub fn batches(&self, size: usize) -> Vec<ExpiredRows> {
        let size = size.max(1);
        match self {
            ExpiredRows::Incidents(rows) => rows.chunks(size).map(|c| ExpiredRows::Incidents(c.to_vec())).collect(),
            ExpiredRows::CommandOutcomes(rows) => {
                rows.chunks(size).map(|c| ExpiredRows::CommandOutcomes(c.to_vec())).collect()
            }
            ExpiredRows::NotificationDeliveries(rows) => {
                rows.chunks(size).map(|c| ExpiredRows::NotificationDeliveries(c.to_vec())).collect()
            }
        }
    }
}

/// One day's rows to archive, and which of them have expired.
#[derive(Debug, Clone)]
pub struct ExpiringDay {
    /// Every row filed under the day, expired or not, per table, as [`crate::archive`] prints them.
    pub rows: Vec<(ArchivedTable, Vec<String>)>,
    pub expired: ExpiredRows,
}

#[derive(QueryableByName)]
struct IncidentVersion {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

#[derive(QueryableByName)]
struct OutcomeId {
    #[diesel(sql_type = SqlUuid)]
    command_id: Uuid,
}

#[derive(QueryableByName)]
struct DeliveryId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Reads the rows filed under `day` and the expired ones among them in one snapshot, so what is
/// deleted afterwards is exactly what was read here.
pub async fn read_expiring_day(
    conn: &mut AsyncPgConnection,
    retained: Retained,
    day: Date,
    cutoff: OffsetDateTime,
) -> Result<ExpiringDay, StorageError> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async move |conn| {
            print_times_in_utc(conn).await?;
            let mut rows = Vec::new();
            for &table in retained.tables() {
                rows.push((table, rows_of_day(conn, table, day).await?));
            }
            let sql = format!(
                "SELECT {columns} FROM {table} t WHERE t.{column} >= $2 AND t.{column} < $3 AND {expired} ORDER BY 1",
                columns = match retained {
                    Retained::Incidents => "t.id, t.version",
                    Retained::CommandOutcomes => "t.command_id",
                    Retained::NotificationDeliveries => "t.id",
                },
                table = retained.table(),
                column = day_column(retained),
                expired = expired_condition(retained),
            );
            let query = diesel::sql_query(sql)
                .bind::<Timestamptz, _>(cutoff)
                .bind::<Timestamptz, _>(start_of(day))
                .bind::<Timestamptz, _>(start_of(day) + Duration::DAY);
            let expired = match retained {
                Retained::Incidents => ExpiredRows::Incidents(
                    query.load::<IncidentVersion>(conn).await?.into_iter().map(|row| (row.id, row.version)).collect(),
                ),
                Retained::CommandOutcomes => ExpiredRows::CommandOutcomes(
                    query.load::<OutcomeId>(conn).await?.into_iter().map(|row| row.command_id).collect(),
                ),
                Retained::NotificationDeliveries => ExpiredRows::NotificationDeliveries(
                    query.load::<DeliveryId>(conn).await?.into_iter().map(|row| row.id).collect(),
                ),
            };
            Ok::<_, StorageError>(ExpiringDay { rows, expired })
        })
        .await
}

/// Rows one batch deleted, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub rows: Vec<(ArchivedTable, usize)>,
}

impl Deleted {
    /// Rows deleted from `table`.
    pub fn of(&self, table: ArchivedTable) -> usize {
        self.rows.iter().filter(|(t, _)| *t == table).map(|(_, count)| count).sum()
    }
}

#[derive(QueryableByName)]
struct LockedIncident {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Deletes one batch of at most `limit` expired rows, oldest first, in one short transaction, for
/// when nothing needs archiving first.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    retained: Retained,
    cutoff: OffsetDateTime,
    limit: usize,
) -> Result<Deleted, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let table = retained.table();
    let expired = expired_condition(retained);
    let column = day_column(retained);
    match retained {
        Retained::Incidents => {
            conn.transaction(async |conn| {
                let locked: Vec<LockedIncident> = diesel::sql_query(format!(
                    "SELECT t.id FROM incidents t WHERE {expired} ORDER BY t.{column} LIMIT $2 FOR UPDATE SKIP LOCKED"
                ))
                .bind::<Timestamptz, _>(cutoff)
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await?;
                delete_incidents(conn, &locked.into_iter().map(|row| row.id).collect::<Vec<_>>()).await
            })
            .await
        }
        Retained::CommandOutcomes | Retained::NotificationDeliveries => {
            let key = table.key_columns()[0];
            let deleted = diesel::sql_query(format!(
                "DELETE FROM {table} WHERE {key} IN (
                     SELECT t.{key} FROM {table} t WHERE {expired} ORDER BY t.{column} LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ))
            .bind::<Timestamptz, _>(cutoff)
            .bind::<BigInt, _>(limit)
            .execute(conn)
            .await?;
            Ok(Deleted { rows: vec![(table, deleted)] })
        }
    }
}

/// Deletes the rows of `batch` that are still expired and unchanged since they were archived, in
/// one short transaction; rows another transaction holds are skipped, and go in a later run.
pub async fn delete_archived(
    conn: &mut AsyncPgConnection,
    batch: &ExpiredRows,
    cutoff: OffsetDateTime,
) -> Result<Deleted, StorageError> {
    match batch {
        ExpiredRows::Incidents(rows) => {
            let (ids, versions): (Vec<Uuid>, Vec<i64>) = rows.iter().copied().unzip();
            let expired = expired_condition(Retained::Incidents);
            conn.transaction(async |conn| {
                let locked: Vec<LockedIncident> = diesel::sql_query(format!(
                    "SELECT t.id FROM incidents t
                     JOIN unnest($2::uuid[], $3::int8[]) AS archived(id, version)
                       ON archived.id = t.id AND archived.version = t.version
                     WHERE {expired}
                     FOR UPDATE OF t SKIP LOCKED"
                ))
                .bind::<Timestamptz, _>(cutoff)
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Int8>, _>(&versions)
                .load(conn)
                .await?;
                delete_incidents(conn, &locked.into_iter().map(|row| row.id).collect::<Vec<_>>()).await
            })
            .await
        }
        ExpiredRows::CommandOutcomes(ids) => {
            let deleted = diesel::sql_query(delete_listed_sql(Retained::CommandOutcomes))
                .bind::<Timestamptz, _>(cutoff)
                .bind::<Array<SqlUuid>, _>(ids)
                .execute(conn)
                .await?;
            Ok(Deleted { rows: vec![(ArchivedTable::CommandOutcomes, deleted)] })
        }
        ExpiredRows::NotificationDeliveries(ids) => {
            let deleted = diesel::sql_query(delete_listed_sql(Retained::NotificationDeliveries))
                .bind::<Timestamptz, _>(cutoff)
                .bind::<Array<BigInt>, _>(ids)
                .execute(conn)
                .await?;
            Ok(Deleted { rows: vec![(ArchivedTable::NotificationDeliveries, deleted)] })
        }
    }
}

/// Deletes the rows of a table without dependants whose keys are in `$2` and that are still
/// expired at `$1`, skipping rows another transaction holds.
fn delete_listed_sql(retained: Retained) -> String {
    let table = retained.table();
    let key = table.key_columns()[0];
    format!(
        "DELETE FROM {table} WHERE {key} IN (
             SELECT t.{key} FROM {table} t WHERE t.{key} = ANY($2) AND {}
             FOR UPDATE SKIP LOCKED)",
        expired_condition(retained)
    )
}

/// Deletes locked incidents with everything filed with them, in the caller's transaction. Nothing
/// else deletes incidents, and no foreign key cascades (migrations 000008 and 000017): this is
/// what keeps an alert, a timeline entry, a page or an escalation from outliving its incident
/// (`crate::integrity`). The escalation's row is live state, not history: it is not archived.
async fn delete_incidents(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Deleted, StorageError> {
    // First: an escalation engine firing a step of one of them holds its row, so this waits for it
    // to commit, and the deletes below (statements after the wait) see what it filed.
    if !ids.is_empty() {
        diesel::sql_query("DELETE FROM incident_escalations WHERE incident_id = ANY($1)")
            .bind::<Array<SqlUuid>, _>(ids)
            .execute(conn)
            .await?;
        // Which maintenance windows held them: live state too, gone with the incident.
        diesel::sql_query("DELETE FROM incident_maintenance WHERE incident_id = ANY($1)")
            .bind::<Array<SqlUuid>, _>(ids)
            .execute(conn)
            .await?;
    }
    let mut rows = Vec::with_capacity(5);
    for table in [
        ArchivedTable::TimelineEntries,
        ArchivedTable::Alerts,
        ArchivedTable::NotificationThreads,
        ArchivedTable::Pages,
        ArchivedTable::Incidents,
    ] {
        let column = if table == ArchivedTable::Incidents { "id" } else { "incident_id" };
        let deleted = if ids.is_empty() {
            0
        } else {
            diesel::sql_query(format!("DELETE FROM {table} WHERE {column} = ANY($1)"))
                .bind::<Array<SqlUuid>, _>(ids)
                .execute(conn)
                .await?
        };
        rows.push((table, deleted));
    }
    Ok(Deleted { rows })
}

/// Held by the one process running retention or an archive at a time (a PostgreSQL session
/// advisory lock on a connection of its own): two archivers merging into the same day's files
/// while one of them deletes could lose rows from the archive. Dropping it closes the connection,
/// which releases the lock even if the holder is cancelled half-way.
pub struct RetentionLock {
    _conn: AsyncPgConnection,
}

/// The advisory lock's key: "tocsin retention".
const RETENTION_LOCK: i64 = 0x7463_7369_6e72_6574;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

impl RetentionLock {
    /// The lock, or `None` when another process holds it.
    pub async fn try_acquire(pool: &Pool) -> Result<Option<RetentionLock>, StorageError> {
        let mut conn = deadpool::managed::Object::take(pool.get().await?);
        let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(RETENTION_LOCK)
            .get_result(&mut conn)
            .await?;
        Ok(locked.locked.then_some(RetentionLock { _conn: conn }))
    }

    /// The lock, waiting for whoever holds it.
    pub async fn acquire(pool: &Pool) -> Result<RetentionLock, StorageError> {
        let mut conn = deadpool::managed::Object::take(pool.get().await?);
        diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(RETENTION_LOCK).execute(&mut conn).await?;
        Ok(RetentionLock { _conn: conn })
    }
}

#[derive(QueryableByName)]
struct ExtensionVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// The version of the TimescaleDB extension installed in this database, if it is.
pub async fn timescaledb_version(conn: &mut AsyncPgConnection) -> Result<Option<String>, StorageError> {
    let found: Option<ExtensionVersion> =
        diesel::sql_query("SELECT extversion::text AS version FROM pg_extension WHERE extname = 'timescaledb'")
            .get_result(conn)
            .await
            .map(Some)
            .or_else(|error| match error {
                diesel::result::Error::NotFound => Ok(None),
                error => Err(error),
            })?;
    Ok(found.map(|found| found.version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_cutoff_is_a_midnight_utc_whatever_the_time_of_day() {
        assert_eq!(cutoff(datetime!(2026-05-31 23:59:59 UTC), 90), datetime!(2026-03-02 0:00 UTC));
        assert_eq!(cutoff(datetime!(2026-05-31 00:00 UTC), 90), datetime!(2026-03-02 0:00 UTC));
        // 01:30 in Paris is still the previous day in UTC.
        assert_eq!(cutoff(datetime!(2026-06-01 01:30 +2), 1), datetime!(2026-05-30 0:00 UTC));
    }

    #[test]
    fn batches_keep_every_row_once_in_order() {
        let rows = ExpiredRows::NotificationDeliveries((1..=5).collect());
        assert_eq!(
            rows.batches(2),
            vec![
                ExpiredRows::NotificationDeliveries(vec![1, 2]),
                ExpiredRows::NotificationDeliveries(vec![3, 4]),
                ExpiredRows::NotificationDeliveries(vec![5]),
            ]
        );
    }
}
