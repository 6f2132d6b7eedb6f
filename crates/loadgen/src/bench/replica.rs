//! A Redis primary with a replica of its own, for the phase that measures what
//! `INGEST_WAIT_REPLICAS` costs: ingest waits for the replica to hold every webhook's alerts
//! (Redis `WAIT`) before it answers. Both are `redis-server` processes started for the phase with
//! `scripts/local-infra.sh`'s persistence (append-only file, fsync every second), on free local
//! ports, with their files in a temporary folder removed when the pair is dropped.

use super::supervisor::free_port;
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub struct RedisPair {
    pub primary_url: String,
    dir: PathBuf,
    // Killed on drop.
    _servers: [Child; 2],
}

impl RedisPair {
    /// Starts the primary and its replica, and waits up to 30 s until the replica is in sync.
    pub async fn start() -> anyhow::Result<RedisPair> {
        let dir = std::env::temp_dir().join(format!("tocsin-bench-replica-{}", std::process::id()));
        let (primary_port, replica_port) = (free_port()?, free_port()?);
        let primary = server(&dir.join("primary"), primary_port, None)?;
        let replica = server(&dir.join("replica"), replica_port, Some(primary_port))?;
        let pair =
            RedisPair { primary_url: format!("redis://127.0.0.1:{primary_port}/"), dir, _servers: [primary, replica] };
        pair.wait_in_sync().await?;
        Ok(pair)
    }

    async fn wait_in_sync(&self) -> anyhow::Result<()> {
        let client = redis::Client::open(self.primary_url.as_str())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let info: String = redis::cmd("INFO").arg("replication").query_async(&mut connection).await?;
                if info.lines().any(|line| line.starts_with("slave0:") && line.contains("state=online")) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the bench's Redis replica was not in sync with its primary within 30 s (logs in {})",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RedisPair {
    fn drop(&mut self) {
        // The servers are killed as the children drop; their files go with the folder.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server(dir: &PathBuf, port: u16, replica_of: Option<u16>) -> anyhow::Result<Child> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = Command::new("redis-server");
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log", "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
        .args(["--maxmemory-policy", "noeviction", "--daemonize", "no"]);
    if let Some(primary) = replica_of {
        command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
    }
    command
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting redis-server (Debian's `redis-server` package)")
}
