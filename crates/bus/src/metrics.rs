use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StreamLabel {
    pub stream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GroupLabel {
    pub stream: String,
    pub group: String,
}

/// A consumer's reads of new entries, by how their byte budget was kept (`consumer`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReadLabel {
    pub stream: String,
    pub read: &'static str,
}

impl ReadLabel {
    /// A plain XREADGROUP: no marked large entry was ahead.
    pub const PLAIN: &'static str = "plain";
    /// Sized entry by entry inside Redis (`scripts::READ_WITHIN_BUDGET`).
    pub const SIZED: &'static str = "sized";
}

/// What the bus counts, registered once per service.
#[derive(Debug, Clone, Default)]
pub struct BusMetrics {
    pub dead_lettered: Family<StreamLabel, Counter>,
    pub reclaimed: Family<StreamLabel, Counter>,
    pub length: Family<StreamLabel, Gauge>,
    pub pending: Family<GroupLabel, Gauge>,
    pub lag: Family<GroupLabel, Gauge>,
    pub backlog: Family<StreamLabel, Gauge>,
    pub reads: Family<ReadLabel, Counter>,
}

impl BusMetrics {
    pub fn register(registry: &mut Registry) -> BusMetrics {
        let metrics = BusMetrics::default();
        registry.register(
            "stream_dead_lettered",
            "Stream entries moved to a dead-letter stream (undecodable or delivered too often)",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "stream_reclaimed",
            "Stream entries claimed from a consumer that left them pending past the visibility timeout",
            metrics.reclaimed.clone(),
        );
        registry.register("stream_length", "Entries on the stream (trimmed by age)", metrics.length.clone());
        registry.register(
            "stream_pending",
            "Entries a consumer group has read but not acknowledged",
            metrics.pending.clone(),
        );
        registry.register("stream_lag", "Entries a consumer group has not read yet (its backlog)", metrics.lag.clone());
        registry.register(
            "stream_backlog",
            "Entries of a stream its furthest-behind consumer group has not read or not acknowledged, as a producer reads it",
            metrics.backlog.clone(),
        );
        registry.register(
            "stream_reads",
            "Reads of new entries by a consumer: plain, or sized inside Redis because an entry larger than 8 KiB may be among them",
            metrics.reads.clone(),
        );
        metrics
    }

    pub(crate) fn label(stream: &str) -> StreamLabel {
        StreamLabel { stream: stream.to_owned() }
    }
}
