//! A person's contact methods and notification rules (docs/api.md, "Contact methods and
//! notification rules"): `GET` and `POST /users/{user}/contact-methods`, `PATCH` (turn it off
//! or on, relabel) and `DELETE /users/{user}/contact-methods/{id}`, `POST /users/{user}/contact-methods/{id}/test`, `GET` and
//! `POST /users/{user}/notification-rules`, `DELETE /users/{user}/notification-rules/{id}`.
//!
//! They are the person's own: reading and changing them is for the person themself (signed in)
//! and for admins (a token with `admin`, or a signed-in admin); anyone else gets 403, whether or
//! not the person they name exists, so the routes tell nobody who is known to tocsin. `{user}` is
//! an id, an e-mail address, or `me` for the person signed in.
//!
//! A test page is queued in the notifier's delivery table (`notifications::queue_test_page`), not
//! sent over Redis: that table is where every page lives, with its claims, retries and dead
//! letters, and the notifier's worker picks it up within half a second as it does any due
//! delivery.

use crate::State;
use crate::authorization::principal_of;
use crate::errors::{parse_id, storage_error};
use crate::teams::{Failed, display_name, own_person};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tocsin_runtime::ApiError;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_storage::AsyncConnection;
use tocsin_storage::catalogue;
use tocsin_storage::contacts::{
    self, ContactError, ContactKind, ContactMethod, Invalid, MAX_METHODS_PER_USER, MAX_RULES_PER_USER, MethodChange,
    NewMethod, NewRule, Rule,
};
use tocsin_storage::notifications;
use tocsin_storage::people::UserRow;
use uuid::Uuid;

/// Longest `kind` and `urgency` looked at: every valid one is shorter.
const MAX_WORD_BYTES: usize = 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactMethodView {
    id: Uuid,
    /// `slack`, `email`, `sms`, `voice` or `webhook`.
    kind: String,
    /// As stored: a phone number in E.164 form, a URL as parsed.
    address: String,
    label: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    disabled: bool,
}

impl From<ContactMethod> for ContactMethodView {
    fn from(method: ContactMethod) -> Self {
        ContactMethodView {
            id: method.id,
            kind: method.kind.as_str().to_owned(),
            address: method.address,
            label: method.label,
            created_at: method.created_at,
            disabled: method.disabled,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactMethodList {
    /// Oldest first.
    items: Vec<ContactMethodView>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodRequest {
    /// `slack` (a direct message from the tocsin app), `email`, `sms`, `voice` or `webhook`.
    kind: String,
    /// For `slack`, a Slack member id (`U0123ABCD`) or the e-mail address of the Slack account;
    /// for `email`, an e-mail address (at most 320 bytes); for `sms` and `voice`, a phone number in
    /// E.164 form (`+14155550123`, spaces and dashes allowed); for `webhook`, an https URL (at most
    /// 2,048 bytes).
    address: String,
    /// At most 100 bytes ("work phone").
    #[serde(default)]
    label: String,
}

/// What to change of a contact method; a field left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodChange {
    /// `true` stops every page through the method (its rules stay, and apply again once it is
    /// `false`); pages already queued on it are cancelled when they come due.
    #[serde(default)]
    disabled: Option<bool>,
    /// At most 100 bytes.
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationRuleView {
    id: Uuid,
    contact_method_id: Uuid,
    /// `high` or `low`.
    urgency: String,
    /// Minutes after the page: 0 is at once.
    delay_minutes: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<Rule> for NotificationRuleView {
    fn from(rule: Rule) -> Self {
        NotificationRuleView {
            id: rule.id,
            contact_method_id: rule.contact_method_id,
            urgency: contacts::urgency_name(rule.urgency).to_owned(),
            delay_minutes: rule.delay_minutes,
            created_at: rule.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationRuleList {
    /// High urgency first, then by delay.
    items: Vec<NotificationRuleView>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRuleRequest {
    /// One of the person's contact methods.
    #[schema(value_type = Uuid)]
    contact_method_id: String,
    /// `high` or `low`: pages of this urgency use the rule.
    urgency: String,
    /// Minutes after the page, 0 to 120.
    delay_minutes: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestPageAnswer {
    /// The notifier's delivery of the test page: it goes out within a second or so.
    delivery_id: i64,
    contact_method: ContactMethodView,
}

#[utoipa::path(
    get,
    path = "/users/{user}/contact-methods",
    params(("user" = String, Path, description = "The user's id or e-mail address, or `me`")),
    responses(
        (status = 200, description = "The person's contact methods", body = ContactMethodList),
        (status = 400, description = "The user is not an id, an e-mail address or `me` (`me` needs a signed-in person)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin", body = ErrorBody),
        (status = 404, description = "No such user (for admins)", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_methods(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal_of(&request)?;
    let mut conn = state.connection().await?;
    let person = own_person(&mut conn, &principal, &user).await?;
    let items = contacts::methods(&mut conn, person.id).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(ContactMethodList { items: items.into_iter().map(ContactMethodView::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/users/{user}/contact-methods",
    params(("user" = String, Path, description = "The user's id or e-mail address, or `me`")),
    request_body = ContactMethodRequest,
    responses(
        (status = 201, description = "The contact method, as stored", body = ContactMethodView),
        (status = 400, description = "The kind, the address or the label is not valid for the kind, or over its limit; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user (for admins)", body = ErrorBody),
        (status = 409, description = "The person has this method already, or their maximum of 10", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_method(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
    body: web::Json<ContactMethodRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind = word("kind", &body.kind)?;
    let kind = ContactKind::parse(kind).ok_or_else(|| {
        ApiError::invalid_payload(format!("kind must be slack, email, sms, voice or webhook, not {kind:?}"))
    })?;
    let address = contacts::check_address(kind, &body.address).map_err(refused)?;
    let label = contacts::check_label(&body.label).map_err(refused)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let method = conn
        .transaction(async |conn| {
            let person = own_person(conn, &principal, &user).await?;
            contacts::lock_user(conn, person.id).await?;
            let new = NewMethod { kind, address: &address, label: &label };
            contacts::add_method(conn, &person, &new, &actor).await.map_err(|error| contact_error(error, &person))
        })
        .await?;
    Ok(HttpResponse::Created().json(ContactMethodView::from(method)))
}

#[utoipa::path(
    delete,
    path = "/users/{user}/contact-methods/{id}",
    params(
        ("user" = String, Path, description = "The user's id or e-mail address, or `me`"),
        ("id" = Uuid, Path, description = "The contact method's id"),
    ),
    responses(
        (status = 204, description = "The method and its notification rules are gone"),
        (status = 400, description = "The user or the id is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user, or no such method of theirs", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_method(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let id = parse_id("contact method", &id)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let person = own_person(conn, &principal, &user).await?;
        contacts::lock_user(conn, person.id).await?;
        match contacts::remove_method(conn, &person, id, &actor).await? {
            Some(_) => Ok(()),
            None => Err(Failed::Api(no_method(&person, id))),
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    patch,
    path = "/users/{user}/contact-methods/{id}",
    params(
        ("user" = String, Path, description = "The user's id or e-mail address, or `me`"),
        ("id" = Uuid, Path, description = "The contact method's id"),
    ),
    request_body = ContactMethodChange,
    responses(
        (status = 200, description = "The contact method, as changed", body = ContactMethodView),
        (status = 400, description = "The user or the id is malformed, or the label is over its limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user, or no such method of theirs", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_method(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<ContactMethodChange>,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let id = parse_id("contact method", &id)?;
    let body = body.into_inner();
    let label = body.label.as_deref().map(contacts::check_label).transpose().map_err(refused)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let method = conn
        .transaction(async |conn| {
            let person = own_person(conn, &principal, &user).await?;
            let change = MethodChange { disabled: body.disabled, label: label.as_deref() };
            contacts::update_method(conn, &person, id, &change, &actor)
                .await?
                .ok_or_else(|| Failed::Api(no_method(&person, id)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ContactMethodView::from(method)))
}

#[utoipa::path(
    post,
    path = "/users/{user}/contact-methods/{id}/test",
    params(
        ("user" = String, Path, description = "The user's id or e-mail address, or `me`"),
        ("id" = Uuid, Path, description = "The contact method's id"),
    ),
    responses(
        (status = 202, description = "The test page is queued in the notifier, which sends it at once", body = TestPageAnswer),
        (status = 400, description = "The user or the id is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user, or no such method of theirs", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn test_method(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let id = parse_id("contact method", &id)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let answer = conn
        .transaction(async |conn| {
            let person = own_person(conn, &principal, &user).await?;
            let method = contacts::method(conn, id).await?.filter(|method| method.user_id == person.id);
            let method = method.ok_or_else(|| Failed::Api(no_method(&person, id)))?;
            let delivery_id = notifications::queue_test_page(conn, method.id, &actor).await?;
            let details = json!({ "contact_method": { "id": method.id, "kind": method.kind.as_str() }, "delivery_id": delivery_id });
            catalogue::record(conn, &actor, "contact_method.test", &subject(&person), details).await?;
            Ok::<_, Failed>(TestPageAnswer { delivery_id, contact_method: ContactMethodView::from(method) })
        })
        .await?;
    Ok(HttpResponse::Accepted().json(answer))
}

#[utoipa::path(
    get,
    path = "/users/{user}/notification-rules",
    params(("user" = String, Path, description = "The user's id or e-mail address, or `me`")),
    responses(
        (status = 200, description = "The person's notification rules", body = NotificationRuleList),
        (status = 400, description = "The user is not an id, an e-mail address or `me` (`me` needs a signed-in person)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin", body = ErrorBody),
        (status = 404, description = "No such user (for admins)", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_rules(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal_of(&request)?;
    let mut conn = state.connection().await?;
    let person = own_person(&mut conn, &principal, &user).await?;
    let items = contacts::rules(&mut conn, person.id).await.map_err(storage_error)?;
    Ok(HttpResponse::Ok()
        .json(NotificationRuleList { items: items.into_iter().map(NotificationRuleView::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/users/{user}/notification-rules",
    params(("user" = String, Path, description = "The user's id or e-mail address, or `me`")),
    request_body = NotificationRuleRequest,
    responses(
        (status = 201, description = "The rule, as stored", body = NotificationRuleView),
        (status = 400, description = "The urgency or the delay is not valid, or the contact method is not one of the person's; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user (for admins)", body = ErrorBody),
        (status = 409, description = "The person has this rule already, or their maximum of 20", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_rule(
    state: web::Data<State>,
    request: HttpRequest,
    user: web::Path<String>,
    body: web::Json<NotificationRuleRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let urgency = word("urgency", &body.urgency)?;
    let urgency = contacts::parse_urgency(urgency)
        .ok_or_else(|| ApiError::invalid_payload(format!("urgency must be high or low, not {urgency:?}")))?;
    let delay_minutes = contacts::check_delay(body.delay_minutes).map_err(refused)?;
    let contact_method_id = body.contact_method_id.trim().parse::<Uuid>().map_err(|_| {
        ApiError::invalid_payload(format!(
            "contact_method_id must be a contact method's id (a UUID), not {:?}",
            tocsin_storage::contacts::shortened(&body.contact_method_id)
        ))
    })?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    let rule = conn
        .transaction(async |conn| {
            let person = own_person(conn, &principal, &user).await?;
            contacts::lock_user(conn, person.id).await?;
            let new = NewRule { contact_method_id, urgency, delay_minutes };
            contacts::add_rule(conn, &person, new, &actor).await.map_err(|error| contact_error(error, &person))
        })
        .await?;
    Ok(HttpResponse::Created().json(NotificationRuleView::from(rule)))
}

#[utoipa::path(
    delete,
    path = "/users/{user}/notification-rules/{id}",
    params(
        ("user" = String, Path, description = "The user's id or e-mail address, or `me`"),
        ("id" = Uuid, Path, description = "The rule's id"),
    ),
    responses(
        (status = 204, description = "The rule is gone"),
        (status = 400, description = "The user or the id is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, or no live session", body = ErrorBody),
        (status = 403, description = "Neither the person themself nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such user, or no such rule of theirs", body = ErrorBody),
        (status = 503, description = "PostgreSQL is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_rule(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let id = parse_id("notification rule", &id)?;
    let principal = principal_of(&request)?;
    let actor = principal.actor();
    let mut conn = state.connection().await?;
    conn.transaction(async |conn| {
        let person = own_person(conn, &principal, &user).await?;
        contacts::lock_user(conn, person.id).await?;
        match contacts::remove_rule(conn, &person, id, &actor).await? {
            Some(_) => Ok(()),
            None => Err(Failed::Api(ApiError::not_found(format!(
                "{} has no notification rule {id}",
                display_name(&person)
            )))),
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn contact_error(error: ContactError, person: &UserRow) -> Failed {
    let name = display_name(person);
    Failed::Api(match error {
        ContactError::TooManyMethods => {
            ApiError::conflict(format!("{name} has their maximum of {MAX_METHODS_PER_USER} contact methods"))
        }
        ContactError::TooManyRules => {
            ApiError::conflict(format!("{name} has their maximum of {MAX_RULES_PER_USER} notification rules"))
        }
        ContactError::DuplicateMethod => ApiError::conflict(format!("{name} has this contact method already")),
        ContactError::DuplicateRule => {
            ApiError::conflict(format!("{name} has a rule for this contact method, urgency and delay already"))
        }
        ContactError::NoSuchMethod => {
            ApiError::invalid_payload(format!("contact_method_id names no contact method of {name}"))
        }
        ContactError::Storage(error) => return Failed::Storage(error),
    })
}

fn refused(invalid: Invalid) -> ApiError {
    ApiError::invalid_payload(invalid.to_string())
}

/// A short word of the body (`kind`, `urgency`), within [`MAX_WORD_BYTES`].
fn word<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.len() > MAX_WORD_BYTES {
        return Err(ApiError::invalid_payload(format!(
            "{field} is {} bytes; the limit is {MAX_WORD_BYTES}",
            value.len()
        )));
    }
    Ok(value.trim())
}

fn no_method(person: &UserRow, id: Uuid) -> ApiError {
    ApiError::not_found(format!("{} has no contact method {id}", display_name(person)))
}

fn subject(person: &UserRow) -> String {
    person.email.clone().unwrap_or_else(|| person.id.to_string())
}
