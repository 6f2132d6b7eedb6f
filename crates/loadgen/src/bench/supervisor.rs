//! The services under test, each a process of its own as in production: started from the release
//! binaries with the run's database, Redis and stream prefix, on free local ports (so that two
//! benches on one machine do not take each other's), waited for until `/ready`, stopped with
//! SIGTERM. Before a service stops, its peak resident memory is read from `/proc`.

use super::{Settings, TOKEN, sampling};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A tocsin service the bench can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Ingest,
    IncidentCore,
    Query,
    Notifier,
}

impl Program {
    /// The whole pipeline, in the order it is started.
    pub const ALL: [Program; 4] = [Program::Ingest, Program::IncidentCore, Program::Query, Program::Notifier];

    pub fn binary(self) -> &'static str {
        match self {
            Program::Ingest => "tocsin-ingest",
            Program::IncidentCore => "tocsin-incident-core",
            Program::Query => "tocsin-query",
            Program::Notifier => "tocsin-notifier",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Program::Ingest => "ingest",
            Program::IncidentCore => "incident-core",
            Program::Query => "query",
            Program::Notifier => "notifier",
        }
    }
}

/// One running service.
struct Service {
    program: Program,
    addr: String,
    child: Child,
}

/// The services of one phase, sharing a stream prefix.
pub struct Stack {
    services: Vec<Service>,
}

impl Stack {
    /// Starts `programs` with streams under `prefix` and waits until each answers `/ready`.
    pub async fn start(settings: &Settings, programs: &[Program], prefix: &str) -> anyhow::Result<Stack> {
        Stack::start_with(settings, programs, prefix, &[]).await
    }

    /// [`Stack::start`], with `variables` set for every program besides (or instead of) the usual.
    pub async fn start_with(
        settings: &Settings,
        programs: &[Program],
        prefix: &str,
        variables: &[(&str, &str)],
    ) -> anyhow::Result<Stack> {
        let mut services = Vec::with_capacity(programs.len());
        for &program in programs {
            let addr = format!("127.0.0.1:{}", free_port()?);
            let child = Command::new(format!("{}/{}", settings.bin_dir, program.binary()))
                .env("LISTEN_ADDR", &addr)
                .env("DATABASE_URL", &settings.database_url)
                .env("REDIS_URL", &settings.redis_url)
                .env("INGEST_TOKEN", TOKEN)
                .env("API_TOKEN", TOKEN)
                .env("STREAM_PREFIX", prefix)
                .env("RUST_LOG", "warn")
                .envs(variables.iter().copied())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {} from {}", program.binary(), settings.bin_dir))?;
            services.push(Service { program, addr, child });
        }
        let http = reqwest::Client::new();
        for service in &services {
            wait_ready(&http, &service.addr).await?;
        }
        Ok(Stack { services })
    }

    /// `host:port` of a running program.
    pub fn addr(&self, program: Program) -> anyhow::Result<&str> {
        self.services
            .iter()
            .find(|service| service.program == program)
            .map(|service| service.addr.as_str())
            .with_context(|| format!("{} is not running in this phase", program.name()))
    }

    /// Stops every service, after adding each one's peak resident memory to `peaks`.
    pub async fn stop(self, peaks: &mut PeakMemory) {
        for mut service in self.services {
            if let Some(pid) = service.child.id() {
                peaks.record(service.program, sampling::peak_rss_kb(pid));
            }
            terminate(&mut service.child).await;
        }
    }
}

/// The highest peak resident set (VmHWM) of each service over the phases it ran in, in kB.
#[derive(Debug, Default)]
pub struct PeakMemory {
    kb: BTreeMap<&'static str, u64>,
}

impl PeakMemory {
    fn record(&mut self, program: Program, kb: u64) {
        let entry = self.kb.entry(program.name()).or_insert(0);
        *entry = (*entry).max(kb);
    }

    /// Each service's peak, by name.
    pub fn by_service(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.kb.iter().map(|(name, kb)| (*name, *kb))
    }

    /// The highest of them, in MB.
    pub fn max_mb(&self) -> f64 {
        self.kb.values().copied().max().unwrap_or(0) as f64 / 1024.0
    }
}

/// A local port nobody listens on now. The service binds it a moment later; another process could
/// take it in between, which would show as a service that never gets ready.
pub(super) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free local port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits up to 30 s for the service at `addr` (`host:port`) to answer `/ready` with a success.
pub async fn wait_ready(http: &reqwest::Client, addr: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = http.get(format!("http://{addr}/ready")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} did not become ready")
}

/// Stops a service with SIGTERM, so that it shuts down as it would in production; kills it if it
/// is still running 20 s later.
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().expect("free port");
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("port {port} is not free: {e}"));
    }

    #[test]
    fn peak_memory_keeps_the_highest_of_each_service() {
        let mut peaks = PeakMemory::default();
        peaks.record(Program::Ingest, 10_240);
        peaks.record(Program::Ingest, 5_000);
        peaks.record(Program::IncidentCore, 40_960);
        assert_eq!(peaks.by_service().collect::<Vec<_>>(), [("incident-core", 40_960), ("ingest", 10_240)]);
        assert_eq!(peaks.max_mb(), 40.0);
    }
}
