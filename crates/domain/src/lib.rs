//! The incident model shared by every tocsin service: what an alert is, how alerts become incidents,
//! which lifecycle moves are allowed, and the messages the services exchange over the streams.
//!
//! Pure by design: no I/O, no clocks (callers pass the time in), so every rule here is unit-tested
//! on plain values.

pub mod alert;
pub mod command;
pub mod correlation;
pub mod escalation;
pub mod event;
pub mod facts;
pub mod incident;
pub mod maintenance;
pub mod matcher;
pub mod message;
pub mod roles;
pub mod schedule;
pub mod severity;
pub mod timeline;
pub mod webhook;

pub use alert::{AlertRecord, AlertState, ObservedAlert, OccurrenceChange, StoredOccurrence};
pub use command::{
    Action, Command, CommandOutcome, Declaration, Edit, FromTo, MAX_NAME_BYTES, MAX_NOTE_BYTES, MAX_TITLE_BYTES,
    RejectionCode, declared_key,
};
pub use correlation::{CorrelationField, CorrelationKey, CorrelationRule};
pub use event::{EventKind, IncidentEvent, PageUrgency, Paged, PagedUser};
pub use facts::{IncidentFacts, TeamMapping};
pub use incident::{Incident, IncidentStatus, TransitionError};
pub use message::{AlertReceived, Message};
pub use severity::Severity;
pub use timeline::TimelineEntry;
