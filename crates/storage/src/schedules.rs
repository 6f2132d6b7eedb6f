//! On-call schedules as stored, and read back as the inputs of `tocsin_domain::schedule::shifts`,
//! which works out who is on call (docs/oncall.md). Overrides of one schedule never overlap, and
//! versions of one layer are never in force at once: exclusion constraints say so in the database
//! (migration 000014), so two people taking the same shift at the same moment cannot both succeed.

use crate::StorageError;
use diesel::sql_types::{Integer, Jsonb, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid};
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

pub async fn create(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    name: &str,
    time_zone: &str,
) -> Result<Uuid, StorageError> {
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
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(version.members)
    .execute(conn)
    .await?;
    Ok(id)
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

#[derive(QueryableByName)]
struct ScheduleRow {
    #[diesel(sql_type = Text)]
    time_zone: String,
}

#[derive(QueryableByName)]
struct LayerRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
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
    #[diesel(sql_type = diesel::sql_types::Array<SqlUuid>)]
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
    let Some(schedule) = diesel::sql_query("SELECT time_zone FROM schedules WHERE id = $1")
        .bind::<SqlUuid, _>(schedule_id)
        .get_result::<ScheduleRow>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let layers: Vec<LayerRow> = diesel::sql_query(
        "SELECT l.id, l.priority, l.time_zone, l.first_handoff, l.shift_unit, l.shift_count, l.restrictions, \
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

    Ok(Some(Schedule {
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
    }))
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
    let handoff = row.first_handoff;
    let first_handoff = jiff::civil::DateTime::new(
        handoff.year() as i16,
        u8::from(handoff.month()) as i8,
        handoff.day() as i8,
        handoff.hour() as i8,
        handoff.minute() as i8,
        handoff.second() as i8,
        handoff.nanosecond() as i32,
    )
    .map_err(|error| LoadError::Data(format!("first hand-off {handoff}: {error}")))?;
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

pub(crate) fn restrictions(value: serde_json::Value) -> Result<Vec<Restriction>, LoadError> {
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

pub(crate) fn zone(name: &str) -> Result<TimeZone, LoadError> {
    TimeZone::get(name).map_err(|error| LoadError::Data(format!("time zone {name:?}: {error}")))
}

/// The same instant in jiff's terms (both count nanoseconds from 1970 UTC); PostgreSQL's range
/// is wider than jiff's years -9999 to 9999, and a time outside it is refused, not moved.
fn instant(at: OffsetDateTime) -> Result<jiff::Timestamp, LoadError> {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .map_err(|error| LoadError::Data(format!("{at}: {error}")))
}
