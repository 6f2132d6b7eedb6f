//! People who sign in with OpenID Connect, their server-side sessions, and the sign-in attempts in
//! flight between query sending a browser to the identity provider and the provider sending it
//! back. query is the only writer of these tables; it never writes incidents.
//!
//! Nothing secret is stored as it is: a session is found by the SHA-256 of its cookie's value, and
//! a sign-in attempt is bound to its browser by the SHA-256 of a cookie too.

use crate::StorageError;
use crate::schema::{sessions, sign_in_attempts, users};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// A person as tocsin knows them.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
    pub time_zone: Option<String>,
    pub is_admin: bool,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// Who signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInIdentity<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

/// The user of `identity`, created at their first sign-in; a later one refreshes the name and the
/// e-mail address from the ID token and the time they were last seen.
pub async fn sign_in_user(
    conn: &mut AsyncPgConnection,
    identity: &SignedInIdentity<'_>,
) -> Result<UserRow, StorageError> {
    Ok(diesel::insert_into(users::table)
        .values((
            users::id.eq(Uuid::now_v7()),
            users::issuer.eq(identity.issuer),
            users::subject.eq(identity.subject),
            users::name.eq(identity.name),
            users::email.eq(identity.email),
        ))
        .on_conflict((users::issuer, users::subject))
        .do_update()
        .set((users::name.eq(identity.name), users::email.eq(identity.email), users::last_seen_at.eq(diesel::dsl::now)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await?)
}

/// A session to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie's value.
    pub id_sha256: &'a [u8],
    pub user_id: Uuid,
    pub csrf_token: &'a str,
    pub id_token: Option<&'a str>,
    pub expires_at: OffsetDateTime,
}

pub async fn create_session(conn: &mut AsyncPgConnection, session: &NewSession<'_>) -> Result<(), StorageError> {
    diesel::insert_into(sessions::table).values(session).execute(conn).await?;
    Ok(())
}

/// A live session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub user: UserRow,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// The session whose cookie hashes to `id_sha256`, unless it is unknown, expired or revoked.
pub async fn active_session(
    conn: &mut AsyncPgConnection,
    id_sha256: &[u8],
) -> Result<Option<ActiveSession>, StorageError> {
    let found: Option<(UserRow, String, OffsetDateTime)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::id_sha256.eq(id_sha256))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select((UserRow::as_select(), sessions::csrf_token, sessions::expires_at))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(user, csrf_token, expires_at)| ActiveSession { user, csrf_token, expires_at }))
}

/// Ends a session (sign-out). Returns the ID token it was opened with, for the provider's
/// sign-out, or `None` when there was no live session to end.
pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    id_sha256: &[u8],
) -> Result<Option<Option<String>>, StorageError> {
    Ok(diesel::update(sessions::table.filter(sessions::id_sha256.eq(id_sha256)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .returning(sessions::id_token)
        .get_result(conn)
        .await
        .optional()?)
}

/// Ends every session of a user (they left, or lost access), returning how many were live.
pub async fn revoke_user_sessions(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<usize, StorageError> {
    Ok(diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?)
}

/// A sign-in started: what the callback needs to finish it.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = sign_in_attempts, check_for_backend(diesel::pg::Pg))]
pub struct SignInAttempt {
    pub state: String,
    pub browser_sha256: Vec<u8>,
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
}

/// Records a sign-in attempt, and forgets those older than `lifetime` and the sessions that ended
/// more than a day ago: both are useless by then, and sign-ins are rare enough to carry the sweep.
pub async fn start_sign_in(
    conn: &mut AsyncPgConnection,
    attempt: &SignInAttempt,
    lifetime: Duration,
) -> Result<(), StorageError> {
    let now = OffsetDateTime::now_utc();
    diesel::delete(sign_in_attempts::table.filter(sign_in_attempts::created_at.lt(now - lifetime)))
        .execute(conn)
        .await?;
    let day_ago = now - Duration::from_secs(24 * 3600);
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(day_ago).or(sessions::revoked_at.lt(day_ago))))
        .execute(conn)
        .await?;
    diesel::insert_into(sign_in_attempts::table).values(attempt).execute(conn).await?;
    Ok(())
}

/// Takes the attempt of `state` started by the browser whose cookie hashes to `browser_sha256`,
/// if it is younger than `lifetime`. Taking deletes it: a second callback with the same `state`
/// (a replay) finds nothing. Another browser's callback takes nothing, so it cannot spoil the
/// attempt for the browser that started it.
pub async fn take_sign_in(
    conn: &mut AsyncPgConnection,
    state: &str,
    browser_sha256: &[u8],
    lifetime: Duration,
) -> Result<Option<SignInAttempt>, StorageError> {
    let taken: Option<(SignInAttempt, OffsetDateTime)> = diesel::delete(
        sign_in_attempts::table
            .filter(sign_in_attempts::state.eq(state))
            .filter(sign_in_attempts::browser_sha256.eq(browser_sha256)),
    )
    .returning((SignInAttempt::as_returning(), sign_in_attempts::created_at))
    .get_result(conn)
    .await
    .optional()?;
    let oldest = OffsetDateTime::now_utc() - lifetime;
    Ok(taken.filter(|(_, created_at)| *created_at >= oldest).map(|(attempt, _)| attempt))
}
