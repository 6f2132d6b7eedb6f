//! Graceful shutdown: SIGTERM (Kubernetes, `make run`) or Ctrl-C cancels a token; every loop and
//! the HTTP server watch it, finish what they hold and exit.

use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use tokio_util::sync::CancellationToken as ShutdownToken;

/// How long a service's loops, together, may take to finish after shutdown. Kubernetes waits 30 s
/// before SIGKILL; a loop still running past this is stuck on something that has not answered (a
/// query, a call to a channel), and the process leaves it as a crash would: what it held is
/// taken over by the next replica (claims lapse, pending stream entries are reclaimed).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits for each named task to finish, all of them within `limit`; a task that panicked is
/// logged, one still running after `limit` is named in a warning and aborted.
pub async fn join_within(tasks: Vec<(&'static str, JoinHandle<()>)>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for (name, mut task) in tasks {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, task = name, "a task failed"),
            Err(_) => {
                tracing::warn!(task = name, limit_s = limit.as_secs(), "still running after shutdown; abandoned");
                task.abort();
            }
        }
    }
}

/// A token cancelled on the first SIGTERM or SIGINT.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested, finishing in-flight work");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM, only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stuck_task_is_abandoned_at_the_limit_and_the_others_are_awaited() {
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = finished.clone();
        let quick = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let stuck = tokio::spawn(std::future::pending::<()>());
        let started = tokio::time::Instant::now();
        join_within(vec![("quick", quick), ("stuck", stuck)], Duration::from_secs(10)).await;
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
