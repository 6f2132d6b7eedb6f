//! The HTTP server every service runs: its own routes plus `/health`, `/ready` and `/metrics`,
//! request metrics, a server span per request when traces are on, and a graceful stop when the
//! shutdown token is cancelled.
//!
//! Every server has the same limits, so no service can be held open or filled up by a slow or
//! greedy client (docs/security.md lists them with what a client sees):
//!
//! - the request head (request line and headers) must arrive within [`REQUEST_HEAD_TIMEOUT`]
//!   (else 408), and may hold at most 96 headers in at most 128 KiB (else 431); both of those
//!   bounds are actix-http's own and answer before any tocsin code runs;
//! - an idle keep-alive connection is closed after [`KEEP_ALIVE`]; each worker holds at most
//!   [`MAX_CONNECTIONS_PER_WORKER`] connections and leaves the rest in the listen backlog;
//! - a body read through an extractor (`Json`, `Form`, `Bytes`, `String`) is at most
//!   [`DEFAULT_BODY_LIMIT`] unless its route sets its own limit (ingest's `/alerts` does); past it
//!   the answer is 413 with the JSON error body, like every error actix itself raises.

use crate::auth;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{HttpMetrics, Metrics, RequestLabels, RouteLabels};
use crate::readiness::Readiness;
use crate::traces::{RequestTrace, SpanKind, TRACEPARENT, TraceContext, Tracer};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use serde_json::json;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Time a client has to send the request line and headers of each request.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle keep-alive connection is closed after this.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Connections one worker serves at once; more wait in the listen backlog. The live feed
/// (`/events`) holds one per open dashboard.
pub const MAX_CONNECTIONS_PER_WORKER: usize = 10_000;
/// The largest body an extractor reads on a route that sets no limit of its own.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub struct HttpSettings {
    pub listener: TcpListener,
    pub workers: usize,
    pub service: &'static str,
    /// Starts a server span for every request but the probes and `/metrics`, when on.
    pub tracer: Tracer,
}

/// Starts serving on `settings.listener`. The returned server finishes when the token is
/// cancelled and in-flight requests have been answered (at most 30 s).
pub fn serve<F>(
    settings: HttpSettings,
    metrics: Metrics,
    http_metrics: HttpMetrics,
    readiness: Readiness,
    shutdown: CancellationToken,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let service = settings.service;
    let tracer = settings.tracer;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics.clone()))
            .app_data(web::Data::new(http_metrics.clone()))
            .app_data(web::Data::new(readiness.clone()))
            .app_data(web::Data::new(tracer.clone()))
            .app_data(web::PayloadConfig::new(DEFAULT_BODY_LIMIT))
            .app_data(web::JsonConfig::default().limit(DEFAULT_BODY_LIMIT).error_handler(json_error))
            .app_data(web::FormConfig::default().limit(DEFAULT_BODY_LIMIT).error_handler(form_error))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .wrap(from_fn(json_errors))
            .wrap(from_fn(record_request))
            .wrap(from_fn(trace_request))
            .route("/health", web::get().to(move || health(service)))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(render_metrics))
            .configure(configure.clone())
            .default_service(web::to(not_found))
    })
    .workers(settings.workers.max(1))
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    // A client that closes its side ends the connection at once. Otherwise a streamed answer (the
    // live feed) lives on until a write to it fails, up to two keep-alives later, still counted
    // against its token's connections (`LIVE_MAX_CONNECTIONS_PER_TOKEN`). No client tocsin serves
    // half-closes a connection and still waits for the answer.
    .h1_allow_half_closed(false)
    .disable_signals()
    .shutdown_timeout(30)
    .listen(settings.listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    Ok(server)
}

async fn not_found(request: actix_web::HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&crate::error::ApiError::not_found(format!(
        "no route {} {}",
        request.method(),
        request.path()
    )))
}

fn json_error(error: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let api_error = match &error {
        JsonPayloadError::ContentType => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json")
        }
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => too_large(*limit),
        _ => ApiError::invalid_payload(format!("malformed request body: {error}")),
    };
    api_error.into()
}

fn form_error(error: actix_web::error::UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError;
    let api_error = match &error {
        UrlencodedError::ContentType => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/x-www-form-urlencoded")
        }
        UrlencodedError::Overflow { limit, .. } => too_large(*limit),
        _ => ApiError::invalid_payload(format!("malformed form body: {error}")),
    };
    api_error.into()
}

fn query_error(error: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::invalid_parameter(format!("malformed query string: {error}")).into()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("the request body is larger than the {limit}-byte limit"))
}

/// The errors actix raises itself (a `Bytes` body over its limit, a malformed path) answer with
/// the API's JSON error body like every other, and a 5xx says nothing internal.
async fn json_errors(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let replacement = match response.response().error() {
        Some(error) if error.as_error::<ApiError>().is_none() => {
            let status = response.status();
            match status {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    Some(ApiError::new(ErrorCode::PayloadTooLarge, format!("the request body is too large: {error}")))
                }
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    Some(ApiError::new(ErrorCode::UnsupportedMediaType, error.to_string()))
                }
                StatusCode::BAD_REQUEST => Some(ApiError::invalid_payload(error.to_string())),
                StatusCode::NOT_FOUND => Some(ApiError::not_found(error.to_string())),
                _ if status.is_server_error() => Some(ApiError::internal(error)),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(match replacement {
        None => response.map_into_left_body(),
        Some(api_error) => {
            let (request, original) = response.into_parts();
            let mut replaced = api_error.error_response();
            // What middleware added on the way out (security headers) stays; the body is new.
            let ours: Vec<header::HeaderName> = replaced.headers().keys().cloned().collect();
            for (name, value) in original.headers() {
                if !ours.contains(name) && name != header::CONTENT_LENGTH {
                    replaced.headers_mut().append(name.clone(), value.clone());
                }
            }
            ServiceResponse::new(request, replaced).map_into_right_body()
        }
    })
}

async fn health(service: &'static str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "service": service }))
}

/// Up or down for anyone; the checks' results and the details only for a caller with a token
/// (see [`Readiness`]).
async fn ready(request: HttpRequest, readiness: web::Data<Readiness>) -> HttpResponse {
    let (ready, checks) = readiness.report().await;
    let mut body = json!({ "status": if ready { "ready" } else { "unavailable" } });
    if readiness.shows_detail_to(request.headers()) {
        body["checks"] = json!(checks);
        let detail = readiness.details();
        if !detail.is_empty() {
            body["detail"] = json!(detail);
        }
    }
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// OpenMetrics for clients that ask for it (Prometheus does), the classic text format otherwise.
async fn render_metrics(request: actix_web::HttpRequest, metrics: web::Data<Metrics>) -> HttpResponse {
    let wants_openmetrics = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let (encoded, content_type) = if wants_openmetrics {
        (metrics.encode(), crate::metrics::OPENMETRICS_CONTENT_TYPE)
    } else {
        (metrics.encode_classic(), crate::metrics::CLASSIC_CONTENT_TYPE)
    };
    match encoded {
        Ok(text) => HttpResponse::Ok().content_type(content_type).body(text),
        Err(error) => actix_web::ResponseError::error_response(&crate::error::ApiError::internal(error)),
    }
}

async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = crate::metrics::method_label(request.method());
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let metrics = request.app_data::<web::Data<HttpMetrics>>().cloned();
    let response = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &response {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        metrics.requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
        metrics.duration.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    }
    response
}

/// The server span of a request: the child of the caller's `traceparent` header when it sent one.
/// Handlers find it with [`crate::traces::request_context`] to parent what they publish.
async fn trace_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let tracer = request.app_data::<web::Data<Tracer>>().filter(|tracer| tracer.is_on()).cloned();
    let Some(tracer) = tracer.filter(|_| !matches!(request.path(), "/health" | "/ready" | "/metrics")) else {
        return next.call(request).await;
    };
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let parent = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::from_traceparent);
    // OpenTelemetry's conventions name an unknown method `_OTHER`, for the same reason metrics do.
    let method = match crate::metrics::method_label(request.method()) {
        "other" => "_OTHER",
        known => known,
    };
    let mut span = tracer.start(format!("{method} {route}"), SpanKind::Server, parent.as_ref());
    span.set_str("http.request.method", method);
    span.set_str("http.route", &route);
    if let Some(context) = span.context() {
        request.extensions_mut().insert(RequestTrace(context));
    }
    let response = next.call(request).await;
    let status = match &response {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    span.set_i64("http.response.status_code", i64::from(status.as_u16()));
    // The token's name, never the token: who called, for whoever reads the trace.
    if let Some(caller) = response.as_ref().ok().and_then(|response| auth::caller(response.request())) {
        span.set_str("tocsin.token.name", &caller.token_name);
    }
    if status.is_server_error() {
        span.set_error(status.canonical_reason().unwrap_or("server error"));
    }
    span.end();
    response
}

/// Binds `addr` (`127.0.0.1:8081`, `0.0.0.0:8080`, or port 0 in tests).
pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
