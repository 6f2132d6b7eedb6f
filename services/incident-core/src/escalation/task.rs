//! The engine's background task and its metrics: every `ESCALATION_TICK`, release what maintenance
//! windows that ended held (`crate::maintenance`), fire what is due (all
//! of it, in rounds of [`ROUND`] rows), wake the outbox relay so the pages leave at once, and
//! count what happened.
//!
//! Metrics are only observed once what they count is committed: [`fire_due`] commits each step
//! and reports it in its [`FiredSummary`]; an acknowledgement's hook reports the step it stopped
//! on the [`StatusChange`] the command's caller gets after its commit.
//!
//! Label sets stay bounded: `team` is the slug of the team whose policy escalates (the `teams`
//! table, not an alert's label), `person` a user's name (the `users` table: people who signed in),
//! `responder` the actor of an acknowledgement (a person, a personal token's owner, a Slack user:
//! people who can act, not anyone who can send an alert), `step` 1 to 20 (a policy's limit) and
//! `night` two values.

use super::fire::{FiredSummary, fire_due};
use super::statements;
use crate::Core;
use crate::incidents::StatusChange;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::RunQueryDsl;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_storage::StorageError;
use tokio_util::sync::CancellationToken;

/// Rows one round of a tick claims before the relay is woken and the next round starts.
pub const ROUND: usize = 100;

/// A step due for longer than this is overdue: the engine is behind, or no replica runs it.
pub const OVERDUE_AFTER: time::Duration = time::Duration::minutes(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepOutcome {
    /// `paged` (someone was paged) or `nobody` (nobody was: the next step was due at once).
    pub outcome: &'static str,
}

/// A person paged by a step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PersonPaged {
    /// The slug of the team whose policy paged them.
    pub team: String,
    /// Their name as they signed in.
    pub person: String,
    /// `"true"` when paged between 22:00 and 07:00 in their own time zone (see [`is_night`]).
    pub night: &'static str,
}

/// The step an acknowledgement stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepLabels {
    pub team: String,
    /// The step the escalation had reached, 1 for the first.
    pub step: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResponderLabel {
    pub responder: String,
}

/// What an acknowledgement of an incident whose escalation had paged someone in its current epoch
/// stopped: reported by the hook in the acknowledging transaction, observed after its commit.
#[derive(Debug, Clone, PartialEq)]
pub struct AcknowledgedStep {
    /// The slug of the team whose policy escalated.
    pub team: String,
    /// The step the escalation had reached (its last page in the epoch), 0 for the first.
    pub step: u32,
    /// Who acknowledged.
    pub responder: String,
    /// From the epoch's start (the incident's opening or reopening, or the acknowledgement whose
    /// timeout ran out) to this acknowledgement.
    pub seconds: f64,
}

/// Night, for the night-pages metric: from 22:00 to 07:00 local time.
const NIGHT_FROM_HOUR: i8 = 22;
const NIGHT_UNTIL_HOUR: i8 = 7;

/// Whether `at` is at night (22:00 to 07:00) in the first of `zones` (IANA names) that jiff
/// knows, or in UTC when it knows none (a user who never set one, a team without
/// schedules).
pub fn is_night(at: jiff::Timestamp, zones: &[Option<&str>]) -> bool {
    let zone =
        zones.iter().flatten().find_map(|name| jiff::tz::TimeZone::get(name).ok()).unwrap_or(jiff::tz::TimeZone::UTC);
    let hour = zone.to_datetime(at).hour();
    !(NIGHT_UNTIL_HOUR..NIGHT_FROM_HOUR).contains(&hour)
}

/// From 10 s to a day: how long people take to answer a page.
fn acknowledge_histogram() -> Histogram {
    Histogram::new([10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0])
}

#[derive(Clone)]
pub struct EscalationMetrics {
    pub steps_fired: Family<StepOutcome, Counter>,
    pub exhausted: Counter,
    pub fire_delay: Histogram,
    pub overdue: Gauge,
    pub failures: Counter,
    pub people_paged: Family<PersonPaged, Counter>,
    pub step_time_to_acknowledge: Family<StepLabels, Histogram>,
    pub responder_time_to_acknowledge: Family<ResponderLabel, Histogram>,
}

impl EscalationMetrics {
    pub fn register(registry: &mut Registry) -> EscalationMetrics {
        let metrics = EscalationMetrics {
            steps_fired: Family::default(),
            exhausted: Counter::default(),
            // From a millisecond to ten minutes: an engine that keeps up fires within a tick.
            fire_delay: Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
            ]),
            overdue: Gauge::default(),
            failures: Counter::default(),
            people_paged: Family::default(),
            step_time_to_acknowledge: Family::new_with_constructor(acknowledge_histogram as fn() -> Histogram),
            responder_time_to_acknowledge: Family::new_with_constructor(acknowledge_histogram as fn() -> Histogram),
        };
        // Both outcomes exist at zero from the start, so `increase()` sees the first nobody.
        for outcome in ["paged", "nobody"] {
            let _ = metrics.steps_fired.get_or_create(&StepOutcome { outcome });
        }
        registry.register(
            "escalation_steps_fired",
            "Escalation steps fired, by outcome: paged (someone was paged) or nobody (no one to page: the next step \
             fired at once)",
            metrics.steps_fired.clone(),
        );
        registry.register(
            "escalation_exhausted",
            "Escalations that fired the last step of their last pass with nobody acknowledging",
            metrics.exhausted.clone(),
        );
        registry.register(
            "escalation_fire_delay_seconds",
            "From when an escalation step was due to when it fired",
            metrics.fire_delay.clone(),
        );
        registry.register(
            "escalation_overdue",
            "Escalations whose step has been due for more than a minute, read from PostgreSQL (every replica reports \
             the same number: aggregate with max)",
            metrics.overdue.clone(),
        );
        registry.register(
            "escalation_failures",
            "Escalations that could not be fired (a policy that cannot be read), tried again a minute later",
            metrics.failures.clone(),
        );
        registry.register(
            "escalation_people_paged",
            "People paged by escalation steps, by the team whose policy paged, the person (a user: bounded by the \
             users table) and night (true between 22:00 and 07:00 in the person's time zone)",
            metrics.people_paged.clone(),
        );
        registry.register(
            "escalation_time_to_acknowledge_seconds",
            "From an escalation's start (the incident opening, reopening, or its acknowledgement running out) to the \
             acknowledgement that stopped it, by team and the step it had paged up to (1 for the first)",
            metrics.step_time_to_acknowledge.clone(),
        );
        registry.register(
            "escalation_responder_time_to_acknowledge_seconds",
            "From an escalation's start to the acknowledgement that stopped it, by who acknowledged",
            metrics.responder_time_to_acknowledge.clone(),
        );
        metrics
    }

    pub fn observe(&self, summary: &FiredSummary) {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if summary.paged > 0 {
            self.steps_fired.get_or_create(&StepOutcome { outcome: "paged" }).inc_by(count(summary.paged));
        }
        if summary.nobody > 0 {
            self.steps_fired.get_or_create(&StepOutcome { outcome: "nobody" }).inc_by(count(summary.nobody));
        }
        self.exhausted.inc_by(count(summary.ran_out));
        self.failures.inc_by(count(summary.failed));
        for delay in &summary.delays {
            self.fire_delay.observe(*delay);
        }
        for person in &summary.people_paged {
            self.people_paged.get_or_create(person).inc();
        }
    }

    /// Observes the acknowledgements among committed `changes` that stopped an escalation which
    /// had paged someone.
    pub fn observe_acknowledgements(&self, changes: &[StatusChange]) {
        for acknowledged in changes.iter().filter_map(|change| change.acknowledged_step.as_ref()) {
            let step = StepLabels { team: acknowledged.team.clone(), step: (acknowledged.step + 1).to_string() };
            self.step_time_to_acknowledge.get_or_create(&step).observe(acknowledged.seconds);
            let responder = ResponderLabel { responder: acknowledged.responder.clone() };
            self.responder_time_to_acknowledge.get_or_create(&responder).observe(acknowledged.seconds);
        }
    }
}

pub(crate) async fn run(core: Arc<Core>, tick: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = tick_once(&core, &core.escalation_metrics).await {
            if error.is_transient() {
                tracing::debug!(%error, "cannot fire escalations yet");
            } else {
                tracing::error!(%error, "firing escalations failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn tick_once(core: &Core, metrics: &EscalationMetrics) -> Result<(), StorageError> {
    let mut conn = core.pool.get().await?;
    let now = OffsetDateTime::now_utc();
    // Maintenance ending first: an incident it releases starts its escalation due now, which the
    // steps fired below include.
    loop {
        let released = crate::maintenance::release_due(&mut conn, now, ROUND).await?;
        if released.notified > 0 {
            core.relay_wakeup.notify_one();
        }
        if released.claimed < ROUND {
            break;
        }
    }
    loop {
        let summary = fire_due(&mut conn, now, ROUND).await?;
        metrics.observe(&summary);
        if summary.fired() > 0 {
            core.relay_wakeup.notify_one();
        }
        if summary.claimed < ROUND {
            break;
        }
    }
    let overdue: Count = diesel::sql_query(statements::OVERDUE)
        .bind::<Timestamptz, _>(now - OVERDUE_AFTER)
        .get_result(&mut conn)
        .await?;
    metrics.overdue.set(overdue.n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn night_runs_from_22_to_7_in_the_first_zone_known() {
        let utc = [None];
        assert!(is_night(at("2026-12-07T22:00:00Z"), &utc));
        assert!(is_night(at("2026-12-07T06:59:59Z"), &utc));
        assert!(!is_night(at("2026-12-07T07:00:00Z"), &utc));
        assert!(!is_night(at("2026-12-07T21:59:59Z"), &utc));
        // 08:00 UTC: 03:00 in New York, 17:00 in Tokyo.
        let morning = at("2026-12-07T08:00:00Z");
        assert!(is_night(morning, &[None, Some("America/New_York")]), "the team's when the person set none");
        assert!(!is_night(morning, &[Some("Asia/Tokyo"), Some("America/New_York")]), "the person's first");
        assert!(
            is_night(morning, &[Some("Not/A_Zone"), Some("America/New_York")]),
            "a zone jiff does not know is passed over"
        );
        // Kolkata is 05:30 ahead: 01:29 UTC is 06:59 there, 01:30 is 07:00.
        assert!(is_night(at("2026-12-07T01:29:00Z"), &[Some("Asia/Kolkata")]));
        assert!(!is_night(at("2026-12-07T01:30:00Z"), &[Some("Asia/Kolkata")]));
    }
}
