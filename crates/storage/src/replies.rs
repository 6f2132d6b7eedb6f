//! Answers to pages (docs/oncall.md, "Answering a page"): the short codes a person replies to an
//! SMS page with, and what a key pressed in a voice page's call refers to.
//!
//! An SMS page says "Reply 1a to acknowledge, 1r to resolve". The code (1 to
//! [`MAX_REPLY_CODE`]) names one incident for one person: written by [`reply_code`] when the SMS is
//! sent, found again by [`replies_to`] from the number the reply came from. A person keeps the
//! code of an incident for as long as it pages them; the lowest code whose incident is resolved
//! (or gone) is taken for the next, so codes stay short and a person has at most
//! [`MAX_REPLY_CODE`] rows.

use crate::StorageError;
use crate::contacts::lock_user;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The highest code: two digits at most to type on a phone.
pub const MAX_REPLY_CODE: i16 = 99;

#[derive(QueryableByName)]
struct CodeRow {
    #[diesel(sql_type = SmallInt)]
    code: i16,
}

/// The code `user_id` answers pages of `incident_id` with: the one they already have for it,
/// else the lowest free one (no incident, or a resolved or deleted one), else, with
/// [`MAX_REPLY_CODE`] incidents paging them at once, the one assigned longest ago. The person's
/// row is locked for the transaction, so two pages sent at once never take the same code.
pub async fn reply_code(conn: &mut AsyncPgConnection, user_id: Uuid, incident_id: Uuid) -> Result<i16, StorageError> {
    conn.transaction(async |conn| {
        lock_user(conn, user_id).await?;
        let existing: Option<CodeRow> =
            diesel::sql_query("SELECT code FROM page_reply_codes WHERE user_id = $1 AND incident_id = $2")
                .bind::<SqlUuid, _>(user_id)
                .bind::<SqlUuid, _>(incident_id)
                .get_result(conn)
                .await
                .optional()?;
        if let Some(existing) = existing {
            return Ok(existing.code);
        }
        let free: Option<CodeRow> = diesel::sql_query(
            "SELECT c.code::smallint AS code FROM generate_series(1, $2::int) AS c(code)
             LEFT JOIN page_reply_codes r ON r.user_id = $1 AND r.code = c.code
             LEFT JOIN incidents i ON i.id = r.incident_id
             WHERE r.code IS NULL OR i.id IS NULL OR i.status = 'resolved'
             ORDER BY c.code LIMIT 1",
        )
        .bind::<SqlUuid, _>(user_id)
        .bind::<diesel::sql_types::Integer, _>(i32::from(MAX_REPLY_CODE))
        .get_result(conn)
        .await
        .optional()?;
        let code = match free {
            Some(free) => free.code,
            None => {
                diesel::sql_query(
                    "SELECT code FROM page_reply_codes WHERE user_id = $1 ORDER BY assigned_at, code LIMIT 1",
                )
                .bind::<SqlUuid, _>(user_id)
                .get_result::<CodeRow>(conn)
                .await?
                .code
            }
        };
        diesel::sql_query(
            "INSERT INTO page_reply_codes (user_id, code, incident_id) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, code) DO UPDATE
             SET incident_id = excluded.incident_id, assigned_at = now(), last_reply_sid = NULL",
        )
        .bind::<SqlUuid, _>(user_id)
        .bind::<SmallInt, _>(code)
        .bind::<SqlUuid, _>(incident_id)
        .execute(conn)
        .await?;
        Ok(code)
    })
    .await
}

/// Whose page a reply with `code` from the number `from` answers.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ReplyTarget {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// What the person's actions are recorded under: their e-mail address, else their name, as
    /// when they act from the dashboard.
    #[diesel(sql_type = Text)]
    pub actor: String,
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    /// The provider's id of the last reply acted on for this code.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_reply_sid: Option<String>,
}

/// The pages a reply with `code` from `from` can answer: those of the people one of whose SMS
/// contact methods is `from` (as stored, E.164) and who have the code. Usually one; none when the
/// number or the code is not known; more than one only when people share a phone and a code.
pub async fn replies_to(conn: &mut AsyncPgConnection, from: &str, code: i16) -> Result<Vec<ReplyTarget>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT DISTINCT u.id AS user_id, COALESCE(u.email, u.name) AS actor, r.incident_id, r.last_reply_sid
         FROM user_contact_methods m
         JOIN users u ON u.id = m.user_id
         JOIN page_reply_codes r ON r.user_id = m.user_id AND r.code = $2
         WHERE m.kind = 'sms' AND m.address = $1
         ORDER BY u.id",
    )
    .bind::<Text, _>(from)
    .bind::<SmallInt, _>(code)
    .load(conn)
    .await?)
}

/// Whether `number` is one of anyone's SMS contact methods: tells a stranger's message from a
/// known person's mistyped code, for the metrics.
pub async fn is_sms_number(conn: &mut AsyncPgConnection, number: &str) -> Result<bool, StorageError> {
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        known: bool,
    }
    let row: Known = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM user_contact_methods WHERE kind = 'sms' AND address = $1) AS known",
    )
    .bind::<Text, _>(number)
    .get_result(conn)
    .await?;
    Ok(row.known)
}

/// Records that the reply `sid` to `code` was acted on. Done after its command is on the stream:
/// a retry that comes before this queues the command again, with the same id, which
/// incident-core applies once.
pub async fn mark_replied(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    code: i16,
    sid: &str,
) -> Result<(), StorageError> {
    diesel::sql_query("UPDATE page_reply_codes SET last_reply_sid = $3 WHERE user_id = $1 AND code = $2")
        .bind::<SqlUuid, _>(user_id)
        .bind::<SmallInt, _>(code)
        .bind::<Text, _>(sid)
        .execute(conn)
        .await?;
    Ok(())
}

/// A page sent as a voice call, as a key pressed during the call finds it: its delivery names the
/// incident and the contact method, and so the person and the number called.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CalledPage {
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    /// The contact method's kind (`voice` for a call).
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// The number called.
    #[diesel(sql_type = Text)]
    pub address: String,
    #[diesel(sql_type = Text)]
    pub actor: String,
}

/// The page delivery `delivery_id`, if it is one (it names a contact method that still exists).
pub async fn called_page(conn: &mut AsyncPgConnection, delivery_id: i64) -> Result<Option<CalledPage>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT d.incident_id, m.user_id, m.kind, m.address, COALESCE(u.email, u.name) AS actor
         FROM notification_deliveries d
         JOIN user_contact_methods m ON m.id = d.contact_method_id
         JOIN users u ON u.id = m.user_id
         WHERE d.id = $1",
    )
    .bind::<BigInt, _>(delivery_id)
    .get_result(conn)
    .await
    .optional()?)
}
