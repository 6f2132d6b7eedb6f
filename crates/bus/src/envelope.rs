use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tocsin_domain::Message;
use tocsin_runtime::traces::TraceContext;
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
    /// W3C trace context of the span that produced the message; `null` when that span was not
    /// recorded (traces off, or not sampled), and then the consumer starts no span for it.
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

impl<T> Envelope<T> {
    /// The producer's context, to parent the consumer's span; `None` when there is none, or when
    /// the field holds something that is not a `traceparent`.
    pub fn trace_context(&self) -> Option<TraceContext> {
        self.traceparent.as_deref().and_then(TraceContext::from_traceparent)
    }
}

/// Why an entry cannot be handed to its consumer; such entries go to the dead-letter stream at once.
///
/// The envelope is read with its payload left as raw JSON, checked, and only then is the payload
/// decoded into `T`: once, straight from the bytes Redis sent. Going through a `serde_json::Value`
/// first would build a tree of maps and strings for every entry only to throw it away, which on
/// the alerts stream cost more than the rest of reading a batch.
pub(crate) fn decode<T: Message>(raw: &[u8]) -> Result<Envelope<T>, String> {
    let envelope: Envelope<&RawValue> =
        serde_json::from_slice(raw).map_err(|error| format!("not an envelope: {error}"))?;
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
    let payload = serde_json::from_str(envelope.payload.get()).map_err(|error| format!("bad payload: {error}"))?;
    Ok(Envelope {
        id: envelope.id,
        kind: envelope.kind,
        schema: envelope.schema,
        time: envelope.time,
        traceparent: envelope.traceparent,
        payload,
    })
}

/// The envelope's bytes in a stream entry; empty when the entry has no envelope field, which
/// [`decode`] then refuses as "not an envelope".
pub(crate) fn field_of(entry: &redis::streams::StreamId) -> &[u8] {
    match entry.map.get(FIELD) {
        Some(redis::Value::BulkString(bytes)) => bytes,
        Some(redis::Value::SimpleString(text)) => text.as_bytes(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bus, BusSettings, Stream};
    use std::time::Duration;
    use tocsin_runtime::Env;
    use tocsin_runtime::traces::{OtelSettings, SpanKind, TraceSpan, Tracer};
    use tocsin_testkit::FakeApi;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ping {
        n: u32,
    }

    impl Message for Ping {
        const TYPE: &'static str = "test.ping";
        const SCHEMA_VERSION: u32 = 1;
    }

    fn tracer(pairs: &[(&str, &str)]) -> Tracer {
        let settings = OtelSettings::from_env(&Env::from_pairs(pairs.iter().copied()), "bus-test")
            .expect("OtelSettings::from_env");
        Tracer::install(settings.as_ref()).expect("Tracer::install")
    }

    /// A message published by a request's span, as the producers do.
    fn produced(tracer: &Tracer, request: &TraceSpan, n: u32) -> (Envelope<Ping>, TraceSpan) {
        // The pool connects lazily: nothing here talks to Redis.
        let bus = Bus::connect("redis://127.0.0.1:1/", BusSettings::default()).expect("Bus::connect");
        let mut envelope = Envelope::new(Ping { n });
        let span = bus.producer_span(tracer, Stream::Alerts, request.context().as_ref(), &mut envelope);
        (envelope, span)
    }

    fn through_the_stream(envelope: &Envelope<Ping>) -> Envelope<Ping> {
        let text = serde_json::to_string(envelope).expect("serialising");
        decode::<Ping>(text.as_bytes()).expect("decode")
    }

    fn exported(collector: &FakeApi) -> usize {
        collector.requests().iter().filter(|request| request.path == "/v1/traces").count()
    }

    #[tokio::test]
    async fn the_producer_span_travels_in_the_envelope_to_parent_the_consumer_span() {
        let collector = FakeApi::start().await;
        let tracer =
            tracer(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(tracer.is_on());
        let request = tracer.start("POST /pings", SpanKind::Server, None);
        let (sent, producer) = produced(&tracer, &request, 7);
        let traceparent = sent.traceparent.clone().expect("a recorded span fills the traceparent");
        assert!(traceparent.starts_with("00-") && traceparent.ends_with("-01"), "{traceparent}");

        let received = through_the_stream(&sent);
        assert_eq!(received, sent);
        let parent = received.trace_context();
        assert_eq!(parent, producer.context());
        let consumer = tracer.follow("handle ping", SpanKind::Consumer, parent.as_ref());
        let (consumer, producer_context) = (consumer.context(), producer.context());
        let same_trace = consumer.zip(producer_context).map(|(c, p)| c.trace_id() == p.trace_id());
        assert_eq!(same_trace, Some(true), "the consumer's span is in the producer's trace");

        drop((producer, request));
        tracer.shutdown().await;
        assert_eq!(exported(&collector), 1, "shutting down exports what was recorded");
        collector.stop().await;
    }

    #[tokio::test]
    async fn with_traces_off_or_unsampled_nothing_is_filled_or_exported() {
        let collector = FakeApi::start().await;
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str());
        for off in [tracer(&[]), tracer(&[endpoint, ("OTEL_SDK_DISABLED", "true")])] {
            assert!(!off.is_on());
            let request = off.start("POST /pings", SpanKind::Server, None);
            let (envelope, producer) = produced(&off, &request, 1);
            assert!(!request.is_recording() && !producer.is_recording());
            assert_eq!(envelope.traceparent, None);
            let text = serde_json::to_string(&envelope).expect("serialising");
            assert!(text.contains(r#""traceparent":null"#), "{text}");
            assert_eq!(through_the_stream(&envelope).trace_context(), None);
            off.shutdown().await;
        }

        // On, but the sampler keeps nothing: no context goes downstream, so nothing starts there.
        let unsampled = tracer(&[endpoint, ("OTEL_TRACES_SAMPLER", "always_off")]);
        let request = unsampled.start("POST /pings", SpanKind::Server, None);
        let (envelope, producer) = produced(&unsampled, &request, 2);
        assert_eq!(envelope.traceparent, None);
        drop((producer, request));
        unsampled.shutdown().await;

        // A traceparent that is not one is ignored, not an error: the message is still handled.
        let mut odd = Envelope::new(Ping { n: 3 });
        odd.traceparent = Some("not-a-traceparent".into());
        assert_eq!(through_the_stream(&odd).trace_context(), None);

        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(exported(&collector), 0);
        collector.stop().await;
    }
}
