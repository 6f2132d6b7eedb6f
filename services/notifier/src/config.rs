//! notifier's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8083` | `/health`, `/ready`, `/metrics` (and later Slack's buttons) |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `CONSUMER_NAME` | host name and process id | this replica's name in the consumer group |
//! | `VISIBILITY_TIMEOUT` | `30s` | events pending this long with a silent replica are claimed |
//! | `MAX_DELIVERIES` | `5` | deliveries before an event goes to the dead-letter stream |
//! | `HTTP_WORKERS` | `1` | HTTP worker threads |

use std::time::Duration;
use tocsin_runtime::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    pub redis_url: String,
    pub stream_prefix: String,
    pub consumer_name: String,
    pub visibility_timeout: Duration,
    pub max_deliveries: usize,
    pub http_workers: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8083"),
            redis_url: env.required("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            consumer_name: env.get("CONSUMER_NAME").unwrap_or_else(|| {
                let host =
                    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "notifier".into());
                format!("{host}-{}", std::process::id())
            }),
            visibility_timeout: env.duration_or("VISIBILITY_TIMEOUT", Duration::from_secs(30))?,
            max_deliveries: env.parse_or("MAX_DELIVERIES", 5)?,
            http_workers: env.parse_or("HTTP_WORKERS", 1)?,
        })
    }
}
