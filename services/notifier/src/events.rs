//! The event loop: one consumer of the events stream per replica, the bus's consumer loop with
//! this module's handler. Each event is routed to its targets and recorded as one delivery per
//! target in PostgreSQL; only then is the stream entry acknowledged. The delivery worker (`crate::deliveries`) sends them. A crash between the two
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
use tocsin_bus::{Consumer, Delivery, Handler, Settled};
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
    /// Reads events and records their deliveries until shutdown: the bus's consumer loop
    /// (`tocsin_bus::Consumer::run`) with [`RecordDeliveries`].
    pub async fn run(self, shutdown: CancellationToken) {
        let EventLoop { consumer, pool, routing, events_seen, wake, tracer } = self;
        consumer.run(RecordDeliveries { pool, routing, events_seen, wake, tracer }, shutdown).await;
    }
}

/// The handler of the events stream.
struct RecordDeliveries {
    pool: Pool,
    routing: Arc<Routing>,
    events_seen: Family<KindLabel, Counter>,
    wake: Arc<Notify>,
    tracer: Tracer,
}

impl Handler<IncidentEvent> for RecordDeliveries {
    /// Records the batch's deliveries, and has the loop acknowledge the events once they are in
    /// PostgreSQL. While the database is away the events are held and retried after a backoff. A
    /// batch that fails otherwise is recorded again one event at a time: the events that fail on
    /// their own are left pending, to come back after the visibility timeout and, after
    /// `MAX_DELIVERIES`, land in the dead-letter stream.
    async fn handle(
        &mut self,
        batch: Vec<Delivery<IncidentEvent>>,
        consumer: &Consumer<IncidentEvent>,
    ) -> Settled<IncidentEvent> {
        let mut settled = Settled::default();
        match self.record(&batch, consumer).await {
            Ok(recorded) => {
                self.recorded(&batch, recorded);
                settled.ack_all(&batch);
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, events = batch.len(), "cannot record deliveries; holding the events");
                settled.retry_all(batch);
            }
            Err(error) => {
                tracing::warn!(%error, "a batch of deliveries failed; recording its events one by one to isolate the cause");
                for delivery in batch {
                    let alone = std::slice::from_ref(&delivery);
                    match self.record(alone, consumer).await {
                        Ok(recorded) => {
                            self.recorded(alone, recorded);
                            settled.ack(delivery.entry_id);
                        }
                        Err(error) if error.is_transient() => settled.retry(delivery),
                        Err(error) => tracing::error!(
                            %error,
                            entry.id = %delivery.entry_id,
                            event.id = %delivery.envelope.payload.id,
                            "cannot record the deliveries of an event, leaving it for redelivery"
                        ),
                    }
                }
            }
        }
        settled
    }
}

impl RecordDeliveries {
    /// Counts the events of a recorded batch, and wakes the worker if it has new deliveries.
    fn recorded(&self, batch: &[Delivery<IncidentEvent>], deliveries: usize) {
        for delivery in batch {
            self.events_seen.get_or_create(&KindLabel { kind: delivery.envelope.payload.kind.as_str() }).inc();
        }
        if deliveries > 0 {
            self.wake.notify_one();
        }
    }

    /// Records the batch's deliveries in one statement; returns how many are new.
    async fn record(
        &self,
        batch: &[Delivery<IncidentEvent>],
        consumer: &Consumer<IncidentEvent>,
    ) -> Result<usize, tocsin_storage::StorageError> {
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
                let span = consumer.span(&self.tracer, "route event", delivery);
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
                contact_method_id: None,
                next_attempt_at: None,
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
