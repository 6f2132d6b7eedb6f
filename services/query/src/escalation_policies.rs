//! Escalation policies over HTTP: a team's policies (`/escalation-policies`), each a list of
//! immutable versions, and which policy a team and a service escalate on
//! (`PUT /teams/{team}/escalation-policy`, `PUT /services/{service}/escalation-policy`). What a
//! policy may hold is decided by `tocsin_domain::escalation` (`Policy::validate`), read through
//! `tocsin_storage::escalation::PolicyDefinition`; its message names the field.
//!
//! Reading takes the `read` scope. Changing takes a token with `admin`, or a person who is an
//! admin or a manager of the policy's team (the service's owning team for a service's policy),
//! asked in the change's transaction with the team, policy or service locked. Each change and its
//! audit entry are written in one transaction. An edit adds a version and never changes one:
//! incident-core keeps a running incident on the version it started with (docs/oncall.md).

use crate::State;
use crate::authorization::{may_manage_team, principal_of};
use crate::catalogue::check_name;
use crate::errors::parse_id;
use crate::errors::storage_error;
use crate::schedules::{Refused, unknown_team};
use crate::teams::check_team;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tocsin_domain::escalation::Target;
use tocsin_domain::schedule::WEEK_MINUTES;
use tocsin_runtime::ApiError;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_storage::catalogue::{self, MAX_SERVICE_BYTES, MAX_TEAM_BYTES};
use tocsin_storage::escalation::{
    self, LowUrgencyDefinition, MAX_POLICY_NAME_BYTES, PolicyDefinition, PolicyEntry, PutError, VersionEntry,
};
use tocsin_storage::schedules::{self, LoadError, MAX_ZONE_BYTES};
use tocsin_storage::teams;
use tocsin_storage::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

/// Longest channel name a step may page (a name of the routing file).
pub const MAX_CHANNEL_BYTES: usize = 200;
/// Most windows of a policy's working hours, as of a schedule layer's restrictions.
pub const MAX_WORKING_HOURS_WINDOWS: usize = 14;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamParams {
    /// A team's slug: only its policies.
    team: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicySummary {
    id: Uuid,
    /// The team's slug.
    team: String,
    name: String,
    /// The number of its newest version; versions count from 1.
    version: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<PolicyEntry> for PolicySummary {
    fn from(entry: PolicyEntry) -> PolicySummary {
        PolicySummary {
            id: entry.id,
            team: entry.team,
            name: entry.name,
            version: entry.newest_version.unwrap_or(0),
            created_at: entry.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyList {
    /// By team, then name.
    items: Vec<PolicySummary>,
}

/// One version of a policy: who added it, when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    version: i32,
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<VersionEntry> for VersionView {
    fn from(entry: VersionEntry) -> VersionView {
        VersionView { version: entry.version, created_by: entry.created_by, created_at: entry.created_at }
    }
}

/// A policy, its newest definition, and every version it has had.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyDetail {
    #[serde(flatten)]
    policy: PolicySummary,
    /// The newest version's definition.
    definition: PolicyDefinition,
    /// Newest first.
    versions: Vec<VersionView>,
}

/// One version of a policy with its definition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyVersionView {
    policy_id: Uuid,
    #[serde(flatten)]
    version: VersionView,
    definition: PolicyDefinition,
}

/// A policy's definition as written: `{"steps": [{"targets": [{"schedule": "<id>"}],
/// "escalate_after_minutes": 15}], "repeat": 1, "acknowledge_timeout_minutes": 60, "urgency":
/// {"high_from": "critical", "low": "notify_only"}}`. A step pages 1 to 20 targets (`user`,
/// `schedule`, `team` by id, `channel` by name) and waits 1 to 1,440 minutes; 1 to 20 steps; at most
/// 9 repeats (docs/oncall.md "Escalation").
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPolicy {
    /// The team's slug; the team must exist (teams come with the service catalogue).
    team: String,
    /// 1 to 200 bytes, unique within the team.
    name: String,
    definition: PolicyDefinition,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// The next version's definition, as in `POST /escalation-policies`.
    definition: PolicyDefinition,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyAssignment {
    /// A policy of the team (of the service's owning team); null: none (a service then escalates
    /// on its team's).
    policy_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamPolicy {
    team: String,
    policy_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServicePolicy {
    service: String,
    /// Its owning team.
    team: String,
    policy_id: Option<Uuid>,
}

#[utoipa::path(
    get,
    path = "/escalation-policies",
    params(TeamParams),
    responses(
        (status = 200, description = "The policies, by team then name", body = PolicyList),
        (status = 400, description = "No team has that slug, or `team` is too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>, params: web::Query<TeamParams>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.connection().await?;
    let team_id = match params.team.as_deref().filter(|team| !team.is_empty()) {
        None => None,
        Some(slug) => {
            check_team(slug)?;
            let team = teams::team(&mut conn, slug).await.map_err(storage_error)?;
            Some(team.ok_or_else(|| ApiError::invalid_parameter(unknown_team("team", slug).message))?.id)
        }
    };
    let entries = escalation::list_policies(&mut conn, team_id).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(PolicyList { items: entries.into_iter().map(PolicySummary::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/escalation-policies",
    request_body = NewPolicy,
    responses(
        (status = 201, description = "The policy, with its version 1", body = PolicyDetail),
        (status = 400, description = "A field is empty, too long or over a limit, or names no team; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the policy's team; the message names the team", body = ErrorBody),
        (status = 409, description = "The team has a policy of that name", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<NewPolicy>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_name("name", &body.name, MAX_POLICY_NAME_BYTES)?;
    check_name("team", &body.team, MAX_TEAM_BYTES)?;
    check_definition(&body.definition)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let id = conn
        .transaction(async |conn| {
            let team_id = teams::lock_team(conn, &body.team).await?.ok_or_else(|| unknown_team("team", &body.team))?.id;
            may_manage_team(conn, &principal, &body.team).await?;
            // The team's row is locked: no other policy of that name can come in between.
            if escalation::name_taken(conn, team_id, &body.name).await? {
                return Err(Refused::Answer(ApiError::conflict(format!(
                    "team {:?} already has an escalation policy named {:?}",
                    body.team, body.name
                ))));
            }
            let id = escalation::create_policy(conn, team_id, &body.name).await?;
            escalation::put_version(conn, id, &body.definition, &actor).await.map_err(put_error)?;
            let details = json!({ "team": body.team, "name": body.name, "version": 1, "definition": body.definition });
            catalogue::record(conn, &actor, "escalation_policy.create", &id.to_string(), details).await?;
            Ok::<_, Refused>(id)
        })
        .await?;
    Ok(HttpResponse::Created().json(detail(&mut conn, id).await?))
}

#[utoipa::path(
    get,
    path = "/escalation-policies/{id}",
    params(("id" = Uuid, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The policy, its newest definition and its versions", body = PolicyDetail),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<State>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_id("escalation policy", &id)?;
    let mut conn = state.connection().await?;
    Ok(HttpResponse::Ok().json(detail(&mut conn, id).await?))
}

#[utoipa::path(
    get,
    path = "/escalation-policies/{id}/versions/{version}",
    params(
        ("id" = Uuid, Path, description = "Policy id"),
        ("version" = i32, Path, description = "Version number, from 1"),
    ),
    responses(
        (status = 200, description = "That version's definition", body = PolicyVersionView),
        (status = 400, description = "The id is not a UUID or the version not a number", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such policy, or no such version of it", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_version(state: web::Data<State>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let id = parse_id("escalation policy", &id)?;
    let number: i32 = version
        .parse()
        .map_err(|_| ApiError::invalid_parameter(format!("`{version}` is not a version number (1, 2, …)")))?;
    let mut conn = state.connection().await?;
    let no_version = || ApiError::not_found(format!("escalation policy {id} has no version {number}"));
    let loaded =
        escalation::load_version(&mut conn, id, Some(number)).await.map_err(load_error)?.ok_or_else(no_version)?;
    let entry = escalation::versions(&mut conn, id)
        .await
        .map_err(storage_error)?
        .into_iter()
        .find(|entry| entry.version == number)
        .ok_or_else(no_version)?;
    Ok(HttpResponse::Ok().json(PolicyVersionView {
        policy_id: id,
        version: entry.into(),
        definition: loaded.definition,
    }))
}

#[utoipa::path(
    put,
    path = "/escalation-policies/{id}",
    params(("id" = Uuid, Path, description = "Policy id")),
    request_body = PolicyChange,
    responses(
        (status = 200, description = "The policy with its new version; the older ones are kept as they were", body = PolicyDetail),
        (status = 400, description = "The id is not a UUID, or the definition is over a limit; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the policy's team; the message names the team", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_version(
    state: web::Data<State>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PolicyChange>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("escalation policy", &id)?;
    let definition = body.into_inner().definition;
    check_definition(&definition)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let entry = escalation::lock_policy(conn, id).await?.ok_or_else(|| no_policy(id))?;
        may_manage_team(conn, &principal, &entry.team).await?;
        let version = escalation::put_version(conn, id, &definition, &actor).await.map_err(put_error)?;
        let details = json!({ "team": entry.team, "name": entry.name, "version": version, "definition": definition });
        catalogue::record(conn, &actor, "escalation_policy.version", &id.to_string(), details).await?;
        Ok::<_, Refused>(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(detail(&mut conn, id).await?))
}

#[utoipa::path(
    put,
    path = "/teams/{team}/escalation-policy",
    params(("team" = String, Path, description = "Team slug")),
    request_body = PolicyAssignment,
    responses(
        (status = 200, description = "The team's policy: what its services without one of their own escalate on", body = TeamPolicy),
        (status = 400, description = "The slug is too long, or `policy_id` names no policy of this team", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the team", body = ErrorBody),
        (status = 404, description = "No such team", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_team_policy(
    state: web::Data<State>,
    request: HttpRequest,
    team: web::Path<String>,
    body: web::Json<PolicyAssignment>,
) -> Result<HttpResponse, ApiError> {
    let team = team.into_inner();
    check_team(&team)?;
    let policy_id = body.into_inner().policy_id;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let team_id =
            teams::lock_team(conn, &team).await?.ok_or_else(|| ApiError::not_found(format!("no team {team:?}")))?.id;
        may_manage_team(conn, &principal, &team).await?;
        check_policy_of(conn, policy_id, team_id, &team).await?;
        escalation::set_team_policy(conn, team_id, policy_id).await?;
        catalogue::record(conn, &actor, "team.escalation_policy", &team, json!({ "policy_id": policy_id })).await?;
        Ok::<_, Refused>(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(TeamPolicy { team, policy_id }))
}

#[utoipa::path(
    put,
    path = "/services/{service}/escalation-policy",
    params(("service" = String, Path, description = "Service name, as in the catalogue")),
    request_body = PolicyAssignment,
    responses(
        (status = 200, description = "The service's own policy, which its incidents escalate on before its team's", body = ServicePolicy),
        (status = 400, description = "The name is too long, or `policy_id` names no policy of the service's team", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `admin` scope, or the signed-in person is neither an admin nor a manager of the service's team", body = ErrorBody),
        (status = 404, description = "The catalogue has no such service", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_service_policy(
    state: web::Data<State>,
    request: HttpRequest,
    service: web::Path<String>,
    body: web::Json<PolicyAssignment>,
) -> Result<HttpResponse, ApiError> {
    let service = service.into_inner();
    check_name("service", &service, MAX_SERVICE_BYTES).map_err(|error| ApiError::invalid_parameter(error.message))?;
    let policy_id = body.into_inner().policy_id;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let team = conn
        .transaction(async |conn| {
            let (team_id, team) = escalation::lock_service_team(conn, &service)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("the catalogue has no service {service:?}")))?;
            may_manage_team(conn, &principal, &team).await?;
            check_policy_of(conn, policy_id, team_id, &team).await?;
            escalation::set_service_policy(conn, &service, policy_id).await?;
            let details = json!({ "team": team, "policy_id": policy_id });
            catalogue::record(conn, &actor, "service.escalation_policy", &service, details).await?;
            Ok::<_, Refused>(team)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ServicePolicy { service, team, policy_id }))
}

/// The policy, its newest definition and its versions: 404 when there is no such policy.
async fn detail(conn: &mut AsyncPgConnection, id: Uuid) -> Result<PolicyDetail, ApiError> {
    let entry = escalation::get_policy(conn, id).await.map_err(storage_error)?.ok_or_else(|| no_policy(id))?;
    let newest = escalation::load_version(conn, id, None).await.map_err(load_error)?.ok_or_else(|| no_policy(id))?;
    let versions = escalation::versions(conn, id).await.map_err(storage_error)?;
    Ok(PolicyDetail {
        policy: entry.into(),
        definition: newest.definition,
        versions: versions.into_iter().map(VersionView::from).collect(),
    })
}

/// A policy a team or one of its services may escalate on: one of the team's own.
async fn check_policy_of(
    conn: &mut AsyncPgConnection,
    policy_id: Option<Uuid>,
    team_id: Uuid,
    team: &str,
) -> Result<(), Refused> {
    let Some(policy_id) = policy_id else { return Ok(()) };
    match escalation::get_policy(conn, policy_id).await? {
        None => Err(Refused::Answer(ApiError::invalid_payload(format!("policy_id: no escalation policy {policy_id}")))),
        Some(policy) if policy.team_id != team_id => Err(Refused::Answer(ApiError::invalid_payload(format!(
            "policy_id: escalation policy {policy_id} is team {:?}'s; only a policy of team {team:?} may be used here",
            policy.team
        )))),
        Some(_) => Ok(()),
    }
}

/// The limits of a definition the domain does not check itself (the lengths of what it names),
/// then the domain's: 400 naming the field.
fn check_definition(definition: &PolicyDefinition) -> Result<(), ApiError> {
    for (index, step) in definition.steps.iter().enumerate() {
        for (position, target) in step.targets.iter().enumerate() {
            if let Target::Channel(channel) = target {
                check_name(
                    &format!("definition.steps[{index}].targets[{position}].channel"),
                    channel,
                    MAX_CHANNEL_BYTES,
                )?;
            }
        }
    }
    if let LowUrgencyDefinition::WorkingHours { time_zone, hours } = &definition.urgency.low {
        let field = "definition.urgency.low.working_hours";
        check_name(&format!("{field}.time_zone"), time_zone, MAX_ZONE_BYTES)?;
        if jiff::tz::TimeZone::get(time_zone).is_err() {
            return Err(ApiError::invalid_payload(format!(
                "{field}.time_zone {time_zone:?} is not an IANA time zone (such as America/New_York)"
            )));
        }
        let windows = hours.as_array().map_or(0, Vec::len);
        if windows > MAX_WORKING_HOURS_WINDOWS {
            return Err(ApiError::invalid_payload(format!(
                "{field}.hours has {windows} windows; the limit is {MAX_WORKING_HOURS_WINDOWS}"
            )));
        }
        for (index, window) in hours.as_array().into_iter().flatten().enumerate() {
            let minutes = window["minutes"].as_u64().unwrap_or(0);
            if !(1..=u64::from(WEEK_MINUTES)).contains(&minutes) {
                return Err(ApiError::invalid_payload(format!(
                    "{field}.hours[{index}].minutes must be between 1 and {WEEK_MINUTES} (a week)"
                )));
            }
        }
        // Read as storage and the engine will read them: a weekday or time it does not know is
        // refused now, not when an incident needs it.
        schedules::restrictions(hours.clone()).map_err(|error| match error {
            LoadError::Data(detail) => ApiError::invalid_payload(format!("{field}.hours: {detail}")),
            LoadError::Storage(error) => storage_error(error),
        })?;
    }
    definition.validated().map(|_| ()).map_err(|message| ApiError::invalid_payload(format!("definition.{message}")))
}

fn put_error(error: PutError) -> Refused {
    match error {
        PutError::Invalid(message) => Refused::Answer(ApiError::invalid_payload(format!("definition.{message}"))),
        PutError::UnknownPolicy(id) => Refused::Answer(no_policy(id)),
        PutError::Storage(error) => Refused::Storage(error),
    }
}

fn load_error(error: LoadError) -> ApiError {
    match error {
        LoadError::Storage(error) => storage_error(error),
        LoadError::Data(detail) => ApiError::internal(format!("stored escalation policy: {detail}")),
    }
}

fn no_policy(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no escalation policy {id}"))
}
