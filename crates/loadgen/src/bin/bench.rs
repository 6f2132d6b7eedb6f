//! `make bench`: how fast tocsin turns alerts into incidents on this machine.
//!
//! Started by `scripts/bench.sh` with release binaries, a fresh database and the local Redis. It
//! runs the services itself, as separate processes on fixed local ports, in four phases:
//!
//! 1. ingest alone: webhooks of 10 alerts posted by 64 concurrent clients for `BENCH_SECONDS`;
//!    reports the alerts per second answered with 202 (all of them durably on the stream).
//! 2. the whole pipeline, flat out: the same load with unique alerts over 500 correlation keys
//!    while incident-core applies them; reports alerts per second from the first post until the
//!    last one is committed, and the CPU each program spent per alert.
//! 3. the whole pipeline, sustained: the highest rate it keeps up with (`sustained`), offered for
//!    `BENCH_SECONDS` per step.
//! 4. latency at a fixed 1,000 alerts per second (a 10-alert webhook every 10 ms): for each alert,
//!    the time from its 202 until its incident event appears on the events stream, which
//!    incident-core writes only after the commit (an upper bound of 202-to-commit). Each second's
//!    p99 is printed with what Redis and PostgreSQL did in the background that second.
//!
//! Then the peak resident memory (VmHWM) of each service. The last line is machine-readable:
//! `bench: ingest_alerts_per_s=N e2e_alerts_per_s=N e2e_p50_ms=N e2e_p99_ms=N max_rss_mb=N`

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tocsin_loadgen::poster::Poster;
use tocsin_loadgen::synthetic;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

const TOKEN: &str = "bench-token-0123456789";
const ALERTS_PER_WEBHOOK: u64 = 10;
const CLIENTS: usize = 64;
/// Connections the sustained phase posts over: enough that 12,000 alerts/s keep going with
/// answers as slow as 100 ms.
const OFFER_CONNECTIONS: usize = 128;
const KEYS: u64 = 500;

struct Settings {
    bin_dir: String,
    database_url: String,
    redis_url: String,
    seconds: u64,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run `make bench`"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings {
        bin_dir: env("BENCH_BIN_DIR")?,
        database_url: env("BENCH_DATABASE_URL")?,
        redis_url: env("REDIS_URL")?,
        seconds: std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10),
    };
    let run = OffsetDateTime::now_utc().unix_timestamp();
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let mut peak_rss_kb: HashMap<&str, u64> = HashMap::new();
    delete_earlier_runs(&settings.redis_url).await?;

    // 1. ingest alone.
    let prefix = format!("bench-{run}-ingest");
    let mut ingest = spawn(&settings, "tocsin-ingest", "127.0.0.1:18181", &prefix)?;
    wait_ready(&http, "127.0.0.1:18181").await?;
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuTime::now();
    let elapsed = blast("127.0.0.1:18181", settings.seconds, sent.clone(), false).await?;
    let cpu = CpuTime::now().since(&cpu_before);
    let ingest_rate = sent.load(Ordering::SeqCst) as f64 / elapsed.as_secs_f64();
    println!(
        "ingest alone: {} alerts in {:.1} s = {ingest_rate:.0} alerts/s",
        sent.load(Ordering::SeqCst),
        elapsed.as_secs_f64()
    );
    println!("ingest alone: CPU per alert, in microseconds: {}", cpu.per_alert(sent.load(Ordering::SeqCst)));
    record_peak(&mut peak_rss_kb, "ingest", &ingest);
    stop(&mut ingest).await;
    delete_streams(&settings.redis_url, &prefix).await?;

    // 2. and 3. the whole pipeline.
    let prefix = format!("bench-{run}-pipeline");
    let mut services = vec![
        ("ingest", spawn(&settings, "tocsin-ingest", "127.0.0.1:18181", &prefix)?, "127.0.0.1:18181"),
        ("incident-core", spawn(&settings, "tocsin-incident-core", "127.0.0.1:18182", &prefix)?, "127.0.0.1:18182"),
        ("query", spawn(&settings, "tocsin-query", "127.0.0.1:18180", &prefix)?, "127.0.0.1:18180"),
        ("notifier", spawn(&settings, "tocsin-notifier", "127.0.0.1:18183", &prefix)?, "127.0.0.1:18183"),
    ];
    for (_, _, addr) in &services {
        wait_ready(&http, addr).await?;
    }
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    blast("127.0.0.1:18181", settings.seconds, sent.clone(), true).await?;
    let posted = sent.load(Ordering::SeqCst);
    drained(&settings.redis_url, &format!("{prefix}:alerts"), Duration::from_secs(600)).await?;
    let e2e_elapsed = started.elapsed();
    let cpu = CpuTime::now().since(&cpu_before);
    let e2e_rate = posted as f64 / e2e_elapsed.as_secs_f64();
    println!(
        "pipeline flat out: {posted} alerts committed in {:.1} s = {e2e_rate:.0} alerts/s",
        e2e_elapsed.as_secs_f64()
    );
    println!("pipeline flat out: CPU per alert, in microseconds: {}", cpu.per_alert(posted));

    let sustained_rate = sustained(&settings, &prefix, e2e_rate).await?;

    let latencies = fixed_rate(&http, &settings, &prefix, 1_000, settings.seconds.max(10)).await?;
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    println!(
        "at 1000 alerts/s: {} alerts, 202 to committed p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 1.0)
    );

    for (name, child, _) in &mut services {
        record_peak(&mut peak_rss_kb, name, child);
        stop(child).await;
    }
    delete_streams(&settings.redis_url, &prefix).await?;
    let mut names: Vec<_> = peak_rss_kb.iter().collect();
    names.sort();
    for (name, kb) in &names {
        println!("peak RSS {name}: {:.1} MB", **kb as f64 / 1024.0);
    }
    let max_rss_mb = peak_rss_kb.values().copied().max().unwrap_or(0) as f64 / 1024.0;
    println!(
        "bench: ingest_alerts_per_s={ingest_rate:.0} e2e_alerts_per_s={sustained_rate} e2e_p50_ms={p50:.1} e2e_p99_ms={p99:.1} max_rss_mb={max_rss_mb:.1}"
    );
    Ok(())
}

fn spawn(settings: &Settings, binary: &str, listen: &str, prefix: &str) -> anyhow::Result<Child> {
    Command::new(format!("{}/{binary}", settings.bin_dir))
        .env("LISTEN_ADDR", listen)
        .env("DATABASE_URL", &settings.database_url)
        .env("REDIS_URL", &settings.redis_url)
        .env("INGEST_TOKEN", TOKEN)
        .env("API_TOKEN", TOKEN)
        .env("STREAM_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {binary} from {}", settings.bin_dir))
}

async fn wait_ready(http: &reqwest::Client, addr: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = http.get(format!("http://{addr}/ready")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} did not become ready")
}

async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

fn record_peak(peaks: &mut HashMap<&'static str, u64>, name: &'static str, child: &Child) {
    let kb = child
        .id()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let entry = peaks.entry(name).or_insert(0);
    *entry = (*entry).max(kb);
}

/// Posts webhooks from `CLIENTS` concurrent clients, each on a connection of its own, for
/// `seconds`; counts accepted alerts.
async fn blast(addr: &str, seconds: u64, accepted: Arc<AtomicU64>, unique: bool) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicU64::new(0));
    let now = OffsetDateTime::now_utc();
    // Bodies are prepared before the clock starts: building JSON here would measure the load
    // generator, which shares the machine with what it measures. Without `unique`, a few are
    // reused (ingest does not dedupe); with it, every webhook gets fresh fingerprints.
    let prepared: Arc<Vec<Bytes>> = Arc::new((0..64).map(|n| Bytes::from(body(n * ALERTS_PER_WEBHOOK, now))).collect());
    let unique_bodies = Arc::new(if unique { UniqueBodies::new(now) } else { UniqueBodies::default() });
    let mut posters = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        posters.push(Poster::connect(addr, "/alerts", TOKEN).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let clients = posters.into_iter().map(|mut poster| {
        let (next, accepted, prepared, unique_bodies) =
            (next.clone(), accepted.clone(), prepared.clone(), unique_bodies.clone());
        async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body =
                    if unique { Bytes::from(unique_bodies.body(n)) } else { prepared[(n % 64) as usize].clone() };
                let status = poster.post(body).await?;
                if status.as_u16() == 202 {
                    accepted.fetch_add(ALERTS_PER_WEBHOOK, Ordering::Relaxed);
                } else {
                    bail!("ingest answered {status}");
                }
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for result in join_all(clients).await {
        result?;
    }
    Ok(started.elapsed())
}

/// A rate is sustained when every webhook offered at it for the phase is accepted and the alerts
/// stream is drained, everything committed, within this long of the last one.
const KEPT_UP_WITHIN: Duration = Duration::from_secs(1);

/// The highest rate, in steps of 500 alerts/s, that the pipeline keeps up with (see
/// [`KEPT_UP_WITHIN`]): tried upwards from the flat-out rate while it keeps up, or downwards while
/// it does not. Flat out, ingest and the load generator take the CPU for more alerts than the rest
/// can commit; at a rate the pipeline sustains they take only their share, which is what a
/// steady stream of alerts costs.
async fn sustained(settings: &Settings, prefix: &str, flat_out: f64) -> anyhow::Result<u64> {
    const STEP: u64 = 500;
    let bodies = Arc::new(UniqueBodies::new(OffsetDateTime::now_utc()));
    // Webhook numbers of their own: the alerts are new, not resends of the earlier phases'.
    let mut next_webhook = 20_000_000u64;
    let mut rate = ((flat_out as u64) / STEP * STEP).max(STEP);
    let mut best: Option<u64> = None;
    let mut worst_failed: Option<u64> = None;
    for _ in 0..8 {
        let (kept_up, drained_after) = offer(settings, prefix, &bodies, rate, &mut next_webhook).await?;
        println!(
            "sustained: {rate} alerts/s for {} s {}, drained {:.2} s after the last webhook",
            settings.seconds,
            if kept_up { "kept up" } else { "fell behind" },
            drained_after.as_secs_f64()
        );
        if kept_up {
            best = best.max(Some(rate));
        } else {
            worst_failed = Some(worst_failed.map_or(rate, |failed: u64| failed.min(rate)));
        }
        rate = if kept_up {
            match worst_failed {
                Some(failed) if rate + STEP >= failed => break,
                Some(failed) if rate + 2 * STEP >= failed => rate + STEP,
                _ => rate + 2 * STEP,
            }
        } else {
            match best {
                Some(best) if best + STEP >= rate => break,
                Some(best) => best + STEP,
                None if rate <= STEP => break,
                None => rate - 2 * STEP,
            }
        };
    }
    let best = best.unwrap_or(0);
    println!("sustained: {best} alerts/s end to end");
    Ok(best)
}

/// Offers `rate` alerts per second of new alerts for the phase: a tick every 10 ms queues that
/// tick's share of webhooks, which `OFFER_CONNECTIONS` connections post as each comes free, so a
/// slow answer delays nothing else. Returns whether the pipeline kept up, and how long after the
/// last webhook it was drained.
async fn offer(
    settings: &Settings,
    prefix: &str,
    bodies: &Arc<UniqueBodies>,
    rate: u64,
    next_webhook: &mut u64,
) -> anyhow::Result<(bool, Duration)> {
    let (queue, queued) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let queued = Arc::new(Mutex::new(queued));
    let mut posters = Vec::with_capacity(OFFER_CONNECTIONS);
    for _ in 0..OFFER_CONNECTIONS {
        let mut poster = Poster::connect("127.0.0.1:18181", "/alerts", TOKEN).await?;
        let queued = queued.clone();
        posters.push(tokio::spawn(async move {
            let mut accepted = 0;
            loop {
                let Some(body) = queued.lock().await.recv().await else { break };
                if poster.post(body).await.is_ok_and(|status| status.as_u16() == 202) {
                    accepted += ALERTS_PER_WEBHOOK;
                }
            }
            accepted
        }));
    }
    let ticks = settings.seconds * 100;
    let webhooks_per_tick = rate as f64 / ALERTS_PER_WEBHOOK as f64 / 100.0;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut owed = 0.0;
    let mut offered = 0;
    let started = Instant::now();
    for _ in 0..ticks {
        ticker.tick().await;
        owed += webhooks_per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            queue.send(Bytes::from(bodies.body(*next_webhook)))?;
            *next_webhook += 1;
            offered += ALERTS_PER_WEBHOOK;
        }
    }
    drop(queue);
    let mut accepted = 0;
    for poster in posters {
        accepted += poster.await?;
    }
    let posted_in = started.elapsed();
    let last_answered = Instant::now();
    drained(&settings.redis_url, &format!("{prefix}:alerts"), Duration::from_secs(600)).await?;
    let drained_after = last_answered.elapsed();
    // The offer itself must have been made: a load generator that fell behind its own schedule
    // offered less than `rate`, whatever the pipeline did with it.
    let offered_on_time = offered as f64 / posted_in.as_secs_f64() >= rate as f64 * 0.97;
    Ok((accepted == offered && offered_on_time && drained_after <= KEPT_UP_WITHIN, drained_after))
}

/// Webhook `w` of the unique load, the one [`body`] gives for alerts `10w` to `10w + 9`, made by
/// copying a prepared body and writing the fingerprints into it. Everything else about alert `n`
/// repeats every [`UniqueBodies::PERIOD`] alerts, so that many alerts' worth of bodies serve for
/// any number.
#[derive(Default)]
struct UniqueBodies {
    /// Per webhook of one period: its body, and where each alert's 16 fingerprint digits start.
    prepared: Vec<(String, Vec<usize>)>,
}

impl UniqueBodies {
    /// A multiple of the synthetic alerts' periods: keys, rules and instance numbers.
    const PERIOD: u64 = 10_000;

    fn new(now: OffsetDateTime) -> UniqueBodies {
        let prepared = (0..Self::PERIOD / ALERTS_PER_WEBHOOK)
            .map(|w| {
                let body = body(w * ALERTS_PER_WEBHOOK, now);
                let marker = "\"fingerprint\":\"";
                let digits = body.match_indices(marker).map(|(at, _)| at + marker.len()).collect();
                (body, digits)
            })
            .collect();
        UniqueBodies { prepared }
    }

    fn body(&self, w: u64) -> String {
        let Some((template, digits)) = self.prepared.get((w % self.prepared.len().max(1) as u64) as usize) else {
            return body(w * ALERTS_PER_WEBHOOK, OffsetDateTime::now_utc());
        };
        let mut bytes = template.clone().into_bytes();
        for (i, &at) in digits.iter().enumerate() {
            let fingerprint = format!("{:016x}", w * ALERTS_PER_WEBHOOK + i as u64);
            bytes[at..at + 16].copy_from_slice(fingerprint.as_bytes());
        }
        String::from_utf8(bytes).unwrap_or_default()
    }
}

fn body(first: u64, now: OffsetDateTime) -> String {
    let alerts = (first..first + ALERTS_PER_WEBHOOK).map(|n| synthetic::alert(n, KEYS, now)).collect();
    synthetic::webhook(alerts).to_string()
}

async fn redis(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection().await?)
}

async fn delete_streams(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis(url).await?;
    for stream in ["alerts", "commands", "events", "alerts:dead-letter"] {
        let _: () = redis::cmd("DEL").arg(format!("{prefix}:{stream}")).query_async(&mut conn).await?;
    }
    Ok(())
}

/// Streams an interrupted run left behind. Hundreds of megabytes of them make every AOF rewrite
/// during the next run slower, and skew its figures.
async fn delete_earlier_runs(url: &str) -> anyhow::Result<()> {
    let mut conn = redis(url).await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg("bench-*").query_async(&mut conn).await?;
    if !keys.is_empty() {
        println!("deleting {} streams of earlier runs", keys.len());
        let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
    }
    Ok(())
}

/// Waits until incident-core's group has read and acknowledged everything on `key`.
async fn drained(url: &str, key: &str, limit: Duration) -> anyhow::Result<()> {
    let mut conn = redis(url).await?;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let groups: Vec<HashMap<String, redis::Value>> =
            redis::cmd("XINFO").arg("GROUPS").arg(key).query_async(&mut conn).await.unwrap_or_default();
        let done = groups.iter().any(|g| {
            let number = |field: &str| g.get(field).and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok());
            number("lag") == Some(0) && number("pending") == Some(0)
        });
        if done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{key} was not drained within {} s", limit.as_secs())
}

/// Sends `rate` alerts per second for `seconds` and returns, per alert, milliseconds from its 202
/// to its incident event on the events stream.
async fn fixed_rate(
    http: &reqwest::Client,
    settings: &Settings,
    prefix: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Vec<f64>> {
    let accepted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let events_key = format!("{prefix}:events");
    let mut conn = redis(&settings.redis_url).await?;
    let last_id: String = {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&events_key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        reply.ids.first().map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone())
    };
    let watcher = {
        let seen_at = seen_at.clone();
        let mut conn = redis(&settings.redis_url).await?;
        tokio::spawn(async move {
            let mut last_id = last_id;
            loop {
                let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(1000)
                    .arg("BLOCK")
                    .arg(200)
                    .arg("STREAMS")
                    .arg(&events_key)
                    .arg(&last_id)
                    .query_async(&mut conn)
                    .await
                    .ok()
                    .flatten();
                let arrived = Instant::now();
                let mut seen = seen_at.lock().await;
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    last_id = entry.id.clone();
                    let Some(raw) = entry.get::<String>("envelope") else { continue };
                    let Ok(envelope) = serde_json::from_str::<Value>(&raw) else { continue };
                    if let Some(fingerprint) = envelope["payload"]["detail"]["alert"]["fingerprint"].as_str() {
                        seen.entry(fingerprint.to_owned()).or_insert(arrived);
                    }
                }
            }
        })
    };

    let webhooks_per_second = rate / ALERTS_PER_WEBHOOK;
    let interval = Duration::from_secs(1) / webhooks_per_second as u32;
    let url = "http://127.0.0.1:18181/alerts".to_owned();
    let first = 1_000_000_000u64;
    let total = webhooks_per_second * seconds;
    let background = BackgroundWork::watch(settings).await?;
    let mut ticker = tokio::time::interval(interval);
    let mut in_flight = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let base = first + n * ALERTS_PER_WEBHOOK;
        let body = body(base, OffsetDateTime::now_utc());
        let (http, url, accepted_at) = (http.clone(), url.clone(), accepted_at.clone());
        in_flight.push(tokio::spawn(async move {
            let response =
                http.post(&url).bearer_auth(TOKEN).header("Content-Type", "application/json").body(body).send().await?;
            let answered = Instant::now();
            if response.status().as_u16() != 202 {
                bail!("ingest answered {}", response.status());
            }
            let mut accepted = accepted_at.lock().await;
            for alert in base..base + ALERTS_PER_WEBHOOK {
                accepted.insert(format!("{alert:016x}"), answered);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in in_flight {
        task.await??;
    }
    drained(&settings.redis_url, &format!("{prefix}:alerts"), Duration::from_secs(120)).await?;
    // Let the relay publish the last events.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complete = {
            let accepted = accepted_at.lock().await;
            let seen = seen_at.lock().await;
            accepted.keys().all(|k| seen.contains_key(k))
        };
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let background = background.stop().await;
    let accepted = accepted_at.lock().await;
    let seen = seen_at.lock().await;
    let mut latencies: Vec<f64> = accepted
        .iter()
        .filter_map(|(fingerprint, at)| {
            seen.get(fingerprint).map(|s| s.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    if latencies.len() < accepted.len() {
        bail!("{} of {} alerts never showed an event", accepted.len() - latencies.len(), accepted.len());
    }
    // When the tail happens tells its cause apart: a slow first second is the previous phase still
    // settling, a slow second in the middle a pause somewhere in the stack.
    if let Some(start) = accepted.values().min().copied() {
        let mut by_second: Vec<Vec<f64>> = Vec::new();
        for (fingerprint, at) in accepted.iter() {
            let Some(seen) = seen.get(fingerprint) else { continue };
            let second = at.saturating_duration_since(start).as_secs() as usize;
            if by_second.len() <= second {
                by_second.resize(second + 1, Vec::new());
            }
            by_second[second].push(seen.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
        let worst: Vec<String> = by_second
            .iter_mut()
            .map(|second| {
                second.sort_by(f64::total_cmp);
                format!("{:.0}", percentile(second, 0.99))
            })
            .collect();
        println!("at {rate} alerts/s: p99 ms in each second: {}", worst.join(" "));
        background.print_by_second(start, worst.len(), rate);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// What Redis and PostgreSQL did in the background during the latency phase, sampled every
/// 100 ms, so that a slow second can be told apart by its cause: Redis rewriting its append-only
/// file (a fork, then a child compressing the dataset), PostgreSQL's checkpointer writing buffers,
/// autovacuum finishing a table, or the kernel sitting on a pile of dirty pages (which, flushed,
/// makes a commit's WAL fsync wait). A role without `pg_read_all_stats` cannot see the autovacuum
/// workers themselves, only the runs they end (`pg_stat_user_tables`).
struct BackgroundWork {
    samples: Arc<Mutex<Vec<BackgroundSample>>>,
    sampler: tokio::task::JoinHandle<()>,
}

struct BackgroundSample {
    at: Instant,
    aof_rewrite: bool,
    checkpoint_buffers: i64,
    vacuums_ended: i64,
    /// The page cache's dirty data (`Dirty:` in `/proc/meminfo`), in kB.
    dirty_kb: i64,
}

/// `Dirty:` of `/proc/meminfo` in kB; 0 where there is no such file.
fn dirty_page_cache_kb() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            let line = meminfo.lines().find(|line| line.starts_with("Dirty:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

impl BackgroundWork {
    async fn watch(settings: &Settings) -> anyhow::Result<BackgroundWork> {
        let mut redis = redis(&settings.redis_url).await?;
        let (database, connection) = tokio_postgres::connect(&settings.database_url, tokio_postgres::NoTls).await?;
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

    async fn stop(self) -> BackgroundRecord {
        self.sampler.abort();
        BackgroundRecord { samples: std::mem::take(&mut *self.samples.lock().await) }
    }
}

struct BackgroundRecord {
    samples: Vec<BackgroundSample>,
}

impl BackgroundRecord {
    /// One line per kind of work, one figure per second of the phase, aligned with the p99 line.
    fn print_by_second(&self, start: Instant, seconds: usize, rate: u64) {
        let mut rewriting = vec![false; seconds];
        let mut buffers = vec![0i64; seconds];
        let mut vacuums = vec![0i64; seconds];
        let mut dirty_mb = vec![0i64; seconds];
        for pair in self.samples.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let Some(second) = after.at.checked_duration_since(start).map(|d| d.as_secs() as usize) else { continue };
            if second >= seconds {
                continue;
            }
            rewriting[second] |= after.aof_rewrite;
            buffers[second] += after.checkpoint_buffers - before.checkpoint_buffers;
            vacuums[second] += after.vacuums_ended - before.vacuums_ended;
            dirty_mb[second] = dirty_mb[second].max(after.dirty_kb / 1024);
        }
        let line = |values: Vec<String>| values.join(" ");
        println!(
            "at {rate} alerts/s: Redis rewriting its AOF in each second: {}",
            line(rewriting.iter().map(|&r| if r { "yes" } else { "-" }.to_owned()).collect())
        );
        println!(
            "at {rate} alerts/s: checkpoint buffers written in each second: {}",
            line(buffers.iter().map(i64::to_string).collect())
        );
        println!(
            "at {rate} alerts/s: autovacuum and autoanalyze runs ended in each second: {}",
            line(vacuums.iter().map(i64::to_string).collect())
        );
        println!(
            "at {rate} alerts/s: most dirty page cache in each second, MB: {}",
            line(dirty_mb.iter().map(i64::to_string).collect())
        );
    }
}

/// CPU time used so far by the processes of the pipeline, by program, from `/proc`: what each
/// part costs per alert, which varies far less from run to run than the rates do on a shared
/// machine. Reaped children count towards their parent (Redis's AOF rewrites, for one).
struct CpuTime {
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
    fn now() -> CpuTime {
        let mut ticks = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return CpuTime { ticks } };
        for entry in entries.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // `pid (comm) state ppid …`: the name may hold spaces, so split at the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let comm = &stat[open + 1..close];
            let Some((_, shown)) = PROGRAMS.iter().find(|(name, _)| *name == comm) else { continue };
            // Fields after the name, from `state` (field 3): utime, stime, cutime, cstime are
            // fields 14 to 17.
            let fields: Vec<u64> =
                stat[close + 1..].split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
            *ticks.entry(*shown).or_insert(0) += fields.iter().sum::<u64>();
        }
        CpuTime { ticks }
    }

    fn since(&self, before: &CpuTime) -> CpuTime {
        let ticks = self
            .ticks
            .iter()
            .map(|(name, now)| (*name, now.saturating_sub(before.ticks.get(name).copied().unwrap_or(0))))
            .collect();
        CpuTime { ticks }
    }

    fn per_alert(&self, alerts: u64) -> String {
        // Clock ticks are 1/100 s on Linux (USER_HZ).
        let micros = |ticks: u64| ticks as f64 * 10_000.0 / alerts.max(1) as f64;
        let mut parts: Vec<String> = PROGRAMS
            .iter()
            .map(|(_, shown)| format!("{shown} {:.0}", micros(self.ticks.get(shown).copied().unwrap_or(0))))
            .collect();
        parts.push(format!("total {:.0}", micros(self.ticks.values().sum())));
        parts.join(", ")
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_unique_bodies_are_the_bodies_themselves() {
        let now = OffsetDateTime::now_utc();
        let bodies = UniqueBodies::new(now);
        for w in [0, 1, 999, 1000, 1001, 23_456] {
            assert_eq!(bodies.body(w), body(w * ALERTS_PER_WEBHOOK, now), "webhook {w}");
        }
    }
}
