use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Why ingest refuses a webhook; the `reason` label of `tocsin_ingest_webhooks_rejected_total`.
/// The first five are refused by the admission checks (`admission.rs`), before the body is read.
pub const REJECTION_REASONS: [&str; 13] = [
    "source_not_allowed",
    "rate_limited_source",
    "unauthorized",
    "forbidden",
    "rate_limited_token",
    "content_type",
    "too_large",
    "malformed",
    "invalid",
    "over_limit",
    "unavailable",
    "unreplicated",
    "backlog",
];

#[derive(Clone)]
pub struct IngestMetrics {
    pub alerts_accepted: Counter,
    pub webhooks_rejected: Family<ReasonLabel, Counter>,
    pub alerts_truncated: Counter,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> IngestMetrics {
        let metrics = IngestMetrics {
            alerts_accepted: Counter::default(),
            webhooks_rejected: Family::default(),
            alerts_truncated: Counter::default(),
        };
        registry.register(
            "ingest_alerts_accepted",
            "Alerts accepted from Alertmanager and put on the alerts stream",
            metrics.alerts_accepted.clone(),
        );
        registry.register(
            "ingest_webhooks_rejected",
            "Webhook deliveries refused, by reason",
            metrics.webhooks_rejected.clone(),
        );
        registry.register(
            "ingest_alerts_truncated",
            "Alerts Alertmanager left out of webhooks because of the receiver's max_alerts",
            metrics.alerts_truncated.clone(),
        );
        // Every reason exists at zero from the start, so `increase()` also sees the first one.
        for reason in REJECTION_REASONS {
            let _ = metrics.webhooks_rejected.get_or_create(&ReasonLabel { reason });
        }
        metrics
    }

    pub fn rejected(&self, reason: &'static str) {
        self.webhooks_rejected.get_or_create(&ReasonLabel { reason }).inc();
    }
}
