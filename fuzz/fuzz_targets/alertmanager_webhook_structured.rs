//! Alertmanager-shaped webhooks built from the fuzzer's bytes: every field present, strings, labels
//! and fingerprints of any content, and timestamps across the whole RFC 3339 range with any
//! fraction and offset, biased towards the edges (Go's zero time, the epoch, the last day of the
//! year 9999).
//! Mutating bytes rarely yields such a payload; this target reaches validation, and what follows
//! it, on nearly every input.
//!
//! A complete payload with well-formed timestamps must decode, read back the same after encoding,
//! and, when it validates, pass `tocsin_fuzz::check_accepted`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::collections::BTreeMap;
use tocsin_domain::webhook::WebhookPayload;

#[derive(Arbitrary, Debug)]
struct Webhook {
    receiver: String,
    resolved: bool,
    alerts: Vec<Alert>,
    group_labels: BTreeMap<String, String>,
    common_labels: BTreeMap<String, String>,
    common_annotations: BTreeMap<String, String>,
    external_url: String,
    version: Version,
    group_key: String,
    /// `None`: left out, as Alertmanager before 0.22 did.
    truncated_alerts: Option<u64>,
}

#[derive(Arbitrary, Debug)]
enum Version {
    Four,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Alert {
    resolved: bool,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: Timestamp,
    ends_at: Timestamp,
    generator_url: String,
    fingerprint: Fingerprint,
}

#[derive(Arbitrary, Debug)]
enum Fingerprint {
    /// Alertmanager's: 16 hex digits.
    Alertmanager(u64),
    Other(String),
}

/// A well-formed RFC 3339 timestamp: every field is brought into its range.
#[derive(Arbitrary, Debug)]
struct Timestamp {
    year: Year,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Nanoseconds and how many digits to write (Go trims trailing zeros).
    fraction: Option<(u32, u8)>,
    /// `None`: `Z`. Else negative?, hours, minutes.
    offset: Option<(bool, u8, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Year {
    /// Go's zero time, year 1: what Alertmanager sends for "no end yet".
    GoZero,
    Epoch,
    Recent(u8),
    Any(u16),
    /// 9999-12-31, the last day RFC 3339 can write.
    LastDay,
}

impl Timestamp {
    fn rfc3339(&self) -> String {
        let year = match self.year {
            Year::GoZero => 1,
            Year::Epoch => 1970,
            Year::Recent(offset) => 2000 + i32::from(offset),
            Year::Any(year) => i32::from(year % 10_000),
            Year::LastDay => 9999,
        };
        let (month, day) = match self.year {
            Year::LastDay => (time::Month::December, 31),
            _ => {
                let month = time::Month::try_from(self.month % 12 + 1).unwrap_or(time::Month::January);
                (month, self.day % time::util::days_in_month(month, year) + 1)
            }
        };
        let mut text = format!(
            "{year:04}-{:02}-{day:02}T{:02}:{:02}:{:02}",
            u8::from(month),
            self.hour % 24,
            self.minute % 60,
            self.second % 60
        );
        if let Some((nanoseconds, digits)) = self.fraction {
            let digits = u32::from(digits % 9 + 1);
            let value = (nanoseconds % 1_000_000_000) / 10u32.pow(9 - digits);
            text.push_str(&format!(".{value:0width$}", width = digits as usize));
        }
        match self.offset {
            None => text.push('Z'),
            Some((negative, hours, minutes)) => {
                let (hours, minutes) = (hours % 24, minutes % 60);
                // `-00:00` is RFC 3339's "offset unknown", which no sender of webhooks writes.
                let sign = if negative && (hours, minutes) != (0, 0) { '-' } else { '+' };
                text.push_str(&format!("{sign}{hours:02}:{minutes:02}"));
            }
        }
        text
    }
}

impl Webhook {
    fn to_json(&self) -> serde_json::Value {
        let status = |resolved: bool| if resolved { "resolved" } else { "firing" };
        let alerts: Vec<_> = self
            .alerts
            .iter()
            .map(|alert| {
                json!({
                    "status": status(alert.resolved),
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "startsAt": alert.starts_at.rfc3339(),
                    "endsAt": alert.ends_at.rfc3339(),
                    "generatorURL": alert.generator_url,
                    "fingerprint": match &alert.fingerprint {
                        Fingerprint::Alertmanager(hash) => format!("{hash:016x}"),
                        Fingerprint::Other(text) => text.clone(),
                    },
                })
            })
            .collect();
        let mut payload = json!({
            "receiver": self.receiver,
            "status": status(self.resolved),
            "alerts": alerts,
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels,
            "commonAnnotations": self.common_annotations,
            "externalURL": self.external_url,
            "version": match &self.version {
                Version::Four => "4",
                Version::Other(version) => version,
            },
            "groupKey": self.group_key,
        });
        if let (Some(truncated), Some(object)) = (self.truncated_alerts, payload.as_object_mut()) {
            object.insert("truncatedAlerts".to_owned(), json!(truncated));
        }
        payload
    }
}

fuzz_target!(|webhook: Webhook| {
    let body = webhook.to_json().to_string();
    let payload: WebhookPayload =
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("a complete webhook is refused: {error}\n{body}"));
    let encoded =
        serde_json::to_string(&payload).unwrap_or_else(|error| panic!("a decoded webhook does not encode: {error}"));
    let decoded: WebhookPayload = serde_json::from_str(&encoded)
        .unwrap_or_else(|error| panic!("an encoded webhook does not decode: {error}\n{encoded}"));
    assert_eq!(decoded, payload, "the webhook changed on its way through JSON");
    if payload.validate().is_ok() {
        tocsin_fuzz::check_accepted(&payload);
    }
});
