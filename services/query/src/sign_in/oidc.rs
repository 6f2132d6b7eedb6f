//! The identity provider, as an OpenID Connect relying party sees it: its metadata from discovery
//! (fetched at the first sign-in, not at start-up, so query serves tokens while the provider is
//! away), the authorization request (code flow, PKCE S256, `state`, `nonce`), the code exchange as
//! a confidential client, and the ID token's verification: signature with the provider's keys,
//! issuer, audience, expiry and nonce.
//!
//! Key rotation: a token signed with a key whose `kid` is not in the keys query holds makes query
//! fetch the metadata and keys again, at most once per [`REFRESH_MIN_INTERVAL`], and verify once
//! more; a key still unknown after that is refused. So a provider's new key is taken within a
//! sign-in, and a flood of tokens with made-up key ids costs the provider one request a minute.
//!
//! HTTP goes through the workspace's reqwest, without redirects and with a timeout and a bound on
//! the answers' size: the provider's URLs come from configuration, its answers from the network.

use crate::config::SignInSettings;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use url::Url;

/// The shortest time between two fetches of the provider's metadata and keys caused by tokens
/// signed with an unknown key.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// How long one request to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most query reads of one answer from the provider (metadata, keys, tokens are a few KiB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be reached or answers nonsense: try again later.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused to exchange the code (used, expired, another client's, wrong PKCE verifier).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token does not prove who signed in.
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
}

/// Who signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// `name`, else `preferred_username`, else `email`, else the subject.
    pub name: String,
    pub email: Option<String>,
}

/// A sign-in to start: send the browser to `url`, keep the rest for the callback.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in: who, and the raw ID token (the provider's sign-out takes it as a hint).
#[derive(Debug)]
pub struct SignedIn {
    pub identity: Identity,
    pub id_token: String,
}

struct Discovered {
    client: Client,
    end_session_endpoint: Option<Url>,
}

/// The provider, discovered on first use. Shared by every worker.
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_url: RedirectUrl,
    post_logout_redirect_url: Url,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    /// When an unknown key last made query fetch the keys again.
    last_refresh: Mutex<Option<Instant>>,
}

impl Oidc {
    pub fn new(settings: &SignInSettings) -> Result<Oidc, OidcError> {
        let invalid = |what: &str, error: &dyn std::fmt::Display| OidcError::Unavailable(format!("{what}: {error}"));
        let issuer = IssuerUrl::new(settings.issuer_url.clone()).map_err(|e| invalid("OIDC_ISSUER_URL", &e))?;
        let redirect_url =
            RedirectUrl::new(settings.callback_url().to_string()).map_err(|e| invalid("the redirect URI", &e))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| invalid("the HTTP client", &e))?;
        Ok(Oidc {
            issuer,
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret: ClientSecret::new(settings.client_secret.expose().to_owned()),
            redirect_url,
            post_logout_redirect_url: settings.post_logout_url(),
            http,
            discovered: RwLock::new(None),
            last_refresh: Mutex::new(None),
        })
    }

    /// The provider's metadata and keys, fetched at the first call.
    async fn provider(&self) -> Result<Arc<Discovered>, OidcError> {
        if let Some(discovered) = self.discovered.read().await.as_ref() {
            return Ok(discovered.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(discovered) = slot.as_ref() {
            return Ok(discovered.clone());
        }
        let discovered = Arc::new(self.discover().await?);
        *slot = Some(discovered.clone());
        Ok(discovered)
    }

    async fn discover(&self) -> Result<Discovered, OidcError> {
        let http = self.http.clone();
        let send = move |request| send(http.clone(), request);
        let metadata =
            ProviderMetadataWithLogout::discover_async(self.issuer.clone(), &send).await.map_err(|error| {
                OidcError::Unavailable(format!("discovery at {}: {}", self.issuer.as_str(), chain(&error)))
            })?;
        let end_session_endpoint =
            metadata.additional_metadata().end_session_endpoint.as_ref().map(|e| e.url().clone());
        let client =
            CoreClient::from_provider_metadata(metadata, self.client_id.clone(), Some(self.client_secret.clone()))
                .set_redirect_uri(self.redirect_url.clone());
        tracing::info!(oidc.issuer = self.issuer.as_str(), "identity provider discovered");
        Ok(Discovered { client, end_session_endpoint })
    }

    /// Fetches the metadata and keys again, unless that was done less than
    /// [`REFRESH_MIN_INTERVAL`] ago. `None`: too soon, nothing fetched.
    async fn refresh(&self) -> Result<Option<Arc<Discovered>>, OidcError> {
        {
            let Ok(mut last) = self.last_refresh.lock() else { return Ok(None) };
            if last.is_some_and(|at| at.elapsed() < REFRESH_MIN_INTERVAL) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        let discovered = Arc::new(self.discover().await?);
        *self.discovered.write().await = Some(discovered.clone());
        tracing::info!(
            oidc.issuer = self.issuer.as_str(),
            "identity provider keys fetched again for an unknown key id"
        );
        Ok(Some(discovered))
    }

    /// The authorization request for a new sign-in: the code flow with PKCE (S256), a fresh
    /// `state` and `nonce`, and the scopes `openid email profile`.
    pub async fn authorization_request(&self) -> Result<AuthorizationRequest, OidcError> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = provider
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationRequest {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code (with the attempt's PKCE verifier) and verifies the ID token
    /// it brings against the attempt's nonce.
    pub async fn finish(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<SignedIn, OidcError> {
        let provider = self.provider().await?;
        let http = self.http.clone();
        let send = move |request| send(http.clone(), request);
        let tokens = provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Unavailable(format!("the provider has no token endpoint: {error}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&send)
            .await
            .map_err(|error| match error {
                openidconnect::RequestTokenError::ServerResponse(response) => OidcError::Refused(response.to_string()),
                other => OidcError::Unavailable(chain(&other)),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::InvalidIdToken("the token answer holds no ID token".into()))?
            .to_string();
        let identity = self.verify(&id_token, nonce).await?;
        Ok(SignedIn { identity, id_token })
    }

    /// Verifies an ID token: signature by one of the provider's keys (fetched again once if its
    /// key id is unknown), issuer, audience (this client), expiry, and `nonce`.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<Identity, OidcError> {
        let token = CoreIdToken::from_str(id_token)
            .map_err(|error| OidcError::InvalidIdToken(format!("not a signed JWT: {error}")))?;
        let nonce = Nonce::new(nonce.to_owned());
        let provider = self.provider().await?;
        match claims(&provider.client, &token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                match self.refresh().await? {
                    Some(provider) => identity(claims(&provider.client, &token, &nonce)?),
                    None => {
                        Err(OidcError::InvalidIdToken("it is signed with a key the provider does not publish".into()))
                    }
                }
            }
            verified => identity(verified?),
        }
    }

    /// Where to send the browser to end the provider's session too (RP-initiated logout), when the
    /// provider offers it: its `end_session_endpoint` with `id_token_hint`, `client_id` and
    /// `post_logout_redirect_uri` (the dashboard, which must be registered with the provider).
    pub async fn logout_url(&self, id_token: Option<&str>) -> Option<Url> {
        let provider = self.provider().await.ok()?;
        let mut url = provider.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(id_token) = id_token {
                query.append_pair("id_token_hint", id_token);
            }
            query.append_pair("client_id", self.client_id.as_str());
            query.append_pair("post_logout_redirect_uri", self.post_logout_redirect_url.as_str());
        }
        Some(url)
    }
}

impl From<ClaimsVerificationError> for OidcError {
    fn from(error: ClaimsVerificationError) -> OidcError {
        OidcError::InvalidIdToken(chain(&error))
    }
}

/// Only asymmetric signatures: an HMAC keyed with the client secret would let anyone holding the
/// secret (every replica's environment) forge an identity.
const SIGNING_ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

fn claims<'t>(
    client: &Client,
    token: &'t CoreIdToken,
    nonce: &Nonce,
) -> Result<&'t CoreIdTokenClaims, ClaimsVerificationError> {
    let verifier = client.id_token_verifier().set_allowed_algs(SIGNING_ALGORITHMS);
    token.claims(&verifier, nonce)
}

fn identity(claims: &CoreIdTokenClaims) -> Result<Identity, OidcError> {
    let email = claims.email().map(|email| email.as_str().to_owned());
    let name = claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|name| name.as_str().to_owned()))
        .or_else(|| email.clone())
        .unwrap_or_else(|| claims.subject().as_str().to_owned());
    Ok(Identity {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        name,
        email,
    })
}

/// An error and its sources, on one line, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("the answer is over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// openidconnect's requests, sent with reqwest.
async fn send(
    client: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let mut response =
        client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = http::Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
