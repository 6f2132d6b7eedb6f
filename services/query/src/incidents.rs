//! `GET /incidents`, `GET /incidents/{id}`, and the pages of an incident's alerts and timeline
//! (`GET /incidents/{id}/alerts`, `GET /incidents/{id}/timeline`). Every read is bounded: the list
//! and both of an incident's lists are paged by keyset cursors, never by offset.

use crate::State;
use crate::errors::storage_error;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tocsin_domain::maintenance::Hold;
use tocsin_domain::{AlertRecord, Incident, IncidentStatus, Severity, TimelineEntry};
use tocsin_runtime::ApiError;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_storage::escalation;
use tocsin_storage::reads::{self, Cursor, EntryCursor, EntryList, IncidentFilter};
use uuid::Uuid;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
/// Page size of an incident's alerts and timeline, and its largest; the detail itself carries the
/// first `reads::DETAIL_PAGE` of each.
const DEFAULT_ENTRY_LIMIT: i64 = reads::DETAIL_PAGE;
const MAX_ENTRY_LIMIT: i64 = 500;

/// Filters are comma-separated lists (`status=open,acknowledged`); the time range applies to when
/// incidents opened.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// open, acknowledged, resolved
    status: Option<String>,
    service: Option<String>,
    environment: Option<String>,
    /// info, warning, high, critical
    severity: Option<String>,
    team: Option<String>,
    /// RFC 3339 time: incidents opened at or after it
    since: Option<String>,
    /// RFC 3339 time: incidents opened before it
    until: Option<String>,
    /// Page size, 1 to 500 (default 50)
    limit: Option<i64>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    items: Vec<IncidentItem>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

/// An incident in a list: its fields, and whether a maintenance window holds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentItem {
    #[serde(flatten)]
    incident: Incident,
    /// The maintenance window holding it (the one that ends last): nothing about it is notified or
    /// paged until `until` (docs/noise.md). Null when none does.
    maintenance: Option<Hold>,
}

/// The incident's fields at the top level, with the first page of its alerts and of its timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    /// The maintenance window holding it (the one that ends last): nothing about it is notified or
    /// paged until `until` (docs/noise.md). Null when none does.
    maintenance: Option<Hold>,
    /// The first alerts (at most 100), oldest `starts_at` first.
    alerts: Vec<AlertRecord>,
    /// Pass as `cursor` to `GET /incidents/{id}/alerts` for the alerts after these; null when
    /// `alerts` holds them all.
    alerts_next_cursor: Option<String>,
    /// The first timeline entries (at most 100), oldest first.
    timeline: Vec<TimelineEntry>,
    /// Pass as `cursor` to `GET /incidents/{id}/timeline` for the entries after these; null when
    /// `timeline` holds them all.
    timeline_next_cursor: Option<String>,
    /// Where its escalation stands; null for an incident that never had one (restored from the
    /// archive, or opened before escalation existed).
    escalation: Option<escalation::EscalationStatus>,
}

/// A page of an incident's alerts, oldest `starts_at` first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    items: Vec<AlertRecord>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of an incident's timeline, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelinePage {
    items: Vec<TimelineEntry>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryParams {
    /// Page size, 1 to 500 (default 100)
    limit: Option<i64>,
    /// `alerts_next_cursor`/`timeline_next_cursor` of the incident, or `next_cursor` of the
    /// previous page
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/incidents",
    params(ListParams),
    responses(
        (status = 200, description = "Incidents, newest first", body = IncidentPage),
        (status = 400, description = "A filter is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>, params: web::Query<ListParams>) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let filter = IncidentFilter {
        statuses: list_of(&params.status, "status", IncidentStatus::parse)?,
        services: strings(&params.service),
        environments: strings(&params.environment),
        severities: list_of(&params.severity, "severity", |v| v.parse::<Severity>().ok())?,
        teams: strings(&params.team),
        since: time_param(&params.since, "since")?,
        until: time_param(&params.until, "until")?,
    };
    let limit = page_limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::invalid_parameter("cursor is not one this API gave out: pass next_cursor unchanged")
        })?),
    };
    let mut conn = state.connection().await?;
    let page = reads::list_incidents(&mut conn, &filter, limit, after).await.map_err(storage_error)?;
    let ids: Vec<Uuid> = page.items.iter().map(|incident| incident.id).collect();
    let mut holds = crate::maintenance::holds_of(&mut conn, &ids).await?;
    let items = page
        .items
        .into_iter()
        .map(|incident| IncidentItem { maintenance: holds.remove(&incident.id), incident })
        .collect();
    Ok(HttpResponse::Ok().json(IncidentPage { items, next_cursor: page.next_cursor.map(|c| c.encode()) }))
}

#[utoipa::path(
    get,
    path = "/incidents/{id}",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident with the first page of its alerts and of its timeline", body = IncidentDetail),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let mut conn = state.connection().await?;
    let detail = reads::incident_detail(&mut conn, id)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    let escalation = escalation::escalation_status(&mut conn, id).await.map_err(storage_error)?;
    let maintenance = crate::maintenance::holds_of(&mut conn, &[id]).await?.remove(&id);
    Ok(HttpResponse::Ok().json(IncidentDetail {
        incident: detail.incident,
        maintenance,
        alerts: detail.alerts,
        alerts_next_cursor: detail.alerts_next.map(|c| c.encode()),
        timeline: detail.timeline,
        timeline_next_cursor: detail.timeline_next.map(|c| c.encode()),
        escalation,
    }))
}

#[utoipa::path(
    get,
    path = "/incidents/{id}/alerts",
    params(("id" = Uuid, Path, description = "Incident id"), EntryParams),
    responses(
        (status = 200, description = "A page of the incident's alerts, oldest `starts_at` first", body = AlertPage),
        (status = 400, description = "The id is not a UUID, `limit` is outside 1..500, or the cursor is not one this API gave out for alerts", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn alerts(
    state: web::Data<State>,
    id: web::Path<String>,
    params: web::Query<EntryParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, limit, after) = entry_request(&id, &params, EntryList::Alerts)?;
    let mut conn = state.connection().await?;
    require_incident(&mut conn, id).await?;
    let page = reads::incident_alerts(&mut conn, id, limit, after).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(AlertPage { items: page.items, next_cursor: page.next.map(|c| c.encode()) }))
}

#[utoipa::path(
    get,
    path = "/incidents/{id}/timeline",
    params(("id" = Uuid, Path, description = "Incident id"), EntryParams),
    responses(
        (status = 200, description = "A page of the incident's timeline, oldest first", body = TimelinePage),
        (status = 400, description = "The id is not a UUID, `limit` is outside 1..500, or the cursor is not one this API gave out for the timeline", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn timeline(
    state: web::Data<State>,
    id: web::Path<String>,
    params: web::Query<EntryParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, limit, after) = entry_request(&id, &params, EntryList::Timeline)?;
    let mut conn = state.connection().await?;
    require_incident(&mut conn, id).await?;
    let page = reads::incident_timeline(&mut conn, id, limit, after).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(TimelinePage { items: page.items, next_cursor: page.next.map(|c| c.encode()) }))
}

/// The incident, the page size and the cursor of a request for one of its lists.
fn entry_request(
    id: &str,
    params: &EntryParams,
    list: EntryList,
) -> Result<(Uuid, i64, Option<EntryCursor>), ApiError> {
    let id = parse_id(id)?;
    let limit = page_limit(params.limit, DEFAULT_ENTRY_LIMIT, MAX_ENTRY_LIMIT)?;
    let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(EntryCursor::decode(list, text).ok_or_else(|| {
            let field = match list {
                EntryList::Alerts => "alerts_next_cursor",
                EntryList::Timeline => "timeline_next_cursor",
            };
            ApiError::invalid_parameter(format!(
                "cursor is not one this API gave out for this list: pass the incident's {field} or the page's \
                 next_cursor unchanged"
            ))
        })?),
    };
    Ok((id, limit, after))
}

/// A page of nothing would not tell "no such incident" from "no more alerts".
async fn require_incident(conn: &mut tocsin_storage::AsyncPgConnection, id: Uuid) -> Result<(), ApiError> {
    match reads::incident(conn, id).await.map_err(storage_error)? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no incident {id}"))),
    }
}

fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!("limit must be between 1 and {max}, not {limit}")));
    }
    Ok(limit)
}

pub fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::invalid_parameter(format!("`{text}` is not an incident id (a UUID)")))
}

fn strings(value: &Option<String>) -> Vec<String> {
    value.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

fn list_of<T>(value: &Option<String>, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, ApiError> {
    strings(value)
        .iter()
        .map(|v| parse(v).ok_or_else(|| ApiError::invalid_parameter(format!("{name} `{v}` is not one tocsin knows"))))
        .collect()
}

fn time_param(value: &Option<String>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|error| ApiError::invalid_parameter(format!("{name} `{v}` is not an RFC 3339 time ({error})")))
        })
        .transpose()
}
