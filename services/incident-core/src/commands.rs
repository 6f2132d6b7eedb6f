//! The command loop: applies people's commands (acknowledge, resolve, reopen, assign) one
//! transaction each, recording each outcome for the query service to report. A traced command gets
//! an "apply command" span in the trace of the request that sent it, and the event it causes
//! carries that span's context on.

use crate::Core;
use crate::incidents::apply_command;
use crate::retry::Backoff;
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_bus::Consumer;
use tocsin_domain::{Command, CommandOutcome};
use tocsin_storage::AsyncConnection;
use tocsin_storage::StorageError;
use tokio_util::sync::CancellationToken;

pub async fn run(core: Arc<Core>, consumer: Consumer<Command>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new();
    while let Err(error) = consumer.ensure_group().await {
        tracing::warn!(%error, "cannot create the commands consumer group yet");
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
    let mut backoff = Backoff::new();
    'reading: while !shutdown.is_cancelled() {
        let batch = match consumer.next_batch().await {
            Ok(batch) => {
                backoff = Backoff::new();
                batch
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the commands stream");
                backoff.wait(&shutdown).await;
                continue;
            }
        };
        for delivery in batch {
            let command = &delivery.envelope.payload;
            let mut span = consumer.span(&core.tracer, "apply command", &delivery);
            if span.is_recording() {
                span.set_str("command.id", &command.id.to_string());
                span.set_str("command.action", command.action.name());
                span.set_str("incident.id", &command.incident_id.to_string());
            }
            let traceparent = span.traceparent();
            let mut retry = Backoff::new();
            let outcome = loop {
                match apply_once(&core, command, traceparent.as_deref()).await {
                    Ok(outcome) => break Some(outcome),
                    Err(error) if error.is_transient() => {
                        core.metrics.batch_retries.inc();
                        tracing::warn!(%error, command.id = %command.id, "retrying command");
                        let _ = consumer.keep_alive(std::slice::from_ref(&delivery.entry_id)).await;
                        if !retry.wait(&shutdown).await {
                            break 'reading;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, command.id = %command.id, "cannot apply command, leaving it for redelivery");
                        span.set_error(&error.to_string());
                        break None;
                    }
                }
            };
            let Some(outcome) = outcome else { continue };
            let result = match &outcome {
                CommandOutcome::Applied { .. } => "applied",
                CommandOutcome::Rejected { .. } => "rejected",
            };
            span.set_str("command.outcome", result);
            core.metrics
                .commands_processed
                .get_or_create(&crate::metrics::OutcomeLabel { action: command.action.name(), outcome: result })
                .inc();
            tracing::info!(
                command.id = %command.id,
                incident.id = %command.incident_id,
                action = command.action.name(),
                actor = %command.actor,
                outcome = result,
                "command processed"
            );
            if let Err(error) = consumer.ack(std::slice::from_ref(&delivery.entry_id)).await {
                tracing::warn!(%error, "cannot acknowledge command; it will be answered again from its outcome");
            }
            core.relay_wakeup.notify_one();
            span.end();
        }
    }
    tracing::info!(consumer = consumer.name(), "command loop stopped");
}

async fn apply_once(core: &Core, command: &Command, traceparent: Option<&str>) -> Result<CommandOutcome, StorageError> {
    let mut conn = core.pool.get().await?;
    let (outcome, changes) = conn
        .transaction(async |conn| apply_command(conn, command, traceparent, OffsetDateTime::now_utc()).await)
        .await?;
    core.metrics.observe(&changes);
    Ok(outcome)
}
