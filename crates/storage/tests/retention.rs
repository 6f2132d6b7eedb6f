//! Retention against a real PostgreSQL, one database per test: what expires and what never does,
//! batches that delete everything filed with an incident and nothing else, rows held by another
//! transaction skipped rather than waited for, and archived rows deleted only while unchanged.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};
use tocsin_storage::archive::ArchivedTable;
use tocsin_storage::integrity;
use tocsin_storage::retention::{self, ExpiredRows, Retained, RetentionLock};
use tocsin_testkit::TestDatabase;
use uuid::Uuid;

const DAYS: u32 = 90;

/// An incident created and last changed at `at`, resolved then when `status` is `resolved`.
async fn incident(conn: &mut AsyncPgConnection, status: &str, at: OffsetDateTime) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status,
                                source_fingerprint, source_starts_at, source_labels, opened_at,
                                resolved_at, resolved_by, created_at, updated_at)
         VALUES ($1, $1::text, 'disk full', 'web', 'production', 'critical', 'sre', $2,
                 'fp', $3, '{}', $3, CASE WHEN $2 = 'resolved' THEN $3 END, CASE WHEN $2 = 'resolved' THEN 'tocsin' END, $3, $3)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(status)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await
    .expect("inserting an incident");
    id
}

/// An alert of `incident` last reported at `reported`.
async fn alert(conn: &mut AsyncPgConnection, incident: Uuid, state: &str, reported: OffsetDateTime) {
    diesel::sql_query(
        "INSERT INTO alerts (incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url,
                             receiver, group_key, first_received_at, last_received_at, last_firing_report_at)
         VALUES ($1, gen_random_uuid()::text, $2, CASE WHEN $3 = 'resolved' THEN $2 END, $3, '{}', '{}', '', 'tocsin',
                 '{}', $2, $2, $2)",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<Timestamptz, _>(reported)
    .bind::<Text, _>(state)
    .execute(conn)
    .await
    .expect("inserting an alert");
}

async fn timeline(conn: &mut AsyncPgConnection, incident: Uuid, at: OffsetDateTime) {
    diesel::sql_query(
        "INSERT INTO timeline_entries (incident_id, at, kind, actor) VALUES ($1, $2, 'opened', 'alertmanager')",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await
    .expect("inserting a timeline entry");
}

async fn thread(conn: &mut AsyncPgConnection, incident: Uuid) {
    diesel::sql_query(
        "INSERT INTO notification_threads (incident_id, target, channel, reference) VALUES ($1, 'slack', 'C1', '1.2')",
    )
    .bind::<SqlUuid, _>(incident)
    .execute(conn)
    .await
    .expect("inserting a thread");
}

/// The incident's escalation (resolved: nothing due) and a page of its first step.
async fn escalation(conn: &mut AsyncPgConnection, incident: Uuid, at: OffsetDateTime) {
    diesel::sql_query("INSERT INTO incident_escalations (incident_id, epoch, started_at) VALUES ($1, 2, $2)")
        .bind::<SqlUuid, _>(incident)
        .bind::<Timestamptz, _>(at)
        .execute(conn)
        .await
        .expect("inserting an escalation");
    diesel::sql_query(
        "INSERT INTO pages (incident_id, epoch, step, pass, user_id, paged_at) VALUES ($1, 1, 0, 0, gen_random_uuid(), $2)",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await
    .expect("inserting a page");
}

async fn outcome(conn: &mut AsyncPgConnection, applied: OffsetDateTime) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO command_outcomes (command_id, incident_id, action, actor, outcome, applied_at)
         VALUES ($1, $1, 'acknowledge', 'api', '{}', $2)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(applied)
    .execute(conn)
    .await
    .expect("inserting a command outcome");
    id
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

async fn delivery(conn: &mut AsyncPgConnection, status: &str, created: OffsetDateTime) -> i64 {
    let row: Id = diesel::sql_query(
        "INSERT INTO notification_deliveries (event_id, target, incident_id, event, status, created_at, finished_at)
         VALUES (gen_random_uuid(), 'slack', gen_random_uuid(), '{}', $1, $2, $3) RETURNING id",
    )
    .bind::<Text, _>(status)
    .bind::<Timestamptz, _>(created)
    .bind::<Nullable<Timestamptz>, _>((status != "pending").then_some(created + Duration::minutes(1)))
    .get_result(conn)
    .await
    .expect("inserting a delivery");
    row.id
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn count(conn: &mut AsyncPgConnection, query: &str) -> i64 {
    let row: Count = diesel::sql_query(query).get_result(conn).await.unwrap_or_else(|error| panic!("{query}: {error}"));
    row.count
}

#[derive(diesel::QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    key: String,
}

async fn keys(conn: &mut AsyncPgConnection, query: &str) -> BTreeSet<String> {
    let rows: Vec<Key> = diesel::sql_query(query).load(conn).await.unwrap_or_else(|error| panic!("{query}: {error}"));
    rows.into_iter().map(|row| row.key).collect()
}

fn set<T: ToString>(items: impl IntoIterator<Item = T>) -> BTreeSet<String> {
    items.into_iter().map(|item| item.to_string()).collect()
}

/// Deletes batches of `size` until one comes back short, as the retention loop does.
async fn delete_all(
    conn: &mut AsyncPgConnection,
    retained: Retained,
    cutoff: OffsetDateTime,
    size: usize,
) -> Vec<usize> {
    let mut batches = Vec::new();
    loop {
        let deleted = retention::delete_expired(conn, retained, cutoff, size)
            .await
            .unwrap_or_else(|error| panic!("deleting expired {}: {error}", retained.name()));
        let count = deleted.of(retained.table());
        batches.push(count);
        if count < size {
            return batches;
        }
    }
}

#[tokio::test]
async fn batches_delete_expired_incidents_with_everything_filed_with_them_and_nothing_else() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let now = OffsetDateTime::now_utc();
    let old = now - Duration::days(200);
    let recent = now - Duration::days(10);

    let expired_a = incident(&mut conn, "resolved", old).await;
    alert(&mut conn, expired_a, "resolved", old).await;
    alert(&mut conn, expired_a, "resolved", old).await;
    timeline(&mut conn, expired_a, old).await;
    timeline(&mut conn, expired_a, old).await;
    thread(&mut conn, expired_a).await;
    escalation(&mut conn, expired_a, old).await;
    let expired_b = incident(&mut conn, "resolved", old + Duration::days(1)).await;
    alert(&mut conn, expired_b, "resolved", old).await;
    timeline(&mut conn, expired_b, old).await;

    let open = incident(&mut conn, "open", old).await;
    alert(&mut conn, open, "firing", old).await;
    thread(&mut conn, open).await;
    escalation(&mut conn, open, old).await;
    let acknowledged = incident(&mut conn, "acknowledged", old).await;
    // Resolved by a person long ago, but Alertmanager still resends its firing alert.
    let still_firing = incident(&mut conn, "resolved", old).await;
    alert(&mut conn, still_firing, "firing", recent).await;
    let resolved_recently = incident(&mut conn, "resolved", recent).await;
    // Resolved long ago, but assigned last week.
    let changed_recently = incident(&mut conn, "resolved", old).await;
    diesel::sql_query("UPDATE incidents SET updated_at = $2, version = version + 1 WHERE id = $1")
        .bind::<SqlUuid, _>(changed_recently)
        .bind::<Timestamptz, _>(recent)
        .execute(&mut conn)
        .await
        .expect("execute");

    let cutoff = retention::cutoff(now, DAYS);
    // Another transaction holds B: the batches go around it instead of waiting.
    let mut other = db.connection().await;
    let first_pass = other
        .transaction(async |other| {
            diesel::sql_query("SELECT id FROM incidents WHERE id = $1 FOR UPDATE")
                .bind::<SqlUuid, _>(expired_b)
                .execute(other)
                .await?;
            Ok::<_, diesel::result::Error>(delete_all(&mut conn, Retained::Incidents, cutoff, 1).await)
        })
        .await
        .expect("transaction");
    assert_eq!(first_pass, [1, 0], "one incident per batch, B skipped while locked");
    assert_eq!(
        keys(&mut conn, "SELECT id::text AS key FROM incidents").await,
        set([expired_b, open, acknowledged, still_firing, resolved_recently, changed_recently])
    );
    let second_pass =
        retention::delete_expired(&mut conn, Retained::Incidents, cutoff, 10).await.expect("delete expired");
    assert_eq!(second_pass.of(ArchivedTable::Incidents), 1);
    assert_eq!(second_pass.of(ArchivedTable::Alerts), 1);
    assert_eq!(second_pass.of(ArchivedTable::TimelineEntries), 1);
    assert_eq!(delete_all(&mut conn, Retained::Incidents, cutoff, 10).await, [0], "nothing else expires");

    assert_eq!(
        keys(&mut conn, "SELECT id::text AS key FROM incidents").await,
        set([open, acknowledged, still_firing, resolved_recently, changed_recently])
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM alerts").await,
        2,
        "the open and the still firing alerts"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM timeline_entries").await, 0);
    assert_eq!(keys(&mut conn, "SELECT incident_id::text AS key FROM notification_threads").await, set([open]));
    assert_eq!(keys(&mut conn, "SELECT incident_id::text AS key FROM pages").await, set([open]));
    assert_eq!(keys(&mut conn, "SELECT incident_id::text AS key FROM incident_escalations").await, set([open]));
    let orphans = integrity::orphaned_rows(&mut conn).await.expect("orphaned rows");
    assert_eq!(orphans, integrity::OrphanedRows::default(), "alerts and timeline entries without their incident");
    let threads = "SELECT count(*) AS count FROM notification_threads t \
                   WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id)";
    assert_eq!(count(&mut conn, threads).await, 0, "{threads}");
}

#[tokio::test]
async fn command_outcomes_and_finished_deliveries_expire_pending_deliveries_never() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let now = OffsetDateTime::now_utc();
    let old = now - Duration::days(120);
    let recent = now - Duration::days(3);
    let cutoff = retention::cutoff(now, DAYS);

    for _ in 0..5 {
        outcome(&mut conn, old).await;
    }
    let kept_outcome = outcome(&mut conn, recent).await;
    assert_eq!(delete_all(&mut conn, Retained::CommandOutcomes, cutoff, 2).await, [2, 2, 1]);
    assert_eq!(keys(&mut conn, "SELECT command_id::text AS key FROM command_outcomes").await, set([kept_outcome]));

    delivery(&mut conn, "sent", old).await;
    delivery(&mut conn, "dead", old).await;
    let pending = delivery(&mut conn, "pending", old).await;
    let sent_recently = delivery(&mut conn, "sent", recent).await;
    assert_eq!(delete_all(&mut conn, Retained::NotificationDeliveries, cutoff, 500).await, [2]);
    assert_eq!(
        keys(&mut conn, "SELECT id::text AS key FROM notification_deliveries").await,
        set([pending, sent_recently])
    );
}

#[tokio::test]
async fn a_day_read_for_the_archive_is_deleted_only_where_it_did_not_change_since() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    let now = OffsetDateTime::now_utc();
    let day_start = retention::cutoff(now, 200);
    let cutoff = retention::cutoff(now, DAYS);

    let unchanged = incident(&mut conn, "resolved", day_start + Duration::hours(1)).await;
    alert(&mut conn, unchanged, "resolved", day_start + Duration::hours(1)).await;
    let changed = incident(&mut conn, "resolved", day_start + Duration::hours(23)).await;
    alert(&mut conn, changed, "resolved", day_start + Duration::hours(23)).await;
    // Open, on the same day: archived with the day, never deleted.
    let open = incident(&mut conn, "open", day_start + Duration::hours(2)).await;
    // The next day, and filed there.
    let next_day = incident(&mut conn, "resolved", day_start + Duration::hours(25)).await;

    let day =
        retention::next_expired_day(&mut conn, Retained::Incidents, cutoff, None).await.expect("next expired day");
    assert_eq!(day, Some(day_start.date()));
    let Some(day) = day else { return };
    let read =
        retention::read_expiring_day(&mut conn, Retained::Incidents, day, cutoff).await.expect("read expiring day");
    let tables: Vec<ArchivedTable> = read.rows.iter().map(|(table, _)| *table).collect();
    assert_eq!(tables, Retained::Incidents.tables());
    let archived_incidents = &read.rows[0].1;
    assert_eq!(archived_incidents.len(), 3, "the whole day, the open incident included: {archived_incidents:?}");
    assert!(archived_incidents.iter().all(|row| row.contains("+00:00")), "times print in UTC: {archived_incidents:?}");
    assert_eq!(read.rows[1].1.len(), 2, "the day's incidents' alerts");
    let ExpiredRows::Incidents(expired) = &read.expired else { panic!("{:?}", read.expired) };
    assert_eq!(expired.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(), BTreeSet::from([unchanged, changed]));

    // A change between the archive and the delete: the incident waits for the next run, which
    // archives it again first.
    diesel::sql_query("UPDATE incidents SET version = version + 1 WHERE id = $1")
        .bind::<SqlUuid, _>(changed)
        .execute(&mut conn)
        .await
        .expect("execute");
    let mut deleted = 0;
    for batch in read.expired.batches(1) {
        deleted += retention::delete_archived(&mut conn, &batch, cutoff)
            .await
            .expect("delete archived")
            .of(ArchivedTable::Incidents);
    }
    assert_eq!(deleted, 1);
    assert_eq!(keys(&mut conn, "SELECT id::text AS key FROM incidents").await, set([changed, open, next_day]));

    let following =
        retention::next_expired_day(&mut conn, Retained::Incidents, cutoff, Some(day)).await.expect("next expired day");
    assert_eq!(following, day.next_day());
}

#[tokio::test]
async fn one_process_at_a_time_holds_the_retention_lock() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    let held = RetentionLock::try_acquire(&pool).await.expect("RetentionLock::try_acquire");
    assert!(held.is_some());
    let second = RetentionLock::try_acquire(&pool).await.expect("RetentionLock::try_acquire");
    assert!(second.is_none(), "taken while held");
    drop(held);
    // Dropping closes the holder's connection; the server releases the lock as it notices.
    let mut retaken = None;
    for _ in 0..50 {
        retaken = RetentionLock::try_acquire(&pool).await.expect("RetentionLock::try_acquire");
        if retaken.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(retaken.is_some(), "released when its holder went away");
}

#[tokio::test]
async fn plain_postgresql_has_no_timescaledb() {
    let db = TestDatabase::new().await;
    let mut conn = db.connection().await;
    assert_eq!(retention::timescaledb_version(&mut conn).await.expect("timescaledb version"), None);
}
