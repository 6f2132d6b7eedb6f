//! The Redis server the bus needs: 6.2 or newer, for `XADD … MINID`, `XPENDING … IDLE` and
//! exclusive ranges (`XRANGE (id`). Every new connection asks the server its version (`INFO
//! server`), so a service never works against an older one, whether it was there at start or
//! came back older after a failover.

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError};
use std::fmt;
use std::sync::OnceLock;

/// A Redis server's version, as `INFO server` reports it in `redis_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// The oldest Redis the bus works with.
pub const MIN_REDIS_VERSION: RedisVersion = RedisVersion { major: 6, minor: 2, patch: 0 };

impl RedisVersion {
    /// The `redis_version` of an `INFO server` reply; `None` when there is none, or it is not
    /// `major.minor.patch`.
    pub fn from_info(info: &str) -> Option<RedisVersion> {
        let value = info.lines().find_map(|line| line.trim().strip_prefix("redis_version:"))?;
        let mut parts = value.trim().splitn(3, '.');
        let mut number = || parts.next()?.parse::<u32>().ok();
        Some(RedisVersion { major: number()?, minor: number()?, patch: number()? })
    }

    pub fn is_supported(self) -> bool {
        self >= MIN_REDIS_VERSION
    }

    /// Why the bus refuses this server.
    pub fn refusal(self) -> String {
        format!("Redis {self} is too old: tocsin needs Redis {MIN_REDIS_VERSION} or newer")
    }
}

impl fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Asks the server on `connection` its version, and refuses the connection when it is older than
/// [`MIN_REDIS_VERSION`], remembering the version in `refused`. A server that will not say (INFO
/// disabled, as some managed services allow) is given the benefit of the doubt, with a warning.
pub(crate) async fn check(
    connection: &mut MultiplexedConnection,
    refused: &OnceLock<RedisVersion>,
) -> Result<(), RedisError> {
    let info: String = match redis::cmd("INFO").arg("server").query_async(connection).await {
        Ok(info) => info,
        // Refused by the server, which is otherwise there: the connection itself is fine.
        Err(error) if error.code().is_some() => {
            tracing::warn!(%error, "redis does not tell its version; the bus needs 6.2 or newer");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    match RedisVersion::from_info(&info) {
        Some(version) if !version.is_supported() => {
            let _ = refused.set(version);
            Err(RedisError::from((ErrorKind::Client, "unsupported Redis server", version.refusal())))
        }
        Some(_) => Ok(()),
        None => {
            tracing::warn!("redis reports no version the bus can read; the bus needs 6.2 or newer");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(info: &str) -> Option<RedisVersion> {
        RedisVersion::from_info(info)
    }

    #[test]
    fn the_version_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n";
        assert_eq!(version(info), Some(RedisVersion { major: 7, minor: 0, patch: 15 }));
        // Valkey answers with the Redis version it is compatible with, beside its own.
        let valkey = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(version(valkey).map(|v| v.to_string()).as_deref(), Some("7.2.4"));
        assert_eq!(version("# Server\r\nredis_mode:standalone\r\n"), None);
        assert_eq!(version("redis_version:seven\r\n"), None);
        assert_eq!(version("redis_version:6.2\r\n"), None, "three numbers or nothing");
    }

    #[test]
    fn six_point_two_and_newer_are_supported_and_the_refusal_names_both_versions() {
        for supported in ["6.2.0", "6.2.14", "7.0.15", "7.4.2", "10.0.0"] {
            let parsed = version(&format!("redis_version:{supported}"));
            assert_eq!(parsed.map(RedisVersion::is_supported), Some(true), "{supported}");
        }
        for older in ["6.0.14", "6.1.9", "5.0.7", "4.0.14"] {
            let parsed = version(&format!("redis_version:{older}"));
            assert_eq!(parsed.map(RedisVersion::is_supported), Some(false), "{older}");
        }
        let azure_cache = RedisVersion { major: 6, minor: 0, patch: 14 };
        assert_eq!(azure_cache.refusal(), "Redis 6.0.14 is too old: tocsin needs Redis 6.2.0 or newer");
    }
}
