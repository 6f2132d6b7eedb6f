//! Teams, their members and who is an admin (docs/api.md, "Teams and members"): `GET /teams`,
//! `GET /teams/{team}`, `PUT` and `DELETE /teams/{team}/members/{user}`, `PUT /users/{user}/admin`.
//!
//! Reading takes `read`. Changing a team's members is for its managers and for admins (a token
//! with `admin`, or a signed-in admin): `authorization::may_manage_team`, decided on the team as it
//! is once its row is locked. A manager cannot remove or demote the team's last manager; an admin
//! can. Making someone an admin, or not, is for admins, and the last admin stays one. A user is
//! named by id or by e-mail address, and exists once they have signed in. Every change is in the
//! audit log with who made it, in the change's transaction.

use crate::State;
use crate::authorization::{may_manage_team, principal_of};
use crate::catalogue::check_name;
use crate::errors::storage_error;
use crate::sign_in::access::Principal;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tocsin_domain::roles::Role;
use tocsin_runtime::auth::Scope;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::catalogue::MAX_TEAM_BYTES;
use tocsin_storage::people::UserRow;
use tocsin_storage::teams::{
    self, AdminError, FoundUser, MAX_MEMBERS, MemberChange, MembershipError, TeamRow, UserRef,
};
use tocsin_storage::{AsyncConnection, AsyncPgConnection, StorageError};
use uuid::Uuid;

/// Longest e-mail address a user is looked up by (RFC 5321's limit on a path).
const MAX_EMAIL_BYTES: usize = 320;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamSummary {
    /// What an escalation policy's `{"team": …}` target names.
    id: Uuid,
    /// As alerts carry it in their `team` label.
    slug: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    members: i64,
    managers: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamList {
    /// Every team, by slug.
    items: Vec<TeamSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    id: Uuid,
    name: String,
    email: Option<String>,
}

impl From<&UserRow> for UserSummary {
    fn from(user: &UserRow) -> UserSummary {
        UserSummary { id: user.id, name: user.name.clone(), email: user.email.clone() }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamMember {
    user: UserSummary,
    role: Role,
    /// The token or person that added them to the team.
    added_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    added_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Team {
    /// What an escalation policy's `{"team": …}` target names.
    id: Uuid,
    slug: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// By name.
    members: Vec<TeamMember>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// `viewer`, `responder` or `manager`.
    #[schema(value_type = Role)]
    role: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRequest {
    admin: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminAnswer {
    user: UserSummary,
    admin: bool,
}

#[utoipa::path(
    get,
    path = "/teams",
    responses(
        (status = 200, description = "Every team with its number of members", body = TeamList),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.connection().await?;
    let items = teams::teams(&mut conn)
        .await
        .map_err(storage_error)?
        .into_iter()
        .map(|team| TeamSummary {
            id: team.id,
            slug: team.slug,
            name: team.name,
            created_at: team.created_at,
            members: team.members,
            managers: team.managers,
        })
        .collect();
    Ok(HttpResponse::Ok().json(TeamList { items }))
}

#[utoipa::path(
    get,
    path = "/teams/{team}",
    params(("team" = String, Path, description = "The team's slug")),
    responses(
        (status = 200, description = "The team and its members with their roles", body = Team),
        (status = 400, description = "The slug is empty, too long or holds a control character", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "No such team", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(state: web::Data<State>, team: web::Path<String>) -> Result<HttpResponse, ApiError> {
    check_team(&team)?;
    let mut conn = state.connection().await?;
    let found = teams::team(&mut conn, &team).await.map_err(storage_error)?;
    let found = found.ok_or_else(|| no_team(&team))?;
    let members = teams::members(&mut conn, found.id).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(team_answer(found, members)))
}

#[utoipa::path(
    put,
    path = "/teams/{team}/members/{user}",
    params(
        ("team" = String, Path, description = "The team's slug; an admin adding a member to a team that does not exist creates it"),
        ("user" = String, Path, description = "The user's id, or e-mail address"),
    ),
    request_body = MemberRequest,
    responses(
        (status = 200, description = "The member's role was changed, or already this one: the team", body = Team),
        (status = 201, description = "The person is a member now: the team", body = Team),
        (status = 400, description = "The team, the user or the role is not valid", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither an admin nor a manager of the team, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user (a person exists once they have signed in)", body = ErrorBody),
        (status = 409, description = "A manager demoting the team's last manager, the team's 1,000 members, or an e-mail address several users share", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_member(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<MemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let (team, user) = path.into_inner();
    check_team(&team)?;
    let user = user_ref(&user)?;
    let role = Role::parse(body.role.trim()).ok_or_else(|| {
        ApiError::invalid_payload(format!("role must be viewer, responder or manager, not {:?}", body.role))
    })?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let (change, answer) = conn
        .transaction(async |conn| {
            let locked = match teams::lock_team(conn, &team).await? {
                Some(locked) => locked,
                None => {
                    // Only an admin gets past this for a team nobody manages yet.
                    may_manage_team(conn, &principal, &team).await?;
                    teams::lock_or_create_team(conn, &team, &actor).await?
                }
            };
            may_manage_team(conn, &principal, &team).await?;
            let member = found_user(conn, user).await?;
            let change = teams::set_member(conn, &locked, &member, role, &actor, !is_admin(&principal))
                .await
                .map_err(|error| membership_error(error, &team, &member))?;
            let members = teams::members(conn, locked.id).await?;
            Ok::<_, Failed>((change, team_answer(locked, members)))
        })
        .await?;
    let status = if change == MemberChange::Added { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(answer))
}

#[utoipa::path(
    delete,
    path = "/teams/{team}/members/{user}",
    params(
        ("team" = String, Path, description = "The team's slug"),
        ("user" = String, Path, description = "The user's id, or e-mail address"),
    ),
    responses(
        (status = 204, description = "They are not a member any more"),
        (status = 400, description = "The team or the user is not valid", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither an admin nor a manager of the team, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such team or user, or the user is not a member", body = ErrorBody),
        (status = 409, description = "A manager removing the team's last manager, or an e-mail address several users share", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, user) = path.into_inner();
    check_team(&team)?;
    let user = user_ref(&user)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let locked = teams::lock_team(conn, &team).await?;
        may_manage_team(conn, &principal, &team).await?;
        let locked = locked.ok_or_else(|| no_team(&team))?;
        let member = found_user(conn, user).await?;
        let removed = teams::remove_member(conn, &locked, &member, &actor, !is_admin(&principal))
            .await
            .map_err(|error| membership_error(error, &team, &member))?;
        match removed {
            Some(_) => Ok(()),
            None => Err(Failed::Api(ApiError::not_found(format!(
                "{} is not a member of team `{team}`",
                display_name(&member)
            )))),
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    put,
    path = "/users/{user}/admin",
    params(("user" = String, Path, description = "The user's id, or e-mail address")),
    request_body = AdminRequest,
    responses(
        (status = 200, description = "Whether the user is an admin now", body = AdminAnswer),
        (status = 400, description = "The user is not an id or an e-mail address, or the body is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither a token with the `admin` scope nor a signed-in admin", body = ErrorBody),
        (status = 404, description = "No such user (a person exists once they have signed in)", body = ErrorBody),
        (status = 409, description = "Taking the role from the last admin, or an e-mail address several users share", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_admin(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
    body: web::Json<AdminRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = user_ref(&user)?;
    let admin = body.admin;
    let actor = principal_of(&request)?.actor();
    let mut conn = state.connection().await?;
    let answer = conn
        .transaction(async |conn| {
            let target = found_user(conn, user).await?;
            teams::set_admin(conn, &target, admin, &actor).await.map_err(|error| match error {
                AdminError::LastAdmin => Failed::Api(ApiError::conflict(format!(
                    "{} is the last admin: make someone else an admin first",
                    display_name(&target)
                ))),
                AdminError::Storage(error) => Failed::Storage(error),
            })?;
            Ok::<_, Failed>(AdminAnswer { user: UserSummary::from(&target), admin })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Why a change was rolled back: an answer for the client, or the database.
pub(crate) enum Failed {
    Api(ApiError),
    Storage(StorageError),
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Failed::Api(error)
    }
}

impl From<StorageError> for Failed {
    fn from(error: StorageError) -> Self {
        Failed::Storage(error)
    }
}

impl From<diesel::result::Error> for Failed {
    fn from(error: diesel::result::Error) -> Self {
        Failed::Storage(error.into())
    }
}

impl From<Failed> for ApiError {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::Api(error) => error,
            Failed::Storage(error) => storage_error(error),
        }
    }
}

fn membership_error(error: MembershipError, team: &str, member: &UserRow) -> Failed {
    match error {
        MembershipError::LastManager => Failed::Api(ApiError::conflict(format!(
            "{} is the last manager of team `{team}`: make someone else its manager first, or ask an admin",
            display_name(member)
        ))),
        MembershipError::TooManyMembers => {
            Failed::Api(ApiError::conflict(format!("team `{team}` has its maximum of {MAX_MEMBERS} members")))
        }
        MembershipError::Storage(error) => Failed::Storage(error),
    }
}

/// The one user `user` names, or 404, or 409 for an e-mail address several users share.
pub(crate) async fn found_user(conn: &mut AsyncPgConnection, user: UserRef<'_>) -> Result<UserRow, Failed> {
    match teams::find_user(conn, user).await? {
        FoundUser::One(found) => Ok(found),
        FoundUser::None => Err(Failed::Api(ApiError::not_found(format!(
            "no user {}: a person is known to tocsin once they have signed in",
            match user {
                UserRef::Id(id) => id.to_string(),
                UserRef::Email(email) => format!("with the e-mail address {email:?}"),
            }
        )))),
        FoundUser::Several => Err(Failed::Api(ApiError::conflict(
            "several users have this e-mail address (they signed in with different identity providers): name the \
             user by id",
        ))),
    }
}

/// The person `user` names (`me`, an id or an e-mail address), if `principal` may see and change
/// what is theirs (personal tokens, contact methods, notification rules): the person themself, or
/// an admin. A person who is not an admin is refused for anyone else whether or not
/// they exist.
pub(crate) async fn own_person(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    user: &str,
) -> Result<UserRow, Failed> {
    let reference = match user {
        "me" => match principal {
            Principal::Person(me) => UserRef::Id(me.id),
            Principal::Token { name, .. } => {
                return Err(Failed::Api(ApiError::invalid_parameter(format!(
                    "user `me` names the person signed in, and `{name}` is a token: name the user by id or e-mail address"
                ))));
            }
        },
        other => user_ref(other)?,
    };
    match principal {
        Principal::Token { scope: Scope::Admin, .. } => found_user(conn, reference).await,
        Principal::Token { name, .. } => Err(Failed::Api(ApiError::new(
            ErrorCode::Forbidden,
            format!("what is a person's own needs a token with the `admin` scope; `{name}` does not have it"),
        ))),
        Principal::Person(me) if me.is_admin => found_user(conn, reference).await,
        Principal::Person(me) => {
            let is_me = match reference {
                UserRef::Id(id) => id == me.id,
                UserRef::Email(email) => me.email.as_deref().is_some_and(|mine| mine.eq_ignore_ascii_case(email)),
            };
            if !is_me {
                return Err(Failed::Api(ApiError::new(
                    ErrorCode::Forbidden,
                    "a person's tokens, contact methods and notification rules are for the person themself and for admins",
                )));
            }
            found_user(conn, UserRef::Id(me.id)).await
        }
    }
}

/// A user in a path: an id, else an e-mail address.
pub(crate) fn user_ref(user: &str) -> Result<UserRef<'_>, ApiError> {
    if let Ok(id) = Uuid::parse_str(user) {
        return Ok(UserRef::Id(id));
    }
    let looks_like_email = user.len() <= MAX_EMAIL_BYTES
        && user.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !user.chars().any(|c| c.is_control() || c.is_whitespace());
    if looks_like_email {
        Ok(UserRef::Email(user))
    } else {
        Err(ApiError::invalid_parameter(format!(
            "user must be a user's id or e-mail address (of at most {MAX_EMAIL_BYTES} bytes), not {user:?}"
        )))
    }
}

/// A team's slug as a path or query parameter: a 400 naming `team` when it is empty, too long or
/// holds a control character (PostgreSQL refuses a NUL outright).
pub(crate) fn check_team(team: &str) -> Result<(), ApiError> {
    check_name("team", team, MAX_TEAM_BYTES).map_err(|error| ApiError::invalid_parameter(error.message))
}

/// Admins may remove or demote a team's last manager; managers may not.
fn is_admin(principal: &Principal) -> bool {
    match principal {
        Principal::Token { scope, .. } => *scope == Scope::Admin,
        Principal::Person(user) => user.is_admin,
    }
}

pub(crate) fn display_name(user: &UserRow) -> String {
    user.email.clone().unwrap_or_else(|| user.name.clone())
}

fn no_team(team: &str) -> ApiError {
    ApiError::not_found(format!("no team `{team}`"))
}

fn team_answer(team: TeamRow, members: Vec<teams::Member>) -> Team {
    Team {
        id: team.id,
        slug: team.slug,
        name: team.name,
        created_at: team.created_at,
        members: members
            .into_iter()
            .map(|member| TeamMember {
                user: UserSummary::from(&member.user),
                role: member.role,
                added_by: member.added_by,
                added_at: member.added_at,
            })
            .collect(),
    }
}
