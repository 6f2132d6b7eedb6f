//! What a principal may do beyond what got its request through the route's middleware
//! (`sign_in::access`): act on an incident of a team, manage a team. A machine token is judged by
//! its scopes alone, exactly as before teams had members; a signed-in person by their roles in
//! teams and whether they are an admin (`tocsin_domain::roles` decides, docs/sign-in.md "Teams and
//! roles").
//!
//! Each check reads the person's memberships from PostgreSQL when it is made, so a role given or
//! taken applies to their next request, on every replica, without signing in again.

use crate::errors::storage_error;
use crate::sign_in::access::{Principal, SignedInUser, principal};
use actix_web::HttpRequest;
use tocsin_domain::roles::{self, DefaultRole, Refusal, Standing};
use tocsin_runtime::auth::Scope;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::AsyncPgConnection;
use tocsin_storage::teams;

/// Whether `principal` may acknowledge, resolve, reopen or assign an incident of `team`: a token
/// may (its `act` scope let it in); a person per [`roles::may_act_on_incident`].
pub async fn may_act_on_incident(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    team: &str,
    default_role: DefaultRole,
) -> Result<(), ApiError> {
    let Principal::Person(user) = principal else {
        return Ok(());
    };
    teams::may_act_on_incident(conn, user.id, user.is_admin, team, default_role)
        .await
        .map_err(storage_error)?
        .map_err(|refusal| refused(user, refusal))
}

/// Whether `principal` may manage team `team`: change its members, and, as they switch to this
/// check, its schedules and settings. A token may when it was let in with the `admin` scope (the
/// route's middleware is `require_team_manager`, or `require` with `admin`); a person when they
/// are an admin or a manager of the team.
pub async fn may_manage_team(conn: &mut AsyncPgConnection, principal: &Principal, team: &str) -> Result<(), ApiError> {
    match principal {
        Principal::Token { scope: Scope::Admin, .. } => Ok(()),
        Principal::Token { name, .. } => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("managing team `{team}` needs a token with the `admin` scope; `{name}` does not have it"),
        )),
        Principal::Person(user) => {
            let person = standing(conn, user).await?;
            roles::may_manage_team(&person, team).map_err(|refusal| refused(user, refusal))
        }
    }
}

/// Whether `principal` may put `member` on call in a schedule of `team` (an override): a person
/// putting themselves there per [`roles::may_take_shift`] (any responder of the team takes a shift
/// or covers a colleague); anyone else, and any token, as for managing the team.
pub async fn may_put_on_call(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    team: &str,
    member: uuid::Uuid,
) -> Result<(), ApiError> {
    match principal {
        Principal::Person(user) if user.id == member => {
            let person = standing(conn, user).await?;
            roles::may_take_shift(&person, team).map_err(|refusal| refused(user, refusal))
        }
        _ => may_manage_team(conn, principal, team).await,
    }
}

/// The principal of a request to a route behind the access middleware, which put it there.
pub fn principal_of(request: &HttpRequest) -> Result<Principal, ApiError> {
    principal(request).ok_or_else(|| ApiError::internal("a route without access checks asked who called it"))
}

/// A person's roles as they are now.
pub async fn standing(conn: &mut AsyncPgConnection, user: &SignedInUser) -> Result<Standing, ApiError> {
    teams::standing(conn, user.id, user.is_admin).await.map_err(storage_error)
}

fn refused(user: &SignedInUser, refusal: Refusal) -> ApiError {
    tracing::info!(user.id = %user.id, team = %refusal.team, role.needed = %refusal.needed, "refused by role");
    ApiError::new(ErrorCode::Forbidden, refusal.to_string())
}
