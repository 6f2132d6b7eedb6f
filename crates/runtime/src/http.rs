//! The HTTP server every service runs: its own routes plus `/health`, `/ready` and `/metrics`,
//! request metrics, a server span per request when traces are on, and a graceful stop when the
//! shutdown token is cancelled.

use crate::metrics::{HttpMetrics, Metrics, RequestLabels, RouteLabels};
use crate::readiness::Readiness;
use crate::traces::{RequestTrace, SpanKind, TRACEPARENT, TraceContext, Tracer};
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use std::net::TcpListener;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

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
            .wrap(from_fn(record_request))
            .wrap(from_fn(trace_request))
            .route("/health", web::get().to(move || health(service)))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(render_metrics))
            .configure(configure.clone())
            .default_service(web::to(not_found))
    })
    .workers(settings.workers.max(1))
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

async fn health(service: &'static str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "service": service }))
}

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let (ready, checks) = readiness.report().await;
    let body = json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": checks });
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
    let method = request.method().to_string();
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let metrics = request.app_data::<web::Data<HttpMetrics>>().cloned();
    let response = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &response {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
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
    let mut span = tracer.start(format!("{} {route}", request.method()), SpanKind::Server, parent.as_ref());
    span.set_str("http.request.method", request.method().as_str());
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
