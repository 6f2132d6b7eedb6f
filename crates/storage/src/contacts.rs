//! How each person is paged (docs/oncall.md, "Notification rules"): their contact methods (a
//! Slack direct message, e-mail, SMS, a voice call, a signed webhook) and their notification
//! rules, which say which method is used how many minutes after a page of each urgency. query
//! writes them, each change with its audit entry, in the caller's transaction; the notifier reads
//! the rules of the people a `paged` event names.
//!
//! A change locks the person's row first ([`lock_user`]), so two changes at once are applied one
//! after the other and the limits ([`MAX_METHODS_PER_USER`], [`MAX_RULES_PER_USER`]) hold however
//! many requests race.

use crate::StorageError;
use crate::catalogue::record;
use crate::people::UserRow;
use crate::schema::{user_contact_methods, user_notification_rules, users};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use time::OffsetDateTime;
use tocsin_domain::PageUrgency;
use uuid::Uuid;

/// Most contact methods one person has: a profile page lists them all, and a page goes to each.
pub const MAX_METHODS_PER_USER: i64 = 10;
/// Most notification rules one person has (of both urgencies).
pub const MAX_RULES_PER_USER: i64 = 20;
/// Longest address of any kind: a webhook's URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest e-mail address (RFC 5321's limit on a path).
pub const MAX_EMAIL_BYTES: usize = 320;
/// Most digits an E.164 phone number has, country code included.
pub const MAX_PHONE_DIGITS: usize = 15;
/// Longest label ("work phone").
pub const MAX_LABEL_BYTES: usize = 100;
/// The longest a rule waits after a page: past two hours a page has long escalated.
pub const MAX_DELAY_MINUTES: i32 = 120;

/// How a person is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactKind {
    /// A Slack direct message from the tocsin app, with Acknowledge and Resolve buttons.
    Slack,
    Email,
    /// A text message through the Twilio-compatible API.
    Sms,
    /// A phone call through the Twilio-compatible API that reads the incident's title.
    Voice,
    /// A signed JSON POST to a URL the person chose (their own pager, PagerDuty, Opsgenie).
    Webhook,
}

impl ContactKind {
    pub const ALL: [ContactKind; 5] =
        [ContactKind::Slack, ContactKind::Email, ContactKind::Sms, ContactKind::Voice, ContactKind::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Slack => "slack",
            ContactKind::Email => "email",
            ContactKind::Sms => "sms",
            ContactKind::Voice => "voice",
            ContactKind::Webhook => "webhook",
        }
    }

    pub fn parse(name: &str) -> Option<ContactKind> {
        ContactKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

pub fn urgency_name(urgency: PageUrgency) -> &'static str {
    match urgency {
        PageUrgency::High => "high",
        PageUrgency::Low => "low",
    }
}

pub fn parse_urgency(name: &str) -> Option<PageUrgency> {
    match name {
        "high" => Some(PageUrgency::High),
        "low" => Some(PageUrgency::Low),
        _ => None,
    }
}

/// A value refused, with the field it came in and why, in words for a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid { field, reason: reason.into() }
}

/// `address` as a method of `kind` stores it (trimmed; a phone number without its spaces, dashes,
/// dots and brackets), or why it is not one.
pub fn check_address(kind: ContactKind, address: &str) -> Result<String, Invalid> {
    let address = address.trim();
    if address.is_empty() {
        return Err(invalid("address", "is empty"));
    }
    if address.chars().any(char::is_control) {
        return Err(invalid("address", "holds a control character"));
    }
    match kind {
        ContactKind::Email => check_email(address),
        ContactKind::Slack if is_slack_member_id(address) => Ok(address.to_owned()),
        ContactKind::Slack => check_email(address).map_err(|_| {
            invalid(
                "address",
                format!(
                    "of a slack method must be a Slack member id (U0123ABCD) or an e-mail address, not {:?}",
                    shortened(address)
                ),
            )
        }),
        ContactKind::Sms | ContactKind::Voice => check_phone(address),
        ContactKind::Webhook => check_webhook_url(address),
    }
}

fn check_email(address: &str) -> Result<String, Invalid> {
    if address.len() > MAX_EMAIL_BYTES {
        return Err(invalid(
            "address",
            format!("is {} bytes; an e-mail address has at most {MAX_EMAIL_BYTES}", address.len()),
        ));
    }
    let well_formed =
        address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }) && !address.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | ';' | '(' | ')'));
    if well_formed {
        Ok(address.to_owned())
    } else {
        Err(invalid("address", format!("is not an e-mail address: {:?}", shortened(address))))
    }
}

/// Slack's member ids: `U…`, or `W…` in Enterprise Grid, upper-case letters and digits.
fn is_slack_member_id(address: &str) -> bool {
    address.len() > 2
        && address.len() <= 32
        && address.starts_with(['U', 'W'])
        && address.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn check_phone(address: &str) -> Result<String, Invalid> {
    let compact: String = address.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+').unwrap_or_default();
    let is_e164 = !digits.is_empty()
        && digits.len() <= MAX_PHONE_DIGITS
        && digits.len() >= 2
        && !digits.starts_with('0')
        && digits.chars().all(|c| c.is_ascii_digit());
    if is_e164 {
        Ok(compact)
    } else {
        Err(invalid(
            "address",
            format!(
                "must be a phone number in E.164 form, a + and at most {MAX_PHONE_DIGITS} digits with the country code (+14155550123), not {:?}",
                shortened(address)
            ),
        ))
    }
}

fn check_webhook_url(address: &str) -> Result<String, Invalid> {
    if address.len() > MAX_URL_BYTES {
        return Err(invalid(
            "address",
            format!("is {} bytes; a webhook URL has at most {MAX_URL_BYTES}", address.len()),
        ));
    }
    let url = url::Url::parse(address).map_err(|error| invalid("address", format!("is not a URL: {error}")))?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "address",
            "of a webhook must be an https URL with a host: a page is not sent in clear text",
        ));
    }
    Ok(url.to_string())
}

/// At most the first 40 characters of `value`, for a message about it: a refusal does not echo
/// a megabyte back.
pub fn shortened(value: &str) -> String {
    const SHOWN: usize = 40;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// A label as stored: trimmed, within [`MAX_LABEL_BYTES`], without control characters.
pub fn check_label(label: &str) -> Result<String, Invalid> {
    let label = label.trim();
    if label.len() > MAX_LABEL_BYTES {
        return Err(invalid("label", format!("is {} bytes; the limit is {MAX_LABEL_BYTES}", label.len())));
    }
    if label.chars().any(char::is_control) {
        return Err(invalid("label", "holds a control character"));
    }
    Ok(label.to_owned())
}

/// A delay within 0 to [`MAX_DELAY_MINUTES`] minutes.
pub fn check_delay(delay_minutes: i64) -> Result<i32, Invalid> {
    match i32::try_from(delay_minutes) {
        Ok(delay) if (0..=MAX_DELAY_MINUTES).contains(&delay) => Ok(delay),
        _ => Err(invalid(
            "delay_minutes",
            format!("is {delay_minutes}; it must be between 0 and {MAX_DELAY_MINUTES} minutes"),
        )),
    }
}

/// One of a person's contact methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMethod {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: ContactKind,
    pub address: String,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub disabled: bool,
}

type MethodRow = (Uuid, Uuid, String, String, String, OffsetDateTime, bool);

const METHOD_COLUMNS: (
    user_contact_methods::id,
    user_contact_methods::user_id,
    user_contact_methods::kind,
    user_contact_methods::address,
    user_contact_methods::label,
    user_contact_methods::created_at,
    user_contact_methods::disabled,
) = (
    user_contact_methods::id,
    user_contact_methods::user_id,
    user_contact_methods::kind,
    user_contact_methods::address,
    user_contact_methods::label,
    user_contact_methods::created_at,
    user_contact_methods::disabled,
);

fn method_of(
    (id, user_id, kind, address, label, created_at, disabled): MethodRow,
) -> Result<ContactMethod, StorageError> {
    let kind = ContactKind::parse(&kind)
        .ok_or_else(|| StorageError::Corrupt(format!("user_contact_methods.kind {kind:?}")))?;
    Ok(ContactMethod { id, user_id, kind, address, label, created_at, disabled })
}

/// One of a person's notification rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: Uuid,
    pub contact_method_id: Uuid,
    pub urgency: PageUrgency,
    pub delay_minutes: i32,
    pub created_at: OffsetDateTime,
}

type RuleRow = (Uuid, Uuid, String, i32, OffsetDateTime);

fn rule_of((id, contact_method_id, urgency, delay_minutes, created_at): RuleRow) -> Result<Rule, StorageError> {
    let urgency = parse_urgency(&urgency)
        .ok_or_else(|| StorageError::Corrupt(format!("user_notification_rules.urgency {urgency:?}")))?;
    Ok(Rule { id, contact_method_id, urgency, delay_minutes, created_at })
}

/// A contact method to add, its address and label already checked ([`check_address`],
/// [`check_label`]).
#[derive(Debug, Clone)]
pub struct NewMethod<'a> {
    pub kind: ContactKind,
    pub address: &'a str,
    pub label: &'a str,
}

/// A rule to add, its delay already checked ([`check_delay`]).
#[derive(Debug, Clone, Copy)]
pub struct NewRule {
    pub contact_method_id: Uuid,
    pub urgency: PageUrgency,
    pub delay_minutes: i32,
}

/// Why a change to a person's methods or rules was not made.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("a person has at most {MAX_METHODS_PER_USER} contact methods")]
    TooManyMethods,
    #[error("a person has at most {MAX_RULES_PER_USER} notification rules")]
    TooManyRules,
    #[error("the person already has this contact method")]
    DuplicateMethod,
    #[error("the person already has a rule for this method, urgency and delay")]
    DuplicateRule,
    /// The rule names a method that is not one of the person's.
    #[error("no such contact method of this person")]
    NoSuchMethod,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for ContactError {
    fn from(error: diesel::result::Error) -> Self {
        ContactError::Storage(error.into())
    }
}

/// Locks the person's row until the caller's transaction ends: their changes are made one after
/// the other.
pub async fn lock_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<(), StorageError> {
    users::table.find(user_id).select(users::id).for_update().first::<Uuid>(conn).await.optional()?;
    Ok(())
}

/// The person's contact methods, oldest first.
pub async fn methods(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<ContactMethod>, StorageError> {
    let rows: Vec<MethodRow> = user_contact_methods::table
        .filter(user_contact_methods::user_id.eq(user_id))
        .select(METHOD_COLUMNS)
        .order((user_contact_methods::created_at, user_contact_methods::id))
        .load(conn)
        .await?;
    rows.into_iter().map(method_of).collect()
}

/// The contact method `id`, whoever's it is.
pub async fn method(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<ContactMethod>, StorageError> {
    let row: Option<MethodRow> =
        user_contact_methods::table.find(id).select(METHOD_COLUMNS).first(conn).await.optional()?;
    row.map(method_of).transpose()
}

/// Adds a contact method to `user`, with an audit entry. Lock the person first ([`lock_user`]).
pub async fn add_method(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    new: &NewMethod<'_>,
    actor: &str,
) -> Result<ContactMethod, ContactError> {
    let count: i64 =
        user_contact_methods::table.filter(user_contact_methods::user_id.eq(user.id)).count().get_result(conn).await?;
    if count >= MAX_METHODS_PER_USER {
        return Err(ContactError::TooManyMethods);
    }
    let row: Option<MethodRow> = diesel::insert_into(user_contact_methods::table)
        .values((
            user_contact_methods::id.eq(Uuid::now_v7()),
            user_contact_methods::user_id.eq(user.id),
            user_contact_methods::kind.eq(new.kind.as_str()),
            user_contact_methods::address.eq(new.address),
            user_contact_methods::label.eq(new.label),
        ))
        .on_conflict_do_nothing()
        .returning(METHOD_COLUMNS)
        .get_result(conn)
        .await
        .optional()?;
    let method = method_of(row.ok_or(ContactError::DuplicateMethod)?)?;
    let details = json!({ "user": user_details(user), "contact_method": method_details(&method) });
    record(conn, actor, "contact_method.add", &subject(user), details).await?;
    Ok(method)
}

/// Removes `user`'s contact method `id` and its rules, with an audit entry; `None` when the person
/// has no such method.
pub async fn remove_method(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    id: Uuid,
    actor: &str,
) -> Result<Option<ContactMethod>, StorageError> {
    let row: Option<MethodRow> =
        diesel::delete(user_contact_methods::table.find(id).filter(user_contact_methods::user_id.eq(user.id)))
            .returning(METHOD_COLUMNS)
            .get_result(conn)
            .await
            .optional()?;
    let Some(method) = row.map(method_of).transpose()? else {
        return Ok(None);
    };
    let details = json!({ "user": user_details(user), "contact_method": method_details(&method) });
    record(conn, actor, "contact_method.remove", &subject(user), details).await?;
    Ok(Some(method))
}

/// Turns the person's method `id` off or on again (`disabled`), and relabels it when `label` is
/// given, with an audit entry; `None` when they have no such method. A disabled method keeps its
/// rules, but no page goes through it (`page_rules` leaves it out, and a page already queued on it
/// is cancelled when it comes due): a phone left at home for a week, a Slack account on leave.
pub async fn update_method(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    id: Uuid,
    change: &MethodChange<'_>,
    actor: &str,
) -> Result<Option<ContactMethod>, StorageError> {
    let mine = user_contact_methods::table.find(id).filter(user_contact_methods::user_id.eq(user.id));
    let row: Option<MethodRow> = if change.disabled.is_none() && change.label.is_none() {
        // Diesel refuses an UPDATE that sets nothing: an empty change reads the method.
        mine.select(METHOD_COLUMNS).first(conn).await.optional()?
    } else {
        diesel::update(mine).set(change).returning(METHOD_COLUMNS).get_result(conn).await.optional()?
    };
    let Some(method) = row.map(method_of).transpose()? else {
        return Ok(None);
    };
    let details = json!({
        "user": user_details(user),
        "contact_method": method_details(&method),
        "disabled": change.disabled,
        "label": change.label,
    });
    record(conn, actor, "contact_method.update", &subject(user), details).await?;
    Ok(Some(method))
}

/// What [`update_method`] changes: each field left `None` stays as it is.
#[derive(Debug, Clone, Copy, Default, AsChangeset)]
#[diesel(table_name = user_contact_methods)]
pub struct MethodChange<'a> {
    pub disabled: Option<bool>,
    /// Checked by [`check_label`].
    pub label: Option<&'a str>,
}

/// The person's notification rules: high urgency first, then by delay.
pub async fn rules(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<Rule>, StorageError> {
    let rows: Vec<RuleRow> = user_notification_rules::table
        .filter(user_notification_rules::user_id.eq(user_id))
        .select((
            user_notification_rules::id,
            user_notification_rules::contact_method_id,
            user_notification_rules::urgency,
            user_notification_rules::delay_minutes,
            user_notification_rules::created_at,
        ))
        .order((user_notification_rules::urgency, user_notification_rules::delay_minutes, user_notification_rules::id))
        .load(conn)
        .await?;
    rows.into_iter().map(rule_of).collect()
}

/// Adds a notification rule to `user`, with an audit entry. Lock the person first ([`lock_user`]).
pub async fn add_rule(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    new: NewRule,
    actor: &str,
) -> Result<Rule, ContactError> {
    let method: Option<MethodRow> = user_contact_methods::table
        .find(new.contact_method_id)
        .filter(user_contact_methods::user_id.eq(user.id))
        .select(METHOD_COLUMNS)
        .first(conn)
        .await
        .optional()?;
    let method = method_of(method.ok_or(ContactError::NoSuchMethod)?)?;
    let count: i64 = user_notification_rules::table
        .filter(user_notification_rules::user_id.eq(user.id))
        .count()
        .get_result(conn)
        .await?;
    if count >= MAX_RULES_PER_USER {
        return Err(ContactError::TooManyRules);
    }
    let row: Option<RuleRow> = diesel::insert_into(user_notification_rules::table)
        .values((
            user_notification_rules::id.eq(Uuid::now_v7()),
            user_notification_rules::user_id.eq(user.id),
            user_notification_rules::contact_method_id.eq(new.contact_method_id),
            user_notification_rules::urgency.eq(urgency_name(new.urgency)),
            user_notification_rules::delay_minutes.eq(new.delay_minutes),
        ))
        .on_conflict_do_nothing()
        .returning((
            user_notification_rules::id,
            user_notification_rules::contact_method_id,
            user_notification_rules::urgency,
            user_notification_rules::delay_minutes,
            user_notification_rules::created_at,
        ))
        .get_result(conn)
        .await
        .optional()?;
    let rule = rule_of(row.ok_or(ContactError::DuplicateRule)?)?;
    let details = json!({
        "user": user_details(user),
        "rule": rule_details(&rule),
        "contact_method": method_details(&method),
    });
    record(conn, actor, "notification_rule.add", &subject(user), details).await?;
    Ok(rule)
}

/// Removes `user`'s rule `id`, with an audit entry; `None` when the person has no such rule.
pub async fn remove_rule(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    id: Uuid,
    actor: &str,
) -> Result<Option<Rule>, StorageError> {
    let row: Option<RuleRow> =
        diesel::delete(user_notification_rules::table.find(id).filter(user_notification_rules::user_id.eq(user.id)))
            .returning((
                user_notification_rules::id,
                user_notification_rules::contact_method_id,
                user_notification_rules::urgency,
                user_notification_rules::delay_minutes,
                user_notification_rules::created_at,
            ))
            .get_result(conn)
            .await
            .optional()?;
    let Some(rule) = row.map(rule_of).transpose()? else {
        return Ok(None);
    };
    record(
        conn,
        actor,
        "notification_rule.remove",
        &subject(user),
        json!({ "user": user_details(user), "rule": rule_details(&rule) }),
    )
    .await?;
    Ok(Some(rule))
}

/// A rule that applies to a page: whose, which method, how long after the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRule {
    pub user_id: Uuid,
    pub rule_id: Uuid,
    pub contact_method_id: Uuid,
    pub kind: ContactKind,
    pub delay_minutes: i32,
}

/// The rules of `urgency` of the people `user_ids`, on methods that are not disabled.
pub async fn page_rules(
    conn: &mut AsyncPgConnection,
    user_ids: &[Uuid],
    urgency: PageUrgency,
) -> Result<Vec<PageRule>, StorageError> {
    let rows: Vec<(Uuid, Uuid, Uuid, String, i32)> = user_notification_rules::table
        .inner_join(user_contact_methods::table)
        .filter(user_notification_rules::user_id.eq_any(user_ids))
        .filter(user_notification_rules::urgency.eq(urgency_name(urgency)))
        .filter(user_contact_methods::disabled.eq(false))
        .select((
            user_notification_rules::user_id,
            user_notification_rules::id,
            user_notification_rules::contact_method_id,
            user_contact_methods::kind,
            user_notification_rules::delay_minutes,
        ))
        .order((user_notification_rules::user_id, user_notification_rules::delay_minutes, user_notification_rules::id))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(user_id, rule_id, contact_method_id, kind, delay_minutes)| {
            let kind = ContactKind::parse(&kind)
                .ok_or_else(|| StorageError::Corrupt(format!("user_contact_methods.kind {kind:?}")))?;
            Ok(PageRule { user_id, rule_id, contact_method_id, kind, delay_minutes })
        })
        .collect()
}

fn subject(user: &UserRow) -> String {
    user.email.clone().unwrap_or_else(|| user.id.to_string())
}

fn user_details(user: &UserRow) -> serde_json::Value {
    json!({ "id": user.id, "name": user.name, "email": user.email })
}

fn method_details(method: &ContactMethod) -> serde_json::Value {
    json!({ "id": method.id, "kind": method.kind.as_str(), "address": method.address, "label": method.label })
}

fn rule_details(rule: &Rule) -> serde_json::Value {
    json!({
        "id": rule.id,
        "contact_method_id": rule.contact_method_id,
        "urgency": urgency_name(rule.urgency),
        "delay_minutes": rule.delay_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_for_their_kind() {
        assert_eq!(check_address(ContactKind::Sms, " +1 (415) 555-0123 "), Ok("+14155550123".to_owned()));
        assert_eq!(check_address(ContactKind::Voice, "+4930123456"), Ok("+4930123456".to_owned()));
        for phone in ["4155550123", "+0123", "+1234567890123456", "+1 415 CALL ME", "+"] {
            let refused = check_address(ContactKind::Sms, phone).expect_err(phone);
            assert_eq!(refused.field, "address");
        }
        assert_eq!(check_address(ContactKind::Slack, "U0123ABCD"), Ok("U0123ABCD".to_owned()));
        assert_eq!(check_address(ContactKind::Slack, "ana@example.com"), Ok("ana@example.com".to_owned()));
        assert!(check_address(ContactKind::Slack, "@ana").is_err());
        assert!(check_address(ContactKind::Email, "ana@localhost").is_err());
        assert!(check_address(ContactKind::Email, "Ana <ana@example.com>").is_err());
        assert!(check_address(ContactKind::Email, &format!("{}@example.com", "a".repeat(320))).is_err());
        assert_eq!(
            check_address(ContactKind::Webhook, "https://pager.example.com/hook?k=1"),
            Ok("https://pager.example.com/hook?k=1".to_owned())
        );
        for url in ["http://pager.example.com/hook", "ftp://x", "not a url", "https://"] {
            assert!(check_address(ContactKind::Webhook, url).is_err(), "{url}");
        }
        assert!(check_address(ContactKind::Email, "ana\u{0}@example.com").is_err());
    }

    #[test]
    fn labels_and_delays_have_limits() {
        assert_eq!(check_label(" work "), Ok("work".to_owned()));
        assert_eq!(check_label(&"x".repeat(101)).map_err(|e| e.field), Err("label"));
        assert_eq!(check_delay(0), Ok(0));
        assert_eq!(check_delay(120), Ok(120));
        for delay in [-1, 121, i64::MAX] {
            assert_eq!(check_delay(delay).map_err(|e| e.field), Err("delay_minutes"));
        }
    }
}
