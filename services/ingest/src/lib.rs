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
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web;
use tocsin_bus::{Backlog, Bus, BusMetrics, BusSettings, Stream};
use tocsin_runtime::http::{self, HttpSettings};
use tocsin_runtime::metrics::HttpMetrics;
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

pub struct Application {
    port: u16,
    server: Server,
    admission: web::Data<Admission>,
    bus: Bus,
    backlog: Backlog,
    tracer: Tracer,
    shutdown: CancellationToken,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and wires the service; nothing runs until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
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
        let ingest_metrics = IngestMetrics::register(&mut registry);
        let backlog = Backlog::new(&bus, Stream::Alerts, &BusMetrics::register(&mut registry));
        let readiness = Readiness::default()
            .with("redis", bus.readiness_check())
            .with("backlog", webhook::backlog_check(backlog.clone(), config.stream_max_backlog))
            .detail_for(config.tokens.clone());

        let listener = http::bind(&config.listen_addr)?;
        let port = listener.local_addr()?.port();
        let admission =
            web::Data::new(Admission::new(config.tokens.clone(), &config.admission, ingest_metrics.clone()));
        let state = web::Data::new(webhook::State {
            bus: bus.clone(),
            backlog: backlog.clone(),
            max_backlog: config.stream_max_backlog,
            metrics: ingest_metrics,
            max_body_bytes: config.max_body_bytes,
            limits: config.limits,
            tracer: tracer.clone(),
        });
        let routes_admission = admission.clone();
        let server = http::serve(
            HttpSettings { listener, workers: config.http_workers, service: "ingest", tracer: tracer.clone() },
            Metrics::new(registry),
            http_metrics,
            readiness,
            shutdown.clone(),
            move |cfg: &mut web::ServiceConfig| {
                cfg.route("/openapi.json", web::get().to(openapi::document)).service(
                    web::resource("/alerts")
                        .app_data(state.clone())
                        .app_data(routes_admission.clone())
                        .wrap(from_fn(admission::admit))
                        .route(web::post().to(webhook::receive)),
                );
            },
        )?;
        Ok(Application { port, server, admission, bus, backlog, tracer, shutdown })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until shutdown, then exports the spans still waiting.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let forgetting = tokio::spawn(self.admission.into_inner().forget_idle_keys(self.shutdown.clone()));
        let bus_work = tokio::spawn(self.bus.clone().run_in_background(vec![Stream::Alerts], self.shutdown.clone()));
        let watching = tokio::spawn(self.bus.watch_backlog(Stream::Alerts, self.backlog, self.shutdown.clone()));
        let served = self.server.await;
        self.shutdown.cancel();
        let (_, bus_work, _) = tokio::join!(forgetting, bus_work, watching);
        self.tracer.shutdown().await;
        if let Ok(Err(error)) = bus_work {
            return Err(std::io::Error::other(error));
        }
        served
    }
}
