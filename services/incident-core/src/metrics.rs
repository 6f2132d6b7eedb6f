use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tocsin_domain::{EventKind, Incident};
use tocsin_runtime::metrics::latency_histogram;
use tocsin_storage::intake::StatusChange;
use tocsin_storage::reads::ActiveCount;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChangeLabel {
    pub change: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub action: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IncidentLabels {
    pub service: String,
    pub environment: String,
    pub severity: String,
    pub team: String,
}

impl IncidentLabels {
    fn of(incident: &Incident) -> IncidentLabels {
        IncidentLabels {
            service: incident.service.clone(),
            environment: incident.environment.clone(),
            severity: incident.severity.as_str().to_owned(),
            team: incident.team.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActiveLabels {
    pub service: String,
    pub environment: String,
    pub severity: String,
    pub team: String,
    pub status: String,
}

/// From 30 s to a day: how long it takes people to acknowledge and resolve incidents.
fn incident_duration_histogram() -> Histogram {
    Histogram::new([30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0])
}

#[derive(Clone)]
pub struct CoreMetrics {
    pub alerts_processed: Family<ChangeLabel, Counter>,
    pub incidents_opened: Family<IncidentLabels, Counter>,
    pub incidents_resolved: Family<IncidentLabels, Counter>,
    pub time_to_acknowledge: Family<IncidentLabels, Histogram>,
    pub time_to_resolve: Family<IncidentLabels, Histogram>,
    pub incidents_active: Family<ActiveLabels, Gauge>,
    /// Every active-incident series ever set, so one that empties is set to zero.
    active_series: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<ActiveLabels>>>,
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
            incidents_opened: Family::default(),
            incidents_resolved: Family::default(),
            time_to_acknowledge: Family::new_with_constructor(incident_duration_histogram as fn() -> Histogram),
            time_to_resolve: Family::new_with_constructor(incident_duration_histogram as fn() -> Histogram),
            incidents_active: Family::default(),
            active_series: Default::default(),
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
        // DESIGN.md's incident metrics. `incident_active_total` is a gauge, which Prometheus's
        // naming rules do not let end in `_total`: it is `tocsin_incidents_active`.
        registry.register("incidents_opened", "Incidents opened", metrics.incidents_opened.clone());
        registry.register(
            "incidents_resolved",
            "Incidents resolved, by people or by themselves",
            metrics.incidents_resolved.clone(),
        );
        registry.register(
            "incident_time_to_acknowledge_seconds",
            "From an incident's first alert to its acknowledgement (MTTA is its mean)",
            metrics.time_to_acknowledge.clone(),
        );
        registry.register(
            "incident_duration_seconds",
            "From an incident's first alert to its resolution, the time to resolve (MTTR is its mean)",
            metrics.time_to_resolve.clone(),
        );
        registry.register(
            "incidents_active",
            "Open and acknowledged incidents, read from PostgreSQL (every replica reports the same \
             numbers: aggregate with max, not sum)",
            metrics.incidents_active.clone(),
        );
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

impl CoreMetrics {
    /// Counts committed status changes.
    pub fn observe(&self, changes: &[StatusChange]) {
        for change in changes {
            let incident = &change.incident;
            let labels = IncidentLabels::of(incident);
            match change.kind {
                EventKind::Opened => {
                    self.incidents_opened.get_or_create(&labels).inc();
                    // The series its acknowledgement and resolution will count in exist from now
                    // on at zero, so `increase()` sees the first of each.
                    let _ = self.incidents_resolved.get_or_create(&labels);
                    let _ = self.time_to_acknowledge.get_or_create(&labels);
                    let _ = self.time_to_resolve.get_or_create(&labels);
                }
                EventKind::Acknowledged => {
                    if let Some(at) = incident.acknowledged_at {
                        let waited = (at - incident.opened_at).as_seconds_f64().max(0.0);
                        self.time_to_acknowledge.get_or_create(&labels).observe(waited);
                    }
                }
                EventKind::Resolved => {
                    self.incidents_resolved.get_or_create(&labels).inc();
                    if let Some(at) = incident.resolved_at {
                        let lasted = (at - incident.opened_at).as_seconds_f64().max(0.0);
                        self.time_to_resolve.get_or_create(&labels).observe(lasted);
                    }
                }
                _ => {}
            }
        }
    }

    /// Replaces the active-incident gauges with fresh counts; series that have no active incident
    /// any more go to zero rather than vanishing, so a graph shows the drop.
    pub fn set_active(&self, counts: &[ActiveCount]) {
        let fresh: std::collections::HashMap<ActiveLabels, i64> = counts
            .iter()
            .map(|c| {
                let labels = ActiveLabels {
                    service: c.service.clone(),
                    environment: c.environment.clone(),
                    severity: c.severity.clone(),
                    team: c.team.clone(),
                    status: c.status.clone(),
                };
                (labels, c.count)
            })
            .collect();
        let known: Vec<ActiveLabels> = match self.active_series.lock() {
            Ok(mut series) => {
                series.extend(fresh.keys().cloned());
                series.iter().cloned().collect()
            }
            Err(_) => fresh.keys().cloned().collect(),
        };
        for labels in known {
            self.incidents_active.get_or_create(&labels).set(fresh.get(&labels).copied().unwrap_or(0));
        }
    }
}
