//! Writing down what happened to an incident: one timeline entry and one outbox event per change,
//! in the caller's transaction, each event carrying the incident as it stands after the change.

use crate::StorageError;
use crate::outbox;
use crate::rows::IncidentRow;
use crate::schema::timeline_entries;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_domain::{EventKind, IncidentEvent, IncidentStatus};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub kind: EventKind,
    pub at: OffsetDateTime,
    pub actor: String,
    /// Set on changes of status.
    pub status: Option<IncidentStatus>,
    pub detail: serde_json::Value,
    /// The W3C trace context of the span that made the change, handed on with its event.
    pub traceparent: Option<String>,
}

impl Change {
    pub fn new(kind: EventKind, at: OffsetDateTime, actor: &str, detail: serde_json::Value) -> Change {
        Change { kind, at, actor: actor.to_owned(), status: None, detail, traceparent: None }
    }

    pub fn with_status(mut self, status: IncidentStatus) -> Change {
        self.status = Some(status);
        self
    }

    pub fn traced(mut self, traceparent: Option<&str>) -> Change {
        self.traceparent = traceparent.map(str::to_owned);
        self
    }
}

/// A change of an incident's status, reported to the caller so it can count it once committed
/// (time to acknowledge, time to resolve).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub kind: EventKind,
    /// The incident after the change.
    pub incident: tocsin_domain::Incident,
}

/// What [`record`] and [`record_many`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Recorded {
    pub events: usize,
    pub transitions: Vec<StatusChange>,
}

/// Records `changes` of the incident whose state after them is `incident`.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    incident: &IncidentRow,
    changes: Vec<Change>,
) -> Result<Recorded, StorageError> {
    record_many(conn, changes.into_iter().map(|change| (incident, change)).collect()).await
}

/// Records changes of several incidents, each paired with its incident's state after them, with
/// one insert into the timeline and one outbox row.
pub(crate) async fn record_many(
    conn: &mut AsyncPgConnection,
    changes: Vec<(&IncidentRow, Change)>,
) -> Result<Recorded, StorageError> {
    if changes.is_empty() {
        return Ok(Recorded::default());
    }
    let mut snapshots = std::collections::HashMap::new();
    for (incident, _) in &changes {
        if let std::collections::hash_map::Entry::Vacant(slot) = snapshots.entry(incident.id) {
            slot.insert(IncidentRow::clone(incident).into_domain()?);
        }
    }
    let timeline_rows: Vec<_> = changes
        .iter()
        .map(|(incident, change)| {
            (
                timeline_entries::incident_id.eq(incident.id),
                timeline_entries::at.eq(change.at),
                timeline_entries::kind.eq(change.kind.as_str()),
                timeline_entries::actor.eq(change.actor.clone()),
                timeline_entries::status.eq(change.status.map(|s| s.as_str())),
                timeline_entries::detail.eq(change.detail.clone()),
            )
        })
        .collect();
    diesel::insert_into(timeline_entries::table).values(timeline_rows).execute(conn).await?;

    let mut new_events = Vec::with_capacity(changes.len());
    let mut transitions = Vec::new();
    for (incident, change) in changes {
        let Some(snapshot) = snapshots.get(&incident.id) else { continue };
        if change.status.is_some() {
            transitions.push(StatusChange { kind: change.kind, incident: snapshot.clone() });
        }
        let event = IncidentEvent {
            id: Uuid::now_v7(),
            kind: change.kind,
            at: change.at,
            actor: change.actor,
            incident: snapshot.clone(),
            detail: change.detail,
        };
        let json = serde_json::to_string(&event)
            .map_err(|error| StorageError::Corrupt(format!("event does not serialise: {error}")))?;
        new_events.push(outbox::NewEvent { id: event.id, json, traceparent: change.traceparent });
    }
    let events = new_events.len();
    outbox::insert(conn, new_events).await?;
    Ok(Recorded { events, transitions })
}

use diesel::ExpressionMethods;
