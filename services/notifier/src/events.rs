//! The event loop: one consumer of the events stream per replica, the bus's consumer loop with
//! this module's handler. Each event is routed to its targets and recorded as one delivery per
//! target in PostgreSQL; only then is the stream entry acknowledged. The delivery worker (`crate::deliveries`) sends them. A crash between the two
//! steps redelivers the entry, and the (event id, target) key turns the second recording into a
//! no-op: an event is notified once per target however often it arrives.
//!
//! A `paged` event also becomes one delivery per notification rule of each person it pages, due
//! after the rule's delay (`crate::pages`); an `acknowledged` or `resolved` event cancels the
//! incident's pages still waiting, in the transaction that records its own deliveries.
//!
//! A traced event gets a "route event" span in its trace; the deliveries keep that span's context,
//! and the worker's "deliver <channel>" spans continue it, however much later they run.

use crate::metrics::KindLabel;
use crate::routing::{Routing, Target, TargetKind};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use tocsin_bus::{Consumer, Delivery, Handler, Settled};
use tocsin_domain::{EventKind, IncidentEvent, PageUrgency, Paged};
use tocsin_runtime::traces::{TraceSpan, Tracer};
use tocsin_storage::contacts;
use tocsin_storage::notifications::{self, NewDelivery};
use tocsin_storage::{AsyncConnection, Pool};
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

    /// Records the batch's deliveries in one transaction, and cancels the pages still waiting for
    /// the incidents the batch acknowledges or resolves; returns how many deliveries are new.
    async fn record(
        &self,
        batch: &[Delivery<IncidentEvent>],
        consumer: &Consumer<IncidentEvent>,
    ) -> Result<usize, tocsin_storage::StorageError> {
        let routed: Vec<_> = batch.iter().map(|delivery| self.targets_of(&delivery.envelope.payload)).collect();
        let pages = self.pages_of(batch).await?;
        // The JSON of each event that goes anywhere, for its deliveries; the worker decodes it
        // again when it sends. Events routed nowhere are not encoded at all.
        let texts: Vec<Option<String>> = batch
            .iter()
            .zip(&routed)
            .enumerate()
            .map(|(index, (delivery, targets))| {
                let paged = pages.iter().any(|page| page.event == index);
                (!targets.is_empty() || paged)
                    .then(|| serde_json::to_string(&delivery.envelope.payload).unwrap_or_default())
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
            rows.extend(pages.iter().filter(|page| page.event == index).map(|page| NewDelivery {
                event_id: event.id,
                target: &page.target,
                incident_id: event.incident.id,
                event: text,
                traceparent,
                contact_method_id: Some(page.contact_method_id),
                next_attempt_at: Some(page.due_at),
            }));
        }
        // Acknowledging or resolving cancels every page still to come (oncall-models.md, trap 6).
        let mut ended: Vec<(uuid::Uuid, &'static str)> = Vec::new();
        for delivery in batch {
            let event = &delivery.envelope.payload;
            let reason = match event.kind {
                EventKind::Acknowledged => "the incident was acknowledged",
                EventKind::Resolved => "the incident was resolved",
                _ => continue,
            };
            if !ended.iter().any(|(incident, _)| *incident == event.incident.id) {
                ended.push((event.incident.id, reason));
            }
        }
        if rows.is_empty() && ended.is_empty() {
            return Ok(0);
        }
        let recorded = match self.pool.get().await {
            Ok(mut conn) => {
                conn.transaction(async |conn| {
                    let recorded = notifications::enqueue(conn, &rows).await?;
                    for (incident, reason) in &ended {
                        let cancelled = notifications::cancel_pages(conn, *incident, reason).await?;
                        if cancelled > 0 {
                            tracing::info!(incident.id = %incident, pages = cancelled, %reason, "pages cancelled");
                        }
                    }
                    Ok::<_, tocsin_storage::StorageError>(recorded)
                })
                .await
            }
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

    /// Where an event goes on the routing's targets. A `paged` event goes to the targets its step
    /// named, and to where the routing sends the incident's `opened` event (its team's channels):
    /// all of them when it paged nobody, so nobody on call is always heard; otherwise the Slack
    /// app's, whose incident message then names who is being paged and whose thread gets the step
    /// (e-mail, Teams and webhooks would each be one more message per step).
    ///
    /// An event of an incident a maintenance window holds goes nowhere: incident-core marks it,
    /// and sends `maintenance_ended` when the hold ends on an incident still active, which goes
    /// where its `opened` would have gone, since to its channels it is new (docs/noise.md).
    fn targets_of(&self, event: &IncidentEvent) -> Vec<&Target> {
        if let Some(hold) = &event.maintenance {
            tracing::debug!(
                incident.id = %event.incident.id,
                event.kind = event.kind.as_str(),
                maintenance.window_id = %hold.window_id,
                "the incident is in maintenance; the event is not sent"
            );
            return Vec::new();
        }
        if event.kind == EventKind::MaintenanceEnded {
            return self.routing.targets_for(&IncidentEvent { kind: EventKind::Opened, ..event.clone() });
        }
        if event.kind != EventKind::Paged {
            return self.routing.targets_for(event);
        }
        let Some(paged) = paged_detail(event) else { return Vec::new() };
        let mut chosen: Vec<&Target> = Vec::new();
        for name in &paged.channels {
            match self.routing.target(name) {
                Some(target) if !chosen.iter().any(|known| known.name == target.name) => chosen.push(target),
                Some(_) => {}
                None => tracing::warn!(
                    incident.id = %event.incident.id,
                    target = %name,
                    "an escalation step names a target the routing file does not have; it is not sent there"
                ),
            }
        }
        let as_opened = IncidentEvent { kind: EventKind::Opened, ..event.clone() };
        for target in self.routing.targets_for(&as_opened) {
            let heard = paged.users.is_empty() || matches!(target.kind, TargetKind::Slack { .. });
            if heard && !chosen.iter().any(|known| known.name == target.name) {
                chosen.push(target);
            }
        }
        chosen
    }

    /// The pages the batch's `paged` events owe: one per paged person's notification rule of the
    /// page's urgency, due at the event's time plus the rule's delay. Counting from the event's
    /// time, not from now, keeps a page that waited in the stream (a notifier restart) on time.
    async fn pages_of(&self, batch: &[Delivery<IncidentEvent>]) -> Result<Vec<Page>, tocsin_storage::StorageError> {
        let paged: Vec<(usize, &IncidentEvent, Paged)> = batch
            .iter()
            .enumerate()
            .filter_map(|(index, delivery)| {
                let event = &delivery.envelope.payload;
                (event.kind == EventKind::Paged)
                    .then(|| paged_detail(event).map(|paged| (index, event, paged)))
                    .flatten()
            })
            .filter(|(_, _, paged)| !paged.users.is_empty())
            .collect();
        if paged.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await?;
        let mut pages = Vec::new();
        for urgency in [PageUrgency::High, PageUrgency::Low] {
            let users: Vec<uuid::Uuid> = paged
                .iter()
                .filter(|(_, _, page)| page.urgency == urgency)
                .flat_map(|(_, _, page)| page.users.iter().map(|user| user.id))
                .collect();
            if users.is_empty() {
                continue;
            }
            let rules = contacts::page_rules(&mut conn, &users, urgency).await?;
            for (index, event, page) in paged.iter().filter(|(_, _, page)| page.urgency == urgency) {
                for user in &page.users {
                    let theirs: Vec<_> = rules.iter().filter(|rule| rule.user_id == user.id).collect();
                    if theirs.is_empty() {
                        tracing::warn!(incident.id = %event.incident.id, user.id = %user.id, urgency = contacts::urgency_name(urgency), "a person was paged who has no notification rule of this urgency; only the step's channels hear of it");
                    }
                    pages.extend(theirs.into_iter().map(|rule| Page {
                        event: *index,
                        target: notifications::page_target(rule.rule_id),
                        contact_method_id: rule.contact_method_id,
                        due_at: event.at + time::Duration::minutes(i64::from(rule.delay_minutes)),
                    }));
                }
            }
        }
        Ok(pages)
    }
}

/// A page owed to one person through one rule.
struct Page {
    /// The index of its `paged` event in the batch.
    event: usize,
    target: String,
    contact_method_id: uuid::Uuid,
    due_at: time::OffsetDateTime,
}

/// A `paged` event's detail; `None` (and a warning) when it does not decode.
fn paged_detail(event: &IncidentEvent) -> Option<Paged> {
    match serde_json::from_value::<Paged>(event.detail.clone()) {
        Ok(paged) => Some(paged),
        Err(error) => {
            tracing::warn!(event.id = %event.id, %error, "a paged event whose detail does not decode is not delivered");
            None
        }
    }
}
