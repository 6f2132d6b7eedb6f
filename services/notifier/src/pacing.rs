//! At most one message per second per Slack channel, as Slack asks: a burst waits its turn instead of
//! being refused. The pacing is per notifier replica; a 429 from the API (honoured through
//! `Retry-After`) covers what several replicas together still send too fast.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone)]
pub struct Pacer {
    interval: Duration,
    /// When each Slack channel (or webhook, by a key of its URL) may next be sent to.
    next_turn: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Pacer {
        Pacer { interval, next_turn: Arc::default() }
    }

    /// Waits until `slack_channel` may be sent to, and books the turn after it. Turns are booked
    /// before waiting, so concurrent callers queue up one interval apart.
    pub async fn wait_turn(&self, slack_channel: &str) {
        let turn = {
            let mut next_turn = self.next_turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let turn = next_turn.get(slack_channel).copied().filter(|turn| *turn > now).unwrap_or(now);
            next_turn.insert(slack_channel.to_owned(), turn + self.interval);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_on_one_slack_channel_goes_out_one_per_interval() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let start = Instant::now();
        let mut turns = Vec::new();
        for _ in 0..3 {
            pacer.wait_turn("#payments").await;
            turns.push(start.elapsed());
        }
        assert_eq!(turns, vec![Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)]);
        // Another Slack channel is not held up by the first one's queue.
        let before = Instant::now();
        pacer.wait_turn("#platform").await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
