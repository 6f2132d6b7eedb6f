//! The event loop: one consumer of the events stream per replica.

use crate::KindLabel;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::time::Duration;
use tocsin_bus::Consumer;
use tocsin_domain::IncidentEvent;
use tokio_util::sync::CancellationToken;

pub async fn run(
    consumer: Consumer<IncidentEvent>,
    events_seen: Family<KindLabel, Counter>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        if let Err(error) = consumer.ensure_group().await {
            tracing::warn!(%error, "cannot create the events consumer group yet");
            pause(&shutdown).await;
            continue;
        }
        break;
    }
    while !shutdown.is_cancelled() {
        let batch = match consumer.next_batch().await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "cannot read the events stream");
                pause(&shutdown).await;
                continue;
            }
        };
        let mut handled = Vec::with_capacity(batch.len());
        for delivery in batch {
            let event = &delivery.envelope.payload;
            events_seen.get_or_create(&KindLabel { kind: event.kind.as_str() }).inc();
            tracing::info!(
                event.id = %event.id,
                event.kind = event.kind.as_str(),
                incident.id = %event.incident.id,
                incident.status = event.incident.status.as_str(),
                incident.severity = event.incident.severity.as_str(),
                incident.service = %event.incident.service,
                incident.title = %event.incident.title,
                actor = %event.actor,
                "incident event"
            );
            handled.push(delivery.entry_id);
        }
        if let Err(error) = consumer.ack(&handled).await {
            tracing::warn!(%error, "cannot acknowledge events; they will be seen again");
        }
    }
    tracing::info!(consumer = consumer.name(), "event loop stopped");
}

async fn pause(shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.cancelled() => {}
    }
}
