//! The bus's pool of Redis connections.
//!
//! deadpool-redis's own manager sends UNWATCH and PING before it hands out a pooled connection:
//! one more round trip for every publish and every acknowledgement, as many PINGs as XADD
//! batches, on the hot path of every alert. This manager checks only a connection that sat unused
//! for longer than [`CHECK_AFTER_IDLE`], the case of Redis restarted while nobody used it (the idea
//! of HikariCP's `aliveBypassWindowMs`). A connection whose command failed on the connection itself
//! (reset, closed, timed out) is dropped instead of going back to the pool, so the next caller gets
//! a new one. Each new connection first asks the server its version (`server::check`), and one
//! from a Redis older than the bus needs is refused.

use crate::server::{self, RedisVersion};
use deadpool::managed::{Manager, Metrics, Object, RecycleResult};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// A connection used this recently is handed out without a PING.
pub(crate) const CHECK_AFTER_IDLE: Duration = Duration::from_millis(500);

pub(crate) struct Connections {
    redis: deadpool_redis::Manager,
    /// The version of a server whose connections were refused as too old.
    refused: OnceLock<RedisVersion>,
}

impl Connections {
    pub(crate) fn new(redis_url: &str) -> Result<Connections, RedisError> {
        Ok(Connections { redis: deadpool_redis::Manager::new(redis_url)?, refused: OnceLock::new() })
    }

    /// Set once a connection was refused because the server is older than the bus needs.
    pub(crate) fn refused_version(&self) -> Option<RedisVersion> {
        self.refused.get().copied()
    }
}

impl Manager for Connections {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut connection = self.redis.create().await?;
        server::check(&mut connection, &self.refused).await?;
        Ok(connection)
    }

    async fn recycle(&self, connection: &mut MultiplexedConnection, metrics: &Metrics) -> RecycleResult<RedisError> {
        if metrics.last_used() < CHECK_AFTER_IDLE {
            return Ok(());
        }
        self.redis.recycle(connection, metrics).await
    }
}

pub(crate) type Pool = deadpool::managed::Pool<Connections>;

/// A connection out of the [`Pool`]. Not `Deref`: commands go through its [`ConnectionLike`], which
/// sees their errors and keeps a broken connection out of the pool.
pub(crate) struct Connection {
    pooled: Option<Object<Connections>>,
    broken: bool,
    /// A WATCH is in force: until EXEC or UNWATCH clears it, the connection must not go back to
    /// the pool, where someone else's MULTI/EXEC would be refused for a key they never watched.
    watching: bool,
}

impl Connection {
    pub(crate) fn new(mut pooled: Object<Connections>, response_timeout: Duration) -> Connection {
        pooled.set_response_timeout(response_timeout);
        Connection { pooled: Some(pooled), broken: false, watching: false }
    }

    /// Says that a WATCH is about to be sent (`true`), or has been cleared by EXEC or UNWATCH
    /// (`false`). A connection dropped while watching is closed rather than pooled.
    pub(crate) fn watching(&mut self, watching: bool) {
        self.watching = watching;
    }

    /// The pooled connection; it is taken out only on drop, so this is always there.
    fn inner(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        self.pooled.as_deref_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected).into())
    }

    fn note<T>(&mut self, result: &RedisResult<T>) {
        if let Err(error) = result {
            self.broken |= is_broken_by(error);
        }
    }
}

/// Whether `error` says the connection is unusable, rather than the command wrong.
fn is_broken_by(error: &RedisError) -> bool {
    error.is_unrecoverable_error()
        || error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        // A reply that did not come in time may still come, and would answer the wrong command.
        || error.is_timeout()
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = match self.inner() {
                Ok(inner) => inner.req_packed_command(cmd).await,
                Err(error) => Err(error),
            };
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = match self.inner() {
                Ok(inner) => inner.req_packed_commands(cmd, offset, count).await,
                Err(error) => Err(error),
            };
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.pooled.as_ref().map_or(0, |pooled| pooled.get_db())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if (self.broken || self.watching)
            && let Some(pooled) = self.pooled.take()
        {
            // Taken out of the pool and closed; the pool makes a new one when it needs it.
            drop(Object::take(pooled));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::ErrorKind;

    #[test]
    fn a_refused_command_leaves_the_connection_usable_and_a_dropped_one_does_not() {
        let aborted = RedisError::from((ErrorKind::Server(redis::ServerErrorKind::ExecAbort), "EXECABORT"));
        assert!(!is_broken_by(&aborted));
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_broken_by(&reset));
    }
}
