//! Turning what was measured into what is printed: percentiles, latencies second by second, each
//! rate beside the machine's own ceiling for it, and the machine-readable last line.
//!
//! Absolute rates move by half between two machines of one kind (the same commit made 8,000 and
//! 13,000 alerts/s end to end on two of them), so each is also shown as a fraction of what
//! PostgreSQL or Redis alone manage on the same machine in the same run: that is the figure a
//! reader can compare across machines.

use super::sampling::BackgroundBySecond;
use std::collections::HashMap;
use std::time::Instant;

/// The value at quantile `q` (0 to 1) of `sorted`; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Per alert, milliseconds from its acceptance to its event, sorted; with the p99 of each second
/// of the phase (by acceptance). Alerts never seen are counted in `missing`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    pub sorted_ms: Vec<f64>,
    pub p99_by_second: Vec<f64>,
    pub missing: usize,
}

impl Latencies {
    pub fn of(accepted_at: &HashMap<String, Instant>, seen_at: &HashMap<String, Instant>) -> Latencies {
        let Some(start) = accepted_at.values().min().copied() else { return Latencies::default() };
        let mut sorted_ms = Vec::with_capacity(accepted_at.len());
        let mut by_second: Vec<Vec<f64>> = Vec::new();
        let mut missing = 0;
        for (fingerprint, at) in accepted_at {
            let Some(seen) = seen_at.get(fingerprint) else {
                missing += 1;
                continue;
            };
            let ms = seen.saturating_duration_since(*at).as_secs_f64() * 1000.0;
            sorted_ms.push(ms);
            let second = at.saturating_duration_since(start).as_secs() as usize;
            if by_second.len() <= second {
                by_second.resize(second + 1, Vec::new());
            }
            by_second[second].push(ms);
        }
        sorted_ms.sort_by(f64::total_cmp);
        let p99_by_second = by_second
            .iter_mut()
            .map(|second| {
                second.sort_by(f64::total_cmp);
                percentile(second, 0.99)
            })
            .collect();
        Latencies { sorted_ms, p99_by_second, missing }
    }

    pub fn p(&self, q: f64) -> f64 {
        percentile(&self.sorted_ms, q)
    }
}

/// The lines of the latency phase: each second's p99 and the background work beside it. When the
/// tail happens tells its cause apart: a slow first second is the previous phase still settling, a
/// slow second in the middle a pause somewhere in the stack.
pub fn latency_lines(rate: u64, latencies: &Latencies, background: &BackgroundBySecond) -> Vec<String> {
    let join = |values: Vec<String>| values.join(" ");
    vec![
        format!(
            "at {rate} alerts/s: p99 ms in each second: {}",
            join(latencies.p99_by_second.iter().map(|ms| format!("{ms:.0}")).collect())
        ),
        format!(
            "at {rate} alerts/s: Redis rewriting its AOF in each second: {}",
            join(background.aof_rewriting.iter().map(|&r| if r { "yes" } else { "-" }.to_owned()).collect())
        ),
        format!(
            "at {rate} alerts/s: checkpoint buffers written in each second: {}",
            join(background.checkpoint_buffers.iter().map(i64::to_string).collect())
        ),
        format!(
            "at {rate} alerts/s: autovacuum and autoanalyze runs ended in each second: {}",
            join(background.vacuums_ended.iter().map(i64::to_string).collect())
        ),
        format!(
            "at {rate} alerts/s: most dirty page cache in each second, MB: {}",
            join(background.most_dirty_mb.iter().map(i64::to_string).collect())
        ),
    ]
}

/// A rate with thousands separated: 12,345.
pub fn rate(per_second: f64) -> String {
    let digits = format!("{:.0}", per_second.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate as a fraction of a ceiling, to two places.
pub fn fraction(measured: f64, ceiling: f64) -> f64 {
    if ceiling <= 0.0 { 0.0 } else { (measured / ceiling * 100.0).round() / 100.0 }
}

/// "end to end 10,000/s = 0.41 of the PostgreSQL ceiling (24,390/s)".
pub fn against_ceiling(what: &str, measured: f64, ceiling_name: &str, ceiling: f64) -> String {
    format!(
        "{what} {}/s = {:.2} of the {ceiling_name} ceiling ({}/s)",
        rate(measured),
        fraction(measured, ceiling),
        rate(ceiling)
    )
}

/// The figures of the machine-readable last line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub ingest_alerts_per_s: f64,
    pub e2e_alerts_per_s: u64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub max_rss_mb: f64,
    pub storm_incidents_per_s: f64,
    pub pg_ceiling_alerts_per_s: f64,
    pub redis_ceiling_alerts_per_s: f64,
}

impl Summary {
    /// `bench: key=value …`: the five figures it has always had first, the newer ones after, so
    /// that a reader of the older line still finds its own.
    pub fn line(&self) -> String {
        format!(
            "bench: ingest_alerts_per_s={:.0} e2e_alerts_per_s={} e2e_p50_ms={:.1} e2e_p99_ms={:.1} max_rss_mb={:.1} \
             storm_incidents_per_s={:.0} pg_ceiling_alerts_per_s={:.0} redis_ceiling_alerts_per_s={:.0} \
             e2e_of_pg_ceiling={:.2} ingest_of_redis_ceiling={:.2}",
            self.ingest_alerts_per_s,
            self.e2e_alerts_per_s,
            self.e2e_p50_ms,
            self.e2e_p99_ms,
            self.max_rss_mb,
            self.storm_incidents_per_s,
            self.pg_ceiling_alerts_per_s,
            self.redis_ceiling_alerts_per_s,
            fraction(self.e2e_alerts_per_s as f64, self.pg_ceiling_alerts_per_s),
            fraction(self.ingest_alerts_per_s, self.redis_ceiling_alerts_per_s),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }

    #[test]
    fn latencies_are_grouped_by_the_second_of_acceptance_and_missing_ones_counted() {
        let start = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        let accepted = HashMap::from([
            ("a".to_owned(), start),
            ("b".to_owned(), start + ms(300)),
            ("c".to_owned(), start + ms(1_100)),
            ("d".to_owned(), start + ms(1_200)),
        ]);
        let seen = HashMap::from([
            ("a".to_owned(), start + ms(5)),
            ("b".to_owned(), start + ms(320)),
            ("c".to_owned(), start + ms(1_190)),
        ]);
        let latencies = Latencies::of(&accepted, &seen);
        assert_eq!(latencies.missing, 1);
        assert_eq!(latencies.sorted_ms.len(), 3);
        assert!((latencies.p(1.0) - 90.0).abs() < 1.0, "{:?}", latencies.sorted_ms);
        assert_eq!(latencies.p99_by_second.len(), 2);
        assert!((latencies.p99_by_second[0] - 20.0).abs() < 1.0, "{:?}", latencies.p99_by_second);
    }

    #[test]
    fn rates_read_as_fractions_of_their_ceiling() {
        assert_eq!(rate(10_000.4), "10,000");
        assert_eq!(rate(999.0), "999");
        assert_eq!(rate(1_234_567.0), "1,234,567");
        assert_eq!(fraction(10_000.0, 24_390.0), 0.41);
        assert_eq!(fraction(1.0, 0.0), 0.0, "no ceiling measured");
        assert_eq!(
            against_ceiling("end to end", 10_000.0, "PostgreSQL", 24_390.0),
            "end to end 10,000/s = 0.41 of the PostgreSQL ceiling (24,390/s)"
        );
    }

    #[test]
    fn the_last_line_keeps_the_old_figures_first() {
        let summary = Summary {
            ingest_alerts_per_s: 60_000.0,
            e2e_alerts_per_s: 10_000,
            e2e_p50_ms: 5.04,
            e2e_p99_ms: 20.0,
            max_rss_mb: 40.0,
            storm_incidents_per_s: 3_500.0,
            pg_ceiling_alerts_per_s: 25_000.0,
            redis_ceiling_alerts_per_s: 120_000.0,
        };
        assert_eq!(
            summary.line(),
            "bench: ingest_alerts_per_s=60000 e2e_alerts_per_s=10000 e2e_p50_ms=5.0 e2e_p99_ms=20.0 max_rss_mb=40.0 \
             storm_incidents_per_s=3500 pg_ceiling_alerts_per_s=25000 redis_ceiling_alerts_per_s=120000 \
             e2e_of_pg_ceiling=0.40 ingest_of_redis_ceiling=0.50"
        );
    }
}
