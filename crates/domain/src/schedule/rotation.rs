//! Hand-offs and restrictions in wall-clock time: local date-times of a zone turned into instants.

use super::{Interval, ScheduleError};
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};

/// How a layer hands off: at `first_handoff`, a local date-time in the layer's zone, and every
/// `shift` of wall-clock time before and after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub first_handoff: DateTime,
    pub shift: ShiftLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftLength {
    /// Hourly rotations keep to the clock's hours, so a hand-off in a spring-forward gap coincides
    /// with the next one and that turn is empty.
    Hours(u32),
    Days(u32),
    Weeks(u32),
    /// Calendar months: a hand-off on the 31st falls on the last day of shorter months, and back
    /// on the 31st after them (each hand-off is counted from the first, not from the one before).
    Months(u32),
}

impl ShiftLength {
    /// `count` shifts, as a span of calendar units for civil arithmetic.
    fn times(self, count: i64) -> Result<Span, ScheduleError> {
        let span = match self {
            ShiftLength::Hours(length) => Span::new().try_hours(i64::from(length) * count),
            ShiftLength::Days(length) => Span::new().try_days(i64::from(length) * count),
            ShiftLength::Weeks(length) => Span::new().try_weeks(i64::from(length) * count),
            ShiftLength::Months(length) => Span::new().try_months(i64::from(length) * count),
        };
        span.map_err(|_| ScheduleError::OutOfRange)
    }

    /// About how many seconds of the clock one shift is: where to start looking for the turn at an
    /// instant (a month counts as the Gregorian average).
    fn approximate_seconds(self) -> i64 {
        match self {
            ShiftLength::Hours(length) => i64::from(length) * 3_600,
            ShiftLength::Days(length) => i64::from(length) * 86_400,
            ShiftLength::Weeks(length) => i64::from(length) * 604_800,
            ShiftLength::Months(length) => i64::from(length) * 2_629_746,
        }
    }

    fn is_zero(self) -> bool {
        matches!(self, ShiftLength::Hours(0) | ShiftLength::Days(0) | ShiftLength::Weeks(0) | ShiftLength::Months(0))
    }
}

/// A part of the week a layer is kept to: windows that start on each of `days` at `start` (local)
/// and last `minutes` of wall-clock time. Weekdays 09:00–17:00 is Monday to Friday at 09:00 for 480
/// minutes; nights, every day at 20:00 for 720; weekends, Saturday at 00:00 for 2,880.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub days: Vec<Weekday>,
    pub start: Time,
    pub minutes: u32,
}

/// The longest window a restriction may have.
pub const WEEK_MINUTES: u32 = 7 * 24 * 60;

impl Restriction {
    pub fn every_day(start: Time, minutes: u32) -> Restriction {
        let days = [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ];
        Restriction { days: days.to_vec(), start, minutes }
    }

    pub fn on(days: &[Weekday], start: Time, minutes: u32) -> Restriction {
        Restriction { days: days.to_vec(), start, minutes }
    }
}

/// One turn of a rotation: the `index`th hand-off from the first (negative before it), and when
/// it lasts, cut to the range asked for. The member is `members[index mod len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Turn {
    pub index: i64,
    pub during: Interval,
}

/// The turns of `rotation` that meet `within`, in order; empty turns (both hand-offs in one
/// spring-forward gap) are left out.
pub(super) fn turns(rotation: &Rotation, zone: &TimeZone, within: Interval) -> Result<Vec<Turn>, ScheduleError> {
    if rotation.shift.is_zero() {
        return Err(ScheduleError::EmptyShift);
    }
    let handoff = |index: i64| -> Result<Timestamp, ScheduleError> {
        let local =
            rotation.first_handoff.checked_add(rotation.shift.times(index)?).map_err(|_| ScheduleError::OutOfRange)?;
        instant(zone, local)
    };
    // Guess the turn at the start from the clock, then step to it: hand-offs only move forward as
    // the index grows, whatever the zone does.
    let elapsed = rotation.first_handoff.duration_until(zone.to_datetime(within.start)).as_secs();
    let mut index = elapsed.div_euclid(rotation.shift.approximate_seconds());
    while handoff(index)? > within.start {
        index -= 1;
    }
    while handoff(index + 1)? <= within.start {
        index += 1;
    }
    let mut turns = Vec::new();
    let mut start = handoff(index)?;
    loop {
        let end = handoff(index + 1)?;
        let during = Interval::new(start, end).intersection(&within);
        if !during.is_empty() {
            turns.push(Turn { index, during });
        }
        if end >= within.end {
            return Ok(turns);
        }
        start = end;
        index += 1;
    }
}

/// The instants, within `within`, that `restrictions` leave the layer: in order, merged where
/// they touch. `None` when there is no restriction (the whole range).
pub(super) fn restriction_windows(
    restrictions: &[Restriction],
    zone: &TimeZone,
    within: Interval,
) -> Result<Option<Vec<Interval>>, ScheduleError> {
    if restrictions.is_empty() {
        return Ok(None);
    }
    if restrictions.iter().any(|restriction| restriction.minutes > WEEK_MINUTES) {
        return Err(ScheduleError::RestrictionTooLong);
    }
    // A window may start up to a week before the range and still reach into it.
    let first_day = step_days(zone.to_datetime(within.start).date(), -8)?;
    let last_day = step_days(zone.to_datetime(within.end).date(), 1)?;
    let mut windows = Vec::new();
    let mut day = first_day;
    while day <= last_day {
        for restriction in restrictions.iter().filter(|restriction| restriction.days.contains(&day.weekday())) {
            let opens = day.to_datetime(restriction.start);
            let closes = opens
                .checked_add(Span::new().minutes(i64::from(restriction.minutes)))
                .map_err(|_| ScheduleError::OutOfRange)?;
            let window = Interval::new(instant(zone, opens)?, instant(zone, closes)?).intersection(&within);
            if !window.is_empty() {
                windows.push(window);
            }
        }
        day = step_days(day, 1)?;
    }
    windows.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(windows.len());
    for window in windows {
        match merged.last_mut() {
            Some(last) if window.start <= last.end => last.end = last.end.max(window.end),
            _ => merged.push(window),
        }
    }
    Ok(Some(merged))
}

fn step_days(day: Date, days: i64) -> Result<Date, ScheduleError> {
    day.checked_add(Span::new().days(days)).map_err(|_| ScheduleError::OutOfRange)
}

/// The instant a local date-time names in `zone`. In a fall-back fold, the first of the two; in a
/// spring-forward gap, which names no instant, the first instant after it: the transition.
pub(super) fn instant(zone: &TimeZone, local: DateTime) -> Result<Timestamp, ScheduleError> {
    let out_of_range = |_| ScheduleError::OutOfRange;
    match zone.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } | AmbiguousOffset::Fold { before: offset, .. } => {
            offset.to_timestamp(local).map_err(out_of_range)
        }
        AmbiguousOffset::Gap { before, .. } => {
            // Read with the offset in force before the gap, the time lands at or after the
            // transition, so the transition is the last one up to that instant.
            let past_the_gap = before.to_timestamp(local).map_err(out_of_range)?;
            let just_after = past_the_gap.checked_add(SignedDuration::from_secs(1)).map_err(out_of_range)?;
            zone.preceding(just_after).next().map(|transition| transition.timestamp()).ok_or(ScheduleError::OutOfRange)
        }
    }
}
