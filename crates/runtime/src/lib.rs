//! What every tocsin service starts with: typed configuration from the environment, logging,
//! `/metrics`, `/health` and `/ready`, bearer-token auth, one JSON error type for its API (and the
//! part of the OpenAPI documents every service shares), traces
//! (OpenTelemetry, off unless configured), and a graceful shutdown on SIGTERM that lets in-flight
//! work finish. [`Service::builder`] puts these together the same way in every service.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod readiness;
pub mod service;
pub mod shutdown;
pub mod traces;

pub use config::{ConfigError, Env, Secret};
pub use error::{ApiError, ErrorCode};
pub use metrics::Metrics;
pub use readiness::Readiness;
pub use service::{Service, ServiceBuilder, ServiceSettings};
