//! notifier's configuration, from the environment. Where notifications go is the routing file's
//! business (`docs/routing.md`); this is everything around it.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8083` | `/slack/actions`, `/slack/commands`, `/health`, `/ready`, `/metrics` |
//! | `DATABASE_URL` | required | PostgreSQL: the deliveries owed and the threads started |
//! | `DATABASE_POOL_SIZE` | `4` | connections to PostgreSQL |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | commands from Slack's buttons older than this are trimmed, unless incident-core has not acknowledged them; at least `1m` |
//! | `CONSUMER_NAME` | host name and process id | this replica's name in the consumer group |
//! | `VISIBILITY_TIMEOUT` | `30s` | events pending this long with a silent replica are claimed |
//! | `MAX_DELIVERIES` | `5` | deliveries of a stream entry before it goes to the dead-letter stream |
//! | `HTTP_WORKERS` | `1` | HTTP worker threads |
//! | `ROUTING_FILE` | unset | the routing file (YAML); see docs/routing.md |
//! | `SLACK_BOT_TOKEN` | unset | without a routing file: the bot token of the one default route |
//! | `SLACK_CHANNEL` | unset | without a routing file: the Slack channel of the one default route |
//! | `SLACK_SIGNING_SECRET` | unset | verifies Slack's button clicks and slash commands; without it `/slack/actions` and `/slack/commands` answer 404 |
//! | `SLACK_API_URL` | `https://slack.com/api` | Slack's Web API (Enterprise Grid, proxies, tests) |
//! | `SLACK_ALLOWED_TEAMS` | empty: any | comma-separated Slack workspace ids (`T…`); a click from a user of another workspace is refused |
//! | `SLACK_ALLOWED_USER_GROUPS` | empty: anyone | comma-separated Slack user group ids (`S…`); a click from a user in none of them is refused (needs the `usergroups:read` scope) |
//! | `SLACK_UNMAPPED_CLICKS` | `refuse` | a click by a Slack user who is no tocsin user: `refuse` it (with a message only they see), or `allow` it as the Slack user, as before tocsin had users |
//! | `SLACK_USER_CACHE` | `1h` | how long what Slack's `users.info` said of a clicker's e-mail address is kept (in PostgreSQL); from `1m` to `1d` |
//! | `SIGN_IN_DEFAULT_ROLE` | `automatic` | the role a tocsin user holds in a team they are not a member of, for their Slack clicks: set it as query's |
//! | `GITHUB_API_URL` | `https://api.github.com` | GitHub's REST API (`https://ghe.example.com/api/v3` for Enterprise) |
//! | `SMTP_URL` | unset | `smtps://host:465`, `smtp://host:587?tls=required` (STARTTLS) or `smtp://localhost:25`; needed by e-mail targets |
//! | `SMTP_FROM` | `tocsin <tocsin@localhost>` | the sender of e-mail notifications |
//! | `SMTP_USERNAME`, `SMTP_PASSWORD` | unset | SMTP authentication |
//! | `SMTP_CA_FILE` | unset | a PEM CA to trust for the SMTP server, besides the system's |
//! | `SLACK_DM_TOKEN` | `SLACK_BOT_TOKEN`, else the first Slack target's | the bot token that sends pages as Slack direct messages (scopes `chat:write`, `im:write`, `users:read.email`) |
//! | `TWILIO_API_URL` | `https://api.twilio.com` | the Twilio-compatible API that sends SMS and voice pages |
//! | `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` | unset | its account and token (Basic auth); without them SMS and voice pages fail to the dead-letter stream |
//! | `TWILIO_FROM` | unset | the E.164 number pages come from |
//! | `TWILIO_WEBHOOK_BASE_URL` | unset | where Twilio reaches the notifier (`https://tocsin.example.com/notifier`): when set, SMS pages say how to answer and calls take a key, posted to `/twilio/sms` and `/twilio/voice/{delivery}` under it; Twilio's signatures are checked against URLs built from it |
//! | `PAGE_WEBHOOK_SECRET` | unset | signs webhook pages (`X-Tocsin-Signature`); without it webhook pages fail to the dead-letter stream |
//! | `PUBLIC_URL` | unset | the dashboard's address (`https://tocsin.example.com`), for links in messages |
//! | `DELIVERY_MAX_ATTEMPTS` | `8` | attempts before a notification goes to the dead-letter stream |
//! | `DELIVERY_BACKOFF` | `2s` | wait after the first failure; doubles each time (with jitter) |
//! | `DELIVERY_MAX_BACKOFF` | `5m` | the longest wait between attempts |
//! | `DELIVERY_TIMEOUT` | `10s` | an attempt without an answer by then is retried |
//! | `CHANNEL_INTERVAL` | `1s` | at most one message per Slack channel (or Slack webhook) per this interval; bursts queue |
//! | `API_TOKEN`, `TOKENS_FILE` | unset | tokens that see which check of `/ready` failed and why; without one, `/ready` says only ready or not (docs/security.md) |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |

use crate::channels::email::SmtpSettings;
use crate::pages::TwilioSettings;
use std::path::PathBuf;
use std::time::Duration;
use tocsin_bus::BusSettings;
use tocsin_domain::roles::DefaultRole;
use tocsin_runtime::auth::{API_TOKEN, Tokens};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret, ServiceSettings};
use tocsin_storage::PoolSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    /// Carries the database password: a [`Secret`], so `Debug` of the config never shows it.
    pub database_url: Secret,
    pub database_pool_size: usize,
    /// May carry Redis's password (`redis://:password@host`): a [`Secret`] like the database's.
    pub redis_url: Secret,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub consumer_name: String,
    pub visibility_timeout: Duration,
    pub max_deliveries: usize,
    pub http_workers: usize,
    pub routing: RoutingSource,
    pub slack_signing_secret: Option<Secret>,
    pub slack_api_url: String,
    /// Workspace ids whose users may click; empty: any (`crate::slack_access`).
    pub slack_allowed_teams: Vec<String>,
    /// User group ids whose members may click; empty: anyone.
    pub slack_allowed_user_groups: Vec<String>,
    /// What a click by a Slack user who is no tocsin user does (`SLACK_UNMAPPED_CLICKS`).
    pub slack_unmapped_clicks: UnmappedClicks,
    /// How long `users.info`'s answer about a clicker is kept (`SLACK_USER_CACHE`).
    pub slack_user_cache: Duration,
    /// The role of a tocsin user in a team they are not a member of (query's setting).
    pub default_role: DefaultRole,
    pub github_api_url: String,
    pub smtp: Option<SmtpSettings>,
    pub public_url: Option<String>,
    /// `SLACK_DM_TOKEN`, else `SLACK_BOT_TOKEN`: what sends Slack pages, before the routing's
    /// Slack targets are looked at.
    pub slack_dm_token: Option<Secret>,
    pub twilio: Option<TwilioSettings>,
    pub page_webhook_secret: Option<Secret>,
    pub delivery: DeliverySettings,
    /// Callers with one of these see `/ready`'s checks and details (the service has no API).
    pub operator_tokens: Tokens,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
}

/// What a click by a Slack user who is no tocsin user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmappedClicks {
    /// Refused, with a message only they see: every action is done by a tocsin user.
    Refuse,
    /// Acted on as the Slack user (`slack:<name>`), unchecked by roles: for a shop without tocsin
    /// users, as before tocsin had them.
    Allow,
}

/// Where the routing comes from.
#[derive(Debug, Clone)]
pub enum RoutingSource {
    File(PathBuf),
    /// The simple case: `SLACK_BOT_TOKEN` and `SLACK_CHANNEL`, one default route.
    SingleSlackChannel {
        slack_channel: String,
        token: Secret,
    },
    /// No notifications at all: events are counted and logged.
    Nowhere,
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub attempt_timeout: Duration,
    /// `CHANNEL_INTERVAL`: the least time between two messages to one Slack channel.
    pub slack_channel_interval: Duration,
}

impl Config {
    /// What the runtime's service builder takes from this config.
    pub fn service_settings(&self) -> ServiceSettings<'_> {
        ServiceSettings {
            name: "notifier",
            listen_addr: &self.listen_addr,
            http_workers: self.http_workers,
            otel: self.otel.as_ref(),
            operator_tokens: self.operator_tokens.clone(),
        }
    }

    pub fn bus_settings(&self) -> BusSettings {
        BusSettings { prefix: self.stream_prefix.clone(), max_age: self.stream_max_age, ..BusSettings::default() }
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings { max_connections: self.database_pool_size, ..PoolSettings::default() }
    }

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let routing = match (env.get("ROUTING_FILE"), env.get("SLACK_BOT_TOKEN"), env.get("SLACK_CHANNEL")) {
            (Some(path), _, _) => RoutingSource::File(PathBuf::from(path)),
            (None, Some(token), Some(slack_channel)) => {
                RoutingSource::SingleSlackChannel { slack_channel, token: Secret::new(token) }
            }
            (None, Some(_), None) => {
                return Err(ConfigError::Missing {
                    name: "SLACK_CHANNEL".into(),
                    purpose: "SLACK_BOT_TOKEN is set, so notifications need a Slack channel (or set ROUTING_FILE)"
                        .into(),
                });
            }
            (None, None, Some(_)) => {
                return Err(ConfigError::Missing {
                    name: "SLACK_BOT_TOKEN".into(),
                    purpose: "SLACK_CHANNEL is set, so notifications need a bot token (or set ROUTING_FILE)".into(),
                });
            }
            (None, None, None) => RoutingSource::Nowhere,
        };
        let smtp = match env.get("SMTP_URL") {
            None => None,
            Some(url) => Some(SmtpSettings {
                url,
                from: env.string_or("SMTP_FROM", "tocsin <tocsin@localhost>"),
                username: env.get("SMTP_USERNAME").map(Secret::new),
                password: env.get("SMTP_PASSWORD").map(Secret::new),
                ca_file: env.get("SMTP_CA_FILE").map(PathBuf::from),
                timeout: env.duration_or("DELIVERY_TIMEOUT", Duration::from_secs(10))?,
            }),
        };
        // Long enough that a storm of clicks asks Slack once; short enough that a changed
        // address in Slack is seen the same day.
        let slack_user_cache = env.duration_or("SLACK_USER_CACHE", Duration::from_secs(3600))?;
        if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&slack_user_cache) {
            return Err(ConfigError::Invalid {
                name: "SLACK_USER_CACHE".into(),
                value: env.get("SLACK_USER_CACHE").unwrap_or_default(),
                reason: "expected from 1m to 1d".into(),
            });
        }
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8083"),
            database_url: env.secret("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?,
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 4)?,
            redis_url: env.secret("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: tocsin_bus::max_age_from_env(env)?,
            consumer_name: env.get("CONSUMER_NAME").unwrap_or_else(|| {
                let host =
                    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "notifier".into());
                format!("{host}-{}", std::process::id())
            }),
            visibility_timeout: env.duration_or("VISIBILITY_TIMEOUT", Duration::from_secs(30))?,
            max_deliveries: env.parse_or("MAX_DELIVERIES", 5)?,
            http_workers: env.parse_or("HTTP_WORKERS", 1)?,
            routing,
            slack_signing_secret: env.get("SLACK_SIGNING_SECRET").map(Secret::new),
            slack_api_url: env.string_or("SLACK_API_URL", "https://slack.com/api"),
            slack_allowed_teams: env.with("SLACK_ALLOWED_TEAMS", Vec::new(), |value| {
                slack_ids(value, &['T', 'E'], "Slack workspace ids like T0123ABCD (Enterprise Grid: E…)")
            })?,
            slack_allowed_user_groups: env.with("SLACK_ALLOWED_USER_GROUPS", Vec::new(), |value| {
                slack_ids(value, &['S'], "Slack user group ids like S0123ABCD (the group's id, not its @handle)")
            })?,
            slack_unmapped_clicks: env.with("SLACK_UNMAPPED_CLICKS", UnmappedClicks::Refuse, |value| {
                match value.trim() {
                    "refuse" => Ok(UnmappedClicks::Refuse),
                    "allow" => Ok(UnmappedClicks::Allow),
                    _ => Err("expected refuse or allow".into()),
                }
            })?,
            slack_user_cache,
            default_role: env.with("SIGN_IN_DEFAULT_ROLE", DefaultRole::Automatic, DefaultRole::parse)?,
            github_api_url: env.string_or("GITHUB_API_URL", "https://api.github.com"),
            smtp,
            public_url: env.get("PUBLIC_URL"),
            slack_dm_token: env.get("SLACK_DM_TOKEN").or_else(|| env.get("SLACK_BOT_TOKEN")).map(Secret::new),
            twilio: twilio(env)?,
            page_webhook_secret: env.get("PAGE_WEBHOOK_SECRET").map(Secret::new),
            delivery: DeliverySettings {
                max_attempts: env.with("DELIVERY_MAX_ATTEMPTS", 8, |value| match value.trim().parse::<u32>() {
                    Ok(attempts) if attempts >= 1 => Ok(attempts),
                    _ => Err("expected a whole number of attempts, at least 1".into()),
                })?,
                base_backoff: env.duration_or("DELIVERY_BACKOFF", Duration::from_secs(2))?,
                max_backoff: env.duration_or("DELIVERY_MAX_BACKOFF", Duration::from_secs(300))?,
                attempt_timeout: env.duration_or("DELIVERY_TIMEOUT", Duration::from_secs(10))?,
                slack_channel_interval: env.duration_or("CHANNEL_INTERVAL", Duration::from_secs(1))?,
            },
            operator_tokens: Tokens::optional_from_env(env, &API_TOKEN)?,
            otel: OtelSettings::from_env(env, "notifier")?,
        })
    }
}

/// The Twilio account, when `TWILIO_ACCOUNT_SID` is set: then the token and the number are needed
/// too, and the number must be in E.164 form.
fn twilio(env: &Env) -> Result<Option<TwilioSettings>, ConfigError> {
    let Some(account_sid) = env.get("TWILIO_ACCOUNT_SID") else { return Ok(None) };
    let auth_token =
        env.secret("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID is set, so SMS and voice pages need its token")?;
    let from = env.with("TWILIO_FROM", String::new(), |value| {
        tocsin_storage::contacts::check_address(tocsin_storage::contacts::ContactKind::Sms, value)
            .map_err(|invalid| format!("the number {}", invalid.reason))
    })?;
    if from.is_empty() {
        return Err(ConfigError::Missing {
            name: "TWILIO_FROM".into(),
            purpose: "TWILIO_ACCOUNT_SID is set, so SMS and voice pages need the number they come from".into(),
        });
    }
    let webhook_base_url = env.with("TWILIO_WEBHOOK_BASE_URL", None, |value| {
        let value = value.trim().trim_end_matches('/');
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() && !value.contains(['?', '#']) => Ok(Some(value.to_owned())),
            _ => Err("expected the notifier's public base URL, like https://tocsin.example.com/notifier \
                      (no query or fragment)"
                .to_owned()),
        }
    })?;
    Ok(Some(TwilioSettings {
        api_url: env.string_or("TWILIO_API_URL", "https://api.twilio.com"),
        account_sid,
        auth_token,
        from,
        webhook_base_url,
    }))
}

/// A comma-separated list of Slack ids, each starting with one of `prefixes`: Slack's ids are
/// upper-case letters and digits, which is how a handle or a name put there by mistake is told.
fn slack_ids(value: &str, prefixes: &[char], expected: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> = value.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect();
    let is_id = |id: &String| {
        id.starts_with(prefixes) && id.len() > 1 && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    match ids.iter().find(|id| !is_id(id)) {
        Some(bad) => Err(format!("{bad:?} is not an id: expected {expected}, separated by commas")),
        None => Ok(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("DATABASE_URL", "postgres://localhost/tocsin"), ("REDIS_URL", "redis://localhost/")]
    }

    #[test]
    fn the_four_slack_variables_make_one_default_route() {
        let mut pairs = base();
        pairs.extend([
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_CHANNEL", "#oncall"),
            ("SLACK_SIGNING_SECRET", "s3cr3t"),
            ("SLACK_API_URL", "http://127.0.0.1:9/api"),
        ]);
        let config = Config::from_env(&Env::from_pairs(pairs)).expect("Config::from_env");
        assert!(
            matches!(&config.routing, RoutingSource::SingleSlackChannel { slack_channel, .. } if slack_channel == "#oncall")
        );
        assert_eq!(config.slack_api_url, "http://127.0.0.1:9/api");
        assert!(config.slack_signing_secret.is_some());
    }

    #[test]
    fn slack_allowlists_are_lists_of_ids() {
        let config = Config::from_env(&Env::from_pairs(base())).expect("Config::from_env");
        assert!(config.slack_allowed_teams.is_empty() && config.slack_allowed_user_groups.is_empty());
        let mut pairs = base();
        pairs.extend([("SLACK_ALLOWED_TEAMS", "T0ACME, E0GRID,"), ("SLACK_ALLOWED_USER_GROUPS", "S0ONCALL")]);
        let config = Config::from_env(&Env::from_pairs(pairs)).expect("Config::from_env");
        assert_eq!(config.slack_allowed_teams, ["T0ACME", "E0GRID"]);
        assert_eq!(config.slack_allowed_user_groups, ["S0ONCALL"]);
        let mut pairs = base();
        pairs.push(("SLACK_ALLOWED_USER_GROUPS", "S0ONCALL,@oncall"));
        let error = Config::from_env(&Env::from_pairs(pairs)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.starts_with("SLACK_ALLOWED_USER_GROUPS=\"S0ONCALL,@oncall\" is not valid: \"@oncall\""),
            "{error}"
        );
    }

    #[test]
    fn the_twilio_webhook_base_is_a_url_without_query() {
        let twilio = [("TWILIO_ACCOUNT_SID", "AC1"), ("TWILIO_AUTH_TOKEN", "t"), ("TWILIO_FROM", "+15005550006")];
        let mut pairs = base();
        pairs.extend(twilio);
        let config = Config::from_env(&Env::from_pairs(pairs.clone())).expect("Config::from_env");
        assert_eq!(config.twilio.and_then(|twilio| twilio.webhook_base_url), None);
        pairs.push(("TWILIO_WEBHOOK_BASE_URL", "https://tocsin.example.com/notifier/"));
        let config = Config::from_env(&Env::from_pairs(pairs)).expect("Config::from_env");
        assert_eq!(
            config.twilio.and_then(|twilio| twilio.webhook_base_url).as_deref(),
            Some("https://tocsin.example.com/notifier")
        );
        for bad in ["tocsin.example.com", "https://", "https://tocsin.example.com/?x=1"] {
            let mut pairs = base();
            pairs.extend(twilio);
            pairs.push(("TWILIO_WEBHOOK_BASE_URL", bad));
            let error = Config::from_env(&Env::from_pairs(pairs)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.starts_with("TWILIO_WEBHOOK_BASE_URL="), "{bad}: {error}");
        }
    }

    #[test]
    fn half_a_slack_setup_is_named() {
        let mut pairs = base();
        pairs.push(("SLACK_BOT_TOKEN", "xoxb-1"));
        let error = Config::from_env(&Env::from_pairs(pairs)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("SLACK_CHANNEL is not set"), "{error}");
        let mut pairs = base();
        pairs.push(("DELIVERY_MAX_ATTEMPTS", "0"));
        let error = Config::from_env(&Env::from_pairs(pairs)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("DELIVERY_MAX_ATTEMPTS=\"0\" is not valid"), "{error}");
    }
}
