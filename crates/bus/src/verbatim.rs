//! A message's payload kept as the JSON it travelled as, for readers that only pass it on.
//!
//! query's live feed hands every incident event to the dashboard as it is. Decoding each event
//! into an `IncidentEvent` and encoding it again, for every event whether a page is watching or
//! not, cost it as much as the notifier spends on the same events.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::marker::PhantomData;
use tocsin_domain::Message;

/// The JSON of a `T`, checked to be JSON but not decoded. It reads from the streams `T` is
/// published on.
#[derive(Debug, Clone)]
pub struct Verbatim<T> {
    json: Box<RawValue>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Verbatim<T> {
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl<T> PartialEq for Verbatim<T> {
    fn eq(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

impl<T> Serialize for Verbatim<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Verbatim<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Verbatim { json: Box::<RawValue>::deserialize(deserializer)?, kind: PhantomData })
    }
}

impl<T: Message> Message for Verbatim<T> {
    const TYPE: &'static str = T::TYPE;
    const SCHEMA_VERSION: u32 = T::SCHEMA_VERSION;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Envelope, decode};
    use tocsin_domain::AlertReceived;

    #[test]
    fn the_payload_comes_out_as_it_went_in() {
        let payload = r#"{"alert": {"fingerprint": "a1"},  "receiver": "team-x"}"#;
        let entry = format!(
            r#"{{"id":"0190f5a0-0000-7000-8000-000000000001","type":"{}","schema":1,"time":"2026-11-27T06:00:00Z","traceparent":null,"payload":{payload}}}"#,
            AlertReceived::TYPE
        );
        let envelope: Envelope<Verbatim<AlertReceived>> = decode(entry.as_bytes()).expect("decode");
        assert_eq!(envelope.payload.json(), payload, "byte for byte, spacing included");
    }

    #[test]
    fn another_type_of_message_is_still_refused() {
        let entry = r#"{"id":"0190f5a0-0000-7000-8000-000000000001","type":"something.else","schema":1,"time":"2026-11-27T06:00:00Z","traceparent":null,"payload":{}}"#;
        let refused = decode::<Verbatim<AlertReceived>>(entry.as_bytes()).err();
        assert_eq!(
            refused.as_deref(),
            Some(format!("type `something.else` where `{}` was expected", AlertReceived::TYPE).as_str())
        );
    }
}
