//! Acting on incidents. query never writes incidents: it puts a command on the commands stream and
//! waits for incident-core to record the command's outcome, then answers with the incident's new
//! state (or 404, 409, or 504 if incident-core did not get to it in time).
//!
//! A signed-in person acts only on the incidents of a team they respond for (`authorization`); a
//! refusal is 403 naming the team and the role needed. A machine token acts as its `act` scope
//! lets it, as before teams had members.
//!
//! A traced request's command carries a "publish commands" span of the request's trace, so the
//! action, incident-core applying it and the notifications it causes are one trace.

use crate::State;
use crate::authorization::may_act_on_incident;
use crate::errors::storage_error;
use crate::incidents::parse_id;
use crate::sign_in::access::{principal, signed_in_user};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use tocsin_bus::{Envelope, Stream};
use tocsin_domain::facts::UNOWNED_TEAM;
use tocsin_domain::{
    Action, Command, CommandOutcome, Declaration, Incident, MAX_NAME_BYTES, MAX_NOTE_BYTES, MAX_TITLE_BYTES,
    RejectionCode, Severity,
};
use tocsin_runtime::auth;
use tocsin_runtime::openapi::ErrorBody;
use tocsin_runtime::traces;
use tocsin_runtime::{ApiError, ErrorCode};
use tocsin_storage::catalogue;
use tocsin_storage::reads;
use tocsin_storage::reads::command_outcome;
use uuid::Uuid;

/// Actor recorded when a request names none and carried no named token (which the routes'
/// auth never lets through; `api` is also the name of `API_TOKEN`'s token).
const DEFAULT_ACTOR: &str = "api";

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResolveAction {
    Acknowledge,
    Resolve,
}

/// DESIGN.md's `POST /resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    incident_id: Uuid,
    action: ResolveAction,
    /// Who acts, for the timeline (an e-mail address, a user name).
    actor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorRequest {
    actor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// null clears the assignment.
    assignee: Option<String>,
    actor: Option<String>,
}

#[utoipa::path(
    post,
    path = "/resolve",
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "The incident after the action", body = Incident),
        (status = 400, description = "The body is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the incident's team", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 409, description = "Impossible from the incident's status", body = ErrorBody),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
        (status = 504, description = "incident-core did not apply the action in time; it stays queued", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<ResolveRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let action = match body.action {
        ResolveAction::Acknowledge => Action::Acknowledge,
        ResolveAction::Resolve => Action::Resolve,
    };
    execute(&state, &request, body.incident_id, action, body.actor).await
}

macro_rules! lifecycle_endpoint {
    ($name:ident, $path:literal, $action:expr, $what:literal) => {
        #[utoipa::path(
                    post,
                    path = $path,
                    params(("id" = Uuid, Path, description = "Incident id")),
                    request_body(content = Option<ActorRequest>, description = "Optional: who acts"),
                    responses(
                        (status = 200, description = $what, body = Incident),
                        (status = 400, description = "The body is malformed", body = ErrorBody),
                        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
                        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the incident's team", body = ErrorBody),
                        (status = 404, description = "No such incident", body = ErrorBody),
                        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
                        (status = 415, description = "The body is not application/json", body = ErrorBody),
                        (status = 409, description = "Impossible from the incident's status", body = ErrorBody),
                        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
                        (status = 504, description = "incident-core did not apply the action in time; it stays queued", body = ErrorBody),
                    ),
                    security(("bearer" = []))
                )]
        pub async fn $name(
            state: web::Data<State>,
            id: web::Path<String>,
            request: HttpRequest,
            body: web::Bytes,
        ) -> Result<HttpResponse, ApiError> {
            let actor = optional_actor(&request, &body)?;
            execute(&state, &request, parse_id(&id)?, $action, actor).await
        }
    };
}

lifecycle_endpoint!(acknowledge, "/incidents/{id}/acknowledge", Action::Acknowledge, "The acknowledged incident");
lifecycle_endpoint!(resolve_one, "/incidents/{id}/resolve", Action::Resolve, "The resolved incident");
lifecycle_endpoint!(reopen, "/incidents/{id}/reopen", Action::Reopen, "The reopened incident");

#[utoipa::path(
    post,
    path = "/incidents/{id}/assign",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The incident with its new assignee", body = Incident),
        (status = 400, description = "The body is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the incident's team", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
        (status = 504, description = "incident-core did not apply the action in time; it stays queued", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn assign(
    state: web::Data<State>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Json<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let assignee = body.assignee.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    execute(&state, &request, parse_id(&id)?, Action::Assign { assignee }, body.actor).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Markdown, at most 8,192 bytes of UTF-8. The dashboard renders it without raw HTML; Slack
    /// shows it as text.
    text: String,
    actor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// One line, at most 500 bytes; absent or null leaves the title as it is.
    title: Option<String>,
    /// Absent or null leaves the severity as it is.
    severity: Option<Severity>,
    actor: Option<String>,
}

#[utoipa::path(
    post,
    path = "/incidents/{id}/notes",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = NoteRequest,
    responses(
        (status = 200, description = "The incident; the note is on its timeline", body = Incident),
        (status = 400, description = "The body is malformed, or the text is empty or over 8,192 bytes", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the incident's team", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
        (status = 504, description = "incident-core did not apply the action in time; it stays queued", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn note(
    state: web::Data<State>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Json<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let text = note_text(&body.text)?;
    execute(&state, &request, parse_id(&id)?, Action::Note { text }, body.actor).await
}

#[utoipa::path(
    post,
    path = "/incidents/{id}/edit",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = EditRequest,
    responses(
        (status = 200, description = "The incident as edited (unchanged, and nothing recorded, when it already had these values)", body = Incident),
        (status = 400, description = "The body is malformed, names neither title nor severity, or the title is blank, over 500 bytes or more than one line", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the incident's team", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
        (status = 504, description = "incident-core did not apply the action in time; it stays queued", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn edit(
    state: web::Data<State>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Json<EditRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.title.is_none() && body.severity.is_none() {
        return Err(ApiError::invalid_payload("name a title or a severity to change"));
    }
    let title = body.title.as_deref().map(edited_title).transpose()?;
    execute(&state, &request, parse_id(&id)?, Action::Edit { title, severity: body.severity }, body.actor).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    /// One line, at most 500 bytes.
    title: String,
    severity: Severity,
    /// The service affected; its owner in the catalogue is the incident's team (`unowned` when it
    /// has none). At most 1,000 bytes.
    service: String,
    /// Default `unknown`, as for an alert without one. At most 1,000 bytes.
    environment: Option<String>,
    /// What is known so far: Markdown, at most 8,192 bytes, on the `opened` timeline entry.
    summary: Option<String>,
    actor: Option<String>,
}

#[utoipa::path(
    post,
    path = "/incidents",
    request_body = DeclareRequest,
    responses(
        (status = 201, description = "The incident, opened, routed and escalated like one an alert opened", body = Incident),
        (status = 400, description = "The body is malformed, or a field is blank or over its limit (the message names it)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the `act` scope, or the signed-in person is not a responder of the service's team", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 503, description = "Redis or PostgreSQL is unavailable", body = ErrorBody),
        (status = 504, description = "incident-core did not open it in time; the command stays queued", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn declare(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Json<DeclareRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let title = edited_title(&body.title)?;
    let service = declared_name("service", Some(&body.service))?.unwrap_or_default();
    let environment =
        declared_name("environment", body.environment.as_deref())?.unwrap_or_else(|| "unknown".to_owned());
    let summary = body.summary.as_deref().filter(|summary| !summary.trim().is_empty()).map(note_text).transpose()?;
    for (field, text) in [("title", Some(&title)), ("service", Some(&service)), ("summary", summary.as_ref())] {
        refuse_nul(field, text.map(String::as_str))?;
    }
    refuse_nul("actor", body.actor.as_deref())?;
    let team = {
        let mut conn = state.connection().await?;
        let team = catalogue::owner_of(&mut conn, &service).await.map_err(storage_error)?;
        let team = team.unwrap_or_else(|| UNOWNED_TEAM.to_owned());
        let principal =
            principal(&request).ok_or_else(|| ApiError::internal("an action route without access checks"))?;
        may_act_on_incident(&mut conn, &principal, &team, state.default_role).await?;
        team
    };
    let declaration = Declaration { title, severity: body.severity, service, environment, team, summary };
    let command = Command {
        id: Uuid::now_v7(),
        incident_id: Uuid::now_v7(),
        action: Action::Declare(declaration),
        actor: verified_actor(&request, body.actor),
        requested_at: OffsetDateTime::now_utc(),
    };
    let incident = publish_and_wait(&state, &request, command).await?;
    Ok(HttpResponse::Created().json(incident))
}

/// A service or environment name as declared: trimmed, not blank, within [`MAX_NAME_BYTES`].
fn declared_name(field: &str, name: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(name) = name.map(str::trim) else { return Ok(None) };
    if name.is_empty() {
        return Err(ApiError::invalid_payload(format!("{field} is blank")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ApiError::invalid_payload(format!(
            "{field} is {} bytes, over the limit of {MAX_NAME_BYTES} bytes",
            name.len()
        )));
    }
    Ok(Some(name.to_owned()))
}

/// PostgreSQL stores no NUL character: incident-core could never apply a command holding one, and
/// the caller would wait for the timeout.
fn refuse_nul(field: &str, text: Option<&str>) -> Result<(), ApiError> {
    if text.is_some_and(|text| text.contains('\0')) {
        return Err(ApiError::invalid_payload(format!(
            "{field} contains a NUL character (\\u0000), which tocsin cannot store"
        )));
    }
    Ok(())
}

/// A note as stored: not blank, within [`MAX_NOTE_BYTES`]. Kept as written (Markdown cares about
/// leading spaces), but for the blank lines around it.
fn note_text(text: &str) -> Result<String, ApiError> {
    let text = text.trim_matches(|c: char| c == '\n' || c == '\r');
    if text.trim().is_empty() {
        return Err(ApiError::invalid_payload("text is empty: a note needs something to say"));
    }
    if text.len() > MAX_NOTE_BYTES {
        return Err(ApiError::invalid_payload(format!(
            "text is {} bytes, over the limit of {MAX_NOTE_BYTES} bytes for a note",
            text.len()
        )));
    }
    Ok(text.to_owned())
}

/// A title as stored: trimmed, not blank, one line, within [`MAX_TITLE_BYTES`].
fn edited_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::invalid_payload("title is blank: leave it out to keep the title"));
    }
    if title.contains(['\n', '\r']) {
        return Err(ApiError::invalid_payload("title is more than one line"));
    }
    if title.len() > MAX_TITLE_BYTES {
        return Err(ApiError::invalid_payload(format!(
            "title is {} bytes, over the limit of {MAX_TITLE_BYTES} bytes",
            title.len()
        )));
    }
    Ok(title.to_owned())
}

/// The body of the lifecycle actions is optional; when there is one it must be the JSON it
/// documents, so a typo in `actor` is refused rather than recorded as `api`.
fn optional_actor(request: &HttpRequest, body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"));
    }
    // `null` is the documented body's other form (`Option<ActorRequest>`): nobody named.
    let parsed: Option<ActorRequest> = serde_json::from_slice(body)
        .map_err(|error| ApiError::invalid_payload(format!("malformed request body: {error}")))?;
    Ok(parsed.and_then(|request| request.actor))
}

/// Publishes the command and waits for its outcome. The actor is the signed-in person, else the
/// one the body names, else the name of the request's token, so an action is never anonymous in
/// the timeline.
async fn execute(
    state: &State,
    request: &HttpRequest,
    incident_id: Uuid,
    action: Action,
    actor: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let (field, text) = match &action {
        Action::Assign { assignee } => ("assignee", assignee.as_deref()),
        Action::Note { text } => ("text", Some(text.as_str())),
        Action::Edit { title, .. } => ("title", title.as_deref()),
        _ => ("", None),
    };
    for (field, text) in [("actor", actor.as_deref()), (field, text)] {
        refuse_nul(field, text)?;
    }
    // Answer a wrong id, and an action the person may not take, at once rather than after the
    // timeout.
    {
        let mut conn = state.connection().await?;
        let Some(incident) = reads::incident(&mut conn, incident_id).await.map_err(storage_error)? else {
            return Err(ApiError::not_found(format!("no incident {incident_id}")));
        };
        // Every action route is behind the access middleware, which puts the principal there.
        let principal =
            principal(request).ok_or_else(|| ApiError::internal("an action route without access checks"))?;
        may_act_on_incident(&mut conn, &principal, &incident.team, state.default_role).await?;
    }
    let actor = verified_actor(request, actor);
    let command = Command { id: Uuid::now_v7(), incident_id, action, actor, requested_at: OffsetDateTime::now_utc() };
    publish_and_wait(state, request, command).await.map(|incident| HttpResponse::Ok().json(incident))
}

/// Publishes `command` and waits for its outcome: the incident after it, or the refusal as the
/// API's error.
async fn publish_and_wait(state: &State, request: &HttpRequest, command: Command) -> Result<Box<Incident>, ApiError> {
    let request_span = traces::request_context(request);
    let command_id = command.id;
    let mut envelope = Envelope::new(command).with_id(command_id);
    let mut span = state.bus.producer_span(&state.tracer, Stream::Commands, request_span.as_ref(), &mut envelope);
    let published = state.bus.publish(Stream::Commands, std::slice::from_ref(&envelope)).await;
    if let Err(error) = &published {
        span.set_error(&error.to_string());
    }
    span.end();
    published.map_err(|error| ApiError::unavailable("the command stream (Redis)", error))?;

    match wait_for_outcome(state, command_id).await? {
        Some(CommandOutcome::Applied { incident }) => Ok(incident),
        Some(CommandOutcome::Rejected { code: RejectionCode::NotFound, message }) => Err(ApiError::not_found(message)),
        Some(CommandOutcome::Rejected { code: RejectionCode::Conflict, message }) => Err(ApiError::conflict(message)),
        None => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "incident-core has not applied command {command_id} within {} s; it stays queued and \
                 will be applied when incident-core catches up",
                state.action_timeout.as_secs_f32()
            ),
        )),
    }
}

/// A signed-in person acts as themselves, whatever the body says; a machine token's `actor` is a
/// label it chooses, else the token's name.
fn verified_actor(request: &HttpRequest, actor: Option<String>) -> String {
    match signed_in_user(request) {
        Some(user) => user.actor(),
        None => actor.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).unwrap_or_else(|| {
            auth::caller(request).map_or_else(|| DEFAULT_ACTOR.to_owned(), |caller| caller.token_name.to_string())
        }),
    }
}

/// Polls for the outcome, quickly at first (incident-core usually answers within milliseconds).
async fn wait_for_outcome(state: &State, command_id: Uuid) -> Result<Option<CommandOutcome>, ApiError> {
    let deadline = tokio::time::Instant::now() + state.action_timeout;
    let mut interval = Duration::from_millis(5);
    loop {
        let outcome = {
            let mut conn = state.connection().await?;
            command_outcome(&mut conn, command_id).await.map_err(storage_error)?
        };
        if outcome.is_some() {
            return Ok(outcome);
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Ok(None);
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}
