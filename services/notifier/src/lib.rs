//! notifier: turns incident events into messages on the channels each team uses (Slack, Teams,
//! e-mail, GitHub issues), and lets people act on an incident from Slack. The words channel,
//! target, sender and Slack channel are defined in `channels`.
//!
//! - `events`: reads the events stream, routes each event (`routing`), records one delivery per
//!   target in PostgreSQL, then acknowledges the entry.
//! - `deliveries`: sends the recorded deliveries through each target's sender (`channels`), paced
//!   per Slack channel (`pacing`), retried with backoff, given up on to a dead-letter stream.
//! - `pages`: pages to one person through their contact methods (a Slack direct message, e-mail,
//!   SMS and voice through a Twilio-compatible API, a signed webhook), from their notification
//!   rules, queued by the event loop and sent by the delivery worker when due.
//! - `slack_actions`: `POST /slack/actions`, the buttons of a Slack message, verified and turned
//!   into commands for incident-core, if `slack_access` lets the person who clicked act, done by
//!   the tocsin user `slack_people` says they are.
//! - `slack_commands`: `POST /slack/commands`, the `/tocsin oncall [team]` slash command.
//! - `twilio_replies`: `POST /twilio/sms` and `/twilio/voice/{delivery}`, a reply to an SMS page
//!   and a key pressed in a voice page's call, verified and turned into commands.

pub mod channels;
mod commands;
pub mod config;
mod deliveries;
mod events;
mod metrics;
pub mod pacing;
pub mod pages;
pub mod routing;
pub mod slack_access;
pub mod slack_actions;
pub mod slack_commands;
pub mod slack_people;
pub mod twilio_replies;

use crate::channels::Channel;
use crate::channels::email::Email;
use crate::channels::github::GitHub;
use crate::channels::slack::{SlackBot, SlackWebhook};
use crate::channels::teams::Teams;
use crate::config::{Config, RoutingSource};
use crate::deliveries::{RetryPolicy, Sender, Worker};
use crate::events::EventLoop;
use crate::metrics::{DeliveryMetrics, KindLabel, ReasonLabel, ReplyLabels};
use crate::pacing::Pacer;
use crate::pages::{Pager, PagerSettings};
use crate::routing::{ProcessSecrets, Routing, TargetKind};
use crate::slack_access::{Refusal, SlackAccess};
use actix_web::web;
use anyhow::Context;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::HashMap;
use std::sync::Arc;
use tocsin_bus::{Bus, BusMetrics, Consumer, ConsumerSettings, Stream};
use tocsin_runtime::Service;
use tocsin_runtime::metrics::PoolGauges;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::deliveries::DEAD_LETTER_STREAM;

/// The consumer group notifier replicas share on the events stream.
pub const CONSUMER_GROUP: &str = "notifier";

pub struct Application(Service);

impl Application {
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Application> {
        let routing = Arc::new(load_routing(&config.routing)?);
        let http_client = reqwest::Client::builder()
            .user_agent(concat!("tocsin-notifier/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(config.delivery.attempt_timeout)
            .build()
            .context("building the HTTP client")?;
        let pacer = Pacer::new(config.delivery.slack_channel_interval);
        let senders = Arc::new(build_senders(&routing, &config, &http_client, &pacer)?);
        if routing.is_empty() {
            tracing::warn!(
                "no notification targets: set ROUTING_FILE, or SLACK_BOT_TOKEN and SLACK_CHANNEL; events are only counted"
            );
        }
        let has_slack_buttons = senders.values().any(|sender| sender.channel() == Channel::Slack);
        if has_slack_buttons && config.slack_signing_secret.is_none() {
            tracing::warn!("Slack messages carry buttons, but SLACK_SIGNING_SECRET is not set: clicks will be refused");
        }

        let pool = tocsin_storage::connect(config.database_url.expose(), &config.pool_settings())?;
        let bus = Bus::connect(config.redis_url.expose(), config.bus_settings())?;
        let mut service = Service::builder(config.service_settings(), shutdown)?;
        let bus_metrics = BusMetrics::register(service.registry());
        let pool_gauges = PoolGauges::register(service.registry());
        let delivery_metrics = DeliveryMetrics::register(service.registry());
        // Every configured channel's series exist from the start, at zero, so a rate over them is 0
        // rather than absent until the first failure.
        for sender in senders.values() {
            delivery_metrics.initialise(sender.channel().as_str());
        }
        delivery_metrics.initialise_pages();
        let events_seen = Family::<KindLabel, Counter>::default();
        service.registry().register("notifier_events", "Incident events received, by kind", events_seen.clone());
        let consumer = Consumer::new(
            bus.clone(),
            Stream::Events,
            CONSUMER_GROUP,
            &config.consumer_name,
            ConsumerSettings {
                // As many as a batch of incident-core's makes: under load, one read, one insert of
                // deliveries and one acknowledgement per 500 events rather than per 100.
                batch_size: 500,
                visibility_timeout: config.visibility_timeout,
                max_deliveries: config.max_deliveries,
                ..ConsumerSettings::default()
            },
            bus_metrics,
        );
        let wake = Arc::new(Notify::new());
        let event_loop = EventLoop {
            consumer,
            pool: pool.clone(),
            routing: routing.clone(),
            events_seen,
            wake: wake.clone(),
            tracer: service.tracer().clone(),
        };
        let worker = Worker {
            pool: pool.clone(),
            bus: bus.clone(),
            senders,
            retry: RetryPolicy {
                max_attempts: config.delivery.max_attempts,
                base_backoff: config.delivery.base_backoff,
                max_backoff: config.delivery.max_backoff,
                attempt_timeout: config.delivery.attempt_timeout,
            },
            public_url: config.public_url.clone(),
            pager: Arc::new(Pager::new(
                http_client.clone(),
                PagerSettings {
                    slack_api_url: config.slack_api_url.clone(),
                    slack_token: config.slack_dm_token.clone().or_else(|| first_slack_token(&routing)),
                    smtp: config.smtp.clone(),
                    twilio: config.twilio.clone(),
                    webhook_secret: config.page_webhook_secret.clone(),
                },
            )),
            metrics: delivery_metrics,
            wake,
            tracer: service.tracer().clone(),
        };
        let clicks_refused = Family::<ReasonLabel, Counter>::default();
        service.registry().register(
            "notifier_slack_clicks_refused",
            "Slack button clicks not acted on, by reason (SLACK_ALLOWED_TEAMS, SLACK_ALLOWED_USER_GROUPS, who the clicker is in tocsin and their roles)",
            clicks_refused.clone(),
        );
        for reason in Refusal::REASONS {
            let _ = clicks_refused.get_or_create(&ReasonLabel { reason });
        }
        let access = slack_access(&config, &routing, &http_client)?;
        let slack = config.slack_signing_secret.clone().map(|signing_secret| {
            web::Data::new(slack_actions::SlackActions {
                signing_secret,
                bus: bus.clone(),
                tracer: service.tracer().clone(),
                access,
                http: http_client.clone(),
                refused: clicks_refused,
                people: slack_people::SlackPeople {
                    pool: pool.clone(),
                    http: http_client.clone(),
                    api_url: config.slack_api_url.trim_end_matches('/').to_owned(),
                    token: config.slack_dm_token.clone().or_else(|| first_slack_token(&routing)),
                    cache_lifetime: config.slack_user_cache,
                },
                unmapped_clicks: config.slack_unmapped_clicks,
                default_role: config.default_role,
            })
        });

        let replies_counted = Family::<ReplyLabels, Counter>::default();
        service.registry().register(
            "notifier_page_replies",
            "Answers to pages from the phone (SMS replies, keys pressed in calls), by method and outcome",
            replies_counted.clone(),
        );
        let twilio_replies = config.twilio.as_ref().and_then(|twilio| {
            let base_url = twilio.webhook_base_url.as_ref()?.trim_end_matches('/').to_owned();
            for method in ["sms", "voice"] {
                for outcome in twilio_replies::OUTCOMES {
                    let _ = replies_counted.get_or_create(&ReplyLabels { method, outcome });
                }
            }
            Some(web::Data::new(twilio_replies::TwilioReplies {
                auth_token: twilio.auth_token.clone(),
                base_url,
                pool: pool.clone(),
                bus: bus.clone(),
                tracer: service.tracer().clone(),
                counted: replies_counted,
            }))
        });
        let slack_commands = config
            .slack_signing_secret
            .clone()
            .map(|signing_secret| web::Data::new(slack_commands::SlackCommands { signing_secret, pool: pool.clone() }));

        service
            .check("postgres", tocsin_storage::readiness_check(&pool))
            .check("redis", bus.readiness_check())
            .critical_task("redis upkeep", |stop| bus.run_in_background(vec![Stream::Commands], stop))
            .task("event loop", |stop| event_loop.run(stop))
            .task("delivery worker", |stop| worker.run(stop))
            .task("pool gauges", |stop| {
                pool_gauges.keep_updated(stop, move || {
                    let usage = tocsin_storage::pool_usage(&pool);
                    (usage.in_use, usage.idle, usage.max, usage.waiting)
                })
            });
        let service = service.serve(move |routes: &mut web::ServiceConfig| {
            if let Some(slack) = &slack {
                routes.service(
                    web::resource("/slack/actions")
                        .app_data(slack.clone())
                        // Slack's payloads are small; anything big is not Slack.
                        .app_data(web::PayloadConfig::new(64 * 1024))
                        .route(web::post().to(slack_actions::handle)),
                );
            }
            if let Some(replies) = &twilio_replies {
                // Twilio's webhooks are a few hundred bytes; an SMS is at most 1,600 characters.
                routes.service(
                    web::resource(twilio_replies::SMS_PATH)
                        .app_data(replies.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024))
                        .route(web::post().to(twilio_replies::sms)),
                );
                routes.service(
                    web::resource("/twilio/voice/{delivery}")
                        .app_data(replies.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024))
                        .route(web::post().to(twilio_replies::voice)),
                );
            }
            if let Some(commands) = &slack_commands {
                routes.service(
                    web::resource("/slack/commands")
                        .app_data(commands.clone())
                        .app_data(web::PayloadConfig::new(64 * 1024))
                        .route(web::post().to(slack_commands::handle)),
                );
            }
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

/// Who may act from Slack. Group membership is read with the bot tokens of the routing's Slack
/// targets: without one, `SLACK_ALLOWED_USER_GROUPS` could never let anyone through, which stops
/// the start rather than refusing every click.
fn slack_access(config: &Config, routing: &Routing, http_client: &reqwest::Client) -> anyhow::Result<SlackAccess> {
    let mut tokens: Vec<tocsin_runtime::Secret> = Vec::new();
    for target in routing.targets() {
        if let TargetKind::Slack { token, .. } = &target.kind
            && !tokens.iter().any(|known| known.expose() == token.expose())
        {
            tokens.push(token.clone());
        }
    }
    if !config.slack_allowed_user_groups.is_empty() && tokens.is_empty() {
        anyhow::bail!(
            "SLACK_ALLOWED_USER_GROUPS is set, but no Slack bot token can read the groups' members: \
             set SLACK_BOT_TOKEN and SLACK_CHANNEL, or give the routing file a slack target"
        );
    }
    Ok(SlackAccess::new(
        config.slack_allowed_teams.clone(),
        config.slack_allowed_user_groups.clone(),
        http_client.clone(),
        &config.slack_api_url,
        tokens,
    ))
}

/// The bot token of the routing's first Slack target: the app that posts to a team's Slack
/// channel is the one people expect their direct messages from.
fn first_slack_token(routing: &Routing) -> Option<tocsin_runtime::Secret> {
    routing.targets().find_map(|target| match &target.kind {
        TargetKind::Slack { token, .. } => Some(token.clone()),
        _ => None,
    })
}

fn load_routing(source: &RoutingSource) -> anyhow::Result<Routing> {
    Ok(match source {
        RoutingSource::File(path) => Routing::load(path, &ProcessSecrets)?,
        RoutingSource::SingleSlackChannel { slack_channel, token } => {
            Routing::single_slack_channel(slack_channel.clone(), token.clone())
        }
        RoutingSource::Nowhere => Routing::default(),
    })
}

/// One sender per routing target; a target that cannot work (e-mail without `SMTP_URL`, a bad
/// address) stops the start with its name.
fn build_senders(
    routing: &Routing,
    config: &Config,
    http_client: &reqwest::Client,
    pacer: &Pacer,
) -> anyhow::Result<HashMap<String, Sender>> {
    let mut senders = HashMap::new();
    for target in routing.targets() {
        let sender = match &target.kind {
            TargetKind::Slack { slack_channel, token } => Sender::Slack(SlackBot::new(
                http_client.clone(),
                &config.slack_api_url,
                token.clone(),
                slack_channel.clone(),
                pacer.clone(),
            )),
            TargetKind::SlackWebhook { url } => {
                Sender::SlackWebhook(SlackWebhook::new(http_client.clone(), url.clone(), pacer.clone()))
            }
            TargetKind::Teams { url } => Sender::Teams(Teams::new(http_client.clone(), url.clone())),
            TargetKind::Email { to } => {
                let smtp = config.smtp.as_ref().with_context(|| {
                    format!("routing target `{}` sends e-mail, but SMTP_URL is not set", target.name)
                })?;
                Sender::Email(
                    Email::new(smtp, to)
                        .map_err(|error| anyhow::anyhow!("routing target `{}`: {error}", target.name))?,
                )
            }
            TargetKind::GitHub { repository, token, labels } => Sender::GitHub(GitHub::new(
                http_client.clone(),
                config.github_api_url.clone(),
                repository.clone(),
                token.clone(),
                labels.clone(),
            )),
        };
        senders.insert(target.name.clone(), sender);
    }
    Ok(senders)
}
