//! Calls to the query API of one context, and its answers turned into errors that say what to do.

use crate::config::Context;
use anyhow::bail;
use serde_json::Value;
use std::time::Duration;

pub struct Client {
    name: String,
    context: Context,
    http: reqwest::Client,
}

impl Client {
    pub fn new(name: String, context: Context) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("tocsin-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client { name, context, http })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut url = self.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(name, value)| (*name, value.as_str())));
        }
        self.send(self.http.get(url)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self.http.post(self.url(path)?).json(body);
        self.send(request).await
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        // Joined to the context's URL as a relative path, so tocsin behind a path prefix works.
        let mut base = self.context.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(base.join(path.trim_start_matches('/'))?)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let url = &self.context.url;
        let name = &self.name;
        let response = match request.bearer_auth(&self.context.token).send().await {
            Ok(response) => response,
            Err(error) => bail!(
                "cannot reach {url} ({}); check the URL of context `{name}` (`tocsin context list`)",
                root_cause(&error)
            ),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or_else(|| status.canonical_reason().unwrap_or("error"));
        match status.as_u16() {
            401 => bail!(
                "{url} refused the token of context `{name}` ({message}); log in again: \
                 `tocsin login --name {name} --url {url}`"
            ),
            403 => bail!("{message}: the token of context `{name}` does not allow this"),
            404 => bail!("{message}"),
            409 => bail!("{message}"),
            503 => bail!("tocsin is unavailable for now ({message}); try again shortly"),
            code => bail!("{url} answered {code}: {message}"),
        }
    }
}

/// The innermost error, which says what went wrong ("Connection refused") rather than where.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
