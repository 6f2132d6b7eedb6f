//! `/metrics`: one prometheus-client registry per service, filled while the service is built and
//! read-only afterwards, plus the HTTP request metrics every service has.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The finished registry, shared by the `/metrics` handler.
#[derive(Clone)]
pub struct Metrics(Arc<Registry>);

impl Metrics {
    pub fn new(registry: Registry) -> Metrics {
        Metrics(Arc::new(registry))
    }

    /// OpenMetrics text, what Prometheus asks for when it scrapes.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0)?;
        Ok(text)
    }

    /// The classic Prometheus text format (0.0.4), for clients that do not ask for OpenMetrics:
    /// `curl`, older scrapers and `promtool check metrics`.
    pub fn encode_classic(&self) -> Result<String, std::fmt::Error> {
        Ok(openmetrics_to_classic(&self.encode()?))
    }
}

pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two formats differ where it matters here in one way: an OpenMetrics counter family `x` has
/// samples `x_total`, while the classic format names the family `x_total` in `# HELP` and `# TYPE`.
/// OpenMetrics also ends with `# EOF`, which the classic format does not know.
fn openmetrics_to_classic(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let counters: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut classic = String::with_capacity(text.len());
    for line in lines {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => classic.push_str(&line),
            None => classic.push_str(line),
        }
        classic.push('\n');
    }
    classic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_renamed_and_the_end_marker_dropped() {
        let open = "# HELP jobs Jobs done.\n# TYPE jobs counter\njobs_total 3\n\
                    # HELP depth Queue depth.\n# TYPE depth gauge\ndepth 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_classic(open),
            "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3\n\
             # HELP depth Queue depth.\n# TYPE depth gauge\ndepth 1\n"
        );
    }
}

/// A registry whose metric names start with `tocsin_`.
pub fn registry() -> Registry {
    Registry::with_prefix("tocsin")
}

/// A request's method as a metric label: the methods HTTP defines, and `other` for anything else.
/// The method is whatever a client writes, before any token is checked; as a label taken as sent,
/// a loop of made-up methods would add series to `/metrics` without end.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    /// The route pattern (`/incidents/{id}`), never the raw path, to keep label values bounded.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

#[derive(Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("http_requests", "HTTP requests served, by route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            duration.clone(),
        );
        HttpMetrics { requests, duration }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

/// `tocsin_db_pool_connections{state}`: the database pool of a service that has one.
#[derive(Clone, Default)]
pub struct PoolGauges(Family<StateLabel, prometheus_client::metrics::gauge::Gauge>);

impl PoolGauges {
    pub fn register(registry: &mut Registry) -> PoolGauges {
        let gauges = PoolGauges::default();
        registry.register(
            "db_pool_connections",
            "Database connections of this process: in_use, idle, max, and callers waiting for one",
            gauges.0.clone(),
        );
        gauges
    }

    pub fn set(&self, in_use: usize, idle: usize, max: usize, waiting: usize) {
        for (state, value) in [("in_use", in_use), ("idle", idle), ("max", max), ("waiting", waiting)] {
            self.0.get_or_create(&StateLabel { state }).set(value as i64);
        }
    }

    /// Sets the gauges from `read` (in use, idle, max, waiting) every five seconds until shutdown:
    /// the loop of every service whose pool has nothing else to report alongside.
    pub async fn keep_updated(
        self,
        shutdown: tokio_util::sync::CancellationToken,
        read: impl Fn() -> (usize, usize, usize, usize),
    ) {
        loop {
            let (in_use, idle, max, waiting) = read();
            self.set(in_use, idle, max, waiting);
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }
}

/// Buckets from 100 µs to 10 s: ingest answers in well under a millisecond, actions wait for
/// incident-core for up to seconds.
pub fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}
