//! Maintenance windows: planned quiet. While a window is active, incidents that open (or reopen)
//! and match it are still recorded, but nothing is notified and nobody is paged until it ends
//! (docs/noise.md). This module decides the two questions every such decision asks, on plain
//! values: is a window active at an instant, and does it match an incident's alert.
//!
//! A window is active over `[starts_at, ends_at)`: from its first instant, up to but not including
//! its end, so that a window from 10:00 to 11:00 and one from 11:00 to 12:00 never both apply and
//! never leave a gap. Ending a window early moves its end to the moment it was ended.
//!
//! Matchers are Alertmanager's ([`crate::matcher`]). They read the alert's labels, with the
//! incident's facts `service`, `environment` and `team` in place of labels of those names: the
//! facts are what people see on the incident and in the service catalogue (a `team` that comes from
//! the catalogue rather than from a label, a `service` read from `job`), so a window written
//! `team="payments"` quiets what the dashboard shows as the payments team's.

use crate::matcher::{self, Matcher};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The longest reason, in characters: a sentence or two, shown on the incident and in Slack.
pub const MAX_REASON_CHARS: usize = 500;

/// One window as it applies to incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub id: Uuid,
    pub matchers: Vec<Matcher>,
    pub starts_at: OffsetDateTime,
    /// The planned end, exclusive.
    pub ends_at: OffsetDateTime,
    /// When someone ended it before `ends_at`.
    pub ended_at: Option<OffsetDateTime>,
    pub reason: String,
}

/// Why a window is refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("matchers: a window needs at least one matcher (one with none would quiet every incident)")]
    NoMatchers,
    #[error("matchers: at most {} matchers", matcher::MAX_MATCHERS)]
    TooManyMatchers,
    #[error("ends_at: must be after starts_at")]
    EndsBeforeItStarts,
    #[error("reason: must not be blank")]
    BlankReason,
    #[error("reason: at most {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
}

/// The stretch of time during which a window applies, as attached to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub starts_at: OffsetDateTime,
    /// Exclusive.
    pub ends_at: OffsetDateTime,
}

impl Window {
    /// A window, checked: matchers present and bounded, an end after the start, a reason that says
    /// something and fits.
    pub fn new(
        id: Uuid,
        matchers: Vec<Matcher>,
        starts_at: OffsetDateTime,
        ends_at: OffsetDateTime,
        reason: &str,
    ) -> Result<Window, WindowError> {
        if matchers.is_empty() {
            return Err(WindowError::NoMatchers);
        }
        if matchers.len() > matcher::MAX_MATCHERS {
            return Err(WindowError::TooManyMatchers);
        }
        if ends_at <= starts_at {
            return Err(WindowError::EndsBeforeItStarts);
        }
        if reason.trim().is_empty() {
            return Err(WindowError::BlankReason);
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(WindowError::ReasonTooLong);
        }
        Ok(Window { id, matchers, starts_at, ends_at, ended_at: None, reason: reason.to_owned() })
    }

    /// The occurrence in force at `at`, if any: `starts_at ≤ at < end`, the end being the earlier
    /// of the planned end and the moment the window was ended.
    pub fn occurrence_at(&self, at: OffsetDateTime) -> Option<Occurrence> {
        let ends_at = self.ended_at.map_or(self.ends_at, |ended_at| ended_at.min(self.ends_at));
        (self.starts_at <= at && at < ends_at).then_some(Occurrence { starts_at: self.starts_at, ends_at })
    }

    /// Whether every matcher of the window matches `subject`.
    pub fn matches(&self, subject: &Subject) -> bool {
        subject.matched_by(&self.matchers)
    }
}

/// What a window's matchers read: an alert's labels with the incident's facts over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    labels: BTreeMap<String, String>,
}

impl Subject {
    /// `labels` of an alert with `service`, `environment` and `team` replaced by the facts of the
    /// incident it opens or joins.
    pub fn new(labels: &BTreeMap<String, String>, service: &str, environment: &str, team: &str) -> Subject {
        let mut labels = labels.clone();
        for (name, fact) in [("service", service), ("environment", environment), ("team", team)] {
            labels.insert(name.to_owned(), fact.to_owned());
        }
        Subject { labels }
    }

    /// Whether every matcher of `matchers` matches: what a window, or a preview of one, asks.
    pub fn matched_by(&self, matchers: &[Matcher]) -> bool {
        matcher::all_match(matchers, &self.labels)
    }
}

/// How maintenance holds an incident, as its events and its API representation say: the window
/// that ends last, when several hold it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub window_id: Uuid,
    pub reason: String,
    /// When the window ends, and with it the hold (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub until: OffsetDateTime,
}

/// The windows of `windows` that are active at `at` and match `subject`, each with its occurrence,
/// in the order given. Overlapping windows all apply: the incident stays quiet until the last of
/// them ends.
pub fn applying<'a>(
    windows: &'a [Window],
    subject: &Subject,
    at: OffsetDateTime,
) -> impl Iterator<Item = (&'a Window, Occurrence)> {
    windows.iter().filter(|window| window.matches(subject)).filter_map(move |window| {
        let occurrence = window.occurrence_at(at)?;
        Some((window, occurrence))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn window(matchers: &str, starts_at: OffsetDateTime, ends_at: OffsetDateTime) -> Window {
        let matchers = matcher::parse_set(matchers).expect("matchers");
        Window::new(Uuid::nil(), matchers, starts_at, ends_at, "database upgrade").expect("a window")
    }

    fn subject(labels: &[(&str, &str)]) -> Subject {
        let labels = labels.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        Subject::new(&labels, "checkout", "production", "payments")
    }

    const TEN: OffsetDateTime = datetime!(2026-12-08 10:00 UTC);
    const ELEVEN: OffsetDateTime = datetime!(2026-12-08 11:00 UTC);

    #[test]
    fn a_window_is_active_from_its_first_instant_up_to_but_not_including_its_end() {
        let quiet = window(r#"service="checkout""#, TEN, ELEVEN);
        let nanosecond = time::Duration::nanoseconds(1);
        assert_eq!(quiet.occurrence_at(TEN - nanosecond), None);
        assert_eq!(quiet.occurrence_at(TEN), Some(Occurrence { starts_at: TEN, ends_at: ELEVEN }));
        assert!(quiet.occurrence_at(ELEVEN - nanosecond).is_some());
        assert_eq!(quiet.occurrence_at(ELEVEN), None);
    }

    #[test]
    fn ending_a_window_early_ends_its_occurrence_then_and_a_late_end_changes_nothing() {
        let mut quiet = window(r#"service="checkout""#, TEN, ELEVEN);
        let half_past = datetime!(2026-12-08 10:30 UTC);
        quiet.ended_at = Some(half_past);
        assert_eq!(quiet.occurrence_at(TEN), Some(Occurrence { starts_at: TEN, ends_at: half_past }));
        assert_eq!(quiet.occurrence_at(half_past), None);
        quiet.ended_at = Some(datetime!(2026-12-08 12:00 UTC));
        assert_eq!(quiet.occurrence_at(TEN).map(|occurrence| occurrence.ends_at), Some(ELEVEN));
    }

    #[test]
    fn every_operator_matches_as_in_alertmanager() {
        let alert = subject(&[("alertname", "HighLatency"), ("instance", "db-12")]);
        let cases = [
            (r#"alertname="HighLatency""#, true),
            (r#"alertname="Latency""#, false),
            (r#"alertname!="HighLatency""#, false),
            (r#"alertname!="Watchdog""#, true),
            (r#"instance=~"db-[0-9]+""#, true),
            (r#"instance=~"db""#, false),
            (r#"instance!~"db-[0-9]+""#, false),
            (r#"instance!~"web-.*""#, true),
            (r#"cluster="""#, true),
            (r#"cluster!="""#, false),
        ];
        for (matchers, expected) in cases {
            let quiet = window(matchers, TEN, ELEVEN);
            assert_eq!(quiet.matches(&alert), expected, "{matchers}");
        }
    }

    #[test]
    fn every_matcher_of_a_window_must_match() {
        let alert = subject(&[("alertname", "HighLatency")]);
        assert!(window(r#"{alertname="HighLatency", team="payments"}"#, TEN, ELEVEN).matches(&alert));
        assert!(!window(r#"{alertname="HighLatency", team="search"}"#, TEN, ELEVEN).matches(&alert));
    }

    #[test]
    fn service_environment_and_team_are_the_incidents_facts_over_the_labels() {
        // The alert names its service by `job` and carries no team: the facts are what match.
        let alert = subject(&[("job", "checkout"), ("env", "prod"), ("team", "someone-else")]);
        assert!(
            window(r#"{service="checkout", environment="production", team="payments"}"#, TEN, ELEVEN).matches(&alert)
        );
        assert!(!window(r#"team="someone-else""#, TEN, ELEVEN).matches(&alert));
        assert!(window(r#"env="prod""#, TEN, ELEVEN).matches(&alert), "other labels as the alert has them");
    }

    #[test]
    fn overlapping_windows_all_apply_and_only_while_each_is_active() {
        let first = window(r#"service="checkout""#, TEN, ELEVEN);
        let second = Window {
            id: Uuid::from_u128(2),
            ..window(r#"team="payments""#, datetime!(2026-12-08 10:30 UTC), datetime!(2026-12-08 12:00 UTC))
        };
        let elsewhere = Window { id: Uuid::from_u128(3), ..window(r#"team="search""#, TEN, ELEVEN) };
        let windows = [first, second, elsewhere];
        let alert = subject(&[]);
        let ids = |at| applying(&windows, &alert, at).map(|(window, _)| window.id.as_u128()).collect::<Vec<_>>();
        assert_eq!(ids(TEN), [0]);
        assert_eq!(ids(datetime!(2026-12-08 10:45 UTC)), [0, 2]);
        assert_eq!(ids(ELEVEN), [2]);
        assert_eq!(ids(datetime!(2026-12-08 12:00 UTC)), Vec::<u128>::new());
    }

    #[test]
    fn a_window_is_refused_naming_the_field_and_the_limit() {
        let matchers = || matcher::parse_set(r#"service="checkout""#).expect("matchers");
        let refused = |matchers, ends_at, reason: &str| {
            Window::new(Uuid::nil(), matchers, TEN, ends_at, reason).expect_err("refused")
        };
        assert_eq!(refused(Vec::new(), ELEVEN, "upgrade"), WindowError::NoMatchers);
        assert_eq!(refused(matchers(), TEN, "upgrade"), WindowError::EndsBeforeItStarts);
        assert_eq!(refused(matchers(), ELEVEN, "  "), WindowError::BlankReason);
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(refused(matchers(), ELEVEN, &long), WindowError::ReasonTooLong);
        assert_eq!(WindowError::ReasonTooLong.to_string(), "reason: at most 500 characters");
        let many =
            (0..=matcher::MAX_MATCHERS).map(|n| Matcher::parse(&format!("l{n}=\"v\"")).expect("a matcher")).collect();
        assert_eq!(refused(many, ELEVEN, "upgrade"), WindowError::TooManyMatchers);
    }
}
