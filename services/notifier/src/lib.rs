//! notifier: reads incident events from the events stream and tells people. For now it records
//! each event in its log and metrics; the delivery channels (Slack, Teams, e-mail, GitHub) plug in
//! behind the same consumer.

pub mod config;
mod events;

use crate::config::Config;
use actix_web::dev::Server;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tocsin_bus::{Bus, BusMetrics, BusSettings, Consumer, ConsumerSettings, Stream};
use tocsin_domain::IncidentEvent;
use tocsin_runtime::http::{self, HttpSettings};
use tocsin_runtime::metrics::HttpMetrics;
use tocsin_runtime::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

/// The consumer group notifier replicas share on the events stream.
pub const CONSUMER_GROUP: &str = "notifier";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct KindLabel {
    pub kind: &'static str,
}

pub struct Application {
    port: u16,
    server: Server,
    consumer: Consumer<IncidentEvent>,
    events_seen: Family<KindLabel, Counter>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let bus = Bus::connect(
            &config.redis_url,
            BusSettings { prefix: config.stream_prefix.clone(), ..BusSettings::default() },
        )?;
        let mut registry = tocsin_runtime::metrics::registry();
        let http_metrics = HttpMetrics::register(&mut registry);
        let bus_metrics = BusMetrics::register(&mut registry);
        let events_seen = Family::<KindLabel, Counter>::default();
        registry.register("notifier_events", "Incident events received, by kind", events_seen.clone());
        let consumer = Consumer::new(
            bus.clone(),
            Stream::Events,
            CONSUMER_GROUP,
            &config.consumer_name,
            ConsumerSettings {
                batch_size: 100,
                visibility_timeout: config.visibility_timeout,
                max_deliveries: config.max_deliveries,
                ..ConsumerSettings::default()
            },
            bus_metrics,
        );
        let readiness = Readiness::default().with("redis", bus.readiness_check());
        let listener = http::bind(&config.listen_addr)?;
        let port = listener.local_addr()?.port();
        let server = http::serve(
            HttpSettings { listener, workers: config.http_workers, service: "notifier" },
            Metrics::new(registry),
            http_metrics,
            readiness,
            shutdown.clone(),
            |_: &mut actix_web::web::ServiceConfig| {},
        )?;
        Ok(Application { port, server, consumer, events_seen, shutdown })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let events = tokio::spawn(events::run(self.consumer, self.events_seen, self.shutdown.clone()));
        let served = self.server.await;
        self.shutdown.cancel();
        if let Err(error) = events.await {
            tracing::error!(%error, "the event loop failed");
        }
        served
    }
}
