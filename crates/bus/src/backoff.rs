//! Waiting out an outage of Redis or PostgreSQL: exponential backoff with jitter, capped, cut
//! short by shutdown. The one policy of every stream consumer ([`crate::Handler`]).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The first wait after a failure; each further failure doubles it, up to the cap.
pub const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait, whatever the cap a caller asks for.
pub const LONGEST_WAIT: Duration = Duration::from_secs(5);

pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    /// Waits of [`FIRST_WAIT`], doubling up to `cap` (at most [`LONGEST_WAIT`], at least
    /// [`FIRST_WAIT`]).
    pub fn new(cap: Duration) -> Backoff {
        Backoff { next: FIRST_WAIT, cap: cap.clamp(FIRST_WAIT, LONGEST_WAIT) }
    }

    /// Back to the first wait, after a success.
    pub fn reset(&mut self) {
        self.next = FIRST_WAIT;
    }

    /// The next wait: 0.5 to 1.0 of the current step, so that replicas do not retry in lockstep.
    fn next_wait(&mut self) -> Duration {
        let jitter = 0.5 + rand::random::<f64>() * 0.5;
        let wait = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    /// Sleeps for the next wait. Returns false if shutdown was requested meanwhile.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next_wait();
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = shutdown.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_cap_and_start_again_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(800));
        let steps = [100, 200, 400, 800, 800, 800];
        for step in steps {
            let wait = backoff.next_wait();
            let step = Duration::from_millis(step);
            assert!(wait >= step / 2 && wait <= step, "{wait:?} outside half to all of {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_wait() <= FIRST_WAIT);
    }

    #[test]
    fn the_cap_stays_between_the_first_and_the_longest_wait() {
        let mut long = Backoff::new(Duration::from_secs(600));
        let mut short = Backoff::new(Duration::ZERO);
        for _ in 0..20 {
            assert!(long.next_wait() <= LONGEST_WAIT);
            assert!(short.next_wait() <= FIRST_WAIT);
        }
    }

    #[tokio::test]
    async fn shutdown_cuts_a_wait_short() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut backoff = Backoff::new(LONGEST_WAIT);
        for _ in 0..10 {
            backoff.next_wait();
        }
        let started = std::time::Instant::now();
        assert!(!backoff.wait(&shutdown).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
