//! The alert loop: reads alert reports from the alerts stream and applies a whole batch in one
//! transaction, acknowledging the entries only after it committed.

use crate::Core;
use crate::retry::Backoff;
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_bus::{Consumer, Delivery};
use tocsin_domain::{AlertReceived, OccurrenceChange};
use tocsin_storage::AsyncConnection;
use tocsin_storage::StorageError;
use tocsin_storage::intake::{IntakeBatch, record_alerts};
use tokio_util::sync::CancellationToken;

pub async fn run(core: Arc<Core>, consumer: Consumer<AlertReceived>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new();
    while let Err(error) = consumer.ensure_group().await {
        tracing::warn!(%error, "cannot create the alerts consumer group yet");
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
    let mut backoff = Backoff::new();
    while !shutdown.is_cancelled() {
        // Read, apply, acknowledge, in turn. Reading the next batch while this one commits was
        // tried and measured: no more throughput, and a p99 several times worse at 1,000 alerts/s
        // (docs/benchmarks.md).
        let batch = read(&consumer, &mut backoff, &shutdown).await;
        if !batch.is_empty() {
            settle(&core, &consumer, batch, &shutdown).await;
        }
    }
    tracing::info!(consumer = consumer.name(), "alert loop stopped");
}

async fn read(
    consumer: &Consumer<AlertReceived>,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Vec<Delivery<AlertReceived>> {
    match consumer.next_batch().await {
        Ok(batch) => {
            *backoff = Backoff::new();
            batch
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the alerts stream");
            backoff.wait(shutdown).await;
            Vec::new()
        }
    }
}

/// Applies a batch, acknowledges what committed, and wakes the relay.
async fn settle(
    core: &Core,
    consumer: &Consumer<AlertReceived>,
    batch: Vec<Delivery<AlertReceived>>,
    shutdown: &CancellationToken,
) {
    let committed = apply(core, consumer, batch, shutdown).await;
    core.relay_wakeup.notify_one();
    if let Err(error) = consumer.ack(&committed).await {
        // Committed but not acknowledged: the entries come back and change nothing twice.
        tracing::warn!(%error, entries = committed.len(), "cannot acknowledge applied alerts");
    }
}

/// Applies the batch and returns the entry ids that committed. An entry that keeps failing for a
/// reason other than an outage is left pending: it comes back after the visibility timeout and,
/// after `MAX_DELIVERIES`, lands in the dead-letter stream.
async fn apply(
    core: &Core,
    consumer: &Consumer<AlertReceived>,
    mut batch: Vec<Delivery<AlertReceived>>,
    shutdown: &CancellationToken,
) -> Vec<String> {
    // Oldest alert first, so the alert that started an incident is the one that opens it; and one
    // lock order for every replica, so concurrent batches rarely deadlock. The sort is stable:
    // reports of one occurrence keep their stream order.
    batch.sort_by(|a, b| {
        let (a, b) = (&a.envelope.payload.alert, &b.envelope.payload.alert);
        (a.starts_at, &a.fingerprint).cmp(&(b.starts_at, &b.fingerprint))
    });
    match apply_with_retry(core, consumer, &batch, shutdown).await {
        Ok(()) => batch.into_iter().map(|delivery| delivery.entry_id).collect(),
        Err(None) => Vec::new(),
        Err(Some(error)) => {
            tracing::warn!(%error, "a batch failed; applying its alerts one by one to isolate the cause");
            let mut committed = Vec::new();
            for delivery in batch {
                match apply_with_retry(core, consumer, std::slice::from_ref(&delivery), shutdown).await {
                    Ok(()) => committed.push(delivery.entry_id),
                    Err(None) => break,
                    Err(Some(error)) => tracing::error!(
                        %error,
                        entry.id = %delivery.entry_id,
                        alert.fingerprint = %delivery.envelope.payload.alert.fingerprint,
                        "cannot apply alert, leaving it for redelivery"
                    ),
                }
            }
            committed
        }
    }
}

/// `Err(None)`: shutdown came first. `Err(Some(_))`: an error that retrying will not cure.
async fn apply_with_retry(
    core: &Core,
    consumer: &Consumer<AlertReceived>,
    batch: &[Delivery<AlertReceived>],
    shutdown: &CancellationToken,
) -> Result<(), Option<StorageError>> {
    let mut backoff = Backoff::new();
    loop {
        match apply_once(core, batch).await {
            Ok(applied) => {
                core.record_outcomes(batch, &applied.outcomes);
                core.metrics.observe(&applied.transitions);
                return Ok(());
            }
            Err(error) if error.is_transient() => {
                core.metrics.batch_retries.inc();
                tracing::warn!(%error, alerts = batch.len(), "retrying alert batch");
                // Keep what we hold ours while we wait, or another replica would claim it and
                // count deliveries towards the dead-letter limit during a plain outage.
                let _ = consumer.keep_alive_all().await;
                if !backoff.wait(shutdown).await {
                    return Err(None);
                }
            }
            Err(error) => return Err(Some(error)),
        }
    }
}

async fn apply_once(core: &Core, batch: &[Delivery<AlertReceived>]) -> Result<IntakeBatch, StorageError> {
    let mut conn = core.pool.get().await?;
    let settings = &core.intake;
    // Borrowed, not cloned: this runs for every batch, and again on every retry.
    let reports: Vec<&AlertReceived> = batch.iter().map(|delivery| &delivery.envelope.payload).collect();
    conn.transaction(async |conn| record_alerts(conn, &reports, settings, OffsetDateTime::now_utc()).await).await
}

pub(crate) fn change_name(change: OccurrenceChange) -> &'static str {
    match change {
        OccurrenceChange::Opened => "opened",
        OccurrenceChange::OpenedResolved => "opened_resolved",
        OccurrenceChange::Refreshed => "refreshed",
        OccurrenceChange::Resolved => "resolved",
        OccurrenceChange::Refired => "refired",
        OccurrenceChange::Stale => "stale",
    }
}
