//! The Alertmanager webhook, payload version 4, field for field as Alertmanager 0.25 sends it
//! (see `testdata/alertmanager/README.md` for the captures this follows).
//!
//! Decoding is strict about what Alertmanager always sends (every field is present, even when
//! empty) and lenient about what it may add later (unknown fields are ignored). `truncatedAlerts`
//! appeared in Alertmanager 0.22; a payload from an older release without it is read as `0`.

use crate::alert::AlertState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub type Labels = BTreeMap<String, String>;

/// The only payload version Alertmanager has ever sent through `webhook_configs`.
pub const SUPPORTED_VERSION: &str = "4";

/// Longest fingerprint accepted. Alertmanager's are 16 hex digits; the slack allows other senders
/// that hash differently, without letting a client stuff a payload into the dedup key.
const MAX_FINGERPRINT_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub receiver: String,
    pub status: AlertState,
    pub alerts: Vec<WebhookAlert>,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    /// Go's zero time (`0001-01-01T00:00:00Z`) on firing alerts: "no end known yet".
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: OffsetDateTime,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Why a decoded payload cannot be accepted. The message names the offending field so the person
/// reading Alertmanager's log knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("unsupported webhook version `{0}`: tocsin reads Alertmanager payload version 4")]
    UnsupportedVersion(String),
    #[error("`alerts` is empty: a webhook must carry at least one alert")]
    NoAlerts,
    #[error("alerts[{index}].fingerprint is empty")]
    EmptyFingerprint { index: usize },
    #[error("alerts[{index}].fingerprint is longer than {MAX_FINGERPRINT_LEN} characters")]
    FingerprintTooLong { index: usize },
    #[error("alerts[{index}].startsAt is Go's zero time: an alert must say when it started")]
    MissingStart { index: usize },
    #[error("alerts[{index}] is resolved but its endsAt is Go's zero time")]
    ResolvedWithoutEnd { index: usize },
    #[error("alerts[{index}].endsAt is before its startsAt")]
    EndsBeforeStart { index: usize },
}

impl WebhookPayload {
    /// Checks the rules serde cannot express. Decoding already rejected missing fields, wrong types
    /// and unknown statuses.
    pub fn validate(&self) -> Result<(), WebhookError> {
        if self.version != SUPPORTED_VERSION {
            return Err(WebhookError::UnsupportedVersion(self.version.clone()));
        }
        if self.alerts.is_empty() {
            return Err(WebhookError::NoAlerts);
        }
        for (index, alert) in self.alerts.iter().enumerate() {
            alert.validate(index)?;
        }
        Ok(())
    }
}

impl WebhookAlert {
    fn validate(&self, index: usize) -> Result<(), WebhookError> {
        if self.fingerprint.trim().is_empty() {
            return Err(WebhookError::EmptyFingerprint { index });
        }
        if self.fingerprint.len() > MAX_FINGERPRINT_LEN {
            return Err(WebhookError::FingerprintTooLong { index });
        }
        if is_go_zero_time(self.starts_at) {
            return Err(WebhookError::MissingStart { index });
        }
        match (self.status, self.ends_at()) {
            (AlertState::Resolved, None) => Err(WebhookError::ResolvedWithoutEnd { index }),
            (AlertState::Resolved, Some(ends_at)) if ends_at < self.starts_at => {
                Err(WebhookError::EndsBeforeStart { index })
            }
            _ => Ok(()),
        }
    }

    /// `endsAt` as a real time, or `None` for Go's zero time. Firing alerts may carry a future
    /// `endsAt` from other senders; only a resolved alert's end is taken as its end.
    pub fn ends_at(&self) -> Option<OffsetDateTime> {
        (!is_go_zero_time(self.ends_at)).then_some(self.ends_at)
    }
}

/// Alertmanager marshals an unset `time.Time` as year 1; anything before 1970 is treated the same.
pub fn is_go_zero_time(at: OffsetDateTime) -> bool {
    at.year() < 1970
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../testdata/alertmanager/raw/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn decode(name: &str) -> WebhookPayload {
        let payload: WebhookPayload =
            serde_json::from_str(&fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
        payload.validate().unwrap_or_else(|error| panic!("{name}: {error}"));
        payload
    }

    #[test]
    fn every_captured_payload_decodes_and_validates() {
        for name in [
            "firing-single.json",
            "firing-group.json",
            "firing-repeat.json",
            "mixed.json",
            "resolved-all.json",
            "resolved-all-at-once.json",
            "truncated.json",
            "unicode.json",
            "no-service-label.json",
            "ungrouped.json",
            "ungrouped-2.json",
        ] {
            decode(name);
        }
    }

    #[test]
    fn firing_alerts_carry_no_end_and_resolved_alerts_do() {
        let payload = decode("mixed.json");
        let states: Vec<_> = payload.alerts.iter().map(|a| (a.status, a.ends_at().is_some())).collect();
        assert_eq!(
            states,
            vec![(AlertState::Firing, false), (AlertState::Resolved, true), (AlertState::Firing, false)]
        );
    }

    #[test]
    fn nanosecond_timestamps_keep_their_precision() {
        let payload = decode("truncated.json");
        assert_eq!(payload.alerts[0].starts_at.nanosecond(), 748_652_956);
        assert_eq!(payload.truncated_alerts, 2);
        assert_eq!(payload.alerts.len(), 2);
    }

    #[test]
    fn html_escapes_and_unicode_survive_decoding() {
        let payload = decode("unicode.json");
        let alert = &payload.alerts[0];
        assert_eq!(alert.labels["service"], "東京-db");
        assert!(alert.generator_url.contains('&'), "{}", alert.generator_url);
        assert!(alert.annotations["summary"].starts_with("Überlast auf 東京-db"));
    }

    #[test]
    fn a_payload_from_before_truncated_alerts_existed_reads_as_zero() {
        let mut value: serde_json::Value = serde_json::from_str(&fixture("firing-single.json")).unwrap_or_default();
        value.as_object_mut().map(|o| o.remove("truncatedAlerts"));
        let payload: Result<WebhookPayload, _> = serde_json::from_value(value);
        assert_eq!(payload.map(|p| p.truncated_alerts).ok(), Some(0));
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut value: serde_json::Value = serde_json::from_str(&fixture("firing-single.json")).unwrap_or_default();
        value["alerts"][0].as_object_mut().map(|o| o.remove("fingerprint"));
        let error = serde_json::from_value::<WebhookPayload>(value).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("missing field `fingerprint`"), "{error}");
    }

    #[test]
    fn validation_names_the_broken_rule() {
        let mut payload = decode("firing-group.json");
        payload.version = "3".into();
        assert_eq!(payload.validate(), Err(WebhookError::UnsupportedVersion("3".into())));

        let mut payload = decode("firing-group.json");
        payload.alerts[1].fingerprint = " ".into();
        assert_eq!(payload.validate(), Err(WebhookError::EmptyFingerprint { index: 1 }));

        let mut payload = decode("firing-group.json");
        payload.alerts[2].status = AlertState::Resolved;
        assert_eq!(payload.validate(), Err(WebhookError::ResolvedWithoutEnd { index: 2 }));

        let mut payload = decode("firing-group.json");
        payload.alerts.clear();
        assert_eq!(payload.validate(), Err(WebhookError::NoAlerts));
    }
}
