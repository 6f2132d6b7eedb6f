//! `GET /incidents` and `GET /incidents/{id}`.

use crate::State;
use crate::errors::storage_error;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tocsin_domain::{AlertRecord, Incident, IncidentStatus, Severity, TimelineEntry};
use tocsin_runtime::ApiError;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_storage::reads::{self, Cursor, IncidentFilter};
use uuid::Uuid;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

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
    items: Vec<Incident>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    alerts: Vec<AlertRecord>,
    timeline: Vec<TimelineEntry>,
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
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!("limit must be between 1 and {MAX_LIMIT}, not {limit}")));
    }
    let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::invalid_parameter("cursor is not one this API gave out: pass next_cursor unchanged")
        })?),
    };
    let mut conn = state.pool.get().await.map_err(|error| storage_error(error.into()))?;
    let page = reads::list_incidents(&mut conn, &filter, limit, after).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(IncidentPage { items: page.items, next_cursor: page.next_cursor.map(|c| c.encode()) }))
}

#[utoipa::path(
    get,
    path = "/incidents/{id}",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident with its alerts and timeline", body = IncidentDetail),
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
    let mut conn = state.pool.get().await.map_err(|error| storage_error(error.into()))?;
    let detail = reads::incident_detail(&mut conn, id)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    Ok(HttpResponse::Ok().json(IncidentDetail {
        incident: detail.incident,
        alerts: detail.alerts,
        timeline: detail.timeline,
    }))
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
