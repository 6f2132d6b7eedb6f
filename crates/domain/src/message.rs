//! The payloads carried on the streams, each with its type name and schema version, which the bus
//! writes into every envelope so a consumer can refuse what it does not understand.

use crate::alert::ObservedAlert;
use crate::command::Command;
use crate::event::IncidentEvent;
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;
use time::OffsetDateTime;

pub trait Message: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const SCHEMA_VERSION: u32;
}

/// One alert out of an Alertmanager webhook, as ingest accepted it.
///
/// The webhook's group context (`receiver`, `groupKey`, `externalURL`) is held once per webhook
/// and shared by its alerts: a webhook of 1,000 alerts with an 8 KB `groupKey` costs ingest 8 KB
/// of it, not 8 MB. Each stream entry still spells it out (an entry is one alert, read alone),
/// which `INGEST_MAX_CONTEXT_BYTES`, `INGEST_MAX_ALERT_BYTES` and `INGEST_MAX_WEBHOOK_STREAM_BYTES` bound.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertReceived {
    pub alert: ObservedAlert,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub receiver: Arc<str>,
    pub group_key: Arc<str>,
    pub external_url: Arc<str>,
}

impl AlertReceived {
    /// One report per alert of a validated webhook, as ingest puts them on the stream. Takes the
    /// webhook apart rather than copying it: ingest does this for every alert it accepts.
    pub fn from_webhook(payload: crate::webhook::WebhookPayload, received_at: OffsetDateTime) -> Vec<AlertReceived> {
        let crate::webhook::WebhookPayload { alerts, receiver, group_key, external_url, .. } = payload;
        let (receiver, group_key, external_url): (Arc<str>, Arc<str>, Arc<str>) =
            (receiver.into(), group_key.into(), external_url.into());
        alerts
            .into_iter()
            .map(|alert| AlertReceived {
                alert: ObservedAlert {
                    ends_at: alert.ends_at(),
                    fingerprint: alert.fingerprint,
                    starts_at: alert.starts_at,
                    state: alert.status,
                    labels: alert.labels,
                    annotations: alert.annotations,
                    generator_url: alert.generator_url,
                },
                received_at,
                receiver: Arc::clone(&receiver),
                group_key: Arc::clone(&group_key),
                external_url: Arc::clone(&external_url),
            })
            .collect()
    }
}

impl Message for AlertReceived {
    const TYPE: &'static str = "alert.received";
    const SCHEMA_VERSION: u32 = 1;
}

impl Message for Command {
    const TYPE: &'static str = "incident.command";
    const SCHEMA_VERSION: u32 = 1;
}

impl Message for IncidentEvent {
    const TYPE: &'static str = "incident.event";
    const SCHEMA_VERSION: u32 = 1;
}
