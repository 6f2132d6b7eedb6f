//! query's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8080` | the API, the live feed and the dashboard |
//! | `DATABASE_URL` | required | PostgreSQL, read only |
//! | `DATABASE_POOL_SIZE` | `16` | connections to PostgreSQL |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `API_TOKEN` | required unless `TOKENS_FILE` has a `read` token | the bearer token people and the dashboard send; its name is `api`, its scopes `read` and `act` |
//! | `TOKENS_FILE` | unset | YAML file of named tokens with scopes, read by ingest and query alike (docs/security.md) |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | commands older than this are trimmed from the commands stream, unless incident-core has not acknowledged them; at least `1m` |
//! | `ACTION_TIMEOUT` | `5s` | how long an action waits for incident-core before answering 504 |
//! | `HTTP_WORKERS` | number of CPUs | HTTP worker threads |
//! | `WEB_ROOT` | unset | folder of the built dashboard (`services/web/dist`), served at `/`; unset serves the API only |
//! | `LIVE_MAX_CONNECTIONS_PER_TOKEN` | `20` | live feed (`/events`) connections one token may hold open at once, per replica; the next one gets 429 until one closes |
//! | `LIVE_MAX_REPLAY` | `1000` | at most this many missed events are replayed to a page that reconnects with `Last-Event-ID` (0 to 10000); a page further behind is told `reset` at once and reloads from the API |
//! | `HSTS_MAX_AGE` | unset: no header | a duration (`365d`): answers carry `Strict-Transport-Security: max-age=<seconds>`. Set it only when the dashboard is reached over HTTPS alone |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |

use std::path::PathBuf;
use std::time::Duration;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret};

pub use tocsin_runtime::auth::API_TOKEN;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    /// Carries the database password: a [`Secret`], so `Debug` of the config never shows it.
    pub database_url: Secret,
    pub database_pool_size: usize,
    /// May carry Redis's password (`redis://:password@host`): a [`Secret`] like the database's.
    pub redis_url: Secret,
    /// Every token query knows: `read` ones may read, `act` ones may act.
    pub tokens: Tokens,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub action_timeout: Duration,
    pub http_workers: usize,
    pub web_root: Option<PathBuf>,
    /// The live feed's limits.
    pub live: LiveLimits,
    /// `None`: no `Strict-Transport-Security` header.
    pub hsts_max_age: Option<Duration>,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8080"),
            database_url: env.secret("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?,
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 16)?,
            redis_url: env.secret("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            tokens: Tokens::from_env(env, &API_TOKEN, Scope::Read)?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: tocsin_bus::max_age_from_env(env)?,
            action_timeout: env.duration_or("ACTION_TIMEOUT", Duration::from_secs(5))?,
            http_workers: env.parse_or("HTTP_WORKERS", std::thread::available_parallelism().map_or(2, usize::from))?,
            web_root: env.get("WEB_ROOT").map(PathBuf::from),
            live: LiveLimits::from_env(env)?,
            hsts_max_age: match env.get("HSTS_MAX_AGE") {
                None => None,
                Some(_) => Some(env.duration_or("HSTS_MAX_AGE", Duration::ZERO)?),
            },
            otel: OtelSettings::from_env(env, "query")?,
        })
    }
}

/// What one token may hold of the live feed (`GET /events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLimits {
    /// Connections one token may hold open at once on this replica.
    pub max_connections_per_token: usize,
    /// Missed events replayed after `Last-Event-ID`; a page further behind is told to reload.
    pub max_replay: usize,
}

impl LiveLimits {
    /// Past this, a replay costs more than the reload it saves; the setting may not go above it.
    pub const MAX_REPLAY_CEILING: usize = 10_000;

    fn from_env(env: &Env) -> Result<LiveLimits, ConfigError> {
        let defaults = LiveLimits::default();
        Ok(LiveLimits {
            max_connections_per_token: env.with(
                "LIVE_MAX_CONNECTIONS_PER_TOKEN",
                defaults.max_connections_per_token,
                |value| match value.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(n),
                    _ => Err("expected a whole number of connections, at least 1".into()),
                },
            )?,
            max_replay: env.with("LIVE_MAX_REPLAY", defaults.max_replay, |value| {
                match value.trim().parse::<usize>() {
                    Ok(n) if n <= LiveLimits::MAX_REPLAY_CEILING => Ok(n),
                    _ => Err(format!("expected a whole number of events from 0 to {}", LiveLimits::MAX_REPLAY_CEILING)),
                }
            })?,
        })
    }
}

impl Default for LiveLimits {
    fn default() -> LiveLimits {
        LiveLimits { max_connections_per_token: 20, max_replay: 1_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_limits_default_and_refuse_what_would_lift_them() {
        assert_eq!(LiveLimits::from_env(&Env::from_pairs([])).ok(), Some(LiveLimits::default()));
        let set = Env::from_pairs([("LIVE_MAX_CONNECTIONS_PER_TOKEN", "3"), ("LIVE_MAX_REPLAY", "0")]);
        assert_eq!(LiveLimits::from_env(&set).ok(), Some(LiveLimits { max_connections_per_token: 3, max_replay: 0 }));
        for (name, value) in
            [("LIVE_MAX_CONNECTIONS_PER_TOKEN", "0"), ("LIVE_MAX_REPLAY", "10001"), ("LIVE_MAX_REPLAY", "all")]
        {
            let error = LiveLimits::from_env(&Env::from_pairs([(name, value)])).err().map(|e| e.to_string());
            assert!(error.as_deref().is_some_and(|e| e.starts_with(name)), "{name}={value}: {error:?}");
        }
    }
}
