//! Waiting out a database or Redis outage: exponential backoff with jitter, cut short by shutdown.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Backoff {
    next: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(5);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// Sleeps for the next delay (0.5–1.0 of it, so replicas do not retry in lockstep). Returns
    /// false if shutdown was requested meanwhile.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let jitter = 0.5 + rand::random::<f64>() * 0.5;
        let delay = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(LONGEST);
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = shutdown.cancelled() => false,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}
