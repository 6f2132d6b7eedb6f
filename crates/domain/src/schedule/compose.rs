//! Stacking layers and overrides into one line of shifts: each instant has at most one person.

use super::{Interval, Override, Shift, Source};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// The parts of `during` inside `windows` (in order, disjoint); all of it when there are none.
pub(super) fn restrict(during: Interval, windows: Option<&[Interval]>) -> Vec<Interval> {
    let Some(windows) = windows else {
        return vec![during];
    };
    let first = windows.partition_point(|window| window.end <= during.start);
    windows[first..]
        .iter()
        .take_while(|window| window.start < during.end)
        .map(|window| window.intersection(&during))
        .filter(|part| !part.is_empty())
        .collect()
}

/// Shifts that do not overlap, by start.
#[derive(Debug, Default)]
pub(super) struct Stack {
    by_start: BTreeMap<Timestamp, Shift>,
}

impl Stack {
    /// Adds the parts of `shift` that nothing stacked yet covers: layers come highest priority
    /// first, so a lower layer only fills what the ones above leave.
    pub fn fill(&mut self, shift: Shift) {
        for part in self.uncovered(shift.interval(), |_| true) {
            self.insert(Shift { start: part.start, end: part.end, ..shift });
        }
    }

    /// Puts the override's member on call over the parts of its range (cut to `range`) that no
    /// earlier override took: in place of everyone, or of the one person it replaces.
    pub fn apply_override(&mut self, overriding: &Override, range: Interval) {
        let during = overriding.during.intersection(&range);
        if during.is_empty() {
            return;
        }
        let taken_by_override = |shift: &Shift| matches!(shift.source, Source::Override(_));
        for part in self.uncovered(during, taken_by_override) {
            let replaced: Vec<Interval> = match overriding.replaces {
                None => vec![part],
                Some(replaced) => self
                    .overlapping(part)
                    .filter(|shift| shift.member == replaced)
                    .map(|shift| shift.interval().intersection(&part))
                    .collect(),
            };
            for interval in replaced {
                self.cut(interval);
                self.insert(Shift {
                    member: overriding.member,
                    start: interval.start,
                    end: interval.end,
                    source: Source::Override(overriding.id),
                });
            }
        }
    }

    /// The shifts in order, a person's back-to-back shifts from one source joined into one.
    pub fn into_shifts(self) -> Vec<Shift> {
        let mut joined: Vec<Shift> = Vec::with_capacity(self.by_start.len());
        for shift in self.by_start.into_values() {
            match joined.last_mut() {
                Some(last) if last.end == shift.start && last.member == shift.member && last.source == shift.source => {
                    last.end = shift.end;
                }
                _ => joined.push(shift),
            }
        }
        joined
    }

    /// The parts of `interval` not covered by a stacked shift that `counts`.
    fn uncovered(&self, interval: Interval, counts: impl Fn(&Shift) -> bool) -> Vec<Interval> {
        let mut parts = Vec::new();
        let mut cursor = interval.start;
        for shift in self.overlapping(interval).filter(|shift| counts(shift)) {
            if shift.start > cursor {
                parts.push(Interval::new(cursor, shift.start));
            }
            cursor = cursor.max(shift.end);
        }
        if cursor < interval.end {
            parts.push(Interval::new(cursor, interval.end));
        }
        parts
    }

    /// The stacked shifts that meet `interval`, in order.
    fn overlapping(&self, interval: Interval) -> impl Iterator<Item = &Shift> {
        // The one shift that starts before the interval and may reach into it.
        let from = self
            .by_start
            .range(..interval.start)
            .next_back()
            .filter(|(_, shift)| shift.end > interval.start)
            .map_or(interval.start, |(start, _)| *start);
        self.by_start.range(from..interval.end).map(|(_, shift)| shift).filter(move |shift| shift.end > interval.start)
    }

    /// Takes `interval` out of the stacked shifts, keeping their parts on either side.
    fn cut(&mut self, interval: Interval) {
        let hit: Vec<Shift> = self.overlapping(interval).copied().collect();
        for shift in hit {
            self.by_start.remove(&shift.start);
            if shift.start < interval.start {
                self.insert(Shift { end: interval.start, ..shift });
            }
            if shift.end > interval.end {
                self.insert(Shift { start: interval.end, ..shift });
            }
        }
    }

    fn insert(&mut self, shift: Shift) {
        self.by_start.insert(shift.start, shift);
    }
}
