//! Alertmanager traffic for demos, benchmarks and tests.

pub mod replay;
