//! Rows as diesel reads them, and their conversion into the domain's types. Enumerations are
//! stored as text with CHECK constraints; an unknown value is reported as a corrupt row.

use crate::StorageError;
use crate::schema::{alerts, incidents, timeline_entries};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;
use std::collections::BTreeMap;
use std::io::Write;
use time::OffsetDateTime;
use tocsin_domain::incident::SourceAlert;
use tocsin_domain::{AlertRecord, AlertState, EventKind, Incident, IncidentStatus, Severity, TimelineEntry};
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = incidents, check_for_backend(diesel::pg::Pg))]
pub struct IncidentRow {
    pub id: Uuid,
    pub correlation_key: String,
    pub title: String,
    pub service: String,
    pub environment: String,
    pub severity: String,
    pub team: String,
    pub status: String,
    pub assignee: Option<String>,
    pub runbook_url: Option<String>,
    pub source_fingerprint: String,
    pub source_starts_at: OffsetDateTime,
    pub source_labels: serde_json::Value,
    pub alert_count: i32,
    pub firing_count: i32,
    pub opened_at: OffsetDateTime,
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<String>,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl IncidentRow {
    pub fn status(&self) -> Result<IncidentStatus, StorageError> {
        IncidentStatus::parse(&self.status)
            .ok_or_else(|| StorageError::Corrupt(format!("incident {} has status `{}`", self.id, self.status)))
    }

    pub fn into_domain(self) -> Result<Incident, StorageError> {
        let status = self.status()?;
        let severity = Severity::parse(&self.severity)
            .ok_or_else(|| StorageError::Corrupt(format!("incident {} has severity `{}`", self.id, self.severity)))?;
        Ok(Incident {
            id: self.id,
            title: self.title,
            service: self.service,
            environment: self.environment,
            severity,
            team: self.team,
            status,
            assignee: self.assignee,
            runbook_url: self.runbook_url,
            source_alert: SourceAlert {
                fingerprint: self.source_fingerprint,
                starts_at: self.source_starts_at,
                labels: string_map(self.source_labels),
            },
            alert_count: self.alert_count,
            firing_count: self.firing_count,
            opened_at: self.opened_at,
            acknowledged_at: self.acknowledged_at,
            acknowledged_by: self.acknowledged_by,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = alerts, check_for_backend(diesel::pg::Pg))]
pub struct AlertRow {
    pub id: i64,
    pub incident_id: Uuid,
    pub fingerprint: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: Option<OffsetDateTime>,
    pub state: String,
    pub labels: serde_json::Value,
    pub annotations: serde_json::Value,
    pub generator_url: String,
    pub last_received_at: OffsetDateTime,
    pub last_firing_report_at: OffsetDateTime,
}

impl AlertRow {
    pub fn state(&self) -> Result<AlertState, StorageError> {
        AlertState::parse(&self.state)
            .ok_or_else(|| StorageError::Corrupt(format!("alert {} has state `{}`", self.id, self.state)))
    }

    pub fn into_domain(self) -> Result<AlertRecord, StorageError> {
        let state = self.state()?;
        Ok(AlertRecord {
            state,
            fingerprint: self.fingerprint,
            starts_at: self.starts_at,
            // A re-fired occurrence keeps its previous end for the dedup rules; it has no end now.
            ends_at: self.ends_at.filter(|_| state == AlertState::Resolved),
            labels: string_map(self.labels),
            annotations: string_map(self.annotations),
            generator_url: self.generator_url,
            last_received_at: self.last_received_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = timeline_entries, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TimelineRow {
    pub at: OffsetDateTime,
    pub kind: String,
    pub actor: String,
    pub status: Option<String>,
    pub detail: serde_json::Value,
}

impl TimelineRow {
    pub fn into_domain(self) -> Result<TimelineEntry, StorageError> {
        let kind = EventKind::parse(&self.kind)
            .ok_or_else(|| StorageError::Corrupt(format!("timeline entry of kind `{}`", self.kind)))?;
        let status = match self.status.as_deref() {
            None => None,
            Some(value) => Some(
                IncidentStatus::parse(value)
                    .ok_or_else(|| StorageError::Corrupt(format!("timeline entry with status `{value}`")))?,
            ),
        };
        Ok(TimelineEntry { at: self.at, kind, actor: self.actor, status, detail: self.detail })
    }
}

/// A map of strings (labels, annotations) bound as `jsonb` straight from the map: the batch insert
/// of alerts binds two per alert, and building a `serde_json::Value` of each first only to write it
/// out again doubled the allocations.
#[derive(Debug)]
pub struct JsonbMap<'a>(pub &'a BTreeMap<String, String>);

impl ToSql<Jsonb, Pg> for JsonbMap<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // jsonb's binary format: a version byte, then the JSON text (as diesel writes a `Value`).
        out.write_all(&[1])?;
        serde_json::to_writer(out, self.0)?;
        Ok(IsNull::No)
    }
}

pub fn json_map(map: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect())
}

fn string_map(value: serde_json::Value) -> BTreeMap<String, String> {
    match value {
        serde_json::Value::Object(object) => object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
