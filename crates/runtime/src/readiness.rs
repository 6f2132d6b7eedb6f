//! `/ready`: whether the service's dependencies answer. Kubernetes stops routing to a replica that
//! is not ready; the replica itself keeps running and recovers when they come back.

use crate::auth::Tokens;
use actix_web::http::header::HeaderMap;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;
type Detail = Arc<dyn Fn() -> String + Send + Sync>;

/// Anyone may ask whether the service is ready: Kubernetes' probes carry no token. Which check
/// failed and why (an address, a server's error) and the details are for operators: only a caller
/// with one of the service's tokens ([`Readiness::detail_for`]) sees them.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
    details: Vec<(String, Detail)>,
    detail_for: Tokens,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness { checks: Vec::new(), details: Vec::new(), detail_for: Tokens::none() }
    }
}

/// A check that takes longer than this counts as failed: a probe must answer quickly.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    pub fn with<F>(mut self, name: &str, check: F) -> Readiness
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.checks.push((name.to_owned(), Arc::new(check)));
        self
    }

    /// Adds a fact to the `detail` of `/ready` (which retention path runs, say): what operators
    /// want to see next to the checks, without deciding readiness.
    pub fn with_detail<F>(mut self, name: &str, detail: F) -> Readiness
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.details.push((name.to_owned(), Arc::new(detail)));
        self
    }

    /// Callers presenting one of `tokens` see each check's result and the details.
    pub fn detail_for(mut self, tokens: Tokens) -> Readiness {
        self.detail_for = tokens;
        self
    }

    /// Whether the caller may see the checks and the details.
    pub fn shows_detail_to(&self, headers: &HeaderMap) -> bool {
        self.detail_for.recognize(headers)
    }

    /// The details as they are now.
    pub fn details(&self) -> BTreeMap<String, String> {
        self.details.iter().map(|(name, detail)| (name.clone(), detail())).collect()
    }

    /// Runs every check concurrently; returns whether all passed and each one's result.
    pub async fn report(&self) -> (bool, BTreeMap<String, String>) {
        let results = futures_util::future::join_all(self.checks.iter().map(|(name, check)| async move {
            let result = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
            };
            (name.clone(), result)
        }))
        .await;
        let ready = results.iter().all(|(_, result)| result.is_ok());
        let report =
            results.into_iter().map(|(name, result)| (name, result.err().unwrap_or_else(|| "ok".to_owned()))).collect();
        (ready, report)
    }
}
