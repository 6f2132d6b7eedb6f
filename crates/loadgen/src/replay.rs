//! Replaying captured webhooks as if Alertmanager sent them now.
//!
//! A capture's `startsAt` and `endsAt` are from the day it was taken. tocsin settles out-of-order
//! reports by comparing those times with when it received a report, so a capture replayed hours
//! later would look like an alert firing again long after it ended. [`rebase`] shifts every time in
//! a payload by one offset, keeping their order and spacing, so that the payload's latest time
//! becomes `now`.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Go's zero time, Alertmanager's "no end yet", is left alone.
fn is_zero(at: OffsetDateTime) -> bool {
    at.year() < 1970
}

fn times(payload: &Value) -> impl Iterator<Item = OffsetDateTime> + '_ {
    payload["alerts"].as_array().into_iter().flatten().flat_map(|alert| {
        ["startsAt", "endsAt"].into_iter().filter_map(move |field| {
            alert[field].as_str().and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok()).filter(|at| !is_zero(*at))
        })
    })
}

/// The offset that moves the latest time in `payloads` to `now`; apply it to each with [`shift`]
/// so that several captures keep their relative timing.
pub fn offset_to_now(payloads: &[&Value], now: OffsetDateTime) -> Duration {
    payloads.iter().flat_map(|payload| times(payload)).max().map_or(Duration::ZERO, |latest| now - latest)
}

/// Shifts every `startsAt` and `endsAt` (but Go's zero time) of a webhook payload by `offset`.
pub fn shift(payload: &mut Value, offset: Duration) {
    let Some(alerts) = payload["alerts"].as_array_mut() else { return };
    for alert in alerts {
        for field in ["startsAt", "endsAt"] {
            let shifted = alert[field]
                .as_str()
                .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
                .filter(|at| !is_zero(*at))
                .and_then(|at| (at + offset).format(&Rfc3339).ok());
            if let Some(text) = shifted {
                alert[field] = Value::String(text);
            }
        }
    }
}

/// The firing webhook that preceded a captured resolution: the same alerts, still firing, with
/// Go's zero `endsAt`, as Alertmanager sent them before they resolved.
pub fn firing_version(resolved: &Value) -> Value {
    let mut firing = resolved.clone();
    firing["status"] = Value::String("firing".into());
    for alert in firing["alerts"].as_array_mut().into_iter().flatten() {
        alert["status"] = Value::String("firing".into());
        alert["endsAt"] = Value::String("0001-01-01T00:00:00Z".into());
    }
    firing
}

/// `payload` with its latest time moved to `now`.
pub fn rebase(mut payload: Value, now: OffsetDateTime) -> Value {
    let offset = offset_to_now(&[&payload], now);
    shift(&mut payload, offset);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn times_move_together_and_zero_times_stay() {
        let payload = json!({"alerts": [
            {"startsAt": "2026-11-26T20:36:25.705Z", "endsAt": "0001-01-01T00:00:00Z"},
            {"startsAt": "2026-11-26T20:36:40.705Z", "endsAt": "2026-11-26T20:39:36.736Z"},
        ]});
        let now = datetime!(2026-11-27 09:00:00 UTC);
        let rebased = rebase(payload, now);
        assert_eq!(rebased["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(rebased["alerts"][1]["endsAt"], "2026-11-27T09:00:00Z");
        assert_eq!(rebased["alerts"][0]["startsAt"], "2026-11-27T08:56:48.969Z");
    }
}
