//! `make bench`: how fast tocsin turns alerts into incidents on this machine, and how close that
//! comes to what the machine itself allows.
//!
//! Started by `scripts/bench.sh` with release binaries, a database of its own and the local Redis.
//! It runs the services as separate processes on free local ports (`tocsin_loadgen::bench`, whose
//! modules are the parts used here), in these phases:
//!
//! 1. ingest alone: webhooks of 10 alerts posted by 64 concurrent clients for `BENCH_SECONDS`;
//!    the alerts per second answered with 202 (all of them durably on the stream). Then the same
//!    against a Redis primary with a replica of its own, without and with `INGEST_WAIT_REPLICAS=1`
//!    (ingest answers once the replica holds the alerts): what waiting costs.
//! 2. the whole pipeline, flat out: the same load with unique alerts over 500 correlation keys
//!    while incident-core applies them; alerts per second from the first post until the last one
//!    is committed, and the CPU each program spent per alert.
//! 3. the whole pipeline, sustained: the highest rate it keeps up with, offered for
//!    `BENCH_SECONDS` per step.
//! 4. latency at a fixed 1,000 alerts per second (a 10-alert webhook every 10 ms): for each alert,
//!    the time from its 202 until its incident event appears on the events stream, which
//!    incident-core writes only after the commit (an upper bound of 202-to-commit). Each second's
//!    p99 is printed with what Redis and PostgreSQL did in the background that second.
//! 5. bursts of 10,000 alerts posted at once: first alerts that join existing incidents, then a
//!    storm where every alert opens an incident of its own (10,000 services); the time until all
//!    are committed, the CPU per alert, the write-ahead log and the incidents' row versions.
//! 6. the ceiling, with the services stopped: PostgreSQL writing the rows those alerts produce in
//!    incident-core's batch shape, alone and with incident-core's every statement; Redis taking
//!    the alerts stream's entries. Each rate above is then shown as a fraction of its ceiling.
//!
//! Then the peak resident memory (VmHWM) of each service. The last line is machine-readable:
//! `bench: ingest_alerts_per_s=N e2e_alerts_per_s=N e2e_p50_ms=N e2e_p99_ms=N max_rss_mb=N
//! storm_incidents_per_s=N pg_ceiling_alerts_per_s=N redis_ceiling_alerts_per_s=N
//! e2e_of_pg_ceiling=F ingest_of_redis_ceiling=F`

use anyhow::bail;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tocsin_bus::{BusSettings, Stream};
use tocsin_loadgen::bench::ceiling::{self, PostgresRun, RedisRun, Scratch, Shape, Statements};
use tocsin_loadgen::bench::load::{self, SustainedSearch, UniqueBodies};
use tocsin_loadgen::bench::replica::RedisPair;
use tocsin_loadgen::bench::report::{self, Latencies, Summary, against_ceiling};
use tocsin_loadgen::bench::sampling::{self, BackgroundWork, CpuTime, DatabaseActivity};
use tocsin_loadgen::bench::streams::{self, PhaseStreams};
use tocsin_loadgen::bench::supervisor::{PeakMemory, Program, Stack};
use tocsin_loadgen::bench::{ALERTS_PER_WEBHOOK, Settings};
use tokio::sync::Mutex;

/// A rate is sustained when every webhook offered at it for the phase is accepted and the alerts
/// stream is drained, everything committed, within this long of the last one.
const KEPT_UP_WITHIN: Duration = Duration::from_secs(1);
/// Alerts in each burst of phase 5.
const BURST: u64 = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let run = OffsetDateTime::now_utc().unix_timestamp();
    let mut peaks = PeakMemory::default();
    let removed = streams::delete_earlier_runs(&settings.redis_url).await?;
    if removed > 0 {
        println!("deleted {removed} streams of earlier runs");
    }

    let (ingest_rate, alert_entries) = ingest_alone(&settings, run, &mut peaks).await?;
    let (without_wait, with_wait) = ingest_waiting_for_a_replica(&settings, run, &mut peaks).await?;
    println!(
        "ingest with a replica: waiting for it keeps {:.2} of the rate without waiting",
        report::fraction(with_wait, without_wait)
    );

    let streams = PhaseStreams::new(&settings.redis_url, &streams::prefix(run, "pipeline"))?;
    let stack = Stack::start(&settings, &Program::ALL, &streams::prefix(run, "pipeline")).await?;
    let ingest = stack.addr(Program::Ingest)?.to_owned();
    let flat_out_rate = flat_out(&settings, &ingest, &streams).await?;
    let sustained_rate = sustained(&settings, &ingest, &streams, flat_out_rate).await?;
    let latencies = latency(&settings, &ingest, &streams).await?;
    let (database, connection) = tokio_postgres::connect(&settings.database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let join_rate = burst(&ingest, &streams, &database, Burst::Join, run).await?;
    let storm_rate = burst(&ingest, &streams, &database, Burst::Storm, run).await?;
    let events = streams.sample_events(BURST as usize).await?;
    stack.stop(&mut peaks).await;
    streams.delete().await?;

    let ceilings = ceilings(&settings, run, alert_entries, events).await?;
    let pg = ceilings.join.rate();
    println!("against the ceiling: {}", against_ceiling("ingest alone", ingest_rate, "Redis", ceilings.redis.rate()));
    println!(
        "against the ceiling: {}",
        against_ceiling("end to end, sustained", sustained_rate as f64, "PostgreSQL", pg)
    );
    println!("against the ceiling: {}", against_ceiling("end to end, flat out", flat_out_rate, "PostgreSQL", pg));
    println!("against the ceiling: {}", against_ceiling("a burst joining incidents", join_rate, "PostgreSQL", pg));
    println!(
        "against the ceiling: {}",
        against_ceiling("incident-core's statements alone, joining", ceilings.join_as_tocsin.rate(), "PostgreSQL", pg)
    );
    let open = ceilings.open.rate();
    println!("against the ceiling: {}", against_ceiling("the storm", storm_rate, "PostgreSQL opening-incidents", open));
    println!(
        "against the ceiling: {}",
        against_ceiling(
            "incident-core's statements alone, opening",
            ceilings.open_as_tocsin.rate(),
            "PostgreSQL opening-incidents",
            open
        )
    );
    println!(
        "storm against joining: {} incidents/s opened = {:.2} of the {} alerts/s that join incidents",
        report::rate(storm_rate),
        report::fraction(storm_rate, join_rate),
        report::rate(join_rate)
    );

    println!("load average at the end: {}", sampling::load_average());
    for (name, kb) in peaks.by_service() {
        println!("peak RSS {name}: {:.1} MB", kb as f64 / 1024.0);
    }
    let summary = Summary {
        ingest_alerts_per_s: ingest_rate,
        e2e_alerts_per_s: sustained_rate,
        e2e_p50_ms: latencies.p(0.50),
        e2e_p99_ms: latencies.p(0.99),
        max_rss_mb: peaks.max_mb(),
        storm_incidents_per_s: storm_rate,
        pg_ceiling_alerts_per_s: pg,
        redis_ceiling_alerts_per_s: ceilings.redis.rate(),
    };
    println!("{}", summary.line());
    Ok(())
}

/// Phase 1: ingest alone, nothing consuming. Returns its rate and a sample of the entries it
/// wrote, the real entries for the Redis ceiling.
async fn ingest_alone(settings: &Settings, run: i64, peaks: &mut PeakMemory) -> anyhow::Result<(f64, Vec<String>)> {
    let prefix = streams::prefix(run, "ingest");
    let streams = PhaseStreams::new(&settings.redis_url, &prefix)?;
    let stack = Stack::start(settings, &[Program::Ingest], &prefix).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuTime::now();
    let elapsed = load::flat_out(stack.addr(Program::Ingest)?, settings.seconds, sent.clone(), false).await?;
    let cpu = CpuTime::now().since(&cpu_before);
    let sent = sent.load(Ordering::SeqCst);
    let rate = sent as f64 / elapsed.as_secs_f64();
    println!("ingest alone: {sent} alerts in {:.1} s = {rate:.0} alerts/s", elapsed.as_secs_f64());
    println!("ingest alone: CPU per alert, in microseconds: {}", cpu.per_alert(sent));
    let entries = streams.sample_alert_entries(1_000).await?;
    stack.stop(peaks).await;
    streams.delete().await?;
    Ok((rate, entries))
}

/// Phase 1b: ingest alone against a Redis primary with a replica of its own, answering once the
/// primary has a webhook's alerts, then once the replica has them too (`INGEST_WAIT_REPLICAS=1`):
/// what waiting costs, on a replica one loopback hop away. Returns the two rates.
async fn ingest_waiting_for_a_replica(
    settings: &Settings,
    run: i64,
    peaks: &mut PeakMemory,
) -> anyhow::Result<(f64, f64)> {
    let pair = RedisPair::start().await?;
    let on_pair = Settings { redis_url: pair.primary_url.clone(), ..settings.clone() };
    let mut rates = [0.0; 2];
    for (rate, (label, replicas)) in rates.iter_mut().zip([("not waiting", "0"), ("waiting for it", "1")]) {
        let prefix = streams::prefix(run, &format!("replica-{replicas}"));
        let streams = PhaseStreams::new(&on_pair.redis_url, &prefix)?;
        let stack =
            Stack::start_with(&on_pair, &[Program::Ingest], &prefix, &[("INGEST_WAIT_REPLICAS", replicas)]).await?;
        let sent = Arc::new(AtomicU64::new(0));
        let cpu_before = CpuTime::now();
        let elapsed = load::flat_out(stack.addr(Program::Ingest)?, settings.seconds, sent.clone(), false).await?;
        let cpu = CpuTime::now().since(&cpu_before);
        let sent = sent.load(Ordering::SeqCst);
        *rate = sent as f64 / elapsed.as_secs_f64();
        println!(
            "ingest with a replica, {label}: {sent} alerts in {:.1} s = {:.0} alerts/s",
            elapsed.as_secs_f64(),
            *rate
        );
        println!("ingest with a replica, {label}: CPU per alert, in microseconds: {}", cpu.per_alert(sent));
        stack.stop(peaks).await;
        streams.delete().await?;
    }
    Ok((rates[0], rates[1]))
}

/// Phase 2: the pipeline, flat out. Returns alerts per second from the first post to the last
/// commit.
async fn flat_out(settings: &Settings, ingest: &str, streams: &PhaseStreams) -> anyhow::Result<f64> {
    let sent = Arc::new(AtomicU64::new(0));
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    load::flat_out(ingest, settings.seconds, sent.clone(), true).await?;
    let posted = sent.load(Ordering::SeqCst);
    streams.drained(Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    let cpu = CpuTime::now().since(&cpu_before);
    let rate = posted as f64 / elapsed.as_secs_f64();
    println!("pipeline flat out: {posted} alerts committed in {:.1} s = {rate:.0} alerts/s", elapsed.as_secs_f64());
    println!("pipeline flat out: CPU per alert, in microseconds: {}", cpu.per_alert(posted));
    Ok(rate)
}

/// Phase 3: the highest rate, in steps of 500 alerts/s, that the pipeline keeps up with (see
/// [`KEPT_UP_WITHIN`]). Flat out, ingest and the load generator take the CPU for more alerts than
/// the rest can commit; at a rate the pipeline sustains they take only their share, which is what
/// a steady stream of alerts costs.
async fn sustained(settings: &Settings, ingest: &str, streams: &PhaseStreams, flat_out: f64) -> anyhow::Result<u64> {
    let bodies = UniqueBodies::new(OffsetDateTime::now_utc());
    // Webhook numbers of their own: the alerts are new, not resends of the earlier phases'.
    let mut next_webhook = 20_000_000u64;
    let mut search = SustainedSearch::from(flat_out);
    for _ in 0..8 {
        let rate = search.rate;
        let offered = load::offer(ingest, &bodies, rate, settings.seconds, &mut next_webhook).await?;
        let last_answered = Instant::now();
        streams.drained(Duration::from_secs(600)).await?;
        let drained_after = last_answered.elapsed();
        // The offer itself must have been made: a load generator that fell behind its own
        // schedule offered less than `rate`, whatever the pipeline did with it.
        let kept_up =
            offered.accepted == offered.alerts && offered.rate >= rate as f64 * 0.97 && drained_after <= KEPT_UP_WITHIN;
        println!(
            "sustained: {rate} alerts/s for {} s {}, drained {:.2} s after the last webhook",
            settings.seconds,
            if kept_up { "kept up" } else { "fell behind" },
            drained_after.as_secs_f64()
        );
        if search.next(kept_up).is_none() {
            break;
        }
    }
    let best = search.best.unwrap_or(0);
    println!("sustained: {best} alerts/s end to end");
    Ok(best)
}

/// Phase 4: latency at 1,000 alerts/s, from each alert's 202 to its event on the events stream.
async fn latency(settings: &Settings, ingest: &str, streams: &PhaseStreams) -> anyhow::Result<Latencies> {
    const RATE: u64 = 1_000;
    let seen_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watcher = streams.watch_applied(streams.last_event_id().await?, seen_at.clone());
    let background = BackgroundWork::watch(&settings.database_url, &settings.redis_url).await?;
    let accepted_at = load::at_fixed_rate(ingest, RATE, settings.seconds.max(10), 1_000_000_000).await?;
    streams.drained(Duration::from_secs(120)).await?;
    // Let the relay publish the last events.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let seen = seen_at.lock().await;
        if accepted_at.keys().all(|fingerprint| seen.contains_key(fingerprint)) {
            break;
        }
        drop(seen);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let latencies = Latencies::of(&accepted_at, &*seen_at.lock().await);
    let start = accepted_at.values().min().copied().unwrap_or_else(Instant::now);
    let background = background.stop(start, latencies.p99_by_second.len()).await;
    if latencies.missing > 0 {
        bail!("{} of {} alerts never showed an event", latencies.missing, accepted_at.len());
    }
    println!(
        "at {RATE} alerts/s: {} alerts, 202 to committed p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.sorted_ms.len(),
        latencies.p(0.50),
        latencies.p(0.99),
        latencies.p(1.0)
    );
    for line in report::latency_lines(RATE, &latencies, &background) {
        println!("{line}");
    }
    Ok(latencies)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Burst {
    /// New alerts of the ordinary load: each joins one of the incidents already open.
    Join,
    /// Every alert of a service of its own: each opens an incident.
    Storm,
}

/// Phase 5: [`BURST`] alerts posted at once; alerts (and, in the storm, incidents) per second from
/// the first post until the last is committed.
async fn burst(
    ingest: &str,
    streams: &PhaseStreams,
    database: &tokio_postgres::Client,
    kind: Burst,
    run: i64,
) -> anyhow::Result<f64> {
    let now = OffsetDateTime::now_utc();
    let webhooks = BURST / ALERTS_PER_WEBHOOK;
    let bodies: Vec<Bytes> = match kind {
        Burst::Join => {
            let unique = UniqueBodies::new(now);
            // Numbers of their own, after the sustained phase's.
            (0..webhooks).map(|w| Bytes::from(unique.body(40_000_000 + w))).collect()
        }
        Burst::Storm => {
            (0..webhooks).map(|w| Bytes::from(load::storm_body(w * ALERTS_PER_WEBHOOK, run, now))).collect()
        }
    };
    let incidents_before: i64 = database.query_one("SELECT count(*) FROM incidents", &[]).await?.get(0);
    let activity_before = DatabaseActivity::settled(database, "public").await?;
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    load::post_all(ingest, bodies).await?;
    streams.drained(Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    let cpu = CpuTime::now().since(&cpu_before);
    let activity = DatabaseActivity::settled(database, "public").await?.since(&activity_before);
    let opened = database.query_one("SELECT count(*) FROM incidents", &[]).await?.get::<_, i64>(0) - incidents_before;
    let rate = BURST as f64 / elapsed.as_secs_f64();
    let name = match kind {
        Burst::Join => "burst joining incidents",
        Burst::Storm => "storm",
    };
    match kind {
        Burst::Join => println!(
            "{name}: {BURST} alerts joining open incidents committed in {:.2} s = {} alerts/s",
            elapsed.as_secs_f64(),
            report::rate(rate)
        ),
        Burst::Storm => {
            if opened != BURST as i64 {
                bail!(
                    "the storm opened {opened} incidents, not {BURST}: its alerts did not all have keys of their own"
                );
            }
            println!(
                "{name}: {BURST} alerts, each opening an incident of its own, committed in {:.2} s = {} incidents/s",
                elapsed.as_secs_f64(),
                report::rate(rate)
            );
        }
    }
    println!("{name}: CPU per alert, in microseconds: {}", cpu.per_alert(BURST));
    println!(
        "{name}: PostgreSQL wrote {:.1} kB of WAL per alert; incidents inserted {}, updated {} ({} of them HOT, \
         without new index entries)",
        activity.wal_bytes as f64 / 1024.0 / BURST as f64,
        activity.incidents_inserted,
        activity.incidents_updated,
        activity.incidents_hot_updated
    );
    Ok(rate)
}

/// What the ceiling phase measured.
struct Ceilings {
    join: PostgresRun,
    join_as_tocsin: PostgresRun,
    open: PostgresRun,
    open_as_tocsin: PostgresRun,
    redis: RedisRun,
}

/// Phase 6: the machine's own limits, with the services stopped. `alert_entries`: entries ingest
/// wrote; `events`: events the relay published, the text of the outbox rows.
async fn ceilings(
    settings: &Settings,
    run: i64,
    alert_entries: Vec<String>,
    events: Vec<String>,
) -> anyhow::Result<Ceilings> {
    let seconds = (settings.seconds as f64 / 2.0).max(2.0);
    let mut scratch = Scratch::create(&settings.database_url, events).await?;
    let mut measure = async |shape, statements| -> anyhow::Result<PostgresRun> {
        let measured = scratch.run(shape, statements, seconds).await?;
        println!("{}", measured.line());
        Ok(measured)
    };
    let join = measure(Shape::Join, Statements::RowsOnly).await?;
    let join_as_tocsin = measure(Shape::Join, Statements::AsTocsin).await?;
    let open = measure(Shape::Open, Statements::RowsOnly).await?;
    let open_as_tocsin = measure(Shape::Open, Statements::AsTocsin).await?;
    scratch.drop().await?;

    let streams = PhaseStreams::new(&settings.redis_url, &streams::prefix(run, "ceiling"))?;
    let pool = BusSettings::default().pool_size;
    let redis = ceiling::redis(&settings.redis_url, &streams.key(Stream::Alerts), alert_entries, pool, seconds).await?;
    println!("{}", redis.line());
    streams.delete().await?;
    Ok(Ceilings { join, join_as_tocsin, open, open_as_tocsin, redis })
}
