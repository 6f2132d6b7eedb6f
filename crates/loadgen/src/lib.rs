//! Alertmanager traffic for demos, benchmarks and tests: captured webhooks replayed as if sent
//! now, generated webhooks shaped like the captured ones, and a year of incidents as COPY rows
//! for the read benchmark; and the parts of the pipeline benchmark (`bench`).

pub mod bench;
pub mod poster;
pub mod replay;
pub mod synthetic;
pub mod year;
