//! Sign-in with OpenID Connect (docs/sign-in.md): query is a confidential client of the
//! organisation's identity provider, and keeps the sessions itself, server-side.
//!
//! - `GET /auth/login?return_to=/path`: records a sign-in attempt (state, nonce, PKCE verifier,
//!   the browser it started in) and sends the browser to the provider.
//! - `GET /auth/callback?code&state`: takes the attempt (once: a replayed callback finds nothing),
//!   exchanges the code, verifies the ID token, creates the user at their first sign-in, opens a
//!   session and sends the browser back to the local path it came from.
//! - `POST /auth/logout`: ends the session here and answers where to send the browser to end the
//!   provider's session too (RP-initiated logout), when the provider offers it.
//! - `GET /auth/me`: who is signed in, their teams and roles, whether they are an admin, and the
//!   CSRF token the page sends with its POSTs.
//! - `GET /auth/status`: the same for the dashboard, always `200`, also without sign-in
//!   (`{"provider": false}`): a browser logs every 401 and 404 to its console.
//!
//! The session cookie holds 32 random bytes; PostgreSQL holds their SHA-256 only. `access` is the
//! middleware that lets a session (or a token) in.

pub mod access;
pub mod oidc;

use crate::config::SignInSettings;
use crate::errors::{connection, storage_error};
use access::{Proof, SESSION_COOKIE, SignedInUser, check_csrf, cookie, session_cookie, sha256};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc::{Oidc, OidcError};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_domain::roles::{DefaultRole, Role};
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::Pool;
use tocsin_storage::people::{self, NewSession, SignInAttempt, SignedInIdentity};
use tocsin_storage::teams;
use uuid::Uuid;

/// The cookie binding a sign-in attempt to the browser that started it.
const SIGN_IN_COOKIE: &str = "tocsin_sign_in";
/// How long a sign-in attempt waits for its callback: long enough to type a password and answer
/// a second factor, short enough that a stolen `state` is soon worthless.
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How a callback ended, for `tocsin_query_sign_ins_total{outcome}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SignInOutcome {
    /// `signed_in`; `unknown_attempt` (a forged, replayed, expired or another browser's `state`);
    /// `refused` (by the provider, or an ID token that is not valid); `unavailable` (the provider
    /// or PostgreSQL); `error`.
    pub outcome: &'static str,
}

/// Sign-in's state, shared by the workers.
pub struct SignIn {
    pub oidc: Oidc,
    pub pool: Pool,
    pub session_lifetime: Duration,
    /// The role a signed-in person holds in a team they are not a member of, which `/auth/me`
    /// tells the dashboard.
    pub default_role: DefaultRole,
    outcomes: Family<SignInOutcome, Counter>,
}

impl SignIn {
    /// `outcomes`: the callbacks' counter, registered by the caller.
    pub fn new(
        settings: &SignInSettings,
        pool: Pool,
        outcomes: Family<SignInOutcome, Counter>,
    ) -> Result<SignIn, OidcError> {
        Ok(SignIn {
            oidc: Oidc::new(settings)?,
            pool,
            session_lifetime: settings.session_lifetime,
            default_role: settings.default_role,
            outcomes,
        })
    }

    /// `Secure` always: production is behind TLS, and browsers keep and send a `Secure` cookie
    /// to http://127.0.0.1 and http://localhost too, which a local run uses.
    fn cookie(&self, name: &str, value: &str, path: &str, max_age: Duration) -> String {
        format!("{name}={value}; Path={path}; Max-Age={}; HttpOnly; Secure; SameSite=Lax", max_age.as_secs())
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// The path on this site to come back to once signed in (default `/`).
    return_to: Option<String>,
}

/// `GET /auth/login`: to the identity provider.
#[utoipa::path(
    get,
    path = "/auth/login",
    params(LoginParams),
    responses(
        (status = 303, description = "To the identity provider's authorization endpoint, with a cookie binding the attempt to this browser"),
        (status = 400, description = "`return_to` is not a path on this site", body = ErrorBody),
        (status = 404, description = "Sign-in with an identity provider is off (no OIDC_ISSUER_URL)", body = ErrorBody),
        (status = 503, description = "The identity provider or PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(())
)]
pub async fn login(
    sign_in: web::Data<SignIn>,
    request: HttpRequest,
    params: web::Query<LoginParams>,
) -> Result<HttpResponse, ApiError> {
    let return_to = match params.into_inner().return_to {
        None => "/".to_owned(),
        Some(path) if is_local_path(&path) => path,
        Some(_) => {
            return Err(ApiError::invalid_parameter("return_to must be a path on this site, starting with a single /"));
        }
    };
    let authorization = sign_in.oidc.authorization_request().await.map_err(oidc_error)?;
    // One browser cookie for every attempt of this browser, so two tabs signing in at once
    // do not undo each other.
    let browser = cookie(request.headers(), SIGN_IN_COOKIE).unwrap_or_else(random_token);
    let attempt = SignInAttempt {
        state: authorization.state,
        browser_sha256: sha256(&browser).to_vec(),
        pkce_verifier: authorization.pkce_verifier,
        nonce: authorization.nonce,
        return_to,
    };
    {
        let mut conn = connection(&sign_in.pool).await?;
        people::start_sign_in(&mut conn, &attempt, SIGN_IN_LIFETIME).await.map_err(storage_error)?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, authorization.url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::SET_COOKIE, sign_in.cookie(SIGN_IN_COOKIE, &browser, "/auth", SIGN_IN_LIFETIME)))
        .finish())
}

/// What the identity provider sends the browser back with (RFC 6749 section 4.1.2, RFC 9207).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    /// The provider's issuer identifier; when given, it must be ours.
    iss: Option<String>,
    /// The provider refused the sign-in.
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`: back from the identity provider.
#[utoipa::path(
    get,
    path = "/auth/callback",
    params(CallbackParams),
    responses(
        (status = 303, description = "Signed in: the session cookie is set and the browser goes back to where it started"),
        (status = 400, description = "No `code` or `state`, or a sign-in that is unknown, used, expired or another browser's", body = ErrorBody),
        (status = 401, description = "The provider refused, or its ID token is not valid", body = ErrorBody),
        (status = 404, description = "Sign-in with an identity provider is off", body = ErrorBody),
        (status = 503, description = "The identity provider or PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(())
)]
pub async fn callback(
    sign_in: web::Data<SignIn>,
    request: HttpRequest,
    params: web::Query<CallbackParams>,
) -> Result<HttpResponse, ApiError> {
    let answer = finish_sign_in(&sign_in, &request, params.into_inner()).await;
    let outcome = match &answer {
        Ok(_) => "signed_in",
        Err(error) => match error.code {
            ErrorCode::InvalidParameter => "unknown_attempt",
            ErrorCode::Unauthorized => "refused",
            ErrorCode::Unavailable => "unavailable",
            _ => "error",
        },
    };
    sign_in.outcomes.get_or_create(&SignInOutcome { outcome }).inc();
    answer
}

async fn finish_sign_in(
    sign_in: &SignIn,
    request: &HttpRequest,
    params: CallbackParams,
) -> Result<HttpResponse, ApiError> {
    if let Some(error) = params.error {
        let description = params.error_description.unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            format!("the identity provider did not sign you in: {error} {description}").trim_end().to_owned(),
        ));
    }
    let (Some(code), Some(state)) = (params.code, params.state) else {
        return Err(ApiError::invalid_parameter("the callback needs `code` and `state`: start at /auth/login"));
    };
    let unknown = || {
        ApiError::invalid_parameter(
            "this sign-in is unknown, was already used, expired, or was started in another browser: \
             start again at /auth/login",
        )
    };
    let browser = cookie(request.headers(), SIGN_IN_COOKIE).ok_or_else(unknown)?;
    let attempt = {
        let mut conn = connection(&sign_in.pool).await?;
        people::take_sign_in(&mut conn, &state, &sha256(&browser), SIGN_IN_LIFETIME).await.map_err(storage_error)?
    };
    let attempt = attempt.ok_or_else(unknown)?;
    let signed_in = sign_in.oidc.finish(&code, &attempt.pkce_verifier, &attempt.nonce).await.map_err(oidc_error)?;
    // RFC 9207: a provider that names itself in the callback must be ours (a mix-up attack
    // would otherwise send another provider's code here).
    if params.iss.as_deref().is_some_and(|iss| iss != signed_in.identity.issuer) {
        return Err(ApiError::new(ErrorCode::Unauthorized, "the callback's `iss` is not the ID token's issuer"));
    }
    let identity = &signed_in.identity;
    let value = random_token();
    let expires_at = OffsetDateTime::now_utc() + sign_in.session_lifetime;
    let user = {
        let mut conn = connection(&sign_in.pool).await?;
        let user = people::sign_in_user(
            &mut conn,
            &SignedInIdentity {
                issuer: &identity.issuer,
                subject: &identity.subject,
                name: &identity.name,
                email: identity.email.as_deref(),
            },
        )
        .await
        .map_err(storage_error)?;
        let session = NewSession {
            id_sha256: &sha256(&value),
            user_id: user.id,
            csrf_token: &random_token(),
            id_token: Some(&signed_in.id_token),
            expires_at,
        };
        people::create_session(&mut conn, &session).await.map_err(storage_error)?;
        user
    };
    tracing::info!(user.id = %user.id, oidc.issuer = %identity.issuer, "signed in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, attempt.return_to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .append_header((header::SET_COOKIE, sign_in.cookie(SESSION_COOKIE, &value, "/", sign_in.session_lifetime)))
        .append_header((header::SET_COOKIE, sign_in.cookie(SIGN_IN_COOKIE, "", "/auth", Duration::ZERO)))
        .finish())
}

/// The signed-in person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    user: MeUser,
    /// The teams the person is a member of, by slug, with their role in each.
    teams: Vec<MeTeam>,
    /// Their role in every other team (`SIGN_IN_DEFAULT_ROLE`); an admin may do everything anyway.
    default_role: Role,
    /// Send it as `X-CSRF-Token` with every POST.
    csrf_token: String,
    /// When the session ends.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeUser {
    id: Uuid,
    name: String,
    email: Option<String>,
    is_admin: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeTeam {
    slug: String,
    name: String,
    role: Role,
}

impl Me {
    /// What `/auth/me` says of `user`, with their teams as they are now.
    async fn of(sign_in: &SignIn, user: SignedInUser) -> Result<Me, ApiError> {
        let mut conn = connection(&sign_in.pool).await?;
        let memberships = teams::memberships(&mut conn, user.id).await.map_err(storage_error)?;
        let any_memberships = teams::any_memberships(&mut conn).await.map_err(storage_error)?;
        Ok(Me {
            user: MeUser { id: user.id, name: user.name, email: user.email, is_admin: user.is_admin },
            teams: memberships
                .into_iter()
                .map(|membership| MeTeam { slug: membership.team, name: membership.team_name, role: membership.role })
                .collect(),
            default_role: sign_in.default_role.role(any_memberships),
            csrf_token: match user.proof {
                Proof::Session { csrf_token } => csrf_token,
                // /auth/me and /auth/status read the session cookie only.
                Proof::PersonalToken { .. } => String::new(),
            },
            expires_at: user.expires_at,
        })
    }
}

/// `GET /auth/me`: who is signed in, their teams and roles.
#[utoipa::path(
    get,
    path = "/auth/me",
    responses(
        (status = 200, description = "The person the session cookie belongs to", body = Me),
        (status = 401, description = "No session cookie, or a session that ended", body = ErrorBody),
        (status = 404, description = "Sign-in with an identity provider is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(())
)]
pub async fn me(sign_in: web::Data<SignIn>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let value = session_cookie(request.headers()).ok_or_else(not_signed_in)?;
    let user = access::session(&sign_in.pool, &value).await?;
    let me = Me::of(&sign_in, user).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(me))
}

/// `GET /auth/status`: whether sign-in with a provider is on, and who is signed in if anyone:
/// with a live session, every field of `GET /auth/me` beside `provider`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// Whether sign-in with an identity provider is on.
    provider: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<MeUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    teams: Option<Vec<MeTeam>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

impl Status {
    fn of(provider: bool, me: Option<Me>) -> Status {
        match me {
            None => {
                Status { provider, user: None, teams: None, default_role: None, csrf_token: None, expires_at: None }
            }
            Some(me) => Status {
                provider,
                user: Some(me.user),
                teams: Some(me.teams),
                default_role: Some(me.default_role),
                csrf_token: Some(me.csrf_token),
                expires_at: Some(me.expires_at),
            },
        }
    }
}

/// `GET /auth/status` with sign-in on.
#[utoipa::path(
    get,
    path = "/auth/status",
    responses(
        (status = 200, description = "Whether sign-in is on, and who is signed in if anyone (the same with sign-in off: `{\"provider\": false}`)", body = Status),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(())
)]
pub async fn status(sign_in: web::Data<SignIn>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let me = match session_cookie(request.headers()) {
        None => None,
        Some(value) => match access::session(&sign_in.pool, &value).await {
            Ok(user) => Some(Me::of(&sign_in, user).await?),
            Err(error) if error.code == ErrorCode::Unauthorized => None,
            Err(error) => return Err(error),
        },
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(Status::of(true, me)))
}

/// Every other `/auth` route without sign-in: 404, saying why.
pub async fn without_provider() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("sign-in with an identity provider is off here (no OIDC_ISSUER_URL): use a token"))
}

/// `GET /auth/status` without sign-in: tokens only.
pub async fn status_without_provider() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(Status::of(false, None))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedOut {
    /// Send the browser here to sign out of the identity provider too; null when the provider
    /// offers no RP-initiated logout.
    provider_logout_url: Option<String>,
}

/// `POST /auth/logout` (with `X-CSRF-Token`): ends the session.
#[utoipa::path(
    post,
    path = "/auth/logout",
    params(("X-CSRF-Token" = String, Header, description = "The session's `csrf_token` from /auth/me")),
    responses(
        (status = 200, description = "The session ended here; the cookie is cleared", body = LoggedOut),
        (status = 401, description = "No session cookie, or a session that ended", body = ErrorBody),
        (status = 403, description = "`X-CSRF-Token` is missing or not the session's", body = ErrorBody),
        (status = 404, description = "Sign-in with an identity provider is off", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(())
)]
pub async fn logout(sign_in: web::Data<SignIn>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let value = session_cookie(request.headers()).ok_or_else(not_signed_in)?;
    let user = access::session(&sign_in.pool, &value).await?;
    check_csrf(request.headers(), &user)?;
    let id_token = {
        let mut conn = connection(&sign_in.pool).await?;
        people::revoke_session(&mut conn, &sha256(&value)).await.map_err(storage_error)?.flatten()
    };
    tracing::info!(user.id = %user.id, "signed out");
    let provider_logout_url = sign_in.oidc.logout_url(id_token.as_deref()).await.map(String::from);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::SET_COOKIE, sign_in.cookie(SESSION_COOKIE, "", "/", Duration::ZERO)))
        .json(LoggedOut { provider_logout_url }))
}

fn not_signed_in() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "not signed in: sign in at /auth/login")
}

fn oidc_error(error: OidcError) -> ApiError {
    match error {
        OidcError::Unavailable(detail) => ApiError::unavailable("the identity provider", detail),
        refused @ (OidcError::Refused(_) | OidcError::InvalidIdToken(_)) => {
            tracing::info!(error = %refused, "sign-in refused");
            ApiError::new(ErrorCode::Unauthorized, format!("sign-in refused: {refused}"))
        }
    }
}

/// A path on this site: one leading `/`, not `//` or `/\` (which browsers read as another host),
/// and nothing a header cannot carry.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && path.chars().all(|c| c.is_ascii_graphic())
}

/// 32 random bytes, base64url: a session cookie, a CSRF token, a browser's sign-in cookie.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        for path in ["/", "/incidents/0191?status=open", "/a#b"] {
            assert!(is_local_path(path), "{path}");
        }
        for path in
            ["", "https://evil.example", "//evil.example", "/\\evil.example", "/a b", "/\r\nSet-Cookie:x", "evil"]
        {
            assert!(!is_local_path(path), "{path}");
        }
    }
}
