//! The outbox: events committed with the change they describe, waiting to be relayed to the events
//! stream.
//!
//! A transaction writes its events as one row: the events as a JSON array, exactly as they go on
//! the stream, with their ids and trace contexts beside it in the same order. One row per batch of
//! alerts, rather than one per event, is one insert and one delete where there were hundreds.

use crate::StorageError;
use crate::schema::outbox;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::value::RawValue;
use uuid::Uuid;

/// An event about to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    /// The event's JSON.
    pub json: String,
    /// The trace of the change that caused the event, when it was traced.
    pub traceparent: Option<String>,
}

/// Writes one transaction's events as one outbox row. Nothing to write, no row.
pub async fn insert(conn: &mut AsyncPgConnection, events: Vec<NewEvent>) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut array = String::with_capacity(events.iter().map(|event| event.json.len() + 1).sum::<usize>() + 1);
    let mut ids = Vec::with_capacity(events.len());
    let mut traceparents = Vec::with_capacity(events.len());
    for event in events {
        array.push(if ids.is_empty() { '[' } else { ',' });
        array.push_str(&event.json);
        ids.push(event.id);
        traceparents.push(event.traceparent);
    }
    array.push(']');
    diesel::insert_into(outbox::table)
        .values((outbox::events.eq(array), outbox::event_ids.eq(ids), outbox::traceparents.eq(traceparents)))
        .execute(conn)
        .await?;
    Ok(())
}

/// One outbox row: the events one transaction committed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PendingBatch {
    pub id: i64,
    events: String,
    event_ids: Vec<Uuid>,
    traceparents: Vec<Option<String>>,
}

/// An event waiting in the outbox: its JSON, exactly as it goes on the stream.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event_id: Uuid,
    pub payload: Box<RawValue>,
    /// The trace of the change that caused the event, when it was traced.
    pub traceparent: Option<String>,
}

impl PendingBatch {
    /// The row's events, in the order they were written. The JSON is split, not decoded.
    pub fn events(self) -> Result<Vec<PendingEvent>, StorageError> {
        let corrupt = |problem: String| StorageError::Corrupt(format!("outbox row {}: {problem}", self.id));
        let payloads: Vec<Box<RawValue>> = serde_json::from_str(&self.events)
            .map_err(|error| corrupt(format!("events are not a JSON array: {error}")))?;
        if payloads.len() != self.event_ids.len() || payloads.len() != self.traceparents.len() {
            return Err(corrupt(format!(
                "{} events, {} ids and {} trace contexts",
                payloads.len(),
                self.event_ids.len(),
                self.traceparents.len()
            )));
        }
        Ok(payloads
            .into_iter()
            .zip(self.event_ids)
            .zip(self.traceparents)
            .map(|((payload, event_id), traceparent)| PendingEvent { event_id, payload, traceparent })
            .collect())
    }
}

/// The oldest pending rows, locked for the caller's transaction. `SKIP LOCKED` lets several
/// relays (one per incident-core replica) drain the outbox side by side.
pub async fn lock_pending(conn: &mut AsyncPgConnection, rows: i64) -> Result<Vec<PendingBatch>, StorageError> {
    Ok(outbox::table
        .order(outbox::id)
        .select((outbox::id, outbox::events, outbox::event_ids, outbox::traceparents))
        .limit(rows)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?)
}

pub async fn delete(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<(), StorageError> {
    diesel::delete(outbox::table.filter(outbox::id.eq_any(ids))).execute(conn).await?;
    Ok(())
}

/// How many events wait, for `/metrics`.
pub async fn backlog(conn: &mut AsyncPgConnection) -> Result<i64, StorageError> {
    Ok(outbox::table.select(sql::<BigInt>("COALESCE(SUM(cardinality(event_ids)), 0)::bigint")).get_result(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: &str, ids: usize, traces: usize) -> PendingBatch {
        PendingBatch {
            id: 7,
            events: events.to_owned(),
            event_ids: (0..ids).map(|_| Uuid::now_v7()).collect(),
            traceparents: (0..traces).map(|n| (n % 2 == 0).then(|| format!("trace-{n}"))).collect(),
        }
    }

    #[test]
    fn a_row_splits_into_its_events_in_order_with_their_ids_and_traces() {
        let row = batch(r#"[{"kind":"opened"}, {"kind":"alert_added","n":[1,2]}]"#, 2, 2);
        let ids = row.event_ids.clone();
        let events = row.events().expect("events");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].payload.get(), r#"{"kind":"opened"}"#);
        assert_eq!(events[1].payload.get(), r#"{"kind":"alert_added","n":[1,2]}"#, "each event's text as written");
        assert_eq!([events[0].event_id, events[1].event_id], [ids[0], ids[1]]);
        assert_eq!(events[0].traceparent.as_deref(), Some("trace-0"));
        assert_eq!(events[1].traceparent, None);
    }

    #[test]
    fn a_row_whose_parts_disagree_is_corrupt_and_says_how() {
        let error = batch(r#"[{"kind":"opened"}]"#, 2, 2).events().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("outbox row 7: 1 events, 2 ids and 2 trace contexts"), "{error}");
        let error = batch(r#"{"kind":"opened"}"#, 1, 1).events().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("outbox row 7: events are not a JSON array"), "{error}");
    }
}
