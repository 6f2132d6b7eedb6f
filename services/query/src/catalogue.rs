//! The service catalogue: which team owns each service (`GET /services`, `PUT` and `DELETE
//! /services/{service}`, `POST /services/import` from a file kept in git), and the audit log of
//! its changes (`GET /audit-log`). incident-core gives a new incident the team of its service
//! from here when its alert carries no `team` label.
//!
//! Reading takes the `read` scope; changing the catalogue and reading the audit log, `admin` (a
//! token with it, or a signed-in admin). Unlike incidents, which only incident-core
//! writes, the catalogue is written here: each change and its audit entry in one transaction.

use crate::State;
use crate::errors::storage_error;
use crate::sign_in::access::principal;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::catalogue::{self, Change, MAX_ENTRIES, MAX_SERVICE_BYTES, MAX_TEAM_BYTES};
use tocsin_storage::{AsyncConnection, StorageError};

/// A catalogue file of 10,000 services is about 500 KB.
pub const IMPORT_BODY_LIMIT: usize = 2 * 1024 * 1024;
const DEFAULT_AUDIT_LIMIT: i64 = 100;
const MAX_AUDIT_LIMIT: i64 = 1_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogueEntry {
    service: String,
    team: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
    /// The token or person that set it; `SERVICE_TEAMS` for the seed.
    updated_by: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    /// Every service, by name.
    items: Vec<CatalogueEntry>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerRequest {
    /// The team's slug, as alerts carry it in their `team` label; a new one is created.
    team: String,
}

/// A catalogue file: `services: {checkout-api: payments, …}`, in JSON or YAML.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    services: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    added: usize,
    moved: usize,
    unchanged: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    at: OffsetDateTime,
    actor: String,
    /// `catalogue.set`, `catalogue.remove`, `team.create`, `team.member.set`, `team.member.remove`,
    /// `user.admin`
    action: String,
    /// What was changed: the service's name for catalogue entries, the team's slug for teams and
    /// their members, the user's e-mail address (else id) for `user.admin`.
    subject: String,
    details: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    items: Vec<AuditEntry>,
    /// Pass as `before` for the next page; null on the last page.
    next_before: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Page size, 1 to 1000 (default 100)
    limit: Option<i64>,
    /// `next_before` of the previous page
    before: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/services",
    responses(
        (status = 200, description = "The service catalogue", body = Catalogue),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.connection().await?;
    let items = catalogue::entries(&mut conn).await.map_err(storage_error)?;
    let items = items
        .into_iter()
        .map(|entry| CatalogueEntry {
            service: entry.service,
            team: entry.team,
            updated_at: entry.updated_at,
            updated_by: entry.updated_by,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Catalogue { items }))
}

#[utoipa::path(
    put,
    path = "/services/{service}",
    params(("service" = String, Path, description = "The service, as alerts carry it in their `service` label")),
    request_body = OwnerRequest,
    responses(
        (status = 200, description = "The service's owner was already this team", body = ImportSummary),
        (status = 201, description = "The service is in the catalogue now", body = ImportSummary),
        (status = 400, description = "A name is empty, too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope", body = ErrorBody),
        (status = 409, description = "The catalogue holds its maximum of 10,000 services", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_owner(
    state: web::Data<State>,
    request: HttpRequest,
    service: web::Path<String>,
    body: web::Json<OwnerRequest>,
) -> Result<HttpResponse, ApiError> {
    let entries = BTreeMap::from([(service.into_inner(), body.into_inner().team)]);
    let summary = apply(&state, &actor(&request), entries).await?;
    let status =
        if summary.unchanged == 1 { actix_web::http::StatusCode::OK } else { actix_web::http::StatusCode::CREATED };
    Ok(HttpResponse::build(status).json(summary))
}

#[utoipa::path(
    delete,
    path = "/services/{service}",
    params(("service" = String, Path, description = "The service")),
    responses(
        (status = 204, description = "Removed: its new incidents go by their `team` label, else `unowned`"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope", body = ErrorBody),
        (status = 404, description = "The service is not in the catalogue", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    state: web::Data<State>,
    request: HttpRequest,
    service: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&request);
    let mut conn = state.connection().await?;
    let removed =
        conn.transaction(async |conn| catalogue::remove(conn, &service, &actor).await).await.map_err(storage_error)?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("no service {:?} in the catalogue", service.as_str())))
    }
}

#[utoipa::path(
    post,
    path = "/services/import",
    request_body(content = CatalogueFile, description = "JSON, or YAML (application/yaml), of at most 2 MiB",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Every listed service now belongs to its team; others are left as they were", body = ImportSummary),
        (status = 400, description = "The file is malformed, or a name is empty, too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope", body = ErrorBody),
        (status = 409, description = "The catalogue would hold more than 10,000 services", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "The body is neither application/json nor application/yaml", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn import(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let mime = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase());
    let file: CatalogueFile = match mime.as_deref() {
        Some("application/json") => serde_json::from_slice(&body)
            .map_err(|error| ApiError::invalid_payload(format!("the catalogue file is not valid: {error}")))?,
        Some("application/yaml" | "application/x-yaml" | "text/yaml") => serde_yaml_ng::from_slice(&body)
            .map_err(|error| ApiError::invalid_payload(format!("the catalogue file is not valid: {error}")))?,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the catalogue file as application/json or application/yaml",
            ));
        }
    };
    let summary = apply(&state, &actor(&request), file.services).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[utoipa::path(
    get,
    path = "/audit-log",
    params(AuditParams),
    responses(
        (status = 200, description = "Who changed what outside incidents, newest first", body = AuditPage),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn audit_log(state: web::Data<State>, params: web::Query<AuditParams>) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!("limit must be between 1 and {MAX_AUDIT_LIMIT}")));
    }
    let mut conn = state.connection().await?;
    let mut entries = catalogue::audit_entries(&mut conn, limit + 1, params.before).await.map_err(storage_error)?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_before = if more { entries.last().map(|entry| entry.id) } else { None };
    let items = entries
        .into_iter()
        .map(|entry| AuditEntry {
            id: entry.id,
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            details: entry.details,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditPage { items, next_before }))
}

/// Sets every entry in one transaction, after checking them all; none if the catalogue would
/// grow past its limit.
async fn apply(state: &State, actor: &str, entries: BTreeMap<String, String>) -> Result<ImportSummary, ApiError> {
    for (service, team) in &entries {
        check_name("service", service, MAX_SERVICE_BYTES)?;
        check_name(&format!("the team of {service:?}"), team, MAX_TEAM_BYTES)?;
    }
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let mut summary = ImportSummary::default();
        for (service, team) in &entries {
            match catalogue::set_owner(conn, service, team, actor).await? {
                Change::Added => summary.added += 1,
                Change::Moved => summary.moved += 1,
                Change::Unchanged => summary.unchanged += 1,
            }
        }
        let total = catalogue::count(conn).await?;
        if total > MAX_ENTRIES {
            return Err(Refused::OverLimit(total));
        }
        Ok(summary)
    })
    .await
    .map_err(|refused| match refused {
        Refused::OverLimit(total) => ApiError::conflict(format!(
            "the catalogue holds at most {MAX_ENTRIES} services; this change would make it {total}"
        )),
        Refused::Storage(error) => storage_error(error),
    })
}

/// Why a change to the catalogue was rolled back.
enum Refused {
    OverLimit(i64),
    Storage(StorageError),
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

/// A name is a label value: not empty, at most `limit` bytes, no control characters (which no
/// Alertmanager label carries and which would garble the pages that show it).
pub(crate) fn check_name(field: &str, value: &str, limit: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_payload(format!("{field} is empty")));
    }
    if value.len() > limit {
        return Err(ApiError::invalid_payload(format!("{field} is {} bytes; the limit is {limit}", value.len())));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_payload(format!("{field} holds a control character")));
    }
    Ok(())
}

/// The actor of a change: the token's name, or the signed-in admin's e-mail address.
pub(crate) fn actor(request: &HttpRequest) -> String {
    principal(request).map_or_else(|| "api".to_owned(), |principal| principal.actor())
}
