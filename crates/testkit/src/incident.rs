//! The incident every harness needs, from one constructor, so that each test states only what it
//! is about with struct update syntax (`Incident { status, ..open_incident(at) }`).

use std::collections::BTreeMap;
use time::OffsetDateTime;
use tocsin_domain::incident::SourceAlert;
use tocsin_domain::{Incident, IncidentStatus, Severity};
use uuid::Uuid;

/// An incident one alert opened at `at`: open, unassigned, without a runbook, its one alert
/// (fingerprint `f1`, no labels) firing, version 1; critical, for the `checkout` service of the
/// `payments` team in production.
pub fn open_incident(at: OffsetDateTime) -> Incident {
    Incident {
        id: Uuid::nil(),
        title: "High CPU usage on web-server-01".into(),
        service: "checkout".into(),
        environment: "production".into(),
        severity: Severity::Critical,
        team: "payments".into(),
        status: IncidentStatus::Open,
        assignee: None,
        runbook_url: None,
        source_alert: SourceAlert { fingerprint: "f1".into(), starts_at: at, labels: BTreeMap::new() },
        alert_count: 1,
        firing_count: 1,
        opened_at: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        updated_at: at,
        version: 1,
    }
}

/// Labels from `(name, value)` pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}
