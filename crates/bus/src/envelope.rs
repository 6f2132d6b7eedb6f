use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tocsin_domain::Message;
use uuid::Uuid;

/// The one field of every stream entry.
pub(crate) const FIELD: &str = "envelope";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Unique per message; consumers dedupe by it.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub schema: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// W3C trace context of the span that produced the message.
    pub traceparent: Option<String>,
    pub payload: T,
}

impl<T: Message> Envelope<T> {
    pub fn new(payload: T) -> Envelope<T> {
        Envelope {
            id: Uuid::now_v7(),
            kind: T::TYPE.to_owned(),
            schema: T::SCHEMA_VERSION,
            time: OffsetDateTime::now_utc(),
            traceparent: None,
            payload,
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Envelope<T> {
        self.id = id;
        self
    }
}

/// Why an entry cannot be handed to its consumer; such entries go to the dead-letter stream at once.
pub(crate) fn decode<T: Message>(raw: &str) -> Result<Envelope<T>, String> {
    let envelope: Envelope<serde_json::Value> =
        serde_json::from_str(raw).map_err(|error| format!("not an envelope: {error}"))?;
    if envelope.kind != T::TYPE {
        return Err(format!("type `{}` where `{}` was expected", envelope.kind, T::TYPE));
    }
    if envelope.schema > T::SCHEMA_VERSION {
        return Err(format!(
            "schema version {} of `{}` is newer than this release reads ({})",
            envelope.schema,
            T::TYPE,
            T::SCHEMA_VERSION
        ));
    }
    let payload = serde_json::from_value(envelope.payload).map_err(|error| format!("bad payload: {error}"))?;
    Ok(Envelope {
        id: envelope.id,
        kind: envelope.kind,
        schema: envelope.schema,
        time: envelope.time,
        traceparent: envelope.traceparent,
        payload,
    })
}
