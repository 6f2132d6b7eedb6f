//! The notifier's state: the deliveries it owes (one per event and target, written before the
//! event is acknowledged on the stream) and the threads it started (which Slack message or GitHub
//! issue belongs to which incident), so restarts and redeliveries never post twice.
//!
//! A page to one person (a notification rule applied to a `paged` event) is a delivery too: it
//! names the contact method it goes through, is due when its rule's delay has passed
//! (`next_attempt_at`), and is cancelled ([`cancel_pages`]) once the incident is acknowledged or
//! resolved.

use crate::StorageError;
use crate::schema::{notification_deliveries, notification_threads};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// The target of a page to one person through one notification rule: `page:<rule id>`, so one
/// event gives each rule one delivery however often it arrives.
pub fn page_target(rule_id: Uuid) -> String {
    format!("{PAGE_TARGET_PREFIX}{rule_id}")
}

/// What the target of a page starts with.
pub const PAGE_TARGET_PREFIX: &str = "page:";

/// The target of a test page (`POST /users/{user}/contact-methods/{id}/test`):
/// `test-page:<contact method id>`, so one method's test pages go out in order and never hold up
/// another's. Its delivery has no incident (the nil id) and its `event` is a [`TestPage`].
pub fn test_page_target(contact_method_id: Uuid) -> String {
    format!("{TEST_PAGE_PREFIX}{contact_method_id}")
}

/// What the target of a test page starts with.
pub const TEST_PAGE_PREFIX: &str = "test-page:";

/// What a test page's delivery holds in place of an event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestPage {
    /// Who asked for it: the person, or the admin token.
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

/// Queues a test page through contact method `contact_method_id`, due at once; the notifier's
/// worker sends it at its next look for due deliveries. Returns the delivery's id.
pub async fn queue_test_page(
    conn: &mut AsyncPgConnection,
    contact_method_id: Uuid,
    requested_by: &str,
) -> Result<i64, StorageError> {
    let page = TestPage { requested_by: requested_by.to_owned(), requested_at: OffsetDateTime::now_utc() };
    let event = serde_json::to_string(&page).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    Ok(diesel::insert_into(notification_deliveries::table)
        .values((
            notification_deliveries::event_id.eq(Uuid::now_v7()),
            notification_deliveries::target.eq(test_page_target(contact_method_id)),
            notification_deliveries::incident_id.eq(Uuid::nil()),
            notification_deliveries::event.eq(event),
            notification_deliveries::contact_method_id.eq(contact_method_id),
        ))
        .returning(notification_deliveries::id)
        .get_result(conn)
        .await?)
}

/// A delivery to record: one event for one target.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = notification_deliveries)]
pub struct NewDelivery<'a> {
    pub event_id: Uuid,
    pub target: &'a str,
    pub incident_id: Uuid,
    pub event: &'a str,
    /// The trace context each attempt at the delivery continues.
    pub traceparent: Option<&'a str>,
    /// A page to one person: the contact method it goes through.
    pub contact_method_id: Option<Uuid>,
    /// When it is due, if not at once (a page's rule delay).
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// Records deliveries; those already recorded (a redelivered event) are left as they are. Returns
/// how many are new.
pub async fn enqueue(conn: &mut AsyncPgConnection, deliveries: &[NewDelivery<'_>]) -> Result<usize, StorageError> {
    // Seven parameters a row, and a statement binds at most 65,535: a batch of 500 events routed
    // to many targets each goes in several statements.
    const ROWS_PER_STATEMENT: usize = 5_000;
    let mut recorded = 0;
    for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
        recorded += diesel::insert_into(notification_deliveries::table)
            .values(chunk)
            .on_conflict((notification_deliveries::event_id, notification_deliveries::target))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(recorded)
}

/// A delivery taken by a worker.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ClaimedDelivery {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub target: String,
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event: String,
    /// Attempts before this one.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// The trace context the delivery was recorded in, when it was traced.
    #[diesel(sql_type = Nullable<Text>)]
    pub traceparent: Option<String>,
    /// When the delivery was recorded: nothing was sent for it before.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
    /// An earlier claim ran out with no outcome recorded: the replica holding it died (or lost
    /// the database) and may have sent the delivery before it could say so.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub claim_lapsed: bool,
    /// A page to one person: the contact method it goes through.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub contact_method_id: Option<Uuid>,
}

/// Takes up to `limit` deliveries that are due, holding them for `hold` so other replicas leave
/// them alone ([`extend_claims`] keeps holding them). Only the oldest pending delivery of each
/// (target, incident) can be taken, so an incident's messages reach each channel in order (its
/// post before its updates) even across replicas and retries. Every outcome clears the claim, so
/// a delivery still claimed when it is taken again was left by a replica that stopped mid-way.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    hold: std::time::Duration,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    let hold_until = OffsetDateTime::now_utc() + hold;
    Ok(diesel::sql_query(
        "WITH due AS (
             SELECT d.id, d.claimed_until IS NOT NULL AS claim_lapsed FROM notification_deliveries d
             WHERE d.status = 'pending'
               AND d.next_attempt_at <= now()
               AND (d.claimed_until IS NULL OR d.claimed_until < now())
               AND NOT EXISTS (
                   SELECT 1 FROM notification_deliveries earlier
                   WHERE earlier.status = 'pending'
                     AND earlier.target = d.target
                     AND earlier.incident_id = d.incident_id
                     AND earlier.id < d.id)
             ORDER BY d.id
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE notification_deliveries n SET claimed_until = $1
         FROM due WHERE n.id = due.id
         RETURNING n.id, n.event_id, n.target, n.incident_id, n.event, n.attempts, n.traceparent, n.created_at,
                   due.claim_lapsed, n.contact_method_id",
    )
    .bind::<Timestamptz, _>(hold_until)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// Keeps holding claimed deliveries for `hold` from now, while a replica is still working on them;
/// those already finished (or retried) are left alone.
pub async fn extend_claims(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
    hold: std::time::Duration,
) -> Result<(), StorageError> {
    diesel::update(
        notification_deliveries::table
            .filter(notification_deliveries::id.eq_any(ids))
            .filter(notification_deliveries::status.eq("pending"))
            .filter(notification_deliveries::claimed_until.is_not_null()),
    )
    .set(notification_deliveries::claimed_until.eq(OffsetDateTime::now_utc() + hold))
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives back the claims on deliveries this replica took and never attempted, because it is
/// stopping: the next claim takes them at once rather than after the hold, and not as in doubt
/// (nothing of them was sent).
pub async fn release_claims(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<usize, StorageError> {
    Ok(diesel::update(
        notification_deliveries::table
            .filter(notification_deliveries::id.eq_any(ids))
            .filter(notification_deliveries::status.eq("pending")),
    )
    .set(notification_deliveries::claimed_until.eq(None::<OffsetDateTime>))
    .execute(conn)
    .await?)
}

// The outcomes change only a pending delivery: when a replica records late (it kept trying through a
// database outage) and another already took over and finished the delivery, the first word stays.

/// The delivery went out.
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: i64) -> Result<(), StorageError> {
    diesel::update(notification_deliveries::table.find(id).filter(notification_deliveries::status.eq("pending")))
        .set((
            notification_deliveries::status.eq("sent"),
            notification_deliveries::attempts.eq(notification_deliveries::attempts + 1),
            notification_deliveries::claimed_until.eq(None::<OffsetDateTime>),
            notification_deliveries::last_error.eq(None::<String>),
            notification_deliveries::finished_at.eq(OffsetDateTime::now_utc()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The delivery failed and will be tried again at `next_attempt_at`.
pub async fn mark_retry(
    conn: &mut AsyncPgConnection,
    id: i64,
    next_attempt_at: OffsetDateTime,
    error: &str,
) -> Result<(), StorageError> {
    diesel::update(notification_deliveries::table.find(id).filter(notification_deliveries::status.eq("pending")))
        .set((
            notification_deliveries::attempts.eq(notification_deliveries::attempts + 1),
            notification_deliveries::next_attempt_at.eq(next_attempt_at),
            notification_deliveries::claimed_until.eq(None::<OffsetDateTime>),
            notification_deliveries::last_error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The delivery was given up on (it also went to the dead-letter stream).
pub async fn mark_dead(conn: &mut AsyncPgConnection, id: i64, error: &str) -> Result<(), StorageError> {
    diesel::update(notification_deliveries::table.find(id).filter(notification_deliveries::status.eq("pending")))
        .set((
            notification_deliveries::status.eq("dead"),
            notification_deliveries::attempts.eq(notification_deliveries::attempts + 1),
            notification_deliveries::claimed_until.eq(None::<OffsetDateTime>),
            notification_deliveries::last_error.eq(error),
            notification_deliveries::finished_at.eq(OffsetDateTime::now_utc()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The page was not sent, and never will be: `reason` says why (the incident was acknowledged).
pub async fn mark_cancelled(conn: &mut AsyncPgConnection, id: i64, reason: &str) -> Result<(), StorageError> {
    diesel::update(notification_deliveries::table.find(id).filter(notification_deliveries::status.eq("pending")))
        .set((
            notification_deliveries::status.eq("cancelled"),
            notification_deliveries::claimed_until.eq(None::<OffsetDateTime>),
            notification_deliveries::last_error.eq(reason),
            notification_deliveries::finished_at.eq(OffsetDateTime::now_utc()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Cancels the incident's pages still waiting (not those being sent right now: a claimed one is
/// checked against the incident again by its worker before it goes out). Returns how many.
pub async fn cancel_pages(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    reason: &str,
) -> Result<usize, StorageError> {
    Ok(diesel::update(
        notification_deliveries::table
            .filter(notification_deliveries::incident_id.eq(incident_id))
            .filter(notification_deliveries::status.eq("pending"))
            .filter(notification_deliveries::contact_method_id.is_not_null())
            .filter(
                notification_deliveries::claimed_until
                    .is_null()
                    .or(notification_deliveries::claimed_until.lt(diesel::dsl::now)),
            ),
    )
    .set((
        notification_deliveries::status.eq("cancelled"),
        notification_deliveries::claimed_until.eq(None::<OffsetDateTime>),
        notification_deliveries::last_error.eq(reason),
        notification_deliveries::finished_at.eq(OffsetDateTime::now_utc()),
    ))
    .execute(conn)
    .await?)
}

/// What a page checks before it goes out: the incident's status and when it was last
/// acknowledged and resolved. `None` when there is no such incident (any more).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct IncidentStanding {
    pub status: String,
    pub acknowledged_at: Option<OffsetDateTime>,
    pub resolved_at: Option<OffsetDateTime>,
}

pub async fn incident_standing(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> Result<Option<IncidentStanding>, StorageError> {
    use crate::schema::incidents;
    Ok(incidents::table
        .find(incident_id)
        .select((incidents::status, incidents::acknowledged_at, incidents::resolved_at))
        .first(conn)
        .await
        .optional()?)
}

/// Pending deliveries, for `/metrics`.
pub async fn backlog(conn: &mut AsyncPgConnection) -> Result<i64, StorageError> {
    Ok(notification_deliveries::table
        .filter(notification_deliveries::status.eq("pending"))
        .count()
        .get_result(conn)
        .await?)
}

/// Where an incident's notification lives on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    /// The Slack channel id, or the GitHub repository. The column is `channel`, the name archives
    /// already carry.
    pub location: String,
    /// The message's `ts`, or the number.
    pub reference: String,
}

/// The most people [`thread_and_paging`] names; one more is read, to tell that there are more.
pub const MAX_PAGING_NAMES: usize = 10;

#[derive(QueryableByName)]
struct ThreadAndPagingRow {
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reference: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    paging: Vec<String>,
}

/// The incident's thread on `target` and, when `with_paging`, who its escalation is paging: the
/// people the current epoch paged (since it opened, was acknowledged or reopened), in the order
/// they were first paged, at most [`MAX_PAGING_NAMES`] + 1. One query, because a Slack message is
/// rebuilt on every event of its incident and the thread is read for each anyway.
pub async fn thread_and_paging(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
    with_paging: bool,
) -> Result<(Option<ThreadRow>, Vec<String>), StorageError> {
    let row = diesel::sql_query(
        "SELECT t.channel, t.reference, \
                CASE WHEN $3 THEN ARRAY( \
                    SELECT u.name FROM pages AS pg \
                    JOIN incident_escalations AS e ON e.incident_id = pg.incident_id AND e.epoch = pg.epoch \
                    JOIN users AS u ON u.id = pg.user_id \
                    WHERE pg.incident_id = $1 \
                    GROUP BY u.id, u.name ORDER BY min(pg.paged_at), u.name LIMIT $4) \
                ELSE '{}'::text[] END AS paging \
         FROM (VALUES (1)) AS one (x) \
         LEFT JOIN notification_threads AS t ON t.incident_id = $1 AND t.target = $2",
    )
    .bind::<SqlUuid, _>(incident_id)
    .bind::<Text, _>(target)
    .bind::<diesel::sql_types::Bool, _>(with_paging)
    .bind::<BigInt, _>(MAX_PAGING_NAMES as i64 + 1)
    .get_result::<ThreadAndPagingRow>(conn)
    .await?;
    let thread = match (row.channel, row.reference) {
        (Some(location), Some(reference)) => Some(ThreadRow { location, reference }),
        _ => None,
    };
    Ok((thread, row.paging))
}

/// Where the target's latest thread lives (for a Slack target, the Slack channel's id), if it has
/// started any.
pub async fn latest_thread_location(
    conn: &mut AsyncPgConnection,
    target: &str,
) -> Result<Option<String>, StorageError> {
    Ok(notification_threads::table
        .filter(notification_threads::target.eq(target))
        .order(notification_threads::created_at.desc())
        .select(notification_threads::channel)
        .first(conn)
        .await
        .optional()?)
}

/// Remembers the thread a delivery started; a thread already remembered is kept.
pub async fn remember_thread(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
    location: &str,
    reference: &str,
) -> Result<(), StorageError> {
    diesel::insert_into(notification_threads::table)
        .values((
            notification_threads::incident_id.eq(incident_id),
            notification_threads::target.eq(target),
            notification_threads::channel.eq(location),
            notification_threads::reference.eq(reference),
        ))
        .on_conflict((notification_threads::incident_id, notification_threads::target))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
