//! Personal API tokens (docs/sign-in.md, "Personal API tokens"): `GET` and `POST
//! /users/{user}/tokens`, `DELETE /users/{user}/tokens/{id}`.
//!
//! A person makes their own tokens from a signed-in session (never with another token, so a leaked
//! token cannot mint more), sees them with when each was last used, and revokes them. An admin
//! (a signed-in admin, or a machine token with `admin`) lists and revokes anyone's: the first
//! thing to do when a laptop is lost. Nobody makes a token for someone else: a token acts as its
//! person, and the audit log must be able to believe that. `{user}` is `me`, an id or an e-mail
//! address. The secret is in the answer to `POST` and nowhere else, ever.

use crate::State;
use crate::authorization::principal_of;
use crate::catalogue::check_name;
use crate::errors::{parse_id, storage_error};
use crate::sign_in::access::{PERSONAL_TOKEN_PREFIX, Principal, Proof, SignedInUser, sha256};
use crate::sign_in::random_token;
use crate::teams::own_person;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::tokens::{self, CreateError, NewToken, TokenRow};
use uuid::Uuid;

/// Longest name of a token ("laptop", "grafana-annotations").
const MAX_NAME_BYTES: usize = 100;
/// Longest life of a token, and the life of one that names none.
const MAX_DAYS: u16 = 365;
const DEFAULT_DAYS: u16 = 90;
const SCOPES: [&str; 3] = ["read", "act", "admin"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, unique among the person's tokens (1 to 100 bytes).
    name: String,
    /// Some of `read`, `act` and `admin` (changes outside incidents, as far as the person's
    /// roles allow; `admin` includes the others).
    scopes: Vec<String>,
    /// Days until it expires: 1 to 365, 90 when not given.
    expires_in_days: Option<u16>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Token {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    /// When it was last used, to the minute; null when never.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<OffsetDateTime>,
    /// Null while the token works (unless it expired).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for Token {
    fn from(row: TokenRow) -> Token {
        Token {
            id: row.id,
            name: row.name,
            scopes: row.scopes,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    /// Newest first, revoked and expired ones included.
    items: Vec<Token>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MadeToken {
    token: Token,
    /// Send it as `Authorization: Bearer <secret>`. Shown this once: tocsin keeps only its SHA-256.
    secret: String,
}

#[utoipa::path(
    get,
    path = "/users/{user}/tokens",
    params(("user" = String, Path, description = "`me`, or the user's id or e-mail address")),
    responses(
        (status = 200, description = "The person's tokens, without their secrets", body = TokenList),
        (status = 400, description = "The user is not `me`, an id or an e-mail address", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Someone else's tokens, and not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "An e-mail address several users share", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal_of(&request)?;
    let mut conn = state.connection().await?;
    let owner = own_person(&mut conn, &principal, &user).await?;
    let items = tokens::list(&mut conn, owner.id).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(TokenList { items: items.into_iter().map(Token::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/users/{user}/tokens",
    params(("user" = String, Path, description = "`me`, or the signed-in person's own id or e-mail address")),
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The token, with its secret, shown this once", body = MadeToken),
        (status = 400, description = "A field is missing or out of its limits (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Not a signed-in session of this person: tokens are made by their person, in the dashboard", body = ErrorBody),
        (status = 409, description = "A token of this name exists, or the person holds 20 live tokens", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal_of(&request)?;
    let person = match &principal {
        Principal::Person(person @ SignedInUser { proof: Proof::Session { .. }, .. }) => person,
        _ => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "personal tokens are made by their person, signed in to the dashboard (not with a token)",
            ));
        }
    };
    let mut conn = state.connection().await?;
    let owner = own_person(&mut conn, &principal, &user).await?;
    if owner.id != person.id {
        return Err(ApiError::new(ErrorCode::Forbidden, "a token acts as its person: make your own only"));
    }
    let request = body.into_inner();
    check_name("name", &request.name, MAX_NAME_BYTES)?;
    let scopes = checked_scopes(&request.scopes)?;
    let days = request.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid_payload(format!("expires_in_days is {days}; it is 1 to {MAX_DAYS}")));
    }
    let secret = format!("{PERSONAL_TOKEN_PREFIX}{}", random_token());
    let new = NewToken {
        user_id: owner.id,
        name: &request.name,
        secret_sha256: &sha256(&secret),
        scopes: &scopes,
        expires_at: OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)),
    };
    let made = tokens::create(&mut conn, &new, &principal.actor()).await.map_err(|error| match error {
        CreateError::Storage(error) => storage_error(error),
        refused => ApiError::conflict(refused.to_string()),
    })?;
    tracing::info!(user.id = %owner.id, token.id = %made.id, "personal token made");
    Ok(HttpResponse::Created().json(MadeToken { token: Token::from(made), secret }))
}

#[utoipa::path(
    delete,
    path = "/users/{user}/tokens/{id}",
    params(
        ("user" = String, Path, description = "`me`, or the user's id or e-mail address"),
        ("id" = Uuid, Path, description = "The token's id"),
    ),
    responses(
        (status = 204, description = "Revoked: it authenticates nothing from now on"),
        (status = 400, description = "The user or the id is not valid", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Someone else's token, and not an admin", body = ErrorBody),
        (status = 404, description = "No such user, or no such live token of theirs", body = ErrorBody),
        (status = 409, description = "An e-mail address several users share", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, token) = path.into_inner();
    let token = parse_id("token", &token)?;
    let principal = principal_of(&request)?;
    let mut conn = state.connection().await?;
    let owner = own_person(&mut conn, &principal, &user).await?;
    if !tokens::revoke(&mut conn, owner.id, token, &principal.actor()).await.map_err(storage_error)? {
        return Err(ApiError::not_found(format!("no live token {token} of this person")));
    }
    tracing::info!(user.id = %owner.id, token.id = %token, "personal token revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// The scopes asked for, each once, each known.
fn checked_scopes(scopes: &[String]) -> Result<Vec<&'static str>, ApiError> {
    if scopes.is_empty() {
        return Err(ApiError::invalid_payload("scopes is empty: give some of read, act, admin"));
    }
    let mut checked = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let known = SCOPES.into_iter().find(|known| known == scope).ok_or_else(|| {
            ApiError::invalid_payload(format!(
                "scopes: {:?} is not a scope; they are read, act, admin",
                scope.chars().take(32).collect::<String>()
            ))
        })?;
        if checked.contains(&known) {
            return Err(ApiError::invalid_payload(format!("scopes: {known} is given twice")));
        }
        checked.push(known);
    }
    Ok(checked)
}
