//! Traces: OpenTelemetry spans exported over OTLP/HTTP, and the W3C trace context that carries one
//! trace from service to service inside the stream envelopes (`traceparent`).
//!
//! Off unless an endpoint is configured. Off means [`Tracer::off`]: no exporter, no thread, and every
//! span it hands out is an empty value that records, allocates and formats nothing, so the per-alert
//! paths cost a branch.
//!
//! Each service's `Application` owns its [`Tracer`] (built from its config, never a process-wide
//! global): services started side by side in one test process keep their own `service.name`, and a
//! service that stops flushes its own spans.
//!
//! The standard variables, read from the service's [`Env`]:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset: no traces | the collector's OTLP/HTTP base URL; spans go to `<url>/v1/traces` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | unset | the full traces URL, used as it is (wins over the base URL) |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `http/protobuf` | or `http/json`; `grpc` is not supported |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | none | `key=value,…` (values URL-encoded) sent with every export, e.g. an API key |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | `10000` | milliseconds one export may take |
//! | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | none | `gzip` |
//! | `OTEL_SERVICE_NAME` | `tocsin-<service>` | the resource's `service.name` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | none | `key=value,…` added to the resource (e.g. `deployment.environment.name=prod`) |
//! | `OTEL_TRACES_SAMPLER` | `parentbased_always_on` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` |
//! | `OTEL_TRACES_SAMPLER_ARG` | `1.0` | the ratio of the `…traceidratio` samplers, 0 to 1 |
//! | `OTEL_BSP_SCHEDULE_DELAY` | `5000` | milliseconds between two exports of the batch span processor |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | `2048` | spans held for export; beyond it new spans are dropped |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `512` | spans in one export request |
//! | `OTEL_TRACES_EXPORTER` | `otlp` | `none` turns traces off whatever the endpoint |
//! | `OTEL_SDK_DISABLED` | `false` | `true` turns traces off whatever the endpoint |
//!
//! Signal-specific variables (`…_TRACES_…`) win over the general ones. A malformed value stops
//! start-up with a message naming it, like every other variable.

use crate::config::{ConfigError, Env, Secret};
use actix_web::HttpMessage;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use opentelemetry::trace::SpanKind;

/// The header, and the envelope field, holding the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Where and how to export spans, from the `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSettings {
    /// The traces URL itself, e.g. `http://otel-collector:4318/v1/traces`.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Sent with every export; values may be credentials.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    pub gzip: bool,
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `service.name` excluded.
    pub resource_attributes: Vec<(String, String)>,
    pub sampler: SamplerSetting,
    pub schedule_delay: Duration,
    pub max_queue_size: usize,
    pub max_export_batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    HttpJson,
}

/// `OTEL_TRACES_SAMPLER` and its argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl SamplerSetting {
    fn to_sampler(self) -> Sampler {
        let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
        match self {
            SamplerSetting::AlwaysOn => Sampler::AlwaysOn,
            SamplerSetting::AlwaysOff => Sampler::AlwaysOff,
            SamplerSetting::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
            SamplerSetting::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
            SamplerSetting::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
            SamplerSetting::ParentBasedTraceIdRatio(ratio) => parent_based(Sampler::TraceIdRatioBased(ratio)),
        }
    }
}

impl OtelSettings {
    /// The settings of `service` (`ingest`, `incident-core`…), or `None` when traces are off: no
    /// endpoint, `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`.
    pub fn from_env(env: &Env, service: &str) -> Result<Option<OtelSettings>, ConfigError> {
        if env.bool_or("OTEL_SDK_DISABLED", false)? {
            return Ok(None);
        }
        if let Some(exporters) = env.get("OTEL_TRACES_EXPORTER") {
            let names: Vec<String> = exporters.split(',').map(|name| name.trim().to_ascii_lowercase()).collect();
            if names.iter().any(|name| name == "none") {
                return Ok(None);
            }
            if let Some(other) = names.iter().find(|name| name.as_str() != "otlp") {
                return Err(invalid(
                    "OTEL_TRACES_EXPORTER",
                    &exporters,
                    format!("`{other}` is not supported: use otlp or none"),
                ));
            }
        }
        let endpoint = match (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env.get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(url), _) => checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url.trim())?.to_owned(),
            (None, Some(base)) => {
                let base = checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", base.trim())?;
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (None, None) => return Ok(None),
        };
        let (name, value) = signal_or_general(env, "PROTOCOL");
        let protocol = match value.as_deref().map(str::trim) {
            None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some("http/json") => OtlpProtocol::HttpJson,
            Some(other) => {
                return Err(invalid(
                    name,
                    other,
                    "expected http/protobuf or http/json; tocsin exports over OTLP/HTTP (the collector's port 4318), not gRPC"
                        .into(),
                ));
            }
        };
        let mut headers: Vec<(String, Secret)> = Vec::new();
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            let Some(list) = env.get(name) else { continue };
            // Header values are often credentials: the error never repeats them.
            let pairs = key_values(&list).map_err(|reason| invalid(name, "<hidden>", reason))?;
            for (key, value) in pairs {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&key));
                headers.push((key, Secret::new(value)));
            }
        }
        let (name, value) = signal_or_general(env, "TIMEOUT");
        let timeout = match value {
            None => Duration::from_secs(10),
            Some(ms) => Duration::from_millis(
                ms.trim().parse().map_err(|_| invalid(name, &ms, "expected a number of milliseconds".into()))?,
            ),
        };
        let (name, value) = signal_or_general(env, "COMPRESSION");
        let gzip = match value.as_deref().map(|value| value.trim().to_ascii_lowercase()) {
            None => false,
            Some(value) if value == "none" => false,
            Some(value) if value == "gzip" => true,
            Some(other) => return Err(invalid(name, &other, "expected gzip or none".into())),
        };
        let mut resource_attributes = match env.get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(list) => key_values(&list).map_err(|reason| invalid("OTEL_RESOURCE_ATTRIBUTES", &list, reason))?,
        };
        let named_in_attributes =
            resource_attributes.iter().find(|(key, _)| key == "service.name").map(|(_, v)| v.clone());
        resource_attributes.retain(|(key, _)| key != "service.name");
        let service_name = env
            .get("OTEL_SERVICE_NAME")
            .map(|name| name.trim().to_owned())
            .or(named_in_attributes)
            .unwrap_or_else(|| format!("tocsin-{service}"));
        Ok(Some(OtelSettings {
            endpoint,
            protocol,
            headers,
            timeout,
            gzip,
            service_name,
            resource_attributes,
            sampler: sampler(env)?,
            schedule_delay: Duration::from_millis(env.parse_or("OTEL_BSP_SCHEDULE_DELAY", 5_000u64)?),
            max_queue_size: env.parse_or("OTEL_BSP_MAX_QUEUE_SIZE", 2_048usize)?,
            max_export_batch_size: env.parse_or("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512usize)?,
        }))
    }
}

fn invalid(name: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { name: name.into(), value: value.into(), reason }
}

/// `OTEL_EXPORTER_OTLP_TRACES_<what>` if set, else `OTEL_EXPORTER_OTLP_<what>`, with the name read.
fn signal_or_general(env: &Env, what: &str) -> (&'static str, Option<String>) {
    let (signal, general): (&'static str, &'static str) = match what {
        "PROTOCOL" => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        "TIMEOUT" => ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        _ => ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
    };
    match env.get(signal) {
        Some(value) => (signal, Some(value)),
        None => (general, env.get(general)),
    }
}

fn checked_url<'a>(name: &str, url: &'a str) -> Result<&'a str, ConfigError> {
    let has_host = |rest: &str| !rest.is_empty() && !rest.starts_with('/');
    match url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        Some(rest) if has_host(rest) => Ok(url),
        _ => Err(invalid(name, url, "expected an http:// or https:// URL, e.g. http://otel-collector:4318".into())),
    }
}

fn sampler(env: &Env) -> Result<SamplerSetting, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match env.get("OTEL_TRACES_SAMPLER_ARG") {
            None => Ok(1.0),
            Some(arg) => match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
                _ => Err(invalid("OTEL_TRACES_SAMPLER_ARG", &arg, "expected a ratio from 0 to 1, e.g. 0.1".into())),
            },
        }
    };
    let Some(name) = env.get("OTEL_TRACES_SAMPLER") else { return Ok(SamplerSetting::ParentBasedAlwaysOn) };
    Ok(match name.trim() {
        "always_on" => SamplerSetting::AlwaysOn,
        "always_off" => SamplerSetting::AlwaysOff,
        "traceidratio" => SamplerSetting::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerSetting::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerSetting::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerSetting::ParentBasedTraceIdRatio(ratio()?),
        other => {
            return Err(invalid(
                "OTEL_TRACES_SAMPLER",
                other,
                "expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or \
                 parentbased_traceidratio"
                    .into(),
            ));
        }
    })
}

/// `key=value,key=value` as the OTel specification writes headers and resource attributes:
/// surrounding spaces trimmed, values percent-decoded.
fn key_values(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| format!("`{}…` is not key=value", first_chars(item)))?;
        let key = key.trim();
        if key.is_empty() {
            return Err("a key is empty".into());
        }
        let value = percent_decode(value.trim()).ok_or_else(|| format!("the value of `{key}` is not URL-encoded"))?;
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

/// Enough of a malformed entry to find it, not enough to leak a credential in it.
fn first_chars(item: &str) -> String {
    item.chars().take(4).collect()
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TracesError(String);

/// The service's tracer: hands out spans and exports them, or, when off, hands out empty spans.
#[derive(Clone, Default)]
pub struct Tracer {
    installed: Option<Arc<Installed>>,
}

struct Installed {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() { "Tracer(on)" } else { "Tracer(off)" })
    }
}

/// Batch spans link to at most this many messages: the largest alert batch incident-core takes.
const MAX_LINKS: u32 = 2_000;

impl Tracer {
    /// Records nothing, exports nothing, costs nothing.
    pub fn off() -> Tracer {
        Tracer { installed: None }
    }

    /// A tracer exporting as `settings` say (a batch span processor on a thread of its own), or
    /// [`Tracer::off`] for `None`.
    pub fn install(settings: Option<&OtelSettings>) -> Result<Tracer, TracesError> {
        let Some(settings) = settings else { return Ok(Tracer::off()) };
        let headers: HashMap<String, String> =
            settings.headers.iter().map(|(key, value)| (key.clone(), value.expose().to_owned())).collect();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(settings.endpoint.clone())
            .with_protocol(match settings.protocol {
                OtlpProtocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
                OtlpProtocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
            })
            .with_timeout(settings.timeout)
            .with_headers(headers);
        if settings.gzip {
            exporter = exporter.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        let exporter = exporter.build().map_err(|error| TracesError(error.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(settings.schedule_delay)
            .with_max_queue_size(settings.max_queue_size)
            .with_max_export_batch_size(settings.max_export_batch_size)
            .build();
        let mut attributes: Vec<KeyValue> = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
        attributes.extend(settings.resource_attributes.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())));
        // Not `Resource::builder()`: it reads the process environment, which a test cannot set per
        // service. Everything here comes from the service's own `Env`.
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_detector(Box::new(opentelemetry_sdk::resource::TelemetryResourceDetector))
            .with_attributes(attributes)
            .with_service_name(settings.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batch).build())
            .with_sampler(settings.sampler.to_sampler())
            .with_max_links_per_span(MAX_LINKS)
            .with_resource(resource)
            .build();
        let tracer = provider
            .tracer_with_scope(InstrumentationScope::builder("tocsin").with_version(env!("CARGO_PKG_VERSION")).build());
        tracing::info!(
            endpoint = %settings.endpoint,
            protocol = ?settings.protocol,
            service.name = %settings.service_name,
            sampler = ?settings.sampler,
            "exporting traces over OTLP/HTTP"
        );
        Ok(Tracer { installed: Some(Arc::new(Installed { provider, tracer })) })
    }

    pub fn is_on(&self) -> bool {
        self.installed.is_some()
    }

    /// A span at an edge of the system (an HTTP request): the child of `parent` when the caller
    /// sent a trace context, else the root of a new trace, which the sampler decides on.
    pub fn start(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: Option<&TraceContext>,
    ) -> TraceSpan {
        let Some(installed) = &self.installed else { return TraceSpan::none() };
        let parent = match parent {
            Some(parent) => Context::new().with_remote_span_context(parent.0.clone()),
            None => Context::new(),
        };
        let span = installed.tracer.span_builder(name).with_kind(kind).start_with_context(&installed.tracer, &parent);
        TraceSpan::recording(span)
    }

    /// A span continuing the trace of `parent`, or nothing when there is none: work that arrives
    /// without a trace context (tracing off upstream, or a trace the edge did not sample) starts no
    /// trace here, so the sampling decision made at the edge holds all the way through.
    pub fn follow(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: Option<&TraceContext>,
    ) -> TraceSpan {
        match parent {
            Some(parent) if self.is_on() => self.start(name, kind, Some(parent)),
            _ => TraceSpan::none(),
        }
    }

    /// Exports what is waiting. Blocks on the exporter, so it runs off the async workers.
    pub async fn force_flush(&self) {
        let Some(installed) = self.installed.clone() else { return };
        match tokio::task::spawn_blocking(move || installed.provider.force_flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot flush the spans"),
            Err(error) => tracing::warn!(%error, "flushing the spans failed"),
        }
    }

    /// Exports what is waiting and stops the exporter; spans started afterwards are dropped.
    pub async fn shutdown(&self) {
        let Some(installed) = self.installed.clone() else { return };
        match tokio::task::spawn_blocking(move || installed.provider.shutdown()).await {
            Ok(Ok(())) => tracing::debug!("span exporter stopped"),
            Ok(Err(error)) => tracing::warn!(%error, "cannot export the last spans"),
            Err(error) => tracing::warn!(%error, "stopping the span exporter failed"),
        }
    }
}

/// A span, or nothing (tracing off, or not sampled). Ends when dropped, or with [`TraceSpan::end`].
#[derive(Debug, Default)]
pub struct TraceSpan {
    span: Option<opentelemetry_sdk::trace::Span>,
}

impl TraceSpan {
    pub fn none() -> TraceSpan {
        TraceSpan { span: None }
    }

    fn recording(span: opentelemetry_sdk::trace::Span) -> TraceSpan {
        // A span the sampler dropped records nothing; keep nothing of it either.
        TraceSpan { span: Some(span).filter(|span| span.is_recording() && span.span_context().is_sampled()) }
    }

    pub fn is_recording(&self) -> bool {
        self.span.is_some()
    }

    /// The span as a parent, for children and for links.
    pub fn context(&self) -> Option<TraceContext> {
        self.span.as_ref().map(|span| TraceContext(span.span_context().clone()))
    }

    /// The W3C `traceparent` of this span, to hand on in a message; `None` when not recording.
    pub fn traceparent(&self) -> Option<String> {
        self.context().map(|context| context.traceparent())
    }

    pub fn set_str(&mut self, key: &'static str, value: &str) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new(key, value.to_owned()));
        }
    }

    pub fn set_i64(&mut self, key: &'static str, value: i64) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed, with a message (which must hold nothing secret).
    pub fn set_error(&mut self, message: &str) {
        if let Some(span) = &mut self.span {
            span.set_status(Status::error(message.to_owned()));
        }
    }

    /// Links the span to another trace's span: a batch to the messages it handles, a message's span
    /// to the batch it was handled in.
    pub fn link(&mut self, to: &TraceContext) {
        if let Some(span) = &mut self.span {
            span.add_link(to.0.clone(), Vec::new());
        }
    }

    pub fn end(mut self) {
        if let Some(span) = &mut self.span {
            span.end();
        }
    }
}

/// A span's identity as a parent: read from a `traceparent`, or taken from a local span.
#[derive(Debug, Clone)]
pub struct TraceContext(SpanContext);

/// The same span, whether read from a message (remote) or held here (local).
impl PartialEq for TraceContext {
    fn eq(&self, other: &TraceContext) -> bool {
        (self.0.trace_id(), self.0.span_id(), self.0.trace_flags())
            == (other.0.trace_id(), other.0.span_id(), other.0.trace_flags())
    }
}

impl TraceContext {
    /// Reads a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`); `None` when it is not one.
    pub fn from_traceparent(traceparent: &str) -> Option<TraceContext> {
        let context = TraceContextPropagator::new().extract(&OneField(Some(traceparent.to_owned())));
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then_some(TraceContext(span_context))
    }

    pub fn traceparent(&self) -> String {
        let mut carrier = OneField(None);
        TraceContextPropagator::new()
            .inject_context(&Context::new().with_remote_span_context(self.0.clone()), &mut carrier);
        carrier.0.unwrap_or_default()
    }

    /// The trace id in hex, for log lines.
    pub fn trace_id(&self) -> String {
        self.0.trace_id().to_string()
    }

    /// The span id in hex.
    pub fn span_id(&self) -> String {
        self.0.span_id().to_string()
    }

    pub fn is_sampled(&self) -> bool {
        self.0.is_sampled()
    }
}

/// A carrier with only `traceparent`: the envelope has no room for `tracestate`, and tocsin puts
/// nothing there.
struct OneField(Option<String>);

impl Extractor for OneField {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0.as_deref()).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

impl Injector for OneField {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

/// The server span of a request, put in its extensions by the HTTP server when tracing is on.
#[derive(Debug, Clone)]
pub(crate) struct RequestTrace(pub TraceContext);

/// The server span of `request`, to parent what the handler does (messages it publishes); `None`
/// when tracing is off or the request is not sampled.
pub fn request_context(request: &actix_web::HttpRequest) -> Option<TraceContext> {
    request.extensions().get::<RequestTrace>().map(|trace| trace.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<OtelSettings>, ConfigError> {
        OtelSettings::from_env(&Env::from_pairs(pairs.iter().copied()), "ingest")
    }

    #[test]
    fn traces_are_off_without_an_endpoint_or_when_switched_off() {
        assert_eq!(settings(&[]).ok(), Some(None));
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x"), ("OTEL_TRACES_SAMPLER", "always_on")]).ok(), Some(None));
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(settings(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).ok(), Some(None));
        assert_eq!(settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).ok(), Some(None));
        assert!(settings(&[endpoint]).ok().flatten().is_some());
    }

    #[test]
    fn the_standard_variables_are_read_as_the_specification_says() {
        let parsed = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc%3D%3D, x-tenant = ops"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=oncall"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,service.name=ignored,team=sre%20core"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ])
        .expect("settings")
        .expect("traces are off");
        assert_eq!(parsed.endpoint, "https://collector.example:4318/v1/traces");
        assert_eq!(parsed.protocol, OtlpProtocol::HttpJson);
        let headers: Vec<(&str, &str)> = parsed.headers.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(headers, [("x-api-key", "abc=="), ("X-Tenant", "oncall")]);
        assert_eq!(parsed.timeout, Duration::from_millis(2500));
        // OTEL_SERVICE_NAME unset: service.name from the attributes wins over the default.
        assert_eq!(parsed.service_name, "ignored");
        assert_eq!(
            parsed.resource_attributes,
            [("deployment.environment.name".to_owned(), "prod".to_owned()), ("team".to_owned(), "sre core".to_owned())]
        );
        assert_eq!(parsed.sampler, SamplerSetting::ParentBasedTraceIdRatio(0.25));
        assert_eq!(parsed.schedule_delay, Duration::from_millis(100));

        let plain = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom/path"),
        ])
        .ok()
        .flatten()
        .expect("traces are off");
        assert_eq!(plain.endpoint, "http://collector:4318/custom/path");
        assert_eq!(plain.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(plain.service_name, "tocsin-ingest");
        assert_eq!(plain.sampler, SamplerSetting::ParentBasedAlwaysOn);
    }

    #[test]
    fn malformed_values_name_the_variable_and_hide_header_values() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        let error = |pairs: &[(&str, &str)]| settings(pairs).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).starts_with("OTEL_EXPORTER_OTLP_PROTOCOL=")
        );
        assert!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).starts_with("OTEL_EXPORTER_OTLP_ENDPOINT=")
        );
        assert!(error(&[endpoint, ("OTEL_TRACES_SAMPLER", "sometimes")]).starts_with("OTEL_TRACES_SAMPLER="));
        assert!(
            error(&[endpoint, ("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "10")])
                .starts_with("OTEL_TRACES_SAMPLER_ARG=")
        );
        let headers = error(&[endpoint, ("OTEL_EXPORTER_OTLP_HEADERS", "authorization Bearer-s3cr3t")]);
        assert!(headers.starts_with("OTEL_EXPORTER_OTLP_HEADERS="), "{headers}");
        assert!(!headers.contains("s3cr3t"), "{headers}");
    }

    #[test]
    fn an_off_tracer_hands_out_spans_that_carry_nothing() {
        let tracer = Tracer::install(None).expect("Tracer::install");
        assert!(!tracer.is_on());
        let parent = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let span = tracer.start("POST /alerts", SpanKind::Server, parent.as_ref());
        assert!(!span.is_recording());
        assert_eq!(span.traceparent(), None);
        assert!(!tracer.follow("apply alert", SpanKind::Consumer, parent.as_ref()).is_recording());
    }

    #[test]
    fn traceparents_round_trip_and_garbage_is_refused() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::from_traceparent(text).expect("not read");
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id(), "00f067aa0ba902b7");
        assert!(context.is_sampled());
        assert_eq!(context.traceparent(), text);
        for garbage in ["", "00-0000-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"] {
            assert_eq!(TraceContext::from_traceparent(garbage), None, "{garbage}");
        }
    }
}
