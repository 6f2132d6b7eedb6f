//! PostgreSQL storage for tocsin: the schema, its embedded migrations, the connection pool and
//! every query the services run. Functions take `&mut AsyncPgConnection` so a caller can compose
//! several inside one transaction; services never build SQL themselves.

pub mod archive;
pub mod changes;
pub mod commands;
mod error;
pub mod intake;
pub mod integrity;
pub mod notifications;
pub mod outbox;
mod pool;
pub mod reads;
pub mod retention;
mod rows;
pub mod schema;
mod tls;

pub use diesel_async::{AsyncConnection, AsyncPgConnection};
pub use error::StorageError;
pub use pool::{Pool, PoolSettings, PoolUsage, connect, migrate, ping, pool_usage, readiness_check};
