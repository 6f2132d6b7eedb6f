//! The commands stream's handler: applies people's commands (acknowledge, resolve, reopen, assign)
//! one transaction each, in stream order, recording each outcome for the query service to report.
//! A traced command gets an "apply command" span in the trace of the request that sent it, and the
//! event it causes carries that span's context on.

use crate::Core;
use crate::incidents::apply_command;
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_bus::{Consumer, Delivery, Handler, Settled};
use tocsin_domain::{Command, CommandOutcome};
use tocsin_storage::AsyncConnection;
use tocsin_storage::StorageError;
use tokio_util::sync::CancellationToken;

/// Reads commands and applies them until shutdown: the bus's consumer loop
/// (`tocsin_bus::Consumer::run`) with [`ApplyCommands`].
pub async fn run(core: Arc<Core>, consumer: Consumer<Command>, shutdown: CancellationToken) {
    consumer.run(ApplyCommands { core }, shutdown).await;
}

/// The handler of the commands stream.
struct ApplyCommands {
    core: Arc<Core>,
}

impl Handler<Command> for ApplyCommands {
    /// Applies the commands in turn. When the database is away, the command and every one after
    /// it are retried after a backoff, so that two commands on one incident keep their order. A
    /// command that fails otherwise is left pending, to come back after the visibility timeout.
    async fn handle(&mut self, batch: Vec<Delivery<Command>>, consumer: &Consumer<Command>) -> Settled<Command> {
        let core = &self.core;
        let mut settled = Settled::default();
        let mut commands = batch.into_iter();
        while let Some(delivery) = commands.next() {
            let command = &delivery.envelope.payload;
            let mut span = consumer.span(&core.tracer, "apply command", &delivery);
            if span.is_recording() {
                span.set_str("command.id", &command.id.to_string());
                span.set_str("command.action", command.action.name());
                span.set_str("incident.id", &command.incident_id.to_string());
            }
            let traceparent = span.traceparent();
            let outcome = match apply_once(core, command, traceparent.as_deref()).await {
                Ok(outcome) => outcome,
                Err(error) if error.is_transient() => {
                    core.metrics.batch_retries.inc();
                    tracing::warn!(%error, command.id = %command.id, "retrying command");
                    span.set_error(&error.to_string());
                    settled.retry(delivery);
                    settled.retry_all(commands);
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, command.id = %command.id, "cannot apply command, leaving it for redelivery");
                    span.set_error(&error.to_string());
                    continue;
                }
            };
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
            core.relay_wakeup.notify_one();
            span.end();
            settled.ack(delivery.entry_id);
        }
        settled
    }
}

async fn apply_once(core: &Core, command: &Command, traceparent: Option<&str>) -> Result<CommandOutcome, StorageError> {
    let mut conn = core.pool.get().await?;
    let (outcome, changes) = conn
        .transaction(async |conn| apply_command(conn, command, traceparent, OffsetDateTime::now_utc()).await)
        .await?;
    core.metrics.observe(&changes);
    core.escalation_metrics.observe_acknowledgements(&changes);
    Ok(outcome)
}
