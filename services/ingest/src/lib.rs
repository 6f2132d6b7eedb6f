//! ingest: the public webhook. Takes Alertmanager's webhook on `POST /alerts`, checks its source,
//! its rate, its bearer token (`admission`) and its payload, and puts one entry per alert on the
//! alerts stream. It answers 202 only once Redis holds every alert of the webhook, and 503 when
//! Redis is unreachable, so Alertmanager retries and nothing is lost. It never touches PostgreSQL.

pub mod admission;
pub mod config;
mod metrics;
pub mod openapi;
mod webhook;

use crate::admission::Admission;
use crate::config::Config;
use crate::metrics::IngestMetrics;
use actix_web::middleware::from_fn;
use actix_web::web;
use tocsin_bus::{Backlog, Bus, BusMetrics, Stream};
use tocsin_runtime::Service;
use tokio_util::sync::CancellationToken;

pub struct Application(Service);

impl Application {
    /// Binds the listener (port 0 picks a free one) and wires the service; nothing runs until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let bus = Bus::connect(config.redis_url.expose(), config.bus_settings())?;
        let mut service = Service::builder(config.service_settings(), shutdown)?;
        let ingest_metrics = IngestMetrics::register(service.registry());
        let backlog = Backlog::new(&bus, Stream::Alerts, &BusMetrics::register(service.registry()));
        let admission =
            web::Data::new(Admission::new(config.tokens.clone(), &config.admission, ingest_metrics.clone()));
        let state = web::Data::new(webhook::State {
            bus: bus.clone(),
            backlog: backlog.clone(),
            max_backlog: config.stream_max_backlog,
            metrics: ingest_metrics,
            max_body_bytes: config.max_body_bytes,
            limits: config.limits,
            durability: config.durability,
            tracer: service.tracer().clone(),
        });

        service
            .check("redis", bus.readiness_check())
            .check("backlog", webhook::backlog_check(backlog.clone(), config.stream_max_backlog))
            .critical_task("redis upkeep", |stop| bus.clone().run_in_background(vec![Stream::Alerts], stop))
            .task("backlog", |stop| bus.clone().watch_backlog(Stream::Alerts, backlog, stop))
            .task("rate-limit keys", |stop| admission.clone().into_inner().forget_idle_keys(stop));
        let service = service.serve(move |routes: &mut web::ServiceConfig| {
            routes.route("/openapi.json", web::get().to(openapi::document)).service(
                web::resource("/alerts")
                    .app_data(state.clone())
                    .app_data(admission.clone())
                    .wrap(from_fn(admission::admit))
                    .route(web::post().to(webhook::receive)),
            );
        })?;
        Ok(Application(service))
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until shutdown, then lets the background work finish and exports the spans still
    /// waiting.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
