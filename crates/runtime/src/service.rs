//! One way to start a service. [`Service::builder`] sets up what every service has: the tracer,
//! the metrics registry with the HTTP request metrics, readiness shown in detail only to
//! operators, and the bound listener. The service adds what is its own (metrics, readiness
//! checks, background tasks) and [`ServiceBuilder::serve`] mounts its routes beside `/health`,
//! `/ready` and `/metrics`. [`Service::run_until_stopped`] then runs the tasks beside the server.
//!
//! Everything stops on one shutdown token (SIGTERM, a test, or a critical task that failed):
//!
//! 1. the server answers the requests it holds and stops;
//! 2. the tasks, which were given the same token, finish what they hold, all of them within
//!    [`DRAIN_TIMEOUT`]; one still running then is abandoned as a crash would leave it;
//! 3. the spans still waiting are exported;
//! 4. the service returns the error of the critical task that stopped it, if one did, else the
//!    server's own result.
//!
//! The listener is bound in [`Service::builder`], so a test can start the whole service on port 0
//! and read the port back before it runs.

use crate::auth::Tokens;
use crate::http::{self, HttpSettings};
use crate::metrics::{self, HttpMetrics, Metrics};
use crate::readiness::Readiness;
use crate::shutdown::{DRAIN_TIMEOUT, join_within};
use crate::traces::{OtelSettings, Tracer};
use actix_web::dev::Server;
use actix_web::web;
use futures_util::future::BoxFuture;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What differs between services in what they all start with.
pub struct ServiceSettings<'a> {
    /// The `service` of `/health`; traces take theirs from `OTEL_SERVICE_NAME`.
    pub name: &'static str,
    /// `LISTEN_ADDR`; port 0 picks a free port.
    pub listen_addr: &'a str,
    /// `HTTP_WORKERS`.
    pub http_workers: usize,
    /// `None`: traces are off.
    pub otel: Option<&'a OtelSettings>,
    /// Callers with one of these see which readiness check failed and why, and the details.
    pub operator_tokens: Tokens,
}

/// A background task, not started yet.
type Task = (&'static str, BoxFuture<'static, ()>);

/// The error of the critical task that stopped the service, for it to exit with.
type Failure = Arc<Mutex<Option<std::io::Error>>>;

/// A service being put together: see the module's documentation.
pub struct ServiceBuilder {
    name: &'static str,
    listener: TcpListener,
    http_workers: usize,
    tracer: Tracer,
    registry: Registry,
    http_metrics: HttpMetrics,
    readiness: Readiness,
    tasks: Vec<Task>,
    failure: Failure,
    shutdown: CancellationToken,
}

/// A service whose server is set up and whose tasks wait for [`Service::run_until_stopped`].
pub struct Service {
    port: u16,
    server: Server,
    tasks: Vec<Task>,
    tracer: Tracer,
    failure: Failure,
    shutdown: CancellationToken,
}

impl Service {
    /// Binds the listener and installs the tracer; nothing runs yet.
    pub fn builder(settings: ServiceSettings<'_>, shutdown: CancellationToken) -> anyhow::Result<ServiceBuilder> {
        let tracer = Tracer::install(settings.otel)?;
        let mut registry = metrics::registry();
        let http_metrics = HttpMetrics::register(&mut registry);
        let listener = http::bind(settings.listen_addr)?;
        Ok(ServiceBuilder {
            name: settings.name,
            listener,
            http_workers: settings.http_workers,
            tracer,
            registry,
            http_metrics,
            readiness: Readiness::default().detail_for(settings.operator_tokens),
            tasks: Vec::new(),
            failure: Arc::default(),
            shutdown,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves and runs the tasks until the shutdown token is cancelled, then stops them in the
    /// order the module's documentation gives.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let running = self.tasks.into_iter().map(|(name, task)| (name, tokio::spawn(task))).collect();
        let served = self.server.await;
        // The server stops on the token; cancelling it here also stops the tasks when the server
        // ended on its own.
        self.shutdown.cancel();
        join_within(running, DRAIN_TIMEOUT).await;
        self.tracer.shutdown().await;
        let failure = self.failure.lock().ok().and_then(|mut failure| failure.take());
        match failure {
            Some(error) => Err(error),
            None => served,
        }
    }
}

impl ServiceBuilder {
    /// The service's tracer, for the state its handlers and tasks keep.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// The registry `/metrics` shows, for the service's own metrics. It is read-only once the
    /// service is served.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The token the whole service stops on, for state that must notice shutdown itself (a
    /// streamed answer, say). Tasks are handed it by [`ServiceBuilder::task`].
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// A check `/ready` runs: the service is ready when every check passes.
    pub fn check<F>(&mut self, name: &str, check: F) -> &mut ServiceBuilder
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.readiness = std::mem::take(&mut self.readiness).with(name, check);
        self
    }

    /// A fact `/ready` shows operators beside the checks, without deciding readiness.
    pub fn detail<F>(&mut self, name: &str, detail: F) -> &mut ServiceBuilder
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.readiness = std::mem::take(&mut self.readiness).with_detail(name, detail);
        self
    }

    /// A background task, started by [`Service::run_until_stopped`]. `task` is handed the shutdown
    /// token and must return once it is cancelled, having finished what it holds.
    pub fn task<F>(&mut self, name: &'static str, task: impl FnOnce(CancellationToken) -> F) -> &mut ServiceBuilder
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push((name, Box::pin(task(self.shutdown.clone()))));
        self
    }

    /// A task the service cannot run without. When it returns an error the whole service stops,
    /// as on SIGTERM, and exits with that error; returning `Ok` is an ordinary end. The task logs
    /// its error itself, where it knows what it means.
    pub fn critical_task<F, E>(
        &mut self,
        name: &'static str,
        task: impl FnOnce(CancellationToken) -> F,
    ) -> &mut ServiceBuilder
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let running = task(self.shutdown.clone());
        let failure = self.failure.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.push((
            name,
            Box::pin(async move {
                if let Err(error) = running.await {
                    if let Ok(mut failure) = failure.lock() {
                        failure.get_or_insert(std::io::Error::other(error));
                    }
                    shutdown.cancel();
                }
            }),
        ));
        self
    }

    /// Starts the HTTP server with `routes` mounted beside `/health`, `/ready` and `/metrics`.
    pub fn serve<F>(self, routes: F) -> std::io::Result<Service>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let port = self.listener.local_addr()?.port();
        let server = http::serve(
            HttpSettings {
                listener: self.listener,
                workers: self.http_workers,
                service: self.name,
                tracer: self.tracer.clone(),
            },
            Metrics::new(self.registry),
            self.http_metrics,
            self.readiness,
            self.shutdown.clone(),
            routes,
        )?;
        Ok(Service {
            port,
            server,
            tasks: self.tasks,
            tracer: self.tracer,
            failure: self.failure,
            shutdown: self.shutdown,
        })
    }
}
