//! `POST /alerts`. When the request is traced, each alert gets a producer span of its own in the
//! request's trace, and carries that span's context to incident-core.

use crate::metrics::IngestMetrics;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use time::OffsetDateTime;
use tocsin_bus::{Backlog, Bus, BusError, Durability, Envelope, Stream};
use tocsin_domain::AlertReceived;
use tocsin_domain::webhook::{WebhookLimits, WebhookPayload};
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::traces::{self, Tracer};
use tocsin_runtime::{ApiError, ErrorCode};

pub struct State {
    pub bus: Bus,
    /// Alerts on the stream incident-core has not handled yet, as last read in the background.
    pub backlog: Backlog,
    /// `STREAM_MAX_BACKLOG`: past it, webhooks are turned away with 503.
    pub max_backlog: u64,
    pub metrics: IngestMetrics,
    pub max_body_bytes: usize,
    pub limits: WebhookLimits,
    /// `INGEST_WAIT_REPLICAS`: whether a webhook waits for Redis replicas to hold its alerts.
    pub durability: Durability,
    pub tracer: Tracer,
}

/// The answer to a webhook whose alerts are all on the stream.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Alerts put on the alerts stream: every alert of the webhook.
    accepted: usize,
    /// Alerts Alertmanager left out of the webhook (`max_alerts`), as it reported them.
    truncated_alerts: u64,
}

#[utoipa::path(
    post,
    path = "/alerts",
    request_body(content = WebhookPayload, content_type = "application/json", description = "Alertmanager's webhook, payload version 4"),
    responses(
        (status = 202, description = "Every alert of the webhook is on the alerts stream", body = Accepted),
        (status = 400, description = "Not JSON, not Alertmanager's webhook, or a rule of it broken; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The source is not allowed, or the token lacks the `ingest` scope", body = ErrorBody),
        (status = 413, description = "The body is larger than INGEST_MAX_BODY_BYTES, or a field is over one of the INGEST_MAX_* limits; the message names the field, the limit and its variable", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 429, description = "Over a rate limit; Retry-After says when to send again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Redis is unreachable, the alerts stream holds more than STREAM_MAX_BACKLOG unhandled alerts, or (with INGEST_WAIT_REPLICAS) too few Redis replicas held the alerts within INGEST_WAIT_TIMEOUT: send again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn receive(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let result = accept(&request, body, &state).await;
    if let Err((reason, _)) = &result {
        state.metrics.rejected(reason);
    }
    result.map_err(|(_, error)| error)
}

type Rejection = (&'static str, ApiError);

async fn accept(request: &HttpRequest, body: web::Payload, state: &State) -> Result<HttpResponse, Rejection> {
    if let Some(message) = over_backlog(&state.backlog, state.max_backlog) {
        // Before the body is read: nothing of it is taken, and Alertmanager sends it again.
        let error = ApiError { code: ErrorCode::Unavailable, message, retry_after: Some(BACKLOG_RETRY_AFTER_SECONDS) };
        return Err(("backlog", error));
    }
    check_content_type(request)?;
    let bytes = read_body(request, body, state.max_body_bytes).await?;
    let payload: WebhookPayload = serde_json::from_slice(&bytes)
        .map_err(|error| ("malformed", ApiError::invalid_payload(format!("malformed webhook: {error}"))))?;
    payload.validate().map_err(|error| ("invalid", ApiError::invalid_payload(format!("invalid webhook: {error}"))))?;
    payload.check_limits(&state.limits).map_err(|over| {
        let message = format!("webhook over a limit: {over} ({})", crate::config::limit_variable(over.limit));
        ("over_limit", ApiError::new(ErrorCode::PayloadTooLarge, message))
    })?;

    let truncated_alerts = payload.truncated_alerts;
    // Kept for the warning below; the alerts take the rest of the payload.
    let (receiver, group_key) = match truncated_alerts {
        0 => (String::new(), String::new()),
        _ => (payload.receiver.clone(), payload.group_key.clone()),
    };
    let mut messages: Vec<_> =
        AlertReceived::from_webhook(payload, OffsetDateTime::now_utc()).into_iter().map(Envelope::new).collect();
    // Untraced requests (traces off, or not sampled) skip this loop altogether.
    let mut spans = Vec::new();
    if let Some(request_span) = traces::request_context(request) {
        spans.reserve(messages.len());
        for message in &mut messages {
            let mut span = state.bus.producer_span(&state.tracer, Stream::Alerts, Some(&request_span), message);
            span.set_str("alert.fingerprint", &message.payload.alert.fingerprint);
            spans.push(span);
        }
    }
    let published = state.bus.publish_with(Stream::Alerts, &messages, state.durability).await;
    for mut span in spans {
        if let Err(error) = &published {
            span.set_error(&error.to_string());
        }
        span.end();
    }
    published.map_err(|error| match error {
        // On the primary, not yet on enough replicas: Alertmanager sends the webhook again, and
        // incident-core's dedup makes the copy already on the stream harmless.
        BusError::NotReplicated { .. } => {
            ("unreplicated", ApiError::unavailable("the alert stream's Redis replicas", error))
        }
        error => ("unavailable", ApiError::unavailable("the alert stream (Redis)", error)),
    })?;

    state.metrics.alerts_accepted.inc_by(messages.len() as u64);
    if truncated_alerts > 0 {
        state.metrics.alerts_truncated.inc_by(truncated_alerts);
        // Debug-formatted: quoted, with newlines and control characters escaped, so a sender's
        // text cannot forge log lines.
        tracing::warn!(
            ?receiver,
            ?group_key,
            truncated_alerts,
            "alertmanager left alerts out of this webhook (max_alerts); raise it to see them all"
        );
    }
    Ok(HttpResponse::Accepted().json(Accepted { accepted: messages.len(), truncated_alerts }))
}

/// What a webhook turned away for the backlog is told to wait: about the time incident-core takes
/// to work through a few hundred thousand alerts.
const BACKLOG_RETRY_AFTER_SECONDS: u64 = 30;

/// Why the backlog is too long to take more alerts, or `None` while it is not.
fn over_backlog(backlog: &Backlog, max_backlog: u64) -> Option<String> {
    let entries = backlog.entries();
    (entries > max_backlog).then(|| {
        format!(
            "the alerts stream holds {entries} alerts incident-core has not handled yet, over STREAM_MAX_BACKLOG ({max_backlog}): send again later"
        )
    })
}

/// The `/ready` check of the backlog: not ready while webhooks are turned away for it.
pub fn backlog_check(
    backlog: Backlog,
    max_backlog: u64,
) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync + 'static {
    move || {
        let verdict = over_backlog(&backlog, max_backlog).map_or(Ok(()), Err);
        Box::pin(async move { verdict })
    }
}

fn check_content_type(request: &HttpRequest) -> Result<(), Rejection> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    let is_json = content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        let message = match content_type {
            Some(other) => format!("content type `{other}` is not accepted: send application/json"),
            None => "no content type: send application/json".to_owned(),
        };
        Err(("content_type", ApiError::new(ErrorCode::UnsupportedMediaType, message)))
    }
}

/// Reads the body up to `limit` bytes; a declared or actual size above it is refused before the
/// rest is read.
async fn read_body(request: &HttpRequest, mut body: web::Payload, limit: usize) -> Result<web::BytesMut, Rejection> {
    let too_large = || {
        (
            "too_large",
            ApiError::new(ErrorCode::PayloadTooLarge, format!("the webhook is larger than the {limit}-byte limit")),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut bytes = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|error| ("malformed", ApiError::invalid_payload(format!("reading the body: {error}"))))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
