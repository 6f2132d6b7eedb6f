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
use time::macros::datetime;

pub type Labels = BTreeMap<String, String>;

/// The only payload version Alertmanager has ever sent through `webhook_configs`.
pub const SUPPORTED_VERSION: &str = "4";

/// Longest fingerprint accepted. Alertmanager's are 16 hex digits; the slack allows other senders
/// that hash differently, without letting a client stuff a payload into the dedup key.
const MAX_FINGERPRINT_LEN: usize = 128;

/// Times from here on are refused. No alert starts or ends in the year 9000, and the bound keeps
/// what happens to an alert's times downstream (storage converts them to UTC, incident-core adds
/// its reopen window and refire margin) well inside the years the time type holds (up to 9999):
/// an RFC 3339 time late on 9999-12-31 would otherwise pass here and panic in incident-core.
const LATEST_ACCEPTED_TIME: OffsetDateTime = datetime!(9000-01-01 0:00 UTC);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub receiver: String,
    pub status: AlertState,
    #[schema(min_items = 1)]
    pub alerts: Vec<WebhookAlert>,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    #[schema(pattern = "^4$")]
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
    /// Not blank, at most 128 bytes.
    #[schema(pattern = "\\S")]
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
    #[error("alerts[{index}].{field} is in the year 9000 or later: check the sender's clock")]
    TooLate { index: usize, field: &'static str },
    /// PostgreSQL stores no NUL character in text or JSON, so an alert carrying one could never
    /// become an incident.
    #[error("{field} contains a NUL character (\\u0000), which tocsin cannot store")]
    NulCharacter { field: String },
    #[error("alerts[{index}] is resolved but its endsAt is Go's zero time")]
    ResolvedWithoutEnd { index: usize },
    #[error("alerts[{index}].endsAt is before its startsAt")]
    EndsBeforeStart { index: usize },
}

/// How much one webhook may carry. Each bound is an operator's setting in ingest (docs/security.md);
/// the defaults hold every payload a real Alertmanager sends with a wide margin, after Prometheus's
/// own `label_limit`, `label_name_length_limit` and `label_value_length_limit`.
///
/// ingest puts each alert on the stream as an entry of its own, with the webhook's group context
/// (`receiver`, `groupKey`, `externalURL`) beside it; the bounds on that context and on the sum of
/// the entries keep one webhook from growing into many times its size on its way to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    pub alerts: usize,
    pub labels_per_alert: usize,
    pub annotations_per_alert: usize,
    /// Label and annotation names.
    pub name_bytes: usize,
    pub label_value_bytes: usize,
    pub annotation_value_bytes: usize,
    /// `receiver`, `groupKey`, `externalURL` and each alert's `generatorURL`.
    pub context_bytes: usize,
    /// One alert as it goes on the stream: its own fields and the group context.
    pub alert_bytes: usize,
    /// All the alerts of the webhook as they go on the stream.
    pub webhook_bytes: usize,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            alerts: 5_000,
            labels_per_alert: 128,
            annotations_per_alert: 128,
            name_bytes: 256,
            label_value_bytes: 4 * 1024,
            annotation_value_bytes: 32 * 1024,
            context_bytes: 8 * 1024,
            alert_bytes: 256 * 1024,
            webhook_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Which bound of [`WebhookLimits`] a webhook went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Alerts,
    LabelsPerAlert,
    AnnotationsPerAlert,
    NameBytes,
    LabelValueBytes,
    AnnotationValueBytes,
    ContextBytes,
    AlertBytes,
    WebhookBytes,
}

impl Limit {
    pub fn of(self, limits: &WebhookLimits) -> usize {
        match self {
            Limit::Alerts => limits.alerts,
            Limit::LabelsPerAlert => limits.labels_per_alert,
            Limit::AnnotationsPerAlert => limits.annotations_per_alert,
            Limit::NameBytes => limits.name_bytes,
            Limit::LabelValueBytes => limits.label_value_bytes,
            Limit::AnnotationValueBytes => limits.annotation_value_bytes,
            Limit::ContextBytes => limits.context_bytes,
            Limit::AlertBytes => limits.alert_bytes,
            Limit::WebhookBytes => limits.webhook_bytes,
        }
    }

    /// `actual` when it is within this bound of `limits`; else the error naming the field, which is
    /// only spelled out then (a webhook within its bounds costs no message).
    fn check(self, limits: &WebhookLimits, actual: usize, field: impl FnOnce() -> String) -> Result<usize, OverLimit> {
        let max = self.of(limits);
        if actual > max { Err(OverLimit { field: field(), actual, max, limit: self }) } else { Ok(actual) }
    }

    /// What the bound counts, for messages: "bytes" or "entries".
    pub fn unit(self) -> &'static str {
        match self {
            Limit::Alerts | Limit::LabelsPerAlert | Limit::AnnotationsPerAlert => "entries",
            _ => "bytes",
        }
    }
}

/// A webhook over one of the bounds: which field, how big it is, and which bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} has {actual} {unit}, over the limit of {max}", unit = limit.unit())]
pub struct OverLimit {
    pub field: String,
    pub actual: usize,
    pub max: usize,
    pub limit: Limit,
}

impl WebhookPayload {
    /// Checks the webhook against `limits`, naming the first field over one. Separate from
    /// [`WebhookPayload::validate`]: a webhook can be valid and still too big to take.
    pub fn check_limits(&self, limits: &WebhookLimits) -> Result<(), OverLimit> {
        Limit::Alerts.check(limits, self.alerts.len(), || "alerts".into())?;
        let mut context = 0;
        for (name, value) in
            [("receiver", &self.receiver), ("groupKey", &self.group_key), ("externalURL", &self.external_url)]
        {
            context += Limit::ContextBytes.check(limits, value.len(), || name.into())?;
        }
        let mut webhook = 0;
        for (index, alert) in self.alerts.iter().enumerate() {
            let alert_bytes = context + alert.check_limits(index, limits)?;
            webhook += Limit::AlertBytes.check(limits, alert_bytes, || format!("alerts[{index}]"))?;
        }
        Limit::WebhookBytes.check(limits, webhook, || "the webhook's alerts, each with the group context,".into())?;
        Ok(())
    }

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
        self.reject_nul_characters()
    }

    fn reject_nul_characters(&self) -> Result<(), WebhookError> {
        reject_nul(&self.receiver, || "receiver".into())?;
        reject_nul(&self.external_url, || "externalURL".into())?;
        reject_nul(&self.group_key, || "groupKey".into())?;
        reject_nul_in_map(&self.group_labels, || "groupLabels".into())?;
        reject_nul_in_map(&self.common_labels, || "commonLabels".into())?;
        reject_nul_in_map(&self.common_annotations, || "commonAnnotations".into())?;
        for (index, alert) in self.alerts.iter().enumerate() {
            reject_nul(&alert.fingerprint, || format!("alerts[{index}].fingerprint"))?;
            reject_nul(&alert.generator_url, || format!("alerts[{index}].generatorURL"))?;
            reject_nul_in_map(&alert.labels, || format!("alerts[{index}].labels"))?;
            reject_nul_in_map(&alert.annotations, || format!("alerts[{index}].annotations"))?;
        }
        Ok(())
    }
}

/// Refuses a NUL in `value`. The field's name is spelled out only for the error: this runs for
/// every string of every webhook.
fn reject_nul(value: &str, field: impl FnOnce() -> String) -> Result<(), WebhookError> {
    if value.contains('\0') {
        return Err(WebhookError::NulCharacter { field: field() });
    }
    Ok(())
}

fn reject_nul_in_map(map: &Labels, field: impl FnOnce() -> String) -> Result<(), WebhookError> {
    for (name, value) in map {
        if name.contains('\0') || value.contains('\0') {
            return Err(WebhookError::NulCharacter { field: format!("{}[{name:?}]", field()) });
        }
    }
    Ok(())
}

impl WebhookAlert {
    /// Checks one alert against `limits`; returns the bytes of its own text fields.
    fn check_limits(&self, index: usize, limits: &WebhookLimits) -> Result<usize, OverLimit> {
        let mut bytes = self.fingerprint.len();
        bytes +=
            Limit::ContextBytes.check(limits, self.generator_url.len(), || format!("alerts[{index}].generatorURL"))?;
        let maps = [
            ("labels", &self.labels, Limit::LabelsPerAlert, Limit::LabelValueBytes),
            ("annotations", &self.annotations, Limit::AnnotationsPerAlert, Limit::AnnotationValueBytes),
        ];
        for (map_name, map, count, value_limit) in maps {
            count.check(limits, map.len(), || format!("alerts[{index}].{map_name}"))?;
            for (name, value) in map {
                bytes += Limit::NameBytes
                    .check(limits, name.len(), || format!("alerts[{index}].{map_name} name {name:?}"))?;
                bytes += value_limit.check(limits, value.len(), || format!("alerts[{index}].{map_name}[{name:?}]"))?;
            }
        }
        Ok(bytes)
    }

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
        for (field, at) in [("startsAt", self.starts_at), ("endsAt", self.ends_at)] {
            if at >= LATEST_ACCEPTED_TIME {
                return Err(WebhookError::TooLate { index, field });
            }
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

    /// Found by fuzz/fuzz_targets/alertmanager_webhook_structured.rs: these passed validation, and
    /// incident-core's storage would panic on them, converting them to UTC (diesel's `to_offset`)
    /// or widening an end by the reopen window, both out of the time type's range.
    #[test]
    fn times_at_the_end_of_the_representable_range_are_refused() {
        let mut payload = decode("firing-single.json");
        payload.alerts[0].starts_at = datetime!(9999-12-31 23:58 UTC);
        assert_eq!(payload.validate(), Err(WebhookError::TooLate { index: 0, field: "startsAt" }));

        let mut payload = decode("resolved-all.json");
        // Still 9999 where it was written, already 10000 in UTC.
        payload.alerts[1].ends_at = datetime!(9999-12-31 20:00 -05:00);
        assert_eq!(payload.validate(), Err(WebhookError::TooLate { index: 1, field: "endsAt" }));

        // A firing alert's far, but not absurd, end is fine.
        let mut payload = decode("firing-single.json");
        payload.alerts[0].ends_at = datetime!(8999-12-31 23:59:59 UTC);
        assert_eq!(payload.validate(), Ok(()));
    }

    #[test]
    fn every_captured_payload_is_well_within_the_default_limits() {
        // A tenth of each default still takes every capture: the margin the defaults promise.
        let defaults = WebhookLimits::default();
        let tenth = WebhookLimits {
            alerts: defaults.alerts / 10,
            labels_per_alert: defaults.labels_per_alert / 10,
            annotations_per_alert: defaults.annotations_per_alert / 10,
            name_bytes: defaults.name_bytes / 10,
            label_value_bytes: defaults.label_value_bytes / 10,
            annotation_value_bytes: defaults.annotation_value_bytes / 10,
            context_bytes: defaults.context_bytes / 10,
            alert_bytes: defaults.alert_bytes / 10,
            webhook_bytes: defaults.webhook_bytes / 10,
        };
        for name in ["firing-group.json", "mixed.json", "resolved-all.json", "truncated.json", "unicode.json"] {
            assert_eq!(decode(name).check_limits(&tenth), Ok(()), "{name}");
        }
    }

    #[test]
    fn each_limit_names_the_field_and_the_bound() {
        let limits = WebhookLimits::default();
        let over = |payload: &WebhookPayload| payload.check_limits(&limits).err().map(|e| e.to_string());

        let mut payload = decode("firing-group.json");
        payload.alerts[1].labels.insert("service".into(), "x".repeat(5_000));
        assert_eq!(
            over(&payload).as_deref(),
            Some(r#"alerts[1].labels["service"] has 5000 bytes, over the limit of 4096"#)
        );

        let mut payload = decode("firing-group.json");
        payload.alerts[0].annotations.insert("n".repeat(300), "x".into());
        assert_eq!(payload.check_limits(&limits).err().map(|e| (e.limit, e.actual)), Some((Limit::NameBytes, 300)));

        let mut payload = decode("firing-group.json");
        payload.alerts[2].labels = (0..129).map(|n| (format!("l{n}"), "v".into())).collect();
        assert_eq!(over(&payload).as_deref(), Some("alerts[2].labels has 129 entries, over the limit of 128"));

        let mut payload = decode("firing-single.json");
        let alert = payload.alerts[0].clone();
        payload.alerts = vec![alert; 5_001];
        assert_eq!(over(&payload).as_deref(), Some("alerts has 5001 entries, over the limit of 5000"));
    }

    /// The review's amplification: a 1 MB `groupKey` copied into each of 1,000 alerts made about
    /// 1 GB in ingest. The group context is bounded, and so is what the webhook becomes on the stream.
    #[test]
    fn the_group_context_cannot_multiply_a_webhook() {
        let limits = WebhookLimits::default();
        let mut payload = decode("firing-single.json");
        let alert = payload.alerts[0].clone();
        payload.alerts = vec![alert; 1_000];
        payload.group_key = "g".repeat(1_000_000);
        assert_eq!(
            payload.check_limits(&limits).err().map(|e| (e.field, e.limit)),
            Some(("groupKey".into(), Limit::ContextBytes))
        );

        // Within every per-field bound, the sum still is: 3 × 8 KiB of context × 1,000 alerts.
        payload.group_key = "g".repeat(8 * 1024);
        payload.receiver = "r".repeat(8 * 1024);
        payload.external_url = "u".repeat(8 * 1024);
        let error = payload.check_limits(&limits).err();
        assert_eq!(error.as_ref().map(|e| e.limit), Some(Limit::WebhookBytes), "{error:?}");
        assert!(error.is_some_and(|e| e.actual > 24 * 1024 * 1000));
    }

    /// A label with a NUL got 202 from ingest, and incident-core could not store the alert
    /// (PostgreSQL refuses `\u0000`): it went round until the dead-letter stream. Schemathesis
    /// found the same hole in query's `actor`.
    #[test]
    fn a_nul_character_anywhere_is_refused_with_its_field_named() {
        let mut payload = decode("firing-single.json");
        payload.alerts[0].labels.insert("instance".into(), "web\0-01".into());
        let error = payload.validate().err();
        assert_eq!(error, Some(WebhookError::NulCharacter { field: r#"alerts[0].labels["instance"]"#.into() }));
        assert_eq!(
            error.map(|e| e.to_string()).unwrap_or_default(),
            r#"alerts[0].labels["instance"] contains a NUL character (\u0000), which tocsin cannot store"#
        );

        let mut payload = decode("firing-single.json");
        payload.alerts[0].annotations.insert("sum\0mary".into(), "x".into());
        assert_eq!(
            payload.validate(),
            Err(WebhookError::NulCharacter { field: r#"alerts[0].annotations["sum\0mary"]"#.into() })
        );

        let mut payload = decode("firing-single.json");
        payload.group_key.push('\0');
        assert_eq!(payload.validate(), Err(WebhookError::NulCharacter { field: "groupKey".into() }));
    }
}
