//! Who a Slack user is in tocsin, so that a click is done by a tocsin user and judged by their
//! roles as their API call would be (docs/oncall.md, "Who clicked in Slack").
//!
//! A person's Slack contact method naming their member id (`U0123ABCD`) names them at once, with
//! no call to Slack. Otherwise the bot token asks Slack's `users.info` (the `users:read.email`
//! scope) for the clicker's e-mail address, which is matched to a user's without regard to case.
//! Slack's answer is kept in PostgreSQL (`tocsin_storage::slack_users`) for `SLACK_USER_CACHE`, on
//! every replica alike, so a storm of clicks asks Slack once per person; the match to a user is
//! read afresh each time. Slack is given [`SLACK_TIMEOUT`] to answer: the click must be answered
//! within 3 seconds.

use std::time::Duration;
use tocsin_runtime::Secret;
use tocsin_storage::people::UserRow;
use tocsin_storage::teams::FoundUser;
use tocsin_storage::{Pool, slack_users};

/// How long `users.info` may take: Slack wants its answer to the click within 3 seconds.
pub const SLACK_TIMEOUT: Duration = Duration::from_millis(1_500);

/// Who a Slack user is in tocsin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    User(UserRow),
    /// No tocsin user has their member id or their e-mail address, or several do (neither is
    /// assumed).
    Unmapped,
}

pub struct SlackPeople {
    pub pool: Pool,
    pub http: reqwest::Client,
    /// Slack's Web API, no trailing slash.
    pub api_url: String,
    /// The bot token that asks `users.info`; without one only member ids on contact methods map.
    pub token: Option<Secret>,
    /// `SLACK_USER_CACHE`.
    pub cache_lifetime: Duration,
}

impl SlackPeople {
    /// The tocsin user of the Slack user `slack_user_id`, or why that cannot be told (Slack or
    /// PostgreSQL did not answer).
    pub async fn identify(&self, slack_user_id: &str) -> Result<Identity, String> {
        let mut conn = self.pool.get().await.map_err(|error| format!("postgres: {error}"))?;
        if let FoundUser::One(user) =
            slack_users::user_by_member_id(&mut conn, slack_user_id).await.map_err(|error| error.to_string())?
        {
            return Ok(Identity::User(user));
        }
        if self.token.is_none() {
            // Slack cannot be asked: only member ids on contact methods name anyone.
            return Ok(Identity::Unmapped);
        }
        let cached = slack_users::cached_email(&mut conn, slack_user_id, self.cache_lifetime)
            .await
            .map_err(|error| error.to_string())?;
        let email = match cached {
            Some(email) => email,
            None => {
                // Not holding a connection while Slack is asked.
                drop(conn);
                let email = self.ask_slack(slack_user_id).await?;
                conn = self.pool.get().await.map_err(|error| format!("postgres: {error}"))?;
                slack_users::remember_email(&mut conn, slack_user_id, email.as_deref(), self.cache_lifetime)
                    .await
                    .map_err(|error| error.to_string())?;
                email
            }
        };
        let Some(email) = email else { return Ok(Identity::Unmapped) };
        Ok(match slack_users::user_by_email(&mut conn, &email).await.map_err(|error| error.to_string())? {
            FoundUser::One(user) => Identity::User(user),
            FoundUser::None => Identity::Unmapped,
            FoundUser::Several => {
                tracing::warn!(
                    slack.user = slack_user_id,
                    "several tocsin users have a slack user's e-mail address; none is assumed"
                );
                Identity::Unmapped
            }
        })
    }

    /// `users.info`'s e-mail address of the user: `None` when Slack knows the user but gives no
    /// address (a bot, or an app without `users:read.email`), an error when it cannot be asked.
    async fn ask_slack(&self, slack_user_id: &str) -> Result<Option<String>, String> {
        let token = self.token.as_ref().ok_or("no Slack bot token to ask users.info with")?;
        let query = serde_urlencoded::to_string([("user", slack_user_id)]).map_err(|error| error.to_string())?;
        let answer: serde_json::Value = self
            .http
            .get(format!("{}/users.info?{query}", self.api_url))
            .bearer_auth(token.expose())
            .timeout(SLACK_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| format!("slack users.info: {}", error.without_url()))?
            .json()
            .await
            .map_err(|error| format!("slack users.info answered something other than JSON: {}", error.without_url()))?;
        if answer["ok"].as_bool() != Some(true) {
            let error = answer["error"].as_str().unwrap_or("an answer that is not Slack's");
            return Err(format!("slack users.info refused: {error}"));
        }
        let email = answer["user"]["profile"]["email"].as_str().map(str::trim).filter(|email| !email.is_empty());
        Ok(email.filter(|email| email.len() <= tocsin_storage::contacts::MAX_EMAIL_BYTES).map(str::to_owned))
    }
}
