//! The parts of `make bench` (`src/bin/bench.rs` runs them as phases, in order):
//!
//! - [`supervisor`]: the services as separate processes on free local ports, started, waited for
//!   and stopped; their peak memory.
//! - [`load`]: the webhooks and the ways of sending them: flat out, at an offered rate, at a fixed
//!   rate with each answer's time, and the storm of alerts that each open an incident.
//! - [`streams`]: what the bench reads from the bus, under the bus crate's own key names: whether
//!   incident-core has committed everything, the events that show an alert was applied, and
//!   samples of real entries for the ceiling.
//! - [`sampling`]: what the machine did meanwhile, from `/proc` and PostgreSQL's statistics: CPU
//!   time per program, background work per second, write-ahead log and row versions.
//! - [`replica`]: a Redis primary and its replica, for what waiting for replicas costs ingest.
//! - [`ceiling`]: the machine's own limit for the work an alert must do, with no tocsin logic in
//!   between: PostgreSQL writing the rows an alert produces, Redis taking its stream entries.
//! - [`report`]: percentiles, rates as fractions of the ceiling, and the machine-readable line.

pub mod ceiling;
pub mod load;
pub mod replica;
pub mod report;
pub mod sampling;
pub mod streams;
pub mod supervisor;

use anyhow::Context;

/// The bearer token the services are started with and the load generator sends.
pub const TOKEN: &str = "bench-token-0123456789";
/// Alerts in each webhook the load generator posts.
pub const ALERTS_PER_WEBHOOK: u64 = 10;
/// Concurrent clients of the flat-out phases, each on a connection of its own.
pub const CLIENTS: usize = 64;
/// Correlation keys of the ordinary load: alerts spread over this many incidents.
pub const KEYS: u64 = 500;

/// What `scripts/bench.sh` hands the bench, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the release binaries of the services are (`BENCH_BIN_DIR`).
    pub bin_dir: String,
    /// A database of the run's own, migrated (`BENCH_DATABASE_URL`).
    pub database_url: String,
    /// The Redis the services and the bench share (`REDIS_URL`).
    pub redis_url: String,
    /// Seconds each timed phase lasts (`BENCH_SECONDS`, 10).
    pub seconds: u64,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set: run `make bench`"));
        Ok(Settings {
            bin_dir: env("BENCH_BIN_DIR")?,
            database_url: env("BENCH_DATABASE_URL")?,
            redis_url: env("REDIS_URL")?,
            seconds: std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10),
        })
    }
}
