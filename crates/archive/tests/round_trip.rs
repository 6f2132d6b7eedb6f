//! Archive → restore against real stores: a local folder, Azure Blob Storage (Azurite) and S3
//! (moto's S3-compatible server). A
//! database with a row in every archived table (NULLs, JSON, Unicode, newlines, microseconds) is
//! archived day by day, restored into an empty database, and every row must come back exactly as
//! it was; archiving again writes nothing, restoring again inserts nothing, a day archived again
//! after a change keeps what it held, and a store that is not there is named in the error.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

mod support;

use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use support::azurite::Azurite;
use support::moto::Moto;
use time::{Date, Duration, OffsetDateTime};
use tocsin_archive::{Archive, ArchivedTable, Days, archive_days, restore_days};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

async fn sql(conn: &mut AsyncPgConnection, statement: &str) {
    diesel::sql_query(statement).execute(conn).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
}

/// Three days of rows: `first` holds a resolved incident with everything that can hang off it, the
/// next day an open one, the day after an acknowledged one whose alert started two days earlier
/// (filed with its incident all the same).
async fn seed(conn: &mut AsyncPgConnection, first: Date) -> [Uuid; 3] {
    let day = |n: i64, h: i64| {
        time::PrimitiveDateTime::new(first, time::Time::MIDNIGHT).assume_utc()
            + Duration::days(n)
            + Duration::hours(h)
            + Duration::microseconds(123_457)
    };
    let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let incidents = [
        (
            ids[0],
            "resolved",
            day(0, 3),
            "Disk full — ünïcode ✓\nsecond line, \"quoted\"",
            Some("https://runbooks.example.com/disk"),
        ),
        (ids[1], "open", day(1, 22), "CPU high", None),
        (ids[2], "acknowledged", day(2, 0), "Latency", None),
    ];
    for (id, status, at, title, runbook) in incidents {
        diesel::sql_query(
            "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status, assignee,
                                    runbook_url, source_fingerprint, source_starts_at, source_labels, alert_count,
                                    firing_count, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
                                    created_at, updated_at, version)
             VALUES ($1, $1::text, $4, 'web', 'production', 'critical', 'sre', $2,
                     CASE WHEN $2 = 'acknowledged' THEN 'Zoë' END, $5, 'be687c6c8d355525', $3 - interval '5 minutes',
                     '{\"alertname\": \"DiskFull\", \"nested\": {\"list\": [1, 2.5, null, true]}}', 1,
                     CASE WHEN $2 = 'resolved' THEN 0 ELSE 1 END, $3 - interval '5 minutes',
                     CASE WHEN $2 <> 'open' THEN $3 + interval '1 minute' END,
                     CASE WHEN $2 <> 'open' THEN 'api' END,
                     CASE WHEN $2 = 'resolved' THEN $3 + interval '1 hour' END,
                     CASE WHEN $2 = 'resolved' THEN 'tocsin' END, $3, $3 + interval '1 hour', 3)",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(status)
        .bind::<Timestamptz, _>(at)
        .bind::<Text, _>(title)
        .bind::<diesel::sql_types::Nullable<Text>, _>(runbook)
        .execute(conn)
        .await
        .unwrap_or_else(|error| panic!("inserting incident {id}: {error}"));
        diesel::sql_query(
            "INSERT INTO alerts (incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url,
                                 receiver, group_key, first_received_at, last_received_at, last_firing_report_at)
             VALUES ($1, md5($1::text), $2 - interval '2 days', CASE WHEN $3 = 'resolved' THEN $2 END,
                     CASE WHEN $3 = 'resolved' THEN 'resolved' ELSE 'firing' END,
                     '{\"service\": \"web\", \"instance\": \"web-01:9100\"}', '{\"summary\": \"the \\\"disk\\\" is full\"}',
                     'http://prometheus:9090/graph?g0.expr=up', 'tocsin', '{}:{service=\"web\"}', $2, $2, $2)",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .bind::<Text, _>(status)
        .execute(conn)
        .await
        .expect("inserting an alert");
        diesel::sql_query(
            "INSERT INTO timeline_entries (incident_id, at, kind, actor, status, detail)
             VALUES ($1, $2, 'opened', 'alertmanager', 'open', '{\"alert\": {\"fingerprint\": \"be687c6c8d355525\"}}'),
                    ($1, $2 + interval '1 minute', 'assigned', 'Zoë', NULL, '{\"assignee\": null}')",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .execute(conn)
        .await
        .expect("inserting timeline entries");
    }
    for (n, status) in [(0, "sent"), (1, "pending")] {
        diesel::sql_query(
            "INSERT INTO notification_deliveries (event_id, target, incident_id, event, status, attempts, next_attempt_at,
                                                  claimed_until, last_error, created_at, finished_at, traceparent)
             VALUES (gen_random_uuid(), 'payments-slack', $1, '{\"kind\": \"opened\"}', $2, 1, $3,
                     CASE WHEN $2 = 'pending' THEN $3 + interval '2 minutes' END,
                     CASE WHEN $2 = 'pending' THEN 'timeout after 10 s: \"no answer\"' END, $3,
                     CASE WHEN $2 = 'sent' THEN $3 + interval '1 second' END,
                     '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')",
        )
        .bind::<SqlUuid, _>(ids[n])
        .bind::<Text, _>(status)
        .bind::<Timestamptz, _>(day(n as i64, 5))
        .execute(conn)
        .await
        .expect("inserting a delivery");
        diesel::sql_query(
            "INSERT INTO command_outcomes (command_id, incident_id, action, actor, outcome, applied_at)
             VALUES (gen_random_uuid(), $1, 'acknowledge', 'Zoë', '{\"applied\": {\"version\": 2}}', $2)",
        )
        .bind::<SqlUuid, _>(ids[n])
        .bind::<Timestamptz, _>(day(n as i64, 6))
        .execute(conn)
        .await
        .expect("inserting a command outcome");
    }
    diesel::sql_query(
        "INSERT INTO notification_threads (incident_id, target, channel, reference)
         VALUES ($1, 'payments-slack', 'C0123', '1700000000.000100'), ($1, 'payments-github', 'acme/payments', '42')",
    )
    .bind::<SqlUuid, _>(ids[0])
    .execute(conn)
    .await
    .expect("inserting threads");
    // A step that paged a person and a channel, and one that reached nobody.
    diesel::sql_query(
        "INSERT INTO pages (incident_id, epoch, step, pass, user_id, channel, paged_at)
         VALUES ($1, 1, 0, 0, gen_random_uuid(), NULL, $2), ($1, 1, 0, 0, NULL, 'payments-slack', $2),
                ($1, 1, 1, 0, NULL, NULL, $2 + interval '5 minutes')",
    )
    .bind::<SqlUuid, _>(ids[0])
    .bind::<Timestamptz, _>(day(0, 1))
    .execute(conn)
    .await
    .expect("inserting pages");
    ids
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    row: String,
}

/// Every row of every archived table, every column, in key order.
async fn contents(db: &TestDatabase) -> BTreeMap<ArchivedTable, Vec<String>> {
    let mut conn = db.connection().await;
    sql(&mut conn, "SET TIME ZONE 'UTC'").await;
    let mut contents = BTreeMap::new();
    for table in ArchivedTable::ALL {
        let order = table.key_columns().join(", ");
        let rows: Vec<Row> =
            diesel::sql_query(format!("SELECT to_jsonb(t)::text AS row FROM {table} t ORDER BY {order}"))
                .load(&mut conn)
                .await
                .unwrap_or_else(|error| panic!("reading {table}: {error}"));
        contents.insert(table, rows.into_iter().map(|row| row.row).collect());
    }
    contents
}

/// A seeded database archived, day by day, to a folder of its own.
struct Archived {
    folder: std::path::PathBuf,
    archive: Archive,
    source: TestDatabase,
    days: Days,
    /// What `seed` returned.
    incidents: [Uuid; 3],
}

async fn archived_seed() -> Archived {
    let folder = std::env::temp_dir().join(format!("tocsin-archive-{}", Uuid::new_v4().simple()));
    let archive = Archive::open(&format!("file://{}", folder.display()), std::iter::empty::<(&str, &str)>())
        .expect("Archive::open");
    let source = TestDatabase::new().await;
    let first = first_day();
    let incidents = seed(&mut source.connection().await, first).await;
    let days = Days::new(first, first + Duration::days(2)).expect("creating");
    archive_days(&source.pool(), &archive, &ArchivedTable::ALL, days).await.expect("archive days");
    Archived { folder, archive, source, days, incidents }
}

fn first_day() -> Date {
    OffsetDateTime::now_utc().date() - Duration::days(120)
}

/// The whole round trip, against whatever store `archive` is.
async fn archive_and_restore_give_back_every_row(archive: &Archive) {
    let source = TestDatabase::new().await;
    let first = first_day();
    seed(&mut source.connection().await, first).await;
    let before = contents(&source).await;
    assert!(before.values().all(|rows| !rows.is_empty()), "every table has rows: {before:?}");
    let days = Days::new(first - Duration::days(1), first + Duration::days(3)).expect("creating");

    let written = archive_days(&source.pool(), archive, &ArchivedTable::ALL, days).await.expect("archiving");
    let mut expected: Vec<(ArchivedTable, Date)> = Vec::new();
    for table in ArchivedTable::ALL {
        expected.push((table, first));
    }
    for table in [
        ArchivedTable::Incidents,
        ArchivedTable::Alerts,
        ArchivedTable::TimelineEntries,
        ArchivedTable::CommandOutcomes,
        ArchivedTable::NotificationDeliveries,
    ] {
        expected.push((table, first + Duration::days(1)));
    }
    for table in [ArchivedTable::Incidents, ArchivedTable::Alerts, ArchivedTable::TimelineEntries] {
        expected.push((table, first + Duration::days(2)));
    }
    let mut got: Vec<(ArchivedTable, Date)> = written.iter().map(|object| (object.table, object.day)).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "one object per table and day with rows");
    for object in &written {
        assert!(object.path.ends_with(&format!("/{0}-{1}.jsonl.gz", object.table, object.day)), "{}", object.path);
        assert!(object.bytes > 0);
    }
    assert_eq!(archive.read_day(ArchivedTable::NotificationThreads, first + Duration::days(1)).await.ok(), Some(None));

    let again = archive_days(&source.pool(), archive, &ArchivedTable::ALL, days).await.expect("archiving again");
    assert_eq!(again, [], "the same rows archived again change no object");

    let target = TestDatabase::new().await;
    let mut conn = target.connection().await;
    let restored = restore_days(&mut conn, archive, &ArchivedTable::ALL, days).await.expect("restoring");
    for table in &restored {
        assert_eq!(table.rows, before[&table.table].len(), "{table:?}");
        assert_eq!(table.inserted, table.rows, "{table:?}");
    }
    assert_eq!(restored.len(), ArchivedTable::ALL.len());
    assert_eq!(contents(&target).await, before, "the restored rows are the archived rows, column for column");

    let twice = restore_days(&mut conn, archive, &ArchivedTable::ALL, days).await.expect("restoring again");
    assert!(twice.iter().all(|table| table.inserted == 0), "{twice:?}");
    assert_eq!(contents(&target).await, before);

    // New rows after a restore take ids past the restored ones.
    sql(
        &mut conn,
        "INSERT INTO timeline_entries (incident_id, at, kind, actor) SELECT id, now(), 'reopened', 'api' FROM incidents LIMIT 1",
    )
    .await;
}

#[tokio::test]
async fn a_local_folder_gives_back_every_archived_row() {
    let folder = std::env::temp_dir().join(format!("tocsin-archive-{}", Uuid::new_v4().simple()));
    let archive = Archive::open(&format!("file://{}/prod", folder.display()), std::iter::empty::<(&str, &str)>())
        .expect("Archive::open");
    archive_and_restore_give_back_every_row(&archive).await;
    let object = folder.join(format!(
        "prod/incidents/{0}/incidents-{1}.jsonl.gz",
        first_day().format(time::macros::format_description!("[year]/[month]/[day]")).unwrap_or_default(),
        first_day()
    ));
    assert!(object.is_file(), "{} exists", object.display());
    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test]
async fn azure_blob_storage_gives_back_every_archived_row() {
    let azurite = Azurite::start().await;
    azurite.create_container("tocsin-archive").await;
    let archive = Archive::open("az://tocsin-archive/prod/tocsin", azurite.options()).expect("Archive::open");
    archive_and_restore_give_back_every_row(&archive).await;

    let missing = Archive::open("az://no-such-container/tocsin", azurite.options()).expect("Archive::open");
    let target = TestDatabase::new().await;
    let day = Days::one(first_day());
    let error = restore_days(&mut target.connection().await, &missing, &ArchivedTable::ALL, day)
        .await
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(error.starts_with("the archive at az://no-such-container/tocsin cannot be reached: "), "{error}");
}

#[tokio::test]
async fn s3_gives_back_every_archived_row() {
    let moto = Moto::start().await;
    moto.create_bucket("tocsin-archive").await;
    let archive = Archive::open("s3://tocsin-archive/prod/tocsin", moto.options()).expect("Archive::open");
    archive_and_restore_give_back_every_row(&archive).await;
    archive.check().await.expect("the bucket answers");

    let missing = Archive::open("s3://no-such-bucket/tocsin", moto.options()).expect("Archive::open");
    let target = TestDatabase::new().await;
    let error = restore_days(&mut target.connection().await, &missing, &ArchivedTable::ALL, Days::one(first_day()))
        .await
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(error.starts_with("the archive at s3://no-such-bucket/tocsin cannot be reached: "), "{error}");
}

#[tokio::test]
async fn archiving_a_day_again_keeps_the_rows_archived_before_and_takes_the_changes() {
    let Archived { folder, archive, source, days, incidents: [resolved, open, _] } = archived_seed().await;
    let first = first_day();
    let archived = contents(&source).await;

    // Retention deletes the resolved incident with everything filed with it; the open one is
    // acknowledged.
    let mut conn = source.connection().await;
    for statement in [
        format!("DELETE FROM timeline_entries WHERE incident_id = '{resolved}'"),
        format!("DELETE FROM alerts WHERE incident_id = '{resolved}'"),
        format!("DELETE FROM notification_threads WHERE incident_id = '{resolved}'"),
        format!("DELETE FROM pages WHERE incident_id = '{resolved}'"),
        format!("DELETE FROM incidents WHERE id = '{resolved}'"),
        format!("UPDATE incidents SET status = 'acknowledged', version = version + 1 WHERE id = '{open}'"),
    ] {
        sql(&mut conn, &statement).await;
    }
    let written = archive_days(&source.pool(), &archive, &ArchivedTable::ALL, days).await.expect("archive days");
    assert_eq!(
        written.iter().map(|object| (object.table, object.day)).collect::<Vec<_>>(),
        [(ArchivedTable::Incidents, first + Duration::days(1))],
        "only the changed day's incidents"
    );

    let target = TestDatabase::new().await;
    restore_days(&mut target.connection().await, &archive, &ArchivedTable::ALL, days).await.expect("restore days");
    let restored = contents(&target).await;
    let now = contents(&source).await;
    assert_eq!(
        restored[&ArchivedTable::Alerts],
        archived[&ArchivedTable::Alerts],
        "the deleted incident's alerts stay archived"
    );
    assert_eq!(restored[&ArchivedTable::NotificationThreads], archived[&ArchivedTable::NotificationThreads]);
    assert_eq!(restored[&ArchivedTable::Incidents].len(), 3);
    assert!(
        restored[&ArchivedTable::Incidents].contains(&archived[&ArchivedTable::Incidents][0]),
        "the deleted one as it was"
    );
    for row in &now[&ArchivedTable::Incidents] {
        assert!(restored[&ArchivedTable::Incidents].contains(row), "the changed one as it is now: {row}");
    }
    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test]
async fn alerts_and_timeline_entries_are_restored_only_under_their_incidents() {
    let Archived { folder, archive, source, days, .. } = archived_seed().await;

    let target = TestDatabase::new().await;
    let mut conn = target.connection().await;
    for table in [ArchivedTable::Alerts, ArchivedTable::TimelineEntries] {
        let error = restore_days(&mut conn, &archive, &[table], days)
            .await
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            error.contains(&format!("archived {table} rows belong to incidents the database does not hold"))
                && error.contains("restore the incidents of the same days first"),
            "{table}: {error}"
        );
    }
    let restored = contents(&target).await;
    assert!(restored[&ArchivedTable::Alerts].is_empty() && restored[&ArchivedTable::TimelineEntries].is_empty());

    // With the incidents first, the same rows go back.
    restore_days(&mut conn, &archive, &ArchivedTable::ALL, days).await.expect("restore days");
    let restored = contents(&target).await;
    let archived = contents(&source).await;
    for table in [ArchivedTable::Incidents, ArchivedTable::Alerts, ArchivedTable::TimelineEntries] {
        assert_eq!(restored[&table], archived[&table], "{table}");
    }
    let _ = std::fs::remove_dir_all(&folder);
}
