//! Test support shared by every crate's tests, against the real servers named by `DATABASE_URL`
//! and `REDIS_URL` (`make test` starts project-local ones when they are not set).
//!
//! - [`TestDatabase`]: a database of its own per test, created from a migrated template and
//!   dropped afterwards, so tests run in parallel without interfering.
//! - [`TestRedis`]: a key prefix of its own per test, deleted afterwards.
//! - [`fixture`]: the Alertmanager payloads captured from a real Alertmanager 0.25, and
//!   [`post_fixture`] to send one to ingest.
//! - [`FakeApi`]: a local HTTP server standing in for Slack, Teams or GitHub, recording requests.
//! - [`open_incident`]: the incident the harnesses start from, a test changing what it is about.

#![allow(clippy::expect_used, reason = "test support stops at a failed step, saying what was being done")]

mod fake_api;
mod incident;
pub use fake_api::{FakeApi, RecordedRequest, Reply};
pub use incident::{labels, open_incident};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;
use uuid::Uuid;

const TEMPLATE: &str = "tocsin_test_template";
/// Serialises template set-up and database creation across concurrently running test binaries:
/// PostgreSQL refuses to copy a template while anyone is connected to it.
const TEMPLATE_LOCK: i64 = 0x7063_7369_6e00;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test`, which starts PostgreSQL and Redis")
    })
}

/// The URL of `database` on the server of `DATABASE_URL`.
fn url_of(database: &str) -> String {
    let base = env("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap_or((&base, ""));
    format!("{server}/{database}")
}

pub struct TestDatabase {
    pub url: String,
    name: String,
}

static TEMPLATE_READY: OnceCell<()> = OnceCell::const_new();

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        let mut admin = AsyncPgConnection::establish(&env("DATABASE_URL")).await.expect("cannot reach DATABASE_URL");
        lock(&mut admin).await;
        TEMPLATE_READY
            .get_or_init(|| async {
                let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                    "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}')"
                )))
                .get_result(&mut admin)
                .await
                .unwrap_or(false);
                if !exists {
                    execute(&mut admin, &format!("CREATE DATABASE {TEMPLATE}")).await;
                }
                // Applies only what is pending, so a template from an older checkout catches up.
                tocsin_storage::migrate(&url_of(TEMPLATE)).await.expect("migrating the test template");
            })
            .await;
        let name = format!("tocsin_test_{}", Uuid::new_v4().simple());
        execute(&mut admin, &format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).await;
        unlock(&mut admin).await;
        TestDatabase { url: url_of(&name), name }
    }

    pub fn pool(&self) -> tocsin_storage::Pool {
        tocsin_storage::connect(&self.url, &tocsin_storage::PoolSettings::default())
            .unwrap_or_else(|error| panic!("pool for {}: {error}", self.name))
    }

    pub async fn connection(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .unwrap_or_else(|error| panic!("connecting to {}: {error}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context guarantees; a thread with its own runtime does the I/O.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&env("DATABASE_URL")).await.ok()?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn lock(conn: &mut AsyncPgConnection) {
    execute(conn, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).await;
}

async fn unlock(conn: &mut AsyncPgConnection) {
    execute(conn, &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})")).await;
}

/// A Redis key prefix of the test's own on the server of `REDIS_URL`.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> TestRedis {
        TestRedis { url: env("REDIS_URL"), prefix: format!("test-{}", Uuid::new_v4().simple()) }
    }

    /// The envelopes on the stream `key` (the bus's `stream_key` under the test's prefix), oldest
    /// first, as JSON; none when the stream does not exist.
    pub async fn stream_envelopes(&self, key: &str) -> Vec<serde_json::Value> {
        let mut conn = redis_connection(&self.url).await;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("XRANGE {key}: {error}"));
        reply
            .ids
            .iter()
            .filter_map(|entry| entry.get::<String>("envelope"))
            .map(|raw| serde_json::from_str(&raw).expect("an envelope that is not JSON"))
            .collect()
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        TestRedis::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A captured Alertmanager payload from `testdata/alertmanager/raw/`, byte for byte.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/../../testdata/alertmanager/raw/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// What ingest answered a webhook: the status, `Retry-After` and the JSON body (null if none).
#[derive(Debug)]
pub struct WebhookAnswer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: serde_json::Value,
}

/// Posts the captured payload `name` ([`fixture`]) to ingest at `url` with the bearer `token`.
pub async fn post_fixture(http: &reqwest::Client, url: &str, token: &str, name: &str) -> WebhookAnswer {
    let response = http
        .post(format!("{url}/alerts"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(fixture(name))
        .send()
        .await
        .expect("sending the webhook");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_owned);
    WebhookAnswer { status, retry_after, body: response.json().await.unwrap_or(serde_json::Value::Null) }
}

/// A free TCP port on the loopback interface.
/// `len` letters and digits that PostgreSQL cannot compress: a label value as long as a real
/// one of that length is hard on an index. PostgreSQL compresses a long index entry before it
/// checks its size, so `"x".repeat(3000)` fits a btree whatever its length and proves nothing.
pub fn incompressible_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // xorshift64: the same text every run, with no repeats pglz could use.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

/// A port nothing listens on, for a server a test starts afterwards.
///
/// Taken below the kernel's range of ephemeral ports (32768 to 60999 on Linux), from which every
/// outgoing connection gets its local port: a port picked there (as binding port 0 picks) can be
/// taken by one of the tests' own connections to PostgreSQL or Redis before the server binds it,
/// and the server fails with "Address already in use". Each call of a process takes the next port
/// of a stretch where its pid starts it, so the tests of one binary, running in parallel, never
/// hand out the same port twice; each is checked free by binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from {FIRST} to {}", FIRST + SPAN)
}

/// A TCP proxy in front of a real server, to take the server away from a service under test and
/// give it back: [`TcpProxy::cut`] drops every connection and refuses new ones, as a network
/// partition or a server restart would; [`TcpProxy::restore`] lets connections through again.
pub struct TcpProxy {
    pub port: u16,
    state: std::sync::Arc<ProxyState>,
    accept_loop: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    open: std::sync::atomic::AtomicBool,
    connections: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> TcpProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy");
        let port = listener.local_addr().map(|a| a.port()).expect("proxy");
        let state = std::sync::Arc::new(ProxyState::default());
        state.open.store(true, Ordering::SeqCst);
        let shared = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                // `open` is read under the lock `cut` drains the connections under: a connection
                // accepted while the proxy is being cut is either dropped here or aborted there,
                // never left passing traffic through the partition.
                let Ok(mut connections) = shared.connections.lock() else { continue };
                if !std::sync::atomic::AtomicBool::load(&shared.open, Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close at once
                }
                let connection = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.retain(|c| !c.is_finished());
                connections.push(connection);
            }
        });
        TcpProxy { port, state, accept_loop }
    }

    pub fn cut(&self) {
        self.state.open.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut connections) = self.state.connections.lock() {
            for connection in connections.drain(..) {
                connection.abort();
            }
        }
    }

    pub fn restore(&self) {
        self.state.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept_loop.abort();
    }
}

/// `host:port` of a `postgres://` or `redis://` URL.
pub fn server_address(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("no address in {url}"))
}

/// `url` with its host and port replaced by `127.0.0.1:port`.
pub fn through_port(url: &str, port: u16) -> String {
    let address = server_address(url);
    url.replacen(&address.to_string(), &format!("127.0.0.1:{port}"), 1)
}

pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap_or_else(|error| panic!("{url}: {error}"))
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|error| panic!("{url}: {error}"))
}

/// (`lag`, `pending`) of a consumer group: entries not yet read, and read but not acknowledged.
/// `None` while the group does not exist.
pub async fn group_lag(url: &str, key: &str, group: &str) -> (Option<u64>, Option<u64>) {
    let mut conn = redis_connection(url).await;
    let groups: redis::Value = match redis::cmd("XINFO").arg("GROUPS").arg(key).query_async(&mut conn).await {
        Ok(value) => value,
        Err(_) => return (None, None),
    };
    let redis::Value::Array(groups) = groups else { return (None, None) };
    for entry in groups {
        let fields: Vec<(String, redis::Value)> = match entry {
            redis::Value::Map(pairs) => pairs
                .into_iter()
                .filter_map(|(k, v)| redis::from_redis_value::<String>(k).ok().map(|k| (k, v)))
                .collect(),
            redis::Value::Array(items) => items
                .chunks(2)
                .filter_map(|pair| {
                    let key = redis::from_redis_value::<String>(pair.first()?.clone()).ok()?;
                    Some((key, pair.get(1)?.clone()))
                })
                .collect(),
            _ => continue,
        };
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let name = field("name").and_then(|v| redis::from_redis_value::<String>(v).ok());
        if name.as_deref() != Some(group) {
            continue;
        }
        let lag = field("lag").and_then(|v| redis::from_redis_value::<u64>(v).ok());
        let pending = field("pending").and_then(|v| redis::from_redis_value::<u64>(v).ok());
        return (lag, pending);
    }
    (None, None)
}
