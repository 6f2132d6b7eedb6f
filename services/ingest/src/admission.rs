//! Who may post to `/alerts`, and how often. Before anything reads the body, a webhook passes, in
//! this order:
//!
//! 1. the source allowlist (`ALERTS_ALLOWED_SOURCES`): any other source gets 403;
//! 2. the per-source rate limit: 429, so a flood from one address is cut before its tokens are
//!    even checked;
//! 3. the bearer token, which must grant the `ingest` scope: 401, or 403 for a token without it;
//! 4. the per-token rate limit: 429.
//!
//! The source is the connection's peer, unless the peer is one of `TRUSTED_PROXIES`: then it is
//! the address that proxy reports in `X-Forwarded-For`, read from the right and skipping the
//! proxies. Behind the AKS ingress the peer is the ingress controller and the source is the
//! Alertmanager. An IPv6 source is limited per /64, the block one host usually holds.
//!
//! The limits are GCRA buckets (governor): `N/m` lets N webhooks through at once, then one every
//! minute / N. A refused webhook gets `Retry-After` with the seconds until one would pass. Each
//! refusal is counted in `tocsin_ingest_webhooks_rejected_total` with its reason. The limiters'
//! memory is bounded: every [`FORGET_INTERVAL`], keys whose bucket is full again are dropped.

use crate::metrics::IngestMetrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tocsin_runtime::auth::{AuthError, Scope, Tokens};
use tocsin_runtime::{ApiError, ErrorCode};
use tokio_util::sync::CancellationToken;

/// How often the limiters forget the keys that have not been limited lately.
pub const FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// The header a trusted proxy reports the client's address in.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// What the operator configured; see the module's documentation.
#[derive(Debug, Clone, Default)]
pub struct AdmissionSettings {
    /// Empty: every source may post.
    pub allowed_sources: Vec<IpNet>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub per_token: Option<RateLimit>,
    pub per_source: Option<RateLimit>,
}

/// `count` webhooks per `period`, and at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `N/s`, `N/m` or `N/h` (`N` alone is per second); `0` or `off` is no limit. The burst is
    /// N unless `burst` says otherwise.
    pub fn parse(text: &str, burst: Option<NonZeroU32>) -> Result<Option<RateLimit>, String> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (count, unit) = text.split_once('/').unwrap_or((text, "s"));
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => return Err(format!("unknown unit `{other}`: write N/s, N/m or N/h")),
        };
        let count: NonZeroU32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a positive whole number of webhooks", count.trim()))?;
        Ok(Some(RateLimit { count, period, burst: burst.unwrap_or(count) }))
    }

    fn quota(self) -> Quota {
        // One webhook every period / count, `burst` at once. The interval is never zero: count
        // is at most u32::MAX, the period at least a second.
        let interval = self.period / self.count.get();
        Quota::with_period(interval).unwrap_or_else(|| Quota::per_second(self.count)).allow_burst(self.burst)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit} (bursts of {})", self.count, self.burst)
    }
}

/// Parses a list of CIDRs (`10.0.0.0/8, 2001:db8::/32`); a bare address is that one address.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is neither a CIDR (10.0.0.0/8) nor an address"))
        })
        .collect()
}

struct Limiter<K: std::hash::Hash + Eq + Clone> {
    limit: RateLimit,
    buckets: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    fn new(limit: RateLimit) -> Limiter<K> {
        Limiter { limit, buckets: RateLimiter::keyed(limit.quota()) }
    }

    /// `Err(seconds)` until the next webhook under `key` would pass, rounded up.
    fn check(&self, key: &K) -> Result<(), u64> {
        self.buckets.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.buckets.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The checks in front of `/alerts`, shared by every worker.
pub struct Admission {
    tokens: Tokens,
    allowed_sources: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    per_token: Option<Limiter<Arc<str>>>,
    per_source: Option<Limiter<IpAddr>>,
    metrics: IngestMetrics,
}

impl Admission {
    pub fn new(tokens: Tokens, settings: &AdmissionSettings, metrics: IngestMetrics) -> Admission {
        Admission {
            tokens,
            allowed_sources: settings.allowed_sources.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
            per_token: settings.per_token.map(Limiter::new),
            per_source: settings.per_source.map(Limiter::new),
            metrics,
        }
    }

    /// Drops, every [`FORGET_INTERVAL`] until shutdown, the keys whose bucket is full again: they
    /// are the same as keys never seen, so memory follows the sources active in the last minute.
    pub async fn forget_idle_keys(self: Arc<Admission>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(FORGET_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Some(limiter) = &self.per_token {
                limiter.buckets.retain_recent();
            }
            if let Some(limiter) = &self.per_source {
                limiter.buckets.retain_recent();
                limiter.buckets.shrink_to_fit();
            }
        }
    }

    fn admit(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<tocsin_runtime::auth::Caller, Refusal> {
        let source = peer.map(|peer| self.source_address(peer, headers));
        if !self.allowed_sources.is_empty() {
            let allowed = source.is_some_and(|source| self.allowed_sources.iter().any(|net| net.contains(&source)));
            if !allowed {
                let source = source.map_or_else(|| "an unknown address".to_owned(), |source| source.to_string());
                return Err(Refusal::new(
                    "source_not_allowed",
                    ApiError::new(
                        ErrorCode::Forbidden,
                        format!("{source} may not post alerts: it is not in ALERTS_ALLOWED_SOURCES"),
                    ),
                ));
            }
        }
        if let (Some(limiter), Some(source)) = (&self.per_source, source) {
            limiter.check(&limit_key(source)).map_err(|seconds| {
                Refusal::new(
                    "rate_limited_source",
                    ApiError::rate_limited(
                        format!("too many webhooks from {source}: the limit is {} per source", limiter.limit),
                        seconds,
                    ),
                )
            })?;
        }
        let caller = self.tokens.authorize(headers, Scope::Ingest).map_err(|error| {
            let reason = match error {
                AuthError::Missing | AuthError::Invalid => "unauthorized",
                AuthError::MissingScope { .. } => "forbidden",
            };
            Refusal::new(reason, error.into())
        })?;
        if let Some(limiter) = &self.per_token {
            limiter.check(&caller.token_name).map_err(|seconds| {
                Refusal::new(
                    "rate_limited_token",
                    ApiError::rate_limited(
                        format!(
                            "too many webhooks with the token `{}`: the limit is {} per token",
                            caller.token_name, limiter.limit
                        ),
                        seconds,
                    ),
                )
            })?;
        }
        Ok(caller)
    }

    /// The peer, or, when the peer is a trusted proxy, the first address from the right of
    /// `X-Forwarded-For` that is not a trusted proxy (the leftmost if all are). An entry that is
    /// not an address ends the walk at the proxy that wrote it.
    fn source_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut source = peer;
        for entry in forwarded.iter().rev() {
            let Some(address) = parse_forwarded(entry) else { break };
            source = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        source
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&address))
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[2001:db8::1]:443`, `192.0.2.1:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

/// The bucket of a source: the address for IPv4, its /64 for IPv6.
fn limit_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(address) => IpAddr::V6(Ipv6Addr::from(u128::from(address) & !((1u128 << 64) - 1))),
    }
}

struct Refusal {
    reason: &'static str,
    error: ApiError,
}

impl Refusal {
    fn new(reason: &'static str, error: ApiError) -> Refusal {
        Refusal { reason, error }
    }
}

/// Middleware on `/alerts`: the checks of [`Admission`], counted and answered before the handler.
pub async fn admit(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(admission) = request.app_data::<web::Data<Admission>>().cloned() else {
        return Err(ApiError::internal("/alerts is served without its Admission").into());
    };
    let peer = request.peer_addr().map(|address| address.ip());
    match admission.admit(peer, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.call(request).await
        }
        Err(refusal) => {
            admission.metrics.rejected(refusal.reason);
            tracing::debug!(reason = refusal.reason, peer = ?peer, "webhook refused");
            Err(refusal.error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn admission(settings: AdmissionSettings) -> Admission {
        let metrics = IngestMetrics::register(&mut prometheus_client::registry::Registry::default());
        Admission::new(Tokens::single("ingest", &[Scope::Ingest], "test-token"), &settings, metrics)
    }

    fn forwarded_for(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static(X_FORWARDED_FOR),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn rates_parse_with_their_unit_and_burst() {
        let limit = |text, burst| RateLimit::parse(text, burst).map(|limit| limit.map(|l| l.to_string()));
        assert_eq!(limit("600/m", None), Ok(Some("600/m (bursts of 600)".into())));
        assert_eq!(limit(" 20 ", NonZeroU32::new(100)), Ok(Some("20/s (bursts of 100)".into())));
        assert_eq!(limit("1/h", None), Ok(Some("1/h (bursts of 1)".into())));
        assert_eq!(limit("off", None), Ok(None));
        assert_eq!(limit("0", None), Ok(None));
        assert_eq!(limit("10/d", None), Err("unknown unit `d`: write N/s, N/m or N/h".into()));
        assert_eq!(limit("-1/s", None), Err("`-1` is not a positive whole number of webhooks".into()));
        assert_eq!(limit("0/s", None), Err("`0` is not a positive whole number of webhooks".into()));
    }

    #[test]
    fn networks_parse_as_cidrs_or_addresses() {
        let networks = parse_networks("10.0.0.0/8, 192.0.2.7 2001:db8::/32").expect("parse networks");
        let shown: Vec<String> = networks.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        assert_eq!(
            parse_networks("10.0.0.0/33").err(),
            Some("`10.0.0.0/33` is neither a CIDR (10.0.0.0/8) nor an address".into())
        );
    }

    #[test]
    fn x_forwarded_for_counts_only_from_trusted_proxies() {
        let gate = admission(AdmissionSettings {
            trusted_proxies: parse_networks("10.244.0.0/16, 192.0.2.10").unwrap_or_default(),
            ..AdmissionSettings::default()
        });
        let source = |peer: &str, values: &[&str]| gate.source_address(ip(peer), &forwarded_for(values)).to_string();
        // An untrusted peer's header is ignored: anyone can write one.
        assert_eq!(source("198.51.100.1", &["203.0.113.9"]), "198.51.100.1");
        // The ingress controller reports the Alertmanager.
        assert_eq!(source("10.244.1.5", &["203.0.113.9"]), "203.0.113.9");
        // Read from the right: what the client wrote itself (the spoofed left part) is not believed.
        assert_eq!(source("10.244.1.5", &["1.2.3.4, 203.0.113.9"]), "203.0.113.9");
        // Through two trusted proxies, over two header lines.
        assert_eq!(source("10.244.1.5", &["203.0.113.9, 192.0.2.10", "10.244.3.3"]), "203.0.113.9");
        // Every hop trusted: the leftmost.
        assert_eq!(source("10.244.1.5", &["10.244.9.9"]), "10.244.9.9");
        // Garbage ends the walk at the proxy that wrote it; ports and IPv4-mapped IPv6 are read.
        assert_eq!(source("10.244.1.5", &["203.0.113.9, unknown"]), "10.244.1.5");
        assert_eq!(source("10.244.1.5", &["[2001:db8::7]:4711"]), "2001:db8::7");
        assert_eq!(source("::ffff:10.244.1.5", &["::ffff:203.0.113.9"]), "203.0.113.9");
        assert_eq!(source("10.244.1.5", &[]), "10.244.1.5");
    }

    #[test]
    fn ipv6_sources_share_a_bucket_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn the_source_limit_answers_with_the_wait() {
        let gate = admission(AdmissionSettings {
            per_source: RateLimit::parse("2/h", None).unwrap_or_default(),
            ..AdmissionSettings::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert(actix_web::http::header::AUTHORIZATION, HeaderValue::from_static("Bearer test-token"));
        let peer = Some(ip("192.0.2.1"));
        assert!(gate.admit(peer, &headers).is_ok());
        assert!(gate.admit(peer, &headers).is_ok());
        let refusal = gate.admit(peer, &headers).err().map(|refusal| (refusal.reason, refusal.error.retry_after));
        // One webhook every 30 minutes refills the bucket.
        assert!(matches!(refusal, Some(("rate_limited_source", Some(1790..=1800)))), "{refusal:?}");
        assert!(gate.admit(Some(ip("192.0.2.2")), &headers).is_ok(), "another source has its own bucket");
    }
}
