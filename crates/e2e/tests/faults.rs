//! The fault suite: a burst of alerts goes through the whole stack (the four services as real
//! processes, a PostgreSQL cluster and a Redis server of the test's own, a fake Slack channel),
//! and in the middle of it one thing fails hard: incident-core or the notifier is killed with
//! SIGKILL and started again, Redis is killed and restarted from its append-only file, or
//! PostgreSQL crashes (`pg_ctl stop -m immediate`) and recovers. After each, every alert sent is in
//! exactly one incident and every event became exactly one Slack post: nothing lost, nothing
//! doubled. docs/reliability.md lists the figures of a run.

use std::sync::Arc;
use std::time::Duration;
use tocsin_e2e::INGEST_TOKEN;
use tocsin_e2e::faults::{Alertmanager, Burst, Expected, FaultStack, Figures, Outcome, Sender};

/// Distinct alerts per burst, over this many correlation keys, this many new alerts per webhook.
const ALERTS: usize = 240;
const KEYS: usize = 6;
const PER_WEBHOOK: usize = 4;
/// Between two webhooks of one group: the burst lasts about 12 × 250 ms, long enough for a fault
/// to land in its middle.
const PACE: Duration = Duration::from_millis(250);
/// Every wait for a stage of the burst.
const STAGE_TIMEOUT: Duration = Duration::from_secs(30);

struct Run {
    stack: FaultStack,
    burst: Arc<Burst>,
    sender: Sender,
    sending: tokio::task::JoinHandle<()>,
}

/// A stack, and the burst on its way.
async fn start(tag: &str) -> Run {
    start_with(tag, Burst::new(tag, ALERTS, KEYS, PER_WEBHOOK)).await
}

async fn start_with(tag: &str, burst: Burst) -> Run {
    let stack = FaultStack::start(tag).await;
    let burst = Arc::new(burst);
    let sender = Sender::new(&stack.ingest.url(), INGEST_TOKEN);
    let sending = {
        let (sender, burst) = (sender.clone(), burst.clone());
        tokio::spawn(async move { sender.send(&burst, PACE).await })
    };
    Run { stack, burst, sender, sending }
}

impl Run {
    fn expected(&self) -> Expected {
        Expected {
            instances: self.burst.instances.clone(),
            services: self.burst.services.iter().cloned().collect(),
            webhooks: self.burst.webhook_count(),
            reports: self.burst.report_count(),
        }
    }

    /// Entries of the events stream.
    async fn events(&self) -> u64 {
        let mut redis = self.stack.redis_connection().await;
        redis::cmd("XLEN").arg(tocsin_e2e::faults::stream_key("events")).query_async(&mut redis).await.unwrap_or(0)
    }

    async fn alerts_applied(&self) -> i64 {
        self.stack.count("SELECT count(*) FROM alerts").await
    }

    async fn finish(self, fault: &str, expected: Expected) -> Figures {
        match tokio::time::timeout(Duration::from_secs(120), self.sending).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("{fault}: the sender failed: {error}"),
            Err(_) => panic!("{fault}: the burst was not sent within 120 s"),
        }
        let figures = self.stack.settle(fault, &expected, &self.sender).await;
        eprintln!("{figures}");
        figures
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_core_killed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let mut run = start("core").await;
    let expected = run.expected();
    run.stack
        .wait_until("incident-core applies a quarter of the burst", STAGE_TIMEOUT, || async {
            run.alerts_applied().await >= (ALERTS / 4) as i64
        })
        .await;
    run.stack.core.kill().await;
    let applied = run.alerts_applied().await;
    assert!(applied < ALERTS as i64, "killed too late to prove anything: {applied} alerts applied");
    let accepted = run.sender.accepted();
    assert!(accepted < expected.webhooks, "killed after the burst: nothing was in flight");
    eprintln!(
        "incident-core killed with {applied} of {ALERTS} alerts applied, {accepted} of {} webhooks accepted",
        expected.webhooks
    );
    // The burst goes on while nothing applies it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.stack.core.start(&run.stack.http).await;
    run.finish("SIGKILL incident-core", expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_killed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let mut run = start("notifier").await;
    let expected = run.expected();
    run.stack
        .wait_until("the notifier posts a quarter of the burst", STAGE_TIMEOUT, || async {
            run.stack.slack.messages().len() >= ALERTS / 4
        })
        .await;
    // The kill lands where a crash hurts most: Slack has taken a post and the notifier has not
    // heard back, so it cannot have recorded it.
    run.stack.slack.hold_next_answer(Duration::from_secs(2));
    run.stack
        .wait_until("Slack takes a post and holds its answer", STAGE_TIMEOUT, || async {
            run.stack.slack.holding_an_answer()
        })
        .await;
    run.stack.notifier.kill().await;
    let posted = run.stack.slack.messages().len();
    assert!(posted < ALERTS, "killed too late to prove anything: {posted} messages posted");
    eprintln!("notifier killed with {posted} of {ALERTS} events posted, the last one's answer held back");
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.stack.notifier.start(&run.stack.http).await;
    run.finish("SIGKILL notifier", expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let mut run = start("redis").await;
    let mut expected = run.expected();
    // A real Alertmanager delivers alerts of its own, fired while Redis is away: its retries are
    // what must get them in.
    let alertmanager = Alertmanager::start(run.stack.dir(), &run.stack.ingest.url(), INGEST_TOKEN).await;
    let am_services: Vec<String> = (0..2).map(|n| format!("redis-am-service-{n}")).collect();
    let am_instances: Vec<String> = (0..20).map(|n| format!("redis-am-host-{n:05}")).collect();
    expected.services.extend(am_services.iter().cloned());
    expected.instances.extend(am_instances.iter().cloned());

    run.stack
        .wait_until("a third of the webhooks accepted", STAGE_TIMEOUT, || async {
            run.sender.accepted() >= expected.webhooks / 3
        })
        .await;
    run.stack.redis.kill().await;
    let down_since = tokio::time::Instant::now();
    eprintln!("Redis killed with {} of {} webhooks accepted", run.sender.accepted(), expected.webhooks);
    alertmanager.fire(&am_services, &am_instances).await;
    run.stack
        .wait_until("ingest answers 503 while Redis is down", STAGE_TIMEOUT, || async {
            run.sender.outcomes().contains_key(&Outcome::Status(503))
        })
        .await;
    run.stack
        .wait_until("Alertmanager's webhook fails while Redis is down", STAGE_TIMEOUT, || async {
            alertmanager.failed_requests().await >= 1.0
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(down_since.elapsed())).await;
    let refused_by_am = alertmanager.failed_requests().await;
    let sent_by_am = alertmanager.requests().await;
    let retried_before_restart = run.sender.retried();
    run.stack.redis.restart().await;
    // The stack settles once what reached Redis is worked through: first let Alertmanager's
    // retries land (one webhook per group succeeds), so that the check that follows finds its
    // alerts or reports them lost.
    run.stack
        .wait_until("Alertmanager delivers both groups once Redis is back", STAGE_TIMEOUT, || async {
            alertmanager.requests().await - alertmanager.failed_requests().await >= am_services.len() as f64
        })
        .await;
    let figures = run.finish("SIGKILL Redis", expected).await;
    eprintln!(
        "Alertmanager: {refused_by_am} webhook requests failed while Redis was down, {} sent in all",
        alertmanager.requests().await
    );

    assert!(figures.outcomes.get(&Outcome::Status(503)).is_some_and(|n| *n > 0), "503 seen while Redis was down");
    assert!(!retried_before_restart.is_empty(), "webhooks refused while Redis was down were retried");
    // settle() found every alert of the burst in its incident: the retried webhooks landed; and
    // the Alertmanager alerts too, after its own retries.
    assert!(
        refused_by_am >= 1.0 && alertmanager.requests().await > sent_by_am,
        "Alertmanager retried after its webhook failed ({refused_by_am} failed of {sent_by_am} before the restart)"
    );
}

/// How long a service may take to stop after SIGTERM. Kubernetes waits 30 s before SIGKILL; a
/// service that drains in a few seconds rolls out quickly and never loses work to that kill.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// Every service, stopped with SIGTERM in the middle of the burst as Kubernetes stops a pod,
/// exits on its own, successfully, within seconds, and once started again nothing is lost or
/// doubled. (The notifier used to wait out a Slack channel's pacing and was killed 15 s later.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_stops_within_seconds_of_sigterm_mid_burst_and_loses_nothing() {
    // Twenty incidents, one alert per webhook: the notifier's batches hold one delivery of each
    // incident, so a batch at Slack's pace of a post a second is twenty seconds long.
    let mut run = start_with("sigterm", Burst::new("sigterm", ALERTS, 20, 1)).await;
    let expected = run.expected();
    run.stack
        .wait_until("the notifier posts a tenth of the burst", STAGE_TIMEOUT, || async {
            run.stack.slack.messages().len() >= ALERTS / 10
        })
        .await;
    assert!(run.sender.accepted() < expected.webhooks, "stopping after the burst: nothing would be in flight");
    let mut stopped = Vec::new();
    let stop = async |service: &mut tocsin_e2e::faults::Service, stopped: &mut Vec<String>| {
        let (took, status) = service.terminate(STOP_WITHIN * 5).await;
        stopped.push(format!("{} {took:.1?}", service.name));
        assert!(status.success(), "{} ended with {status} after SIGTERM", service.name);
        assert!(took < STOP_WITHIN, "{} took {took:?} to stop after SIGTERM", service.name);
    };
    for service in [&mut run.stack.ingest, &mut run.stack.core, &mut run.stack.query] {
        stop(service, &mut stopped).await;
        service.start(&run.stack.http).await;
    }
    // The notifier at Slack's own pace, a post a second per channel, as it runs by default: it
    // claims a batch of deliveries it needs many seconds to send, and is stopped in the middle.
    run.stack.notifier.set_env("CHANNEL_INTERVAL", "1s");
    let events_before = run.events().await;
    stop(&mut run.stack.notifier, &mut stopped).await;
    // Events pile up while it is away, so that it comes back to a backlog of many seconds' posts.
    run.stack
        .wait_until("30 events wait for the stopped notifier", STAGE_TIMEOUT, || async {
            run.events().await >= events_before + 30
        })
        .await;
    run.stack.notifier.start(&run.stack.http).await;
    let posted = run.stack.slack.messages().len();
    run.stack
        .wait_until("the notifier posts at its slow pace", STAGE_TIMEOUT, || async {
            run.stack.slack.messages().len() >= posted + 2
        })
        .await;
    stop(&mut run.stack.notifier, &mut stopped).await;
    eprintln!("stopped after SIGTERM: {}", stopped.join(", "));
    run.stack.notifier.set_env("CHANNEL_INTERVAL", "5ms");
    run.stack.notifier.start(&run.stack.http).await;
    run.finish("SIGTERM each service", expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let run = start("postgres").await;
    let expected = run.expected();
    run.stack
        .wait_until("incident-core applies a quarter of the burst", STAGE_TIMEOUT, || async {
            run.alerts_applied().await >= (ALERTS / 4) as i64
        })
        .await;
    run.stack.postgres.crash().await;
    let accepted = run.sender.accepted();
    assert!(accepted < expected.webhooks, "crashed after the burst: nothing was in flight");
    eprintln!("PostgreSQL crashed with {accepted} of {} webhooks accepted", expected.webhooks);
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stack.postgres.start().await;
    run.finish("PostgreSQL crash (pg_ctl stop -m immediate)", expected).await;
}
