//! The machine's own limit for the work an alert must do, with no tocsin logic in between.
//!
//! - **PostgreSQL**: the rows an alert produces, written with incident-core's own statements (the
//!   texts of `services/incident-core/src/incidents/statements.rs`, so the two cannot drift apart;
//!   the outbox row as `tocsin_storage::outbox` writes it) and in its batch shape: a batch of
//!   [`BATCH`] alerts split by correlation key into [`APPLY_SHARDS`] transactions that run at
//!   once, each on its own connection, over the same client library. An alert that joins an
//!   incident produces its alert row, its incident's update, a timeline entry and its event in the
//!   transaction's outbox row; one that opens an incident produces the incident instead of the
//!   update. The rows go into copies of the tables (same columns, indexes and constraints) in a
//!   schema of their own, dropped afterwards, so the phases after this one find the database as
//!   the pipeline left it.
//! - **Redis**: the alerts stream's entries, copied from what ingest wrote, appended by
//!   `XADD` in `MULTI/EXEC` blocks of one webhook's alerts (as ingest publishes them) over the bus's
//!   pool of connections.
//!
//! The same transactions are also run with every statement incident-core sends for them, its
//! locks and lookups included ([`Statements::AsTocsin`]), each statement timed: the difference to
//! the rows alone is what those statements cost, and what is left between that and the pipeline's
//! rate is incident-core's own work and the rest of the pipeline.

use super::load::alert_parts;
use super::sampling::{CpuTime, DatabaseActivity};
use super::{ALERTS_PER_WEBHOOK, KEYS, report};
use anyhow::{Context, bail};
use diesel::sql_types::{Array, Bytea, Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tocsin_domain::{CorrelationRule, IncidentFacts, TeamMapping, correlation};
use tocsin_incident_core::incidents::statements as incident_core;
use uuid::Uuid;

/// incident-core's `BATCH_SIZE` default: alerts read and applied together.
pub const BATCH: usize = 500;
/// incident-core's `APPLY_SHARDS` default: transactions a batch is split into, run at once.
pub const APPLY_SHARDS: usize = 2;

/// Whether each alert joins the incident of its correlation key (the ordinary load's alerts, over
/// [`KEYS`] keys, fall into at most 144 incidents: 12 services, 3 environments, 4 severities) or
/// opens one of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Join,
    Open,
}

/// Which statements a transaction sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statements {
    /// Only the rows the alerts produce: the ceiling.
    RowsOnly,
    /// What incident-core sends for new firing alerts (`intake/mod.rs`, `intake/firing.rs`,
    /// `intake/writes.rs`): advisory locks on the occurrences, the lookup of stored occurrences
    /// (dedup), the active incidents of the keys locked `FOR UPDATE`, for keys with none the
    /// resolved ones within the reopen window; new incidents inserted from arrays with their counts,
    /// arbitrated by the partial unique index and returned whole; the counts of joined incidents
    /// moved by one update.
    AsTocsin,
}

/// A statement of a transaction, in the order they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Begin,
    Locks,
    DedupLookup,
    IncidentLookup,
    ReopenLookup,
    InsertIncidents,
    InsertAlerts,
    UpdateIncidents,
    InsertTimeline,
    InsertOutbox,
    Commit,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Begin => "begin",
            Step::Locks => "advisory locks",
            Step::DedupLookup => "stored occurrences",
            Step::IncidentLookup => "incidents FOR UPDATE",
            Step::ReopenLookup => "reopen candidates",
            Step::InsertIncidents => "insert incidents",
            Step::InsertAlerts => "insert alerts",
            Step::UpdateIncidents => "update incident counts",
            Step::InsertTimeline => "insert timeline",
            Step::InsertOutbox => "insert outbox row",
            Step::Commit => "commit",
        }
    }
}

/// What one run of PostgreSQL transactions did.
#[derive(Debug, Clone)]
pub struct PostgresRun {
    pub shape: Shape,
    pub statements: Statements,
    pub alerts: u64,
    pub transactions: u64,
    pub elapsed: Duration,
    /// Wall time spent in each statement, over all connections.
    pub per_step: BTreeMap<Step, Duration>,
    pub cpu: CpuTime,
    pub activity: DatabaseActivity,
}

impl PostgresRun {
    pub fn rate(&self) -> f64 {
        self.alerts as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// "insert alerts 3.1 ms, …": milliseconds per transaction in each statement.
    pub fn steps_line(&self) -> String {
        let per_transaction = |d: &Duration| d.as_secs_f64() * 1000.0 / self.transactions.max(1) as f64;
        self.per_step
            .iter()
            .map(|(step, spent)| format!("{} {:.2}", step.name(), per_transaction(spent)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn line(&self) -> String {
        let what = match (self.shape, self.statements) {
            (Shape::Join, Statements::RowsOnly) => "alerts joining incidents, rows only",
            (Shape::Join, Statements::AsTocsin) => "alerts joining incidents, incident-core's statements",
            (Shape::Open, Statements::RowsOnly) => "alerts opening incidents, rows only",
            (Shape::Open, Statements::AsTocsin) => "alerts opening incidents, incident-core's statements",
        };
        format!(
            "ceiling: PostgreSQL, {what}: {} alerts in {:.1} s = {} alerts/s; {} transactions of {} on {} \
             connections; ms per transaction: {}; postgres CPU {:.0} µs and WAL {:.1} kB per alert",
            self.alerts,
            self.elapsed.as_secs_f64(),
            report::rate(self.rate()),
            self.transactions,
            BATCH / APPLY_SHARDS,
            APPLY_SHARDS,
            self.steps_line(),
            self.cpu.micros_per_alert("postgres", self.alerts),
            self.activity.wal_bytes as f64 / 1024.0 / self.alerts.max(1) as f64,
        )
    }
}

/// Copies of the tables an alert writes, in a schema of their own, and the connections that write
/// them.
pub struct Scratch {
    database_url: String,
    schema: String,
    connections: Vec<AsyncPgConnection>,
    observer: tokio_postgres::Client,
    /// The incidents alerts join, by correlation key of the ordinary load.
    joined: HashMap<String, Uuid>,
    /// The sampled events, as the outbox holds them.
    events: Vec<String>,
    /// Alerts written so far, to keep fingerprints and keys unique across runs.
    written: u64,
    run: i64,
}

impl Scratch {
    /// Creates the schema and its tables, connects [`APPLY_SHARDS`] writers to it, and inserts the
    /// incidents the join runs add to. `events`: real events, whose text fills the outbox rows.
    pub async fn create(database_url: &str, events: Vec<String>) -> anyhow::Result<Scratch> {
        if events.is_empty() {
            bail!("the ceiling needs a sample of real events to write as outbox rows");
        }
        let schema = format!("bench_ceiling_{}", std::process::id());
        let mut setup = AsyncPgConnection::establish(database_url).await?;
        let tables = ["incidents", "alerts", "timeline_entries", "outbox"]
            .iter()
            .map(|table| format!("CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL);"))
            .collect::<String>();
        setup
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; {tables}"))
            .await
            .context("creating the ceiling's tables")?;
        let mut connections = Vec::with_capacity(APPLY_SHARDS);
        for _ in 0..APPLY_SHARDS {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            // The statements then read exactly as incident-core's, unqualified.
            conn.batch_execute(&format!("SET search_path TO {schema}, public")).await?;
            connections.push(conn);
        }
        let (observer, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let mut scratch = Scratch {
            database_url: database_url.to_owned(),
            schema,
            connections,
            observer,
            joined: HashMap::new(),
            events,
            written: 0,
            run: OffsetDateTime::now_utc().unix_timestamp(),
        };
        // The incidents of the ordinary load's keys, one each, as incident-core opened them.
        let templates = Templates::new(OffsetDateTime::now_utc(), KEYS as usize);
        let mut firsts: HashMap<&str, usize> = HashMap::new();
        for (n, template) in templates.alerts.iter().enumerate() {
            firsts.entry(template.correlation_key.as_str()).or_insert(n);
        }
        let seed = transaction(
            &templates,
            firsts.into_values().collect(),
            "seed",
            Incidents::Open { same_keys: true },
            &scratch.events,
        );
        let first = scratch.connections.first_mut().context("no ceiling connection")?;
        run_transaction(first, &seed, Statements::RowsOnly).await?;
        scratch.joined = seed.correlation_keys.into_iter().zip(seed.incident_ids).collect();
        Ok(scratch)
    }

    /// Writes batches of [`BATCH`] alerts of `shape` with `statements` for about `seconds`.
    pub async fn run(&mut self, shape: Shape, statements: Statements, seconds: f64) -> anyhow::Result<PostgresRun> {
        // Fresh statistics, as autovacuum keeps them on the real tables: without any, PostgreSQL
        // reads the whole alerts table for the stored-occurrences lookup instead of its index
        // (6 ms instead of 0.25 ms at 60,000 alerts, growing with the table).
        let tables =
            ["incidents", "alerts", "timeline_entries", "outbox"].map(|table| format!("{}.{table}", self.schema));
        self.observer.batch_execute(&format!("ANALYZE {}", tables.join(", "))).await?;
        let now = OffsetDateTime::now_utc();
        let templates = Templates::new(now, BATCH);
        let label = format!("{}-{}", self.run, self.written);
        let activity_before = DatabaseActivity::settled(&self.observer, &self.schema).await?;
        let cpu_before = CpuTime::now();
        let mut per_step = BTreeMap::new();
        let (mut alerts, mut transactions) = (0u64, 0u64);
        let started = Instant::now();
        let mut spent_preparing = Duration::ZERO;
        while started.elapsed().as_secs_f64() < seconds {
            let preparing = Instant::now();
            // Alert n of the batch is the ordinary load's alert n; the batch is split by correlation
            // key, as incident-core splits it.
            let incidents = match shape {
                Shape::Join => Incidents::Join(&self.joined),
                Shape::Open => Incidents::Open { same_keys: false },
            };
            let shards: Vec<Transaction> = shard_numbers(&templates)
                .into_iter()
                .map(|numbers| transaction(&templates, numbers, &format!("{label}-{alerts}"), incidents, &self.events))
                .collect();
            spent_preparing += preparing.elapsed();
            let results = join_all(
                self.connections.iter_mut().zip(&shards).map(|(conn, shard)| run_transaction(conn, shard, statements)),
            )
            .await;
            for result in results {
                for (step, spent) in result? {
                    *per_step.entry(step).or_insert(Duration::ZERO) += spent;
                }
                transactions += 1;
            }
            alerts += BATCH as u64;
        }
        // The rows of the next batch are made while no transaction runs: not PostgreSQL's time.
        let elapsed = started.elapsed().saturating_sub(spent_preparing);
        self.written += alerts;
        Ok(PostgresRun {
            shape,
            statements,
            alerts,
            transactions,
            elapsed,
            per_step,
            cpu: CpuTime::now().since(&cpu_before),
            activity: DatabaseActivity::settled(&self.observer, &self.schema).await?.since(&activity_before),
        })
    }

    /// Drops the schema and its tables.
    pub async fn drop(self) -> anyhow::Result<()> {
        drop(self.connections);
        let mut conn = AsyncPgConnection::establish(&self.database_url).await?;
        conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)).await?;
        Ok(())
    }
}

/// The parts of one alert that do not change from batch to batch.
struct Template {
    labels: Value,
    annotations: Value,
    generator_url: String,
    group_key: String,
    facts: IncidentFacts,
    correlation_key: String,
    alertname: String,
    instance: String,
}

/// [`Template`]s of alerts 0 to n - 1 of the ordinary load, made once per run.
struct Templates {
    now: OffsetDateTime,
    alerts: Vec<Template>,
}

/// The rows of one transaction, made before it starts.
struct Transaction {
    shape: Shape,
    /// The incident of each alert: the one it joins, or the one it opens.
    incident_ids: Vec<Uuid>,
    fingerprints: Vec<String>,
    occurrence_keys: Vec<String>,
    correlation_keys: Vec<String>,
    digests: Vec<Vec<u8>>,
    /// Which template each alert is made from.
    templates: Vec<usize>,
    starts_at: OffsetDateTime,
    events: String,
    event_ids: Vec<Uuid>,
    rows: Arc<Templates>,
}

impl Templates {
    fn new(now: OffsetDateTime, count: usize) -> Arc<Templates> {
        let rule = CorrelationRule::default();
        let teams = TeamMapping::default();
        let alerts = (0..count as u64)
            .map(|n| {
                let parts = alert_parts(n, now);
                let facts = IncidentFacts::from_alert(&parts.labels, &parts.annotations, &teams);
                let correlation_key = rule.key(&facts, &parts.labels).as_str().to_owned();
                Template {
                    alertname: parts.labels.get("alertname").cloned().unwrap_or_default(),
                    instance: parts.labels.get("instance").cloned().unwrap_or_default(),
                    labels: json!(parts.labels),
                    annotations: json!(parts.annotations),
                    generator_url: parts.generator_url,
                    group_key: parts.group_key,
                    facts,
                    correlation_key,
                }
            })
            .collect();
        Arc::new(Templates { now, alerts })
    }
}

/// The incidents of a transaction's alerts.
#[derive(Clone, Copy)]
enum Incidents<'a> {
    /// Each alert joins the incident of its correlation key.
    Join(&'a HashMap<String, Uuid>),
    /// Each alert opens an incident: of its own correlation key, or of its template's
    /// (`same_keys`, for incidents that later alerts join).
    Open { same_keys: bool },
}

/// The numbers of a batch's alerts in each of [`APPLY_SHARDS`] shards, by a hash of their
/// correlation key, as incident-core splits a batch.
fn shard_numbers(templates: &Templates) -> Vec<Vec<usize>> {
    let mut shards = vec![Vec::new(); APPLY_SHARDS];
    for n in 0..BATCH {
        let mut hasher = DefaultHasher::new();
        templates.alerts[n % templates.alerts.len()].correlation_key.hash(&mut hasher);
        shards[(hasher.finish() % APPLY_SHARDS as u64) as usize].push(n);
    }
    shards
}

/// The rows of alerts `numbers` (of the templates) in one transaction, with fingerprints (and, for
/// new keys, correlation keys) unique to `label`.
fn transaction(
    templates: &Arc<Templates>,
    numbers: Vec<usize>,
    label: &str,
    incidents: Incidents<'_>,
    events: &[String],
) -> Transaction {
    let indices: Vec<usize> = numbers.iter().map(|n| n % templates.alerts.len()).collect();
    let fingerprints: Vec<String> = numbers.iter().map(|n| format!("{label}-{n:05}")).collect();
    let correlation_keys: Vec<String> = indices
        .iter()
        .zip(&fingerprints)
        .map(|(&t, fingerprint)| match incidents {
            Incidents::Open { same_keys: false } => format!("{}|{fingerprint}", templates.alerts[t].correlation_key),
            _ => templates.alerts[t].correlation_key.clone(),
        })
        .collect();
    let (shape, incident_ids) = match incidents {
        Incidents::Join(joined) => {
            (Shape::Join, correlation_keys.iter().map(|key| joined.get(key).copied().unwrap_or_default()).collect())
        }
        Incidents::Open { .. } => (Shape::Open, numbers.iter().map(|_| Uuid::now_v7()).collect()),
    };
    let mut event_text = String::from("[");
    for i in 0..numbers.len() {
        if i > 0 {
            event_text.push(',');
        }
        event_text.push_str(&events[i % events.len()]);
    }
    event_text.push(']');
    Transaction {
        shape,
        incident_ids,
        occurrence_keys: fingerprints.iter().map(|f| format!("{f}@{}", templates.now.unix_timestamp_nanos())).collect(),
        digests: correlation_keys.iter().map(|key| correlation::digest(key)).collect(),
        correlation_keys,
        fingerprints,
        templates: indices,
        starts_at: templates.now,
        event_ids: numbers.iter().map(|_| Uuid::now_v7()).collect(),
        events: event_text,
        rows: templates.clone(),
    }
}

/// Runs one transaction and returns the time each statement took.
async fn run_transaction(
    conn: &mut AsyncPgConnection,
    tx: &Transaction,
    statements: Statements,
) -> anyhow::Result<Vec<(Step, Duration)>> {
    let mut spent = Vec::with_capacity(11);
    let mut timed = Instant::now();
    let mut lap = |step: Step, spent: &mut Vec<(Step, Duration)>| {
        spent.push((step, timed.elapsed()));
        timed = Instant::now();
    };
    let now = OffsetDateTime::now_utc();
    let rows = &tx.rows;
    let template = |i: usize| &rows.alerts[tx.templates[i]];
    let count = tx.fingerprints.len();

    diesel::sql_query("BEGIN").execute(conn).await?;
    lap(Step::Begin, &mut spent);
    if statements != Statements::RowsOnly {
        diesel::sql_query(incident_core::LOCK_OCCURRENCES)
            .bind::<Array<Text>, _>(&tx.occurrence_keys)
            .execute(conn)
            .await?;
        lap(Step::Locks, &mut spent);
        diesel::sql_query(
            "SELECT id, incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url, \
             receiver, group_key, first_received_at, last_received_at, last_firing_report_at \
             FROM alerts WHERE fingerprint = ANY($1)",
        )
        .bind::<Array<Text>, _>(&tx.fingerprints)
        .execute(conn)
        .await?;
        lap(Step::DedupLookup, &mut spent);
        diesel::sql_query(
            "SELECT correlation_key, id FROM incidents WHERE correlation_digest = ANY($1) AND status <> 'resolved' \
             ORDER BY id FOR UPDATE",
        )
        .bind::<Array<Bytea>, _>(&tx.digests)
        .execute(conn)
        .await?;
        lap(Step::IncidentLookup, &mut spent);
        if tx.shape == Shape::Open {
            diesel::sql_query(
                "SELECT id, correlation_key, resolved_at FROM incidents WHERE correlation_digest = ANY($1) \
                 AND status = 'resolved' AND resolved_at > $2 ORDER BY correlation_digest, resolved_at DESC",
            )
            .bind::<Array<Bytea>, _>(&tx.digests)
            .bind::<Timestamptz, _>(tx.starts_at - time::Duration::hours(1))
            .execute(conn)
            .await?;
            lap(Step::ReopenLookup, &mut spent);
        }
    }

    if tx.shape == Shape::Open {
        // The incidents as they stand after their first alert; incident-core's insert is
        // arbitrated by the partial unique index on active keys and returns the rows the events
        // carry, the rows alone are not.
        let insert = match statements {
            Statements::AsTocsin => incident_core::OPEN_INCIDENTS,
            Statements::RowsOnly => incident_core::INSERT_INCIDENT_ROWS,
        };
        let inserted = diesel::sql_query(insert)
            .bind::<Array<SqlUuid>, _>(&tx.incident_ids)
            .bind::<Array<Text>, _>(&tx.correlation_keys)
            .bind::<Array<Text>, _>((0..count).map(|i| template(i).facts.title.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>((0..count).map(|i| template(i).facts.service.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>((0..count).map(|i| template(i).facts.environment.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>((0..count).map(|i| template(i).facts.severity.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>((0..count).map(|i| template(i).facts.team.as_str()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                (0..count).map(|i| template(i).facts.runbook_url.as_deref()).collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(&tx.fingerprints)
            .bind::<Array<Timestamptz>, _>(vec![tx.starts_at; count])
            .bind::<Array<Jsonb>, _>((0..count).map(|i| &template(i).labels).collect::<Vec<_>>())
            .bind::<Array<Int4>, _>(vec![1; count])
            .bind::<Array<Int4>, _>(vec![1; count])
            .bind::<Timestamptz, _>(now)
            .execute(conn)
            .await?;
        if inserted != count {
            bail!("{inserted} of {count} incidents inserted");
        }
        lap(Step::InsertIncidents, &mut spent);
    }

    diesel::sql_query(incident_core::INSERT_ALERTS)
        .bind::<Array<SqlUuid>, _>(&tx.incident_ids)
        .bind::<Array<Text>, _>(&tx.fingerprints)
        .bind::<Array<Timestamptz>, _>(vec![tx.starts_at; count])
        .bind::<Array<Nullable<Timestamptz>>, _>(vec![None::<OffsetDateTime>; count])
        .bind::<Array<Text>, _>(vec!["firing"; count])
        .bind::<Array<Jsonb>, _>((0..count).map(|i| &template(i).labels).collect::<Vec<_>>())
        .bind::<Array<Jsonb>, _>((0..count).map(|i| &template(i).annotations).collect::<Vec<_>>())
        .bind::<Array<Text>, _>((0..count).map(|i| template(i).generator_url.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(vec!["tocsin"; count])
        .bind::<Array<Text>, _>((0..count).map(|i| template(i).group_key.as_str()).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(vec![now; count])
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    lap(Step::InsertAlerts, &mut spent);

    // Joining, every alert moves its incident's counts; opened incidents have theirs already.
    if tx.shape == Shape::Join {
        let mut per_incident: BTreeMap<Uuid, i32> = BTreeMap::new();
        for id in &tx.incident_ids {
            *per_incident.entry(*id).or_insert(0) += 1;
        }
        diesel::sql_query(incident_core::ADD_TO_COUNTS)
            .bind::<Array<SqlUuid>, _>(per_incident.keys().copied().collect::<Vec<_>>())
            .bind::<Array<Int4>, _>(per_incident.values().copied().collect::<Vec<_>>())
            .bind::<Array<Int4>, _>(per_incident.values().copied().collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(vec![tx.starts_at; per_incident.len()])
            .bind::<Timestamptz, _>(now)
            .execute(conn)
            .await?;
        lap(Step::UpdateIncidents, &mut spent);
    }

    let (kind, status) = match tx.shape {
        Shape::Join => ("alert_added", None),
        Shape::Open => ("opened", Some("open")),
    };
    let details: Vec<Value> = (0..count)
        .map(|i| {
            json!({ "alert": {
                "fingerprint": tx.fingerprints[i],
                "alertname": template(i).alertname,
                "instance": template(i).instance,
                "state": "firing",
                "starts_at": tx.starts_at.unix_timestamp(),
            }})
        })
        .collect();
    diesel::sql_query(incident_core::INSERT_TIMELINE)
        .bind::<Array<SqlUuid>, _>(&tx.incident_ids)
        .bind::<Array<Timestamptz>, _>(vec![tx.starts_at; count])
        .bind::<Array<Text>, _>(vec![kind; count])
        .bind::<Array<Text>, _>(vec!["alertmanager"; count])
        .bind::<Array<Nullable<Text>>, _>(vec![status; count])
        .bind::<Array<Jsonb>, _>(details)
        .execute(conn)
        .await?;
    lap(Step::InsertTimeline, &mut spent);

    diesel::sql_query("INSERT INTO outbox (events, event_ids, traceparents) VALUES ($1, $2, $3)")
        .bind::<Text, _>(&tx.events)
        .bind::<Array<SqlUuid>, _>(&tx.event_ids)
        .bind::<Array<Nullable<Text>>, _>(vec![None::<&str>; count])
        .execute(conn)
        .await?;
    lap(Step::InsertOutbox, &mut spent);
    diesel::sql_query("COMMIT").execute(conn).await?;
    lap(Step::Commit, &mut spent);
    Ok(spent)
}

/// What the Redis ceiling did.
#[derive(Debug, Clone)]
pub struct RedisRun {
    pub alerts: u64,
    pub elapsed: Duration,
    pub entry_bytes: usize,
    pub connections: usize,
    pub cpu: CpuTime,
}

impl RedisRun {
    pub fn rate(&self) -> f64 {
        self.alerts as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn line(&self) -> String {
        format!(
            "ceiling: Redis, alert entries ({} bytes on average) by XADD in MULTI/EXEC blocks of {ALERTS_PER_WEBHOOK} \
             over {} connections: {} alerts in {:.1} s = {} alerts/s; redis CPU {:.1} µs per alert",
            self.entry_bytes,
            self.connections,
            self.alerts,
            self.elapsed.as_secs_f64(),
            report::rate(self.rate()),
            self.cpu.micros_per_alert("redis", self.alerts),
        )
    }
}

/// Appends `entries` (the exact text of alert entries, reused in turn) to the stream `key` for
/// `seconds`, in `MULTI/EXEC` blocks of one webhook's alerts, from `connections` connections.
pub async fn redis(
    redis_url: &str,
    key: &str,
    entries: Vec<String>,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<RedisRun> {
    if entries.is_empty() {
        bail!("the Redis ceiling needs a sample of real alert entries");
    }
    let entry_bytes = entries.iter().map(String::len).sum::<usize>() / entries.len();
    let entries = Arc::new(entries);
    let appended = Arc::new(AtomicU64::new(0));
    let client = redis::Client::open(redis_url)?;
    let mut writers = Vec::with_capacity(connections);
    for writer in 0..connections {
        // A connection each, as the bus's pool gives each concurrent publish its own.
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (entries, appended, key) = (entries.clone(), appended.clone(), key.to_owned());
        writers.push(async move {
            let started = Instant::now();
            let mut n = writer * ALERTS_PER_WEBHOOK as usize;
            while started.elapsed().as_secs_f64() < seconds {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for _ in 0..ALERTS_PER_WEBHOOK {
                    pipe.cmd("XADD").arg(&key).arg("*").arg("envelope").arg(entries[n % entries.len()].as_str());
                    n += 1;
                }
                let _: Vec<String> = pipe.query_async(&mut conn).await?;
                appended.fetch_add(ALERTS_PER_WEBHOOK, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    let cpu_before = CpuTime::now();
    let started = Instant::now();
    for result in join_all(writers).await {
        result?;
    }
    Ok(RedisRun {
        alerts: AtomicU64::load(&appended, Ordering::SeqCst),
        elapsed: started.elapsed(),
        entry_bytes,
        connections,
        cpu: CpuTime::now().since(&cpu_before),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_by_key_and_its_alerts_join_their_keys_incidents() {
        let templates = Templates::new(OffsetDateTime::now_utc(), BATCH);
        let shards = shard_numbers(&templates);
        assert_eq!(shards.len(), APPLY_SHARDS);
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), BATCH);
        let keys_of = |shard: &Vec<usize>| -> std::collections::HashSet<String> {
            shard.iter().map(|&n| templates.alerts[n].correlation_key.clone()).collect()
        };
        assert!(keys_of(&shards[0]).is_disjoint(&keys_of(&shards[1])), "a key's alerts are all in one shard");
        let all_keys: std::collections::HashSet<String> =
            templates.alerts.iter().map(|t| t.correlation_key.clone()).collect();
        assert!(all_keys.len() <= 144, "12 services, 3 environments, 4 severities: {}", all_keys.len());

        let joined: HashMap<String, Uuid> = all_keys.iter().map(|key| (key.clone(), Uuid::now_v7())).collect();
        let events = vec![r#"{"kind":"alert_added"}"#.to_owned()];
        let join = transaction(&templates, shards[0].clone(), "t", Incidents::Join(&joined), &events);
        assert_eq!(join.shape, Shape::Join);
        for (key, id) in join.correlation_keys.iter().zip(&join.incident_ids) {
            assert_eq!(joined.get(key), Some(id), "an alert joins its key's incident");
        }
        let distinct: std::collections::HashSet<_> = join.fingerprints.iter().collect();
        assert_eq!(distinct.len(), join.fingerprints.len());
        let events_written = serde_json::from_str::<Value>(&join.events).ok().and_then(|v| v.as_array().map(Vec::len));
        assert_eq!(events_written, Some(shards[0].len()), "an event per alert in the outbox row");

        let open = transaction(&templates, shards[1].clone(), "u", Incidents::Open { same_keys: false }, &events);
        let keys: std::collections::HashSet<_> = open.correlation_keys.iter().collect();
        assert_eq!(keys.len(), shards[1].len(), "every alert opening an incident has a key of its own");
        assert!(open.incident_ids.iter().all(|id| !joined.values().any(|j| j == id)));
        assert_eq!(open.digests[0], correlation::digest(&open.correlation_keys[0]));
    }

    #[test]
    fn steps_are_shown_per_transaction_in_statement_order() {
        let run = PostgresRun {
            shape: Shape::Join,
            statements: Statements::RowsOnly,
            alerts: 1_000,
            transactions: 4,
            elapsed: Duration::from_millis(40),
            per_step: BTreeMap::from([
                (Step::Commit, Duration::from_millis(8)),
                (Step::InsertAlerts, Duration::from_millis(12)),
            ]),
            cpu: CpuTime::default(),
            activity: DatabaseActivity { wal_bytes: 2_048_000, ..DatabaseActivity::default() },
        };
        assert_eq!(run.rate(), 25_000.0);
        assert_eq!(run.steps_line(), "insert alerts 3.00, commit 2.00");
        let line = run.line();
        assert!(line.contains("25,000 alerts/s") && line.contains("WAL 2.0 kB per alert"), "{line}");
    }
}
