//! `POST /slack/commands`: the `/tocsin` slash command (docs/oncall.md, "The slash command").
//!
//! `/tocsin oncall [team]` answers, in a message only the asker sees, who is on call now in each
//! schedule of the team, or of every team when none is named: worked out as query's `GET /oncall`
//! works it out (`tocsin_storage::schedules::around_now`, then
//! `tocsin_domain::schedule::on_call_at`), so Slack, the API and the dashboard never disagree.
//! Slack signs the request as it signs a click (`crate::slack_actions::verify_signature`); an
//! unsigned or stale one is refused with 401. The answer is the HTTP response itself, from
//! PostgreSQL alone, well within the 3 seconds Slack waits. Names come from people and teams:
//! they are escaped for mrkdwn, so a name cannot mention `@channel` or link anywhere.

use crate::channels::inert::slack::mrkdwn;
use crate::channels::truncate_chars;
use crate::slack_actions::verify_signature;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::collections::HashMap;
use time::OffsetDateTime;
use tocsin_domain::schedule::on_call_at;
use tocsin_runtime::{ApiError, ErrorCode, Secret};
use tocsin_storage::schedules::{self, Member};
use tocsin_storage::{Pool, teams};
use uuid::Uuid;

/// Longest team slug worth looking up (the catalogue's limit); longer is no team.
const MAX_TEAM_CHARS: usize = 100;
/// Slack shows at most 40,000 characters of a message's text; an answer is cut well before.
const MAX_ANSWER_CHARS: usize = 3_000;

pub struct SlackCommands {
    pub signing_secret: Secret,
    pub pool: Pool,
}

/// The part of Slack's slash command form an answer needs.
#[derive(Debug, Deserialize)]
struct SlashCommand {
    #[serde(default)]
    command: String,
    #[serde(default)]
    text: String,
}

pub async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    slack: web::Data<SlackCommands>,
) -> Result<HttpResponse, ApiError> {
    if let Err(error) = verify_signature(&slack.signing_secret, request.headers(), &body, OffsetDateTime::now_utc()) {
        tracing::warn!(%error, "refusing a Slack slash command");
        return Err(ApiError::new(ErrorCode::Unauthorized, format!("slack signature: {error}")));
    }
    let command: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|error| ApiError::invalid_payload(format!("not Slack's slash command form: {error}")))?;
    let words: Vec<&str> = command.text.split_whitespace().collect();
    let text = match words.as_slice() {
        ["oncall"] => on_call(&slack.pool, None).await?,
        ["oncall", team] => on_call(&slack.pool, Some(team)).await?,
        _ => usage(&command.command),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "response_type": "ephemeral", "text": text })))
}

fn usage(command: &str) -> String {
    let command = if command.is_empty() { "/tocsin".to_owned() } else { mrkdwn(command) };
    format!(
        "Try `{command} oncall` for who is on call now in every team, or `{command} oncall &lt;team&gt;` for one team."
    )
}

/// Who is on call now, as mrkdwn: one line per schedule, by team.
async fn on_call(pool: &Pool, team: Option<&str>) -> Result<String, ApiError> {
    let now = OffsetDateTime::now_utc();
    let unavailable = |error: &dyn std::fmt::Display| ApiError::unavailable("postgres", error.to_string());
    let mut conn = pool.get().await.map_err(|error| unavailable(&error))?;
    let team_id = match team {
        None => None,
        Some(slug) => {
            let found = if slug.chars().count() > MAX_TEAM_CHARS {
                None
            } else {
                teams::team(&mut conn, slug).await.map_err(|error| unavailable(&error))?
            };
            match found {
                Some(team) => Some(team.id),
                None => {
                    return Ok(format!(
                        "tocsin has no team `{}`. `/tocsin oncall` lists every team's schedules.",
                        mrkdwn(&truncate_chars(slug, MAX_TEAM_CHARS))
                    ));
                }
            }
        }
    };
    let loaded = schedules::around_now(&mut conn, team_id, now).await.map_err(|error| unavailable(&error))?;
    if loaded.is_empty() {
        return Ok(match team {
            Some(slug) => format!("Team `{}` has no on-call schedule.", mrkdwn(slug)),
            None => "No team has an on-call schedule.".to_owned(),
        });
    }
    let at = jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos())
        .map_err(|error| ApiError::internal(format!("now as an instant: {error}")))?;
    let mut found = Vec::with_capacity(loaded.len());
    for (entry, schedule) in loaded {
        let shift = on_call_at(&schedule, at)
            .map_err(|error| ApiError::internal(format!("working out who is on call: {error}")))?;
        found.push((entry, shift.map(|shift| shift.member)));
    }
    let ids: Vec<Uuid> = found.iter().filter_map(|(_, member)| *member).collect();
    let users: HashMap<Uuid, Member> = schedules::users_by_id(&mut conn, &ids)
        .await
        .map_err(|error| unavailable(&error))?
        .into_iter()
        .map(|member| (member.id, member))
        .collect();
    let mut lines = vec!["*On call now*".to_owned()];
    for (entry, member) in found {
        let who = match member {
            None => "_nobody_".to_owned(),
            Some(id) => users.get(&id).map_or_else(|| id.to_string(), |user| mrkdwn(&user.name)),
        };
        lines.push(format!("• *{}* · {}: {who}", mrkdwn(&entry.team), mrkdwn(&entry.name)));
    }
    Ok(truncate_chars(&lines.join("\n"), MAX_ANSWER_CHARS))
}
