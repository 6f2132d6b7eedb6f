//! Escalation: who is paged, step by step, until someone acknowledges.
//!
//! A policy is an ordered list of steps, each paging its targets (a person, whoever is on call in
//! a schedule, a team, a channel) and waiting [`Step::escalate_after`] for an acknowledgement
//! before the next step pages; after the last step the policy starts over, [`Policy::repeat`]
//! more times. These functions say which step is due next and when; they hold no state and read
//! no clock. incident-core's engine keeps each incident's [`Due`] step in PostgreSQL (Redis
//! streams have no timers), claims the steps whose time has come, pages their targets and asks
//! [`after`] for the next one, all in one transaction (docs/oncall.md).
//!
//! Three rules decide what a page-worthy incident can never miss:
//!
//! - A step that reaches nobody (a schedule with a gap, a team without responders) does not wait:
//!   the next step is due at once.
//! - An overdue step fires once, however late, and the wait for the next one counts from when it
//!   fired: after an hour of downtime people get the whole delay to answer, not a burst of every
//!   step they missed.
//! - An incident escalates on the version of the policy in force when it opened or reopened;
//!   versions are never changed, so an edit (a step deleted, a delay shortened) applies to the
//!   incidents that open after it and never breaks one already escalating.

use crate::Severity;
use crate::schedule::{self, Restriction, ScheduleError};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

/// The most steps a policy has.
pub const MAX_STEPS: usize = 20;
/// The most targets a step pages.
pub const MAX_TARGETS_PER_STEP: usize = 20;
/// The most times a policy runs again after its first pass.
pub const MAX_REPEATS: u32 = 9;
/// The shortest wait before the next step: a minute, as PagerDuty and GoAlert allow.
pub const MIN_ESCALATE_AFTER: SignedDuration = SignedDuration::from_mins(1);
/// The longest wait before the next step: a day.
pub const MAX_ESCALATE_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// One version of an escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub steps: Vec<Step>,
    /// How many more times the whole policy runs after its last step (0: once through).
    pub repeat: u32,
    /// An acknowledged incident nobody resolved within this long escalates again from the first
    /// step (someone acknowledged and then fell asleep); `None`: an acknowledgement stands.
    pub acknowledge_timeout: Option<SignedDuration>,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub targets: Vec<Target>,
    /// How long after this step pages the next one does (or, after the last, the policy starts
    /// over) unless someone acknowledged.
    pub escalate_after: SignedDuration,
}

/// Who a step pages; who that is is worked out when the step fires. Written `{"user": "<id>"}`,
/// `{"schedule": "<id>"}`, `{"team": "<id>"}` or `{"channel": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    User(Uuid),
    /// Whoever is on call in the schedule at that moment.
    Schedule(Uuid),
    /// Every responder and manager of the team.
    Team(Uuid),
    /// A notification channel, by its name in the routing file (a team's Slack channel).
    Channel(String),
}

/// How an incident's severity decides whether it pages at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Urgency {
    /// Incidents at least this severe page at once, day or night.
    pub high_from: Severity,
    /// What the less severe ones do.
    pub low: LowUrgency,
}

impl Default for Urgency {
    /// Critical incidents page at once; the rest are announced in their channels and page nobody.
    fn default() -> Urgency {
        Urgency { high_from: Severity::Critical, low: LowUrgency::NotifyOnly }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LowUrgency {
    /// The channels hear of it as always; nobody is paged.
    NotifyOnly,
    /// The policy starts at the next instant inside working hours (at once, inside them): a
    /// warning at 03:00 pages the day shift at 09:00, not the night.
    WorkingHours { time_zone: TimeZone, hours: Vec<Restriction> },
}

/// A place in a policy: the step, on which pass through it (0: the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub step: u32,
    pub pass: u32,
}

impl Position {
    pub const FIRST: Position = Position { step: 0, pass: 0 };
}

/// The step an incident's escalation is waiting for, and when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub position: Position,
    pub at: Timestamp,
}

/// Why a policy is refused, naming the field and the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("steps: a policy has 1 to {MAX_STEPS} steps, this one has {0}")]
    Steps(usize),
    #[error("steps[{step}].targets: a step pages 1 to {MAX_TARGETS_PER_STEP} targets, this one {count}")]
    Targets { step: usize, count: usize },
    #[error("steps[{step}].escalate_after: from 1 minute to 24 hours")]
    EscalateAfter { step: usize },
    #[error("repeat: at most {MAX_REPEATS}")]
    Repeat,
    #[error("acknowledge_timeout: from 1 minute to 24 hours")]
    AcknowledgeTimeout,
}

impl Policy {
    /// Checks the limits above, so that an escalation always ends and never pages in a tight loop.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(PolicyError::Steps(self.steps.len()));
        }
        for (index, step) in self.steps.iter().enumerate() {
            if step.targets.is_empty() || step.targets.len() > MAX_TARGETS_PER_STEP {
                return Err(PolicyError::Targets { step: index, count: step.targets.len() });
            }
            if !within_limits(step.escalate_after) {
                return Err(PolicyError::EscalateAfter { step: index });
            }
        }
        if self.repeat > MAX_REPEATS {
            return Err(PolicyError::Repeat);
        }
        if self.acknowledge_timeout.is_some_and(|timeout| !within_limits(timeout)) {
            return Err(PolicyError::AcknowledgeTimeout);
        }
        Ok(())
    }

    fn step(&self, position: Position) -> Option<&Step> {
        self.steps.get(usize::try_from(position.step).ok()?)
    }
}

fn within_limits(wait: SignedDuration) -> bool {
    (MIN_ESCALATE_AFTER..=MAX_ESCALATE_AFTER).contains(&wait)
}

/// When an incident that opened (or reopened) at `at` starts escalating: the first step at once,
/// at the next instant inside working hours, or never (a low-urgency incident of a notify-only
/// policy, a policy without steps).
pub fn start(policy: &Policy, severity: Severity, at: Timestamp) -> Result<Option<Due>, ScheduleError> {
    if policy.steps.is_empty() {
        return Ok(None);
    }
    if severity >= policy.urgency.high_from {
        return Ok(Some(Due { position: Position::FIRST, at }));
    }
    match &policy.urgency.low {
        LowUrgency::NotifyOnly => Ok(None),
        LowUrgency::WorkingHours { time_zone, hours } => {
            Ok(schedule::next_within(hours, time_zone, at)?.map(|at| Due { position: Position::FIRST, at }))
        }
    }
}

/// The step after the one at `fired`, which fired at `fired_at`: the next one, the first again on
/// the next pass, or `None` when the passes have run out. `reached_anyone` is false when the step
/// found nobody to page; the next step is then due at once.
pub fn after(policy: &Policy, fired: Position, fired_at: Timestamp, reached_anyone: bool) -> Option<Due> {
    let step = policy.step(fired)?;
    let at = if reached_anyone { fired_at.checked_add(step.escalate_after).ok()? } else { fired_at };
    let next_step = fired.step + 1;
    let next = if usize::try_from(next_step).is_ok_and(|next| next < policy.steps.len()) {
        Position { step: next_step, pass: fired.pass }
    } else if fired.pass < policy.repeat {
        Position { step: 0, pass: fired.pass + 1 }
    } else {
        return None;
    };
    Some(Due { position: next, at })
}

/// When an incident acknowledged at `acknowledged_at` escalates again from the first step if
/// nobody resolves it first; `None` when the policy lets an acknowledgement stand.
pub fn acknowledgement_expires(policy: &Policy, acknowledged_at: Timestamp) -> Option<Due> {
    let timeout = policy.acknowledge_timeout?;
    Some(Due { position: Position::FIRST, at: acknowledged_at.checked_add(timeout).ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{Time, Weekday};

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a test instant")
    }

    fn minutes(count: i64) -> SignedDuration {
        SignedDuration::from_mins(count)
    }

    fn policy(delays: &[i64], repeat: u32) -> Policy {
        Policy {
            steps: delays
                .iter()
                .map(|&delay| Step { targets: vec![Target::Team(Uuid::nil())], escalate_after: minutes(delay) })
                .collect(),
            repeat,
            acknowledge_timeout: None,
            urgency: Urgency::default(),
        }
    }

    fn due(step: u32, pass: u32, when: &str) -> Option<Due> {
        Some(Due { position: Position { step, pass }, at: at(when) })
    }

    #[test]
    fn a_policy_walks_its_steps_then_its_passes_then_stops() {
        let policy = policy(&[5, 10], 1);
        let opened = at("2026-12-07T03:00:00Z");
        let first = start(&policy, Severity::Critical, opened).expect("no schedule arithmetic");
        assert_eq!(first, due(0, 0, "2026-12-07T03:00:00Z"));
        assert_eq!(after(&policy, Position { step: 0, pass: 0 }, opened, true), due(1, 0, "2026-12-07T03:05:00Z"));
        assert_eq!(
            after(&policy, Position { step: 1, pass: 0 }, at("2026-12-07T03:05:00Z"), true),
            due(0, 1, "2026-12-07T03:15:00Z")
        );
        assert_eq!(
            after(&policy, Position { step: 0, pass: 1 }, at("2026-12-07T03:15:00Z"), true),
            due(1, 1, "2026-12-07T03:20:00Z")
        );
        assert_eq!(after(&policy, Position { step: 1, pass: 1 }, at("2026-12-07T03:20:00Z"), true), None);
    }

    #[test]
    fn a_step_that_reaches_nobody_hands_over_at_once() {
        let policy = policy(&[15, 15], 0);
        let fired = at("2026-12-07T03:00:00Z");
        assert_eq!(after(&policy, Position::FIRST, fired, false), due(1, 0, "2026-12-07T03:00:00Z"));
    }

    #[test]
    fn an_overdue_step_counts_the_next_wait_from_when_it_fired() {
        let policy = policy(&[5, 5], 0);
        // Due at 03:00, fired at 04:00 after an outage: the next is due at 04:05, once.
        assert_eq!(
            after(&policy, Position::FIRST, at("2026-12-07T04:00:00Z"), true),
            due(1, 0, "2026-12-07T04:05:00Z")
        );
    }

    #[test]
    fn a_position_the_version_does_not_have_ends_the_escalation() {
        let policy = policy(&[5], 3);
        assert_eq!(after(&policy, Position { step: 4, pass: 0 }, at("2026-12-07T03:00:00Z"), true), None);
    }

    #[test]
    fn low_urgency_notifies_only_by_default_and_waits_for_working_hours_when_asked() {
        let mut policy = policy(&[5], 0);
        let saturday_night = at("2026-12-05T08:00:00Z"); // 03:00 in New York
        assert_eq!(start(&policy, Severity::Warning, saturday_night), Ok(None));
        assert_eq!(start(&policy, Severity::High, saturday_night), Ok(None));

        let weekdays = [Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday];
        policy.urgency = Urgency {
            high_from: Severity::High,
            low: LowUrgency::WorkingHours {
                time_zone: TimeZone::get("America/New_York").expect("zone"),
                hours: vec![Restriction::on(&weekdays, Time::constant(9, 0, 0, 0), 480)],
            },
        };
        assert_eq!(start(&policy, Severity::High, saturday_night), Ok(due(0, 0, "2026-12-05T08:00:00Z")));
        // Monday 09:00 EST.
        assert_eq!(start(&policy, Severity::Warning, saturday_night), Ok(due(0, 0, "2026-12-07T14:00:00Z")));
        // Inside working hours: at once.
        let tuesday_noon = at("2026-12-08T17:00:00Z");
        assert_eq!(start(&policy, Severity::Info, tuesday_noon), Ok(due(0, 0, "2026-12-08T17:00:00Z")));
    }

    #[test]
    fn an_acknowledgement_expires_only_when_the_policy_says_so() {
        let mut policy = policy(&[5], 0);
        let acknowledged = at("2026-12-07T03:02:00Z");
        assert_eq!(acknowledgement_expires(&policy, acknowledged), None);
        policy.acknowledge_timeout = Some(minutes(30));
        assert_eq!(acknowledgement_expires(&policy, acknowledged), due(0, 0, "2026-12-07T03:32:00Z"));
    }

    #[test]
    fn limits_name_the_field() {
        assert_eq!(policy(&[], 0).validate(), Err(PolicyError::Steps(0)));
        assert_eq!(policy(&[0], 0).validate(), Err(PolicyError::EscalateAfter { step: 0 }));
        assert_eq!(policy(&[5, 24 * 60 + 1], 0).validate(), Err(PolicyError::EscalateAfter { step: 1 }));
        assert_eq!(policy(&[5], MAX_REPEATS + 1).validate(), Err(PolicyError::Repeat));
        let mut no_targets = policy(&[5], 0);
        no_targets.steps[0].targets.clear();
        assert_eq!(no_targets.validate(), Err(PolicyError::Targets { step: 0, count: 0 }));
        let mut quick_timeout = policy(&[5], 0);
        quick_timeout.acknowledge_timeout = Some(SignedDuration::from_secs(10));
        assert_eq!(quick_timeout.validate(), Err(PolicyError::AcknowledgeTimeout));
        assert_eq!(policy(&[1, 24 * 60], MAX_REPEATS).validate(), Ok(()));
        assert!(
            PolicyError::Targets { step: 2, count: 21 }.to_string().starts_with("steps[2].targets"),
            "the message names the field"
        );
    }
}
