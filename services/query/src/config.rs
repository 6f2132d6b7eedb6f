//! query's configuration, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8080` | the API, the live feed and the dashboard |
//! | `DATABASE_URL` | required | PostgreSQL, read only |
//! | `DATABASE_POOL_SIZE` | `16` | connections to PostgreSQL |
//! | `REDIS_URL` | required | the Redis holding the streams |
//! | `API_TOKEN` | required unless `TOKENS_FILE` has a `read` token | the bearer token people and the dashboard send; its name is `api`, its scopes `read` and `act` |
//! | `TOKENS_FILE` | unset | YAML file of named tokens with scopes, read by ingest and query alike (docs/security.md) |
//! | `STREAM_PREFIX` | `tocsin` | prefix of every stream key |
//! | `STREAM_MAX_AGE` | `7d` | commands older than this are trimmed from the commands stream, unless incident-core has not acknowledged them; at least `1m` |
//! | `ACTION_TIMEOUT` | `5s` | how long an action waits for incident-core before answering 504 |
//! | `HTTP_WORKERS` | number of CPUs | HTTP worker threads |
//! | `WEB_ROOT` | unset | folder of the built dashboard (`services/web/dist`), served at `/`; unset serves the API only |
//! | `LIVE_MAX_CONNECTIONS_PER_TOKEN` | `20` | live feed (`/events`) connections one token may hold open at once, per replica; the next one gets 429 until one closes |
//! | `LIVE_MAX_REPLAY` | `1000` | at most this many missed events are replayed to a page that reconnects with `Last-Event-ID` (0 to 10000); a page further behind is told `reset` at once and reloads from the API |
//! | `HSTS_MAX_AGE` | unset: no header | a duration (`365d`): answers carry `Strict-Transport-Security: max-age=<seconds>`. Set it only when the dashboard is reached over HTTPS alone |
//! | `OTEL_*` | unset: no traces | OpenTelemetry traces (`tocsin_runtime::traces`), off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set |
//! | `OIDC_ISSUER_URL` | unset: no sign-in | the OpenID Connect provider's issuer (`https://login.microsoftonline.com/<tenant>/v2.0`); set, people sign in at `/auth/login` (docs/sign-in.md) and `API_TOKEN` is optional |
//! | `OIDC_CLIENT_ID` | required with `OIDC_ISSUER_URL` | the client (application) id registered with the provider |
//! | `OIDC_CLIENT_SECRET` | required with `OIDC_ISSUER_URL` | its client secret |
//! | `PUBLIC_URL` | required with `OIDC_ISSUER_URL` | where people reach query (`https://tocsin.example.com`); the redirect URI is `<PUBLIC_URL>/auth/callback`, the provider's sign-out returns to `<PUBLIC_URL>/` |
//! | `SESSION_LIFETIME` | `12h` | how long a sign-in lasts, from 5m to 7d; then the person signs in again |
//! | `SIGN_IN_DEFAULT_ROLE` | `automatic` | the role a signed-in person holds in a team they are not a member of: `viewer`, `responder`, or `automatic` (responder while no team has members, viewer from the first membership on; docs/sign-in.md, "Teams and roles") |

use std::path::PathBuf;
use std::time::Duration;
use tocsin_domain::roles::DefaultRole;
use tocsin_runtime::auth::{Scope, Tokens};
use tocsin_runtime::traces::OtelSettings;
use tocsin_runtime::{ConfigError, Env, Secret};
use url::Url;

pub use tocsin_runtime::auth::API_TOKEN;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: String,
    /// Carries the database password: a [`Secret`], so `Debug` of the config never shows it.
    pub database_url: Secret,
    pub database_pool_size: usize,
    /// May carry Redis's password (`redis://:password@host`): a [`Secret`] like the database's.
    pub redis_url: Secret,
    /// Every token query knows: `read` ones may read, `act` ones may act.
    pub tokens: Tokens,
    pub stream_prefix: String,
    pub stream_max_age: Duration,
    pub action_timeout: Duration,
    pub http_workers: usize,
    pub web_root: Option<PathBuf>,
    /// The live feed's limits.
    pub live: LiveLimits,
    /// `None`: no `Strict-Transport-Security` header.
    pub hsts_max_age: Option<Duration>,
    /// `None`: traces are off.
    pub otel: Option<OtelSettings>,
    /// `None`: no sign-in with OpenID Connect, tokens only.
    pub sign_in: Option<SignInSettings>,
}

impl Config {
    /// The config a test starts query with: any free port, two connections, the given tokens,
    /// streams under the test's prefix, actions that give up after 200 ms (a test without
    /// incident-core gets its 504 at once), one HTTP worker, the API only (no dashboard files), the
    /// live feed's default limits, no HSTS, no traces, no sign-in. A test sets what it is about with
    /// struct update syntax.
    pub fn for_tests(database_url: &str, redis_url: &str, stream_prefix: &str, tokens: Tokens) -> Config {
        Config {
            listen_addr: "127.0.0.1:0".into(),
            database_url: database_url.into(),
            database_pool_size: 2,
            redis_url: redis_url.into(),
            tokens,
            stream_prefix: stream_prefix.into(),
            stream_max_age: Duration::from_secs(3600),
            action_timeout: Duration::from_millis(200),
            http_workers: 1,
            web_root: None,
            live: LiveLimits::default(),
            hsts_max_age: None,
            otel: None,
            sign_in: None,
        }
    }

    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let sign_in = SignInSettings::from_env(env)?;
        Ok(Config {
            listen_addr: env.string_or("LISTEN_ADDR", "127.0.0.1:8080"),
            database_url: env.secret("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?,
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 16)?,
            redis_url: env.secret("REDIS_URL", "the Redis URL, e.g. redis://127.0.0.1:6379/")?,
            // People sign in instead of sharing a token: a token is optional then.
            tokens: match sign_in {
                Some(_) => Tokens::optional_from_env(env, &API_TOKEN)?,
                None => Tokens::from_env(env, &API_TOKEN, Scope::Read)?,
            },
            stream_prefix: env.string_or("STREAM_PREFIX", "tocsin"),
            stream_max_age: tocsin_bus::max_age_from_env(env)?,
            action_timeout: env.duration_or("ACTION_TIMEOUT", Duration::from_secs(5))?,
            http_workers: env.parse_or("HTTP_WORKERS", std::thread::available_parallelism().map_or(2, usize::from))?,
            web_root: env.get("WEB_ROOT").map(PathBuf::from),
            live: LiveLimits::from_env(env)?,
            hsts_max_age: match env.get("HSTS_MAX_AGE") {
                None => None,
                Some(_) => Some(env.duration_or("HSTS_MAX_AGE", Duration::ZERO)?),
            },
            otel: OtelSettings::from_env(env, "query")?,
            sign_in,
        })
    }
}

/// Sign-in with OpenID Connect (docs/sign-in.md).
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// The provider's issuer, as its ID tokens' `iss` claim has it; discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Where people reach query, without a trailing slash.
    pub public_url: Url,
    pub session_lifetime: Duration,
    /// The role a signed-in person holds in a team they are not a member of.
    pub default_role: DefaultRole,
}

impl SignInSettings {
    pub const MIN_SESSION_LIFETIME: Duration = Duration::from_secs(5 * 60);
    pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

    fn from_env(env: &Env) -> Result<Option<SignInSettings>, ConfigError> {
        let Some(issuer_url) = env.get("OIDC_ISSUER_URL") else { return Ok(None) };
        let issuer_url = issuer_url.trim().to_owned();
        web_url("OIDC_ISSUER_URL", &issuer_url)?;
        let public_url = env.required("PUBLIC_URL", "where people reach query, for the sign-in's redirect URI")?;
        let public_url = web_url("PUBLIC_URL", public_url.trim().trim_end_matches('/'))?;
        let lifetime = env.duration_or("SESSION_LIFETIME", Duration::from_secs(12 * 3600))?;
        if !(SignInSettings::MIN_SESSION_LIFETIME..=SignInSettings::MAX_SESSION_LIFETIME).contains(&lifetime) {
            return Err(ConfigError::Invalid {
                name: "SESSION_LIFETIME".into(),
                value: env.get("SESSION_LIFETIME").unwrap_or_default(),
                reason: "a session lasts from 5m to 7d".into(),
            });
        }
        Ok(Some(SignInSettings {
            issuer_url,
            client_id: env.required("OIDC_CLIENT_ID", "the client id registered with the identity provider")?,
            client_secret: env
                .secret("OIDC_CLIENT_SECRET", "the client secret registered with the identity provider")?,
            public_url,
            session_lifetime: lifetime,
            default_role: env.with("SIGN_IN_DEFAULT_ROLE", DefaultRole::Automatic, DefaultRole::parse)?,
        }))
    }

    /// `<PUBLIC_URL>/auth/callback`, the redirect URI to register with the provider.
    pub fn callback_url(&self) -> Url {
        self.url_of("/auth/callback")
    }

    /// `<PUBLIC_URL>/`, where the provider's sign-out sends the browser back.
    pub fn post_logout_url(&self) -> Url {
        self.url_of("/")
    }

    fn url_of(&self, path: &str) -> Url {
        let mut url = self.public_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }
}

/// An `https` URL, or `http` on the loopback interface (a local provider, the tests): anything
/// else would carry codes, tokens and cookies in the clear.
fn web_url(name: &str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { name: name.into(), value: value.into(), reason: reason.into() };
    let url = Url::parse(value).map_err(|_| invalid("expected a URL such as https://tocsin.example.com"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(invalid("must be https (http only on 127.0.0.1 or localhost)")),
        _ => return Err(invalid("expected an https URL")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must have no query string and no fragment"));
    }
    Ok(url)
}

/// What one token may hold of the live feed (`GET /events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLimits {
    /// Connections one token may hold open at once on this replica.
    pub max_connections_per_token: usize,
    /// Missed events replayed after `Last-Event-ID`; a page further behind is told to reload.
    pub max_replay: usize,
}

impl LiveLimits {
    /// Past this, a replay costs more than the reload it saves; the setting may not go above it.
    pub const MAX_REPLAY_CEILING: usize = 10_000;

    fn from_env(env: &Env) -> Result<LiveLimits, ConfigError> {
        let defaults = LiveLimits::default();
        Ok(LiveLimits {
            max_connections_per_token: env.with(
                "LIVE_MAX_CONNECTIONS_PER_TOKEN",
                defaults.max_connections_per_token,
                |value| match value.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(n),
                    _ => Err("expected a whole number of connections, at least 1".into()),
                },
            )?,
            max_replay: env.with("LIVE_MAX_REPLAY", defaults.max_replay, |value| {
                match value.trim().parse::<usize>() {
                    Ok(n) if n <= LiveLimits::MAX_REPLAY_CEILING => Ok(n),
                    _ => Err(format!("expected a whole number of events from 0 to {}", LiveLimits::MAX_REPLAY_CEILING)),
                }
            })?,
        })
    }
}

impl Default for LiveLimits {
    fn default() -> LiveLimits {
        LiveLimits { max_connections_per_token: 20, max_replay: 1_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_domain::roles::Role;

    #[test]
    fn live_limits_default_and_refuse_what_would_lift_them() {
        assert_eq!(LiveLimits::from_env(&Env::from_pairs([])).ok(), Some(LiveLimits::default()));
        let set = Env::from_pairs([("LIVE_MAX_CONNECTIONS_PER_TOKEN", "3"), ("LIVE_MAX_REPLAY", "0")]);
        assert_eq!(LiveLimits::from_env(&set).ok(), Some(LiveLimits { max_connections_per_token: 3, max_replay: 0 }));
        for (name, value) in
            [("LIVE_MAX_CONNECTIONS_PER_TOKEN", "0"), ("LIVE_MAX_REPLAY", "10001"), ("LIVE_MAX_REPLAY", "all")]
        {
            let error = LiveLimits::from_env(&Env::from_pairs([(name, value)])).err().map(|e| e.to_string());
            assert!(error.as_deref().is_some_and(|e| e.starts_with(name)), "{name}={value}: {error:?}");
        }
    }

    #[test]
    fn sign_in_is_off_without_an_issuer_and_checked_with_one() {
        assert!(SignInSettings::from_env(&Env::from_pairs([])).ok().is_some_and(|settings| settings.is_none()));
        let base = [
            ("OIDC_ISSUER_URL", "https://login.microsoftonline.com/tenant/v2.0"),
            ("OIDC_CLIENT_ID", "client"),
            ("OIDC_CLIENT_SECRET", "secret"),
            ("PUBLIC_URL", "https://tocsin.example.com/"),
        ];
        let settings = SignInSettings::from_env(&Env::from_pairs(base)).ok().flatten();
        let settings = settings.unwrap_or_else(|| panic!("sign-in settings"));
        assert_eq!(settings.callback_url().as_str(), "https://tocsin.example.com/auth/callback");
        assert_eq!(settings.post_logout_url().as_str(), "https://tocsin.example.com/");
        assert_eq!(settings.session_lifetime, Duration::from_secs(12 * 3600));
        assert_eq!(settings.default_role, DefaultRole::Automatic);
        assert_eq!(format!("{:?}", settings.client_secret), "Secret(***)");
        let local = [("OIDC_ISSUER_URL", "http://127.0.0.1:9000"), ("PUBLIC_URL", "http://localhost:8080/tocsin")];
        let settings = SignInSettings::from_env(&Env::from_pairs(base.into_iter().chain(local))).ok().flatten();
        assert_eq!(
            settings.map(|s| s.callback_url().to_string()).as_deref(),
            Some("http://localhost:8080/tocsin/auth/callback"),
            "plain http on the loopback interface only"
        );
        for (name, value) in [
            ("OIDC_ISSUER_URL", "http://login.example.com"),
            ("PUBLIC_URL", "http://tocsin.example.com"),
            ("PUBLIC_URL", "https://tocsin.example.com/?next=x"),
            ("SESSION_LIFETIME", "1m"),
            ("SESSION_LIFETIME", "30d"),
            ("SIGN_IN_DEFAULT_ROLE", "manager"),
        ] {
            let env = Env::from_pairs(base.into_iter().filter(|(n, _)| *n != name).chain([(name, value)]));
            let error = SignInSettings::from_env(&env).err().map(|e| e.to_string());
            assert!(error.as_deref().is_some_and(|e| e.starts_with(name)), "{name}={value}: {error:?}");
        }
        let viewers = Env::from_pairs(base.into_iter().chain([("SIGN_IN_DEFAULT_ROLE", "viewer")]));
        assert_eq!(
            SignInSettings::from_env(&viewers).ok().flatten().map(|s| s.default_role),
            Some(DefaultRole::Fixed(Role::Viewer))
        );
        for missing in ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "PUBLIC_URL"] {
            let env = Env::from_pairs(base.into_iter().filter(|(n, _)| *n != missing));
            let error = SignInSettings::from_env(&env).err().map(|e| e.to_string());
            assert!(error.as_deref().is_some_and(|e| e.starts_with(&format!("{missing} is not set"))), "{error:?}");
        }
    }
}
