//! incident-core's copy of the service catalogue, which gives a new incident its team when its
//! alert has no `team` label. `SERVICE_TEAMS` seeds the catalogue once (an entry someone has
//! edited is never overwritten); then the catalogue is read every `CATALOGUE_REFRESH`, so an edit
//! made through query's API applies to the incidents opened after the next read, on every replica.
//!
//! Until the first read succeeds, the seed itself is in force, so a database that is away at start
//! leaves incidents with the teams they had before the catalogue existed.

use crate::Core;
use std::sync::Arc;
use std::time::Duration;
use tocsin_domain::TeamMapping;
use tocsin_storage::{AsyncConnection, StorageError, catalogue};
use tokio_util::sync::CancellationToken;

pub async fn run(core: Arc<Core>, seed: TeamMapping, every: Duration, shutdown: CancellationToken) {
    let mut seeded = seed.is_empty();
    loop {
        match refresh(&core, (!seeded).then_some(&seed)).await {
            Ok(()) => seeded = true,
            Err(error) => tracing::warn!(%error, "cannot read the service catalogue; the last copy stays in force"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

async fn refresh(core: &Core, seed: Option<&TeamMapping>) -> Result<(), StorageError> {
    let mut conn = core.pool.get().await?;
    if let Some(seed) = seed {
        let added = conn.transaction(async |conn| catalogue::seed(conn, seed).await).await?;
        if added > 0 {
            tracing::info!(added, "seeded the service catalogue from SERVICE_TEAMS");
        }
    }
    let owners = catalogue::team_mapping(&mut conn).await?;
    core.metrics.catalogue_services.set(owners.len() as i64);
    core.set_service_owners(owners);
    core.metrics.catalogue_read_at.set(time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9);
    Ok(())
}
