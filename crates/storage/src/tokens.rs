//! Personal API tokens: a person's own bearer tokens for scripts and the CLI (docs/sign-in.md,
//! "Personal API tokens"). A token acts as its person, with their roles, within the scopes chosen
//! when it was made; it expires, can be revoked, and says when it was last used.
//!
//! The secret is shown once, when the token is made; only its SHA-256 is stored, so a copy of the
//! table authenticates nobody. Each change is written with its audit entry in one transaction.

use crate::StorageError;
use crate::catalogue;
use crate::people::UserRow;
use crate::schema::users;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// The most tokens a person holds at once (revoked and expired ones do not count).
pub const MAX_LIVE_TOKENS: i64 = 20;

/// A token to make.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    /// SHA-256 of the secret.
    pub secret_sha256: &'a [u8],
    pub scopes: &'a [&'a str],
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("name: this person already has a token named {0:?}")]
    NameTaken(String),
    #[error("a person holds at most {MAX_LIVE_TOKENS} live tokens: revoke one first")]
    TooMany,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for CreateError {
    fn from(error: diesel::result::Error) -> CreateError {
        CreateError::Storage(error.into())
    }
}

/// A token as its person sees it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct TokenRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Array<Text>)]
    pub scopes: Vec<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_used_at: Option<OffsetDateTime>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<OffsetDateTime>,
}

const TOKEN_COLUMNS: &str = "id, name, scopes, created_at, expires_at, last_used_at, revoked_at";

/// Makes a token, with an audit entry under `actor`. The person's row is locked first, so two
/// requests at once cannot both pass the count of live tokens.
pub async fn create(conn: &mut AsyncPgConnection, new: &NewToken<'_>, actor: &str) -> Result<TokenRow, CreateError> {
    conn.transaction::<_, CreateError, _>(async |conn| {
        users::table.find(new.user_id).select(users::id).for_update().get_result::<Uuid>(conn).await?;
        let live: i64 = diesel::sql_query(
            "SELECT count(*) AS count FROM personal_tokens \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
        )
        .bind::<SqlUuid, _>(new.user_id)
        .get_result::<Count>(conn)
        .await?
        .count;
        if live >= MAX_LIVE_TOKENS {
            return Err(CreateError::TooMany);
        }
        let made = diesel::sql_query(format!(
            "INSERT INTO personal_tokens (id, user_id, name, secret_sha256, scopes, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, name) DO NOTHING RETURNING {TOKEN_COLUMNS}"
        ))
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<SqlUuid, _>(new.user_id)
        .bind::<Text, _>(new.name)
        .bind::<Bytea, _>(new.secret_sha256)
        .bind::<Array<Text>, _>(new.scopes)
        .bind::<Timestamptz, _>(new.expires_at)
        .get_result::<TokenRow>(conn)
        .await
        .optional()?
        .ok_or_else(|| CreateError::NameTaken(new.name.to_owned()))?;
        catalogue::record(
            conn,
            actor,
            "token.created",
            &new.user_id.to_string(),
            json!({ "token": made.id, "name": made.name, "scopes": made.scopes, "expires_at": made.expires_at.unix_timestamp() }),
        )
        .await?;
        Ok(made)
    })
    .await
}

/// A person's tokens, newest first, revoked and expired ones included (for a while they say
/// what a script that stopped working was using).
pub async fn list(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<TokenRow>, StorageError> {
    Ok(diesel::sql_query(format!(
        "SELECT {TOKEN_COLUMNS} FROM personal_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind::<SqlUuid, _>(user_id)
    .load(conn)
    .await?)
}

/// Revokes the person's token `token_id`, with an audit entry; false when they have no such live
/// token.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    token_id: Uuid,
    actor: &str,
) -> Result<bool, StorageError> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let revoked = diesel::sql_query(
            "UPDATE personal_tokens SET revoked_at = now() \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind::<SqlUuid, _>(token_id)
        .bind::<SqlUuid, _>(user_id)
        .execute(conn)
        .await?;
        if revoked == 1 {
            catalogue::record(conn, actor, "token.revoked", &user_id.to_string(), json!({ "token": token_id })).await?;
        }
        Ok(revoked == 1)
    })
    .await
}

/// A live token and the person it acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub token_id: Uuid,
    pub scopes: Vec<String>,
    pub expires_at: OffsetDateTime,
    pub user: UserRow,
}

/// A live token with its person, read in one statement: this runs on every request a personal
/// token makes.
#[derive(QueryableByName)]
struct LiveToken {
    #[diesel(sql_type = SqlUuid)]
    token_id: Uuid,
    #[diesel(sql_type = Array<Text>)]
    scopes: Vec<String>,
    #[diesel(sql_type = Timestamptz)]
    expires_at: OffsetDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<OffsetDateTime>,
    #[diesel(embed)]
    user: UserRow,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// How stale `last_used_at` may be: it is written at most this often per token, so that a script
/// calling every second does not write on every call.
const LAST_USE_RESOLUTION: time::Duration = time::Duration::minutes(1);

/// The live token whose secret hashes to `secret_sha256` (not revoked, not expired), noting its use.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    secret_sha256: &[u8],
) -> Result<Option<TokenHolder>, StorageError> {
    let token = diesel::sql_query(
        "SELECT t.id AS token_id, t.scopes, t.expires_at, t.last_used_at, u.* \
         FROM personal_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.secret_sha256 = $1 AND t.revoked_at IS NULL AND t.expires_at > now()",
    )
    .bind::<Bytea, _>(secret_sha256)
    .get_result::<LiveToken>(conn)
    .await
    .optional()?;
    let Some(token) = token else { return Ok(None) };
    let now = OffsetDateTime::now_utc();
    if token.last_used_at.is_none_or(|last| now - last >= LAST_USE_RESOLUTION) {
        diesel::sql_query("UPDATE personal_tokens SET last_used_at = now() WHERE id = $1")
            .bind::<SqlUuid, _>(token.token_id)
            .execute(conn)
            .await?;
    }
    Ok(Some(TokenHolder {
        token_id: token.token_id,
        scopes: token.scopes,
        expires_at: token.expires_at,
        user: token.user,
    }))
}
