//! Maintenance windows as stored (migration 000022), and which incidents they hold. query writes
//! the windows; incident-core reads the active ones when incidents open, attaches them, and
//! releases the attachments when their windows end (docs/noise.md). Whether a window applies is
//! the domain's rule (`tocsin_domain::maintenance`); this module only stores and reads.

use crate::StorageError;
use crate::rows::{AlertRow, IncidentRow};
use crate::schema::{alerts, incidents};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use time::OffsetDateTime;
use tocsin_domain::maintenance::{Hold, Occurrence, Window};
use tocsin_domain::matcher::{ApiMatcher, Matcher};
use tocsin_domain::{AlertRecord, Incident};
use uuid::Uuid;

/// A window as stored, with who made it and who ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWindow {
    pub window: Window,
    pub author: String,
    pub created_at: OffsetDateTime,
    pub ended_by: Option<String>,
}

#[derive(QueryableByName)]
struct WindowRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Jsonb)]
    matchers: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    starts_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    ends_at: OffsetDateTime,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Text)]
    author: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ended_at: Option<OffsetDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    ended_by: Option<String>,
}

impl WindowRow {
    fn into_stored(self) -> Result<StoredWindow, StorageError> {
        let corrupt = |reason: String| StorageError::Corrupt(format!("maintenance window {}: {reason}", self.id));
        let written: Vec<ApiMatcher> =
            serde_json::from_value(self.matchers.clone()).map_err(|error| corrupt(error.to_string()))?;
        let matchers = written
            .iter()
            .map(Matcher::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| corrupt(error.to_string()))?;
        Ok(StoredWindow {
            window: Window {
                id: self.id,
                matchers,
                starts_at: self.starts_at,
                ends_at: self.ends_at,
                ended_at: self.ended_at,
                reason: self.reason,
            },
            author: self.author,
            created_at: self.created_at,
            ended_by: self.ended_by,
        })
    }
}

const COLUMNS: &str = "id, matchers, starts_at, ends_at, reason, author, created_at, ended_at, ended_by";

/// Stores `window`, checked by the domain, as made by `author` at `at`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    window: &Window,
    author: &str,
    at: OffsetDateTime,
) -> Result<(), StorageError> {
    let matchers: Vec<ApiMatcher> = window.matchers.iter().map(ApiMatcher::from).collect();
    let matchers = serde_json::to_value(matchers)
        .map_err(|error| StorageError::Corrupt(format!("matchers do not serialise: {error}")))?;
    diesel::sql_query(
        "INSERT INTO maintenance_windows (id, matchers, starts_at, ends_at, reason, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<SqlUuid, _>(window.id)
    .bind::<Jsonb, _>(matchers)
    .bind::<Timestamptz, _>(window.starts_at)
    .bind::<Timestamptz, _>(window.ends_at)
    .bind::<Text, _>(&window.reason)
    .bind::<Text, _>(author)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The window `id`, if there is one.
pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<StoredWindow>, StorageError> {
    let rows: Vec<WindowRow> = diesel::sql_query(format!("SELECT {COLUMNS} FROM maintenance_windows WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await?;
    rows.into_iter().next().map(WindowRow::into_stored).transpose()
}

/// The windows in force at `at`: started, and neither over nor ended. What incident-core matches
/// an opening incident against.
pub async fn active_at(conn: &mut AsyncPgConnection, at: OffsetDateTime) -> Result<Vec<Window>, StorageError> {
    let rows: Vec<WindowRow> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM maintenance_windows \
         WHERE starts_at <= $1 AND ends_at > $1 AND (ended_at IS NULL OR ended_at > $1) ORDER BY starts_at, id"
    ))
    .bind::<Timestamptz, _>(at)
    .load(conn)
    .await?;
    rows.into_iter().map(|row| row.into_stored().map(|stored| stored.window)).collect()
}

/// Ends the window `id` at `at` on behalf of `by`, unless it is already over, and brings the end
/// of every incident it still holds forward to `at`, so the release picks them up. Returns the
/// window as it now stands, or `None` when there is no such window.
pub async fn end(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    by: &str,
    at: OffsetDateTime,
) -> Result<Option<StoredWindow>, StorageError> {
    diesel::sql_query(
        "UPDATE maintenance_windows SET ended_at = $2, ended_by = $3 \
         WHERE id = $1 AND ended_at IS NULL AND ends_at > $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(at)
    .bind::<Text, _>(by)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE incident_maintenance SET until = $2 WHERE window_id = $1 AND released_at IS NULL AND until > $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await?;
    get(conn, id).await
}

/// Attaches `window`'s `occurrence` to the incident at `at`. Attaching the same occurrence again
/// (a reopen inside the same window) changes nothing.
pub async fn attach(
    conn: &mut AsyncPgConnection,
    incident: Uuid,
    window: Uuid,
    occurrence: Occurrence,
    at: OffsetDateTime,
) -> Result<(), StorageError> {
    diesel::sql_query(
        "INSERT INTO incident_maintenance (incident_id, window_id, occurrence, until, applied_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<SqlUuid, _>(window)
    .bind::<Timestamptz, _>(occurrence.starts_at)
    .bind::<Timestamptz, _>(occurrence.ends_at)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct HoldRow {
    #[diesel(sql_type = SqlUuid)]
    incident_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    window_id: Uuid,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Timestamptz)]
    until: OffsetDateTime,
}

impl HoldRow {
    fn into_hold(self) -> Hold {
        Hold { window_id: self.window_id, reason: self.reason, until: self.until }
    }
}

/// Whether a hold on `incident` is still in force.
pub async fn still_held(conn: &mut AsyncPgConnection, incident: Uuid) -> Result<bool, StorageError> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = Bool)]
        held: bool,
    }
    let row: Held = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM incident_maintenance WHERE incident_id = $1 AND released_at IS NULL) AS held",
    )
    .bind::<SqlUuid, _>(incident)
    .get_result(conn)
    .await?;
    Ok(row.held)
}

/// The holds on those of `incidents` a window still holds, by incident.
pub async fn holds(conn: &mut AsyncPgConnection, incidents: &[Uuid]) -> Result<HashMap<Uuid, Hold>, StorageError> {
    if incidents.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<HoldRow> = diesel::sql_query(
        "SELECT DISTINCT ON (m.incident_id) m.incident_id, m.window_id, w.reason, m.until \
         FROM incident_maintenance m JOIN maintenance_windows w ON w.id = m.window_id \
         WHERE m.incident_id = ANY($1) AND m.released_at IS NULL ORDER BY m.incident_id, m.until DESC, m.window_id",
    )
    .bind::<Array<SqlUuid>, _>(incidents)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.incident_id, row.into_hold())).collect())
}

/// Claims the incident whose hold has been due longest at `now` and that no other transaction
/// holds, locking its row (`FOR UPDATE ... SKIP LOCKED`): the alert intake and people's commands
/// lock it too, so its status stays as read until the caller commits, and another releaser skips
/// it. Returns its id.
pub async fn claim_due(conn: &mut AsyncPgConnection, now: OffsetDateTime) -> Result<Option<Uuid>, StorageError> {
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = SqlUuid)]
        incident_id: Uuid,
    }
    let claimed: Vec<Claimed> = diesel::sql_query(
        "SELECT m.incident_id FROM incident_maintenance AS m JOIN incidents AS i ON i.id = m.incident_id \
         WHERE m.released_at IS NULL AND m.until <= $1 ORDER BY m.until LIMIT 1 FOR UPDATE OF i SKIP LOCKED",
    )
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    Ok(claimed.into_iter().next().map(|row| row.incident_id))
}

/// Releases the holds on `incident` that are due at `now`, returning them. An update reads the
/// newest committed rows, so holds another releaser released since the caller's claim are not
/// returned again.
pub async fn release(
    conn: &mut AsyncPgConnection,
    incident: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Hold>, StorageError> {
    let rows: Vec<HoldRow> = diesel::sql_query(
        "UPDATE incident_maintenance AS m SET released_at = $2 FROM maintenance_windows AS w \
         WHERE w.id = m.window_id AND m.incident_id = $1 AND m.released_at IS NULL AND m.until <= $2 \
         RETURNING m.incident_id, m.window_id, w.reason, m.until",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(HoldRow::into_hold).collect())
}

/// The newest `limit` windows by start, those not over yet first when `current` (upcoming and
/// active: ended neither early nor by their planned end at `now`).
pub async fn list(
    conn: &mut AsyncPgConnection,
    now: OffsetDateTime,
    current: bool,
    limit: i64,
) -> Result<Vec<StoredWindow>, StorageError> {
    let rows: Vec<WindowRow> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM maintenance_windows \
         WHERE NOT $1 OR (ends_at > $2 AND (ended_at IS NULL OR ended_at > $2)) \
         ORDER BY starts_at DESC, id DESC LIMIT $3"
    ))
    .bind::<Bool, _>(current)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    rows.into_iter().map(WindowRow::into_stored).collect()
}

/// What a preview matches a window's matchers against: the newest `limit` active incidents, and
/// the newest `limit` alerts heard of since `since`, each with the incident it belongs to (whose
/// facts the matchers read).
pub async fn preview_candidates(
    conn: &mut AsyncPgConnection,
    since: OffsetDateTime,
    limit: i64,
) -> Result<(Vec<Incident>, Vec<(AlertRecord, Incident)>), StorageError> {
    let active: Vec<IncidentRow> = incidents::table
        .filter(incidents::status.ne("resolved"))
        .order(incidents::opened_at.desc())
        .limit(limit)
        .select(IncidentRow::as_select())
        .load(conn)
        .await?;
    let recent: Vec<AlertRow> = alerts::table
        .filter(alerts::last_received_at.ge(since))
        .order(alerts::last_received_at.desc())
        .limit(limit)
        .select(AlertRow::as_select())
        .load(conn)
        .await?;
    let mut theirs: Vec<Uuid> = recent.iter().map(|alert| alert.incident_id).collect();
    theirs.sort_unstable();
    theirs.dedup();
    let owners: Vec<IncidentRow> =
        incidents::table.filter(incidents::id.eq_any(&theirs)).select(IncidentRow::as_select()).load(conn).await?;
    let owners: HashMap<Uuid, Incident> =
        owners.into_iter().map(|row| Ok((row.id, row.into_domain()?))).collect::<Result<_, StorageError>>()?;
    let active = active.into_iter().map(IncidentRow::into_domain).collect::<Result<Vec<_>, _>>()?;
    let mut alerts = Vec::with_capacity(recent.len());
    for row in recent {
        let Some(incident) = owners.get(&row.incident_id).cloned() else { continue };
        alerts.push((row.into_domain()?, incident));
    }
    Ok((active, alerts))
}
