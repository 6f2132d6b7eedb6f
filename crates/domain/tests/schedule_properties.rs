//! Properties of the schedule arithmetic on generated layers, zones and ranges: whatever the
//! rotation, shifts tile the time they cover, the answer for an instant does not depend on the
//! range it was asked within, and overrides win.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use jiff::civil::{Time, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tocsin_domain::schedule::{
    Interval, Layer, MemberId, Override, Restriction, Rotation, Schedule, ScheduleError, ShiftLength, gaps, on_call_at,
    shifts,
};
use uuid::Uuid;

const ZONES: [&str; 6] =
    ["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"];

fn shift_length() -> impl Strategy<Value = ShiftLength> {
    prop_oneof![
        (1u32..=12).prop_map(ShiftLength::Hours),
        (1u32..=14).prop_map(ShiftLength::Days),
        (1u32..=3).prop_map(ShiftLength::Weeks),
        (1u32..=2).prop_map(ShiftLength::Months),
    ]
}

/// A layer handing off somewhere in 2025 or 2026 at a quarter hour, 1 to 4 members.
fn layer(id: u128) -> impl Strategy<Value = Layer> {
    (0i64..730, 0i8..24, prop::sample::select(vec![0i8, 15, 30, 45]), shift_length(), 1u128..=4).prop_map(
        move |(day, hour, minute, shift, members)| Layer {
            id: Uuid::from_u128(id),
            priority: 0,
            time_zone: None,
            rotation: Rotation {
                first_handoff: date(2025, 1, 1)
                    .at(hour, minute, 0, 0)
                    .checked_add(jiff::Span::new().days(day))
                    .unwrap_or_else(|error| panic!("day {day}: {error}")),
                shift,
            },
            members: (1..=members).map(|member| Uuid::from_u128(id * 100 + member)).collect(),
            restrictions: Vec::new(),
            effective_from: Timestamp::MIN,
            effective_until: None,
        },
    )
}

/// A range of up to 40 days starting somewhere in 2026, to the second.
fn range() -> impl Strategy<Value = Interval> {
    (0i64..365 * 86_400, 3_600i64..40 * 86_400).prop_map(|(offset, length)| {
        let start = instant("2026-01-01T00:00:00Z") + SignedDuration::from_secs(offset);
        Interval::new(start, start + SignedDuration::from_secs(length))
    })
}

/// The generated layers are all valid: an error is the arithmetic's fault.
fn must<T>(result: Result<T, ScheduleError>) -> T {
    result.expect("a valid generated schedule")
}

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// The instant `fraction` of the way through `range`.
fn within(range: Interval, fraction: f64) -> Timestamp {
    let length = range.start.duration_until(range.end).as_secs_f64();
    range.start + SignedDuration::from_secs_f64((length * fraction).floor())
}

fn who_at(schedule: &Schedule, range: Interval, at: Timestamp) -> Option<MemberId> {
    must(shifts(schedule, range)).into_iter().find(|shift| shift.interval().contains(at)).map(|shift| shift.member)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_layer_without_restrictions_tiles_the_range(
        zone_name in prop::sample::select(ZONES.to_vec()),
        layer in layer(1),
        range in range(),
    ) {
        let schedule = Schedule { time_zone: zone(zone_name), layers: vec![layer], overrides: Vec::new() };
        let found = must(shifts(&schedule, range));
        prop_assert!(!found.is_empty());
        prop_assert_eq!(found[0].start, range.start);
        prop_assert_eq!(found[found.len() - 1].end, range.end);
        for pair in found.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start, "a gap or an overlap: {:?}", pair);
            prop_assert!(pair[0].start < pair[0].end);
        }
        prop_assert!(must(gaps(&schedule, range)).is_empty());
    }

    #[test]
    fn who_is_on_call_does_not_depend_on_the_range_asked_for(
        zone_name in prop::sample::select(ZONES.to_vec()),
        first in layer(1),
        mut second in layer(2),
        range in range(),
        split in 0.0f64..1.0,
        probes in prop::collection::vec(0.0f64..1.0, 8),
        restricted_from in 0i8..24,
        restricted_hours in 1u32..=16,
    ) {
        second.priority = 1;
        second.restrictions = vec![Restriction::every_day(
            Time::new(restricted_from, 0, 0, 0).expect("new"),
            restricted_hours * 60,
        )];
        let schedule = Schedule { time_zone: zone(zone_name), layers: vec![first, second], overrides: Vec::new() };
        let cut = within(range, split);
        for probe in probes {
            let at = within(range, probe);
            let whole = who_at(&schedule, range, at);
            prop_assert!(whole.is_some(), "the lower layer covers everything");
            let part = if at < cut { Interval::new(range.start, cut) } else { Interval::new(cut, range.end) };
            prop_assert_eq!(whole, who_at(&schedule, part, at));
            let on_call = must(on_call_at(&schedule, at));
            prop_assert_eq!(whole, on_call.map(|shift| shift.member));
        }
    }

    #[test]
    fn an_override_of_whoever_is_on_call_wins_throughout(
        zone_name in prop::sample::select(ZONES.to_vec()),
        layer in layer(1),
        range in range(),
        from in 0.0f64..1.0,
        to in 0.0f64..1.0,
        probes in prop::collection::vec(0.0f64..1.0, 8),
    ) {
        let stand_in: MemberId = Uuid::from_u128(9_999);
        let during = Interval::new(within(range, from.min(to)), within(range, from.max(to)));
        let schedule = Schedule {
            time_zone: zone(zone_name),
            layers: vec![layer],
            overrides: vec![Override { id: Uuid::from_u128(1), member: stand_in, replaces: None, during }],
        };
        for probe in probes {
            let at = within(range, probe);
            let who = who_at(&schedule, range, at);
            prop_assert!(who.is_some(), "the layer covers the range, the override only changes who");
            prop_assert_eq!(who == Some(stand_in), during.contains(at));
        }
    }
}
