//! On-call schedules as stored, read back as the inputs of `tocsin_domain::schedule::shifts`, which
//! works out who is on call (docs/oncall.md), and as query's API shows them (schedules, their
//! layers in force, overrides to come, the users they name). Overrides of one schedule never
//! overlap, and versions of one layer are never in force at once: exclusion constraints say so in
//! the database (migration 000014), so two people taking the same shift at the same moment cannot
//! both succeed. Edits end what is in force at an instant and never rewrite what came before.

use crate::StorageError;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;
use time::{OffsetDateTime, PrimitiveDateTime};
use tocsin_domain::schedule::{Interval, Layer, Override, Restriction, Rotation, Schedule, ShiftLength};
use uuid::Uuid;

/// Why an override was not stored.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("the schedule already has an override for part of that time")]
    Overlaps,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for OverrideError {
    fn from(error: diesel::result::Error) -> Self {
        match &error {
            diesel::result::Error::DatabaseError(_, info)
                if info.constraint_name() == Some("schedule_overrides_never_overlap") =>
            {
                OverrideError::Overlaps
            }
            _ => OverrideError::Storage(error.into()),
        }
    }
}

/// Why a stored schedule cannot be read as one.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("schedule data: {0}")]
    Data(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for LoadError {
    fn from(error: diesel::result::Error) -> Self {
        LoadError::Storage(error.into())
    }
}

/// Why a schedule was not created or renamed.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("the team already has a schedule of that name")]
    Taken,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for NameError {
    fn from(error: diesel::result::Error) -> Self {
        match &error {
            diesel::result::Error::DatabaseError(_, info)
                if info.constraint_name() == Some("schedules_team_id_name_key") =>
            {
                NameError::Taken
            }
            _ => NameError::Storage(error.into()),
        }
    }
}

/// Longest schedule name (the table's CHECK).
pub const MAX_NAME_BYTES: usize = 200;
/// Longest IANA zone name, of a schedule or a layer (the tables' CHECKs); the longest real one,
/// America/Argentina/ComodRivadavia, is 32.
pub const MAX_ZONE_BYTES: usize = 64;
/// Longest reason of an override (the table's CHECK).
pub const MAX_REASON_BYTES: usize = 1000;
/// A rotation's shift is 1 to this many hours, days, weeks or months (the table's CHECK).
pub const MAX_SHIFT_COUNT: i32 = 1000;

/// A new schedule of the team; [`NameError::Taken`] when the team has one of that name.
pub async fn create(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    name: &str,
    time_zone: &str,
) -> Result<Uuid, NameError> {
    let id = Uuid::now_v7();
    diesel::sql_query("INSERT INTO schedules (id, team_id, name, time_zone) VALUES ($1, $2, $3, $4)")
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(team_id)
        .bind::<Text, _>(name)
        .bind::<Text, _>(time_zone)
        .execute(conn)
        .await?;
    Ok(id)
}

/// A schedule as listed, with its team's slug.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ScheduleEntry {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = Text)]
    pub team: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
}

const SCHEDULE_ENTRY: &str = "SELECT s.id, s.team_id, t.slug AS team, s.name, s.time_zone, s.created_at FROM schedules s JOIN teams t ON t.id = s.team_id";

/// Every schedule, or those of one team, by team and name.
pub async fn list(conn: &mut AsyncPgConnection, team_id: Option<Uuid>) -> Result<Vec<ScheduleEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{SCHEDULE_ENTRY} WHERE $1::uuid IS NULL OR s.team_id = $1 ORDER BY t.slug, s.name"))
        .bind::<Nullable<SqlUuid>, _>(team_id)
        .load(conn)
        .await?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<ScheduleEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{SCHEDULE_ENTRY} WHERE s.id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?)
}

/// The schedule, locked until the caller's transaction ends: edits of one schedule take turns, so
/// that a limit on its layers counted in one edit still holds when it commits.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<ScheduleEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{SCHEDULE_ENTRY} WHERE s.id = $1 FOR UPDATE OF s"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?)
}

/// Renames the schedule; [`NameError::Taken`] when its team has another of that name, false when
/// there is no such schedule.
pub async fn rename(conn: &mut AsyncPgConnection, id: Uuid, name: &str) -> Result<bool, NameError> {
    let renamed = diesel::sql_query("UPDATE schedules SET name = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(name)
        .execute(conn)
        .await?;
    Ok(renamed > 0)
}

/// Deletes the schedule with its layers and overrides; false when there was none.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, StorageError> {
    let deleted = diesel::sql_query("DELETE FROM schedules WHERE id = $1").bind::<SqlUuid, _>(id).execute(conn).await?;
    Ok(deleted > 0)
}

/// A user as a schedule names its members.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Member {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
}

/// The users among `ids` that exist, in no particular order.
pub async fn users_by_id(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<Member>, StorageError> {
    Ok(diesel::sql_query("SELECT id, name, email FROM users WHERE id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(ids)
        .load(conn)
        .await?)
}

/// The users whose e-mail address is among `emails`, compared without regard to case. One address
/// may be two users' (signed in through two identity providers): the caller decides what that means.
pub async fn users_by_email(conn: &mut AsyncPgConnection, emails: &[String]) -> Result<Vec<Member>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT id, name, email FROM users WHERE lower(email) IN (SELECT lower(address) FROM unnest($1::text[]) AS address)",
    )
    .bind::<Array<Text>, _>(emails)
    .load(conn)
    .await?)
}

/// A version of a layer as it is written.
#[derive(Debug, Clone)]
pub struct NewLayerVersion<'a> {
    pub schedule_id: Uuid,
    /// The layer across its versions.
    pub layer: Uuid,
    pub priority: i32,
    pub time_zone: Option<&'a str>,
    /// Local wall-clock time in the layer's zone.
    pub first_handoff: PrimitiveDateTime,
    /// `hours`, `days`, `weeks` or `months`.
    pub shift_unit: &'a str,
    pub shift_count: i32,
    /// `[{"days": ["monday", …], "start": "09:00", "minutes": 480}]`; empty: the whole week.
    pub restrictions: serde_json::Value,
    pub members: &'a [Uuid],
    pub created_by: &'a str,
}

/// Puts `version` in force from `from` on: the version in force at `from` ends there, and any
/// that was to start later is dropped. What was on call before `from` is left as it was.
pub async fn put_layer(
    conn: &mut AsyncPgConnection,
    version: &NewLayerVersion<'_>,
    from: OffsetDateTime,
) -> Result<Uuid, StorageError> {
    diesel::sql_query("DELETE FROM schedule_layers WHERE layer = $1 AND lower(effective) >= $2")
        .bind::<SqlUuid, _>(version.layer)
        .bind::<Timestamptz, _>(from)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "UPDATE schedule_layers SET effective = tstzrange(lower(effective), $2, '[)') \
         WHERE layer = $1 AND effective @> $2::timestamptz",
    )
    .bind::<SqlUuid, _>(version.layer)
    .bind::<Timestamptz, _>(from)
    .execute(conn)
    .await?;
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO schedule_layers (id, schedule_id, layer, priority, time_zone, first_handoff, shift_unit, \
         shift_count, restrictions, effective, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, tstzrange($10, NULL, '[)'), $11)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(version.schedule_id)
    .bind::<SqlUuid, _>(version.layer)
    .bind::<Integer, _>(version.priority)
    .bind::<Nullable<Text>, _>(version.time_zone)
    .bind::<Timestamp, _>(version.first_handoff)
    .bind::<Text, _>(version.shift_unit)
    .bind::<Integer, _>(version.shift_count)
    .bind::<Jsonb, _>(&version.restrictions)
    .bind::<Timestamptz, _>(from)
    .bind::<Text, _>(version.created_by)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO schedule_layer_members (layer_version_id, position, user_id) \
         SELECT $1, ordinality - 1, user_id FROM unnest($2::uuid[]) WITH ORDINALITY AS m(user_id, ordinality)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Array<SqlUuid>, _>(version.members)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Ends `layer` at `from`: the version in force then ends there, and any that was to start later
/// is dropped. False when the layer had no version in force at `from` or after it.
pub async fn end_layer(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    layer: Uuid,
    from: OffsetDateTime,
) -> Result<bool, StorageError> {
    let dropped = diesel::sql_query(
        "DELETE FROM schedule_layers WHERE schedule_id = $1 AND layer = $2 AND lower(effective) >= $3",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<SqlUuid, _>(layer)
    .bind::<Timestamptz, _>(from)
    .execute(conn)
    .await?;
    let ended = diesel::sql_query(
        "UPDATE schedule_layers SET effective = tstzrange(lower(effective), $3, '[)') \
         WHERE schedule_id = $1 AND layer = $2 AND effective @> $3::timestamptz",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<SqlUuid, _>(layer)
    .bind::<Timestamptz, _>(from)
    .execute(conn)
    .await?;
    Ok(dropped + ended > 0)
}

/// A version of a layer as stored.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct LayerVersion {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The layer across its versions.
    #[diesel(sql_type = SqlUuid)]
    pub layer: Uuid,
    #[diesel(sql_type = Integer)]
    pub priority: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub time_zone: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub first_handoff: PrimitiveDateTime,
    #[diesel(sql_type = Text)]
    pub shift_unit: String,
    #[diesel(sql_type = Integer)]
    pub shift_count: i32,
    #[diesel(sql_type = Jsonb)]
    pub restrictions: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub effective_from: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub effective_until: Option<OffsetDateTime>,
    /// In rotation order.
    #[diesel(sql_type = Array<SqlUuid>)]
    pub members: Vec<Uuid>,
    #[diesel(sql_type = Text)]
    pub created_by: String,
}

/// The versions of the schedule's layers in force at `at` or later: highest priority first, then
/// by when they start.
pub async fn current_layers(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    at: OffsetDateTime,
) -> Result<Vec<LayerVersion>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT l.id, l.layer, l.priority, l.time_zone, l.first_handoff, l.shift_unit, l.shift_count, l.restrictions, \
                lower(l.effective) AS effective_from, upper(l.effective) AS effective_until, l.created_by, \
                coalesce(array_agg(m.user_id ORDER BY m.position) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS members \
         FROM schedule_layers l LEFT JOIN schedule_layer_members m ON m.layer_version_id = l.id \
         WHERE l.schedule_id = $1 AND (upper_inf(l.effective) OR upper(l.effective) > $2) \
         GROUP BY l.id ORDER BY l.priority DESC, lower(l.effective), l.id",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<Timestamptz, _>(at)
    .load(conn)
    .await?)
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Whether `layer` is one of the schedule's, in force or not.
pub async fn has_layer(conn: &mut AsyncPgConnection, schedule_id: Uuid, layer: Uuid) -> Result<bool, StorageError> {
    let row: CountRow =
        diesel::sql_query("SELECT count(*) AS count FROM schedule_layers WHERE schedule_id = $1 AND layer = $2")
            .bind::<SqlUuid, _>(schedule_id)
            .bind::<SqlUuid, _>(layer)
            .get_result(conn)
            .await?;
    Ok(row.count > 0)
}

#[derive(Debug, Clone)]
pub struct NewOverride<'a> {
    pub schedule_id: Uuid,
    pub member: Uuid,
    /// `Some`: only where this person would have been on call; `None`: whoever was.
    pub replaces: Option<Uuid>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub reason: &'a str,
    pub created_by: &'a str,
}

/// Stores an override; [`OverrideError::Overlaps`] when another of the schedule's overlaps it,
/// including one a concurrent transaction is writing (the insert waits for it, then fails).
pub async fn add_override(conn: &mut AsyncPgConnection, new: &NewOverride<'_>) -> Result<Uuid, OverrideError> {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO schedule_overrides (id, schedule_id, user_id, replaces_user_id, during, reason, created_by) \
         VALUES ($1, $2, $3, $4, tstzrange($5, $6, '[)'), $7, $8)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(new.schedule_id)
    .bind::<SqlUuid, _>(new.member)
    .bind::<Nullable<SqlUuid>, _>(new.replaces)
    .bind::<Timestamptz, _>(new.start)
    .bind::<Timestamptz, _>(new.end)
    .bind::<Text, _>(new.reason)
    .bind::<Text, _>(new.created_by)
    .execute(conn)
    .await?;
    Ok(id)
}

/// An override as stored.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct StoredOverride {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub replaces_user_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub start: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    pub end: OffsetDateTime,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Text)]
    pub created_by: String,
}

/// The schedule's overrides that end after `at` (under way or to come), by start.
pub async fn overrides_ending_after(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    at: OffsetDateTime,
) -> Result<Vec<StoredOverride>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT id, user_id, replaces_user_id, lower(during) AS start, upper(during) AS \"end\", reason, created_by \
         FROM schedule_overrides WHERE schedule_id = $1 AND upper(during) > $2 ORDER BY lower(during)",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<Timestamptz, _>(at)
    .load(conn)
    .await?)
}

/// What [`remove_override`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideRemoval {
    /// It had not started: gone.
    Deleted,
    /// It was under way: it ends at the removal, and the time it already covered stays as it was.
    Ended,
    /// It was over: the past is left as it was.
    AlreadyOver,
    NotFound,
}

#[derive(QueryableByName)]
struct SpanRow {
    #[diesel(sql_type = Timestamptz)]
    start: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    end: OffsetDateTime,
}

/// Takes the override off the schedule from `at` on, never rewriting who was on call before.
pub async fn remove_override(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    id: Uuid,
    at: OffsetDateTime,
) -> Result<OverrideRemoval, StorageError> {
    let span: Option<SpanRow> = diesel::sql_query(
        "SELECT lower(during) AS start, upper(during) AS \"end\" FROM schedule_overrides \
         WHERE id = $1 AND schedule_id = $2 FOR UPDATE",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(schedule_id)
    .get_result(conn)
    .await
    .optional()?;
    let Some(span) = span else {
        return Ok(OverrideRemoval::NotFound);
    };
    if span.end <= at {
        return Ok(OverrideRemoval::AlreadyOver);
    }
    if span.start >= at {
        diesel::sql_query("DELETE FROM schedule_overrides WHERE id = $1").bind::<SqlUuid, _>(id).execute(conn).await?;
        return Ok(OverrideRemoval::Deleted);
    }
    diesel::sql_query("UPDATE schedule_overrides SET during = tstzrange(lower(during), $2, '[)') WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .execute(conn)
        .await?;
    Ok(OverrideRemoval::Ended)
}

#[derive(QueryableByName)]
struct ScheduleRow {
    #[diesel(sql_type = Text)]
    time_zone: String,
}

#[derive(QueryableByName)]
struct LayerRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    layer: Uuid,
    #[diesel(sql_type = Integer)]
    priority: i32,
    #[diesel(sql_type = Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = Timestamp)]
    first_handoff: PrimitiveDateTime,
    #[diesel(sql_type = Text)]
    shift_unit: String,
    #[diesel(sql_type = Integer)]
    shift_count: i32,
    #[diesel(sql_type = Jsonb)]
    restrictions: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    effective_from: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    effective_until: Option<OffsetDateTime>,
    #[diesel(sql_type = Array<SqlUuid>)]
    members: Vec<Uuid>,
}

#[derive(QueryableByName)]
struct OverrideRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    replaces_user_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    start: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    end: OffsetDateTime,
}

/// The schedule as `shifts` takes it: every version of its layers whose effective range meets
/// `[from, until)`, and the overrides that do. `None` when there is no such schedule.
pub async fn load(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Option<Schedule>, LoadError> {
    Ok(load_layered(conn, schedule_id, from, until).await?.map(|loaded| loaded.schedule))
}

/// Every schedule of the team `team_id` (every schedule when `None`), each loaded as [`load`] reads
/// it around `now` (`tocsin_domain::schedule::ON_CALL_HORIZON` either way): what
/// `tocsin_domain::schedule::on_call_at` needs to say who is on call now, for query's `GET /oncall`
/// and the notifier's `/tocsin oncall` alike. A schedule deleted between the list and its load is
/// left out: it has nobody on call any more.
pub async fn around_now(
    conn: &mut AsyncPgConnection,
    team_id: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Vec<(ScheduleEntry, Schedule)>, LoadError> {
    let horizon = time::Duration::seconds(tocsin_domain::schedule::ON_CALL_HORIZON.as_secs());
    let entries = list(conn, team_id).await?;
    let mut loaded = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(schedule) = load(conn, entry.id, now - horizon, now + horizon).await? {
            loaded.push((entry, schedule));
        }
    }
    Ok(loaded)
}

/// A schedule as [`load`] reads it, and which layer each of its versions is a version of: the
/// shift arithmetic knows versions, a schedule page draws layers.
#[derive(Debug, Clone)]
pub struct LayeredSchedule {
    pub schedule: Schedule,
    /// `layer_of[i]` is the layer of `schedule.layers[i]`.
    pub layer_of: Vec<Uuid>,
}

/// [`load`], with the layer of each version.
pub async fn load_layered(
    conn: &mut AsyncPgConnection,
    schedule_id: Uuid,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Option<LayeredSchedule>, LoadError> {
    let Some(schedule) = diesel::sql_query("SELECT time_zone FROM schedules WHERE id = $1")
        .bind::<SqlUuid, _>(schedule_id)
        .get_result::<ScheduleRow>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let layers: Vec<LayerRow> = diesel::sql_query(
        "SELECT l.id, l.layer, l.priority, l.time_zone, l.first_handoff, l.shift_unit, l.shift_count, l.restrictions, \
                lower(l.effective) AS effective_from, upper(l.effective) AS effective_until, \
                coalesce(array_agg(m.user_id ORDER BY m.position) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS members \
         FROM schedule_layers l LEFT JOIN schedule_layer_members m ON m.layer_version_id = l.id \
         WHERE l.schedule_id = $1 AND l.effective && tstzrange($2, $3, '[)') \
         GROUP BY l.id ORDER BY lower(l.effective), l.id",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(until)
    .load(conn)
    .await?;
    let overrides: Vec<OverrideRow> = diesel::sql_query(
        "SELECT id, user_id, replaces_user_id, lower(during) AS start, upper(during) AS \"end\" \
         FROM schedule_overrides WHERE schedule_id = $1 AND during && tstzrange($2, $3, '[)') ORDER BY lower(during)",
    )
    .bind::<SqlUuid, _>(schedule_id)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(until)
    .load(conn)
    .await?;

    let layer_of = layers.iter().map(|row| row.layer).collect();
    let schedule = Schedule {
        time_zone: zone(&schedule.time_zone)?,
        layers: layers.into_iter().map(layer).collect::<Result<_, _>>()?,
        overrides: overrides
            .into_iter()
            .map(|row| -> Result<Override, LoadError> {
                Ok(Override {
                    id: row.id,
                    member: row.user_id,
                    replaces: row.replaces_user_id,
                    during: Interval::new(instant(row.start)?, instant(row.end)?),
                })
            })
            .collect::<Result<_, LoadError>>()?,
    };
    Ok(Some(LayeredSchedule { schedule, layer_of }))
}

fn layer(row: LayerRow) -> Result<Layer, LoadError> {
    let count =
        u32::try_from(row.shift_count).map_err(|_| LoadError::Data(format!("shift count {}", row.shift_count)))?;
    let shift = match row.shift_unit.as_str() {
        "hours" => ShiftLength::Hours(count),
        "days" => ShiftLength::Days(count),
        "weeks" => ShiftLength::Weeks(count),
        "months" => ShiftLength::Months(count),
        other => return Err(LoadError::Data(format!("shift unit {other:?}"))),
    };
    let first_handoff = local_date_time(row.first_handoff)?;
    Ok(Layer {
        id: row.id,
        priority: row.priority,
        time_zone: row.time_zone.as_deref().map(zone).transpose()?,
        rotation: Rotation { first_handoff, shift },
        members: row.members,
        restrictions: restrictions(row.restrictions)?,
        effective_from: instant(row.effective_from)?,
        effective_until: row.effective_until.map(instant).transpose()?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRestriction {
    days: Vec<String>,
    start: String,
    minutes: u32,
}

/// Stored restrictions (`[{"days": ["monday", …], "start": "09:00", "minutes": 480}]`) as the shift
/// arithmetic takes them; [`LoadError::Data`] names what it cannot read.
pub fn restrictions(value: serde_json::Value) -> Result<Vec<Restriction>, LoadError> {
    let stored: Vec<StoredRestriction> =
        serde_json::from_value(value).map_err(|error| LoadError::Data(format!("restrictions: {error}")))?;
    stored
        .into_iter()
        .map(|restriction| {
            let start: Time = restriction
                .start
                .parse()
                .map_err(|error| LoadError::Data(format!("restriction start {:?}: {error}", restriction.start)))?;
            let days = restriction.days.iter().map(|day| weekday(day)).collect::<Result<Vec<_>, _>>()?;
            Ok(Restriction::on(&days, start, restriction.minutes))
        })
        .collect()
}

fn weekday(name: &str) -> Result<Weekday, LoadError> {
    Ok(match name {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        other => return Err(LoadError::Data(format!("weekday {other:?}"))),
    })
}

/// A stored hand-off (a local `timestamp`) as the shift arithmetic's civil date-time.
pub fn local_date_time(handoff: PrimitiveDateTime) -> Result<jiff::civil::DateTime, LoadError> {
    jiff::civil::DateTime::new(
        handoff.year() as i16,
        u8::from(handoff.month()) as i8,
        handoff.day() as i8,
        handoff.hour() as i8,
        handoff.minute() as i8,
        handoff.second() as i8,
        handoff.nanosecond() as i32,
    )
    .map_err(|error| LoadError::Data(format!("first hand-off {handoff}: {error}")))
}

/// A civil date-time of the shift arithmetic as the local `timestamp` stored; `None` for a year
/// outside the `time` crate's -9999 to 9999 (jiff's are the same).
pub fn stored_date_time(local: jiff::civil::DateTime) -> Option<PrimitiveDateTime> {
    let month = time::Month::try_from(u8::try_from(local.month()).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(local.year()), month, u8::try_from(local.day()).ok()?).ok()?;
    let time = time::Time::from_hms_nano(
        u8::try_from(local.hour()).ok()?,
        u8::try_from(local.minute()).ok()?,
        u8::try_from(local.second()).ok()?,
        u32::try_from(local.subsec_nanosecond()).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

pub(crate) fn zone(name: &str) -> Result<TimeZone, LoadError> {
    TimeZone::get(name).map_err(|error| LoadError::Data(format!("time zone {name:?}: {error}")))
}

/// The same instant in jiff's terms (both count nanoseconds from 1970 UTC); PostgreSQL's range
/// is wider than jiff's years -9999 to 9999, and a time outside it is refused, not moved.
fn instant(at: OffsetDateTime) -> Result<jiff::Timestamp, LoadError> {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .map_err(|error| LoadError::Data(format!("{at}: {error}")))
}
