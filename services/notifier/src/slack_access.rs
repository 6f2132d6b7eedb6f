//! Who may act on an incident from Slack: the optional allowlists of Slack workspaces
//! (`SLACK_ALLOWED_TEAMS`) and of user groups (`SLACK_ALLOWED_USER_GROUPS`), checked for every
//! click before its command is queued.
//!
//! A valid signature says that Slack sent the click, not who may act: anyone who sees the message
//! can click, guests and people from the other organisation of a shared (Slack Connect) channel
//! included. With `SLACK_ALLOWED_TEAMS`, the clicking user's workspace must be listed. With
//! `SLACK_ALLOWED_USER_GROUPS`, the user must be a member of one of the groups, as Slack's
//! `usergroups.users.list` says when asked with a bot token of the routing's Slack targets.
//! Membership is kept for [`MEMBERSHIP_TTL`], so a burst of clicks asks Slack once per group and
//! someone removed from a group loses the buttons within a minute. When Slack cannot say (an
//! error, a missing `usergroups:read` scope), the click is refused: not knowing is not a yes.
//! Without either setting, every click is taken, as before these settings existed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_runtime::Secret;

/// How long a group's members, once read from Slack, are believed.
pub const MEMBERSHIP_TTL: Duration = Duration::from_secs(60);

/// Why a click is not acted on; each is a `reason` of
/// `tocsin_notifier_slack_clicks_refused_total`. The first three are this module's allowlists; the
/// others are who the clicker is in tocsin (`crate::slack_people`) and what their roles let them do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The user's workspace is not in `SLACK_ALLOWED_TEAMS`.
    TeamNotAllowed,
    /// The user is in none of `SLACK_ALLOWED_USER_GROUPS`.
    NotInUserGroup,
    /// Slack could not tell which groups the user is in.
    MembershipUnknown,
    /// The Slack user is no tocsin user (and `SLACK_UNMAPPED_CLICKS` is `refuse`).
    NotATocsinUser,
    /// Slack could not tell who the user is (`users.info` failed), or PostgreSQL could not.
    IdentityUnknown,
    /// The tocsin user's roles do not let them act on an incident of its team.
    NotPermitted(tocsin_domain::roles::Refusal),
    /// The click names an incident tocsin does not have (deleted by retention, or another
    /// installation's message).
    UnknownIncident,
}

impl Refusal {
    /// Every `reason`, for the metric's series to exist from the start.
    pub const REASONS: [&'static str; 7] = [
        "team_not_allowed",
        "not_in_user_group",
        "membership_unknown",
        "not_a_tocsin_user",
        "identity_unknown",
        "not_permitted",
        "unknown_incident",
    ];

    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::TeamNotAllowed => "team_not_allowed",
            Refusal::NotInUserGroup => "not_in_user_group",
            Refusal::MembershipUnknown => "membership_unknown",
            Refusal::NotATocsinUser => "not_a_tocsin_user",
            Refusal::IdentityUnknown => "identity_unknown",
            Refusal::NotPermitted(_) => "not_permitted",
            Refusal::UnknownIncident => "unknown_incident",
        }
    }

    /// What the person who clicked reads, only to them.
    pub fn message(&self) -> String {
        match self {
            Refusal::TeamNotAllowed => {
                "Nothing was changed: only people of the Slack workspaces allowed to act on incidents can use these buttons.".into()
            }
            Refusal::NotInUserGroup => {
                "Nothing was changed: only members of the Slack user groups allowed to act on incidents can use these buttons.".into()
            }
            Refusal::MembershipUnknown => {
                "Nothing was changed: Slack could not tell tocsin which user groups you are in. Try again in a minute.".into()
            }
            Refusal::NotATocsinUser => {
                "Nothing was changed: tocsin does not know who you are. Sign in to tocsin once with the e-mail address \
                 of your Slack account, or add your Slack member id to your tocsin profile as a Slack contact method."
                    .into()
            }
            Refusal::IdentityUnknown => {
                "Nothing was changed: tocsin could not tell who you are just now. Try again in a minute.".into()
            }
            Refusal::NotPermitted(refusal) => format!("Nothing was changed: {refusal}."),
            Refusal::UnknownIncident => "Nothing was changed: tocsin has no such incident.".into(),
        }
    }
}

pub struct SlackAccess {
    /// Empty: any workspace.
    allowed_teams: Vec<String>,
    /// Empty: anyone.
    allowed_user_groups: Vec<String>,
    members: UserGroupMembers,
}

impl SlackAccess {
    /// `tokens`: the bot tokens membership may be read with, in the routing's order; the first
    /// that knows a group answers for it.
    pub fn new(
        allowed_teams: Vec<String>,
        allowed_user_groups: Vec<String>,
        http: reqwest::Client,
        api_url: &str,
        tokens: Vec<Secret>,
    ) -> SlackAccess {
        SlackAccess {
            allowed_teams,
            allowed_user_groups,
            members: UserGroupMembers {
                http,
                api_url: api_url.trim_end_matches('/').to_owned(),
                tokens,
                cache: Mutex::default(),
            },
        }
    }

    /// Whether `user` of workspace `team` (Slack's `user.team_id`) may act. The workspace is
    /// checked first, so a stranger's click costs no call to Slack.
    pub async fn check(&self, user: &str, team: Option<&str>) -> Result<(), Refusal> {
        if !self.allowed_teams.is_empty() && !team.is_some_and(|team| self.allowed_teams.iter().any(|t| t == team)) {
            return Err(Refusal::TeamNotAllowed);
        }
        if self.allowed_user_groups.is_empty() {
            return Ok(());
        }
        let mut unknown = false;
        for group in &self.allowed_user_groups {
            match self.members.of(group).await {
                Ok(members) if members.contains(user) => return Ok(()),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(slack.user_group = %group, %error, "cannot read a slack user group's members");
                    unknown = true;
                }
            }
        }
        // A member of a group Slack would not list may still be allowed: say so rather than no.
        Err(if unknown { Refusal::MembershipUnknown } else { Refusal::NotInUserGroup })
    }
}

/// The members of user groups, read from Slack's Web API and kept for [`MEMBERSHIP_TTL`]. Only the
/// configured groups are ever asked for, so the cache holds at most that many sets.
struct UserGroupMembers {
    http: reqwest::Client,
    api_url: String,
    tokens: Vec<Secret>,
    cache: Mutex<HashMap<String, ReadMembers>>,
}

/// A group's members and when Slack listed them.
type ReadMembers = (Instant, Arc<HashSet<String>>);

impl UserGroupMembers {
    async fn of(&self, group: &str) -> Result<Arc<HashSet<String>>, String> {
        if let Some((read_at, members)) = self.lock().get(group)
            && read_at.elapsed() < MEMBERSHIP_TTL
        {
            return Ok(members.clone());
        }
        let members = Arc::new(self.read(group).await?);
        self.lock().insert(group.to_owned(), (Instant::now(), members.clone()));
        Ok(members)
    }

    /// `usergroups.users.list` with each token in turn, until one answers `ok`. A failure is not
    /// kept: the next click asks again.
    async fn read(&self, group: &str) -> Result<HashSet<String>, String> {
        let query = serde_urlencoded::to_string([("usergroup", group)]).map_err(|error| error.to_string())?;
        let mut errors = Vec::new();
        for token in &self.tokens {
            let request =
                self.http.get(format!("{}/usergroups.users.list?{query}", self.api_url)).bearer_auth(token.expose());
            let answer: serde_json::Value = match request.send().await {
                Ok(response) => response.json().await.unwrap_or_default(),
                Err(error) => {
                    errors.push(format!("slack usergroups.users.list: {}", error.without_url()));
                    continue;
                }
            };
            if answer["ok"].as_bool() == Some(true) {
                let users = answer["users"].as_array().into_iter().flatten();
                return Ok(users.filter_map(|user| user.as_str().map(str::to_owned)).collect());
            }
            let error = answer["error"].as_str().unwrap_or("an answer that is not Slack's");
            errors.push(format!("slack usergroups.users.list refused: {error}"));
        }
        if errors.is_empty() {
            errors.push("no Slack bot token to ask with".to_owned());
        }
        Err(errors.join("; "))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ReadMembers>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(teams: &[&str], groups: &[&str]) -> SlackAccess {
        SlackAccess::new(
            teams.iter().map(|t| t.to_string()).collect(),
            groups.iter().map(|g| g.to_string()).collect(),
            reqwest::Client::new(),
            "http://127.0.0.1:9/api",
            // No token: reading a group fails without a request, as when Slack cannot be asked.
            Vec::new(),
        )
    }

    #[tokio::test]
    async fn without_allowlists_every_click_is_taken() {
        assert_eq!(access(&[], &[]).check("U0ANY", None).await, Ok(()));
        assert_eq!(access(&[], &[]).check("U0ANY", Some("T0ANY")).await, Ok(()));
    }

    #[tokio::test]
    async fn workspaces_are_checked_before_slack_is_asked() {
        let access = access(&["T0ACME"], &["S0ONCALL"]);
        assert_eq!(access.check("U0ANA", Some("T0OTHER")).await, Err(Refusal::TeamNotAllowed));
        assert_eq!(
            access.check("U0ANA", None).await,
            Err(Refusal::TeamNotAllowed),
            "no workspace is not an allowed one"
        );
        // An allowed workspace goes on to the groups, which cannot be read here.
        assert_eq!(access.check("U0ANA", Some("T0ACME")).await, Err(Refusal::MembershipUnknown));
    }
}
