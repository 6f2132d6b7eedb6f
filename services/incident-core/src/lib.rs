//! incident-core: the only writer of incidents. It reads alert reports and people's commands from
//! their streams, applies them to PostgreSQL (dedup, correlation, lifecycle, timeline), writes the
//! resulting events to an outbox in the same transaction, and relays those to the events stream.
//! It also deletes what is past its retention, archiving it first when an archive is configured.
//!
//! Several replicas can run at once: the consumer groups share the entries out, the database
//! arbitrates races, and entries a crashed replica held are claimed by the others.

mod alerts;
mod commands;
pub mod config;
mod gauges;
pub mod incidents;
pub mod maintenance;
mod metrics;
mod relay;
pub mod retention;
mod retry;

use crate::config::Config;
use crate::incidents::{IntakeOutcome, IntakeSettings};
use crate::metrics::CoreMetrics;
use crate::retention::{Retention, RetentionMetrics, RetentionStatus};
use actix_web::dev::Server;
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, Delivery, Stream};
use tocsin_domain::{AlertReceived, Command, OccurrenceChange};
use tocsin_runtime::http::{self, HttpSettings};
use tocsin_runtime::metrics::HttpMetrics;
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{Metrics, Readiness};
use tocsin_storage::{Pool, PoolSettings};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The consumer group incident-core replicas share on the alerts and commands streams.
pub const CONSUMER_GROUP: &str = "incident-core";

/// What the loops share.
pub(crate) struct Core {
    pub pool: Pool,
    pub bus: Bus,
    pub intake: IntakeSettings,
    /// Transactions a large batch of alerts is split into (`alerts::shards`).
    pub apply_shards: usize,
    pub metrics: CoreMetrics,
    pub pool_gauges: tocsin_runtime::metrics::PoolGauges,
    /// Poked after every commit, so events reach the stream without waiting for the next poll.
    pub relay_wakeup: Notify,
    pub tracer: Tracer,
}

impl Core {
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

pub struct Application {
    port: u16,
    server: Server,
    core: Arc<Core>,
    alerts: Consumer<AlertReceived>,
    commands: Consumer<Command>,
    metrics_refresh: std::time::Duration,
    retention: Retention,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let pool = tocsin_storage::connect(
            config.database_url.expose(),
            &PoolSettings { max_connections: config.database_pool_size, ..PoolSettings::default() },
        )?;
        let bus = Bus::connect(
            config.redis_url.expose(),
            BusSettings {
                prefix: config.stream_prefix.clone(),
                max_age: config.stream_max_age,
                ..BusSettings::default()
            },
        )?;
        let tracer = Tracer::install(config.otel.as_ref())?;
        let mut registry = tocsin_runtime::metrics::registry();
        let http_metrics = HttpMetrics::register(&mut registry);
        let bus_metrics = BusMetrics::register(&mut registry);
        let core_metrics = CoreMetrics::register(&mut registry, config.incident_metrics_max_series);
        let pool_gauges = tocsin_runtime::metrics::PoolGauges::register(&mut registry);
        let retention_metrics = RetentionMetrics::register(&mut registry);

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
        let readiness = Readiness::default()
            .detail_for(config.operator_tokens.clone())
            .with("postgres", tocsin_storage::readiness_check(&pool))
            .with("redis", bus.readiness_check())
            .with_detail("retention", {
                let status = retention_status.clone();
                move || status.get()
            })
            .with_detail("archive", move || archive_location.clone());
        let listener = http::bind(&config.listen_addr)?;
        let port = listener.local_addr()?.port();
        let server = http::serve(
            HttpSettings { listener, workers: config.http_workers, service: "incident-core", tracer: tracer.clone() },
            Metrics::new(registry),
            http_metrics,
            readiness,
            shutdown.clone(),
            |_: &mut actix_web::web::ServiceConfig| {},
        )?;
        let retention = Retention {
            pool: pool.clone(),
            settings: config.retention,
            archive: config.archive,
            metrics: retention_metrics,
            status: retention_status,
        };
        let core = Arc::new(Core {
            pool,
            bus,
            intake: config.intake,
            apply_shards: config.apply_shards,
            metrics: core_metrics,
            pool_gauges,
            relay_wakeup: Notify::new(),
            tracer,
        });
        let metrics_refresh = config.metrics_refresh_interval;
        Ok(Application { port, server, core, alerts, commands, metrics_refresh, retention, shutdown })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs the HTTP server and the loops until shutdown; each loop finishes the work it
    /// holds first, and the spans still waiting are exported last.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let alert_loop = tokio::spawn(alerts::run(self.core.clone(), self.alerts, self.shutdown.clone()));
        let command_loop = tokio::spawn(commands::run(self.core.clone(), self.commands, self.shutdown.clone()));
        let relay_loop = tokio::spawn(relay::run(self.core.clone(), self.shutdown.clone()));
        let gauge_loop = tokio::spawn(gauges::run(self.core.clone(), self.metrics_refresh, self.shutdown.clone()));
        let retention_loop = tokio::spawn(retention::run(self.retention, self.shutdown.clone()));
        let bus_work =
            tokio::spawn(self.core.bus.clone().run_in_background(vec![Stream::Events], self.shutdown.clone()));
        let served = self.server.await;
        // The server stops on the same token; the loops finish their batch.
        self.shutdown.cancel();
        let loops = vec![
            ("alert loop", alert_loop),
            ("command loop", command_loop),
            ("outbox relay", relay_loop),
            ("gauges", gauge_loop),
            ("retention", retention_loop),
        ];
        tocsin_runtime::shutdown::join_within(loops, tocsin_runtime::shutdown::DRAIN_TIMEOUT).await;
        self.core.tracer.shutdown().await;
        // A Redis too old for the bus stops the service, and it exits with why.
        if let Ok(Err(error)) = bus_work.await {
            return Err(std::io::Error::other(error));
        }
        served
    }
}
