//! Maintenance windows over HTTP (docs/noise.md): list, create, read, end now
//! (`POST /maintenance-windows/{id}/end`), and a preview of what a window's matchers would catch
//! (`POST /maintenance-windows/preview`). Whether a window applies is the domain's rule
//! (`tocsin_domain::maintenance`); incident-core holds and releases incidents by it.
//!
//! Who may create or end a window: a window quiets incidents, so it takes the right to manage the
//! team whose incidents it quiets. A window with a matcher `team="<slug>"` (the operator `=`) only
//! ever catches that team's incidents: a manager of the team, an admin, or a token with the
//! `admin` scope may create and end it. A window without one can catch every team's: only an admin
//! or an `admin` token. The author recorded is the authenticated principal. Reading and previewing
//! take the `read` scope. Creating and ending are in the audit log (`maintenance_window.create`,
//! `maintenance_window.end`), written in the change's transaction.

use crate::State;
use crate::authorization::{may_manage_team, principal_of};
use crate::errors::{parse_id, storage_error};
use crate::sign_in::access::Principal;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tocsin_domain::maintenance::{Hold, Subject, Window, WindowError};
use tocsin_domain::matcher::{self, MatchOp, Matcher};
use tocsin_domain::{AlertRecord, Incident};
use tocsin_runtime::auth::Scope;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::maintenance::{self, StoredWindow};
use tocsin_storage::{AsyncConnection, catalogue};
use uuid::Uuid;

/// The longest a window lasts: a month. Quiet for longer is a service being retired, which the
/// service catalogue says better.
pub const MAX_WINDOW: Duration = Duration::days(31);
/// The longest matcher as written, in bytes: a name, an operator and the longest value.
pub const MAX_MATCHER_BYTES: usize = matcher::MAX_VALUE_BYTES + 256;
/// What a preview reads at most of each kind, newest first, and how far back it looks for alerts.
const PREVIEW_SCAN: i64 = 2_000;
const PREVIEW_ALERTS_SINCE: Duration = Duration::hours(24);
/// What a preview answers at most of each kind.
const PREVIEW_ANSWER: usize = 100;
const DEFAULT_LIST: i64 = 100;
const MAX_LIST: i64 = 500;

/// A window as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowView {
    id: Uuid,
    /// As Alertmanager writes them: `service="checkout"`, `instance=~"db-[0-9]+"`.
    matchers: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    starts_at: OffsetDateTime,
    /// Exclusive: the window applies over `[starts_at, ends_at)`.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    ends_at: OffsetDateTime,
    reason: String,
    /// Who created it.
    author: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// When someone ended it before `ends_at`.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    ended_at: Option<OffsetDateTime>,
    ended_by: Option<String>,
    /// `upcoming`, `active` or `over`, at the time of the answer.
    state: WindowState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Upcoming,
    Active,
    Over,
}

impl WindowView {
    fn of(stored: StoredWindow, now: OffsetDateTime) -> WindowView {
        let window = &stored.window;
        let state = if window.occurrence_at(now).is_some() {
            WindowState::Active
        } else if now < window.starts_at && window.ended_at.is_none() {
            WindowState::Upcoming
        } else {
            WindowState::Over
        };
        WindowView {
            id: window.id,
            matchers: window.matchers.iter().map(Matcher::to_string).collect(),
            starts_at: window.starts_at,
            ends_at: window.ends_at,
            reason: window.reason.clone(),
            author: stored.author,
            created_at: stored.created_at,
            ended_at: window.ended_at,
            ended_by: stored.ended_by,
            state,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowList {
    /// Newest start first.
    items: Vec<WindowView>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `true`: only the windows not over yet (upcoming and active).
    current: Option<bool>,
    /// How many, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// A new window: `{"matchers": ["service=\"checkout\"", "team=\"payments\""], "ends_at":
/// "2026-12-08T11:00:00Z", "reason": "database upgrade"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    /// 1 to 32 matchers in Alertmanager's syntax (`=`, `!=`, `=~`, `!~`), each at most 4,352
    /// bytes; all must match. `service`, `environment` and `team` read the incident's facts.
    matchers: Vec<String>,
    /// RFC 3339; default: now.
    starts_at: Option<String>,
    /// RFC 3339, after `starts_at` and in the future, at most 31 days after `starts_at`.
    ends_at: String,
    /// 1 to 500 characters.
    reason: String,
}

/// The matchers to preview, as a new window takes them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    matchers: Vec<String>,
}

/// What a window of those matchers would hold if it started now, and which recent alerts it
/// matches.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Active incidents the matchers match, newest first (at most 100). A window holds only the
    /// incidents that open or reopen inside it: these are shown so people see what they aim at.
    incidents: Vec<Incident>,
    /// Alerts heard of in the last 24 hours that the matchers match, newest first (at most 100).
    alerts: Vec<PreviewAlert>,
    /// Whether there were more of either than shown, or more than the preview reads (the newest
    /// 2,000 of each).
    truncated: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewAlert {
    /// The incident it belongs to.
    incident_id: Uuid,
    #[serde(flatten)]
    alert: AlertRecord,
}

#[utoipa::path(
    get,
    path = "/maintenance-windows",
    params(ListParams),
    responses(
        (status = 200, description = "Windows, newest start first", body = WindowList),
        (status = 400, description = "`limit` is outside 1..500", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>, params: web::Query<ListParams>) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIST);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!("limit must be between 1 and {MAX_LIST}, not {limit}")));
    }
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    let windows =
        maintenance::list(&mut conn, now, params.current.unwrap_or(false), limit).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(WindowList { items: windows.into_iter().map(|w| WindowView::of(w, now)).collect() }))
}

#[utoipa::path(
    post,
    path = "/maintenance-windows",
    request_body = NewWindow,
    responses(
        (status = 201, description = "The window", body = WindowView),
        (status = 400, description = "A field is malformed or over its limit; the message names the field and the limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Neither an admin nor a manager of the team the window's `team=` matcher names (none: admins only), or a token without the `admin` scope", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<NewWindow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = OffsetDateTime::now_utc();
    let matchers = parse_matchers(&body.matchers)?;
    let starts_at = match body.starts_at.as_deref() {
        None | Some("") => now,
        Some(text) => parse_time("starts_at", text)?,
    };
    let ends_at = parse_time("ends_at", &body.ends_at)?;
    if ends_at <= now {
        return Err(ApiError::invalid_payload("ends_at: must be in the future"));
    }
    if ends_at - starts_at > MAX_WINDOW {
        return Err(ApiError::invalid_payload("ends_at: at most 31 days after starts_at"));
    }
    let window = Window::new(Uuid::now_v7(), matchers, starts_at, ends_at, &body.reason).map_err(refused)?;
    let principal = principal_of(&request)?;
    let mut conn = state.connection().await?;
    may_manage_window(&mut conn, &principal, &window.matchers).await?;
    let actor = principal.actor();
    let details = json!({
        "matchers": body.matchers,
        "starts_at": window.starts_at.unix_timestamp(),
        "ends_at": window.ends_at.unix_timestamp(),
        "reason": window.reason,
    });
    conn.transaction(async |conn| {
        maintenance::insert(conn, &window, &actor, now).await?;
        catalogue::record(conn, &actor, "maintenance_window.create", &window.id.to_string(), details).await
    })
    .await
    .map_err(storage_error)?;
    tracing::info!(maintenance.window_id = %window.id, %actor, "maintenance window created");
    let stored = maintenance::get(&mut conn, window.id)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::internal("the window just stored is not there"))?;
    Ok(HttpResponse::Created().json(WindowView::of(stored, now)))
}

#[utoipa::path(
    get,
    path = "/maintenance-windows/{id}",
    params(("id" = Uuid, Path, description = "Window id")),
    responses(
        (status = 200, description = "The window", body = WindowView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such window", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id("maintenance window", &id)?;
    let mut conn = state.connection().await?;
    let stored = maintenance::get(&mut conn, id).await.map_err(storage_error)?.ok_or_else(|| no_window(id))?;
    Ok(HttpResponse::Ok().json(WindowView::of(stored, OffsetDateTime::now_utc())))
}

#[utoipa::path(
    post,
    path = "/maintenance-windows/{id}/end",
    params(("id" = Uuid, Path, description = "Window id")),
    responses(
        (status = 200, description = "The window, ended now (unchanged when it was over already); the incidents it held still firing are notified within ESCALATION_TICK", body = WindowView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Not allowed to manage the window (as to create it)", body = ErrorBody),
        (status = 404, description = "No such window", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn end(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("maintenance window", &id)?;
    let principal = principal_of(&request)?;
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    let stored = maintenance::get(&mut conn, id).await.map_err(storage_error)?.ok_or_else(|| no_window(id))?;
    may_manage_window(&mut conn, &principal, &stored.window.matchers).await?;
    let actor = principal.actor();
    let ended = conn
        .transaction(async |conn| {
            let ended = maintenance::end(conn, id, &actor, now).await?;
            let details = json!({ "reason": stored.window.reason });
            catalogue::record(conn, &actor, "maintenance_window.end", &id.to_string(), details).await?;
            Ok::<_, tocsin_storage::StorageError>(ended)
        })
        .await
        .map_err(storage_error)?
        .ok_or_else(|| no_window(id))?;
    tracing::info!(maintenance.window_id = %id, %actor, "maintenance window ended");
    Ok(HttpResponse::Ok().json(WindowView::of(ended, now)))
}

#[utoipa::path(
    post,
    path = "/maintenance-windows/preview",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The active incidents and recent alerts the matchers catch", body = Preview),
        (status = 400, description = "A matcher is malformed or over its limit; the message names it", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn preview(state: web::Data<State>, body: web::Json<PreviewRequest>) -> Result<HttpResponse, ApiError> {
    let matchers = parse_matchers(&body.matchers)?;
    let now = OffsetDateTime::now_utc();
    let mut conn = state.connection().await?;
    let (incidents, alerts) = maintenance::preview_candidates(&mut conn, now - PREVIEW_ALERTS_SINCE, PREVIEW_SCAN)
        .await
        .map_err(storage_error)?;
    let scanned_all = incidents.len() < PREVIEW_SCAN as usize && alerts.len() < PREVIEW_SCAN as usize;
    let catches = |labels: &BTreeMap<String, String>, incident: &Incident| {
        Subject::new(labels, &incident.service, &incident.environment, &incident.team).matched_by(&matchers)
    };
    let incidents: Vec<Incident> =
        incidents.into_iter().filter(|incident| catches(&incident.source_alert.labels, incident)).collect();
    let alerts: Vec<PreviewAlert> = alerts
        .into_iter()
        .filter(|(alert, incident)| catches(&alert.labels, incident))
        .map(|(alert, incident)| PreviewAlert { incident_id: incident.id, alert })
        .collect();
    let truncated = !scanned_all || incidents.len() > PREVIEW_ANSWER || alerts.len() > PREVIEW_ANSWER;
    Ok(HttpResponse::Ok().json(Preview {
        incidents: incidents.into_iter().take(PREVIEW_ANSWER).collect(),
        alerts: alerts.into_iter().take(PREVIEW_ANSWER).collect(),
        truncated,
    }))
}

/// The maintenance state of `incidents`, by id: what the incident JSON shows as `maintenance`.
pub(crate) async fn holds_of(
    conn: &mut tocsin_storage::AsyncPgConnection,
    incidents: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Hold>, ApiError> {
    maintenance::holds(conn, incidents).await.map_err(storage_error)
}

/// Matchers as written, each parsed, the set bounded; a refusal names the matcher by position.
fn parse_matchers(written: &[String]) -> Result<Vec<Matcher>, ApiError> {
    if written.is_empty() {
        return Err(refused(WindowError::NoMatchers));
    }
    if written.len() > matcher::MAX_MATCHERS {
        return Err(refused(WindowError::TooManyMatchers));
    }
    written
        .iter()
        .enumerate()
        .map(|(index, text)| {
            if text.len() > MAX_MATCHER_BYTES {
                return Err(ApiError::invalid_payload(format!("matchers[{index}]: at most {MAX_MATCHER_BYTES} bytes")));
            }
            Matcher::parse(text).map_err(|error| ApiError::invalid_payload(format!("matchers[{index}]: {error}")))
        })
        .collect()
}

fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|error| ApiError::invalid_payload(format!("{field}: `{text}` is not an RFC 3339 time ({error})")))
}

fn refused(error: WindowError) -> ApiError {
    ApiError::invalid_payload(error.to_string())
}

fn no_window(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no maintenance window {id}"))
}

/// Whether `principal` may create or end a window of `matchers` (the rule in this module's header).
async fn may_manage_window(
    conn: &mut tocsin_storage::AsyncPgConnection,
    principal: &Principal,
    matchers: &[Matcher],
) -> Result<(), ApiError> {
    let team = matchers.iter().find(|matcher| matcher.name == "team" && matcher.op == MatchOp::Equal);
    if let Some(team) = team {
        return may_manage_team(conn, principal, &team.value).await;
    }
    let refusal =
        "a window without a `team=\"…\"` matcher can quiet every team's incidents: only admins may manage one";
    match principal {
        Principal::Token { scope: Scope::Admin, .. } => Ok(()),
        Principal::Person(user) if user.is_admin => Ok(()),
        Principal::Token { name, .. } => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{refusal}, or a token with the `admin` scope (`{name}` does not have it)"),
        )),
        Principal::Person(_) => Err(ApiError::new(ErrorCode::Forbidden, refusal)),
    }
}
