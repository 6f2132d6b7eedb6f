//! The escalation engine: who is paged, step by step, until someone acknowledges
//! (docs/oncall.md, "The escalation engine").
//!
//! Each incident's escalation is a row of `incident_escalations` (migration 000017): its epoch, the
//! policy version it escalates on, the step it waits for and when that fires. Redis streams have
//! no timers, so the due steps live in PostgreSQL:
//!
//! - [`hook`]: the timeline hook; every status change of an incident moves its row in the
//!   transaction that makes the change (opened and reopened start a new epoch due at once,
//!   acknowledged starts one due when the acknowledge timeout runs out or never, resolved one
//!   with nothing due).
//! - [`fire`]: [`fire_due`] claims the due rows and fires their steps, each in one transaction
//!   with its pages, its `paged` timeline entry and outbox event, and the next step.
//! - [`targets`]: who a step's targets name when it fires.
//! - [`task`]: the background task that calls [`fire_due`] every `ESCALATION_TICK`, and the
//!   engine's metrics.
//!
//! The rules of a policy (which step follows, when, what an overdue step does) are the domain's
//! (`tocsin_domain::escalation`); this module is where they meet PostgreSQL and the clock.

pub mod fire;
mod hook;
mod statements;
mod targets;
pub mod task;

pub(crate) use fire::instant;
pub use fire::{ACTOR, FiredSummary, fire_due};
pub(crate) use hook::{acknowledgement_expired, follow_severity_raise, follow_status_changes, start};
pub use task::{AcknowledgedStep, EscalationMetrics, PersonPaged};
