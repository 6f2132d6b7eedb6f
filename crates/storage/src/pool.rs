//! The connection pool and the migrations.

use crate::StorageError;
use diesel::ConnectionError;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool as DeadPool;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

pub type Pool = DeadPool<AsyncPgConnection>;
/// A connection taken from the [`Pool`], back in it when dropped.
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: usize,
    /// How long a caller waits for a free connection, and for a new one to be opened, before the
    /// database is reported unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 16, acquire_timeout: Duration::from_secs(5) }
    }
}

/// Builds the pool without connecting: services start (and report not ready) while the database
/// is still down, and connect once it is up.
pub fn connect(database_url: &str, settings: &PoolSettings) -> Result<Pool, StorageError> {
    let mut manager_config = diesel_async::pooled_connection::ManagerConfig::default();
    manager_config.custom_setup = Box::new(|url| Box::pin(crate::tls::establish(url)));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, manager_config);
    DeadPool::builder(manager)
        .max_size(settings.max_connections)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|error| StorageError::Unavailable(error.to_string()))
}

/// Connections of the pool, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: usize,
    pub idle: usize,
    pub max: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

pub fn pool_usage(pool: &Pool) -> PoolUsage {
    let status = pool.status();
    PoolUsage {
        in_use: status.size.saturating_sub(status.available),
        idle: status.available,
        max: status.max_size,
        waiting: status.waiting,
    }
}

/// The `/ready` check of a service that needs the database.
pub fn readiness_check(
    pool: &Pool,
) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
    let pool = pool.clone();
    move || {
        let pool = pool.clone();
        Box::pin(async move { ping(&pool).await.map_err(|error| error.to_string()) })
    }
}

/// Whether the database answers, for `/ready`.
pub async fn ping(pool: &Pool) -> Result<(), StorageError> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Runs the pending embedded migrations and returns the versions it applied.
pub async fn migrate(database_url: &str) -> Result<Vec<String>, StorageError> {
    let conn = crate::tls::establish(database_url)
        .await
        .map_err(|error: ConnectionError| StorageError::Unavailable(error.to_string()))?;
    // The harness drives diesel's synchronous migration code; keep it off the async workers.
    let database_url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|error| StorageError::Corrupt(format!("migrating {}: {error}", redact(&database_url))))
    })
    .await
    .map_err(|error| StorageError::Unavailable(error.to_string()))?
}

/// The URL without its password, for messages.
pub fn redact(database_url: &str) -> String {
    match (database_url.find("://"), database_url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &database_url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &database_url[..scheme + 3], &database_url[at..])
        }
        _ => database_url.to_owned(),
    }
}
