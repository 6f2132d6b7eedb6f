//! The outbox relay: moves committed events from the outbox table to the events stream, then
//! deletes them. A crash between XADD and DELETE publishes an event twice, never zero times;
//! consumers dedupe by event id. An event stored with a trace context gets a "publish events" span
//! in that trace, whose context the event carries to its consumers.

use crate::Core;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::{Envelope, Stream};
use tocsin_domain::{IncidentEvent, Message};
use tocsin_runtime::traces::TraceContext;
use tocsin_storage::AsyncConnection;
use tocsin_storage::{StorageError, outbox};
use tokio_util::sync::CancellationToken;

/// Outbox rows per relay transaction: each holds the events of one transaction of incident-core,
/// up to a batch of alerts' worth (BATCH_SIZE, 500 by default).
const ROWS: i64 = 8;
/// Also poll now and then: another replica's commits do not wake this one.
const POLL: Duration = Duration::from_millis(500);

pub async fn run(core: Arc<Core>, shutdown: CancellationToken) {
    loop {
        let stopping = tokio::select! {
            _ = core.relay_wakeup.notified() => false,
            _ = tokio::time::sleep(POLL) => false,
            _ = shutdown.cancelled() => true,
        };
        // Drain what is there, including on the way out.
        loop {
            match relay_once(&core).await {
                Ok(rows) if rows as i64 == ROWS => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot relay outbox events yet");
                    break;
                }
            }
        }
        if stopping {
            break;
        }
    }
    tracing::info!("outbox relay stopped");
}

/// Relays the oldest outbox rows; answers how many rows it moved.
async fn relay_once(core: &Core) -> Result<usize, StorageError> {
    let mut conn = core.pool.get().await?;
    let moved = conn
        .transaction(async |conn| {
            let pending = outbox::lock_pending(conn, ROWS).await?;
            if pending.is_empty() {
                return Ok::<_, StorageError>((0, 0));
            }
            let ids: Vec<i64> = pending.iter().map(|row| row.id).collect();
            let now = OffsetDateTime::now_utc();
            // The events go out as the text the outbox holds, without decoding them.
            let mut envelopes = Vec::new();
            let mut spans = Vec::new();
            let events = pending.into_iter().map(outbox::PendingBatch::events).collect::<Result<Vec<_>, _>>()?;
            for event in events.into_iter().flatten() {
                let mut envelope = Envelope {
                    id: event.event_id,
                    kind: IncidentEvent::TYPE.to_owned(),
                    schema: IncidentEvent::SCHEMA_VERSION,
                    time: now,
                    traceparent: None,
                    payload: event.payload,
                };
                let parent = event.traceparent.as_deref().and_then(TraceContext::from_traceparent);
                if parent.is_some() {
                    spans.push(core.bus.producer_span(&core.tracer, Stream::Events, parent.as_ref(), &mut envelope));
                }
                envelopes.push(envelope);
            }
            let published = core.bus.publish(Stream::Events, &envelopes).await;
            for mut span in spans {
                if let Err(error) = &published {
                    span.set_error(&error.to_string());
                }
                span.end();
            }
            published.map_err(|error| StorageError::Unavailable(error.to_string()))?;
            outbox::delete(conn, &ids).await?;
            Ok((ids.len(), envelopes.len()))
        })
        .await?;
    let (rows, events) = moved;
    core.metrics.events_relayed.inc_by(events as u64);
    Ok(rows)
}
