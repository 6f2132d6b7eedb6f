//! Who may call a route: a bearer token with the route's scope (`tocsin_runtime::auth`, exactly as
//! without sign-in), or, when sign-in is on, a signed-in person's session cookie or one of their
//! personal API tokens (`tocsin_pat_…`, crates/storage/src/tokens.rs).
//!
//! A personal token acts as its person, exactly as their session would, within the token's
//! scopes: `read`, `act`, and `admin` for changes outside incidents (which the person's roles
//! still decide: a team's manager changes that team, an admin everything).
//!
//! A request with an `Authorization` header is judged by its token alone, cookie or not. Without
//! one, a session cookie is looked up in PostgreSQL: unknown, expired or revoked is 401. A session
//! passes the `read` and `act` routes, and the `admin` ones when its person is an admin; never
//! `ingest`. What a person may do beyond that depends on their roles in teams, which the handlers
//! ask `crate::authorization` about: acting on an incident needs a role in its team, managing a
//! team's members is for its managers ([`require_team_manager`]). A state-changing request
//! (anything but GET, HEAD, OPTIONS) made with the cookie must also carry the session's CSRF token
//! in `X-CSRF-Token`, else 403: the cookie goes with any request the browser makes to query, a
//! forged form's from another site included; the header only with requests the dashboard's own
//! script makes. Bearer requests need no such header: a browser never adds a bearer token by itself.

use crate::errors::{connection, storage_error};
use actix_web::HttpMessage;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use sha2::{Digest, Sha256};
use std::rc::Rc;
use std::sync::Arc;
use time::OffsetDateTime;
use tocsin_runtime::auth::{Caller, Scope, Tokens, bearer_token};
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::{Pool, people, tokens};
use uuid::Uuid;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tocsin_session";
/// The header a state-changing request authenticated by the session cookie carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A person signed in through their session, in the request's extensions beside the [`Caller`].
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub proof: Proof,
    /// When the session or the token ends.
    pub expires_at: OffsetDateTime,
}

/// How a person proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Their session cookie; a state-changing request also carries this CSRF token.
    Session { csrf_token: String },
    /// One of their personal API tokens.
    PersonalToken { id: Uuid },
}

impl SignedInUser {
    /// The actor an action of theirs is recorded under: their e-mail address, else their name.
    pub fn actor(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.name.clone())
    }
}

/// The signed-in person behind a request that went through [`require`], if a session let it in.
pub fn signed_in_user(request: &impl HttpMessage) -> Option<SignedInUser> {
    request.extensions().get::<SignedInUser>().cloned()
}

/// Who a request that went through [`require`] comes from, in its extensions.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A bearer token, let in because it has `scope`: the route's, which is all this request
    /// proves about the token.
    Token { name: Arc<str>, scope: Scope },
    /// A person signed in by their session.
    Person(SignedInUser),
}

impl Principal {
    /// Who a change is recorded under: the token's name, or the person's e-mail address (else
    /// their name).
    pub fn actor(&self) -> String {
        match self {
            Principal::Token { name, .. } => name.to_string(),
            Principal::Person(user) => user.actor(),
        }
    }
}

/// The principal of a request that went through [`require`] or [`require_team_manager`].
pub fn principal(request: &impl HttpMessage) -> Option<Principal> {
    request.extensions().get::<Principal>().cloned()
}

/// What authenticates requests: the tokens, and the sessions when sign-in is on.
#[derive(Clone)]
pub struct Access {
    tokens: Tokens,
    sessions: Option<Pool>,
}

impl Access {
    /// `sessions`: the pool holding them, when sign-in is on.
    pub fn new(tokens: Tokens, sessions: Option<Pool>) -> Access {
        Access { tokens, sessions }
    }

    async fn authenticate(
        &self,
        request: &ServiceRequest,
        scope: Scope,
        sessions: SessionRule,
    ) -> Result<(), ApiError> {
        let headers = request.headers();
        if let Some(pool) = &self.sessions
            && let Some(secret) = bearer_token(headers).filter(|token| token.starts_with(PERSONAL_TOKEN_PREFIX))
        {
            let user = personal_token(pool, secret, scope, sessions).await?;
            request.extensions_mut().insert(Caller { token_name: Arc::from(format!("user:{}", user.id)) });
            request.extensions_mut().insert(Principal::Person(user.clone()));
            request.extensions_mut().insert(user);
            return Ok(());
        }
        let cookie = match &self.sessions {
            Some(pool) if !headers.contains_key(header::AUTHORIZATION) => {
                session_cookie(headers).map(|value| (pool, value))
            }
            _ => None,
        };
        let Some((pool, value)) = cookie else {
            let caller = self.tokens.authorize(headers, scope)?;
            let name = caller.token_name.clone();
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(Principal::Token { name, scope });
            return Ok(());
        };
        let user = session(pool, &value).await?;
        person_may_pass(user.is_admin, scope, sessions)?;
        if !is_safe(request.method()) {
            check_csrf(headers, &user)?;
        }
        request.extensions_mut().insert(Caller { token_name: Arc::from(format!("user:{}", user.id)) });
        request.extensions_mut().insert(Principal::Person(user.clone()));
        request.extensions_mut().insert(user);
        Ok(())
    }
}

/// What a session needs to get through a route's middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionRule {
    /// What the route's scope asks of a person: `read` and `act`, to be signed in (acting on an
    /// incident then needs a role in its team, which the handler checks); `admin`, to be an admin.
    Scope,
    /// To be signed in: the handler decides by the person's role in the team the route names.
    TeamRole,
}

/// What every personal token starts with, so that it is told from a machine token without a
/// lookup, and secret scanners (GitHub's among them) can be taught to find leaked ones.
pub const PERSONAL_TOKEN_PREFIX: &str = "tocsin_pat_";

/// The person behind the live personal token `secret`, if it has `scope` (`admin` has them all),
/// or 401 (unknown, revoked, expired) or 403.
async fn personal_token(
    pool: &Pool,
    secret: &str,
    scope: Scope,
    sessions: SessionRule,
) -> Result<SignedInUser, ApiError> {
    let holder = {
        let mut conn = connection(pool).await?;
        tokens::authenticate(&mut conn, &sha256(secret)).await.map_err(storage_error)?
    };
    let holder = holder.ok_or_else(|| {
        ApiError::new(ErrorCode::Unauthorized, "this personal token is unknown, revoked or expired: make a new one")
    })?;
    let has = |wanted: Scope| holder.scopes.iter().any(|held| held == wanted.name() || held == Scope::Admin.name());
    if scope == Scope::Ingest || !has(scope) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("this personal token does not have the `{}` scope this route needs", scope.name()),
        ));
    }
    person_may_pass(holder.user.is_admin, scope, sessions)?;
    Ok(SignedInUser {
        id: holder.user.id,
        name: holder.user.name,
        email: holder.user.email,
        is_admin: holder.user.is_admin,
        proof: Proof::PersonalToken { id: holder.token_id },
        expires_at: holder.expires_at,
    })
}

/// What a route's middleware asks of a person, however they proved who they are (a session, or a
/// personal token that has the route's scope): `read` and `act`, nothing more (acting on an
/// incident then needs a role in its team, which the handler checks); `admin`, to be an admin;
/// `ingest`, never. A route whose handler decides by the person's role lets every person through.
fn person_may_pass(is_admin: bool, scope: Scope, sessions: SessionRule) -> Result<(), ApiError> {
    match (sessions, scope) {
        (SessionRule::TeamRole, _) | (SessionRule::Scope, Scope::Read | Scope::Act) => Ok(()),
        (SessionRule::Scope, Scope::Admin) if is_admin => Ok(()),
        (SessionRule::Scope, Scope::Admin) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this route is for admins: an admin makes you one with PUT /users/{user}/admin",
        )),
        (SessionRule::Scope, Scope::Ingest) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("a signed-in session does not have the `{}` scope this route needs", scope.name()),
        )),
    }
}

/// The live session whose cookie `value` names, or 401.
pub async fn session(pool: &Pool, value: &str) -> Result<SignedInUser, ApiError> {
    let mut conn = connection(pool).await?;
    let active = people::active_session(&mut conn, &sha256(value)).await.map_err(storage_error)?;
    let active = active.ok_or_else(|| {
        ApiError::new(ErrorCode::Unauthorized, "the session has expired or was ended: sign in again at /auth/login")
    })?;
    Ok(SignedInUser {
        id: active.user.id,
        name: active.user.name,
        email: active.user.email,
        is_admin: active.user.is_admin,
        proof: Proof::Session { csrf_token: active.csrf_token },
        expires_at: active.expires_at,
    })
}

/// 403 unless `X-CSRF-Token` holds the session's CSRF token (compared in constant time).
pub fn check_csrf(headers: &HeaderMap, user: &SignedInUser) -> Result<(), ApiError> {
    let presented = headers.get(CSRF_HEADER).map(|value| value.as_bytes()).unwrap_or_default();
    let same = match &user.proof {
        Proof::Session { csrf_token } => {
            subtle::ConstantTimeEq::ct_eq(&sha256_bytes(presented)[..], &sha256(csrf_token)[..]).into()
        }
        // A browser never sends a bearer token by itself: nothing to forge.
        Proof::PersonalToken { .. } => true,
    };
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "a request signed in by cookie that changes something must carry the session's CSRF token in the \
             X-CSRF-Token header (GET /auth/me gives it)",
        ))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of the session cookie, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

pub fn sha256(value: &str) -> [u8; 32] {
    sha256_bytes(value.as_bytes())
}

fn sha256_bytes(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// Middleware for the routes that need `scope`, from a token or a session; the refusal is an
/// answer, so the security headers' middleware around it still sees it.
pub fn require(access: &Access, scope: Scope) -> Require {
    Require { access: access.clone(), scope, sessions: SessionRule::Scope }
}

/// Middleware for the routes that change a team (its members): a token needs `admin`, as for
/// every change outside incidents; any signed-in person gets through to the handler, which asks
/// `crate::authorization::may_manage_team` about the team the route names.
pub fn require_team_manager(access: &Access) -> Require {
    require_person(access)
}

/// Middleware for the routes whose handler decides by who the person is (their own personal
/// tokens): a token needs `admin`; any signed-in person gets through.
pub fn require_person(access: &Access) -> Require {
    Require { access: access.clone(), scope: Scope::Admin, sessions: SessionRule::TeamRole }
}

pub struct Require {
    access: Access,
    scope: Scope,
    sessions: SessionRule,
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<RequireService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            access: self.access.clone(),
            scope: self.scope,
            sessions: self.sessions,
        }))
    }
}

pub struct RequireService<S> {
    service: Rc<S>,
    access: Access,
    scope: Scope,
    sessions: SessionRule,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let access = self.access.clone();
        let (scope, sessions) = (self.scope, self.sessions);
        Box::pin(async move {
            match access.authenticate(&request, scope, sessions).await {
                Ok(()) => service.call(request).await.map(ServiceResponse::map_into_left_body),
                Err(error) => Ok(request.error_response(error).map_into_right_body()),
            }
        })
    }
}
