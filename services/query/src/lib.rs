//! query: the read side and the front door for people. Lists and shows incidents from PostgreSQL
//! (read only), turns people's actions into commands for incident-core, streams incident events to
//! the dashboard (`/events`), serves the dashboard itself and the OpenAPI document. Reading the
//! incidents and the live feed needs a token with the `read` scope, acting one with `act`
//! (`tocsin_runtime::auth`). Every answer carries the browser security headers
//! (`security_headers`).

mod actions;
pub mod config;
mod dashboard;
mod errors;
mod incidents;
mod live;
pub mod openapi;
mod security_headers;

use crate::config::Config;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use std::time::Duration;
use tocsin_bus::{Bus, BusSettings};
use tocsin_runtime::auth::{self, Scope};
use tocsin_runtime::http::{self, HttpSettings};
use tocsin_runtime::metrics::HttpMetrics;
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{Metrics, Readiness};
use tocsin_storage::{Pool, PoolSettings};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

pub(crate) struct State {
    pub pool: Pool,
    pub bus: Bus,
    pub action_timeout: Duration,
    pub live: live::LiveFeed,
    pub shutdown: CancellationToken,
    pub tracer: Tracer,
}

pub struct Application {
    port: u16,
    server: Server,
    pool: Pool,
    pool_gauges: tocsin_runtime::metrics::PoolGauges,
    live: live::LiveFeed,
    bus: Bus,
    tracer: Tracer,
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
        let pool_gauges = tocsin_runtime::metrics::PoolGauges::register(&mut registry);
        let live_clients = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("query_live_clients", "Pages connected to the live feed (/events)", live_clients.clone());
        let live = live::LiveFeed::new(live_clients, config.live);
        // Ready when it can read: PostgreSQL. Without Redis the reads still work and actions
        // answer 503, which is better than taking the whole API out of rotation.
        let readiness = Readiness::default()
            .with("postgres", tocsin_storage::readiness_check(&pool))
            .detail_for(config.tokens.clone());

        let listener = http::bind(&config.listen_addr)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(State {
            pool: pool.clone(),
            bus: bus.clone(),
            action_timeout: config.action_timeout,
            live: live.clone(),
            shutdown: shutdown.clone(),
            tracer: tracer.clone(),
        });
        let web_root = config.web_root.clone();
        let tokens = config.tokens.clone();
        let security_headers = web::Data::new(security_headers::SecurityHeaders::new(config.hsts_max_age));
        let server = http::serve(
            HttpSettings { listener, workers: config.http_workers, service: "query", tracer: tracer.clone() },
            Metrics::new(registry),
            http_metrics,
            readiness,
            shutdown.clone(),
            move |cfg: &mut web::ServiceConfig| {
                let read = || auth::require(&tokens, Scope::Read);
                let act = || auth::require(&tokens, Scope::Act);
                let web_root = web_root.clone();
                cfg.service(
                    web::scope("")
                        .app_data(security_headers.clone())
                        .wrap(from_fn(security_headers::add))
                        .route("/openapi.json", web::get().to(openapi_document))
                        .service(
                            web::scope("/incidents")
                                .app_data(state.clone())
                                .service(web::resource("").wrap(read()).route(web::get().to(incidents::list)))
                                .service(web::resource("/{id}").wrap(read()).route(web::get().to(incidents::get)))
                                .service(
                                    web::resource("/{id}/alerts").wrap(read()).route(web::get().to(incidents::alerts)),
                                )
                                .service(
                                    web::resource("/{id}/timeline")
                                        .wrap(read())
                                        .route(web::get().to(incidents::timeline)),
                                )
                                .service(
                                    web::resource("/{id}/acknowledge")
                                        .wrap(act())
                                        .route(web::post().to(actions::acknowledge)),
                                )
                                .service(
                                    web::resource("/{id}/resolve")
                                        .wrap(act())
                                        .route(web::post().to(actions::resolve_one)),
                                )
                                .service(
                                    web::resource("/{id}/reopen").wrap(act()).route(web::post().to(actions::reopen)),
                                )
                                .service(
                                    web::resource("/{id}/assign").wrap(act()).route(web::post().to(actions::assign)),
                                ),
                        )
                        .service(
                            web::resource("/resolve")
                                .app_data(state.clone())
                                .wrap(act())
                                .route(web::post().to(actions::resolve)),
                        )
                        .service(
                            web::resource("/events")
                                .app_data(state.clone())
                                .wrap(read())
                                .route(web::get().to(live::events)),
                        )
                        // Last: the dashboard answers whatever the API does not.
                        .configure(move |cfg| dashboard::mount(cfg, web_root.as_deref())),
                );
            },
        )?;
        Ok(Application { port, server, pool, pool_gauges, live, bus, tracer, shutdown })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let bus_work =
            tokio::spawn(self.bus.clone().run_in_background(vec![tocsin_bus::Stream::Commands], self.shutdown.clone()));
        let follower = tokio::spawn(self.live.follow(self.bus, self.shutdown.clone()));
        let pool = self.pool;
        let gauge_loop = tokio::spawn(self.pool_gauges.keep_updated(self.shutdown.clone(), move || {
            let usage = tocsin_storage::pool_usage(&pool);
            (usage.in_use, usage.idle, usage.max, usage.waiting)
        }));
        let served = self.server.await;
        self.shutdown.cancel();
        let _ = gauge_loop.await;
        let _ = follower.await;
        self.tracer.shutdown().await;
        // A Redis too old for the bus stops the service, and it exits with why.
        if let Ok(Err(error)) = bus_work.await {
            return Err(std::io::Error::other(error));
        }
        served
    }
}

async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(openapi::ApiDoc::openapi())
}
