//! Who is on call, across the daylight-saving changes of 2026 in the zones that trip schedules up:
//! America/New_York (March 8, November 1), Europe/London (March 29, October 25), Asia/Kolkata
//! (+05:30, no DST) and Australia/Lord_Howe (a 30-minute change). The expected instants were
//! worked out by hand and checked against Python's zoneinfo.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday, date};
use jiff::tz::TimeZone;
use tocsin_domain::schedule::{
    Interval, Layer, MemberId, Override, Restriction, Rotation, Schedule, ScheduleError, Shift, ShiftLength, Source,
    gaps, on_call_at, shifts,
};
use uuid::Uuid;

type Outcome = Result<(), Box<dyn std::error::Error>>;

const ALICE: MemberId = Uuid::from_u128(0xa11ce);
const BOB: MemberId = Uuid::from_u128(0xb0b);
const CAROL: MemberId = Uuid::from_u128(0xca201);
const DAVE: MemberId = Uuid::from_u128(0xda7e);

fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|error| panic!("{text} is not an instant: {error}"))
}

fn between(start: &str, end: &str) -> Interval {
    Interval::new(at(start), at(end))
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|error| panic!("no zone {name}: {error}"))
}

/// A layer in force for ever, handing off at `first_handoff` (local) every `shift`.
fn layer(first_handoff: jiff::civil::DateTime, shift: ShiftLength, members: &[MemberId]) -> Layer {
    Layer {
        id: Uuid::from_u128(1),
        priority: 0,
        time_zone: None,
        rotation: Rotation { first_handoff, shift },
        members: members.to_vec(),
        restrictions: Vec::new(),
        effective_from: Timestamp::MIN,
        effective_until: None,
    }
}

fn schedule(zone_name: &str, layers: Vec<Layer>) -> Schedule {
    Schedule { time_zone: zone(zone_name), layers, overrides: Vec::new() }
}

/// (member, start, end) of each shift, for comparing with what is written out by hand.
fn lines(shifts: &[Shift]) -> Vec<(MemberId, Timestamp, Timestamp)> {
    shifts.iter().map(|shift| (shift.member, shift.start, shift.end)).collect()
}

fn hours(shift: &Shift) -> f64 {
    shift.start.duration_until(shift.end).as_secs_f64() / 3_600.0
}

#[test]
fn a_daily_handoff_in_the_spring_gap_moves_to_the_first_instant_after_it() -> Outcome {
    // New York skips from 02:00 EST to 03:00 EDT on March 8: 02:30 does not exist that day.
    let rota = schedule(
        "America/New_York",
        vec![layer(date(2026, 3, 1).at(2, 30, 0, 0), ShiftLength::Days(1), &[ALICE, BOB, CAROL])],
    );
    let found = shifts(&rota, between("2026-03-07T07:30:00Z", "2026-03-10T06:30:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (ALICE, at("2026-03-07T07:30:00Z"), at("2026-03-08T07:00:00Z")),
            (BOB, at("2026-03-08T07:00:00Z"), at("2026-03-09T06:30:00Z")),
            (CAROL, at("2026-03-09T06:30:00Z"), at("2026-03-10T06:30:00Z")),
        ]
    );
    assert_eq!(found.iter().map(hours).collect::<Vec<_>>(), vec![23.5, 23.5, 24.0]);
    Ok(())
}

#[test]
fn a_daily_handoff_in_the_autumn_fold_happens_at_its_first_occurrence() -> Outcome {
    // 01:30 happens twice in New York on November 1 (EDT, then EST).
    let rota = schedule(
        "America/New_York",
        vec![layer(date(2026, 10, 1).at(1, 30, 0, 0), ShiftLength::Days(1), &[ALICE, BOB, CAROL])],
    );
    let found = shifts(&rota, between("2026-10-31T05:30:00Z", "2026-11-02T06:30:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (ALICE, at("2026-10-31T05:30:00Z"), at("2026-11-01T05:30:00Z")),
            (BOB, at("2026-11-01T05:30:00Z"), at("2026-11-02T06:30:00Z")),
        ]
    );
    assert_eq!(found.iter().map(hours).collect::<Vec<_>>(), vec![24.0, 25.0]);
    Ok(())
}

#[test]
fn days_and_weeks_are_wall_clock_days_and_weeks() -> Outcome {
    let daily =
        schedule("America/New_York", vec![layer(date(2026, 1, 1).at(9, 0, 0, 0), ShiftLength::Days(1), &[ALICE, BOB])]);
    let spring = shifts(&daily, between("2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"))?;
    assert_eq!(spring.iter().map(hours).collect::<Vec<_>>(), vec![23.0]);
    let autumn = shifts(&daily, between("2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z"))?;
    assert_eq!(autumn.iter().map(hours).collect::<Vec<_>>(), vec![25.0]);

    // Mondays at 09:00: the weeks holding the changes are 167 and 169 hours long.
    let weekly = schedule(
        "America/New_York",
        vec![layer(date(2026, 1, 5).at(9, 0, 0, 0), ShiftLength::Weeks(1), &[ALICE, BOB])],
    );
    let march = shifts(&weekly, between("2026-03-02T14:00:00Z", "2026-03-16T13:00:00Z"))?;
    assert_eq!(
        lines(&march),
        vec![
            (ALICE, at("2026-03-02T14:00:00Z"), at("2026-03-09T13:00:00Z")),
            (BOB, at("2026-03-09T13:00:00Z"), at("2026-03-16T13:00:00Z")),
        ]
    );
    assert_eq!(march.iter().map(hours).collect::<Vec<_>>(), vec![167.0, 168.0]);
    let november = shifts(&weekly, between("2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z"))?;
    assert_eq!(november.iter().map(hours).collect::<Vec<_>>(), vec![169.0]);
    Ok(())
}

#[test]
fn london_changes_at_one_in_the_morning() -> Outcome {
    // March 29: 01:00 GMT becomes 02:00 BST; October 25: 02:00 BST becomes 01:00 GMT.
    let rota =
        schedule("Europe/London", vec![layer(date(2026, 1, 1).at(1, 30, 0, 0), ShiftLength::Days(1), &[ALICE, BOB])]);
    let spring = shifts(&rota, between("2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"))?;
    assert_eq!(
        spring.iter().map(|shift| shift.start).collect::<Vec<_>>(),
        vec![at("2026-03-28T01:30:00Z"), at("2026-03-29T01:00:00Z")]
    );
    assert_eq!(spring.iter().map(hours).collect::<Vec<_>>(), vec![23.5, 23.5]);
    let autumn = shifts(&rota, between("2026-10-24T00:30:00Z", "2026-10-26T01:30:00Z"))?;
    assert_eq!(autumn.iter().map(hours).collect::<Vec<_>>(), vec![24.0, 25.0]);
    Ok(())
}

#[test]
fn kolkata_is_half_an_hour_off_the_hour_and_never_changes() -> Outcome {
    let rota = schedule(
        "Asia/Kolkata",
        vec![layer(date(2026, 1, 1).at(9, 0, 0, 0), ShiftLength::Days(1), &[ALICE, BOB, CAROL])],
    );
    let found = shifts(&rota, between("2026-03-01T03:30:00Z", "2026-04-30T03:30:00Z"))?;
    assert_eq!(found.len(), 60);
    assert!(found.iter().all(|shift| hours(shift) == 24.0));
    assert!(found.iter().all(|shift| shift.start.to_string().ends_with("T03:30:00Z")), "{found:?}");
    Ok(())
}

#[test]
fn lord_howe_moves_its_clocks_by_half_an_hour() -> Outcome {
    // October 4: 02:00 (+10:30) becomes 02:30 (+11), so 02:15 does not exist; April 5: 02:00
    // (+11) becomes 01:30 (+10:30), so 01:45 happens twice.
    let october = schedule(
        "Australia/Lord_Howe",
        vec![layer(date(2026, 9, 1).at(2, 15, 0, 0), ShiftLength::Days(1), &[ALICE, BOB])],
    );
    let found = shifts(&october, between("2026-10-02T15:45:00Z", "2026-10-04T15:15:00Z"))?;
    assert_eq!(
        found.iter().map(|shift| shift.start).collect::<Vec<_>>(),
        vec![at("2026-10-02T15:45:00Z"), at("2026-10-03T15:30:00Z")]
    );
    assert_eq!(found.iter().map(hours).collect::<Vec<_>>(), vec![23.75, 23.75]);

    let april = schedule(
        "Australia/Lord_Howe",
        vec![layer(date(2026, 3, 1).at(1, 45, 0, 0), ShiftLength::Days(1), &[ALICE, BOB])],
    );
    let found = shifts(&april, between("2026-04-03T14:45:00Z", "2026-04-05T15:15:00Z"))?;
    assert_eq!(
        found.iter().map(|shift| shift.start).collect::<Vec<_>>(),
        vec![at("2026-04-03T14:45:00Z"), at("2026-04-04T14:45:00Z")]
    );
    assert_eq!(found.iter().map(hours).collect::<Vec<_>>(), vec![24.0, 24.5]);
    Ok(())
}

#[test]
fn a_monthly_handoff_on_the_31st_keeps_coming_back_to_the_31st() -> Outcome {
    let rota = schedule("UTC", vec![layer(date(2026, 1, 31).at(9, 0, 0, 0), ShiftLength::Months(1), &[ALICE, BOB])]);
    let found = shifts(&rota, between("2026-01-31T09:00:00Z", "2026-06-30T09:00:00Z"))?;
    assert_eq!(
        found.iter().map(|shift| shift.start).collect::<Vec<_>>(),
        vec![
            at("2026-01-31T09:00:00Z"),
            at("2026-02-28T09:00:00Z"),
            at("2026-03-31T09:00:00Z"),
            at("2026-04-30T09:00:00Z"),
            at("2026-05-31T09:00:00Z"),
        ]
    );
    Ok(())
}

#[test]
fn an_hourly_rotation_keeps_to_the_clock_and_loses_the_hour_that_does_not_exist() -> Outcome {
    // 00:00, 01:00 EST, then 02:00 (which does not exist: 03:00 EDT) and 03:00 EDT are the same
    // instant: Carol's turn at 02:00 is empty and Alice follows Bob.
    let rota = schedule(
        "America/New_York",
        vec![layer(date(2026, 3, 8).at(0, 0, 0, 0), ShiftLength::Hours(1), &[ALICE, BOB, CAROL])],
    );
    let found = shifts(&rota, between("2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (ALICE, at("2026-03-08T05:00:00Z"), at("2026-03-08T06:00:00Z")),
            (BOB, at("2026-03-08T06:00:00Z"), at("2026-03-08T07:00:00Z")),
            (ALICE, at("2026-03-08T07:00:00Z"), at("2026-03-08T08:00:00Z")),
            (BOB, at("2026-03-08T08:00:00Z"), at("2026-03-08T09:00:00Z")),
        ]
    );
    Ok(())
}

#[test]
fn restrictions_keep_a_layer_to_working_hours_in_its_zone() -> Outcome {
    let mut working_hours = layer(date(2026, 1, 5).at(9, 0, 0, 0), ShiftLength::Weeks(1), &[ALICE]);
    working_hours.restrictions = vec![Restriction::on(
        &[Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday],
        Time::new(9, 0, 0, 0)?,
        8 * 60,
    )];
    let rota = schedule("America/New_York", vec![working_hours]);
    // The week before March 8 (EST, 14:00 to 22:00 UTC) and the week after (EDT, 13:00 to 21:00).
    let found = shifts(&rota, between("2026-03-02T00:00:00Z", "2026-03-14T00:00:00Z"))?;
    let expected: Vec<(MemberId, Timestamp, Timestamp)> =
        [2, 3, 4, 5, 6]
            .iter()
            .map(|day| (ALICE, at(&format!("2026-03-{day:02}T14:00:00Z")), at(&format!("2026-03-{day:02}T22:00:00Z"))))
            .chain([9, 10, 11, 12, 13].iter().map(|day| {
                (ALICE, at(&format!("2026-03-{day:02}T13:00:00Z")), at(&format!("2026-03-{day:02}T21:00:00Z")))
            }))
            .collect();
    assert_eq!(lines(&found), expected);
    Ok(())
}

#[test]
fn a_higher_layer_wins_where_it_has_someone_and_the_lower_shows_through_elsewhere() -> Outcome {
    let mut days = layer(date(2026, 1, 1).at(0, 0, 0, 0), ShiftLength::Days(1), &[ALICE]);
    days.id = Uuid::from_u128(10);
    days.priority = 2;
    days.restrictions = vec![Restriction::every_day(Time::new(9, 0, 0, 0)?, 8 * 60)];
    let mut around_the_clock = layer(date(2026, 1, 1).at(0, 0, 0, 0), ShiftLength::Days(1), &[BOB]);
    around_the_clock.id = Uuid::from_u128(20);
    // Listed first, but lower.
    let rota = schedule("UTC", vec![around_the_clock, days]);
    let found = shifts(&rota, between("2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (BOB, at("2026-05-01T00:00:00Z"), at("2026-05-01T09:00:00Z")),
            (ALICE, at("2026-05-01T09:00:00Z"), at("2026-05-01T17:00:00Z")),
            (BOB, at("2026-05-01T17:00:00Z"), at("2026-05-02T00:00:00Z")),
        ]
    );
    assert_eq!(found[1].source, Source::Layer(Uuid::from_u128(10)));
    assert!(gaps(&rota, between("2026-05-01T00:00:00Z", "2026-05-08T00:00:00Z"))?.is_empty());
    Ok(())
}

#[test]
fn overrides_take_from_one_person_or_from_whoever_is_on_call() -> Outcome {
    let mut rota = schedule("UTC", vec![layer(date(2026, 5, 1).at(0, 0, 0, 0), ShiftLength::Days(1), &[ALICE, BOB])]);
    // Carol takes Bob's time from noon on the 1st to noon on the 3rd: only the 2nd is Bob's.
    let carol_for_bob = Override {
        id: Uuid::from_u128(100),
        member: CAROL,
        replaces: Some(BOB),
        during: between("2026-05-01T12:00:00Z", "2026-05-03T12:00:00Z"),
    };
    // Dave takes the evening of the 3rd from whoever has it.
    let dave = Override {
        id: Uuid::from_u128(101),
        member: DAVE,
        replaces: None,
        during: between("2026-05-03T18:00:00Z", "2026-05-03T22:00:00Z"),
    };
    rota.overrides = vec![dave, carol_for_bob];
    let found = shifts(&rota, between("2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (ALICE, at("2026-05-01T00:00:00Z"), at("2026-05-02T00:00:00Z")),
            (CAROL, at("2026-05-02T00:00:00Z"), at("2026-05-03T00:00:00Z")),
            (ALICE, at("2026-05-03T00:00:00Z"), at("2026-05-03T18:00:00Z")),
            (DAVE, at("2026-05-03T18:00:00Z"), at("2026-05-03T22:00:00Z")),
            (ALICE, at("2026-05-03T22:00:00Z"), at("2026-05-04T00:00:00Z")),
        ]
    );
    assert_eq!(found[1].source, Source::Override(Uuid::from_u128(100)));
    assert_eq!(found[3].source, Source::Override(Uuid::from_u128(101)));
    Ok(())
}

#[test]
fn of_two_overlapping_overrides_the_one_that_starts_first_wins_where_they_meet() -> Outcome {
    let mut rota = schedule("UTC", vec![layer(date(2026, 5, 1).at(0, 0, 0, 0), ShiftLength::Days(1), &[ALICE])]);
    rota.overrides = vec![
        Override {
            id: Uuid::from_u128(2),
            member: DAVE,
            replaces: None,
            during: between("2026-05-01T10:00:00Z", "2026-05-01T14:00:00Z"),
        },
        Override {
            id: Uuid::from_u128(1),
            member: CAROL,
            replaces: None,
            during: between("2026-05-01T08:00:00Z", "2026-05-01T12:00:00Z"),
        },
    ];
    let found = shifts(&rota, between("2026-05-01T06:00:00Z", "2026-05-01T16:00:00Z"))?;
    assert_eq!(
        lines(&found),
        vec![
            (ALICE, at("2026-05-01T06:00:00Z"), at("2026-05-01T08:00:00Z")),
            (CAROL, at("2026-05-01T08:00:00Z"), at("2026-05-01T12:00:00Z")),
            (DAVE, at("2026-05-01T12:00:00Z"), at("2026-05-01T14:00:00Z")),
            (ALICE, at("2026-05-01T14:00:00Z"), at("2026-05-01T16:00:00Z")),
        ]
    );
    Ok(())
}

#[test]
fn an_edit_applies_from_its_instant_on_and_leaves_the_past_as_it_was() -> Outcome {
    let edited_at = at("2026-05-10T15:27:00Z");
    let before_the_edit = layer(date(2026, 5, 1).at(9, 0, 0, 0), ShiftLength::Days(1), &[ALICE, BOB]);
    let mut ended = before_the_edit.clone();
    ended.effective_until = Some(edited_at);
    let mut new_version = layer(date(2026, 5, 11).at(8, 0, 0, 0), ShiftLength::Weeks(1), &[CAROL, DAVE]);
    new_version.id = Uuid::from_u128(2);
    new_version.effective_from = edited_at;

    let the_past = between("2026-05-01T00:00:00Z", "2026-05-10T15:27:00Z");
    let as_it_was = shifts(&schedule("Europe/Berlin", vec![before_the_edit]), the_past)?;
    let edited = schedule("Europe/Berlin", vec![ended, new_version]);
    assert_eq!(shifts(&edited, the_past)?, as_it_was);

    // From the edit on, the new version: Dave finishes the turn that began on May 4 (weekly
    // from May 11, 08:00 CEST, counting back), then Carol from May 11.
    let after = shifts(&edited, between("2026-05-10T15:27:00Z", "2026-05-12T00:00:00Z"))?;
    assert_eq!(
        lines(&after),
        vec![
            (DAVE, edited_at, at("2026-05-11T06:00:00Z")),
            (CAROL, at("2026-05-11T06:00:00Z"), at("2026-05-12T00:00:00Z")),
        ]
    );
    Ok(())
}

#[test]
fn follow_the_sun_across_zones_that_change_on_different_weekends_leaves_an_hour_uncovered() -> Outcome {
    // London takes 09:00 to 21:00 of its time, Los Angeles 13:00 to 01:00 of its own: seamless
    // while both are on summer time or both on winter time. The US changes three weeks before the
    // UK in March and a week after it in the autumn, and for those days 08:00 to 09:00 UTC is
    // nobody's.
    let mut london = layer(date(2026, 1, 1).at(9, 0, 0, 0), ShiftLength::Days(1), &[ALICE]);
    london.time_zone = Some(zone("Europe/London"));
    london.restrictions = vec![Restriction::every_day(Time::new(9, 0, 0, 0)?, 12 * 60)];
    let mut los_angeles = layer(date(2026, 1, 1).at(13, 0, 0, 0), ShiftLength::Days(1), &[BOB]);
    los_angeles.id = Uuid::from_u128(2);
    los_angeles.time_zone = Some(zone("America/Los_Angeles"));
    los_angeles.restrictions = vec![Restriction::every_day(Time::new(13, 0, 0, 0)?, 12 * 60)];
    let rota = schedule("UTC", vec![london, los_angeles]);

    let found = gaps(&rota, between("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"))?;
    let march = (9..=28).map(|day| format!("2026-03-{day:02}"));
    let autumn = (25..=31).map(|day| format!("2026-10-{day:02}")).chain(["2026-11-01".to_owned()]);
    let expected: Vec<Interval> =
        march.chain(autumn).map(|day| between(&format!("{day}T08:00:00Z"), &format!("{day}T09:00:00Z"))).collect();
    assert_eq!(found, expected);
    Ok(())
}

#[test]
fn on_call_at_gives_the_whole_shift_around_the_instant() -> Outcome {
    let rota = schedule(
        "America/New_York",
        vec![layer(date(2026, 1, 5).at(9, 0, 0, 0), ShiftLength::Weeks(1), &[ALICE, BOB])],
    );
    let shift = on_call_at(&rota, at("2026-03-11T03:00:00Z"))?.ok_or("nobody on call")?;
    assert_eq!((shift.member, shift.start, shift.end), (BOB, at("2026-03-09T13:00:00Z"), at("2026-03-16T13:00:00Z")));

    let nobody = schedule("UTC", vec![layer(date(2026, 1, 5).at(9, 0, 0, 0), ShiftLength::Weeks(1), &[])]);
    assert_eq!(on_call_at(&nobody, at("2026-03-11T03:00:00Z"))?, None);
    Ok(())
}

#[test]
fn impossible_layers_are_refused_not_looped_over() {
    let range = between("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    let zero = schedule("UTC", vec![layer(date(2026, 1, 1).at(0, 0, 0, 0), ShiftLength::Hours(0), &[ALICE])]);
    assert_eq!(shifts(&zero, range), Err(ScheduleError::EmptyShift));

    let mut too_long = layer(date(2026, 1, 1).at(0, 0, 0, 0), ShiftLength::Days(1), &[ALICE]);
    too_long.restrictions = vec![Restriction::every_day(Time::midnight(), tocsin_domain::schedule::WEEK_MINUTES + 1)];
    assert_eq!(shifts(&schedule("UTC", vec![too_long]), range), Err(ScheduleError::RestrictionTooLong));
}
