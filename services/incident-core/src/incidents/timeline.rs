//! Writing down what happened to an incident: one timeline entry and one outbox event per change,
//! in the caller's transaction, each event carrying the incident as it stands after the change.
//! Every change of an incident's status passes here, so this is also where its escalation follows
//! it (`crate::escalation`'s hook: opened and reopened start one, acknowledged stops it, resolved
//! ends it), and where maintenance windows hold what opens inside them (`crate::maintenance`): the
//! incident gets an `in_maintenance` entry, and every event about it while held carries the hold.

use super::statements;
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_domain::{EventKind, IncidentEvent, IncidentStatus};
use tocsin_storage::StorageError;
use tocsin_storage::outbox;
use tocsin_storage::rows::IncidentRow;
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
    /// For an acknowledgement that stopped an escalation which had fired a step: which, and how
    /// long after the escalation started (time to acknowledge per step and per responder).
    pub acknowledged_step: Option<crate::escalation::AcknowledgedStep>,
}

/// What [`record`] and [`record_many`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Recorded {
    pub events: usize,
    pub transitions: Vec<StatusChange>,
    /// The incidents put in maintenance, each with one more event than the changes asked for.
    pub held: Vec<Uuid>,
}

/// Records `changes` of the incident whose state after them is `incident`, handled at `now`.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    incident: &IncidentRow,
    changes: Vec<Change>,
    now: OffsetDateTime,
) -> Result<Recorded, StorageError> {
    record_many(conn, changes.into_iter().map(|change| (incident, change)).collect(), now).await
}

/// Records changes of several incidents, each paired with its incident's state after them, with
/// one insert into the timeline and one outbox row, and one statement per kind of status change
/// among them for their escalations. `now` is when they are handled: the maintenance windows in
/// force then hold the incidents that open.
pub(crate) async fn record_many(
    conn: &mut AsyncPgConnection,
    mut changes: Vec<(&IncidentRow, Change)>,
    now: OffsetDateTime,
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
    let held_changes = crate::maintenance::hold_opened(conn, &changes, &snapshots, now).await?;
    let held: Vec<Uuid> = held_changes.iter().map(|(incident, _)| incident.id).collect();
    changes.extend(held_changes);
    let ids: Vec<Uuid> = snapshots.keys().copied().collect();
    let holds = tocsin_storage::maintenance::holds(conn, &ids).await?;
    insert_timeline(conn, &changes).await?;
    let mut acknowledged = crate::escalation::follow_status_changes(conn, &changes).await?;

    let mut new_events = Vec::with_capacity(changes.len());
    let mut transitions = Vec::new();
    for (incident, change) in changes {
        let Some(snapshot) = snapshots.get(&incident.id) else { continue };
        if change.status.is_some() {
            let acknowledged_step =
                if change.kind == EventKind::Acknowledged { acknowledged.remove(&incident.id) } else { None };
            transitions.push(StatusChange { kind: change.kind, incident: snapshot.clone(), acknowledged_step });
        }
        let event = IncidentEvent {
            id: Uuid::now_v7(),
            kind: change.kind,
            at: change.at,
            actor: change.actor,
            incident: snapshot.clone(),
            detail: change.detail,
            maintenance: holds.get(&incident.id).cloned(),
        };
        let json = serde_json::to_string(&event)
            .map_err(|error| StorageError::Corrupt(format!("event does not serialise: {error}")))?;
        new_events.push(outbox::NewEvent { id: event.id, json, traceparent: change.traceparent });
    }
    let events = new_events.len();
    outbox::insert(conn, new_events).await?;
    Ok(Recorded { events, transitions, held })
}

/// The timeline entries of `changes`, in one statement with one array per column. A multi-row
/// `VALUES` would bind six parameters per entry, thousands per batch, which PostgreSQL parses and
/// plans afresh every time; this statement has six and is prepared once.
async fn insert_timeline(conn: &mut AsyncPgConnection, changes: &[(&IncidentRow, Change)]) -> Result<(), StorageError> {
    let mut incident_ids = Vec::with_capacity(changes.len());
    let mut ats = Vec::with_capacity(changes.len());
    let mut kinds = Vec::with_capacity(changes.len());
    let mut actors = Vec::with_capacity(changes.len());
    let mut statuses = Vec::with_capacity(changes.len());
    let mut details = Vec::with_capacity(changes.len());
    for (incident, change) in changes {
        incident_ids.push(incident.id);
        ats.push(change.at);
        kinds.push(change.kind.as_str());
        actors.push(change.actor.as_str());
        statuses.push(change.status.map(|status| status.as_str()));
        details.push(&change.detail);
    }
    diesel::sql_query(statements::INSERT_TIMELINE)
        .bind::<Array<SqlUuid>, _>(incident_ids)
        .bind::<Array<Timestamptz>, _>(ats)
        .bind::<Array<Text>, _>(kinds)
        .bind::<Array<Text>, _>(actors)
        .bind::<Array<Nullable<Text>>, _>(statuses)
        .bind::<Array<Jsonb>, _>(details)
        .execute(conn)
        .await?;
    Ok(())
}
