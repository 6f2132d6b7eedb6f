//! The outbox: events committed with the change they describe, waiting to be relayed to the events
//! stream.

use crate::StorageError;
use crate::schema::outbox;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// An event waiting in the outbox: its JSON, exactly as it goes on the stream.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PendingEvent {
    pub id: i64,
    pub event_id: Uuid,
    pub payload: String,
    /// The trace of the change that caused the event, when it was traced.
    pub traceparent: Option<String>,
}

/// The oldest pending events, locked for the caller's transaction. `SKIP LOCKED` lets several
/// relays (one per incident-core replica) drain the outbox side by side.
pub async fn lock_pending(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<PendingEvent>, StorageError> {
    Ok(outbox::table
        .order(outbox::id)
        .select((outbox::id, outbox::event_id, outbox::payload, outbox::traceparent))
        .limit(limit)
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
    Ok(outbox::table.count().get_result(conn).await?)
}
