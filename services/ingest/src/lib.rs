//! ingest: the public webhook. Takes Alertmanager's webhook on `POST /alerts`, checks the bearer
//! token and the payload, and puts one entry per alert on the alerts stream. It answers 202 only
//! once Redis holds every alert of the webhook, and 503 when Redis is unreachable, so Alertmanager
//! retries and nothing is lost. It never touches PostgreSQL.

pub mod config;
mod metrics;
mod webhook;

use crate::config::Config;
use crate::metrics::IngestMetrics;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web;
use tocsin_bus::{Bus, BusSettings};
use tocsin_runtime::auth::{RequiredToken, require_bearer};
use tocsin_runtime::http::{self, HttpSettings};
use tocsin_runtime::metrics::HttpMetrics;
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

pub struct Application {
    port: u16,
    server: Server,
    tracer: Tracer,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and wires the service; nothing runs until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let bus = Bus::connect(
            &config.redis_url,
            BusSettings {
                prefix: config.stream_prefix.clone(),
                max_age: config.stream_max_age,
                ..BusSettings::default()
            },
        )?;
        let tracer = Tracer::install(config.otel.as_ref())?;
        let mut registry = tocsin_runtime::metrics::registry();
        let http_metrics = HttpMetrics::register(&mut registry);
        let ingest_metrics = IngestMetrics::register(&mut registry);
        let readiness = Readiness::default().with("redis", bus.readiness_check());

        let listener = http::bind(&config.listen_addr)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(webhook::State {
            bus,
            metrics: ingest_metrics,
            max_body_bytes: config.max_body_bytes,
            tracer: tracer.clone(),
        });
        let token = web::Data::new(RequiredToken(config.ingest_token.clone()));
        let server = http::serve(
            HttpSettings { listener, workers: config.http_workers, service: "ingest", tracer: tracer.clone() },
            Metrics::new(registry),
            http_metrics,
            readiness,
            shutdown,
            move |cfg: &mut web::ServiceConfig| {
                cfg.service(
                    web::resource("/alerts")
                        .app_data(state.clone())
                        .app_data(token.clone())
                        .wrap(from_fn(require_bearer))
                        .route(web::post().to(webhook::receive)),
                );
            },
        )?;
        Ok(Application { port, server, tracer })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until shutdown, then exports the spans still waiting.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.tracer.shutdown().await;
        served
    }
}
