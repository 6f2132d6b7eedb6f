//! Generated webhooks with the shape of the captured ones (`testdata/alertmanager/raw/`): same
//! fields in the same order, realistic labels, annotations and generator URLs, spread over many
//! services, environments and severities.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SERVICES: &[&str] = &[
    "web-server",
    "checkout-api",
    "payments",
    "search",
    "inventory",
    "auth",
    "api-gateway",
    "orders",
    "notifications",
    "storage-backend",
    "postgres",
    "redis-cache",
];
pub const ENVIRONMENTS: &[&str] = &["production", "staging", "development"];
pub const SEVERITIES: &[&str] = &["critical", "high", "warning", "info"];
const RULES: &[(&str, &str)] = &[
    ("HighCPU", "CPU usage on {instance} has been above 90% for more than 5 minutes"),
    ("HighLatency", "p99 latency of {instance} is above 2s"),
    ("DiskSpaceLow", "Filesystem /var/lib/data on {instance} has less than 10% free space"),
    ("InstanceDown", "{instance} has not answered the scrape for 1 minute"),
    ("ErrorRateHigh", "5xx ratio of {instance} is above 5%"),
];

/// A firing alert number `n`: its fingerprint is unique per `n`; alerts whose numbers are equal
/// modulo `keys` share a service, environment and severity (a correlation key).
pub fn alert(n: u64, keys: u64, starts_at: OffsetDateTime) -> Value {
    let key = n % keys.max(1);
    // Neighbouring keys differ in every field, so even a few keys show the whole variety.
    let service = SERVICES[(key % SERVICES.len() as u64) as usize];
    let environment = ENVIRONMENTS[((key + key / SERVICES.len() as u64) % ENVIRONMENTS.len() as u64) as usize];
    let severity = SEVERITIES[((key / 3 + key / 48) % SEVERITIES.len() as u64) as usize];
    let (alertname, description) = RULES[(n % RULES.len() as u64) as usize];
    let instance = format!("{service}-{:04}", n % 10_000);
    json!({
        "status": "firing",
        "labels": {
            "alertname": alertname,
            "environment": environment,
            "instance": instance,
            "job": "node_exporter",
            "service": service,
            "severity": severity,
        },
        "annotations": {
            "description": description.replace("{instance}", &instance),
            "runbook_url": format!("https://runbooks.example.com/{}", alertname.to_lowercase()),
            "summary": format!("{alertname} on {instance}"),
        },
        "startsAt": starts_at.format(&Rfc3339).unwrap_or_default(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": format!("http://prometheus:9090/graph?g0.expr=up%7Bjob%3D%22{service}%22%7D&g0.tab=1"),
        "fingerprint": format!("{n:016x}"),
    })
}

/// A webhook carrying `alerts`, with the group fields Alertmanager fills in.
pub fn webhook(alerts: Vec<Value>) -> Value {
    let first = alerts.first().cloned().unwrap_or(Value::Null);
    let labels = &first["labels"];
    let group_labels = json!({
        "environment": labels["environment"],
        "service": labels["service"],
        "severity": labels["severity"],
    });
    let status = if alerts.iter().any(|a| a["status"] == "firing") { "firing" } else { "resolved" };
    json!({
        "receiver": "tocsin",
        "status": status,
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": group_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": format!(
            "{{}}:{{environment={:?}, service={:?}, severity={:?}}}",
            labels["environment"].as_str().unwrap_or_default(),
            labels["service"].as_str().unwrap_or_default(),
            labels["severity"].as_str().unwrap_or_default()
        ),
        "truncatedAlerts": 0,
    })
}

/// The same alert, resolved at `ends_at`.
pub fn resolved(mut alert: Value, ends_at: OffsetDateTime) -> Value {
    alert["status"] = json!("resolved");
    alert["endsAt"] = json!(ends_at.format(&Rfc3339).unwrap_or_default());
    alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn generated_alerts_spread_over_keys_and_stay_unique() {
        let at = datetime!(2026-11-26 20:00 UTC);
        let a = alert(1, 50, at);
        let b = alert(51, 50, at);
        assert_eq!(a["labels"]["service"], b["labels"]["service"]);
        assert_ne!(a["fingerprint"], b["fingerprint"]);
        let hook = webhook(vec![a.clone(), b]);
        assert_eq!(hook["version"], "4");
        assert_eq!(hook["alerts"].as_array().map(Vec::len), Some(2));
        assert_eq!(resolved(a, at)["endsAt"], "2026-11-26T20:00:00Z");
    }
}
