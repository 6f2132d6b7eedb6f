//! The incident rules, in one place: how alert reports become incidents (dedup, correlation,
//! out-of-order settling, auto-resolve, reopen), how people's commands move an incident through
//! its lifecycle, and how every change is written down (a timeline entry and an outbox event in
//! the same transaction).
//!
//! - [`intake`]: applying a batch of alert reports, set-based, in rounds and named steps.
//! - [`lifecycle`]: commands (acknowledge, resolve, reopen, assign), once per command id, and the
//!   resolve and reopen statements the alert rules share.
//! - [`timeline`]: a change becomes a timeline entry and an outbox event.
//! - [`statements`]: the SQL that writes a batch, shared with the bench's ceiling.
//!
//! The pure parts (settling one report against what is stored, the correlation key, the facts an
//! incident takes from its first alert, which transitions are allowed) are the domain crate's; this
//! module is where they meet PostgreSQL, through the schema and row types of `tocsin_storage`.
//! Every function runs inside the caller's transaction.

pub mod intake;
pub mod lifecycle;
pub mod statements;
pub mod timeline;

use time::Duration;
use tocsin_domain::{CorrelationRule, OccurrenceChange, TeamMapping};
use uuid::Uuid;

pub use intake::{IntakeBatch, apply_alerts};
pub use lifecycle::apply_command;
pub use timeline::StatusChange;

/// How alerts become incidents; from incident-core's configuration.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub correlation: CorrelationRule,
    pub teams: TeamMapping,
    /// Resolve an incident by itself once every one of its alerts has resolved.
    pub auto_resolve: bool,
    /// A firing alert whose key matches an incident resolved less than this long ago reopens that
    /// incident instead of opening a new one (flapping alerts stay one incident). Zero disables it.
    pub reopen_window: Duration,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            correlation: CorrelationRule::default(),
            teams: TeamMapping::default(),
            auto_resolve: true,
            reopen_window: Duration::minutes(5),
        }
    }
}

/// What one report did.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeOutcome {
    pub change: OccurrenceChange,
    pub incident_id: Option<Uuid>,
    /// Whether a new incident was opened for it.
    pub opened_incident: bool,
    /// Events written for its incident in the report's round.
    pub events: usize,
}
