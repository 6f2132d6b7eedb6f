//! incident-core's metrics: alerts applied, incidents opened and resolved, MTTA and MTTR, active
//! incidents, commands, the relay.
//!
//! The incident families are labelled by service, environment and team, values that come from
//! alerts: anyone who can send an alert can make a new one. [`SeriesBudget`] keeps their number
//! bounded: the first `INCIDENT_METRICS_MAX_SERIES` combinations seen by this process get series of
//! their own, every later one is counted under `other` (severity, a closed set, is always kept).

use crate::incidents::StatusChange;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tocsin_domain::{EventKind, Incident};
use tocsin_runtime::metrics::latency_histogram;
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

/// The label value every service, environment and team past the budget is counted under.
pub const OVER_BUDGET: &str = "other";

/// Which (service, environment, team) combinations have series of their own. Admission is first
/// come, first kept, for the life of the process: a series never changes meaning once it exists.
pub struct SeriesBudget {
    max: usize,
    admitted: std::sync::Mutex<std::collections::HashSet<(String, String, String)>>,
}

impl SeriesBudget {
    pub fn new(max: usize) -> SeriesBudget {
        SeriesBudget { max, admitted: Default::default() }
    }

    /// The labels to count `service`/`environment`/`team` under: their own while the budget
    /// lasts or once admitted, `other` for all three after.
    fn labels(&self, service: &str, environment: &str, team: &str) -> (String, String, String) {
        let key = (service.to_owned(), environment.to_owned(), team.to_owned());
        let Ok(mut admitted) = self.admitted.lock() else {
            return (OVER_BUDGET.into(), OVER_BUDGET.into(), OVER_BUDGET.into());
        };
        if admitted.contains(&key) || (admitted.len() < self.max && admitted.insert(key.clone())) {
            key
        } else {
            (OVER_BUDGET.into(), OVER_BUDGET.into(), OVER_BUDGET.into())
        }
    }
}

impl IncidentLabels {
    fn of(incident: &Incident, budget: &SeriesBudget) -> IncidentLabels {
        let (service, environment, team) = budget.labels(&incident.service, &incident.environment, &incident.team);
        IncidentLabels { service, environment, severity: incident.severity.as_str().to_owned(), team }
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
    /// Services in this replica's copy of the service catalogue.
    pub catalogue_services: Gauge,
    /// When that copy was last read, in Unix seconds: an old value means edits are not applied.
    pub catalogue_read_at: Gauge<f64, std::sync::atomic::AtomicU64>,
    series_budget: std::sync::Arc<SeriesBudget>,
}

impl CoreMetrics {
    /// `max_series`: `INCIDENT_METRICS_MAX_SERIES`, see [`SeriesBudget`].
    pub fn register(registry: &mut Registry, max_series: usize) -> CoreMetrics {
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
            catalogue_services: Gauge::default(),
            catalogue_read_at: Gauge::default(),
            series_budget: std::sync::Arc::new(SeriesBudget::new(max_series)),
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
        registry.register(
            "core_catalogue_services",
            "Services in this replica's copy of the service catalogue",
            metrics.catalogue_services.clone(),
        );
        registry.register(
            "core_catalogue_read_timestamp_seconds",
            "When this replica last read the service catalogue (Unix time); edits apply from the next read",
            metrics.catalogue_read_at.clone(),
        );
        metrics
    }
}

impl CoreMetrics {
    /// Counts committed status changes.
    pub fn observe(&self, changes: &[StatusChange]) {
        for change in changes {
            let incident = &change.incident;
            let labels = IncidentLabels::of(incident, &self.series_budget);
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
        let mut fresh: std::collections::HashMap<ActiveLabels, i64> = std::collections::HashMap::new();
        for c in counts {
            let (service, environment, team) = self.series_budget.labels(&c.service, &c.environment, &c.team);
            let labels =
                ActiveLabels { service, environment, severity: c.severity.clone(), team, status: c.status.clone() };
            *fresh.entry(labels).or_default() += c.count;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn opened(service: &str) -> StatusChange {
        let at = OffsetDateTime::now_utc();
        StatusChange {
            kind: EventKind::Opened,
            incident: Incident {
                id: uuid::Uuid::now_v7(),
                title: "High CPU".into(),
                service: service.into(),
                ..tocsin_testkit::open_incident(at)
            },
            acknowledged_step: None,
        }
    }

    fn series_of(registry: &Registry, family: &str) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap_or_default();
        text.lines().filter(|line| line.starts_with(family)).map(str::to_owned).collect()
    }

    /// 3,000 services from alerts make at most the budget's series plus one `other`, and the
    /// incidents past the budget are still counted.
    #[test]
    fn three_thousand_services_stay_within_the_series_budget() {
        let mut registry = tocsin_runtime::metrics::registry();
        let metrics = CoreMetrics::register(&mut registry, 100);
        let changes: Vec<StatusChange> = (0..3_000).map(|n| opened(&format!("service-{n}"))).collect();
        metrics.observe(&changes);
        metrics.observe(&changes[..10]);

        let opened = series_of(&registry, "tocsin_incidents_opened_total");
        assert_eq!(opened.len(), 101, "{:?}", &opened[..3]);
        let other = opened.iter().find(|line| line.contains(r#"service="other""#)).cloned().unwrap_or_default();
        assert!(other.ends_with(" 2900"), "{other}");
        assert!(opened.iter().any(|line| line.contains(r#"service="service-5""#) && line.ends_with(" 2")));

        let active: Vec<ActiveCount> = (0..3_000)
            .map(|n| ActiveCount {
                service: format!("service-{n}"),
                environment: "production".into(),
                severity: "critical".into(),
                team: "payments".into(),
                status: "open".into(),
                count: 1,
            })
            .collect();
        metrics.set_active(&active);
        let gauges = series_of(&registry, "tocsin_incidents_active");
        assert_eq!(gauges.len(), 101);
        assert!(gauges.iter().any(|line| line.contains(r#"service="other""#) && line.ends_with(" 2900")), "{gauges:?}");
    }
}
