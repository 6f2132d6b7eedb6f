//! Keeps the active-incident gauges current: counts read from PostgreSQL every
//! `METRICS_REFRESH_INTERVAL`, so they are right whatever replica changed what.

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
    let mut conn = core.pool.get().await?;
    let counts = reads::active_counts(&mut conn).await?;
    core.metrics.set_active(&counts);
    Ok(())
}
