//! incident-core's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8082` | `/health`, `/ready`, `/metrics` |
//! | `DATABASE_URL` | required | PostgreSQL |
//! | `DATABASE_POOL_SIZE` | `8` | connections to PostgreSQL |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | events older than this are trimmed from the events stream |
//! | `CONSUMER_NAME` | host name and process id | this replica's name in the consumer groups |
//! | `BATCH_SIZE` | `500` | most alerts applied in one transaction (1 to 2000) |
//! | `VISIBILITY_TIMEOUT` | `30s` | entries pending this long with a silent replica are claimed |
//! | `MAX_DELIVERIES` | `5` | deliveries before an entry goes to the dead-letter stream |
//! | `CORRELATION_FIELDS` | `service,environment,severity` | the correlation key (also `team`, `label:NAME`) |
//! | `SERVICE_TEAMS` | empty | `service=team,…` for alerts without a `team` label |
//! | `AUTO_RESOLVE` | `true` | resolve an incident when all its alerts have resolved |
//! | `REOPEN_WINDOW` | `5m` | a key firing again this soon after resolving reopens the incident; `0s` disables |
//! | `METRICS_REFRESH_INTERVAL` | `15s` | how often the active-incident gauges are read from PostgreSQL |
//! | `HTTP_WORKERS` | `1` | HTTP worker threads (only probes and metrics are served) |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |

use std::time::Duration;
use tocsin_domain::{CorrelationRule, TeamMapping};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env};
use tocsin_storage::intake::IntakeSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    pub database_url: String,
    pub database_pool_size: usize,
    pub redis_url: String,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub consumer_name: String,
    pub batch_size: usize,
    pub visibility_timeout: Duration,
    pub max_deliveries: usize,
    pub intake: IntakeSettings,
    pub metrics_refresh_interval: Duration,
    pub http_workers: usize,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let reopen_window = env.duration_or("REOPEN_WINDOW", Duration::from_secs(300))?;
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8082"),
            database_url: env.required("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?,
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 8)?,
            redis_url: env.required("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: env.duration_or("STREAM_MAX_AGE", Duration::from_secs(7 * 24 * 3600))?,
            consumer_name: env.get("CONSUMER_NAME").unwrap_or_else(default_consumer_name),
            batch_size: env.with("BATCH_SIZE", 500, |value| match value.trim().parse::<usize>() {
                // A batch's multi-row inserts bind at most 65,535 parameters.
                Ok(size @ 1..=2000) => Ok(size),
                _ => Err("expected a number of alerts from 1 to 2000".into()),
            })?,
            visibility_timeout: env.duration_or("VISIBILITY_TIMEOUT", Duration::from_secs(30))?,
            max_deliveries: env.parse_or("MAX_DELIVERIES", 5)?,
            intake: IntakeSettings {
                correlation: env.with("CORRELATION_FIELDS", CorrelationRule::default(), CorrelationRule::parse)?,
                teams: env.with("SERVICE_TEAMS", TeamMapping::default(), TeamMapping::parse)?,
                auto_resolve: env.bool_or("AUTO_RESOLVE", true)?,
                reopen_window: time::Duration::try_from(reopen_window).map_err(|error| ConfigError::Invalid {
                    name: "REOPEN_WINDOW".into(),
                    value: format!("{reopen_window:?}"),
                    reason: error.to_string(),
                })?,
            },
            metrics_refresh_interval: env.duration_or("METRICS_REFRESH_INTERVAL", Duration::from_secs(15))?,
            http_workers: env.parse_or("HTTP_WORKERS", 1)?,
            otel: OtelSettings::from_env(env, "incident-core")?,
        })
    }
}

/// Unique per process, so a restarted replica never inherits a dead one's pending entries by
/// name; those are claimed after the visibility timeout instead.
fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "incident-core".into());
    format!("{host}-{}", std::process::id())
}
