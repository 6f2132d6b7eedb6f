//! The retention loop: every `RETENTION_INTERVAL`, one replica (whichever takes the PostgreSQL
//! advisory lock) deletes the rows past their retention in small batches, each its own short
//! transaction, pausing between batches. With `ARCHIVE_URL` set it first archives each day about
//! to be deleted and deletes only the rows it archived, unchanged since; if the archive cannot be
//! written, nothing of that day is deleted and the next run tries again.
//!
//! TimescaleDB is looked for at start and reported (log and `/ready` detail), but retention stays
//! the batched delete there too: a retention policy on a timeline hypertable would drop entries of
//! incidents that are kept, and drop them before they are archived (docs/operations.md, "Retention
//! and archival").

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_archive::{Archive, ArchiveError};
use tocsin_storage::retention::{self, Deleted, Retained, RetentionLock};
use tocsin_storage::{Pool, StorageError};
use tokio_util::sync::CancellationToken;

/// How long each kind of row is kept, and how gently it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days a resolved incident is kept (with its alerts, timeline and threads); `None` keeps
    /// them all.
    pub incidents_days: Option<u32>,
    pub command_outcomes_days: Option<u32>,
    pub deliveries_days: Option<u32>,
    pub interval: Duration,
    /// Incidents (with everything filed with them), command outcomes or deliveries deleted per
    /// transaction.
    pub batch_size: usize,
    pub batch_pause: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            incidents_days: Some(90),
            command_outcomes_days: Some(90),
            deliveries_days: Some(90),
            interval: Duration::from_secs(3600),
            batch_size: 500,
            batch_pause: Duration::from_millis(100),
        }
    }
}

impl RetentionSettings {
    pub fn days(&self, retained: Retained) -> Option<u32> {
        match retained {
            Retained::Incidents => self.incidents_days,
            Retained::CommandOutcomes => self.command_outcomes_days,
            Retained::NotificationDeliveries => self.deliveries_days,
        }
    }

    fn is_off(&self) -> bool {
        Retained::ALL.iter().all(|retained| self.days(*retained).is_none())
    }

    /// `incidents 90 d, command_outcomes 90 d, notification_deliveries off`
    fn describe(&self) -> String {
        Retained::ALL
            .iter()
            .map(|retained| match self.days(*retained) {
                Some(days) => format!("{} {days} d", retained.name()),
                None => format!("{} off", retained.name()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone)]
pub struct RetentionMetrics {
    rows_deleted: Family<TableLabel, Counter>,
    objects_archived: Family<TableLabel, Counter>,
    runs: Family<OutcomeLabel, Counter>,
    last_completed: Gauge,
}

impl RetentionMetrics {
    pub fn register(registry: &mut Registry) -> RetentionMetrics {
        let metrics = RetentionMetrics {
            rows_deleted: Family::default(),
            objects_archived: Family::default(),
            runs: Family::default(),
            last_completed: Gauge::default(),
        };
        // Every series exists at zero from start, so increase() sees the first deletion.
        for table in tocsin_storage::archive::ArchivedTable::ALL {
            let _ = metrics.rows_deleted.get_or_create(&TableLabel { table: table.name() });
            let _ = metrics.objects_archived.get_or_create(&TableLabel { table: table.name() });
        }
        for outcome in ["completed", "failed", "skipped"] {
            let _ = metrics.runs.get_or_create(&OutcomeLabel { outcome });
        }
        registry.register(
            "retention_rows_deleted",
            "Rows deleted by retention, by table",
            metrics.rows_deleted.clone(),
        );
        registry.register(
            "archive_objects_written",
            "Archive objects (one table, one day) written to ARCHIVE_URL, by table",
            metrics.objects_archived.clone(),
        );
        registry.register(
            "retention_runs",
            "Retention runs: completed, failed (retried next interval), or skipped (another replica was running one)",
            metrics.runs.clone(),
        );
        registry.register(
            "retention_last_completed_timestamp_seconds",
            "When this replica last completed a retention run (Unix time; 0: not yet)",
            metrics.last_completed.clone(),
        );
        metrics
    }

    fn count_deleted(&self, deleted: &Deleted) {
        for (table, rows) in &deleted.rows {
            self.rows_deleted.get_or_create(&TableLabel { table: table.name() }).inc_by(*rows as u64);
        }
    }
}

/// Which retention path runs, for `/ready`'s detail; set once the database has been looked at.
#[derive(Debug, Clone)]
pub struct RetentionStatus(Arc<RwLock<String>>);

impl RetentionStatus {
    pub fn new(settings: &RetentionSettings) -> RetentionStatus {
        let initial =
            if settings.is_off() { "off".to_owned() } else { "starting: PostgreSQL not reached yet".to_owned() };
        RetentionStatus(Arc::new(RwLock::new(initial)))
    }

    pub fn get(&self) -> String {
        self.0.read().map(|status| status.clone()).unwrap_or_default()
    }

    fn set(&self, status: String) {
        if let Ok(mut current) = self.0.write() {
            *current = status;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

pub struct Retention {
    pub pool: Pool,
    pub settings: RetentionSettings,
    pub archive: Option<Archive>,
    pub metrics: RetentionMetrics,
    pub status: RetentionStatus,
}

/// Looks at the database once it answers, then runs retention every interval until shutdown.
pub async fn run(retention: Retention, shutdown: CancellationToken) {
    if retention.settings.is_off() {
        tracing::info!("retention is off: every RETENTION_*_DAYS is off");
        return;
    }
    let Some(path) = detect_path(&retention, &shutdown).await else { return };
    retention.status.set(path);
    loop {
        match run_once(&retention, &shutdown).await {
            Ok(true) => {
                retention.metrics.runs.get_or_create(&OutcomeLabel { outcome: "completed" }).inc();
                retention.metrics.last_completed.set(OffsetDateTime::now_utc().unix_timestamp());
            }
            Ok(false) => {
                retention.metrics.runs.get_or_create(&OutcomeLabel { outcome: "skipped" }).inc();
                tracing::debug!("another replica is running retention");
            }
            Err(error) => {
                retention.metrics.runs.get_or_create(&OutcomeLabel { outcome: "failed" }).inc();
                tracing::warn!(%error, "retention run failed; trying again next interval");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retention.settings.interval) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    tracing::info!("retention stopped");
}

/// Waits for the database, logs which path retention takes and returns it, for `/ready`.
async fn detect_path(retention: &Retention, shutdown: &CancellationToken) -> Option<String> {
    let timescaledb = loop {
        let found = async {
            let mut conn = retention.pool.get().await?;
            retention::timescaledb_version(&mut conn).await
        };
        match found.await {
            Ok(version) => break version,
            Err(error) => tracing::debug!(%error, "cannot look for TimescaleDB yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return None,
        }
    };
    let settings = &retention.settings;
    let archive = retention.archive.as_ref().map_or("off".to_owned(), |archive| archive.location().to_owned());
    let path = match &timescaledb {
        None => "batched deletes on plain PostgreSQL".to_owned(),
        Some(version) => format!(
            "batched deletes; TimescaleDB {version} is installed but not used for retention (docs/operations.md)"
        ),
    };
    tracing::info!(
        retention.path = %path,
        retention.days = %settings.describe(),
        retention.interval = %humantime::format_duration(settings.interval),
        archive = %archive,
        "retention runs as {path}"
    );
    Some(format!("{path}; {} every {}", settings.describe(), humantime::format_duration(settings.interval)))
}

/// One run, if no other replica is running one; returns whether it ran.
async fn run_once(retention: &Retention, shutdown: &CancellationToken) -> Result<bool, RunError> {
    let Some(_lock) = RetentionLock::try_acquire(&retention.pool).await? else {
        return Ok(false);
    };
    let now = OffsetDateTime::now_utc();
    for retained in Retained::ALL {
        let Some(days) = retention.settings.days(retained) else { continue };
        let cutoff = retention::cutoff(now, days);
        match &retention.archive {
            Some(archive) => archive_then_delete(retention, archive, retained, cutoff, shutdown).await?,
            None => delete(retention, retained, cutoff, shutdown).await?,
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    Ok(true)
}

/// Deletes expired rows batch by batch until a batch comes back short.
async fn delete(
    retention: &Retention,
    retained: Retained,
    cutoff: OffsetDateTime,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let size = retention.settings.batch_size;
    loop {
        let deleted = {
            let mut conn = retention.pool.get().await.map_err(StorageError::from)?;
            retention::delete_expired(&mut conn, retained, cutoff, size).await?
        };
        retention.metrics.count_deleted(&deleted);
        if deleted.of(retained.table()) > 0 {
            tracing::debug!(table = retained.name(), rows = ?deleted.rows, "deleted expired rows");
        }
        if deleted.of(retained.table()) < size || !pause(retention, shutdown).await {
            return Ok(());
        }
    }
}

/// Archives each day with expired rows, oldest first, then deletes what it archived.
async fn archive_then_delete(
    retention: &Retention,
    archive: &Archive,
    retained: Retained,
    cutoff: OffsetDateTime,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let mut after = None;
    loop {
        let (day, expiring) = {
            let mut conn = retention.pool.get().await.map_err(StorageError::from)?;
            let Some(day) = retention::next_expired_day(&mut conn, retained, cutoff, after).await? else {
                return Ok(());
            };
            (day, retention::read_expiring_day(&mut conn, retained, day, cutoff).await?)
        };
        after = Some(day);
        for (table, rows) in expiring.rows {
            if let Some(object) = archive.write_day(table, day, rows).await? {
                retention.metrics.objects_archived.get_or_create(&TableLabel { table: table.name() }).inc();
                tracing::info!(%table, %day, object = %object.path, rows = object.rows, bytes = object.bytes, "archived");
            }
        }
        let mut deleted_rows = 0;
        for batch in expiring.expired.batches(retention.settings.batch_size) {
            let deleted = {
                let mut conn = retention.pool.get().await.map_err(StorageError::from)?;
                retention::delete_archived(&mut conn, &batch, cutoff).await?
            };
            retention.metrics.count_deleted(&deleted);
            deleted_rows += deleted.of(retained.table());
            if !pause(retention, shutdown).await {
                return Ok(());
            }
        }
        tracing::info!(table = retained.name(), %day, rows = deleted_rows, "deleted archived rows past retention");
    }
}

/// Waits between two batches; false when shutting down.
async fn pause(retention: &Retention, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(retention.settings.batch_pause) => true,
        _ = shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_describe_each_kind_of_row() {
        let settings = RetentionSettings { deliveries_days: None, ..RetentionSettings::default() };
        assert_eq!(settings.describe(), "incidents 90 d, command_outcomes 90 d, notification_deliveries off");
        assert!(!settings.is_off());
        let off = RetentionSettings {
            incidents_days: None,
            command_outcomes_days: None,
            deliveries_days: None,
            ..RetentionSettings::default()
        };
        assert!(off.is_off());
        assert_eq!(RetentionStatus::new(&off).get(), "off");
    }
}
