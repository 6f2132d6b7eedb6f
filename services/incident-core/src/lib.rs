//! incident-core: the only writer of incidents. It reads alert reports and people's commands from
//! their streams, applies them to PostgreSQL (dedup, correlation, lifecycle, timeline), writes the
//! resulting events to an outbox in the same transaction, and relays those to the events stream.
//! It also escalates incidents (pages people step by step until someone acknowledges, `escalation`),
//! holds those that open inside a maintenance window until it ends (`maintenance`), and deletes what is past its retention, archiving it first when an archive is configured.
//!
//! Several replicas can run at once: the consumer groups share the entries out, the database
//! arbitrates races, and entries a crashed replica held are claimed by the others.

mod alerts;
pub mod archival;
mod catalogue;
pub mod cli;
mod commands;
pub mod config;
pub mod escalation;
mod gauges;
pub mod incidents;
pub mod maintenance;
mod metrics;
mod relay;
pub mod retention;

use crate::config::Config;
use crate::escalation::EscalationMetrics;
use crate::incidents::{IntakeOutcome, IntakeSettings};
use crate::metrics::CoreMetrics;
use crate::retention::{Retention, RetentionMetrics, RetentionStatus};
use std::sync::{Arc, PoisonError, RwLock};
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusMetrics, Consumer, ConsumerSettings, Delivery, Stream};
use tocsin_domain::{AlertReceived, OccurrenceChange, TeamMapping};
use tocsin_runtime::Service;
use tocsin_runtime::metrics::PoolGauges;
use tocsin_runtime::traces::Tracer;
use tocsin_storage::Pool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The consumer group incident-core replicas share on the alerts and commands streams.
pub const CONSUMER_GROUP: &str = "incident-core";

/// What the loops share.
pub(crate) struct Core {
    pub pool: Pool,
    pub bus: Bus,
    /// Read once per batch ([`Core::intake`]); the catalogue task replaces it when the service
    /// catalogue changes.
    intake: RwLock<Arc<IntakeSettings>>,
    /// Transactions a large batch of alerts is split into (`alerts::shards`).
    pub apply_shards: usize,
    pub metrics: CoreMetrics,
    /// The escalation engine's, which acknowledgements observe too (time to acknowledge a step).
    pub escalation_metrics: EscalationMetrics,
    pub pool_gauges: PoolGauges,
    /// Poked after every commit, so events reach the stream without waiting for the next poll.
    pub relay_wakeup: Notify,
    pub tracer: Tracer,
}

impl Core {
    /// The settings to apply a batch with, the service catalogue as last read included.
    pub fn intake(&self) -> Arc<IntakeSettings> {
        self.intake.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Gives incidents opened from now on their team from `owners` (the service catalogue).
    pub fn set_service_owners(&self, owners: TeamMapping) {
        let mut intake = self.intake.write().unwrap_or_else(PoisonError::into_inner);
        if intake.teams != owners {
            *intake = Arc::new(IntakeSettings { teams: owners, ..IntakeSettings::clone(&intake) });
        }
    }

    fn record_outcomes(&self, batch: &[Delivery<AlertReceived>], outcomes: &[IntakeOutcome]) {
        let now = OffsetDateTime::now_utc();
        for (delivery, outcome) in batch.iter().zip(outcomes) {
            let change = outcome.change.as_str();
            self.metrics.alerts_processed.get_or_create(&metrics::ChangeLabel { change }).inc();
            let waited = (now - delivery.envelope.payload.received_at).as_seconds_f64().max(0.0);
            self.metrics.alert_latency.observe(waited);
            if outcome.change != OccurrenceChange::Refreshed && outcome.change != OccurrenceChange::Stale {
                tracing::debug!(
                    alert.fingerprint = %delivery.envelope.payload.alert.fingerprint,
                    incident.id = ?outcome.incident_id,
                    change,
                    "alert applied"
                );
            }
        }
    }
}

pub struct Application(Service);

impl Application {
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let pool = tocsin_storage::connect(config.database_url.expose(), &config.pool_settings())?;
        let bus = Bus::connect(config.redis_url.expose(), config.bus_settings())?;
        let mut service = Service::builder(config.service_settings(), shutdown)?;
        let bus_metrics = BusMetrics::register(service.registry());
        let core_metrics = CoreMetrics::register(service.registry(), config.incident_metrics_max_series);
        let pool_gauges = PoolGauges::register(service.registry());
        let retention_metrics = RetentionMetrics::register(service.registry());
        let escalation_metrics = EscalationMetrics::register(service.registry());

        let consumer_settings = ConsumerSettings {
            batch_size: config.batch_size,
            visibility_timeout: config.visibility_timeout,
            max_deliveries: config.max_deliveries,
            max_batch_bytes: config.stream_read_max_bytes,
            ..ConsumerSettings::default()
        };
        let alerts = Consumer::new(
            bus.clone(),
            Stream::Alerts,
            CONSUMER_GROUP,
            &config.consumer_name,
            consumer_settings.clone(),
            bus_metrics.clone(),
        );
        let commands = Consumer::new(
            bus.clone(),
            Stream::Commands,
            CONSUMER_GROUP,
            &config.consumer_name,
            ConsumerSettings { batch_size: 50, ..consumer_settings },
            bus_metrics,
        );

        let retention_status = RetentionStatus::new(&config.retention);
        let archive_location = config.archive.as_ref().map_or("off".to_owned(), |a| a.location().to_owned());
        let retention = Retention {
            pool: pool.clone(),
            settings: config.retention,
            archive: config.archive,
            metrics: retention_metrics,
            status: retention_status.clone(),
        };
        let catalogue_refresh = config.catalogue_refresh;
        let catalogue_seed = config.intake.teams.clone();
        let core = Arc::new(Core {
            pool: pool.clone(),
            bus: bus.clone(),
            intake: RwLock::new(Arc::new(config.intake)),
            apply_shards: config.apply_shards,
            metrics: core_metrics,
            escalation_metrics,
            pool_gauges,
            relay_wakeup: Notify::new(),
            tracer: service.tracer().clone(),
        });
        let metrics_refresh = config.metrics_refresh_interval;
        let escalation_tick = config.escalation_tick;

        service
            .check("postgres", tocsin_storage::readiness_check(&pool))
            .check("redis", bus.readiness_check())
            .detail("retention", move || retention_status.get())
            .detail("archive", move || archive_location.clone())
            .critical_task("redis upkeep", |stop| bus.run_in_background(vec![Stream::Events], stop))
            .task("alert loop", |stop| alerts::run(core.clone(), alerts, stop))
            .task("command loop", |stop| commands::run(core.clone(), commands, stop))
            .task("outbox relay", |stop| relay::run(core.clone(), stop))
            .task("escalation", |stop| escalation::task::run(core.clone(), escalation_tick, stop))
            .task("gauges", |stop| gauges::run(core.clone(), metrics_refresh, stop))
            .task("service catalogue", |stop| catalogue::run(core.clone(), catalogue_seed, catalogue_refresh, stop))
            .task("retention", |stop| retention::run(retention, stop));
        // Only the probes and metrics: incident-core serves no one else.
        let service = service.serve(|_: &mut actix_web::web::ServiceConfig| {})?;
        Ok(Application(service))
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Runs the loops beside the probes until shutdown; each loop finishes the work it holds
    /// first, and the spans still waiting are exported last.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
