//! One way to start a service (`tocsin_runtime::service`): a service built on port 0 serves its
//! routes beside the probes and metrics, shows readiness in detail only to operators, and stops its
//! tasks on the shutdown token; a critical task that fails stops the whole service with its error.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use actix_web::web;
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_runtime::{Service, ServiceBuilder, ServiceSettings};
use tokio_util::sync::CancellationToken;

const OPERATOR_TOKEN: &str = "operator-token-for-the-test";

fn builder(shutdown: &CancellationToken) -> ServiceBuilder {
    Service::builder(
        ServiceSettings {
            name: "example",
            listen_addr: "127.0.0.1:0",
            http_workers: 1,
            otel: None,
            operator_tokens: Tokens::single("operator", &[Scope::Read], OPERATOR_TOKEN),
        },
        shutdown.clone(),
    )
    .expect("Service::builder")
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("reading the JSON body"))
}

#[tokio::test]
async fn a_service_serves_its_routes_beside_the_probes_and_drains_its_tasks_on_shutdown() {
    let shutdown = CancellationToken::new();
    let mut service = builder(&shutdown);
    let things = Counter::<u64>::default();
    service.registry().register("example_things", "Things the example did", things.clone());
    things.inc();
    let drained = Arc::new(AtomicBool::new(false));
    let done = drained.clone();
    service
        .check("dependency", || Box::pin(async { Err("connection refused".to_owned()) }))
        .detail("mode", || "testing".to_owned())
        .task("drain", move |stop| async move {
            stop.cancelled().await;
            // What a loop does with the batch it holds when the token is cancelled.
            tokio::time::sleep(Duration::from_millis(100)).await;
            done.store(true, Ordering::SeqCst);
        });
    let service = service
        .serve(|routes: &mut web::ServiceConfig| {
            routes.route("/hello", web::get().to(|| async { "hello" }));
        })
        .expect("serve");
    let base = format!("http://127.0.0.1:{}", service.port());
    let running = tokio::spawn(service.run_until_stopped());
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let hello = get("/hello").await.expect("GET");
    assert_eq!(hello.text().await.ok().as_deref(), Some("hello"));
    let (status, health) = json(get("/health").await.expect("GET")).await;
    assert_eq!((status, &health["service"]), (200, &Value::from("example")));
    let metrics = get("/metrics").await.expect("GET").text().await.unwrap_or_default();
    assert!(metrics.contains("tocsin_example_things_total 1"), "{metrics}");
    assert!(metrics.contains("tocsin_http_requests_total"), "{metrics}");

    let (status, anyone) = json(get("/ready").await.expect("GET")).await;
    assert_eq!(status, 503);
    assert_eq!(anyone, serde_json::json!({ "status": "unavailable" }), "no detail without a token");
    let operator = http.get(format!("{base}/ready")).bearer_auth(OPERATOR_TOKEN).send().await;
    let (status, detail) = json(operator.expect("GET /ready with the operator token")).await;
    assert_eq!(status, 503);
    assert_eq!(detail["checks"]["dependency"], "connection refused");
    assert_eq!(detail["detail"]["mode"], "testing");

    assert!(!drained.load(Ordering::SeqCst), "the task runs until shutdown");
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(drained.load(Ordering::SeqCst), "the service returned before its task finished");
}

#[tokio::test]
async fn a_critical_task_that_fails_stops_the_service_with_its_error() {
    let shutdown = CancellationToken::new();
    let mut service = builder(&shutdown);
    let stopped_too = Arc::new(AtomicBool::new(false));
    let flag = stopped_too.clone();
    service
        .task("other", move |stop| async move {
            stop.cancelled().await;
            flag.store(true, Ordering::SeqCst);
        })
        .critical_task("server check", |_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(std::io::Error::other("redis 6.0.0 is too old"))
        });
    let service = service.serve(|_: &mut web::ServiceConfig| {}).expect("serve");

    let stopped = tokio::time::timeout(Duration::from_secs(10), service.run_until_stopped()).await;
    match stopped {
        Ok(Err(error)) => assert_eq!(error.to_string(), "redis 6.0.0 is too old"),
        other => panic!("expected the task's error, got {other:?}"),
    }
    assert!(shutdown.is_cancelled());
    assert!(stopped_too.load(Ordering::SeqCst), "the other tasks were stopped");
}

#[tokio::test]
async fn a_critical_task_that_ends_without_an_error_stops_nothing() {
    let shutdown = CancellationToken::new();
    let mut service = builder(&shutdown);
    service.critical_task("one-off", |_| async { Ok::<(), std::io::Error>(()) });
    let service = service.serve(|_: &mut web::ServiceConfig| {}).expect("serve");
    let base = format!("http://127.0.0.1:{}", service.port());
    let running = tokio::spawn(service.run_until_stopped());

    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = reqwest::get(format!("{base}/health")).await.map(|response| response.status().as_u16());
    assert_eq!(health.ok(), Some(200));
    assert!(!shutdown.is_cancelled());
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}
