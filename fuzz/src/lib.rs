//! What the webhook fuzz targets check. A webhook goes through the decoding and validation that
//! `POST /alerts` applies (services/ingest/src/webhook.rs), and every alert that passes must then
//! survive, without a panic or a silent change, what ingest and incident-core do with it next: the
//! stream message, the incident's facts and correlation key, the occurrence merge, and what the
//! storage layer needs: text PostgreSQL can hold, and times it can convert to UTC and widen. Anything validation lets through that breaks
//! further down is a validation bug: ingest must answer 400 rather than 202 for it.

use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};
use tocsin_domain::alert::merge;
use tocsin_domain::webhook::WebhookPayload;
use tocsin_domain::{AlertReceived, AlertState, CorrelationRule, IncidentFacts, StoredOccurrence, TeamMapping};

/// When ingest received the webhook in a fuzz run. Fixed, so that a crash replays exactly.
pub const RECEIVED_AT: OffsetDateTime = datetime!(2026-11-26 20:36:25 UTC);

/// incident-core's default reopen window (`tocsin_incident_core::incidents::IntakeSettings`), which it adds
/// to and subtracts from an alert's times when it looks for an incident to reopen.
const REOPEN_WINDOW: Duration = Duration::minutes(5);

/// Decodes and validates `body` as ingest does. `None` where ingest answers 400.
pub fn accept(body: &[u8]) -> Option<WebhookPayload> {
    let payload: WebhookPayload = serde_json::from_slice(body).ok()?;
    payload.validate().ok()?;
    Some(payload)
}

/// Follows every alert of an accepted webhook through the rest of the pipeline; panics (the
/// fuzzer's finding) where one would break it.
pub fn check_accepted(payload: &WebhookPayload) {
    let messages = AlertReceived::from_webhook(payload.clone(), RECEIVED_AT);
    assert_eq!(messages.len(), payload.alerts.len(), "one stream message per alert");
    for message in &messages {
        check_stream_round_trip(message);
        check_text_is_storable(message);
        check_times_are_storable(message);
        let alert = &message.alert;
        let facts = IncidentFacts::from_alert(&alert.labels, &alert.annotations, &TeamMapping::default());
        let key = CorrelationRule::default().key(&facts, &alert.labels);
        assert!(!key.as_str().is_empty(), "every alert gets a correlation key");
    }
}

/// incident-core reads exactly what ingest wrote onto the alerts stream.
fn check_stream_round_trip(message: &AlertReceived) {
    let encoded = serde_json::to_vec(message)
        .unwrap_or_else(|error| panic!("an accepted alert must encode onto the stream: {error}"));
    let decoded: AlertReceived = serde_json::from_slice(&encoded)
        .unwrap_or_else(|error| panic!("incident-core must decode what ingest wrote: {error}"));
    assert_eq!(&decoded, message, "the stream changed the alert");
}

/// PostgreSQL holds no NUL character in text or JSON: an alert with one would never be stored.
fn check_text_is_storable(message: &AlertReceived) {
    let alert = &message.alert;
    let maps = [&alert.labels, &alert.annotations];
    let texts =
        [&*message.receiver, &*message.group_key, &*message.external_url, alert.fingerprint.as_str(), alert.generator_url.as_str()]
            .into_iter()
            .chain(maps.iter().flat_map(|map| map.iter().flat_map(|(name, value)| [name.as_str(), value.as_str()])));
    for text in texts {
        assert!(!text.contains('\0'), "{text:?} holds a NUL character, yet was accepted");
    }
}

/// The storage layer writes times as UTC `timestamptz` (diesel converts with `to_offset`, which
/// panics out of range) and widens them by the reopen window; the occurrence merge adds
/// `REFIRE_MARGIN` to a stored end.
fn check_times_are_storable(message: &AlertReceived) {
    let alert = &message.alert;
    for (field, at) in [("startsAt", Some(alert.starts_at)), ("endsAt", alert.ends_at)] {
        let Some(at) = at else { continue };
        let utc = at.checked_to_offset(UtcOffset::UTC);
        assert!(utc.is_some(), "{field} {at} has no UTC equivalent, yet was accepted");
        assert!(
            at.checked_add(REOPEN_WINDOW).is_some() && at.checked_sub(REOPEN_WINDOW).is_some(),
            "{field} {at} leaves no room for the reopen window, yet was accepted"
        );
    }
    if alert.state == AlertState::Resolved {
        // The same occurrence, stored as resolved with this end, reported firing again.
        let stored = StoredOccurrence { state: AlertState::Resolved, ends_at: alert.ends_at };
        merge(Some(&stored), AlertState::Firing, None, message.received_at);
    }
}
