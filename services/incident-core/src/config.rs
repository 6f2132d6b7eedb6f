//! incident-core's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8082` | `/health`, `/ready`, `/metrics` |
//! | `DATABASE_URL` | required | PostgreSQL |
//! | `DATABASE_POOL_SIZE` | `8` | connections to PostgreSQL |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | events older than this are trimmed from the events stream, unless the notifier has not acknowledged them; at least `1m` |
//! | `CONSUMER_NAME` | host name and process id | this replica's name in the consumer groups |
//! | `BATCH_SIZE` | `500` | most alerts applied in one transaction (1 to 2000) |
//! | `APPLY_SHARDS` | `2` | a large batch is split by correlation key into this many transactions applied at once (1 to 16) |
//! | `VISIBILITY_TIMEOUT` | `30s` | entries pending this long with a silent replica are claimed |
//! | `MAX_DELIVERIES` | `5` | deliveries before an entry goes to the dead-letter stream |
//! | `STREAM_READ_MAX_BYTES` | `4194304` (4 MiB) | most bytes of stream entries read into one batch; an entry larger than this is read alone |
//! | `CORRELATION_FIELDS` | `service,environment,severity` | the correlation key (also `team`, `label:NAME`) |
//! | `SERVICE_TEAMS` | empty | `service=team,…`: seeds the service catalogue, which gives its team to an incident whose alert has no `team` label (a service is seeded once: later edits and removals stand) |
//! | `AUTO_RESOLVE` | `true` | resolve an incident when all its alerts have resolved |
//! | `REOPEN_WINDOW` | `5m` | a key firing again this soon after resolving reopens the incident; `0s` disables |
//! | `CATALOGUE_REFRESH` | `10s` | how often the service catalogue (which team owns each service) is read from PostgreSQL: an edit gives its team to incidents opened after the next read |
//! | `ESCALATION_TICK` | `1s` | how often the escalation engine fires the steps that are due (100ms to 1m): a page leaves at most this long after its time |
//! | `METRICS_REFRESH_INTERVAL` | `15s` | how often the active-incident gauges are read from PostgreSQL |
//! | `INCIDENT_METRICS_MAX_SERIES` | `500` | (service, environment, team) combinations with series of their own in the incident metrics; later ones are counted under `other` |
//! | `HTTP_WORKERS` | `1` | HTTP worker threads (only probes and metrics are served) |
//! | `RETENTION_DAYS` | `90` | the default of the three below: days rows are kept, `0` or `off` keeps them all |
//! | `RETENTION_INCIDENTS_DAYS` | `RETENTION_DAYS` | resolved incidents with nothing new for this long go, with their alerts, timeline and notification threads; open and acknowledged ones never |
//! | `RETENTION_COMMAND_OUTCOMES_DAYS` | `RETENTION_DAYS` | outcomes of commands applied this long ago |
//! | `RETENTION_DELIVERIES_DAYS` | `RETENTION_DAYS` | notification deliveries sent or given up this long ago (pending ones never) |
//! | `RETENTION_INTERVAL` | `1h` | time between two retention runs |
//! | `RETENTION_BATCH_SIZE` | `500` | incidents, outcomes or deliveries deleted per transaction (1 to 10000) |
//! | `RETENTION_BATCH_PAUSE` | `100ms` | pause between two batches |
//! | `ARCHIVE_URL` | unset: no archive | archive each day before retention deletes it: `file:///path`, `az://container/prefix`, `https://<account>.blob.core.windows.net/container/prefix`, `s3://bucket/prefix` |
//! | `AZURE_*`, `AWS_*` | unset | the archive store's credentials and options, as the `object_store` crate reads them |
//! | `API_TOKEN`, `TOKENS_FILE` | unset | tokens that see which check of `/ready` failed and why; without one, `/ready` says only ready or not (docs/security.md) |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |

use crate::incidents::IntakeSettings;
use crate::retention::RetentionSettings;
use std::time::Duration;
use tocsin_archive::Archive;
use tocsin_bus::BusSettings;
use tocsin_domain::{CorrelationRule, TeamMapping};
use tocsin_runtime::auth::{API_TOKEN, Tokens};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret, ServiceSettings};
use tocsin_storage::PoolSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    /// Carries the database password: a [`Secret`], so `Debug` of the config never shows it.
    pub database_url: Secret,
    pub database_pool_size: usize,
    /// May carry Redis's password (`redis://:password@host`): a [`Secret`] like the database's.
    pub redis_url: Secret,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub consumer_name: String,
    pub batch_size: usize,
    pub apply_shards: usize,
    pub visibility_timeout: Duration,
    pub max_deliveries: usize,
    /// Bytes of stream entries one batch may hold (`ConsumerSettings::max_batch_bytes`).
    pub stream_read_max_bytes: usize,
    pub intake: IntakeSettings,
    pub metrics_refresh_interval: Duration,
    pub catalogue_refresh: Duration,
    /// How often the escalation engine fires due steps.
    pub escalation_tick: Duration,
    /// Label combinations the incident metrics keep apart (`crate::metrics::SeriesBudget`).
    pub incident_metrics_max_series: usize,
    pub http_workers: usize,
    /// Callers with one of these see `/ready`'s checks and details (the service has no API).
    pub operator_tokens: Tokens,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
    pub retention: RetentionSettings,
    /// `None`: retention deletes without archiving.
    pub archive: Option<Archive>,
}

impl Config {
    /// What the runtime's service builder takes from this config.
    pub fn service_settings(&self) -> ServiceSettings<'_> {
        ServiceSettings {
            name: "incident-core",
            listen_addr: &self.listen_addr,
            http_workers: self.http_workers,
            otel: self.otel.as_ref(),
            operator_tokens: self.operator_tokens.clone(),
        }
    }

    pub fn bus_settings(&self) -> BusSettings {
        BusSettings { prefix: self.stream_prefix.clone(), max_age: self.stream_max_age, ..BusSettings::default() }
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings { max_connections: self.database_pool_size, ..PoolSettings::default() }
    }

    /// What a test starts incident-core with: `database_url`, streams under `stream_prefix` on
    /// `redis_url`, on a free local port with one HTTP worker; batches of up to 200 alerts applied in
    /// two transactions at once (so a burst of 100 is split), metrics and the catalogue refreshed
    /// every 100 ms, no operator tokens, retention's defaults, no archive and no traces. A test sets
    /// what it is about with struct update syntax.
    pub fn for_tests(database_url: &str, redis_url: &str, stream_prefix: &str) -> Config {
        Config {
            listen_addr: "127.0.0.1:0".into(),
            database_url: database_url.into(),
            database_pool_size: 4,
            redis_url: redis_url.into(),
            stream_prefix: stream_prefix.into(),
            stream_max_age: Duration::from_secs(3600),
            consumer_name: "core-0".into(),
            batch_size: 200,
            apply_shards: 2,
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 5,
            stream_read_max_bytes: 4 * 1024 * 1024,
            intake: IntakeSettings::default(),
            metrics_refresh_interval: Duration::from_millis(100),
            catalogue_refresh: Duration::from_millis(100),
            escalation_tick: Duration::from_millis(100),
            incident_metrics_max_series: 500,
            http_workers: 1,
            operator_tokens: Tokens::none(),
            otel: None,
            retention: RetentionSettings::default(),
            archive: None,
        }
    }

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let reopen_window = env.duration_or("REOPEN_WINDOW", Duration::from_secs(300))?;
        let config = Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8082"),
            database_url: env.secret("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?,
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 8)?,
            redis_url: env.secret("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: tocsin_bus::max_age_from_env(env)?,
            consumer_name: env.get("CONSUMER_NAME").unwrap_or_else(default_consumer_name),
            batch_size: env.with("BATCH_SIZE", 500, |value| match value.trim().parse::<usize>() {
                // A batch's multi-row inserts bind at most 65,535 parameters.
                Ok(size @ 1..=2000) => Ok(size),
                _ => Err("expected a number of alerts from 1 to 2000".into()),
            })?,
            apply_shards: env.with("APPLY_SHARDS", 2, |value| match value.trim().parse::<usize>() {
                Ok(shards @ 1..=16) => Ok(shards),
                _ => Err("expected a number of transactions from 1 to 16".into()),
            })?,
            visibility_timeout: env.duration_or("VISIBILITY_TIMEOUT", Duration::from_secs(30))?,
            max_deliveries: env.parse_or("MAX_DELIVERIES", 5)?,
            stream_read_max_bytes: env.with("STREAM_READ_MAX_BYTES", 4 * 1024 * 1024, |value| {
                match value.trim().parse::<usize>() {
                    Ok(bytes @ 1024..) => Ok(bytes),
                    _ => Err("expected a number of bytes, at least 1024".into()),
                }
            })?,
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
            catalogue_refresh: env.duration_or("CATALOGUE_REFRESH", Duration::from_secs(10))?,
            escalation_tick: escalation_tick_from_env(env)?,
            incident_metrics_max_series: env.parse_or("INCIDENT_METRICS_MAX_SERIES", 500)?,
            http_workers: env.parse_or("HTTP_WORKERS", 1)?,
            operator_tokens: Tokens::optional_from_env(env, &API_TOKEN)?,
            otel: OtelSettings::from_env(env, "incident-core")?,
            retention: retention_from_env(env)?,
            archive: archive_from_env(env)?,
        };
        // Each shard's transaction holds a connection, and the relay and the command loop need
        // theirs meanwhile.
        if config.database_pool_size < config.apply_shards + 2 {
            return Err(ConfigError::Invalid {
                name: "DATABASE_POOL_SIZE".into(),
                value: config.database_pool_size.to_string(),
                reason: format!("expected at least APPLY_SHARDS + 2 = {} connections", config.apply_shards + 2),
            });
        }
        Ok(config)
    }
}

/// The shortest and longest `ESCALATION_TICK`: faster would poll PostgreSQL for nothing, slower
/// would make a page late by more than people notice.
const ESCALATION_TICK_RANGE: std::ops::RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(60);

fn escalation_tick_from_env(env: &Env) -> Result<Duration, ConfigError> {
    let tick = env.duration_or("ESCALATION_TICK", Duration::from_secs(1))?;
    if !ESCALATION_TICK_RANGE.contains(&tick) {
        return Err(ConfigError::Invalid {
            name: "ESCALATION_TICK".into(),
            value: format!("{tick:?}"),
            reason: "expected a duration from 100ms to 1m".into(),
        });
    }
    Ok(tick)
}

/// Days to keep rows: a number of days, or `0`/`off` to keep them all.
fn days(value: &str) -> Result<Option<u32>, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "0" | "off" => Ok(None),
        number => match number.parse::<u32>() {
            Ok(days @ 1..=36500) => Ok(Some(days)),
            _ => Err("expected a number of days from 1 to 36500, or 0 or off to keep everything".into()),
        },
    }
}

pub fn retention_from_env(env: &Env) -> Result<RetentionSettings, ConfigError> {
    let default = env.with("RETENTION_DAYS", Some(90), days)?;
    let interval = env.duration_or("RETENTION_INTERVAL", Duration::from_secs(3600))?;
    if interval.is_zero() {
        return Err(ConfigError::Invalid {
            name: "RETENTION_INTERVAL".into(),
            value: "0".into(),
            reason: "expected a duration above zero".into(),
        });
    }
    Ok(RetentionSettings {
        incidents_days: env.with("RETENTION_INCIDENTS_DAYS", default, days)?,
        command_outcomes_days: env.with("RETENTION_COMMAND_OUTCOMES_DAYS", default, days)?,
        deliveries_days: env.with("RETENTION_DELIVERIES_DAYS", default, days)?,
        interval,
        batch_size: env.with("RETENTION_BATCH_SIZE", 500, |value| match value.trim().parse::<usize>() {
            Ok(size @ 1..=10_000) => Ok(size),
            _ => Err("expected a number of rows from 1 to 10000".into()),
        })?,
        batch_pause: env.duration_or("RETENTION_BATCH_PAUSE", Duration::from_millis(100))?,
    })
}

/// The archive at `ARCHIVE_URL`, with the store's options from the process's `AZURE_*` and
/// `AWS_*` variables (as `object_store` reads them); `None` when it is not set.
pub fn archive_from_env(env: &Env) -> Result<Option<Archive>, ConfigError> {
    env.with("ARCHIVE_URL", None, |url| {
        Archive::open(url, tocsin_archive::store_options_from_process()).map(Some).map_err(|error| error.to_string())
    })
}

/// Unique per process, so a restarted replica never inherits a dead one's pending entries by
/// name; those are claimed after the visibility timeout instead.
fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "incident-core".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut pairs =
            vec![("DATABASE_URL", "postgres://tocsin@127.0.0.1/tocsin"), ("REDIS_URL", "redis://127.0.0.1/")];
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::from_pairs(pairs))
    }

    fn refused(extra: &[(&str, &str)]) -> String {
        match config(extra) {
            Ok(_) => panic!("{extra:?} was accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_escalation_tick_is_a_second_by_default_and_bounded() {
        assert_eq!(config(&[]).expect("config").escalation_tick, Duration::from_secs(1));
        assert_eq!(
            config(&[("ESCALATION_TICK", "250ms")]).expect("config").escalation_tick,
            Duration::from_millis(250)
        );
        for value in ["0s", "50ms", "2m"] {
            let error = refused(&[("ESCALATION_TICK", value)]);
            assert!(error.contains("ESCALATION_TICK") && error.contains("from 100ms to 1m"), "{error}");
        }
    }

    #[test]
    fn batches_are_split_in_two_by_default() {
        let config = config(&[]).expect("config");
        assert_eq!((config.apply_shards, config.database_pool_size), (2, 8));
        let one = self::config(&[("APPLY_SHARDS", "1")]).expect("config");
        assert_eq!(one.apply_shards, 1);
    }

    #[test]
    fn a_batch_is_bounded_by_bytes_and_the_bound_must_hold_an_entry() {
        let config = config(&[]).expect("config");
        assert_eq!(config.stream_read_max_bytes, 4 * 1024 * 1024);
        for value in ["0", "1023", "lots"] {
            let error = refused(&[("STREAM_READ_MAX_BYTES", value)]);
            assert!(error.contains("STREAM_READ_MAX_BYTES") && error.contains("at least 1024"), "{error}");
        }
    }

    #[test]
    fn shards_need_a_number_in_range_and_a_connection_each() {
        for value in ["0", "17", "two"] {
            let error = refused(&[("APPLY_SHARDS", value)]);
            assert!(error.contains("APPLY_SHARDS") && error.contains("from 1 to 16"), "{error}");
        }
        let error = refused(&[("APPLY_SHARDS", "4"), ("DATABASE_POOL_SIZE", "5")]);
        assert!(error.contains("DATABASE_POOL_SIZE") && error.contains("APPLY_SHARDS + 2 = 6"), "{error}");
        assert!(config(&[("APPLY_SHARDS", "4"), ("DATABASE_POOL_SIZE", "6")]).is_ok());
    }
}
