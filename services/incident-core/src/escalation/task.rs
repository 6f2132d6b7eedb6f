//! The engine's background task and its metrics: every `ESCALATION_TICK`, fire what is due (all
//! of it, in rounds of [`ROUND`] rows), wake the outbox relay so the pages leave at once, and
//! count what happened.

use super::fire::{FiredSummary, fire_due};
use super::statements;
use crate::Core;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::RunQueryDsl;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_storage::StorageError;
use tokio_util::sync::CancellationToken;

/// Rows one round of a tick claims before the relay is woken and the next round starts.
pub const ROUND: usize = 100;

/// A step due for longer than this is overdue: the engine is behind, or no replica runs it.
pub const OVERDUE_AFTER: time::Duration = time::Duration::minutes(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepOutcome {
    /// `paged` (someone was paged) or `nobody` (nobody was: the next step was due at once).
    pub outcome: &'static str,
}

#[derive(Clone)]
pub struct EscalationMetrics {
    pub steps_fired: Family<StepOutcome, Counter>,
    pub exhausted: Counter,
    pub fire_delay: Histogram,
    pub overdue: Gauge,
    pub failures: Counter,
}

impl EscalationMetrics {
    pub fn register(registry: &mut Registry) -> EscalationMetrics {
        let metrics = EscalationMetrics {
            steps_fired: Family::default(),
            exhausted: Counter::default(),
            // From a millisecond to ten minutes: an engine that keeps up fires within a tick.
            fire_delay: Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
            ]),
            overdue: Gauge::default(),
            failures: Counter::default(),
        };
        registry.register(
            "escalation_steps_fired",
            "Escalation steps fired, by outcome: paged (someone was paged) or nobody (no one to page: the next step \
             fired at once)",
            metrics.steps_fired.clone(),
        );
        registry.register(
            "escalation_exhausted",
            "Escalations that fired the last step of their last pass with nobody acknowledging",
            metrics.exhausted.clone(),
        );
        registry.register(
            "escalation_fire_delay_seconds",
            "From when an escalation step was due to when it fired",
            metrics.fire_delay.clone(),
        );
        registry.register(
            "escalation_overdue",
            "Escalations whose step has been due for more than a minute, read from PostgreSQL (every replica reports \
             the same number: aggregate with max)",
            metrics.overdue.clone(),
        );
        registry.register(
            "escalation_failures",
            "Escalations that could not be fired (a policy that cannot be read), tried again a minute later",
            metrics.failures.clone(),
        );
        metrics
    }

    pub fn observe(&self, summary: &FiredSummary) {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if summary.paged > 0 {
            self.steps_fired.get_or_create(&StepOutcome { outcome: "paged" }).inc_by(count(summary.paged));
        }
        if summary.nobody > 0 {
            self.steps_fired.get_or_create(&StepOutcome { outcome: "nobody" }).inc_by(count(summary.nobody));
        }
        self.exhausted.inc_by(count(summary.ran_out));
        self.failures.inc_by(count(summary.failed));
        for delay in &summary.delays {
            self.fire_delay.observe(*delay);
        }
    }
}

pub(crate) async fn run(core: Arc<Core>, tick: Duration, metrics: EscalationMetrics, shutdown: CancellationToken) {
    loop {
        if let Err(error) = tick_once(&core, &metrics).await {
            if error.is_transient() {
                tracing::debug!(%error, "cannot fire escalations yet");
            } else {
                tracing::error!(%error, "firing escalations failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn tick_once(core: &Core, metrics: &EscalationMetrics) -> Result<(), StorageError> {
    let mut conn = core.pool.get().await?;
    let now = OffsetDateTime::now_utc();
    loop {
        let summary = fire_due(&mut conn, now, ROUND).await?;
        metrics.observe(&summary);
        if summary.fired() > 0 {
            core.relay_wakeup.notify_one();
        }
        if summary.claimed < ROUND {
            break;
        }
    }
    let overdue: Count = diesel::sql_query(statements::OVERDUE)
        .bind::<Timestamptz, _>(now - OVERDUE_AFTER)
        .get_result(&mut conn)
        .await?;
    metrics.overdue.set(overdue.n);
    Ok(())
}
