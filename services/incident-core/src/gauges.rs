//! Keeps the gauges current every `METRICS_REFRESH_INTERVAL`: active incidents read from
//! PostgreSQL (right whatever replica changed what) and the connection pool's usage.

use crate::Core;
use std::sync::Arc;
use std::time::Duration;
use tocsin_storage::reads;
use tokio_util::sync::CancellationToken;

pub async fn run(core: Arc<Core>, every: Duration, shutdown: CancellationToken) {
    loop {
        match refresh(&core).await {
            Ok(()) => {}
            Err(error) => tracing::debug!(%error, "cannot refresh the active-incident gauges yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

async fn refresh(core: &Core) -> Result<(), tocsin_storage::StorageError> {
    let usage = tocsin_storage::pool_usage(&core.pool);
    core.pool_gauges.set(usage.in_use, usage.idle, usage.max, usage.waiting);
    let mut conn = core.pool.get().await?;
    let counts = reads::active_counts(&mut conn).await?;
    core.metrics.set_active(&counts);
    Ok(())
}
