use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tocsin_runtime::metrics::latency_histogram;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChangeLabel {
    pub change: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub action: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone)]
pub struct CoreMetrics {
    pub alerts_processed: Family<ChangeLabel, Counter>,
    pub incidents_opened: Counter,
    pub commands_processed: Family<OutcomeLabel, Counter>,
    pub events_relayed: Counter,
    pub batch_retries: Counter,
    /// From ingest accepting an alert to its change being committed.
    pub alert_latency: Histogram,
}

impl CoreMetrics {
    pub fn register(registry: &mut Registry) -> CoreMetrics {
        let metrics = CoreMetrics {
            alerts_processed: Family::default(),
            incidents_opened: Counter::default(),
            commands_processed: Family::default(),
            events_relayed: Counter::default(),
            batch_retries: Counter::default(),
            alert_latency: latency_histogram(),
        };
        registry.register(
            "core_alerts_processed",
            "Alert reports applied, by what they changed (opened, refreshed, resolved, stale, ...)",
            metrics.alerts_processed.clone(),
        );
        registry.register("core_incidents_opened", "Incidents opened", metrics.incidents_opened.clone());
        registry.register(
            "core_commands_processed",
            "Commands applied or rejected, by action and outcome",
            metrics.commands_processed.clone(),
        );
        registry.register(
            "core_events_relayed",
            "Incident events moved from the outbox to the events stream",
            metrics.events_relayed.clone(),
        );
        registry.register(
            "core_batch_retries",
            "Transactions run again after the database was unavailable or a concurrent writer won",
            metrics.batch_retries.clone(),
        );
        registry.register(
            "core_alert_commit_latency_seconds",
            "Time from ingest accepting an alert to incident-core committing it",
            metrics.alert_latency.clone(),
        );
        metrics
    }
}
