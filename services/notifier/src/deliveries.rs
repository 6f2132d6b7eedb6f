//! The delivery worker: sends what the event loop recorded in `notification_deliveries`.
//!
//! - Deliveries are claimed from PostgreSQL (`FOR UPDATE SKIP LOCKED`), held for a short while and
//!   renewed as long as the replica works on them, so any number of replicas share the work and a
//!   crashed replica's claims are taken over within [`CLAIM_HOLD`].
//! - An outcome is recorded before anything else happens to the delivery; while the database is
//!   away the worker keeps trying, since it knows what happened and nobody else does.
//! - A delivery whose earlier attempt ended with no outcome recorded (its replica died, the answer
//!   never came) is in doubt: Slack's bot looks for it in the Slack channel before posting again
//!   (`channels::slack`); the other channels cannot be asked and send it again.
//! - Only the oldest pending delivery of an incident on a target is claimable: the incident's
//!   message is posted before it is edited, even across retries.
//! - A success remembers the thread it started (Slack message, GitHub issue) in the same
//!   transaction that marks the delivery sent.
//! - A 429 waits for its `Retry-After`; 5xx, timeouts and refused connections back off
//!   exponentially with jitter; other 4xx are not retried. A delivery that fails for good goes to
//!   the `notifications` dead-letter stream and is counted.
//! - Each attempt at a traced delivery is a "deliver <channel>" span, the child of the "route event"
//!   span whose context the delivery row keeps.
//! - A page to one person (a delivery naming a contact method) goes through `crate::pages` once its
//!   rule's delay has passed, and only while its incident is open and was not acknowledged or
//!   resolved since the page: else it is cancelled, not sent (docs/oncall.md, "Notification
//!   rules"). Pages are counted by method and outcome.

use crate::channels::email::Email;
use crate::channels::github::GitHub;
use crate::channels::slack::{SlackBot, SlackWebhook};
use crate::channels::teams::Teams;
use crate::channels::{Attempt, Channel, Delivered, DeliveryError, Summary, Thread};
use crate::metrics::DeliveryMetrics;
use crate::pages::{PageContent, Pager};
use rand::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::Bus;
use tocsin_domain::{IncidentEvent, IncidentStatus};
use tocsin_runtime::traces::{SpanKind, TraceContext, TraceSpan, Tracer};
use tocsin_storage::contacts;
use tocsin_storage::notifications::{self, ClaimedDelivery, TestPage};
use tocsin_storage::{AsyncConnection, Pool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The dead-letter stream of notifications given up on: `<prefix>:notifications:dead-letter`.
pub const DEAD_LETTER_STREAM: &str = "notifications";
/// Deliveries claimed at once.
const CLAIM_BATCH: i64 = 20;
/// How long a claim holds without being renewed: how soon a crashed replica's deliveries are
/// taken over.
const CLAIM_HOLD: Duration = Duration::from_secs(15);
/// How often claims are renewed while their batch is worked on (pacing can make a batch take
/// far longer than [`CLAIM_HOLD`]).
const CLAIM_RENEWAL: Duration = Duration::from_secs(5);
/// How often to look for due deliveries when nobody says there are new ones (retries come due).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the backlog gauge is counted again.
const BACKLOG_REFRESH: Duration = Duration::from_secs(5);

/// What sends to one target: its channel's client, set up with the target's place and
/// credentials. One per target, built at start-up.
pub enum Sender {
    Slack(SlackBot),
    SlackWebhook(SlackWebhook),
    Teams(Teams),
    Email(Email),
    GitHub(GitHub),
}

impl Sender {
    pub fn channel(&self) -> Channel {
        match self {
            Sender::Slack(_) => Channel::Slack,
            Sender::SlackWebhook(_) => Channel::SlackWebhook,
            Sender::Teams(_) => Channel::Teams,
            Sender::Email(_) => Channel::Email,
            Sender::GitHub(_) => Channel::GitHub,
        }
    }

    async fn deliver(
        &self,
        summary: &Summary<'_>,
        thread: Option<&Thread>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        match self {
            Sender::Slack(slack) => slack.deliver(summary, thread, attempt).await,
            Sender::SlackWebhook(webhook) => webhook.deliver(summary).await,
            Sender::Teams(teams) => teams.deliver(summary).await,
            Sender::Email(email) => email.deliver(summary).await,
            Sender::GitHub(github) => github.deliver(summary, thread).await,
        }
    }
}

/// How failed deliveries are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included, before a delivery is given up on.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each further one.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A delivery taking longer than this counts as a timeout (retried).
    pub attempt_timeout: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1`: exponential, capped, with jitter over its upper half
    /// so that replicas retrying the same outage do not stampede together.
    pub fn backoff(&self, failed: u32) -> Duration {
        let exponential = self.base_backoff.saturating_mul(2u32.saturating_pow(failed.saturating_sub(1)));
        let capped = exponential.min(self.max_backoff);
        let half = capped / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// What goes to the dead-letter stream for a notification given up on.
#[derive(Debug, Serialize)]
struct DeadNotification<'a> {
    delivery_id: i64,
    event_id: Uuid,
    incident_id: Uuid,
    target: &'a str,
    attempts: i32,
    error: &'a str,
    /// The event as it was received, so it can be replayed by hand.
    event: &'a str,
}

pub struct Worker {
    pub pool: Pool,
    pub bus: Bus,
    /// Each target's sender, by target name.
    pub senders: Arc<HashMap<String, Sender>>,
    pub retry: RetryPolicy,
    pub public_url: Option<String>,
    /// Sends pages to people through their contact methods.
    pub pager: Arc<Pager>,
    pub metrics: DeliveryMetrics,
    /// Rung by the event loop when it recorded new deliveries.
    pub wake: Arc<Notify>,
    pub tracer: Tracer,
}

impl Worker {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backlog_due = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            // A COUNT over the table: worth a few seconds' staleness, not one per poll.
            if tokio::time::Instant::now() >= backlog_due {
                self.refresh_backlog().await;
                backlog_due = tokio::time::Instant::now() + BACKLOG_REFRESH;
            }
            let claimed = match self.claim().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim deliveries; retrying");
                    self.wait(&shutdown, Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                self.wait(&shutdown, IDLE_POLL).await;
                continue;
            }
            // Targets are worked on side by side; within a target, in order.
            let ids: Vec<i64> = claimed.iter().map(|delivery| delivery.id).collect();
            let mut by_target: BTreeMap<String, Vec<ClaimedDelivery>> = BTreeMap::new();
            for delivery in claimed {
                by_target.entry(delivery.target.clone()).or_default().push(delivery);
            }
            let work = futures_util::future::join_all(by_target.into_values().map(|deliveries| async {
                let mut unstarted = Vec::new();
                for delivery in deliveries {
                    // Once stopping, the delivery under way finishes and is recorded; the rest
                    // wait for the next replica. A batch of one Slack channel, paced a second
                    // apart, would otherwise hold the process for up to CLAIM_BATCH seconds.
                    if shutdown.is_cancelled() {
                        unstarted.push(delivery.id);
                    } else {
                        self.process(delivery, &shutdown).await;
                    }
                }
                unstarted
            }));
            let unstarted: Vec<i64> = self.holding(&ids, work).await.concat();
            if !unstarted.is_empty() {
                self.release(&unstarted).await;
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// Gives back the claims of deliveries left unstarted at shutdown. Should that fail, they are
    /// taken over once their claims lapse, as after a crash.
    async fn release(&self, ids: &[i64]) {
        let released = match self.pool.get().await {
            Ok(mut conn) => notifications::release_claims(&mut conn, ids).await,
            Err(error) => Err(error.into()),
        };
        match released {
            Ok(count) => tracing::info!(deliveries = count, "stopping: unstarted deliveries given back"),
            Err(error) => {
                tracing::warn!(%error, deliveries = ids.len(), "stopping: cannot give back unstarted deliveries; they are taken over when their claims lapse")
            }
        }
    }

    /// Runs `work` while renewing the claims on `ids`, so no other replica takes them over
    /// however long the batch takes.
    async fn holding<T>(&self, ids: &[i64], work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + CLAIM_RENEWAL, CLAIM_RENEWAL);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = renewal.tick() => {
                    let renewed = match self.pool.get().await {
                        Ok(mut conn) => notifications::extend_claims(&mut conn, ids, CLAIM_HOLD).await,
                        Err(error) => Err(error.into()),
                    };
                    if let Err(error) = renewed {
                        tracing::warn!(%error, "cannot renew the claims on deliveries being sent; another replica may take them over");
                    }
                }
            }
        }
    }

    async fn wait(&self, shutdown: &CancellationToken, idle: Duration) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    async fn claim(&self) -> Result<Vec<ClaimedDelivery>, tocsin_storage::StorageError> {
        let mut conn = self.pool.get().await?;
        notifications::claim_due(&mut conn, CLAIM_BATCH, CLAIM_HOLD).await
    }

    async fn refresh_backlog(&self) {
        let Ok(mut conn) = self.pool.get().await else { return };
        if let Ok(backlog) = notifications::backlog(&mut conn).await {
            self.metrics.backlog.set(backlog);
        }
    }

    async fn process(&self, delivery: ClaimedDelivery, shutdown: &CancellationToken) {
        let mut span = self.span(&delivery);
        let outcome = self.attempt(&delivery).await;
        if let Err((error, _)) = &outcome {
            span.set_error(&error.to_string());
        }
        // Only this replica knows what happened: forgetting it would leave the delivery in doubt.
        while let Err(error) = self.record(&delivery, &outcome, &mut span).await {
            if shutdown.is_cancelled() {
                tracing::warn!(%error, delivery.id = delivery.id, "stopping before a delivery's outcome could be recorded; it stays in doubt");
                break;
            }
            tracing::warn!(%error, delivery.id = delivery.id, "cannot record a delivery's outcome; trying again");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        span.end();
    }

    /// The attempt's span, in the trace the delivery was recorded in; nothing for an untraced one.
    fn span(&self, delivery: &ClaimedDelivery) -> TraceSpan {
        let parent = delivery.traceparent.as_deref().and_then(TraceContext::from_traceparent);
        let name = self.senders.get(&delivery.target).map_or("deliver", |sender| sender.channel().span_name());
        let mut span = self.tracer.follow(name, SpanKind::Client, parent.as_ref());
        if span.is_recording() {
            span.set_i64("notification.delivery.id", delivery.id);
            span.set_str("notification.target", &delivery.target);
            span.set_i64("notification.attempt", i64::from(delivery.attempts) + 1);
            span.set_str("event.id", &delivery.event_id.to_string());
            span.set_str("incident.id", &delivery.incident_id.to_string());
        }
        span
    }

    /// Sends one delivery and says how it went, with the name of its channel for the metrics.
    async fn attempt(
        &self,
        delivery: &ClaimedDelivery,
    ) -> Result<(Delivered, &'static str), (DeliveryError, &'static str)> {
        if let Some(contact_method_id) = delivery.contact_method_id {
            return self.page(delivery, contact_method_id).await;
        }
        let Some(sender) = self.senders.get(&delivery.target) else {
            let reason = format!("target `{}` is no longer in the routing", delivery.target);
            return Err((DeliveryError::permanent(reason), "unknown"));
        };
        let channel = sender.channel();
        let channel_name = channel.as_str();
        let event: IncidentEvent = serde_json::from_str(&delivery.event).map_err(|error| {
            (DeliveryError::permanent(format!("the recorded event does not decode: {error}")), channel_name)
        })?;
        let in_doubt = delivery.claim_lapsed || delivery.attempts > 0;
        let storage_error =
            |error: tocsin_storage::StorageError| (DeliveryError::retry(error.to_string()), channel_name);
        // The Slack app's message names who is being paged while nobody has acknowledged.
        let with_paging = channel == Channel::Slack && event.incident.status == IncidentStatus::Open;
        let (thread, paging, known_slack_channel) = if channel.keeps_threads() {
            let mut conn = self.pool.get().await.map_err(|error| storage_error(error.into()))?;
            let (thread, paging) =
                notifications::thread_and_paging(&mut conn, delivery.incident_id, &delivery.target, with_paging)
                    .await
                    .map_err(storage_error)?;
            let thread = thread.map(|row| Thread { location: row.location, reference: row.reference });
            let known_slack_channel = match in_doubt && thread.is_none() && channel.looks_before_resending() {
                true => {
                    notifications::latest_thread_location(&mut conn, &delivery.target).await.map_err(storage_error)?
                }
                false => None,
            };
            (thread, paging, known_slack_channel)
        } else {
            (None, Vec::new(), None)
        };
        if delivery.claim_lapsed && !channel.looks_before_resending() {
            tracing::warn!(delivery.id = delivery.id, target = %delivery.target, "a delivery left mid-way by a stopped replica is sent again; its channel cannot be asked whether it arrived, so it may show twice");
        }
        let attempt = Attempt {
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            incident_id: delivery.incident_id,
            recorded_at: delivery.created_at,
            in_doubt,
            known_slack_channel,
        };
        let summary = Summary { paging, ..Summary::new(&event, self.public_url.as_deref()) };
        let started = std::time::Instant::now();
        let result =
            tokio::time::timeout(self.retry.attempt_timeout, sender.deliver(&summary, thread.as_ref(), &attempt)).await;
        self.metrics.observe_duration(channel_name, started.elapsed());
        match result {
            Ok(Ok(delivered)) => Ok((delivered, channel_name)),
            Ok(Err(error)) => Err((error, channel_name)),
            Err(_) => {
                Err((DeliveryError::retry(format!("no answer within {:?}", self.retry.attempt_timeout)), channel_name))
            }
        }
    }

    /// Sends one page through its contact method, unless it must not go out any more; says how it
    /// went with the method's kind, for the metrics.
    async fn page(
        &self,
        delivery: &ClaimedDelivery,
        contact_method_id: Uuid,
    ) -> Result<(Delivered, &'static str), (DeliveryError, &'static str)> {
        let storage_error = |error: tocsin_storage::StorageError| (DeliveryError::retry(error.to_string()), "unknown");
        let mut conn = self.pool.get().await.map_err(|error| storage_error(error.into()))?;
        let Some(method) = contacts::method(&mut conn, contact_method_id).await.map_err(storage_error)? else {
            return Err((DeliveryError::cancelled("the contact method was removed"), "unknown"));
        };
        let kind = method.kind.as_str();
        if method.disabled {
            return Err((DeliveryError::cancelled("the contact method is disabled"), kind));
        }
        let test: TestPage;
        let event: IncidentEvent;
        let content = if delivery.target.starts_with(notifications::TEST_PAGE_PREFIX) {
            test = serde_json::from_str(&delivery.event).map_err(|error| {
                (DeliveryError::permanent(format!("the recorded test page does not decode: {error}")), kind)
            })?;
            PageContent::Test(&test)
        } else {
            event = serde_json::from_str(&delivery.event).map_err(|error| {
                (DeliveryError::permanent(format!("the recorded event does not decode: {error}")), kind)
            })?;
            // Read now, not when the page was queued: acknowledging cancels every page still to come.
            let standing = notifications::incident_standing(&mut conn, delivery.incident_id)
                .await
                .map_err(|error| (DeliveryError::retry(error.to_string()), kind))?;
            if let Some(reason) = stale(standing.as_ref(), event.at) {
                return Err((DeliveryError::cancelled(reason), kind));
            }
            PageContent::Incident(Summary::new(&event, self.public_url.as_deref()))
        };
        // An SMS page that can be answered names the incident by the person's short code, taken
        // before it is sent so that the reply finds it.
        let reply_code = match (&content, method.kind) {
            (PageContent::Incident(_), contacts::ContactKind::Sms) if self.pager.takes_replies() => Some(
                tocsin_storage::replies::reply_code(&mut conn, method.user_id, delivery.incident_id)
                    .await
                    .map_err(|error| (DeliveryError::retry(error.to_string()), kind))?,
            ),
            _ => None,
        };
        drop(conn);
        let attempt = Attempt {
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            incident_id: delivery.incident_id,
            recorded_at: delivery.created_at,
            in_doubt: delivery.claim_lapsed || delivery.attempts > 0,
            known_slack_channel: None,
        };
        let started = std::time::Instant::now();
        let result =
            tokio::time::timeout(self.retry.attempt_timeout, self.pager.send(&method, &content, &attempt, reply_code))
                .await;
        self.metrics.observe_duration(kind, started.elapsed());
        match result {
            Ok(Ok(delivered)) => Ok((delivered, kind)),
            Ok(Err(error)) => Err((error, kind)),
            Err(_) => Err((DeliveryError::retry(format!("no answer within {:?}", self.retry.attempt_timeout)), kind)),
        }
    }

    /// Counts an outcome: a page by its method, anything else by its channel.
    fn count(&self, delivery: &ClaimedDelivery, name: &'static str, outcome: &'static str) {
        if delivery.contact_method_id.is_some() {
            self.metrics.count_page(name, outcome);
        } else {
            self.metrics.count(name, outcome);
        }
    }

    async fn record(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &Result<(Delivered, &'static str), (DeliveryError, &'static str)>,
        span: &mut TraceSpan,
    ) -> Result<(), tocsin_storage::StorageError> {
        let mut conn = self.pool.get().await?;
        let attempt = delivery.attempts as u32 + 1;
        match outcome {
            Ok((delivered, channel_name)) => {
                let (incident_id, target, id) = (delivery.incident_id, delivery.target.clone(), delivery.id);
                conn.transaction(async |conn| {
                    if let Some(thread) = &delivered.new_thread {
                        notifications::remember_thread(conn, incident_id, &target, &thread.location, &thread.reference)
                            .await?;
                    }
                    notifications::mark_sent(conn, id).await
                })
                .await?;
                self.count(delivery, channel_name, "sent");
                span.set_str("notification.outcome", "sent");
                tracing::info!(delivery.id = delivery.id, target = %delivery.target, incident.id = %delivery.incident_id, attempt, "notification sent");
            }
            Err((DeliveryError::Retry { reason, after }, channel_name)) if attempt < self.retry.max_attempts => {
                let wait = after.unwrap_or_else(|| self.retry.backoff(attempt));
                notifications::mark_retry(&mut conn, delivery.id, OffsetDateTime::now_utc() + wait, reason).await?;
                self.count(delivery, channel_name, "retried");
                span.set_str("notification.outcome", "retried");
                tracing::warn!(delivery.id = delivery.id, target = %delivery.target, attempt, retry_in = ?wait, %reason, "notification failed; will retry");
            }
            Err((DeliveryError::Cancelled { reason }, channel_name)) => {
                notifications::mark_cancelled(&mut conn, delivery.id, reason).await?;
                self.count(delivery, channel_name, "cancelled");
                span.set_str("notification.outcome", "cancelled");
                tracing::info!(delivery.id = delivery.id, target = %delivery.target, incident.id = %delivery.incident_id, %reason, "page cancelled");
            }
            Err((error, channel_name)) => {
                let reason = match &error {
                    DeliveryError::Retry { reason, .. } => format!("gave up after {attempt} attempts: {reason}"),
                    DeliveryError::Permanent { reason } | DeliveryError::Cancelled { reason } => reason.clone(),
                };
                let record = DeadNotification {
                    delivery_id: delivery.id,
                    event_id: delivery.event_id,
                    incident_id: delivery.incident_id,
                    target: &delivery.target,
                    attempts: attempt as i32,
                    error: &reason,
                    event: &delivery.event,
                };
                if let Err(error) = self.bus.dead_letter(DEAD_LETTER_STREAM, &record).await {
                    // Without the dead-letter record the delivery stays pending, to be tried again.
                    tracing::warn!(%error, delivery.id = delivery.id, "cannot write the dead-letter record; will try again");
                    notifications::mark_retry(
                        &mut conn,
                        delivery.id,
                        OffsetDateTime::now_utc() + Duration::from_secs(5),
                        &reason,
                    )
                    .await?;
                    return Ok(());
                }
                notifications::mark_dead(&mut conn, delivery.id, &reason).await?;
                self.count(delivery, channel_name, "dead");
                span.set_str("notification.outcome", "dead");
                tracing::error!(delivery.id = delivery.id, target = %delivery.target, incident.id = %delivery.incident_id, %reason, "notification given up; it is on the dead-letter stream");
            }
        }
        Ok(())
    }
}

/// Why a page of an event at `paged_at` must not go out any more, if it must not: the incident is
/// gone, not open, or was acknowledged or resolved since the page (and reopened: the reopening
/// pages anew).
fn stale(standing: Option<&notifications::IncidentStanding>, paged_at: OffsetDateTime) -> Option<String> {
    let Some(standing) = standing else {
        return Some("the incident is gone".to_owned());
    };
    if standing.status != "open" {
        return Some(format!("the incident is {}", standing.status));
    }
    match (standing.acknowledged_at, standing.resolved_at) {
        (Some(at), _) if at > paged_at => Some("the incident was acknowledged since the page".to_owned()),
        (_, Some(at)) if at > paged_at => Some("the incident was resolved since the page".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_cap_and_jitters_in_its_upper_half() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
        };
        for (failed, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (30, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let wait = policy.backoff(failed);
                assert!(
                    wait >= full / 2 && wait <= full,
                    "after {failed} failures: {wait:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }
}
