//! On-call schedules over HTTP: a team's schedules (`/schedules`), their layers and overrides, the
//! shifts they give over a range (`GET /schedules/{id}/shifts`), and who is on call now in each
//! (`GET /oncall`). Who is on call is always worked out by `tocsin_domain::schedule` (`shifts`,
//! `gaps`, `on_call_at`) from what `tocsin_storage::schedules` reads, never computed here.
//!
//! Reading takes the `read` scope. Changing a schedule takes a token with `admin`, or a person
//! who is an admin or a manager of the schedule's team (`authorization::may_manage_team`, asked
//! in the change's transaction with the schedule locked); but any responder of the team may put
//! themselves on call with an override, and take that override back (take a shift, cover a
//! colleague: `authorization::may_put_on_call`). Each change and its audit entry are
//! written in one transaction. Edits apply from now on: a layer put or removed changes the schedule from this
//! instant, and an override never starts in the past, so who was on call is never rewritten.

use crate::State;
use crate::authorization::{may_manage_team, may_put_on_call, principal_of};
use crate::catalogue::check_name;
use crate::errors::{parse_id, storage_error};
use crate::sign_in::access::Principal;
use crate::teams::check_team;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tocsin_domain::schedule::{
    Interval, Schedule, ScheduleError, Shift, Source, WEEK_MINUTES, gaps, on_call_at, shifts,
};
use tocsin_runtime::ApiError;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_storage::catalogue::{self, MAX_TEAM_BYTES};
use tocsin_storage::schedules::{
    self, LayerVersion, LayeredSchedule, LoadError, MAX_NAME_BYTES, MAX_REASON_BYTES, MAX_SHIFT_COUNT, MAX_ZONE_BYTES,
    Member, NameError, NewLayerVersion, NewOverride, OverrideError, OverrideRemoval, ScheduleEntry,
};
use tocsin_storage::teams;
use tocsin_storage::{AsyncConnection, AsyncPgConnection, StorageError};
use uuid::Uuid;

/// Most members one layer rotates through.
pub const MAX_MEMBERS_PER_LAYER: usize = 50;
/// Most layers a schedule has in force (now or from a later edit) at once.
pub const MAX_LAYERS_PER_SCHEDULE: usize = 10;
/// Most restrictions of one layer: two windows a day, every day.
pub const MAX_RESTRICTIONS_PER_LAYER: usize = 14;
/// Most schedules of one team: `GET /oncall` works each of them out at every call.
pub const MAX_SCHEDULES_PER_TEAM: usize = 50;
/// A layer's priority is between minus this and this.
pub const MAX_PRIORITY: i32 = 1000;
/// Longest override: a month away, handed over for the whole of it.
pub const MAX_OVERRIDE: Duration = Duration::days(31);
/// Longest range of `GET /schedules/{id}/shifts`: a month's page with the weeks at its edges. The
/// number of shifts grows with the range (an hourly layer has 24 a day).
pub const MAX_SHIFTS_RANGE: Duration = Duration::days(62);
/// Longest way of naming a user: an e-mail address is at most 254 bytes (RFC 5321).
const MAX_USER_REFERENCE_BYTES: usize = 254;
/// First hand-offs are between these years: far enough back for any rotation still running.
const FIRST_HANDOFF_YEARS: std::ops::RangeInclusive<i16> = 1970..=2999;

/// A user, as schedules show their members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    id: Uuid,
    name: String,
    email: Option<String>,
}

impl From<Member> for User {
    fn from(member: Member) -> User {
        User { id: member.id, name: member.name, email: member.email }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleSummary {
    id: Uuid,
    /// The team's slug.
    team: String,
    name: String,
    /// The IANA zone its layers hand off in, unless a layer names its own.
    time_zone: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<ScheduleEntry> for ScheduleSummary {
    fn from(entry: ScheduleEntry) -> ScheduleSummary {
        ScheduleSummary {
            id: entry.id,
            team: entry.team,
            name: entry.name,
            time_zone: entry.time_zone,
            created_at: entry.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleList {
    /// By team, then name.
    items: Vec<ScheduleSummary>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// The team's slug; the team must exist (teams come with the service catalogue).
    team: String,
    /// 1 to 200 bytes, unique within the team.
    name: String,
    /// An IANA time zone, e.g. `America/New_York`.
    time_zone: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    /// The new name: 1 to 200 bytes, unique within the team.
    name: String,
}

/// A schedule with its layers in force and its overrides under way or to come.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleDetail {
    #[serde(flatten)]
    schedule: ScheduleSummary,
    /// Highest priority first.
    layers: Vec<LayerView>,
    /// Those that end after now, by start.
    overrides: Vec<OverrideView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShiftUnit {
    Hours,
    Days,
    Weeks,
    /// Calendar months: a hand-off on the 31st falls on the last day of shorter months.
    Months,
}

impl ShiftUnit {
    /// As the database stores it.
    fn name(self) -> &'static str {
        match self {
            ShiftUnit::Hours => "hours",
            ShiftUnit::Days => "days",
            ShiftUnit::Weeks => "weeks",
            ShiftUnit::Months => "months",
        }
    }

    fn parse(name: &str) -> Option<ShiftUnit> {
        [ShiftUnit::Hours, ShiftUnit::Days, ShiftUnit::Weeks, ShiftUnit::Months]
            .into_iter()
            .find(|unit| unit.name() == name)
    }
}

/// A part of the week the layer is kept to: windows opening on each of `days` at `start` (local
/// time) and lasting `minutes`. Weekdays 09:00–17:00 is Monday to Friday, `09:00`, 480 minutes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionBody {
    /// `monday` to `sunday`.
    days: Vec<String>,
    /// When each window opens, local time: `09:00`.
    start: String,
    /// How long each window lasts, 1 to 10,080 (a week).
    minutes: u32,
}

/// A layer as written: a rotation through its members, handing off in wall-clock time.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerRequest {
    /// Where two layers have someone on call, the higher priority wins; -1000 to 1000 (0).
    #[serde(default)]
    priority: i32,
    /// The IANA zone of its hand-offs and restrictions, when not the schedule's.
    time_zone: Option<String>,
    /// The first hand-off, local wall-clock time without an offset: `2026-10-05T09:00`. Every
    /// hand-off is counted from it, forwards and backwards; between the years 1970 and 2999.
    first_handoff: String,
    shift_unit: ShiftUnit,
    /// How many units one shift lasts, 1 to 1000.
    shift_count: i32,
    /// Users by id or e-mail address, in rotation order: 1 to 50 (one may appear twice).
    members: Vec<String>,
    /// At most 14; none: the whole week.
    #[serde(default)]
    restrictions: Vec<RestrictionBody>,
}

/// One version of a layer: what is in force from `effective_from`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LayerView {
    /// The layer across its edits: what `PUT` and `DELETE /schedules/{id}/layers/{layer_id}` take.
    id: Uuid,
    /// This version of it.
    version_id: Uuid,
    priority: i32,
    /// Null: the schedule's zone.
    time_zone: Option<String>,
    /// Local wall-clock time: `2026-10-05T09:00:00`.
    first_handoff: String,
    shift_unit: ShiftUnit,
    shift_count: i32,
    /// In rotation order.
    members: Vec<User>,
    restrictions: Vec<RestrictionBody>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    effective_from: OffsetDateTime,
    /// Null: until further notice.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    effective_until: Option<OffsetDateTime>,
    /// Who put this version in force.
    created_by: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Who is on call instead: a user's id or e-mail address.
    user: String,
    /// Only where this user would have been on call (id or e-mail address); absent: in place of
    /// whoever is.
    replaces: Option<String>,
    /// RFC 3339. A time already past means now: who was on call is never rewritten.
    from: String,
    /// RFC 3339, after `from` and at most 31 days later.
    until: String,
    /// At most 1000 bytes.
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverrideView {
    id: Uuid,
    user: User,
    /// Null: in place of whoever is on call.
    replaces: Option<User>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    until: OffsetDateTime,
    reason: String,
    created_by: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamParams {
    /// A team's slug: only its schedules.
    team: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// RFC 3339: the start of the range (required).
    from: Option<String>,
    /// RFC 3339: its end, after `from` and at most 62 days later (required).
    until: Option<String>,
}

/// Someone on call from `from` to `until`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShiftView {
    user: User,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    until: OffsetDateTime,
    /// The layer that puts them there; null for an override's shift.
    layer_id: Option<Uuid>,
    /// The override that puts them there; null for a layer's shift.
    override_id: Option<Uuid>,
}

/// A time when nobody is on call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Gap {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    until: OffsetDateTime,
}

/// One layer's own shifts, as if it were alone: what a schedule page draws as its row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LayerShifts {
    /// The layer across its edits.
    id: Uuid,
    /// Of its latest version in the range.
    priority: i32,
    shifts: Vec<ShiftView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleShifts {
    schedule_id: Uuid,
    time_zone: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    until: OffsetDateTime,
    /// Who is on call, in order: layers stacked by priority, overrides on top. This is who gets
    /// paged.
    #[serde(rename = "final")]
    final_shifts: Vec<ShiftView>,
    /// When nobody is on call, in order.
    gaps: Vec<Gap>,
    /// Each layer's own shifts, highest priority first.
    layers: Vec<LayerShifts>,
    /// The overrides that meet the range, cut to it, by start.
    overrides: Vec<ShiftView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnCallEntry {
    schedule: ScheduleSummary,
    /// Null: nobody is on call in this schedule now.
    user: Option<User>,
    /// Since when, as far as 35 days back.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    from: Option<OffsetDateTime>,
    /// When their shift ends, as far as 35 days ahead (a longer one is reported cut there).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnCall {
    /// The instant the answer is for.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    at: OffsetDateTime,
    /// Every schedule (or the team's), by team then name.
    items: Vec<OnCallEntry>,
}

#[utoipa::path(
    get,
    path = "/schedules",
    params(TeamParams),
    responses(
        (status = 200, description = "The schedules, by team then name", body = ScheduleList),
        (status = 400, description = "No team has that slug, or `team` is too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>, params: web::Query<TeamParams>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.connection().await?;
    let entries = schedules_of(&mut conn, params.team.as_deref()).await?;
    Ok(HttpResponse::Ok().json(ScheduleList { items: entries.into_iter().map(ScheduleSummary::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/schedules",
    request_body = NewSchedule,
    responses(
        (status = 201, description = "The schedule, with no layer yet", body = ScheduleSummary),
        (status = 400, description = "A field is empty, too long, or names no team or no IANA time zone", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 409, description = "The team has a schedule of that name, or its maximum of 50", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<NewSchedule>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_name("name", &body.name, MAX_NAME_BYTES)?;
    check_name("team", &body.team, MAX_TEAM_BYTES)?;
    check_zone("time_zone", &body.time_zone)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let entry = conn
        .transaction(async |conn| {
            let team_id = teams::lock_team(conn, &body.team).await?.ok_or_else(|| unknown_team("team", &body.team))?.id;
            may_manage_team(conn, &principal, &body.team).await?;
            let existing = schedules::list(conn, Some(team_id)).await?;
            if existing.len() >= MAX_SCHEDULES_PER_TEAM {
                return Err(Refused::Answer(ApiError::conflict(format!(
                    "team {:?} has {MAX_SCHEDULES_PER_TEAM} schedules, the most a team may have",
                    body.team
                ))));
            }
            let id =
                schedules::create(conn, team_id, &body.name, &body.time_zone).await.map_err(|error| match error {
                    NameError::Taken => Refused::Answer(name_taken(&body.team, &body.name)),
                    NameError::Storage(error) => Refused::Storage(error),
                })?;
            let details = json!({ "team": body.team, "name": body.name, "time_zone": body.time_zone });
            catalogue::record(conn, &actor, "schedule.create", &id.to_string(), details).await?;
            Ok::<_, Refused>(schedules::get(conn, id).await?.ok_or_else(|| ApiError::internal("a schedule vanished"))?)
        })
        .await?;
    Ok(HttpResponse::Created().json(ScheduleSummary::from(entry)))
}

#[utoipa::path(
    get,
    path = "/schedules/{id}",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule, its layers in force and its overrides to come", body = ScheduleDetail),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    let entry = schedules::get(&mut conn, id).await.map_err(storage_error)?.ok_or_else(|| no_schedule(id))?;
    let versions = schedules::current_layers(&mut conn, id, now).await.map_err(storage_error)?;
    let overrides = schedules::overrides_ending_after(&mut conn, id, now).await.map_err(storage_error)?;
    let mentioned = versions.iter().flat_map(|version| version.members.iter().copied()).chain(
        overrides.iter().flat_map(|overriding| [Some(overriding.user_id), overriding.replaces_user_id]).flatten(),
    );
    let users = read_users(&mut conn, mentioned).await?;
    let layers: Vec<LayerView> =
        versions.into_iter().map(|version| layer_view(version, &users)).collect::<Result<_, ApiError>>()?;
    let overrides = overrides
        .into_iter()
        .map(|overriding| OverrideView {
            id: overriding.id,
            user: user(&users, overriding.user_id),
            replaces: overriding.replaces_user_id.map(|replaced| user(&users, replaced)),
            from: overriding.start,
            until: overriding.end,
            reason: overriding.reason,
            created_by: overriding.created_by,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ScheduleDetail { schedule: entry.into(), layers, overrides }))
}

#[utoipa::path(
    patch,
    path = "/schedules/{id}",
    params(("id" = Uuid, Path, description = "Schedule id")),
    request_body = ScheduleChange,
    responses(
        (status = 200, description = "The schedule, renamed", body = ScheduleSummary),
        (status = 400, description = "The id is not a UUID, or the name is empty, too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 409, description = "The team has another schedule of that name", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rename(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ScheduleChange>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let name = body.into_inner().name;
    check_name("name", &name, MAX_NAME_BYTES)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let entry = conn
        .transaction(async |conn| {
            let before = lock_to_change(conn, &principal, id).await?;
            schedules::rename(conn, id, &name).await.map_err(|error| match error {
                NameError::Taken => Refused::Answer(name_taken(&before.team, &name)),
                NameError::Storage(error) => Refused::Storage(error),
            })?;
            let details = json!({ "name": name, "previous_name": before.name });
            catalogue::record(conn, &actor, "schedule.rename", &id.to_string(), details).await?;
            Ok::<_, Refused>(ScheduleEntry { name: name.clone(), ..before })
        })
        .await?;
    Ok(HttpResponse::Ok().json(ScheduleSummary::from(entry)))
}

#[utoipa::path(
    delete,
    path = "/schedules/{id}",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted, with its layers, their history and its overrides"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let entry = lock_to_change(conn, &principal, id).await?;
        schedules::delete(conn, id).await?;
        let details = json!({ "team": entry.team, "name": entry.name });
        catalogue::record(conn, &actor, "schedule.delete", &id.to_string(), details).await?;
        Ok::<_, Refused>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/schedules/{id}/layers",
    params(("id" = Uuid, Path, description = "Schedule id")),
    request_body = LayerRequest,
    responses(
        (status = 201, description = "The new layer, in force from now on", body = LayerView),
        (status = 400, description = "A field is malformed or over its limit, or names no user or no IANA time zone", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 409, description = "The schedule has its maximum of 10 layers in force", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_layer(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Json<LayerRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let view = put_layer(&state, &principal_of(&request)?, id, None, body.into_inner()).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(view))
}

#[utoipa::path(
    put,
    path = "/schedules/{id}/layers/{layer_id}",
    params(
        ("id" = Uuid, Path, description = "Schedule id"),
        ("layer_id" = Uuid, Path, description = "The layer (the `id` of its versions)"),
    ),
    request_body = LayerRequest,
    responses(
        (status = 200, description = "The layer's new version, in force from now on; the one before ends now", body = LayerView),
        (status = 400, description = "A field is malformed or over its limit, or names no user or no IANA time zone", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule, or no such layer in it", body = ErrorBody),
        (status = 409, description = "The layer had been removed, and the schedule has its maximum of 10 layers in force", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn replace_layer(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<LayerRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, layer) = path.into_inner();
    let (id, layer) = (parse_id("schedule", &id)?, parse_id("layer", &layer)?);
    let view = put_layer(&state, &principal_of(&request)?, id, Some(layer), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    delete,
    path = "/schedules/{id}/layers/{layer_id}",
    params(
        ("id" = Uuid, Path, description = "Schedule id"),
        ("layer_id" = Uuid, Path, description = "The layer (the `id` of its versions)"),
    ),
    responses(
        (status = 204, description = "The layer ends now; its past shifts stay as they were"),
        (status = 400, description = "An id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule, or no such layer in force in it", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_layer(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, layer) = path.into_inner();
    let (id, layer) = (parse_id("schedule", &id)?, parse_id("layer", &layer)?);
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        lock_to_change(conn, &principal, id).await?;
        if !schedules::end_layer(conn, id, layer, now).await? {
            return Err(Refused::Answer(ApiError::not_found(format!("schedule {id} has no layer {layer} in force"))));
        }
        let details = json!({ "layer": layer, "until": rfc3339(now) });
        catalogue::record(conn, &actor, "schedule.layer.remove", &id.to_string(), details).await?;
        Ok::<_, Refused>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/schedules/{id}/overrides",
    params(("id" = Uuid, Path, description = "Schedule id")),
    request_body = OverrideRequest,
    responses(
        (status = 201, description = "The override, as stored", body = OverrideView),
        (status = 400, description = "A field is malformed or over its limit, names no user, or the range is empty, past or over 31 days", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team (nor a responder of it putting themselves on call); the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 409, description = "Another override of the schedule overlaps it", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_override(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Json<OverrideRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let body = body.into_inner();
    let now = OffsetDateTime::now_utc();
    let asked_from = parse_time("from", &body.from)?;
    let until = parse_time("until", &body.until)?;
    if until <= asked_from {
        return Err(ApiError::invalid_payload("until must be after from"));
    }
    if until <= now {
        return Err(ApiError::invalid_payload(format!(
            "until ({}) is past: an override changes who is on call from now on, never who was",
            rfc3339(until)
        )));
    }
    if until - asked_from > MAX_OVERRIDE {
        return Err(ApiError::invalid_payload(format!(
            "an override lasts at most {} days; this one lasts {:.1}",
            MAX_OVERRIDE.whole_days(),
            (until - asked_from).as_seconds_f64() / 86_400.0
        )));
    }
    let from = asked_from.max(now);
    if body.reason.len() > MAX_REASON_BYTES {
        return Err(ApiError::invalid_payload(format!(
            "reason is {} bytes; the limit is {MAX_REASON_BYTES}",
            body.reason.len()
        )));
    }
    let replaces = body.replaces.as_deref().filter(|reference| !reference.trim().is_empty());
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let view = conn
        .transaction(async |conn| {
            let member = resolve_users(conn, &[("user".to_owned(), body.user.as_str())]).await?.remove(0);
            lock_to_put_on_call(conn, &principal, id, member.id).await?;
            let replaced = match replaces {
                Some(reference) => Some(resolve_users(conn, &[("replaces".to_owned(), reference)]).await?.remove(0)),
                None => None,
            };
            if replaced.as_ref().is_some_and(|replaced| replaced.id == member.id) {
                return Err(Refused::Answer(ApiError::invalid_payload("user and replaces are the same person")));
            }
            let new = NewOverride {
                schedule_id: id,
                member: member.id,
                replaces: replaced.as_ref().map(|replaced| replaced.id),
                start: from,
                end: until,
                reason: &body.reason,
                created_by: &actor,
            };
            let override_id = schedules::add_override(conn, &new).await.map_err(|error| match error {
                OverrideError::Overlaps => Refused::Answer(ApiError::conflict(format!(
                    "schedule {id} already has an override for part of {} to {}: remove it, or choose another time",
                    rfc3339(from),
                    rfc3339(until)
                ))),
                OverrideError::Storage(error) => Refused::Storage(error),
            })?;
            let details = json!({
                "override": override_id,
                "user": member.id,
                "replaces": replaced.as_ref().map(|replaced| replaced.id),
                "from": rfc3339(from),
                "until": rfc3339(until),
                "reason": body.reason,
            });
            catalogue::record(conn, &actor, "schedule.override.add", &id.to_string(), details).await?;
            Ok::<_, Refused>(OverrideView {
                id: override_id,
                user: member.into(),
                replaces: replaced.map(User::from),
                from,
                until,
                reason: body.reason.clone(),
                created_by: actor.clone(),
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(
    delete,
    path = "/schedules/{id}/overrides/{override_id}",
    params(
        ("id" = Uuid, Path, description = "Schedule id"),
        ("override_id" = Uuid, Path, description = "Override id"),
    ),
    responses(
        (status = 204, description = "Removed: one to come is deleted, one under way ends now"),
        (status = 400, description = "An id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the schedule's team (nor the override's own person, a responder of it); the message names the team", body = ErrorBody),
        (status = 404, description = "No such schedule, or no such override of it", body = ErrorBody),
        (status = 409, description = "The override is over: the past is not rewritten", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_override(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, override_id) = path.into_inner();
    let (id, override_id) = (parse_id("schedule", &id)?, parse_id("override", &override_id)?);
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        // Whoever may put its person on call may take them off again: the person themselves too.
        let overrides = schedules::overrides_ending_after(conn, id, now).await?;
        match overrides.iter().find(|overriding| overriding.id == override_id) {
            Some(overriding) => lock_to_put_on_call(conn, &principal, id, overriding.user_id).await?,
            None => lock_to_change(conn, &principal, id).await?,
        };
        let removal = match schedules::remove_override(conn, id, override_id, now).await? {
            OverrideRemoval::NotFound => {
                return Err(Refused::Answer(ApiError::not_found(format!(
                    "schedule {id} has no override {override_id}"
                ))));
            }
            OverrideRemoval::AlreadyOver => {
                return Err(Refused::Answer(ApiError::conflict(format!(
                    "override {override_id} is over: who was on call is not rewritten"
                ))));
            }
            OverrideRemoval::Deleted => "deleted",
            OverrideRemoval::Ended => "ended",
        };
        let details = json!({ "override": override_id, "removal": removal, "at": rfc3339(now) });
        catalogue::record(conn, &actor, "schedule.override.remove", &id.to_string(), details).await?;
        Ok::<_, Refused>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/schedules/{id}/shifts",
    params(("id" = Uuid, Path, description = "Schedule id"), RangeParams),
    responses(
        (status = 200, description = "Who is on call over the range: the final shifts, the gaps, each layer's own shifts and the overrides", body = ScheduleShifts),
        (status = 400, description = "The id is not a UUID, or the range is missing, malformed, empty or over 62 days", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn shifts_in_range(
    state: web::Data<State>,
    id: web::Path<String>,
    params: web::Query<RangeParams>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("schedule", &id)?;
    let required = |value: &Option<String>, name: &str| {
        value.clone().filter(|value| !value.is_empty()).ok_or_else(|| {
            ApiError::invalid_parameter(format!("{name} is required: an RFC 3339 time such as 2026-11-01T00:00:00Z"))
        })
    };
    let (from, until) = (required(&params.from, "from")?, required(&params.until, "until")?);
    let from = parse_time("from", &from).map_err(|error| ApiError::invalid_parameter(error.message))?;
    let until = parse_time("until", &until).map_err(|error| ApiError::invalid_parameter(error.message))?;
    if until <= from {
        return Err(ApiError::invalid_parameter("until must be after from"));
    }
    if until - from > MAX_SHIFTS_RANGE {
        return Err(ApiError::invalid_parameter(format!(
            "the range from {} to {} is over {} days, the most one request may ask for",
            rfc3339(from),
            rfc3339(until),
            MAX_SHIFTS_RANGE.whole_days()
        )));
    }
    let mut conn = state.connection().await?;
    let entry = schedules::get(&mut conn, id).await.map_err(storage_error)?.ok_or_else(|| no_schedule(id))?;
    let loaded = schedules::load_layered(&mut conn, id, from, until)
        .await
        .map_err(load_error)?
        .ok_or_else(|| no_schedule(id))?;
    let range = Interval::new(instant(from)?, instant(until)?);
    let computed = web::block(move || work_out(&loaded, range))
        .await
        .map_err(|error| ApiError::internal(format!("working out shifts: {error}")))??;
    let mentioned = (computed.final_shifts.iter().map(|shift| shift.member))
        .chain(computed.layers.iter().flat_map(|layer| layer.shifts.iter().map(|shift| shift.member)))
        .chain(computed.overrides.iter().map(|overriding| overriding.member));
    let users = read_users(&mut conn, mentioned).await?;
    let view = |shift: &Shift, layer_of: &HashMap<Uuid, Uuid>| -> Result<ShiftView, ApiError> {
        let (layer_id, override_id) = match shift.source {
            Source::Layer(version) => (layer_of.get(&version).copied(), None),
            Source::Override(overriding) => (None, Some(overriding)),
        };
        Ok(ShiftView {
            user: user(&users, shift.member),
            from: offset_date_time(shift.start)?,
            until: offset_date_time(shift.end)?,
            layer_id,
            override_id,
        })
    };
    let layer_of = &computed.layer_of;
    Ok(HttpResponse::Ok().json(ScheduleShifts {
        schedule_id: id,
        time_zone: entry.time_zone,
        from,
        until,
        final_shifts: computed.final_shifts.iter().map(|shift| view(shift, layer_of)).collect::<Result<_, _>>()?,
        gaps: computed
            .gaps
            .iter()
            .map(|gap| Ok(Gap { from: offset_date_time(gap.start)?, until: offset_date_time(gap.end)? }))
            .collect::<Result<_, ApiError>>()?,
        layers: computed
            .layers
            .iter()
            .map(|layer| {
                Ok(LayerShifts {
                    id: layer.id,
                    priority: layer.priority,
                    shifts: layer.shifts.iter().map(|shift| view(shift, layer_of)).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        overrides: computed
            .overrides
            .iter()
            .map(|overriding| {
                view(
                    &Shift {
                        member: overriding.member,
                        start: overriding.during.start,
                        end: overriding.during.end,
                        source: Source::Override(overriding.id),
                    },
                    layer_of,
                )
            })
            .collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(
    get,
    path = "/oncall",
    params(TeamParams),
    responses(
        (status = 200, description = "Who is on call now in each schedule, and until when", body = OnCall),
        (status = 400, description = "No team has that slug, or `team` is too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn on_call(state: web::Data<State>, params: web::Query<TeamParams>) -> Result<HttpResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    let at = instant(now)?;
    let mut conn = state.connection().await?;
    let team_id = team_id_of(&mut conn, params.team.as_deref()).await?;
    let loaded = schedules::around_now(&mut conn, team_id, now).await.map_err(load_error)?;
    let found = web::block(move || {
        loaded
            .into_iter()
            .map(|(entry, schedule)| on_call_at(&schedule, at).map(|shift| (entry, shift)))
            .collect::<Result<Vec<_>, ScheduleError>>()
    })
    .await
    .map_err(|error| ApiError::internal(format!("working out who is on call: {error}")))?
    .map_err(schedule_error)?;
    let users = read_users(&mut conn, found.iter().filter_map(|(_, shift)| shift.map(|shift| shift.member))).await?;
    let items = found
        .into_iter()
        .map(|(entry, shift)| {
            Ok(OnCallEntry {
                schedule: entry.into(),
                user: shift.map(|shift| user(&users, shift.member)),
                from: shift.map(|shift| offset_date_time(shift.start)).transpose()?,
                until: shift.map(|shift| offset_date_time(shift.end)).transpose()?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(HttpResponse::Ok().json(OnCall { at: now, items }))
}

/// Locks schedule `id` for a change by `principal`, who must be allowed to manage its team: a
/// token with `admin`, an admin, or a manager of the team (`authorization::may_manage_team`).
async fn lock_to_change(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<ScheduleEntry, Refused> {
    let entry = schedules::lock(conn, id).await?.ok_or_else(|| no_schedule(id))?;
    may_manage_team(conn, principal, &entry.team).await?;
    Ok(entry)
}

/// Locks schedule `id` for an override putting `member` on call: people put themselves on call
/// as responders of its team, anyone else as its managers (`authorization::may_put_on_call`).
async fn lock_to_put_on_call(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    member: Uuid,
) -> Result<ScheduleEntry, Refused> {
    let entry = schedules::lock(conn, id).await?.ok_or_else(|| no_schedule(id))?;
    may_put_on_call(conn, principal, &entry.team, member).await?;
    Ok(entry)
}

/// A new layer (`layer` none) or a new version of one, in force from now on, with its audit entry.
async fn put_layer(
    state: &State,
    principal: &Principal,
    id: Uuid,
    layer: Option<Uuid>,
    body: LayerRequest,
) -> Result<LayerView, ApiError> {
    let actor = principal.actor();
    let valid = validate_layer(&body)?;
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    let view = conn
        .transaction(async |conn| {
            lock_to_change(conn, principal, id).await?;
            if let Some(layer) = layer
                && !schedules::has_layer(conn, id, layer).await?
            {
                return Err(Refused::Answer(ApiError::not_found(format!("schedule {id} has no layer {layer}"))));
            }
            let in_force: BTreeSet<Uuid> =
                schedules::current_layers(conn, id, now).await?.into_iter().map(|version| version.layer).collect();
            let adds_one = layer.is_none_or(|layer| !in_force.contains(&layer));
            if adds_one && in_force.len() >= MAX_LAYERS_PER_SCHEDULE {
                return Err(Refused::Answer(ApiError::conflict(format!(
                    "schedule {id} has {MAX_LAYERS_PER_SCHEDULE} layers in force, the most a schedule may have"
                ))));
            }
            let named: Vec<(String, &str)> = (body.members.iter().enumerate())
                .map(|(index, reference)| (format!("members[{index}]"), reference.as_str()))
                .collect();
            let members = resolve_users(conn, &named).await?;
            let member_ids: Vec<Uuid> = members.iter().map(|member| member.id).collect();
            let layer = layer.unwrap_or_else(Uuid::now_v7);
            let version = NewLayerVersion {
                schedule_id: id,
                layer,
                priority: body.priority,
                time_zone: body.time_zone.as_deref(),
                first_handoff: valid.first_handoff,
                shift_unit: body.shift_unit.name(),
                shift_count: body.shift_count,
                restrictions: valid.restrictions.clone(),
                members: &member_ids,
                created_by: &actor,
            };
            let version_id = schedules::put_layer(conn, &version, now).await?;
            let details = json!({
                "layer": layer,
                "version": version_id,
                "from": rfc3339(now),
                "priority": body.priority,
                "time_zone": body.time_zone,
                "first_handoff": valid.first_handoff_text,
                "shift_unit": body.shift_unit.name(),
                "shift_count": body.shift_count,
                "members": member_ids,
                "restrictions": valid.restrictions,
            });
            catalogue::record(conn, &actor, "schedule.layer.put", &id.to_string(), details).await?;
            let stored = schedules::current_layers(conn, id, now)
                .await?
                .into_iter()
                .find(|stored| stored.id == version_id)
                .ok_or_else(|| ApiError::internal("a layer version vanished in its own transaction"))?;
            let users: HashMap<Uuid, Member> = members.into_iter().map(|member| (member.id, member)).collect();
            Ok::<_, Refused>(layer_view(stored, &users)?)
        })
        .await?;
    Ok(view)
}

/// What a layer request gives, checked: the hand-off as stored and the restrictions as JSON.
struct ValidLayer {
    first_handoff: time::PrimitiveDateTime,
    first_handoff_text: String,
    restrictions: serde_json::Value,
}

/// Every limit of a layer but its members' existence (which takes the database): 400 naming the
/// field and the limit.
fn validate_layer(body: &LayerRequest) -> Result<ValidLayer, ApiError> {
    if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&body.priority) {
        return Err(ApiError::invalid_payload(format!(
            "priority is {}; it must be between -{MAX_PRIORITY} and {MAX_PRIORITY}",
            body.priority
        )));
    }
    if let Some(zone) = &body.time_zone {
        check_zone("time_zone", zone)?;
    }
    let local: jiff::civil::DateTime = body.first_handoff.parse().map_err(|error| {
        ApiError::invalid_payload(format!(
            "first_handoff {:?} is not a local date and time without offset, such as 2026-10-05T09:00 ({error})",
            body.first_handoff
        ))
    })?;
    if !FIRST_HANDOFF_YEARS.contains(&local.year()) {
        return Err(ApiError::invalid_payload(format!(
            "first_handoff is in {}; it must be between the years {} and {}",
            local.year(),
            FIRST_HANDOFF_YEARS.start(),
            FIRST_HANDOFF_YEARS.end()
        )));
    }
    let first_handoff = schedules::stored_date_time(local)
        .ok_or_else(|| ApiError::invalid_payload(format!("first_handoff {local} cannot be stored")))?;
    if !(1..=MAX_SHIFT_COUNT).contains(&body.shift_count) {
        return Err(ApiError::invalid_payload(format!(
            "shift_count is {}; it must be between 1 and {MAX_SHIFT_COUNT}",
            body.shift_count
        )));
    }
    if body.members.is_empty() || body.members.len() > MAX_MEMBERS_PER_LAYER {
        return Err(ApiError::invalid_payload(format!(
            "members has {}; a layer has 1 to {MAX_MEMBERS_PER_LAYER}",
            body.members.len()
        )));
    }
    if body.restrictions.len() > MAX_RESTRICTIONS_PER_LAYER {
        return Err(ApiError::invalid_payload(format!(
            "restrictions has {}; a layer has at most {MAX_RESTRICTIONS_PER_LAYER}",
            body.restrictions.len()
        )));
    }
    let mut restrictions = Vec::with_capacity(body.restrictions.len());
    for (index, restriction) in body.restrictions.iter().enumerate() {
        let field = format!("restrictions[{index}]");
        if restriction.days.is_empty() || restriction.days.len() > 7 {
            return Err(ApiError::invalid_payload(format!(
                "{field}.days has {}; it names 1 to 7",
                restriction.days.len()
            )));
        }
        if !(1..=WEEK_MINUTES).contains(&restriction.minutes) {
            return Err(ApiError::invalid_payload(format!(
                "{field}.minutes is {}; it must be between 1 and {WEEK_MINUTES} (a week)",
                restriction.minutes
            )));
        }
        let start: jiff::civil::Time = restriction.start.parse().map_err(|error| {
            ApiError::invalid_payload(format!(
                "{field}.start {:?} is not a time of day such as 09:00 ({error})",
                restriction.start
            ))
        })?;
        let stored = json!({ "days": restriction.days, "start": start.to_string(), "minutes": restriction.minutes });
        // Read back as storage will read it: a weekday it does not know is refused now.
        schedules::restrictions(json!([stored])).map_err(|error| match error {
            LoadError::Data(detail) => ApiError::invalid_payload(format!("{field}: {detail} (monday to sunday)")),
            LoadError::Storage(error) => storage_error(error),
        })?;
        restrictions.push(stored);
    }
    Ok(ValidLayer {
        first_handoff,
        first_handoff_text: local.to_string(),
        restrictions: serde_json::Value::Array(restrictions),
    })
}

/// What `GET /schedules/{id}/shifts` shows, worked out by the domain's functions.
struct WorkedOut {
    final_shifts: Vec<Shift>,
    gaps: Vec<Interval>,
    layers: Vec<OneLayer>,
    overrides: Vec<tocsin_domain::schedule::Override>,
    /// The layer of each version.
    layer_of: HashMap<Uuid, Uuid>,
}

struct OneLayer {
    id: Uuid,
    priority: i32,
    shifts: Vec<Shift>,
}

fn work_out(loaded: &LayeredSchedule, range: Interval) -> Result<WorkedOut, ApiError> {
    let schedule = &loaded.schedule;
    let final_shifts = shifts(schedule, range).map_err(schedule_error)?;
    let gaps = gaps(schedule, range).map_err(schedule_error)?;
    let layer_of: HashMap<Uuid, Uuid> =
        schedule.layers.iter().zip(&loaded.layer_of).map(|(version, layer)| (version.id, *layer)).collect();
    // Each layer alone: its versions, no other layer and no override.
    let mut order: Vec<Uuid> = Vec::new();
    let mut versions: HashMap<Uuid, Vec<tocsin_domain::schedule::Layer>> = HashMap::new();
    for (version, layer) in schedule.layers.iter().zip(&loaded.layer_of) {
        if !versions.contains_key(layer) {
            order.push(*layer);
        }
        versions.entry(*layer).or_default().push(version.clone());
    }
    let mut layers = Vec::with_capacity(order.len());
    for id in order {
        let versions = versions.remove(&id).unwrap_or_default();
        // Versions come by start: the last one is the latest.
        let priority = versions.last().map_or(0, |version| version.priority);
        let alone = Schedule { time_zone: schedule.time_zone.clone(), layers: versions, overrides: Vec::new() };
        layers.push(OneLayer { id, priority, shifts: shifts(&alone, range).map_err(schedule_error)? });
    }
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.priority));
    let overrides = schedule
        .overrides
        .iter()
        .map(|overriding| tocsin_domain::schedule::Override {
            during: overriding.during.intersection(&range),
            ..overriding.clone()
        })
        .filter(|overriding| !overriding.during.is_empty())
        .collect();
    Ok(WorkedOut { final_shifts, gaps, layers, overrides, layer_of })
}

/// The users named by id or e-mail address, each with the field that names it (`members[2]`), in
/// that order: 400 naming the first that is no user, or an address that is more than one user's.
async fn resolve_users(conn: &mut AsyncPgConnection, references: &[(String, &str)]) -> Result<Vec<Member>, Refused> {
    let mut ids = Vec::new();
    let mut emails = Vec::new();
    for (field, reference) in references {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > MAX_USER_REFERENCE_BYTES {
            return Err(Refused::Answer(ApiError::invalid_payload(format!(
                "{field} must be a user's id or e-mail address, 1 to {MAX_USER_REFERENCE_BYTES} bytes"
            ))));
        }
        match reference.parse::<Uuid>() {
            Ok(id) => ids.push(id),
            Err(_) => emails.push(reference.to_owned()),
        }
    }
    let by_id: HashMap<Uuid, Member> =
        schedules::users_by_id(conn, &ids).await?.into_iter().map(|member| (member.id, member)).collect();
    let by_email = schedules::users_by_email(conn, &emails).await?;
    references
        .iter()
        .map(|(field, reference)| {
            let reference = reference.trim();
            let found: Vec<&Member> = match reference.parse::<Uuid>() {
                Ok(id) => by_id.get(&id).into_iter().collect(),
                Err(_) => by_email
                    .iter()
                    .filter(|member| member.email.as_deref().is_some_and(|email| email.eq_ignore_ascii_case(reference)))
                    .collect(),
            };
            match found[..] {
                [member] => Ok(member.clone()),
                [] => Err(Refused::Answer(ApiError::invalid_payload(format!(
                    "{field}: no user {reference:?} (people become users when they first sign in)"
                )))),
                _ => Err(Refused::Answer(ApiError::invalid_payload(format!(
                    "{field}: {reference:?} is the e-mail address of {} users; name the one meant by its id",
                    found.len()
                )))),
            }
        })
        .collect()
}

/// The users among `ids`, by id, read in one query.
async fn read_users(
    conn: &mut AsyncPgConnection,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Member>, ApiError> {
    let ids: Vec<Uuid> = ids.collect::<BTreeSet<_>>().into_iter().collect();
    let members = schedules::users_by_id(conn, &ids).await.map_err(storage_error)?;
    Ok(members.into_iter().map(|member| (member.id, member)).collect())
}

/// A user of the answer. Users are never deleted while a schedule names them (foreign keys), so the
/// id alone stands in only for one deleted while the answer was being put together.
fn user(users: &HashMap<Uuid, Member>, id: Uuid) -> User {
    users.get(&id).cloned().map_or_else(|| User { id, name: id.to_string(), email: None }, User::from)
}

fn layer_view(version: LayerVersion, users: &HashMap<Uuid, Member>) -> Result<LayerView, ApiError> {
    let shift_unit = ShiftUnit::parse(&version.shift_unit).ok_or_else(|| {
        ApiError::internal(format!("layer version {}: shift unit {:?}", version.id, version.shift_unit))
    })?;
    let restrictions: Vec<RestrictionBody> = serde_json::from_value(version.restrictions)
        .map_err(|error| ApiError::internal(format!("layer version {}: restrictions: {error}", version.id)))?;
    let first_handoff = schedules::local_date_time(version.first_handoff).map_err(load_error)?;
    Ok(LayerView {
        id: version.layer,
        version_id: version.id,
        priority: version.priority,
        time_zone: version.time_zone,
        first_handoff: first_handoff.to_string(),
        shift_unit,
        shift_count: version.shift_count,
        members: version.members.iter().map(|member| user(users, *member)).collect(),
        restrictions,
        effective_from: version.effective_from,
        effective_until: version.effective_until,
        created_by: version.created_by,
    })
}

/// Every schedule, or those of the team with this slug (400 when there is none).
async fn schedules_of(conn: &mut AsyncPgConnection, team: Option<&str>) -> Result<Vec<ScheduleEntry>, ApiError> {
    let team_id = team_id_of(conn, team).await?;
    schedules::list(conn, team_id).await.map_err(storage_error)
}

/// The id of the team with this slug (400 when there is none); `None` for no team (every team).
async fn team_id_of(conn: &mut AsyncPgConnection, team: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match team.filter(|team| !team.is_empty()) {
        None => Ok(None),
        Some(slug) => {
            check_team(slug)?;
            let team = teams::team(conn, slug).await.map_err(storage_error)?;
            Ok(Some(team.ok_or_else(|| ApiError::invalid_parameter(unknown_team("team", slug).message))?.id))
        }
    }
}

pub(crate) fn unknown_team(field: &str, slug: &str) -> ApiError {
    ApiError::invalid_payload(format!(
        "{field}: no team {slug:?} (a team exists once a service is given to it: PUT /services/{{service}})"
    ))
}

/// An IANA time zone jiff knows: 400 naming the field and the zone otherwise.
fn check_zone(field: &str, zone: &str) -> Result<(), ApiError> {
    check_name(field, zone, MAX_ZONE_BYTES)?;
    jiff::tz::TimeZone::get(zone).map(|_| ()).map_err(|_| {
        ApiError::invalid_payload(format!("{field} {zone:?} is not an IANA time zone (such as America/New_York)"))
    })
}

fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|error| {
        ApiError::invalid_payload(format!(
            "{field} {text:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z ({error})"
        ))
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn name_taken(team: &str, name: &str) -> ApiError {
    ApiError::conflict(format!("team {team:?} already has a schedule named {name:?}"))
}

fn no_schedule(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no schedule {id}"))
}

/// The same instant as jiff counts it (both count nanoseconds from 1970 UTC).
fn instant(at: OffsetDateTime) -> Result<jiff::Timestamp, ApiError> {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .map_err(|_| ApiError::invalid_parameter(format!("{} is outside the years -9999 to 9999", rfc3339(at))))
}

fn offset_date_time(at: jiff::Timestamp) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond())
        .map_err(|error| ApiError::internal(format!("instant {at}: {error}")))
}

fn schedule_error(error: ScheduleError) -> ApiError {
    match error {
        ScheduleError::OutOfRange => ApiError::invalid_parameter(error.to_string()),
        ScheduleError::EmptyShift | ScheduleError::RestrictionTooLong => ApiError::internal(error),
    }
}

fn load_error(error: LoadError) -> ApiError {
    match error {
        LoadError::Storage(error) => storage_error(error),
        LoadError::Data(detail) => ApiError::internal(format!("stored schedule: {detail}")),
    }
}

/// Why a request was refused, or a change rolled back: an answer for the client, or the
/// database's failure.
pub(crate) enum Refused {
    Answer(ApiError),
    Storage(StorageError),
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Refused::Answer(error)
    }
}

impl From<StorageError> for Refused {
    fn from(error: StorageError) -> Self {
        Refused::Storage(error)
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(error: diesel::result::Error) -> Self {
        Refused::Storage(error.into())
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::Answer(error) => error,
            Refused::Storage(error) => storage_error(error),
        }
    }
}
