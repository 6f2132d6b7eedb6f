//! The notifier's own metrics, next to the HTTP and stream metrics every service has.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;
use tocsin_runtime::metrics::latency_histogram;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// Why a Slack click was not acted on (`crate::slack_access::Refusal`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `slack`, `slack_webhook`, `teams`, `email`, `github`
    pub channel: &'static str,
    /// `sent`, `retried` (failed, will be tried again), `dead` (given up, on the dead-letter stream)
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PageLabels {
    /// The contact method's kind: `slack`, `email`, `sms`, `voice`, `webhook` (`unknown` when the
    /// method was removed before the page was due)
    pub method: &'static str,
    /// `sent`, `retried`, `dead`, `cancelled` (the incident was acknowledged or resolved first)
    pub outcome: &'static str,
}

/// An answer to a page from the phone (`crate::twilio_replies`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReplyLabels {
    /// `sms` or `voice`
    pub method: &'static str,
    /// `accepted`, `repeated` (the provider retried an answer already acted on), or why it was
    /// refused: `bad_signature`, `malformed`, `not_understood`, `unknown_number`, `unknown_code`,
    /// `ambiguous`, `unknown_page`, `wrong_key`
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: &'static str,
}

#[derive(Clone)]
pub struct DeliveryMetrics {
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub pages: Family<PageLabels, Counter>,
    pub duration: Family<ChannelLabel, Histogram>,
    pub backlog: Gauge,
}

impl DeliveryMetrics {
    pub fn register(registry: &mut Registry) -> DeliveryMetrics {
        let metrics = DeliveryMetrics {
            deliveries: Family::default(),
            pages: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            backlog: Gauge::default(),
        };
        registry.register(
            "notifier_deliveries",
            "Notification attempts by channel and outcome (sent, retried, dead)",
            metrics.deliveries.clone(),
        );
        registry.register(
            "notifier_pages",
            "Pages to people by contact method and outcome (sent, retried, dead, cancelled)",
            metrics.pages.clone(),
        );
        registry.register(
            "notifier_delivery_duration_seconds",
            "Time one delivery attempt took, answer or timeout",
            metrics.duration.clone(),
        );
        registry.register(
            "notifier_delivery_backlog",
            "Notifications recorded and not yet sent",
            metrics.backlog.clone(),
        );
        metrics
    }

    pub fn initialise(&self, channel: &'static str) {
        for outcome in ["sent", "retried", "dead"] {
            let _ = self.deliveries.get_or_create(&DeliveryLabels { channel, outcome });
        }
    }

    /// Every method's series, at zero from the start.
    pub fn initialise_pages(&self) {
        for method in ["slack", "email", "sms", "voice", "webhook"] {
            for outcome in ["sent", "retried", "dead", "cancelled"] {
                let _ = self.pages.get_or_create(&PageLabels { method, outcome });
            }
        }
    }

    pub fn count_page(&self, method: &'static str, outcome: &'static str) {
        self.pages.get_or_create(&PageLabels { method, outcome }).inc();
    }

    pub fn count(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries.get_or_create(&DeliveryLabels { channel, outcome }).inc();
    }

    pub fn observe_duration(&self, channel: &'static str, took: Duration) {
        self.duration.get_or_create(&ChannelLabel { channel }).observe(took.as_secs_f64());
    }
}
