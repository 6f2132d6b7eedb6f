//! Archives of tocsin's database in object storage: Azure Blob Storage, S3 or a local folder,
//! through the `object_store` crate. The rows of each table are kept as one gzip-compressed
//! JSON-lines object per UTC day ([`Archive::object_path`]), written by incident-core's retention
//! before it deletes anything, or by hand with `tocsin-incident-core archive`; `tocsin-incident-core
//! restore` loads them back. Which rows go under which day is [`tocsin_storage::archive`]'s
//! business; this crate moves them between the database and the store.

mod store;

pub use store::{Archive, WrittenObject};
pub use tocsin_storage::archive::{ArchivedTable, UnknownTable};

use time::{Date, OffsetDateTime};
use tocsin_storage::archive::{self as rows, advance_sequences, restore_rows};
use tocsin_storage::retention::RetentionLock;
use tocsin_storage::{AsyncPgConnection, Pool, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive URL `{url}` is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the archive at {location} cannot be reached: {source}")]
    Store { location: String, source: object_store::Error },
    #[error("archive object {path} cannot be read: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("restoring {table} of {day} from {path}: {source}")]
    Restore { table: ArchivedTable, day: Date, path: String, source: StorageError },
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// The process's variables that configure an object store, as `object_store`'s own `from_env`
/// reads them: every `AZURE_*` and `AWS_*` (account, key, SAS token, workload identity's
/// `AZURE_FEDERATED_TOKEN_FILE`, region, endpoint…). Those that do not apply to the archive's
/// kind of store are ignored by it.
pub fn store_options_from_process() -> Vec<(String, String)> {
    std::env::vars().filter(|(name, _)| name.starts_with("AZURE_") || name.starts_with("AWS_")).collect()
}

/// Days from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: Date,
    pub last: Date,
}

impl Days {
    pub fn new(first: Date, last: Date) -> Result<Days, String> {
        if first > last {
            return Err(format!("the range ends ({last}) before it starts ({first})"));
        }
        Ok(Days { first, last })
    }

    pub fn one(day: Date) -> Days {
        Days { first: day, last: day }
    }

    /// Oldest first.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = Date> {
        let mut days = Vec::new();
        let mut day = Some(self.first);
        while let Some(current) = day.filter(|d| *d <= self.last) {
            days.push(current);
            day = current.next_day();
        }
        days.into_iter()
    }
}

/// A day written `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<Date, String> {
    Date::parse(text.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|error| format!("`{text}` is not a day written YYYY-MM-DD ({error})"))
}

/// Yesterday in UTC: the last whole day.
pub fn yesterday() -> Date {
    let today = OffsetDateTime::now_utc().date();
    today.previous_day().unwrap_or(today)
}

/// The first day any of `tables` has rows, if any has.
pub async fn first_day(conn: &mut AsyncPgConnection, tables: &[ArchivedTable]) -> Result<Option<Date>, StorageError> {
    let mut first: Option<Date> = None;
    for &table in tables {
        if let Some((start, _)) = rows::day_span(conn, table).await? {
            first = Some(first.map_or(start, |known| known.min(start)));
        }
    }
    Ok(first)
}

/// Archives the rows of `tables` filed under each of `days`, deleting nothing: each object holds
/// what was archived before plus the day's rows as they are now. Waits while a retention run
/// (which archives and deletes) holds the archive.
pub async fn archive_days(
    pool: &Pool,
    archive: &Archive,
    tables: &[ArchivedTable],
    days: Days,
) -> Result<Vec<WrittenObject>, ArchiveError> {
    archive.check().await?;
    let _lock = RetentionLock::acquire(pool).await?;
    let mut conn = pool.get().await.map_err(StorageError::from)?;
    let mut written = Vec::new();
    for day in days.iter() {
        for (table, rows) in rows::read_day(&mut conn, tables, day).await? {
            if let Some(object) = archive.write_day(table, day, rows).await? {
                tracing::info!(
                    table = %object.table,
                    day = %object.day,
                    object = %object.path,
                    rows = object.rows,
                    bytes = object.bytes,
                    "archived"
                );
                written.push(object);
            }
        }
    }
    Ok(written)
}

/// What a restore did for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredTable {
    pub table: ArchivedTable,
    /// Objects found (days without one had nothing archived).
    pub objects: usize,
    pub rows: usize,
    /// Rows inserted; the others were in the database already.
    pub inserted: usize,
}

/// Loads the archived rows of `tables` for `days` back into the database, incidents before the
/// rows that refer to them, leaving rows already there as they are: running it twice inserts
/// nothing the second time. Within a table the newest day goes first, so of two archived copies
/// of a row (an alert moved to a newer incident) the newer one wins.
pub async fn restore_days(
    conn: &mut AsyncPgConnection,
    archive: &Archive,
    tables: &[ArchivedTable],
    days: Days,
) -> Result<Vec<RestoredTable>, ArchiveError> {
    archive.check().await?;
    let mut restored = Vec::new();
    for table in ArchivedTable::ALL.into_iter().filter(|table| tables.contains(table)) {
        let mut done = RestoredTable { table, objects: 0, rows: 0, inserted: 0 };
        for day in days.iter().rev() {
            let Some(rows) = archive.read_day(table, day).await? else {
                continue;
            };
            let inserted = restore_rows(conn, table, &rows).await.map_err(|source| ArchiveError::Restore {
                table,
                day,
                path: archive.object_path(table, day).to_string(),
                source,
            })?;
            tracing::info!(%table, %day, rows = rows.len(), inserted, "restored");
            done.objects += 1;
            done.rows += rows.len();
            done.inserted += inserted;
        }
        restored.push(done);
    }
    advance_sequences(conn).await?;
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn days_are_read_as_iso_dates_and_ranges_run_forwards() {
        assert_eq!(parse_day("2026-02-28"), Ok(date!(2026 - 02 - 28)));
        for bad in ["2026-02-30", "28/02/2026", "yesterday", ""] {
            let error = parse_day(bad).err().unwrap_or_default();
            assert!(error.starts_with(&format!("`{bad}` is not a day written YYYY-MM-DD")), "{error}");
        }
        let days = Days::new(date!(2026 - 02 - 27), date!(2026 - 03 - 01)).expect("creating");
        assert_eq!(
            days.iter().collect::<Vec<_>>(),
            [date!(2026 - 02 - 27), date!(2026 - 02 - 28), date!(2026 - 03 - 01)]
        );
        assert_eq!(Days::one(date!(2026 - 01 - 01)).iter().count(), 1);
        assert_eq!(
            Days::new(date!(2026 - 03 - 01), date!(2026 - 02 - 28)),
            Err("the range ends (2026-02-28) before it starts (2026-03-01)".into())
        );
    }
}
