//! The event loop: one consumer of the events stream per replica. Each event is routed to its
//! targets and recorded as one delivery per target in PostgreSQL; only then is the stream entry
//! acknowledged. The delivery worker (`crate::deliveries`) sends them. A crash between the two
//! steps redelivers the entry, and the (event id, target) key turns the second recording into a
//! no-op: an event is notified once per target however often it arrives.
//!
//! A traced event gets a "route event" span in its trace; the deliveries keep that span's context,
//! and the worker's "deliver <channel>" spans continue it, however much later they run.

use crate::metrics::KindLabel;
use crate::routing::Routing;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use std::time::Duration;
use tocsin_bus::{Consumer, Delivery};
use tocsin_domain::IncidentEvent;
use tocsin_runtime::traces::{TraceSpan, Tracer};
use tocsin_storage::Pool;
use tocsin_storage::notifications::{self, NewDelivery};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub struct EventLoop {
    pub consumer: Consumer<IncidentEvent>,
    pub pool: Pool,
    pub routing: Arc<Routing>,
    pub events_seen: Family<KindLabel, Counter>,
    /// Rung when new deliveries are recorded, so the worker sends them at once.
    pub wake: Arc<Notify>,
    pub tracer: Tracer,
}

impl EventLoop {
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.consumer.ensure_group().await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot create the events consumer group yet");
                    pause(&shutdown).await;
                }
            }
        }
        while !shutdown.is_cancelled() {
            let batch = match self.consumer.next_batch().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the events stream");
                    pause(&shutdown).await;
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            // Until the deliveries are recorded the entries stay pending; keep them ours meanwhile.
            loop {
                match self.record(&batch).await {
                    Ok(recorded) => {
                        if recorded > 0 {
                            self.wake.notify_one();
                        }
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, events = batch.len(), "cannot record deliveries; holding the events");
                        let ids: Vec<String> = batch.iter().map(|delivery| delivery.entry_id.clone()).collect();
                        if let Err(error) = self.consumer.keep_alive(&ids).await {
                            tracing::warn!(%error, "cannot keep the held events claimed");
                        }
                        pause(&shutdown).await;
                        if shutdown.is_cancelled() {
                            return;
                        }
                    }
                }
            }
            let handled: Vec<String> = batch.iter().map(|delivery| delivery.entry_id.clone()).collect();
            if let Err(error) = self.consumer.ack(&handled).await {
                tracing::warn!(%error, "cannot acknowledge events; they will be seen again (and not notified twice)");
            }
        }
        tracing::info!(consumer = self.consumer.name(), "event loop stopped");
    }

    /// Records the batch's deliveries in one statement; returns how many are new.
    async fn record(&self, batch: &[Delivery<IncidentEvent>]) -> Result<usize, tocsin_storage::StorageError> {
        for delivery in batch {
            let event = &delivery.envelope.payload;
            self.events_seen.get_or_create(&KindLabel { kind: event.kind.as_str() }).inc();
        }
        // The JSON of each event that goes anywhere, for its deliveries; the worker decodes it
        // again when it sends. Events routed nowhere are not encoded at all.
        let routed: Vec<_> =
            batch.iter().map(|delivery| self.routing.targets_for(&delivery.envelope.payload)).collect();
        let texts: Vec<Option<String>> = batch
            .iter()
            .zip(&routed)
            .map(|(delivery, targets)| {
                (!targets.is_empty()).then(|| serde_json::to_string(&delivery.envelope.payload).unwrap_or_default())
            })
            .collect();
        // Empty when traces are off: then no event has a span, and no delivery a traceparent.
        let mut spans: Vec<TraceSpan> = Vec::new();
        let mut traceparents: Vec<Option<String>> = Vec::new();
        if self.tracer.is_on() {
            for delivery in batch {
                let span = self.consumer.span(&self.tracer, "route event", delivery);
                traceparents.push(span.traceparent());
                spans.push(span);
            }
        }
        let mut rows = Vec::new();
        for (index, ((delivery, text), targets)) in batch.iter().zip(&texts).zip(routed).enumerate() {
            let event = &delivery.envelope.payload;
            if let Some(span) = spans.get_mut(index).filter(|span| span.is_recording()) {
                span.set_str("event.id", &event.id.to_string());
                span.set_str("event.kind", event.kind.as_str());
                span.set_str("incident.id", &event.incident.id.to_string());
                span.set_i64("notification.targets", targets.len() as i64);
            }
            let traceparent = traceparents.get(index).and_then(Option::as_deref);
            tracing::debug!(
                event.id = %event.id,
                event.kind = event.kind.as_str(),
                incident.id = %event.incident.id,
                targets = targets.len(),
                "incident event routed"
            );
            let Some(text) = text else { continue };
            rows.extend(targets.into_iter().map(|target| NewDelivery {
                event_id: event.id,
                target: &target.name,
                incident_id: event.incident.id,
                event: text,
                traceparent,
            }));
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let recorded = match self.pool.get().await {
            Ok(mut conn) => notifications::enqueue(&mut conn, &rows).await,
            Err(error) => Err(error.into()),
        };
        for mut span in spans {
            if let Err(error) = &recorded {
                span.set_error(&error.to_string());
            }
            span.end();
        }
        recorded
    }
}

async fn pause(shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.cancelled() => {}
    }
}
