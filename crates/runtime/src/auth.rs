//! Bearer tokens with scopes.
//!
//! A service accepts any number of named tokens, each granting some of four scopes: `ingest`
//! (`POST /alerts`), `read` (query's reads and its live feed), `act` (query's actions) and `admin`
//! (all of them). Several tokens may grant the same scopes at once, which is how a token is
//! rotated: add the new one, move the clients over, remove the old one.
//!
//! The tokens come from the service's own variable (`INGEST_TOKEN`, `API_TOKEN`: one token each,
//! as before scopes existed) and from the YAML file named by `TOKENS_FILE`, the same file for
//! every service. The file holds each token either as it is or only as its SHA-256; a file of
//! digests alone gives no token away. [`Tokens`] keeps only the digests.
//!
//! A presented token is hashed with SHA-256 and the digest is compared with every known digest in
//! constant time, without stopping at a match: neither the time taken nor the order of the tokens
//! tells a caller anything. What the rest of a service sees is the token's *name* (in the request's
//! extensions as [`Caller`], in its trace, as the actor of an action without one). The token itself
//! is never logged and never part of an error.

use crate::config::{ConfigError, Env, Secret};
use crate::error::{ApiError, ErrorCode};
use actix_web::HttpMessage;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk, Ready, ready};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `POST /alerts` on ingest.
    Ingest,
    /// query's `GET` routes: incidents and the live feed (`/events`).
    Read,
    /// query's actions: acknowledge, resolve, reopen, assign, `POST /resolve`.
    Act,
    /// Every scope, including those added later.
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Act => "act",
            Scope::Admin => "admin",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The scopes of one token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    /// `admin` grants every scope.
    pub fn grants(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [Scope::Ingest, Scope::Read, Scope::Act, Scope::Admin];
        f.debug_list().entries(all.into_iter().filter(|scope| self.0 & scope.bit() != 0).map(Scope::name)).finish()
    }
}

type Digest256 = [u8; 32];

struct KnownToken {
    name: Arc<str>,
    scopes: Scopes,
    digest: Digest256,
}

/// Every token a service accepts. Cheap to clone; its `Debug` shows names and scopes only.
#[derive(Clone)]
pub struct Tokens(Arc<[KnownToken]>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|token| (&*token.name, token.scopes))).finish()
    }
}

/// Who sent an authenticated request: the name of the token it carried. The auth middleware puts
/// it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_name: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
    #[error("the token `{token_name}` does not have the `{}` scope this route needs", scope.name())]
    MissingScope { token_name: Arc<str>, scope: Scope },
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        let code = match error {
            AuthError::Missing | AuthError::Invalid => ErrorCode::Unauthorized,
            AuthError::MissingScope { .. } => ErrorCode::Forbidden,
        };
        ApiError::new(code, error.to_string())
    }
}

/// A service's own variable for its one token, from before `TOKENS_FILE`. The token it holds is
/// named `name` and granted `scopes`.
pub struct LegacyToken {
    pub variable: &'static str,
    pub name: &'static str,
    pub scopes: &'static [Scope],
    /// What the token is for, in the start-up error when the service has no token at all.
    pub purpose: &'static str,
}

/// The variable naming the tokens file.
pub const TOKENS_FILE: &str = "TOKENS_FILE";

/// Tokens, from the file or a legacy variable, must be at least this long; `openssl rand -hex 32`
/// gives 64 characters.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    scopes: Vec<Scope>,
    token: Option<Secret>,
    sha256: Option<Secret>,
}

/// The one token of `API_TOKEN`, as before named tokens existed: it reads and acts, and actions
/// sent with it and no actor are recorded as `api`, as they always were. query's token, which
/// incident-core and the notifier also read, to show `/ready`'s detail to operators.
pub const API_TOKEN: LegacyToken = LegacyToken {
    variable: "API_TOKEN",
    name: "api",
    scopes: &[Scope::Read, Scope::Act],
    purpose: "the bearer token people and the dashboard send",
};

impl Tokens {
    /// The service's legacy variable plus `TOKENS_FILE`. Start-up stops unless some token grants
    /// `needed`, so a service never runs with a route nobody can call.
    pub fn from_env(env: &Env, legacy: &LegacyToken, needed: Scope) -> Result<Tokens, ConfigError> {
        let tokens = Tokens::optional_from_env(env, legacy)?;
        if !tokens.grant(needed) {
            return Err(ConfigError::Missing {
                name: legacy.variable.into(),
                purpose: format!("{} (or give a token the `{}` scope in {TOKENS_FILE})", legacy.purpose, needed.name()),
            });
        }
        Ok(tokens)
    }

    /// The same tokens, none of them required: for a service with no API of its own, which takes
    /// tokens only to show `/ready`'s detail.
    pub fn optional_from_env(env: &Env, legacy: &LegacyToken) -> Result<Tokens, ConfigError> {
        let mut tokens = Vec::new();
        if let Some(token) = env.get(legacy.variable) {
            if token.trim().chars().count() < MIN_TOKEN_CHARS {
                return Err(ConfigError::Invalid {
                    name: legacy.variable.into(),
                    // Never the token itself, not even a short one.
                    value: "***".into(),
                    reason: format!(
                        "a token must be at least {MIN_TOKEN_CHARS} characters; make one with `openssl rand -hex 32`"
                    ),
                });
            }
            tokens.push(KnownToken {
                name: legacy.name.into(),
                scopes: Scopes::of(legacy.scopes),
                digest: digest(token.trim().as_bytes()),
            });
        }
        if let Some(path) = env.get(TOKENS_FILE) {
            let invalid =
                |reason: String| ConfigError::Invalid { name: TOKENS_FILE.into(), value: path.clone(), reason };
            let text =
                std::fs::read_to_string(path.trim()).map_err(|error| invalid(format!("cannot read it: {error}")))?;
            tokens.extend(parse_file(&text).map_err(invalid)?);
        }
        Tokens::checked(tokens).map_err(|reason| ConfigError::Invalid {
            name: TOKENS_FILE.into(),
            value: env.get(TOKENS_FILE).unwrap_or_default(),
            reason,
        })
    }

    /// No token at all: nothing is authorized.
    pub fn none() -> Tokens {
        Tokens(Arc::new([]))
    }

    /// Whether `headers` carry one of these tokens, whatever its scopes.
    pub fn recognize(&self, headers: &HeaderMap) -> bool {
        matches!(self.authorize(headers, Scope::Admin), Ok(_) | Err(AuthError::MissingScope { .. }))
    }

    /// The tokens of a tokens file's text (YAML), for tests and tools.
    pub fn from_yaml(text: &str) -> Result<Tokens, String> {
        Tokens::checked(parse_file(text)?)
    }

    /// One token, as the legacy variables give.
    pub fn single(name: &str, scopes: &[Scope], token: &str) -> Tokens {
        Tokens(Arc::new([KnownToken {
            name: name.into(),
            scopes: Scopes::of(scopes),
            digest: digest(token.as_bytes()),
        }]))
    }

    /// Whether any token grants `scope`.
    pub fn grant(&self, scope: Scope) -> bool {
        self.0.iter().any(|token| token.scopes.grants(scope))
    }

    /// The caller, if `headers` carry a known token that grants `scope`.
    pub fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Caller, AuthError> {
        let presented = bearer_token(headers).ok_or(AuthError::Missing)?;
        let token = self.find(presented.as_bytes()).ok_or(AuthError::Invalid)?;
        if token.scopes.grants(scope) {
            Ok(Caller { token_name: token.name.clone() })
        } else {
            Err(AuthError::MissingScope { token_name: token.name.clone(), scope })
        }
    }

    /// Compares the presented token's digest with every known digest, all of them every time.
    fn find(&self, presented: &[u8]) -> Option<&KnownToken> {
        let presented = digest(presented);
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (position, token) in self.0.iter().enumerate() {
            let same = token.digest.ct_eq(&presented);
            index.conditional_assign(&(position as u32), same);
            found |= same;
        }
        if bool::from(found) { self.0.get(index as usize) } else { None }
    }

    /// Refuses two tokens with one name (which would the actor be?) or one token under two names.
    fn checked(tokens: Vec<KnownToken>) -> Result<Tokens, String> {
        for (position, token) in tokens.iter().enumerate() {
            for earlier in &tokens[..position] {
                if earlier.name == token.name {
                    return Err(format!("two tokens are named `{}`", token.name));
                }
                if earlier.digest == token.digest {
                    return Err(format!("`{}` and `{}` are the same token", earlier.name, token.name));
                }
            }
        }
        Ok(Tokens(tokens.into()))
    }
}

/// Parses a tokens file. Errors name the entry and never quote a token or a digest.
fn parse_file(text: &str) -> Result<Vec<KnownToken>, String> {
    let file: TokensFile = serde_yaml_ng::from_str(text).map_err(|error| format!("not a tokens file: {error}"))?;
    file.tokens
        .into_iter()
        .enumerate()
        .map(|(position, entry)| {
            let at = format!("tokens[{position}]");
            if !valid_name(&entry.name) {
                return Err(format!(
                    "{at}.name `{}` must be 1 to 64 letters, digits or `.`, `_`, `-`, `@`, `:`",
                    entry.name
                ));
            }
            let at = format!("{at} (`{}`)", entry.name);
            if entry.scopes.is_empty() {
                return Err(format!("{at} has no scopes: give it some of ingest, read, act, admin"));
            }
            let digest = match (entry.token, entry.sha256) {
                (Some(token), None) if token.expose().trim().chars().count() < MIN_TOKEN_CHARS => {
                    return Err(format!(
                        "{at}: a token must be at least {MIN_TOKEN_CHARS} characters; make one with `openssl rand -hex 32`"
                    ));
                }
                (Some(token), None) => digest(token.expose().trim().as_bytes()),
                (None, Some(hash)) => parse_digest(hash.expose())
                    .ok_or_else(|| format!("{at}: sha256 must be 64 hexadecimal digits (`sha256sum` prints them)"))?,
                _ => return Err(format!("{at} needs exactly one of `token` and `sha256`")),
            };
            Ok(KnownToken { name: entry.name.into(), scopes: Scopes::of(&entry.scopes), digest })
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':'))
}

fn digest(token: &[u8]) -> Digest256 {
    Sha256::digest(token).into()
}

fn parse_digest(hex_digits: &str) -> Option<Digest256> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digits.trim(), &mut digest).ok()?;
    Some(digest)
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware for the routes that need `scope`: 401 without a known token, 403 with a token that
/// lacks the scope, and the [`Caller`] in the request's extensions otherwise. A refusal is an
/// answer, not an error, so the middleware around it (security headers) still sees it.
pub fn require(tokens: &Tokens, scope: Scope) -> RequireScope {
    RequireScope { tokens: tokens.clone(), scope }
}

pub struct RequireScope {
    tokens: Tokens,
    scope: Scope,
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<S>;
    type InitError = ();
    type Future = Ready<Result<RequireScopeService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeService { service: Rc::new(service), tokens: self.tokens.clone(), scope: self.scope }))
    }
}

pub struct RequireScopeService<S> {
    service: Rc<S>,
    tokens: Tokens,
    scope: Scope,
}

type Passed<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

impl<S, B> Service<ServiceRequest> for RequireScopeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<MapOk<S::Future, Passed<B>>, Ready<Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        match self.tokens.authorize(request.headers(), self.scope) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                let passed: Passed<B> = ServiceResponse::map_into_left_body;
                Either::Left(self.service.call(request).map_ok(passed))
            }
            Err(error) => {
                let refused = request.error_response(ApiError::from(error)).map_into_right_body();
                Either::Right(ready(Ok(refused)))
            }
        }
    }
}

/// The caller of a request that went through [`require`], if it did.
pub fn caller(request: &impl HttpMessage) -> Option<Caller> {
    request.extensions().get::<Caller>().cloned()
}

/// The SHA-256 of a token as the `sha256` field of a tokens file takes it, for tools and tests.
pub fn sha256_hex(token: &Secret) -> String {
    hex::encode(digest(token.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).expect("a header value"));
        headers
    }

    const FILE: &str = "
tokens:
  - name: alertmanager
    scopes: [ingest]
    token: 0123456789abcdef-old
  - name: alertmanager-next
    scopes: [ingest]
    sha256: 5a79a4c4a6b5a80c3e6f1f3d4be8b7bd6cb29b3d5bd8a37fd38c7a3bca2b2ed4
  - name: dashboard
    scopes: [read, act]
    token: 0123456789abcdef-web
  - name: ops
    scopes: [admin]
    token: 0123456789abcdef-ops
";

    #[test]
    fn each_token_grants_its_scopes_and_admin_grants_all() {
        let tokens = Tokens::from_yaml(FILE).expect("Tokens::from_yaml");
        let name = |header: &str, scope| tokens.authorize(&bearer(header), scope).map(|caller| caller.token_name);
        assert_eq!(name("Bearer 0123456789abcdef-old", Scope::Ingest), Ok("alertmanager".into()));
        assert_eq!(name("bearer  0123456789abcdef-web ", Scope::Act), Ok("dashboard".into()));
        assert_eq!(name("BEARER 0123456789abcdef-ops", Scope::Ingest), Ok("ops".into()));
        assert_eq!(
            name("Bearer 0123456789abcdef-web", Scope::Ingest),
            Err(AuthError::MissingScope { token_name: "dashboard".into(), scope: Scope::Ingest })
        );
        assert_eq!(name("Bearer 0123456789abcdef-nope", Scope::Read), Err(AuthError::Invalid));
        assert_eq!(name("Basic 0123456789abcdef-web", Scope::Read), Err(AuthError::Missing));
        assert_eq!(name("Bearer ", Scope::Read), Err(AuthError::Missing));
        assert_eq!(tokens.authorize(&HeaderMap::new(), Scope::Read), Err(AuthError::Missing));
    }

    #[test]
    fn a_token_given_by_its_digest_is_accepted() {
        let secret = Secret::new("the-next-alertmanager-token");
        let text = format!("tokens:\n  - name: next\n    scopes: [ingest]\n    sha256: {}\n", sha256_hex(&secret));
        let tokens = Tokens::from_yaml(&text).expect("Tokens::from_yaml");
        let header = format!("Bearer {}", secret.expose());
        assert_eq!(tokens.authorize(&bearer(&header), Scope::Ingest).map(|c| c.token_name), Ok("next".into()));
    }

    #[test]
    fn mistakes_in_the_file_are_named_without_quoting_a_token() {
        let cases = [
            ("tokens: [{name: a, scopes: [read], token: short}]", "tokens[0] (`a`): a token must be at least 16"),
            ("tokens: [{name: a, scopes: [read]}]", "tokens[0] (`a`) needs exactly one of `token` and `sha256`"),
            ("tokens: [{name: a, scopes: [], token: 0123456789abcdef}]", "tokens[0] (`a`) has no scopes"),
            (
                "tokens: [{name: a, scopes: [root], token: 0123456789abcdef}]",
                "not a tokens file: tokens[0].scopes[0]: unknown variant `root`",
            ),
            (
                "tokens: [{name: a, scopes: [read], sha256: abc}]",
                "tokens[0] (`a`): sha256 must be 64 hexadecimal digits",
            ),
            ("tokens: [{name: 'a b', scopes: [read], token: 0123456789abcdef}]", "tokens[0].name `a b` must be"),
            (
                "tokens: [{name: a, scopes: [read], token: [0123456789abcdef]}]",
                "not a tokens file: tokens[0].token: invalid type: sequence, expected a string",
            ),
            (
                "tokens: [{name: a, scopes: [read], tokn: 0123456789abcdef}]",
                "not a tokens file: tokens[0]: unknown field `tokn`",
            ),
            (
                "tokens: [{name: a, scopes: [read], token: 0123456789abcdef}, {name: a, scopes: [act], token: 0123456789abcdeg}]",
                "two tokens are named `a`",
            ),
            (
                "tokens: [{name: a, scopes: [read], token: 0123456789abcdef}, {name: b, scopes: [act], token: 0123456789abcdef}]",
                "`a` and `b` are the same token",
            ),
        ];
        for (text, expected) in cases {
            let error = Tokens::from_yaml(text).err().unwrap_or_default();
            assert!(error.starts_with(expected), "`{text}` gave `{error}`, expected `{expected}…`");
            for secret in ["short", "0123456789abcdef", "abc"] {
                assert!(!error.contains(secret), "`{error}` quotes `{secret}`");
            }
        }
    }

    #[test]
    fn the_legacy_variable_and_the_file_add_up() {
        let dir = std::env::temp_dir().join(format!("tocsin-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create dir all");
        let file = dir.join("tokens.yaml");
        std::fs::write(&file, FILE).expect("writing a test file");
        let path = file.to_string_lossy().into_owned();
        let legacy = LegacyToken {
            variable: "API_TOKEN",
            name: "api",
            scopes: &[Scope::Read, Scope::Act],
            purpose: "the API token",
        };

        let env = Env::from_pairs([("API_TOKEN", "legacy-api-token"), ("TOKENS_FILE", path.as_str())]);
        let tokens = Tokens::from_env(&env, &legacy, Scope::Read).expect("Tokens::from_env");
        assert_eq!(
            format!("{tokens:?}"),
            r#"{"api": ["read", "act"], "alertmanager": ["ingest"], "alertmanager-next": ["ingest"], "dashboard": ["read", "act"], "ops": ["admin"]}"#
        );
        let caller = tokens.authorize(&bearer("Bearer legacy-api-token"), Scope::Act).map(|c| c.token_name);
        assert_eq!(caller, Ok("api".into()));

        // The legacy variable is held to the file's minimum, and the error never quotes it.
        let short = Tokens::from_env(&Env::from_pairs([("API_TOKEN", "hunter2")]), &legacy, Scope::Read)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            short,
            r#"API_TOKEN="***" is not valid: a token must be at least 16 characters; make one with `openssl rand -hex 32`"#
        );

        let only_ingest = "tokens: [{name: am, scopes: [ingest], token: 0123456789abcdef}]";
        std::fs::write(&file, only_ingest).expect("writing a test file");
        let error = Tokens::from_env(&Env::from_pairs([("TOKENS_FILE", path.as_str())]), &legacy, Scope::Read)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(error, "API_TOKEN is not set: the API token (or give a token the `read` scope in TOKENS_FILE)");

        let missing = Env::from_pairs([("TOKENS_FILE", "/nonexistent/tokens.yaml")]);
        let error = Tokens::from_env(&missing, &legacy, Scope::Read).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("TOKENS_FILE=\"/nonexistent/tokens.yaml\" is not valid: cannot read it"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
