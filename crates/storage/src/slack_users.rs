//! Which tocsin user a Slack user is (docs/oncall.md, "Who clicked in Slack"): the notifier asks
//! here before it acts on a click, so that the click is recorded as that person and judged by their
//! roles, as an API call of theirs would be.
//!
//! A person's Slack contact method may name their member id (`U0123ABCD`): that names them at
//! once. Otherwise Slack's `users.info` gives the clicker's e-mail address, which is matched to a
//! user's without regard to case ([`crate::teams::find_user`]). What Slack said is kept in
//! `slack_users` for a bounded time, so a storm of clicks asks Slack once per person; the match to
//! a user is made afresh at each click, so a person who signs in for the first time is known at
//! their next click, not an hour later.

use crate::StorageError;
use crate::contacts::ContactKind;
use crate::people::UserRow;
use crate::schema::{user_contact_methods, users};
use crate::teams::{FoundUser, UserRef, find_user};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use time::OffsetDateTime;

/// The user whose enabled Slack contact method is the member id `slack_user_id`. Two people naming
/// the same member id is [`FoundUser::Several`]: neither is assumed.
pub async fn user_by_member_id(conn: &mut AsyncPgConnection, slack_user_id: &str) -> Result<FoundUser, StorageError> {
    let found: Vec<UserRow> = user_contact_methods::table
        .inner_join(users::table)
        .filter(user_contact_methods::kind.eq(ContactKind::Slack.as_str()))
        .filter(user_contact_methods::address.eq(slack_user_id))
        .filter(user_contact_methods::disabled.eq(false))
        .select(UserRow::as_select())
        .distinct()
        .limit(2)
        .load(conn)
        .await?;
    let mut found = found.into_iter();
    Ok(match (found.next(), found.next()) {
        (Some(user), None) => FoundUser::One(user),
        (None, _) => FoundUser::None,
        (Some(_), Some(_)) => FoundUser::Several,
    })
}

/// What Slack said of `slack_user_id`'s e-mail address, if it said so less than `lifetime` ago:
/// `Some(None)` when it gave none, `None` when Slack must be asked (again).
pub async fn cached_email(
    conn: &mut AsyncPgConnection,
    slack_user_id: &str,
    lifetime: Duration,
) -> Result<Option<Option<String>>, StorageError> {
    #[derive(QueryableByName)]
    struct Cached {
        #[diesel(sql_type = Nullable<Text>)]
        email: Option<String>,
    }
    let cached: Option<Cached> =
        diesel::sql_query("SELECT email FROM slack_users WHERE slack_user_id = $1 AND fetched_at > $2")
            .bind::<Text, _>(slack_user_id)
            .bind::<Timestamptz, _>(OffsetDateTime::now_utc() - lifetime)
            .get_result(conn)
            .await
            .optional()?;
    Ok(cached.map(|cached| cached.email))
}

/// Keeps what Slack said of `slack_user_id`'s e-mail address, and forgets what is older than
/// `lifetime`: it would be asked again anyway, and the table stays as small as the number of
/// people who clicked lately.
pub async fn remember_email(
    conn: &mut AsyncPgConnection,
    slack_user_id: &str,
    email: Option<&str>,
    lifetime: Duration,
) -> Result<(), StorageError> {
    diesel::sql_query("DELETE FROM slack_users WHERE fetched_at <= $1")
        .bind::<Timestamptz, _>(OffsetDateTime::now_utc() - lifetime)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO slack_users (slack_user_id, email, fetched_at) VALUES ($1, $2, now()) \
         ON CONFLICT (slack_user_id) DO UPDATE SET email = excluded.email, fetched_at = excluded.fetched_at",
    )
    .bind::<Text, _>(slack_user_id)
    .bind::<Nullable<Text>, _>(email)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user with the e-mail address `email` (any case); several users sharing it (from different
/// identity providers) is [`FoundUser::Several`].
pub async fn user_by_email(conn: &mut AsyncPgConnection, email: &str) -> Result<FoundUser, StorageError> {
    find_user(conn, UserRef::Email(email)).await
}
