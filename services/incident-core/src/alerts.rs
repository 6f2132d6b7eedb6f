//! The alerts stream's handler: applies a batch of alert reports in one transaction, and has the
//! bus's consumer loop acknowledge the entries only after it committed, or hold and retry them
//! while the database is away.
//!
//! A large batch is split by correlation key into `APPLY_SHARDS` transactions that run at once on
//! their own connections. Alerts of one key always land in the same shard, so the shards touch
//! disjoint incidents and never wait on each other's locks; while PostgreSQL works on one shard,
//! incident-core prepares the next statement of another. Small batches, which is every batch at
//! ordinary rates, stay one transaction: splitting them would only add commits.
//!
//! Traces: a batch holds alerts of many traces. Each alert that arrived with a trace context gets
//! an "apply alert" span in its own trace, and the events it causes carry that span's context (the
//! outbox keeps it), so the relay's and the notifier's spans join the alert's trace. One "apply
//! alerts" span per batch covers the transaction and links to those alerts; each alert's span
//! links back to it.

use crate::Core;
use crate::incidents::{IntakeBatch, IntakeOutcome, IntakeSettings, apply_alerts};
use futures_util::future::join_all;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_bus::{Consumer, Delivery, Handler, Settled};
use tocsin_domain::{AlertReceived, IncidentFacts};
use tocsin_runtime::traces::{SpanKind, TraceSpan};
use tocsin_storage::AsyncConnection;
use tocsin_storage::StorageError;
use tokio_util::sync::CancellationToken;

/// Reads alert reports and applies them, batch by batch, until shutdown: the bus's consumer loop
/// (`tocsin_bus::Consumer::run`) with [`ApplyAlerts`]. Read, apply, acknowledge, in turn. Reading
/// the next batch while this one commits was tried and measured: no more throughput, and a p99
/// several times worse at 1,000 alerts/s (docs/benchmarks.md).
pub async fn run(core: Arc<Core>, consumer: Consumer<AlertReceived>, shutdown: CancellationToken) {
    consumer.run(ApplyAlerts { core }, shutdown).await;
}

/// The handler of the alerts stream.
struct ApplyAlerts {
    core: Arc<Core>,
}

impl Handler<AlertReceived> for ApplyAlerts {
    /// Applies a batch shard by shard, says what committed, and wakes the relay.
    async fn handle(
        &mut self,
        batch: Vec<Delivery<AlertReceived>>,
        consumer: &Consumer<AlertReceived>,
    ) -> Settled<AlertReceived> {
        let core = &self.core;
        // One reading of the settings for the whole batch: the shards are cut by the correlation
        // keys the transactions will compute, even if the service catalogue changes meanwhile.
        let intake = core.intake();
        let shards = shards(batch, core.apply_shards, &intake);
        let settled = join_all(shards.into_iter().map(|shard| apply(core, &intake, consumer, shard))).await;
        core.relay_wakeup.notify_one();
        settled.into_iter().collect()
    }
}

/// Batches smaller than this are applied as one transaction whatever `APPLY_SHARDS` says.
const SHARD_FROM: usize = 100;

/// The batch split by correlation key into at most `count` non-empty shards, in stream order
/// within each; a batch smaller than [`SHARD_FROM`] is one shard.
fn shards(
    batch: Vec<Delivery<AlertReceived>>,
    count: usize,
    intake: &IntakeSettings,
) -> Vec<Vec<Delivery<AlertReceived>>> {
    if count <= 1 || batch.len() < SHARD_FROM {
        return vec![batch];
    }
    let mut shards: Vec<Vec<_>> = (0..count).map(|_| Vec::with_capacity(batch.len() / count + 1)).collect();
    for delivery in batch {
        let alert = &delivery.envelope.payload.alert;
        let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &intake.teams);
        let mut hasher = DefaultHasher::new();
        intake.correlation.key(&facts, &alert.labels).as_str().hash(&mut hasher);
        shards[(hasher.finish() % count as u64) as usize].push(delivery);
    }
    shards.retain(|shard| !shard.is_empty());
    shards
}

/// Applies a shard in one transaction. An outage or a contended transaction hands the shard back
/// to be retried after a backoff, held meanwhile. An error that retrying will not cure has the
/// shard applied again one alert at a time: the alerts that commit are acknowledged, and the one
/// that fails is left pending, so it comes back after the visibility timeout and, after
/// `MAX_DELIVERIES`, lands in the dead-letter stream.
async fn apply(
    core: &Core,
    intake: &IntakeSettings,
    consumer: &Consumer<AlertReceived>,
    mut batch: Vec<Delivery<AlertReceived>>,
) -> Settled<AlertReceived> {
    // Oldest alert first, so the alert that started an incident is the one that opens it; and one
    // lock order for every replica, so concurrent batches rarely deadlock. The sort is stable:
    // reports of one occurrence keep their stream order.
    batch.sort_by(|a, b| {
        let (a, b) = (&a.envelope.payload.alert, &b.envelope.payload.alert);
        (a.starts_at, &a.fingerprint).cmp(&(b.starts_at, &b.fingerprint))
    });
    let (mut spans, traceparents) = BatchSpans::start(core, consumer, &batch);
    let traces: Vec<Option<&str>> = traceparents.iter().map(Option::as_deref).collect();
    let mut settled = Settled::default();
    match apply_recorded(core, intake, &batch, &traces).await {
        Ok(outcomes) => {
            for (index, outcome) in outcomes.iter().enumerate() {
                spans.applied(index, outcome);
            }
            settled.ack_all(&batch);
        }
        Err(error) if error.is_transient() => {
            core.metrics.batch_retries.inc();
            tracing::warn!(%error, alerts = batch.len(), "retrying alert batch");
            spans.retrying(&error.to_string());
            settled.retry_all(batch);
        }
        Err(error) => {
            tracing::warn!(%error, "a batch failed; applying its alerts one by one to isolate the cause");
            spans.batch.set_error(&error.to_string());
            for (index, delivery) in batch.into_iter().enumerate() {
                let trace = traces.get(index).map(std::slice::from_ref).unwrap_or_default();
                match apply_recorded(core, intake, std::slice::from_ref(&delivery), trace).await {
                    Ok(outcomes) => {
                        if let Some(outcome) = outcomes.first() {
                            spans.applied(index, outcome);
                        }
                        settled.ack(delivery.entry_id);
                    }
                    Err(error) if error.is_transient() => {
                        core.metrics.batch_retries.inc();
                        tracing::warn!(%error, entry.id = %delivery.entry_id, "retrying alert");
                        spans.failed(index, &error.to_string());
                        settled.retry(delivery);
                    }
                    Err(error) => {
                        spans.failed(index, &error.to_string());
                        tracing::error!(
                            %error,
                            entry.id = %delivery.entry_id,
                            alert.fingerprint = %delivery.envelope.payload.alert.fingerprint,
                            "cannot apply alert, leaving it for redelivery"
                        )
                    }
                }
            }
        }
    }
    settled
}

/// The spans of a batch (see the module's header). Empty, and allocating nothing, when no alert of
/// the batch arrived traced: every batch when traces are off.
#[derive(Default)]
struct BatchSpans {
    batch: TraceSpan,
    /// One per alert of the batch, in its order; empty spans for untraced alerts.
    alerts: Vec<TraceSpan>,
}

impl BatchSpans {
    /// The spans, and each alert's `traceparent` for the events it causes.
    fn start(
        core: &Core,
        consumer: &Consumer<AlertReceived>,
        batch: &[Delivery<AlertReceived>],
    ) -> (BatchSpans, Vec<Option<String>>) {
        if !core.tracer.is_on() || batch.iter().all(|delivery| delivery.envelope.traceparent.is_none()) {
            return (BatchSpans::default(), Vec::new());
        }
        let mut batch_span = core.tracer.start("apply alerts", SpanKind::Consumer, None);
        batch_span.set_i64("messaging.batch.message_count", batch.len() as i64);
        let batch_context = batch_span.context();
        let mut alerts = Vec::with_capacity(batch.len());
        let mut traceparents = Vec::with_capacity(batch.len());
        for delivery in batch {
            let mut span = consumer.span(&core.tracer, "apply alert", delivery);
            if let Some(producer) = delivery.envelope.trace_context() {
                batch_span.link(&producer);
            }
            if let Some(batch_context) = &batch_context {
                span.link(batch_context);
            }
            span.set_str("alert.fingerprint", &delivery.envelope.payload.alert.fingerprint);
            traceparents.push(span.traceparent());
            alerts.push(span);
        }
        (BatchSpans { batch: batch_span, alerts }, traceparents)
    }

    fn applied(&mut self, index: usize, outcome: &IntakeOutcome) {
        let Some(span) = self.alerts.get_mut(index).filter(|span| span.is_recording()) else { return };
        span.set_str("alert.change", outcome.change.as_str());
        if let Some(incident_id) = outcome.incident_id {
            span.set_str("incident.id", &incident_id.to_string());
        }
    }

    fn failed(&mut self, index: usize, error: &str) {
        if let Some(span) = self.alerts.get_mut(index) {
            span.set_error(error);
        }
    }

    /// The attempt failed for want of the database; the next one has spans of its own.
    fn retrying(&mut self, error: &str) {
        self.batch.set_error(error);
        for span in &mut self.alerts {
            span.set_error(error);
        }
    }
}

/// Applies `batch` in one transaction and counts what it did; what each alert did, in order.
async fn apply_recorded(
    core: &Core,
    intake: &IntakeSettings,
    batch: &[Delivery<AlertReceived>],
    traces: &[Option<&str>],
) -> Result<Vec<IntakeOutcome>, StorageError> {
    let applied = apply_once(core, intake, batch, traces).await?;
    core.record_outcomes(batch, &applied.outcomes);
    core.metrics.observe(&applied.transitions);
    Ok(applied.outcomes)
}

async fn apply_once(
    core: &Core,
    intake: &IntakeSettings,
    batch: &[Delivery<AlertReceived>],
    traces: &[Option<&str>],
) -> Result<IntakeBatch, StorageError> {
    let mut conn = core.pool.get().await?;
    // Borrowed, not cloned: this runs for every batch, and again on every retry.
    let reports: Vec<&AlertReceived> = batch.iter().map(|delivery| &delivery.envelope.payload).collect();
    conn.transaction(async |conn| apply_alerts(conn, &reports, traces, intake, OffsetDateTime::now_utc()).await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};
    use tocsin_bus::Envelope;
    use tocsin_domain::{AlertState, ObservedAlert};

    /// Alert `n` of service `service-<n % services>`: with the default correlation fields, one key
    /// per service.
    fn delivery(n: usize, services: usize) -> Delivery<AlertReceived> {
        let labels: BTreeMap<String, String> = [
            ("alertname", "HighLatency".to_owned()),
            ("service", format!("service-{}", n % services)),
            ("environment", "production".to_owned()),
            ("severity", "critical".to_owned()),
            ("instance", format!("host-{n}")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let alert = ObservedAlert {
            fingerprint: format!("{n:016x}"),
            starts_at: OffsetDateTime::UNIX_EPOCH,
            ends_at: None,
            state: AlertState::Firing,
            labels,
            annotations: BTreeMap::new(),
            generator_url: String::new(),
        };
        let report = AlertReceived {
            alert,
            received_at: OffsetDateTime::UNIX_EPOCH,
            receiver: "tocsin".into(),
            group_key: "{}:{}".into(),
            external_url: "http://alertmanager:9093".into(),
        };
        Delivery { entry_id: format!("{n}-0"), envelope: Envelope::new(report) }
    }

    fn service_of(delivery: &Delivery<AlertReceived>) -> &str {
        delivery.envelope.payload.alert.labels.get("service").map_or("", String::as_str)
    }

    fn numbers(shard: &[Delivery<AlertReceived>]) -> Vec<usize> {
        shard.iter().filter_map(|delivery| delivery.entry_id.strip_suffix("-0")?.parse().ok()).collect()
    }

    #[test]
    fn a_large_batch_is_split_by_key_and_every_alert_lands_once() {
        let batch: Vec<_> = (0..500).map(|n| delivery(n, 40)).collect();
        let shards = shards(batch, 2, &IntakeSettings::default());
        assert_eq!(shards.len(), 2, "40 keys over two shards leave neither empty");
        let mut seen = HashSet::new();
        let mut services_per_shard = Vec::new();
        for shard in &shards {
            let services: HashSet<&str> = shard.iter().map(service_of).collect();
            services_per_shard.push(services);
            let in_order = numbers(shard);
            assert!(in_order.windows(2).all(|pair| pair[0] < pair[1]), "stream order within a shard");
            seen.extend(in_order);
        }
        assert_eq!(seen.len(), 500, "every alert in exactly one shard");
        assert!(
            services_per_shard[0].is_disjoint(&services_per_shard[1]),
            "a key's alerts all go to one shard, so the shards' transactions touch different incidents"
        );
    }

    #[test]
    fn small_batches_and_one_shard_stay_one_transaction() {
        let small: Vec<_> = (0..SHARD_FROM - 1).map(|n| delivery(n, 40)).collect();
        assert_eq!(shards(small, 4, &IntakeSettings::default()).len(), 1);
        let large: Vec<_> = (0..500).map(|n| delivery(n, 40)).collect();
        let one = shards(large, 1, &IntakeSettings::default());
        assert_eq!(one.len(), 1);
        assert_eq!(numbers(&one[0]), (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn one_key_is_one_shard_however_many_are_allowed() {
        let batch: Vec<_> = (0..300).map(|n| delivery(n, 1)).collect();
        let shards = shards(batch, 4, &IntakeSettings::default());
        assert_eq!(shards.len(), 1, "empty shards are dropped");
        assert_eq!(shards[0].len(), 300);
    }
}
