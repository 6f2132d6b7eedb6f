//! Who is on call: the shifts of a schedule over a range of time, worked out from its layers and
//! overrides by one pure function, [`shifts`], which paging, the API and the dashboard all call, so
//! that the person paged is the person the schedule page shows.
//!
//! A schedule is read the way its people live it, in wall-clock time of an IANA zone:
//!
//! - A **layer** rotates through an ordered list of members, handing off at a local time
//!   ([`Rotation`]): 09:00 on Mondays stays 09:00 across daylight saving, so the shift over the
//!   change is 167 or 169 hours long, a daily one 23 or 25. A hand-off in a spring-forward gap
//!   happens at the first instant after the gap; one in a fall-back fold at the first of the two.
//! - **Restrictions** keep a layer to parts of the week (weekdays 09:00–17:00, nights, weekends);
//!   outside them the layer has nobody and the layers below it show through.
//! - Layers are stacked by **priority**: where two have someone on call, the higher wins.
//! - **Overrides** beat every layer: someone takes a time range, either from one person (only where
//!   that person would have been on call) or from whoever is on call.
//!
//! An edit never rewrites the past: a layer is a version with an effective range, and an edit ends
//! one version and starts the next at the same instant. Everything is computed from the anchors,
//! with no state that advances over time, so every replica gets the same answer for any range, and
//! the shifts of a range are those of any larger range cut to it.
//!
//! Time is [`jiff`]'s: the `time` crate the rest of tocsin uses has no IANA zones.

mod compose;
mod rotation;

pub use rotation::{Restriction, Rotation, ShiftLength, WEEK_MINUTES};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use uuid::Uuid;

/// A user of tocsin, as the schedule names its members.
pub type MemberId = Uuid;

#[derive(Debug, Clone)]
pub struct Schedule {
    /// The zone of layers that do not name their own.
    pub time_zone: TimeZone,
    pub layers: Vec<Layer>,
    /// The database refuses two overrides of one schedule that overlap; if some do anyway, the one
    /// that starts first (then the first listed) wins where they meet.
    pub overrides: Vec<Override>,
}

/// One version of a layer, in force over `[effective_from, effective_until)`.
#[derive(Debug, Clone)]
pub struct Layer {
    pub id: Uuid,
    /// Where two layers have someone on call, the higher priority wins; equal priorities go by
    /// the order of the list.
    pub priority: i32,
    /// The zone its hand-offs and restrictions are read in, when not the schedule's.
    pub time_zone: Option<TimeZone>,
    pub rotation: Rotation,
    /// In rotation order; a layer without members covers nothing.
    pub members: Vec<MemberId>,
    /// Empty: the whole week.
    pub restrictions: Vec<Restriction>,
    pub effective_from: Timestamp,
    /// `None`: until further notice.
    pub effective_until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub id: Uuid,
    /// Who is on call instead.
    pub member: MemberId,
    /// `Some`: only where this person would have been on call; `None`: whoever was.
    pub replaces: Option<MemberId>,
    pub during: Interval,
}

/// `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn new(start: Timestamp, end: Timestamp) -> Interval {
        Interval { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// The part of both; empty when they do not meet.
    pub fn intersection(&self, other: &Interval) -> Interval {
        Interval { start: self.start.max(other.start), end: self.end.min(other.end) }
    }
}

/// Someone on call from `start` to `end`, and what put them there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub member: MemberId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub source: Source,
}

impl Shift {
    pub fn interval(&self) -> Interval {
        Interval::new(self.start, self.end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The layer's id.
    Layer(Uuid),
    /// The override's id.
    Override(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A hand-off or restriction would fall outside the years jiff represents (-9999 to 9999).
    #[error("a time of the schedule is out of the supported range (years -9999 to 9999)")]
    OutOfRange,
    #[error("a rotation's shift must be at least one hour, day, week or month long")]
    EmptyShift,
    #[error("a restriction's window lasts at most a week (10,080 minutes)")]
    RestrictionTooLong,
}

/// Who is on call over `range`: shifts in order of start, none overlapping, each cut to the range.
/// Where nobody is on call there is no shift: [`gaps`] lists those times.
///
/// The number of shifts grows with the range (an hourly layer gives 8,760 a year): callers bound
/// the range they ask for.
pub fn shifts(schedule: &Schedule, range: Interval) -> Result<Vec<Shift>, ScheduleError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let mut layers: Vec<&Layer> = schedule.layers.iter().collect();
    // Stable: equal priorities keep the order of the list.
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.priority));
    let mut stacked = compose::Stack::default();
    for layer in layers {
        let zone = layer.time_zone.as_ref().unwrap_or(&schedule.time_zone);
        let in_force =
            range.intersection(&Interval::new(layer.effective_from, layer.effective_until.unwrap_or(Timestamp::MAX)));
        if in_force.is_empty() || layer.members.is_empty() {
            continue;
        }
        let restricted_to = rotation::restriction_windows(&layer.restrictions, zone, in_force)?;
        for turn in rotation::turns(&layer.rotation, zone, in_force)? {
            let member = layer.members[turn.index.rem_euclid(layer.members.len() as i64) as usize];
            for part in compose::restrict(turn.during, restricted_to.as_deref()) {
                stacked.fill(Shift { member, start: part.start, end: part.end, source: Source::Layer(layer.id) });
            }
        }
    }
    let mut overrides: Vec<&Override> = schedule.overrides.iter().collect();
    overrides.sort_by_key(|overriding| overriding.during.start);
    for overriding in overrides {
        stacked.apply_override(overriding, range);
    }
    Ok(stacked.into_shifts())
}

/// How far around an instant [`on_call_at`] looks: a shift (or a run of one person's shifts)
/// longer than this on either side is reported cut to it.
pub const ON_CALL_HORIZON: jiff::SignedDuration = jiff::SignedDuration::from_hours(35 * 24);

/// Who is on call at one instant, with their shift as [`shifts`] gives it over
/// [`ON_CALL_HORIZON`] on either side.
pub fn on_call_at(schedule: &Schedule, at: Timestamp) -> Result<Option<Shift>, ScheduleError> {
    let around = Interval::new(
        at.checked_sub(ON_CALL_HORIZON).unwrap_or(Timestamp::MIN),
        at.checked_add(ON_CALL_HORIZON).unwrap_or(Timestamp::MAX),
    );
    Ok(shifts(schedule, around)?.into_iter().find(|shift| shift.interval().contains(at)))
}

/// The first instant at or after `at` inside `hours` (parts of the week, read in `zone`), looking
/// eight days ahead: when a low-urgency page may start. Without restrictions, `at` itself; `None`
/// when they leave no time at all (no day chosen).
pub fn next_within(hours: &[Restriction], zone: &TimeZone, at: Timestamp) -> Result<Option<Timestamp>, ScheduleError> {
    let ahead = Interval::new(at, at.checked_add(jiff::SignedDuration::from_hours(8 * 24)).unwrap_or(Timestamp::MAX));
    Ok(match rotation::restriction_windows(hours, zone, ahead)? {
        None => Some(at),
        Some(windows) => windows.first().map(|window| window.start),
    })
}

/// The times within `range` when nobody is on call, in order: what a schedule page warns about
/// (a follow-the-sun pair of layers in zones that change clocks on different weekends leaves an
/// hour uncovered for weeks).
pub fn gaps(schedule: &Schedule, range: Interval) -> Result<Vec<Interval>, ScheduleError> {
    let mut gaps = Vec::new();
    let mut covered_until = range.start;
    for shift in shifts(schedule, range)? {
        if shift.start > covered_until {
            gaps.push(Interval::new(covered_until, shift.start));
        }
        covered_until = covered_until.max(shift.end);
    }
    if covered_until < range.end {
        gaps.push(Interval::new(covered_until, range.end));
    }
    Ok(gaps)
}
