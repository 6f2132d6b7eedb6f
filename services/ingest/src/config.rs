//! ingest's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8081` | where the webhook listens |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `INGEST_TOKEN` | required | the bearer token Alertmanager sends |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | entries older than this are trimmed from the streams |
//! | `INGEST_MAX_BODY_BYTES` | `4194304` | larger webhooks get 413 |
//! | `HTTP_WORKERS` | number of CPUs | HTTP worker threads |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |

use std::time::Duration;
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    pub redis_url: String,
    pub ingest_token: Secret,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub max_body_bytes: usize,
    pub http_workers: usize,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8081"),
            redis_url: env.required("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            ingest_token: env.secret("INGEST_TOKEN", "the bearer token Alertmanager sends to POST /alerts")?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: env.duration_or("STREAM_MAX_AGE", Duration::from_secs(7 * 24 * 3600))?,
            max_body_bytes: env.parse_or("INGEST_MAX_BODY_BYTES", 4 * 1024 * 1024)?,
            http_workers: env.parse_or("HTTP_WORKERS", std::thread::available_parallelism().map_or(2, usize::from))?,
            otel: OtelSettings::from_env(env, "ingest")?,
        })
    }
}
