//! What the machine did while a phase ran, read from `/proc` and from PostgreSQL's statistics
//! views (which any role may read): the CPU time of each program, background work second by
//! second, the write-ahead log written and the row versions of the incidents table.

use super::streams;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// CPU time used so far by the processes of the pipeline, by program, from `/proc`: what each
/// part costs per alert, which varies far less from run to run than the rates do on a shared
/// machine. Reaped children count towards their parent (Redis's AOF rewrites, for one).
#[derive(Debug, Clone, Default)]
pub struct CpuTime {
    ticks: HashMap<&'static str, u64>,
}

/// `/proc/<pid>/comm` (at most 15 characters) of the programs measured, and how they are shown.
const PROGRAMS: &[(&str, &str)] = &[
    ("tocsin-ingest", "ingest"),
    ("tocsin-incident", "incident-core"),
    ("tocsin-notifier", "notifier"),
    ("tocsin-query", "query"),
    ("postgres", "postgres"),
    ("redis-server", "redis"),
    ("tocsin-bench", "load generator"),
];

impl CpuTime {
    pub fn now() -> CpuTime {
        let mut ticks = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return CpuTime { ticks } };
        for entry in entries.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            if let Some((comm, used)) = parse_stat(&stat)
                && let Some((_, shown)) = PROGRAMS.iter().find(|(name, _)| *name == comm)
            {
                *ticks.entry(*shown).or_insert(0) += used;
            }
        }
        CpuTime { ticks }
    }

    pub fn since(&self, before: &CpuTime) -> CpuTime {
        let ticks = self
            .ticks
            .iter()
            .map(|(name, now)| (*name, now.saturating_sub(before.ticks.get(name).copied().unwrap_or(0))))
            .collect();
        CpuTime { ticks }
    }

    /// Microseconds of CPU per alert of one program (as shown, e.g. "postgres").
    pub fn micros_per_alert(&self, program: &str, alerts: u64) -> f64 {
        ticks_to_micros(self.ticks.get(program).copied().unwrap_or(0), alerts)
    }

    /// Microseconds of CPU per alert of every program together.
    pub fn total_micros_per_alert(&self, alerts: u64) -> f64 {
        ticks_to_micros(self.ticks.values().sum(), alerts)
    }

    /// "ingest 13, incident-core 40, …, total 135": microseconds of CPU per alert by program.
    pub fn per_alert(&self, alerts: u64) -> String {
        let mut parts: Vec<String> =
            PROGRAMS.iter().map(|(_, shown)| format!("{shown} {:.0}", self.micros_per_alert(shown, alerts))).collect();
        parts.push(format!("total {:.0}", self.total_micros_per_alert(alerts)));
        parts.join(", ")
    }
}

fn ticks_to_micros(ticks: u64, alerts: u64) -> f64 {
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    ticks as f64 * 10_000.0 / alerts.max(1) as f64
}

/// The name and the CPU clock ticks (user, system, and of reaped children) of a
/// `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    // `pid (comm) state ppid …`: the name may hold spaces and parentheses, so split at the last ')'.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?;
    // Fields after the name, from `state` (field 3): utime, stime, cutime, cstime are fields 14 to 17.
    // A line cut short or a field that is not a number gives no figure rather than a smaller one.
    let mut ticks = 0;
    let mut fields = stat.get(close + 1..)?.split_whitespace().skip(11);
    for _ in 0..4 {
        ticks += fields.next()?.parse::<u64>().ok()?;
    }
    Some((comm, ticks))
}

/// The load average over 1, 5 and 15 minutes (`/proc/loadavg`), as shown; on a shared machine it
/// tells how much of it the bench had.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The peak resident set (`VmHWM:` of `/proc/<pid>/status`) of a process, in kB; 0 if unknown.
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| status_kb(&status, "VmHWM:"))
        .unwrap_or(0)
}

/// `Dirty:` of `/proc/meminfo` in kB; 0 where there is no such file.
pub fn dirty_page_cache_kb() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| status_kb(&meminfo, "Dirty:"))
        .map_or(0, |kb| kb as i64)
}

/// The number of a `Name:   1234 kB` line.
fn status_kb(text: &str, name: &str) -> Option<u64> {
    text.lines().find(|line| line.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

/// What PostgreSQL wrote for a phase, from two snapshots: write-ahead log bytes (every row and
/// index entry written ends up there, and a commit waits for it to be flushed) and the incidents
/// table's row versions. An update that changes no indexed column and finds room on the row's page
/// is "HOT": no index entries. Any other update writes an entry in each of the table's indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DatabaseActivity {
    pub wal_bytes: i64,
    pub incidents_inserted: i64,
    pub incidents_updated: i64,
    pub incidents_hot_updated: i64,
}

impl DatabaseActivity {
    /// The activity so far, with the row versions of the incidents table in `schema`.
    pub async fn now(database: &tokio_postgres::Client, schema: &str) -> anyhow::Result<DatabaseActivity> {
        // The row counts are those the backends have reported so far (see `settled`); the WAL
        // position is exact.
        let row = database
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8,
                        coalesce(sum(n_tup_ins), 0)::int8, coalesce(sum(n_tup_upd), 0)::int8,
                        coalesce(sum(n_tup_hot_upd), 0)::int8
                   FROM pg_stat_user_tables WHERE relname = 'incidents' AND schemaname = $1",
                &[&schema],
            )
            .await?;
        Ok(DatabaseActivity {
            wal_bytes: row.get(0),
            incidents_inserted: row.get(1),
            incidents_updated: row.get(2),
            incidents_hot_updated: row.get(3),
        })
    }

    /// The activity once the statistics stop moving: a backend hands PostgreSQL its counts of
    /// rows when it goes idle, up to several seconds later, so a snapshot right after a burst
    /// misses some. Reads every second until two agree, for at most 15 s.
    pub async fn settled(database: &tokio_postgres::Client, schema: &str) -> anyhow::Result<DatabaseActivity> {
        let mut last = DatabaseActivity::now(database, schema).await?;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = DatabaseActivity::now(database, schema).await?;
            if now.incidents_inserted == last.incidents_inserted && now.incidents_updated == last.incidents_updated {
                return Ok(now);
            }
            last = now;
        }
        Ok(last)
    }

    pub fn since(&self, before: &DatabaseActivity) -> DatabaseActivity {
        DatabaseActivity {
            wal_bytes: self.wal_bytes - before.wal_bytes,
            incidents_inserted: self.incidents_inserted - before.incidents_inserted,
            incidents_updated: self.incidents_updated - before.incidents_updated,
            incidents_hot_updated: self.incidents_hot_updated - before.incidents_hot_updated,
        }
    }
}

/// What Redis and PostgreSQL did in the background during a phase, sampled every 100 ms, so that
/// a slow second can be told apart by its cause: Redis rewriting its append-only file (a fork,
/// then a child compressing the dataset), PostgreSQL's checkpointer writing buffers, autovacuum
/// finishing a table, or the kernel sitting on a pile of dirty pages (which, flushed, makes a
/// commit's WAL fsync wait). A role without `pg_read_all_stats` cannot see the autovacuum workers
/// themselves, only the runs they end (`pg_stat_user_tables`).
pub struct BackgroundWork {
    samples: Arc<Mutex<Vec<BackgroundSample>>>,
    sampler: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy)]
struct BackgroundSample {
    at: Instant,
    aof_rewrite: bool,
    checkpoint_buffers: i64,
    vacuums_ended: i64,
    /// The page cache's dirty data (`Dirty:` in `/proc/meminfo`), in kB.
    dirty_kb: i64,
}

/// Background work second by second, one value per second of the phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackgroundBySecond {
    pub aof_rewriting: Vec<bool>,
    pub checkpoint_buffers: Vec<i64>,
    pub vacuums_ended: Vec<i64>,
    pub most_dirty_mb: Vec<i64>,
}

impl BackgroundWork {
    pub async fn watch(database_url: &str, redis_url: &str) -> anyhow::Result<BackgroundWork> {
        let mut redis = streams::connect(redis_url).await?;
        let (database, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let samples: Arc<Mutex<Vec<BackgroundSample>>> = Arc::default();
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(100));
                loop {
                    ticker.tick().await;
                    let persistence: String =
                        redis::cmd("INFO").arg("persistence").query_async(&mut redis).await.unwrap_or_default();
                    let Ok(row) = database
                        .query_one(
                            "SELECT (SELECT buffers_checkpoint FROM pg_stat_bgwriter),
                                    (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)::int8
                                       FROM pg_stat_user_tables)",
                            &[],
                        )
                        .await
                    else {
                        continue;
                    };
                    samples.lock().await.push(BackgroundSample {
                        at: Instant::now(),
                        aof_rewrite: persistence.contains("aof_rewrite_in_progress:1"),
                        checkpoint_buffers: row.get(0),
                        vacuums_ended: row.get(1),
                        dirty_kb: dirty_page_cache_kb(),
                    });
                }
            })
        };
        Ok(BackgroundWork { samples, sampler })
    }

    /// Stops sampling and sums the samples into the seconds of the phase that began at `start`.
    pub async fn stop(self, start: Instant, seconds: usize) -> BackgroundBySecond {
        self.sampler.abort();
        let samples = std::mem::take(&mut *self.samples.lock().await);
        by_second(&samples, start, seconds)
    }
}

fn by_second(samples: &[BackgroundSample], start: Instant, seconds: usize) -> BackgroundBySecond {
    let mut seen = BackgroundBySecond {
        aof_rewriting: vec![false; seconds],
        checkpoint_buffers: vec![0; seconds],
        vacuums_ended: vec![0; seconds],
        most_dirty_mb: vec![0; seconds],
    };
    for pair in samples.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let Some(second) = after.at.checked_duration_since(start).map(|d| d.as_secs() as usize) else { continue };
        if second >= seconds {
            continue;
        }
        seen.aof_rewriting[second] |= after.aof_rewrite;
        seen.checkpoint_buffers[second] += after.checkpoint_buffers - before.checkpoint_buffers;
        seen.vacuums_ended[second] += after.vacuums_ended - before.vacuums_ended;
        seen.most_dirty_mb[second] = seen.most_dirty_mb[second].max(after.dirty_kb / 1024);
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_ticks_even_with_spaces_in_the_name() {
        let stat = "4242 (tocsin (x) y) S 1 2 3 4 5 6 7 8 9 10 100 20 3 4 20 0 1 0 55 1000 200";
        assert_eq!(parse_stat(stat), Some(("tocsin (x) y", 127)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("4242 (tocsin) S 1 2 3 4 5 6 7 8 9 10 100 20"), None, "cstime missing");
    }

    #[test]
    fn cpu_time_is_shown_per_alert_by_program_with_a_total() {
        let before = CpuTime { ticks: HashMap::from([("postgres", 100), ("ingest", 50)]) };
        let after = CpuTime { ticks: HashMap::from([("postgres", 300), ("ingest", 60), ("redis", 20)]) };
        let used = after.since(&before);
        // 200 ticks of 10 ms over 10,000 alerts: 200 µs each.
        assert_eq!(used.micros_per_alert("postgres", 10_000), 200.0);
        assert_eq!(used.total_micros_per_alert(10_000), 230.0);
        let shown = used.per_alert(10_000);
        assert!(shown.starts_with("ingest 10, incident-core 0, "), "{shown}");
        assert!(shown.ends_with("redis 20, load generator 0, total 230"), "{shown}");
    }

    #[test]
    fn status_lines_are_read_in_kb() {
        let status = "Name:\ttocsin-ingest\nVmPeak:\t  100 kB\nVmHWM:\t   14336 kB\n";
        assert_eq!(status_kb(status, "VmHWM:"), Some(14_336));
        assert_eq!(status_kb(status, "Dirty:"), None);
        assert!(peak_rss_kb(std::process::id()) > 0, "this test's own process has a peak");
    }

    #[test]
    fn background_samples_fall_into_the_second_they_were_taken_in() {
        let start = Instant::now();
        let sample =
            |ms: u64, aof_rewrite: bool, checkpoint_buffers: i64, vacuums_ended: i64, dirty_kb: i64| BackgroundSample {
                at: start + Duration::from_millis(ms),
                aof_rewrite,
                checkpoint_buffers,
                vacuums_ended,
                dirty_kb,
            };
        let samples = [
            sample(0, false, 10, 1, 1024),
            sample(500, false, 15, 1, 4096),
            sample(1_200, true, 45, 2, 2048),
            sample(2_500, false, 45, 2, 0),
            sample(9_000, true, 99, 9, 99_999),
        ];
        let seen = by_second(&samples, start, 3);
        assert_eq!(seen.aof_rewriting, [false, true, false]);
        assert_eq!(seen.checkpoint_buffers, [5, 30, 0]);
        assert_eq!(seen.vacuums_ended, [0, 1, 0]);
        assert_eq!(seen.most_dirty_mb, [4, 2, 0], "past the phase is left out");
    }
}
