//! Alertmanager traffic for demos, benchmarks and tests: captured webhooks replayed as if sent
//! now, and generated webhooks shaped like the captured ones.

pub mod poster;
pub mod replay;
pub mod synthetic;
