//! A PostgreSQL cluster and a Redis server of the test's own, on free loopback ports with their
//! data in the test's folder, so the test can crash and restart them without disturbing the shared
//! servers other tests use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster made with `initdb` for one test. PostgreSQL refuses to run as root, so as
/// root (the tests run as root here and in CI) its programs run as the `postgres` user.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// `initdb`, start, and an empty `tocsin` database.
    pub async fn init(dir: &Path) -> Postgres {
        let as_postgres = running_as_root();
        let postgres = Postgres {
            bin: postgres_bin_dir(),
            data: dir.join("pgdata"),
            log: dir.join("postgres.log"),
            port: tocsin_testkit::free_port(),
            as_postgres,
        };
        create_private_dir(&postgres.data);
        std::fs::File::create(&postgres.log).unwrap_or_else(|e| panic!("{}: {e}", postgres.log.display()));
        if as_postgres {
            let (uid, gid) = postgres_user();
            for path in [&postgres.data, &postgres.log] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown postgres {}: {e}", path.display()));
            }
        }
        let data = postgres.data.display().to_string();
        // Trust on a loopback-only cluster that lives as long as the test; `--no-sync` only skips
        // initdb's own flush, the server still fsyncs every commit.
        run(
            postgres.command("initdb").args([
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )
        .await;
        let settings = format!(
            "\n# The fault suite's own cluster.\nlisten_addresses = '127.0.0.1'\nport = {}\n\
             unix_socket_directories = ''\nmax_connections = 100\nshared_buffers = 32MB\nfsync = on\n",
            postgres.port
        );
        let conf = postgres.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
        postgres.start().await;

        let admin = postgres.url_of("postgres");
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
        let connection = tokio::spawn(connection);
        client.batch_execute("CREATE DATABASE tocsin").await.expect("CREATE DATABASE");
        drop(client);
        let _ = connection.await;
        postgres
    }

    /// The `tocsin` database.
    pub fn url(&self) -> String {
        self.url_of("tocsin")
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub async fn start(&self) {
        let data = self.data.display().to_string();
        let log = self.log.display().to_string();
        run(self.command("pg_ctl").args(["-D", &data, "-l", &log, "-w", "-t", "60", "start"]), "pg_ctl start").await;
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once, without a checkpoint, as a
    /// crash would; the next start recovers from the write-ahead log.
    pub async fn crash(&self) {
        let data = self.data.display().to_string();
        run(self.command("pg_ctl").args(["-D", &data, "-m", "immediate", "-w", "stop"]), "pg_ctl stop").await;
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The postgres user must be able to stand in the working directory.
        command.current_dir(self.data.parent().unwrap_or(Path::new("/")));
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        };
        let stopped = command
            .current_dir(self.data.parent().unwrap_or(Path::new("/")))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(stopped, Ok(status) if status.success()) {
            eprintln!("warning: the fault suite's PostgreSQL in {} may still run", self.data.display());
        }
    }
}

/// A Redis server with the append-only file on and `appendfsync always`: Redis writes and
/// fsyncs every write before it answers, so a killed server comes back with everything it
/// acknowledged. (With `everysec`, the default of `scripts/local-infra.sh`, a kill loses nothing
/// in practice either, but a machine crash can lose up to about a second of acknowledged writes:
/// see docs/reliability.md.)
pub struct RedisServer {
    dir: PathBuf,
    pub port: u16,
    /// The port of the primary this server replicates, if it is a replica.
    replica_of: Option<u16>,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start(dir: &Path) -> RedisServer {
        RedisServer::start_in(dir.join("redis"), None).await
    }

    /// A replica of `primary` (`--replicaof`), with its files in `dir`/`name`, as a high-availability
    /// Redis runs one: it takes the primary's whole data set, then every write after it.
    pub async fn start_replica(dir: &Path, name: &str, primary: &RedisServer) -> RedisServer {
        RedisServer::start_in(dir.join(name), Some(primary.port)).await
    }

    async fn start_in(dir: PathBuf, replica_of: Option<u16>) -> RedisServer {
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut redis = RedisServer { dir, port: tocsin_testkit::free_port(), replica_of, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL, as an out-of-memory kill or a crashed node would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing redis-server");
        }
    }

    /// Starts the server (again) on its port, from its append-only file.
    pub async fn restart(&mut self) {
        let dir = self.dir.display().to_string();
        let log = self.dir.join("redis.log").display().to_string();
        let replica_of = match self.replica_of {
            Some(primary) => vec!["--replicaof".to_owned(), "127.0.0.1".to_owned(), primary.to_string()],
            None => Vec::new(),
        };
        let child = Command::new(crate::tools::binary("redis-server", "redis-server"))
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--dir", &dir, "--logfile", &log])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
            .args(["--maxmemory-policy", "noeviction", "--daemonize", "no"])
            .args(&replica_of)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while !self.answers().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {START_TIMEOUT:?}; see {log}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else { return false };
        redis::cmd("PING").query_async::<String>(&mut connection).await.is_ok()
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|meta| meta.uid() == 0).unwrap_or(false)
}

/// The `postgres` OS user's uid and gid, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .expect("no `postgres` user: install Debian's `postgresql` package (.ci/run does)")
}

/// The newest `/usr/lib/postgresql/<version>/bin`, as `scripts/local-infra.sh` picks it.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("no PostgreSQL server under /usr/lib/postgresql: install Debian's `postgresql`")
}

fn create_private_dir(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

async fn run(command: &mut Command, what: &str) {
    let output = match tokio::time::timeout(START_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("{what}: {error}"),
        Err(_) => panic!("{what} took longer than {START_TIMEOUT:?}"),
    };
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
