//! PostgreSQL storage for tocsin: the schema, its embedded migrations, the row types, the
//! connection pool, the reads query serves, the outbox's mechanics, the notifier's delivery
//! tables, the people who sign in with their sessions (`people`), the service catalogue and its
//! audit log (`catalogue`), teams' members and their roles (`teams`), on-call schedules
//! (`schedules`), people's contact methods and notification rules (`contacts`), the codes people
//! answer SMS pages with (`replies`), which tocsin user a Slack user is (`slack_users`), and
//! maintenance windows with the incidents they hold (`maintenance`).
//! Functions take `&mut AsyncPgConnection` so a caller can compose several inside
//! one transaction.
//!
//! The rules that turn alerts and commands into incidents are not here: they live in
//! incident-core (`services/incident-core/src/incidents`), the only writer of incidents, which
//! uses the schema and row types from this crate.

pub mod archive;
pub mod catalogue;
pub mod contacts;
mod error;
pub mod escalation;
pub mod integrity;
pub mod maintenance;
pub mod notifications;
pub mod outbox;
pub mod people;
mod pool;
pub mod reads;
pub mod replies;
pub mod retention;
pub mod rows;
pub mod schedules;
pub mod schema;
pub mod slack_users;
pub mod teams;
mod tls;
pub mod tokens;

pub use diesel_async::{AsyncConnection, AsyncPgConnection};
pub use error::StorageError;
pub use pool::{Pool, PoolSettings, PoolUsage, PooledConnection, connect, migrate, ping, pool_usage, readiness_check};
