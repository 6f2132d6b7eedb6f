//! The fault suite's stack: the four services as real processes (the binaries cargo builds from
//! this checkout), on a PostgreSQL cluster and a Redis server of the test's own, notifying a fake
//! Slack channel. A test SIGKILLs a service or crashes a server in the middle of a burst of alerts,
//! brings it back, and [`FaultStack::settle`] checks that nothing was lost or doubled on the way
//! from the webhook to the Slack message. Everything listens on the loopback interface on free
//! ports, with its data in a temporary folder that is removed afterwards (kept when a test fails).

mod alertmanager;
mod binaries;
mod burst;
mod checks;
mod servers;
mod services;
mod slack;

pub use alertmanager::Alertmanager;
pub use binaries::service_binaries;
pub use burst::{Attempt, Burst, Outcome, Sender};
pub use checks::{Expected, Figures};
pub use servers::{Postgres, RedisServer};
pub use services::Service;
pub use slack::{CHANNEL_ID, FakeSlack, Message};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The key of the stream `name` as the services under faults name it: they run with the bus's
/// default prefix.
pub fn stream_key(name: &str) -> String {
    tocsin_bus::stream_key(&tocsin_bus::BusSettings::default().prefix, name)
}

pub struct FaultStack {
    // Declared in the order they must stop: the services before the servers they use, the folder
    // holding the servers' data last.
    pub ingest: Service,
    pub core: Service,
    pub query: Service,
    pub notifier: Service,
    pub slack: FakeSlack,
    pub redis: RedisServer,
    pub postgres: Postgres,
    pub http: reqwest::Client,
    started: Instant,
    workdir: Workdir,
}

impl FaultStack {
    pub async fn start(name: &str) -> FaultStack {
        let binaries = service_binaries().await;
        let started = Instant::now();
        let workdir = Workdir::new(name);
        let dir = workdir.path.clone();
        let postgres = Postgres::init(&dir).await;
        let redis = RedisServer::start(&dir).await;
        let slack = FakeSlack::start().await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        migrate(&binaries.incident_core, &postgres.url(), &dir).await;

        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
        };
        let (database, redis_url, slack_api) = (postgres.url(), redis.url(), slack.api_url());
        let mut ingest = Service::new(
            "ingest",
            &binaries.ingest,
            &dir,
            env(&[("REDIS_URL", &redis_url), ("INGEST_TOKEN", crate::INGEST_TOKEN), ("HTTP_WORKERS", "2")]),
        );
        // A killed replica's entries are claimed by the next one after the visibility timeout:
        // short here so the suite stays quick, 30 s by default.
        let mut core = Service::new(
            "incident-core",
            &binaries.incident_core,
            &dir,
            env(&[
                ("DATABASE_URL", &database),
                ("DATABASE_POOL_SIZE", "4"),
                ("REDIS_URL", &redis_url),
                ("VISIBILITY_TIMEOUT", "2s"),
                ("BATCH_SIZE", "50"),
                ("METRICS_REFRESH_INTERVAL", "1s"),
            ]),
        );
        let mut query = Service::new(
            "query",
            &binaries.query,
            &dir,
            env(&[
                ("DATABASE_URL", &database),
                ("DATABASE_POOL_SIZE", "4"),
                ("REDIS_URL", &redis_url),
                ("API_TOKEN", crate::API_TOKEN),
                ("HTTP_WORKERS", "1"),
            ]),
        );
        let mut notifier = Service::new(
            "notifier",
            &binaries.notifier,
            &dir,
            env(&[
                ("DATABASE_URL", &database),
                ("DATABASE_POOL_SIZE", "4"),
                ("REDIS_URL", &redis_url),
                ("VISIBILITY_TIMEOUT", "2s"),
                ("SLACK_BOT_TOKEN", "xoxb-faults"),
                ("SLACK_CHANNEL", CHANNEL_ID),
                ("SLACK_SIGNING_SECRET", crate::slack::SIGNING_SECRET),
                ("SLACK_API_URL", &slack_api),
                ("CHANNEL_INTERVAL", "5ms"),
                ("DELIVERY_BACKOFF", "200ms"),
                ("DELIVERY_MAX_BACKOFF", "1s"),
            ]),
        );
        ingest.start(&http).await;
        core.start(&http).await;
        query.start(&http).await;
        notifier.start(&http).await;
        FaultStack { ingest, core, query, notifier, slack, redis, postgres, http, started, workdir }
    }

    pub fn dir(&self) -> &Path {
        &self.workdir.path
    }

    /// Time since the stack started to be built (the binaries' build excluded).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Rows of a query on the stack's database, every value as text (`NULL` as `None`).
    pub async fn sql(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let url = self.postgres.url();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        let connection = tokio::spawn(connection);
        let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = connection.await;
        messages
            .into_iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    }

    /// A single number from the stack's database.
    pub async fn count(&self, sql: &str) -> i64 {
        let rows = self.sql(sql).await;
        rows.first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("{sql} gave no number: {rows:?}"))
    }

    pub async fn redis_connection(&self) -> redis::aio::MultiplexedConnection {
        tocsin_testkit::redis_connection(&self.redis.url()).await
    }

    /// Polls `probe` until it holds; fails with `what` after `timeout`.
    pub async fn wait_until<F: std::future::Future<Output = bool>>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl Fn() -> F,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !probe().await {
            assert!(tokio::time::Instant::now() < deadline, "{what}: not within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `tocsin-incident-core migrate`, as the Helm hook and `make run` do.
async fn migrate(binary: &Path, database_url: &str, dir: &Path) {
    let output = tokio::process::Command::new(binary)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {} migrate: {e}", binary.display()));
    if !output.status.success() {
        panic!(
            "migrating the fault suite's database in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The test's folder: logs, PostgreSQL's and Redis's data. Removed when the test passes, kept
/// (and named) when it fails, for the logs.
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    pub fn new(name: &str) -> Workdir {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("tocsin-faults-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // PostgreSQL runs as its own user and must reach its data folder inside.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Workdir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the fault suite's logs and data are kept in {}", self.path.display());
        } else if let Err(error) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: could not remove {}: {error}", self.path.display());
        }
    }
}
