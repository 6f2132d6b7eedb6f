//! query: the read side and the front door for people. Lists and shows incidents from PostgreSQL
//! (never writing them: it writes only the service catalogue, teams' members, on-call schedules,
//! escalation policies (`escalation_policies`), maintenance windows (`maintenance`), people's contact methods and notification rules with the test pages they ask the notifier for
//! (`contacts`), their audit log and its sign-in tables), answers who is on call (`schedules`), turns people's
//! actions into commands for incident-core, streams incident events to the dashboard (`/events`),
//! serves the dashboard itself and the OpenAPI document. Reading the incidents and the live feed
//! needs a token with the `read` scope, acting one with `act` (`tocsin_runtime::auth`), or, with
//! sign-in on, a person's session (`sign_in`), whose roles in teams say which incidents they may
//! act on and which teams they manage (`authorization`). Every answer carries the browser security
//! headers (`security_headers`).

mod actions;
mod authorization;
mod catalogue;
pub mod config;
mod contacts;
mod dashboard;
mod errors;
mod escalation_policies;
mod incidents;
mod live;
mod maintenance;
pub mod openapi;
mod schedules;
mod security_headers;
pub mod sign_in;
mod teams;
mod tokens;

use crate::config::Config;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use std::time::Duration;
use tocsin_bus::{Bus, BusSettings, Stream};
use tocsin_domain::roles::DefaultRole;
use tocsin_runtime::auth::Scope;
use tocsin_runtime::metrics::PoolGauges;
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{Service, ServiceSettings};
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
    /// The role a signed-in person holds in a team they are not a member of.
    pub default_role: DefaultRole,
}

impl State {
    pub async fn connection(&self) -> Result<tocsin_storage::PooledConnection, tocsin_runtime::ApiError> {
        errors::connection(&self.pool).await
    }
}

pub struct Application(Service);

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
        let mut service = Service::builder(
            ServiceSettings {
                name: "query",
                listen_addr: &config.listen_addr,
                http_workers: config.http_workers,
                otel: config.otel.as_ref(),
                operator_tokens: config.tokens.clone(),
            },
            shutdown,
        )?;
        let pool_gauges = PoolGauges::register(service.registry());
        let live_clients = prometheus_client::metrics::gauge::Gauge::default();
        service.registry().register(
            "query_live_clients",
            "Pages connected to the live feed (/events)",
            live_clients.clone(),
        );
        let live = live::LiveFeed::new(live_clients, config.live);
        let state = web::Data::new(State {
            pool: pool.clone(),
            bus: bus.clone(),
            action_timeout: config.action_timeout,
            live: live.clone(),
            shutdown: service.shutdown_token(),
            tracer: service.tracer().clone(),
            default_role: config.sign_in.as_ref().map(|settings| settings.default_role).unwrap_or_default(),
        });

        // Sign-in, when configured: the provider is discovered at the first sign-in, not here.
        let sign_in_state = match &config.sign_in {
            Some(settings) => {
                let outcomes = prometheus_client::metrics::family::Family::default();
                service.registry().register(
                    "query_sign_ins",
                    "Sign-ins back from the identity provider (GET /auth/callback), by outcome",
                    outcomes.clone(),
                );
                Some(web::Data::new(sign_in::SignIn::new(settings, pool.clone(), outcomes)?))
            }
            None => None,
        };
        let access = sign_in::access::Access::new(config.tokens.clone(), sign_in_state.as_ref().map(|_| pool.clone()));

        // Ready when it can read: PostgreSQL. Without Redis the reads still work and actions
        // answer 503, which is better than taking the whole API out of rotation.
        service
            .check("postgres", tocsin_storage::readiness_check(&pool))
            .critical_task("redis upkeep", |stop| bus.clone().run_in_background(vec![Stream::Commands], stop))
            .task("live feed", |stop| live.follow(bus, stop))
            .task("pool gauges", |stop| {
                pool_gauges.keep_updated(stop, move || {
                    let usage = tocsin_storage::pool_usage(&pool);
                    (usage.in_use, usage.idle, usage.max, usage.waiting)
                })
            });
        let web_root = config.web_root.clone();
        let security_headers = web::Data::new(security_headers::SecurityHeaders::new(config.hsts_max_age));
        let service = service.serve(move |routes: &mut web::ServiceConfig| {
            let read = || sign_in::access::require(&access, Scope::Read);
            let act = || sign_in::access::require(&access, Scope::Act);
            let admin = || sign_in::access::require(&access, Scope::Admin);
            // Changes to a team (members, schedules, escalation policies): a token with `admin`, or any signed-in
            // person, whom the handler then checks against the team's managers.
            let team_manager = || sign_in::access::require_team_manager(&access);
            // A person's own things (personal tokens): a token with `admin`, or any signed-in
            // person, whom the handler then checks is that person or an admin.
            let person = || sign_in::access::require_person(&access);
            let web_root = web_root.clone();
            routes.service(
                web::scope("")
                    .app_data(security_headers.clone())
                    .wrap(from_fn(security_headers::add))
                    .route("/openapi.json", web::get().to(openapi_document))
                    .configure(|cfg| {
                        if let Some(state) = &sign_in_state {
                            cfg.service(
                                web::scope("/auth")
                                    .app_data(state.clone())
                                    .route("/login", web::get().to(sign_in::login))
                                    .route("/callback", web::get().to(sign_in::callback))
                                    .route("/logout", web::post().to(sign_in::logout))
                                    .route("/me", web::get().to(sign_in::me))
                                    .route("/status", web::get().to(sign_in::status)),
                            );
                        } else {
                            // The rest of /auth answers a JSON 404 naming why, for every method,
                            // rather than falling through to the dashboard's files (a 405 for a POST).
                            cfg.route("/auth/status", web::get().to(sign_in::status_without_provider))
                                .route("/auth/{rest:.*}", web::route().to(sign_in::without_provider));
                        }
                    })
                    .service(
                        web::scope("/incidents")
                            .app_data(state.clone())
                            .service(web::resource("").guard(actix_web::guard::Get()).wrap(read()).to(incidents::list))
                            .service(web::resource("").guard(actix_web::guard::Post()).wrap(act()).to(actions::declare))
                            .service(web::resource("/{id}").wrap(read()).route(web::get().to(incidents::get)))
                            .service(web::resource("/{id}/alerts").wrap(read()).route(web::get().to(incidents::alerts)))
                            .service(
                                web::resource("/{id}/timeline").wrap(read()).route(web::get().to(incidents::timeline)),
                            )
                            .service(
                                web::resource("/{id}/acknowledge")
                                    .wrap(act())
                                    .route(web::post().to(actions::acknowledge)),
                            )
                            .service(
                                web::resource("/{id}/resolve").wrap(act()).route(web::post().to(actions::resolve_one)),
                            )
                            .service(web::resource("/{id}/reopen").wrap(act()).route(web::post().to(actions::reopen)))
                            .service(web::resource("/{id}/assign").wrap(act()).route(web::post().to(actions::assign)))
                            .service(web::resource("/{id}/notes").wrap(act()).route(web::post().to(actions::note)))
                            .service(web::resource("/{id}/edit").wrap(act()).route(web::post().to(actions::edit))),
                    )
                    .service(
                        web::resource("/resolve")
                            .app_data(state.clone())
                            .wrap(act())
                            .route(web::post().to(actions::resolve)),
                    )
                    .service(
                        web::scope("/services")
                            .app_data(state.clone())
                            .service(web::resource("").wrap(read()).route(web::get().to(catalogue::list)))
                            .service(
                                web::resource("/import")
                                    .app_data(web::PayloadConfig::new(catalogue::IMPORT_BODY_LIMIT))
                                    .wrap(admin())
                                    .route(web::post().to(catalogue::import)),
                            )
                            .service(
                                web::resource("/{service}")
                                    .wrap(admin())
                                    .route(web::put().to(catalogue::set_owner))
                                    .route(web::delete().to(catalogue::remove)),
                            )
                            .service(
                                web::resource("/{service}/escalation-policy")
                                    .wrap(team_manager())
                                    .route(web::put().to(escalation_policies::set_service_policy)),
                            ),
                    )
                    .service(
                        web::scope("/teams")
                            .app_data(state.clone())
                            .service(web::resource("").wrap(read()).route(web::get().to(teams::list)))
                            .service(web::resource("/{team}").wrap(read()).route(web::get().to(teams::get)))
                            .service(
                                web::resource("/{team}/members/{user}")
                                    .wrap(team_manager())
                                    .route(web::put().to(teams::set_member))
                                    .route(web::delete().to(teams::remove_member)),
                            )
                            .service(
                                web::resource("/{team}/escalation-policy")
                                    .wrap(team_manager())
                                    .route(web::put().to(escalation_policies::set_team_policy)),
                            ),
                    )
                    // A person's own things: who is an admin (admins), their personal tokens,
                    // contact methods and notification rules (a token needs `admin`; a signed-in
                    // person gets through to the handler, which lets in the person themself and
                    // admins: `tokens`, `contacts`).
                    .service(
                        web::scope("/users/{user}")
                            .app_data(state.clone())
                            .service(web::resource("/admin").wrap(admin()).route(web::put().to(teams::set_admin)))
                            .service(
                                web::resource("/tokens")
                                    .wrap(person())
                                    .route(web::get().to(tokens::list))
                                    .route(web::post().to(tokens::create)),
                            )
                            .service(
                                web::resource("/tokens/{id}").wrap(person()).route(web::delete().to(tokens::revoke)),
                            )
                            .service(
                                web::resource("/contact-methods")
                                    .wrap(person())
                                    .route(web::get().to(contacts::list_methods))
                                    .route(web::post().to(contacts::add_method)),
                            )
                            .service(
                                web::resource("/contact-methods/{id}")
                                    .wrap(person())
                                    .route(web::patch().to(contacts::update_method))
                                    .route(web::delete().to(contacts::remove_method)),
                            )
                            .service(
                                web::resource("/contact-methods/{id}/test")
                                    .wrap(person())
                                    .route(web::post().to(contacts::test_method)),
                            )
                            .service(
                                web::resource("/notification-rules")
                                    .wrap(person())
                                    .route(web::get().to(contacts::list_rules))
                                    .route(web::post().to(contacts::add_rule)),
                            )
                            .service(
                                web::resource("/notification-rules/{id}")
                                    .wrap(person())
                                    .route(web::delete().to(contacts::remove_rule)),
                            ),
                    )
                    .service(
                        web::resource("/audit-log")
                            .app_data(state.clone())
                            .wrap(admin())
                            .route(web::get().to(catalogue::audit_log)),
                    )
                    .service(
                        web::scope("/schedules")
                            .app_data(state.clone())
                            .service(
                                web::resource("")
                                    .route(web::get().to(schedules::list).wrap(read()))
                                    .route(web::post().to(schedules::create).wrap(team_manager())),
                            )
                            .service(
                                web::resource("/{id}")
                                    .route(web::get().to(schedules::get).wrap(read()))
                                    .route(web::patch().to(schedules::rename).wrap(team_manager()))
                                    .route(web::delete().to(schedules::delete).wrap(team_manager())),
                            )
                            .service(
                                web::resource("/{id}/shifts")
                                    .wrap(read())
                                    .route(web::get().to(schedules::shifts_in_range)),
                            )
                            .service(
                                web::resource("/{id}/layers")
                                    .wrap(team_manager())
                                    .route(web::post().to(schedules::add_layer)),
                            )
                            .service(
                                web::resource("/{id}/layers/{layer_id}")
                                    .wrap(team_manager())
                                    .route(web::put().to(schedules::replace_layer))
                                    .route(web::delete().to(schedules::remove_layer)),
                            )
                            .service(
                                web::resource("/{id}/overrides")
                                    .wrap(team_manager())
                                    .route(web::post().to(schedules::add_override)),
                            )
                            .service(
                                web::resource("/{id}/overrides/{override_id}")
                                    .wrap(team_manager())
                                    .route(web::delete().to(schedules::remove_override)),
                            ),
                    )
                    .service(
                        web::scope("/escalation-policies")
                            .app_data(state.clone())
                            .service(
                                web::resource("")
                                    .route(web::get().to(escalation_policies::list).wrap(read()))
                                    .route(web::post().to(escalation_policies::create).wrap(team_manager())),
                            )
                            .service(
                                web::resource("/{id}")
                                    .route(web::get().to(escalation_policies::get).wrap(read()))
                                    .route(web::put().to(escalation_policies::put_version).wrap(team_manager())),
                            )
                            .service(
                                web::resource("/{id}/versions/{version}")
                                    .wrap(read())
                                    .route(web::get().to(escalation_policies::get_version)),
                            ),
                    )
                    .service(
                        web::scope("/maintenance-windows")
                            .app_data(state.clone())
                            .service(
                                web::resource("")
                                    .route(web::get().to(maintenance::list).wrap(read()))
                                    .route(web::post().to(maintenance::create).wrap(team_manager())),
                            )
                            .service(web::resource("/preview").wrap(read()).route(web::post().to(maintenance::preview)))
                            .service(web::resource("/{id}").wrap(read()).route(web::get().to(maintenance::get)))
                            .service(
                                web::resource("/{id}/end").wrap(team_manager()).route(web::post().to(maintenance::end)),
                            ),
                    )
                    .service(
                        web::resource("/oncall")
                            .app_data(state.clone())
                            .wrap(read())
                            .route(web::get().to(schedules::on_call)),
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
        })?;
        Ok(Application(service))
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}

async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(openapi::ApiDoc::openapi())
}
