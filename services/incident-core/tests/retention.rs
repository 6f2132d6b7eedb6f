//! Retention in a running incident-core, and the `archive` and `restore` subcommands as an
//! operator runs them: the real binary, a real PostgreSQL and a local archive folder.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel::QueryableByName;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_incident_core::Application;
use tocsin_incident_core::config::Config;
use tocsin_runtime::Env;
use tocsin_storage::integrity::{OrphanedRows, orphaned_rows};
use tocsin_testkit::{TestDatabase, TestRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An incident created at `at` (and resolved then, when `status` is resolved) with one alert and
/// one timeline entry, from then too.
async fn incident(conn: &mut AsyncPgConnection, status: &str, at: OffsetDateTime) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status,
                                source_fingerprint, source_starts_at, source_labels, opened_at, resolved_at, resolved_by,
                                created_at, updated_at)
         VALUES ($1, $1::text, 'Disk full — ünïcode', 'web', 'production', 'critical', 'sre', $2, 'fp', $3,
                 '{\"alertname\": \"DiskFull\"}', $3, CASE WHEN $2 = 'resolved' THEN $3 END,
                 CASE WHEN $2 = 'resolved' THEN 'tocsin' END, $3, $3)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await
    .expect("inserting an incident");
    for statement in [
        "INSERT INTO alerts (incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url,
                             receiver, group_key, first_received_at, last_received_at, last_firing_report_at)
         VALUES ($1, md5($1::text), $2, $2, 'resolved', '{}', '{}', '', 'tocsin', '{}', $2, $2, $2)",
        "INSERT INTO timeline_entries (incident_id, at, kind, actor, status, detail)
         VALUES ($1, $2, 'opened', 'alertmanager', 'open', '{\"alert\": null}')",
    ] {
        diesel::sql_query(statement)
            .bind::<SqlUuid, _>(id)
            .bind::<Timestamptz, _>(at)
            .execute(conn)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    id
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    row: String,
}

async fn rows(conn: &mut AsyncPgConnection, query: &str) -> Vec<String> {
    let rows: Vec<Row> = diesel::sql_query(query).load(conn).await.unwrap_or_else(|error| panic!("{query}: {error}"));
    rows.into_iter().map(|row| row.row).collect()
}

/// Every row of the incident tables, every column.
async fn contents(conn: &mut AsyncPgConnection) -> Vec<String> {
    diesel::sql_query("SET TIME ZONE 'UTC'").execute(conn).await.expect("execute");
    let mut all = Vec::new();
    for table in ["incidents", "alerts", "timeline_entries"] {
        all.extend(rows(conn, &format!("SELECT to_jsonb(t)::text AS row FROM {table} t ORDER BY id")).await);
    }
    all
}

fn temp_folder() -> PathBuf {
    std::env::temp_dir().join(format!("tocsin-retention-{}", Uuid::new_v4().simple()))
}

fn files_under(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(folder) {
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// `API_TOKEN`, which lets an operator see `/ready`'s detail.
const OPERATOR_TOKEN: &str = "operator-token-0123456789";
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_core_archives_then_deletes_expired_incidents_and_says_how_on_ready() {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new();
    let folder = temp_folder();
    let mut conn = db.connection().await;
    let now = OffsetDateTime::now_utc();
    let expired = incident(&mut conn, "resolved", now - time::Duration::days(200)).await;
    let open = incident(&mut conn, "open", now - time::Duration::days(200)).await;
    let recent = incident(&mut conn, "resolved", now - time::Duration::days(2)).await;

    let archive_url = format!("file://{}", folder.display());
    let env = Env::from_pairs([
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("STREAM_PREFIX", redis.prefix.as_str()),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("RETENTION_INTERVAL", "1s"),
        ("RETENTION_BATCH_PAUSE", "10ms"),
        ("ARCHIVE_URL", archive_url.as_str()),
        ("API_TOKEN", OPERATOR_TOKEN),
    ]);
    let config = Config::from_env(&env).expect("Config::from_env");
    let shutdown = CancellationToken::new();
    let app = Application::build(config, shutdown.clone()).await.expect("building");
    let port = app.port();
    let running = tokio::spawn(app.run_until_stopped());

    let mut left = Vec::new();
    for _ in 0..100 {
        left = rows(&mut conn, "SELECT id::text AS row FROM incidents ORDER BY id").await;
        if !left.contains(&expired.to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, [open.to_string(), recent.to_string()], "only the expired incident went");
    let orphans = orphaned_rows(&mut conn).await.expect("orphaned rows");
    assert_eq!(orphans, OrphanedRows::default(), "its alerts and timeline went with it");
    let day = (now - time::Duration::days(200)).date();
    let folder_day = day.format(time::macros::format_description!("[year]/[month]/[day]")).unwrap_or_default();
    assert_eq!(
        files_under(&folder),
        ["alerts", "incidents", "timeline_entries"]
            .map(|table| format!("{table}/{folder_day}/{table}-{day}.jsonl.gz"))
            .to_vec(),
        "the expired day archived before it was deleted, the open incident with it"
    );

    let client = reqwest::Client::new();
    // Anyone learns whether it is ready; the checks and details are for operators only.
    let anonymous: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/ready"))
        .send()
        .await
        .expect("sending the request")
        .json()
        .await
        .expect("reading the JSON body");
    assert_eq!(anonymous, serde_json::json!({"status": "ready"}));
    let ready: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/ready"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("sending the request")
        .json()
        .await
        .expect("reading the JSON body");
    assert_eq!(
        ready["detail"]["retention"],
        "batched deletes on plain PostgreSQL; incidents 90 d, command_outcomes 90 d, notification_deliveries 90 d every 1s",
        "{ready}"
    );
    assert_eq!(ready["detail"]["archive"], archive_url, "{ready}");
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("sending the request")
        .text()
        .await
        .unwrap_or_default();
    for line in [
        "tocsin_retention_rows_deleted_total{table=\"incidents\"} 1",
        "tocsin_retention_rows_deleted_total{table=\"alerts\"} 1",
        "tocsin_archive_objects_written_total{table=\"incidents\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    assert!(metrics.contains("tocsin_retention_runs_total{outcome=\"completed\"}"), "{metrics}");

    shutdown.cancel();
    let _ = running.await;
    let _ = std::fs::remove_dir_all(&folder);
}

fn subcommand(args: &[&str], database_url: &str, archive_url: Option<&str>) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin-incident-core"));
    command.args(args).env("DATABASE_URL", database_url).env("RUST_LOG", "info").env_remove("ARCHIVE_URL");
    if let Some(url) = archive_url {
        command.env("ARCHIVE_URL", url);
    }
    command.output().unwrap_or_else(|error| panic!("running tocsin-incident-core {args:?}: {error}"))
}

fn said(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_and_restore_subcommands_give_back_the_same_rows() {
    let source = TestDatabase::new().await;
    let folder = temp_folder();
    let archive_url = format!("file://{}", folder.display());
    let mut conn = source.connection().await;
    let now = OffsetDateTime::now_utc();
    let first = (now - time::Duration::days(30)).date();
    incident(&mut conn, "resolved", now - time::Duration::days(30)).await;
    incident(&mut conn, "open", now - time::Duration::days(29)).await;
    incident(&mut conn, "acknowledged", now - time::Duration::days(2)).await;
    let before = contents(&mut conn).await;

    // By default from the first day with rows to yesterday: all three days.
    let archived = subcommand(&["archive"], &source.url, Some(&archive_url));
    assert!(archived.status.success(), "{}", said(&archived));
    assert_eq!(files_under(&folder).len(), 9, "three tables on three days: {:?}", files_under(&folder));
    assert_eq!(before, contents(&mut conn).await, "archiving deletes nothing");

    let target = TestDatabase::new().await;
    let to = now.date().to_string();
    let restored = subcommand(&["restore", "--from", &first.to_string(), "--to", &to], &target.url, Some(&archive_url));
    assert!(restored.status.success(), "{}", said(&restored));
    assert!(said(&restored).contains("restored table"), "{}", said(&restored));
    assert_eq!(contents(&mut target.connection().await).await, before, "the restored rows are the archived rows");

    // Only the second day, only incidents: into a database that has them all already.
    let again = subcommand(
        &["restore", "--from", &(first.next_day().unwrap_or(first)).to_string(), "--to", &to, "--table", "incidents"],
        &target.url,
        Some(&archive_url),
    );
    assert!(again.status.success(), "{}", said(&again));
    assert_eq!(contents(&mut target.connection().await).await, before);

    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test]
async fn the_subcommands_name_what_is_wrong() {
    let db = TestDatabase::new().await;
    let folder = temp_folder();
    let archive_url = format!("file://{}", folder.display());
    for (args, archive, expected) in [
        (
            &["restore", "--to", "2026-01-31"][..],
            Some(archive_url.as_str()),
            "the following required arguments were not provided:\n  --from <YYYY-MM-DD>",
        ),
        (
            &["archive", "--from", "2026-02-30"][..],
            Some(archive_url.as_str()),
            "`2026-02-30` is not a day written YYYY-MM-DD",
        ),
        (&["archive", "--table", "incident"][..], Some(archive_url.as_str()), "unknown table `incident`"),
        (
            &["archive", "--from", "2026-02-02", "--to", "2026-02-01"][..],
            Some(archive_url.as_str()),
            "the range ends (2026-02-01) before it starts (2026-02-02)",
        ),
        (&["archive"][..], None, "ARCHIVE_URL is not set"),
        (
            &["archive"][..],
            Some("ftp://archive.example.com/tocsin"),
            "archive URL `ftp://archive.example.com/tocsin` is not usable",
        ),
        (
            &["restore", "--from", "2026-01-01", "--to", "2026-01-02"][..],
            Some(archive_url.as_str()),
            "nothing is archived at",
        ),
        (&["archive", "--since", "2026-01-01"][..], Some(archive_url.as_str()), "unexpected argument '--since' found"),
        (
            &["archive", "--last", "2", "--from", "2026-01-01"][..],
            Some(archive_url.as_str()),
            "the argument '--last <DAYS>' cannot be used with '--from <YYYY-MM-DD>'",
        ),
    ] {
        let output = subcommand(args, &db.url, archive);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(said(&output).contains(expected), "{args:?}: expected {expected:?} in:\n{}", said(&output));
    }
    let help = subcommand(&["--help"], &db.url, None);
    assert!(help.status.success(), "{}", said(&help));
    for listed in ["serve", "migrate", "archive", "restore"] {
        assert!(said(&help).lines().any(|line| line.trim_start().starts_with(listed)), "{listed}: {}", said(&help));
    }
    let help = subcommand(&["restore", "--help"], &db.url, None);
    assert!(help.status.success(), "{}", said(&help));
    assert!(
        said(&help).contains("Usage: tocsin-incident-core restore [OPTIONS] --from <YYYY-MM-DD> --to <YYYY-MM-DD>")
            && said(&help).contains("--table <TABLE>"),
        "{}",
        said(&help)
    );
}
