//! One tocsin service as a real process: started from its binary with its environment, killed
//! with SIGKILL (no goodbye: no shutdown hook runs, nothing is flushed) or stopped with SIGTERM
//! (as Kubernetes stops a pod), started again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Service {
    pub name: &'static str,
    program: PathBuf,
    pub port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Service {
    /// A service listening on a free loopback port, logging to `<dir>/<name>.log`; not started yet.
    pub fn new(name: &'static str, program: &Path, dir: &Path, env: Vec<(String, String)>) -> Service {
        Service {
            name,
            program: program.to_owned(),
            port: tocsin_testkit::free_port(),
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    /// Sets a variable for the next start.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(known, _)| known != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process; each start has a consumer name of its own, as a restarted pod (new
    /// process id) has, so it never inherits the dead one's pending entries by name.
    pub async fn start(&mut self, http: &reqwest::Client) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let child = Command::new(&self.program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{}", self.port))
            .env("CONSUMER_NAME", format!("{}-{}", self.name, self.starts))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(name, value)| (name.as_str(), value.as_str())))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
        self.wait_ready(http).await;
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap_or_else(|e| panic!("killing {}: {e}", self.name));
        }
    }

    /// SIGTERM, as Kubernetes sends it, then waits for the process to exit: how long it took and
    /// how it ended. Panics if it is still running after `grace`, as Kubernetes would kill it then.
    pub async fn terminate(&mut self, grace: Duration) -> (Duration, std::process::ExitStatus) {
        let mut child = self.child.take().unwrap_or_else(|| panic!("{} is not running", self.name));
        let pid = child.id().unwrap_or_else(|| panic!("{} has exited already", self.name));
        let started = tokio::time::Instant::now();
        let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        assert!(sent.is_ok_and(|status| status.success()), "cannot send SIGTERM to {}", self.name);
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(status)) => (started.elapsed(), status),
            Ok(Err(error)) => panic!("waiting for {}: {error}", self.name),
            Err(_) => {
                let _ = child.kill().await;
                panic!("{} still ran {grace:?} after SIGTERM; see {}", self.name, self.log.display())
            }
        }
    }

    /// Until `/ready` answers 200: its database and Redis are reachable.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let ready = http.get(format!("{}/ready", self.url())).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited during start-up ({status}); see {}", self.name, self.log.display());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} was not ready within {READY_TIMEOUT:?}; see {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
