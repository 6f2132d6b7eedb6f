//! ingest's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8081` | where the webhook listens |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `INGEST_TOKEN` | required unless `TOKENS_FILE` has an `ingest` token | the bearer token Alertmanager sends; its name is `ingest` |
//! | `TOKENS_FILE` | unset | YAML file of named tokens with scopes, read by ingest and query alike (docs/security.md) |
//! | `ALERTS_ALLOWED_SOURCES` | empty: any source | CIDRs (`10.0.0.0/8, 192.0.2.7`) that may post to `/alerts`; any other source gets 403 |
//! | `TRUSTED_PROXIES` | empty | CIDRs of proxies (the ingress controller) whose `X-Forwarded-For` gives the source address |
//! | `ALERTS_RATE_LIMIT_PER_TOKEN` | unset: no limit | `N/s`, `N/m` or `N/h`: webhooks one token may post, N at once; more get 429 |
//! | `ALERTS_RATE_LIMIT_PER_SOURCE` | unset: no limit | the same per source address (an IPv6 source per /64) |
//! | `ALERTS_BURST_PER_TOKEN`, `ALERTS_BURST_PER_SOURCE` | the N of the limit | webhooks let through at once before the rate applies |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | alerts older than this are trimmed from the alerts stream, unless incident-core has not acknowledged them; at least `1m` |
//! | `STREAM_MAX_BACKLOG` | `1000000` | alerts on the stream incident-core has not read or acknowledged; past it, webhooks get 503 with `Retry-After` and `/ready` fails |
//! | `INGEST_MAX_BODY_BYTES` | `4194304` | larger webhooks get 413 |
//! | `INGEST_MAX_ALERTS` | `5000` | alerts in one webhook |
//! | `INGEST_MAX_LABELS` | `128` | labels of one alert |
//! | `INGEST_MAX_ANNOTATIONS` | `128` | annotations of one alert |
//! | `INGEST_MAX_NAME_BYTES` | `256` | bytes of a label or annotation name |
//! | `INGEST_MAX_LABEL_VALUE_BYTES` | `4096` | bytes of a label value |
//! | `INGEST_MAX_ANNOTATION_VALUE_BYTES` | `32768` | bytes of an annotation value |
//! | `INGEST_MAX_CONTEXT_BYTES` | `8192` | bytes of `receiver`, `groupKey`, `externalURL` and each `generatorURL` |
//! | `INGEST_MAX_ALERT_BYTES` | `262144` | bytes of one alert as it goes on the stream (its fields and the group context) |
//! | `INGEST_MAX_WEBHOOK_STREAM_BYTES` | `16777216` | bytes of all the webhook's alerts as they go on the stream |
//! | `INGEST_WAIT_REPLICAS` | `0`: answer once the primary has the alerts | replicas of Redis that must hold a webhook's alerts before it gets 202 (Redis `WAIT`); when fewer do within `INGEST_WAIT_TIMEOUT`, 503 with `Retry-After` |
//! | `INGEST_WAIT_TIMEOUT` | `1s` | how long a webhook waits for those replicas (10ms to 10s) |
//! | `HTTP_WORKERS` | number of CPUs | HTTP worker threads |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |
//!
//! A webhook over any of the `INGEST_MAX_*` limits gets 413 naming the field, the limit and its
//! variable, and nothing of it is taken (docs/security.md, "Limits on a webhook").

use crate::admission::{AdmissionSettings, RateLimit, parse_networks};
use std::num::NonZeroU32;
use std::time::Duration;
use tocsin_bus::{BusSettings, Durability};
use tocsin_domain::webhook::{Limit, WebhookLimits};
use tocsin_runtime::auth::{LegacyToken, Scope, Tokens};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret, ServiceSettings};

/// The one token of `INGEST_TOKEN`, as before named tokens existed.
pub const INGEST_TOKEN: LegacyToken = LegacyToken {
    variable: "INGEST_TOKEN",
    name: "ingest",
    scopes: &[Scope::Ingest],
    purpose: "the bearer token Alertmanager sends to POST /alerts",
};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    /// May carry Redis's password (`redis://:password@host`): a [`Secret`] like the database's.
    pub redis_url: Secret,
    /// Every token ingest knows; those granting `ingest` may post alerts.
    pub tokens: Tokens,
    /// The allowlist, trusted proxies and rate limits of `/alerts`.
    pub admission: AdmissionSettings,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    /// Unhandled alerts on the stream past which webhooks are turned away.
    pub stream_max_backlog: u64,
    pub max_body_bytes: usize,
    /// What one webhook may carry.
    pub limits: WebhookLimits,
    /// Whether a webhook is answered once the primary holds its alerts, or once replicas do too.
    pub durability: Durability,
    pub http_workers: usize,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
}

impl Config {
    /// What the runtime's service builder takes from this config.
    pub fn service_settings(&self) -> ServiceSettings<'_> {
        ServiceSettings {
            name: "ingest",
            listen_addr: &self.listen_addr,
            http_workers: self.http_workers,
            otel: self.otel.as_ref(),
            operator_tokens: self.tokens.clone(),
        }
    }

    pub fn bus_settings(&self) -> BusSettings {
        BusSettings { prefix: self.stream_prefix.clone(), max_age: self.stream_max_age, ..BusSettings::default() }
    }

    /// What a test starts ingest with: streams under `stream_prefix` on `redis_url`, on a free local
    /// port with one HTTP worker, no admission rules and no traces; a test sets what it is about
    /// with struct update syntax.
    pub fn for_tests(redis_url: &str, stream_prefix: &str, tokens: Tokens) -> Config {
        Config {
            listen_addr: "127.0.0.1:0".into(),
            redis_url: redis_url.into(),
            tokens,
            admission: AdmissionSettings::default(),
            stream_prefix: stream_prefix.into(),
            stream_max_age: Duration::from_secs(3600),
            stream_max_backlog: 1_000_000,
            max_body_bytes: 256 * 1024,
            limits: WebhookLimits::default(),
            durability: Durability::Primary,
            http_workers: 1,
            otel: None,
        }
    }

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8081"),
            redis_url: env.secret("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            tokens: Tokens::from_env(env, &INGEST_TOKEN, Scope::Ingest)?,
            admission: AdmissionSettings {
                allowed_sources: env.with("ALERTS_ALLOWED_SOURCES", Vec::new(), parse_networks)?,
                trusted_proxies: env.with("TRUSTED_PROXIES", Vec::new(), parse_networks)?,
                per_token: rate_limit(env, "ALERTS_RATE_LIMIT_PER_TOKEN", "ALERTS_BURST_PER_TOKEN")?,
                per_source: rate_limit(env, "ALERTS_RATE_LIMIT_PER_SOURCE", "ALERTS_BURST_PER_SOURCE")?,
            },
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: tocsin_bus::max_age_from_env(env)?,
            stream_max_backlog: env.with("STREAM_MAX_BACKLOG", 1_000_000, |value| {
                match value.trim().parse::<u64>() {
                    Ok(entries @ 1..) => Ok(entries),
                    _ => Err("expected a number of alerts, at least 1".into()),
                }
            })?,
            max_body_bytes: env.parse_or("INGEST_MAX_BODY_BYTES", 4 * 1024 * 1024)?,
            limits: webhook_limits(env)?,
            durability: durability(env)?,
            http_workers: env.parse_or("HTTP_WORKERS", std::thread::available_parallelism().map_or(2, usize::from))?,
            otel: OtelSettings::from_env(env, "ingest")?,
        })
    }
}

/// A rate limit and its burst. A burst without a limit is refused rather than ignored.
fn rate_limit(env: &Env, limit: &str, burst: &str) -> Result<Option<RateLimit>, ConfigError> {
    let burst_value = env.with(burst, None, |text| {
        text.trim().parse::<NonZeroU32>().map(Some).map_err(|_| "expected a positive whole number of webhooks".into())
    })?;
    let parsed = env.with(limit, None, |text| RateLimit::parse(text, burst_value))?;
    if parsed.is_none() && burst_value.is_some() {
        return Err(ConfigError::Missing {
            name: limit.into(),
            purpose: format!("{burst} is set, but there is no rate limit for it to apply to"),
        });
    }
    Ok(parsed)
}

/// The most replicas `INGEST_WAIT_REPLICAS` may ask for: more than any Redis deployment tocsin
/// is run with has.
const MAX_WAIT_REPLICAS: u32 = 5;
const MIN_WAIT_TIMEOUT: Duration = Duration::from_millis(10);
const MAX_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// `INGEST_WAIT_REPLICAS` and `INGEST_WAIT_TIMEOUT` (docs/reliability.md, "How ingest limits it").
fn durability(env: &Env) -> Result<Durability, ConfigError> {
    let replicas = env.with("INGEST_WAIT_REPLICAS", 0, |text| match text.trim().parse::<u32>() {
        Ok(replicas @ 0..=MAX_WAIT_REPLICAS) => Ok(replicas),
        _ => Err(format!("expected a number of replicas from 0 (do not wait) to {MAX_WAIT_REPLICAS}")),
    })?;
    let timeout = env.duration_or("INGEST_WAIT_TIMEOUT", Duration::from_secs(1))?;
    if !(MIN_WAIT_TIMEOUT..=MAX_WAIT_TIMEOUT).contains(&timeout) {
        return Err(ConfigError::Invalid {
            name: "INGEST_WAIT_TIMEOUT".into(),
            value: env.get("INGEST_WAIT_TIMEOUT").unwrap_or_default(),
            reason: "expected 10ms to 10s; 1s is the default".into(),
        });
    }
    Ok(match replicas {
        0 => Durability::Primary,
        replicas => Durability::Replicas { replicas, timeout },
    })
}

/// The variable that sets each webhook limit: error messages name it, so the operator reading
/// Alertmanager's log knows what to raise.
pub fn limit_variable(limit: Limit) -> &'static str {
    match limit {
        Limit::Alerts => "INGEST_MAX_ALERTS",
        Limit::LabelsPerAlert => "INGEST_MAX_LABELS",
        Limit::AnnotationsPerAlert => "INGEST_MAX_ANNOTATIONS",
        Limit::NameBytes => "INGEST_MAX_NAME_BYTES",
        Limit::LabelValueBytes => "INGEST_MAX_LABEL_VALUE_BYTES",
        Limit::AnnotationValueBytes => "INGEST_MAX_ANNOTATION_VALUE_BYTES",
        Limit::ContextBytes => "INGEST_MAX_CONTEXT_BYTES",
        Limit::AlertBytes => "INGEST_MAX_ALERT_BYTES",
        Limit::WebhookBytes => "INGEST_MAX_WEBHOOK_STREAM_BYTES",
    }
}

fn webhook_limits(env: &Env) -> Result<WebhookLimits, ConfigError> {
    let mut limits = WebhookLimits::default();
    let fields: [(Limit, &mut usize); 9] = [
        (Limit::Alerts, &mut limits.alerts),
        (Limit::LabelsPerAlert, &mut limits.labels_per_alert),
        (Limit::AnnotationsPerAlert, &mut limits.annotations_per_alert),
        (Limit::NameBytes, &mut limits.name_bytes),
        (Limit::LabelValueBytes, &mut limits.label_value_bytes),
        (Limit::AnnotationValueBytes, &mut limits.annotation_value_bytes),
        (Limit::ContextBytes, &mut limits.context_bytes),
        (Limit::AlertBytes, &mut limits.alert_bytes),
        (Limit::WebhookBytes, &mut limits.webhook_bytes),
    ];
    for (limit, field) in fields {
        *field = env.with(limit_variable(limit), *field, |text| match text.trim().parse::<usize>() {
            Ok(0) | Err(_) => Err("expected a positive whole number".into()),
            Ok(value) => Ok(value),
        })?;
    }
    Ok(limits)
}
