//! What the tests that run incident-core as a real process share: starting it, and counting rows.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use std::ffi::OsStr;
use std::process::Stdio;
use tocsin_testkit::{TestDatabase, TestRedis};

/// incident-core as its own process on the test's database and streams, named `name` in the
/// consumer groups, with `settings` added to its environment; killed when dropped.
pub fn start_core<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    db: &TestDatabase,
    redis: &TestRedis,
    name: &str,
    settings: impl IntoIterator<Item = (K, V)>,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin-incident-core"))
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", &redis.url)
        .env("STREAM_PREFIX", &redis.prefix)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("CONSUMER_NAME", name)
        .env("RUST_LOG", "warn")
        .envs(settings)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting incident-core")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The count a statement `SELECT count(*) AS n …` gives.
pub async fn count(db: &TestDatabase, sql: &str) -> i64 {
    let mut conn = db.connection().await;
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.map(|c| c.n).unwrap_or_else(|e| panic!("{sql}: {e}"))
}
