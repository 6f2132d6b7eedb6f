//! A year of incidents at a busy shop, as rows for PostgreSQL's `COPY ... FROM STDIN` (text
//! format): the data `make bench-data` seeds its database with (`src/bin/bench-data.rs`).
//!
//! The shape follows what such a shop sees: a few services raise most incidents (a Zipf law over
//! 300 services, each owned by one of 40 teams), most incidents are warnings in production, almost
//! all are resolved with a time to acknowledge of minutes and a time to resolve of tens of minutes
//! (log-normal), and a few thousand are still open, most of them from the last weeks. An incident
//! usually holds a handful of alerts; a few alert storms hold tens of thousands, many of them
//! sharing one `starts_at` (one webhook of hundreds of alerts). Every alert adds a timeline entry,
//! as incident-core does. Everything is drawn from one seeded generator, so a run is repeatable.

use std::fmt::Write;
use uuid::Uuid;

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;
const MINUTE_US: i64 = 60_000_000;
/// No ordinary incident holds more alerts than this; the alert storms are set apart.
const ORDINARY_ALERTS_CAP: u32 = 2_000;
/// Alerts of an alert storm arrive this many to a webhook, all with one `starts_at`.
const STORM_WEBHOOK: u32 = 500;

pub const ENVIRONMENTS: [(&str, f64); 3] = [("production", 0.55), ("staging", 0.30), ("development", 0.15)];
pub const SEVERITIES: [(&str, f64); 4] = [("critical", 0.08), ("high", 0.22), ("warning", 0.45), ("info", 0.25)];
pub const SERVICES: usize = 300;
pub const TEAMS: usize = 40;
const ALERTNAMES: [&str; 12] = [
    "HighErrorRate",
    "HighLatency",
    "InstanceDown",
    "DiskWillFillIn4Hours",
    "PodCrashLooping",
    "CertificateExpiresSoon",
    "ReplicationLag",
    "QueueBacklog",
    "MemoryPressure",
    "ProbeFailed",
    "TooManyRestarts",
    "SaturatedConnections",
];

/// SplitMix64: small, fast, and the same sequence on every machine for a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Log-normal with the given median, `sigma` the spread of its logarithm.
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        // Box-Muller; 1 - unit() is in (0, 1], so the logarithm is finite.
        let z = (-2.0 * (1.0 - self.unit()).ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        median * (sigma * z).exp()
    }

    /// 0, 1, 2, ... with the given mean (a geometric law).
    pub fn geometric(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        let p = 1.0 / (mean + 1.0);
        ((1.0 - self.unit()).ln() / (1.0 - p).ln()).floor().min(u32::MAX as f64) as u32
    }

    pub fn uuid(&mut self) -> Uuid {
        let bytes = ((self.next_u64() as u128) << 64 | self.next_u64() as u128).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// Draws an index from cumulative weights (the last one is the total).
fn pick(rng: &mut Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.unit() * total;
    cumulative.partition_point(|&c| c <= x).min(cumulative.len().saturating_sub(1))
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

/// What to seed: how many incidents and alerts over how long, ending when.
#[derive(Debug, Clone)]
pub struct Shape {
    pub incidents: u64,
    pub alerts: u64,
    /// Incidents still open, and acknowledged but not resolved (roughly: each active incident is
    /// drawn with that probability among the recent ones).
    pub open: u64,
    pub acknowledged: u64,
    /// Alert storms: this many incidents with `storm_alerts` alerts each.
    pub storms: u64,
    pub storm_alerts: u32,
    /// The end of the year, in microseconds since the epoch (now, usually).
    pub end_us: i64,
    pub days: i64,
    pub seed: u64,
}

impl Shape {
    /// Why this shape cannot be seeded, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.incidents == 0 || self.days <= 0 {
            return Err("at least one incident over at least one day".into());
        }
        if self.storms >= self.incidents {
            return Err(format!("{} alert storms need more than {} incidents", self.storms, self.incidents));
        }
        if self.open + self.acknowledged > self.incidents - self.storms {
            return Err(format!(
                "{} open and {} acknowledged incidents do not fit in {} incidents",
                self.open, self.acknowledged, self.incidents
            ));
        }
        let storm_alerts = self.storms * self.storm_alerts as u64;
        let ordinary = self.incidents - self.storms;
        if self.alerts < storm_alerts + ordinary {
            return Err(format!(
                "{} alerts are too few: {} alert storms of {} and one alert for each of the other {} incidents need {}",
                self.alerts,
                self.storms,
                self.storm_alerts,
                ordinary,
                storm_alerts + ordinary
            ));
        }
        if self.alerts - storm_alerts > ordinary * ORDINARY_ALERTS_CAP as u64 {
            return Err(format!("{} alerts are too many for {} incidents", self.alerts, self.incidents));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

/// One incident as planned, before it becomes rows: everything its alerts and timeline need.
#[derive(Debug, Clone)]
pub struct Incident {
    pub ordinal: u64,
    pub id: Uuid,
    pub service: u16,
    pub environment: u8,
    pub severity: u8,
    pub alertname: u8,
    pub status: Status,
    pub opened_us: i64,
    pub acknowledged_us: Option<i64>,
    pub resolved_us: Option<i64>,
    /// Resolved by Alertmanager (every alert resolved) rather than by a person.
    pub auto_resolved: bool,
    pub responder: u16,
    pub alerts: u32,
}

/// The owner of a service: services are spread over the teams, so the teams are as skewed as the
/// services they own.
pub fn team_of(service: u16) -> u16 {
    service % TEAMS as u16
}

pub fn service_name(service: u16) -> String {
    format!("svc-{service:03}")
}

pub fn team_name(team: u16) -> String {
    format!("team-{team:02}")
}

/// The services' weights: Zipf with exponent 1.1, so the first service raises about one incident
/// in six and the last about one in 2,800.
pub fn service_weights() -> Vec<f64> {
    (1..=SERVICES).map(|rank| 1.0 / (rank as f64).powf(1.1)).collect()
}

/// The year's incidents, oldest first, with their alert counts summing to `shape.alerts` exactly.
pub fn plan(shape: &Shape) -> Vec<Incident> {
    let mut rng = Rng::new(shape.seed);
    let services = cumulative(service_weights().into_iter());
    let environments = cumulative(ENVIRONMENTS.iter().map(|(_, w)| *w));
    let severities = cumulative(SEVERITIES.iter().map(|(_, w)| *w));
    let n = shape.incidents;
    let start_us = shape.end_us - shape.days * DAY_US;
    // The active incidents come from the last 30 days, or from as far back as it takes to hold
    // twice as many incidents as there are active ones.
    let active = shape.open + shape.acknowledged;
    let recent = (n * 30 / shape.days.max(30) as u64).max(active * 2).min(n - shape.storms);
    let active_probability = active as f64 / recent as f64;
    let acknowledged_share = if active == 0 { 0.0 } else { shape.acknowledged as f64 / active as f64 };
    let storm_every = n / (shape.storms + 1);
    let mut counts =
        allocate_alerts(&mut rng, n - shape.storms, shape.alerts - shape.storms * shape.storm_alerts as u64);
    counts.reverse();

    let mut incidents = Vec::with_capacity(n as usize);
    let mut storms_placed = 0;
    let span = shape.days * DAY_US;
    for ordinal in 0..n {
        // Spread over the year in order, with some jitter, so the list is mostly in ordinal order.
        let opened_us = start_us + ((ordinal as f64 + rng.unit()) / n as f64 * span as f64) as i64;
        // The alert storms, evenly spaced over the year.
        let storm = storms_placed < shape.storms && (ordinal + 1) % storm_every.max(1) == 0;
        storms_placed += storm as u64;
        let recent_one = ordinal >= n - recent;
        let status = if !storm && recent_one && rng.unit() < active_probability {
            if rng.unit() < acknowledged_share { Status::Acknowledged } else { Status::Open }
        } else {
            Status::Resolved
        };
        let now = shape.end_us - 1_000_000;
        // Half of the people acknowledge within four minutes; some take an hour.
        let acknowledged = match status {
            Status::Open => false,
            Status::Acknowledged => true,
            Status::Resolved => rng.unit() < 0.7,
        };
        let tta = (rng.log_normal(4.0, 1.1) * MINUTE_US as f64) as i64 + 5_000_000;
        let acknowledged_us = acknowledged.then(|| (opened_us + tta).min(now));
        let ttr = (rng.log_normal(45.0, 1.3) * MINUTE_US as f64) as i64 + 30_000_000;
        let resolved_us = (status == Status::Resolved).then(|| (opened_us + ttr.max(tta + 30_000_000)).min(now));
        let alerts = if storm { shape.storm_alerts } else { counts.pop().unwrap_or(1) };
        incidents.push(Incident {
            ordinal,
            id: rng.uuid(),
            service: pick(&mut rng, &services) as u16,
            environment: pick(&mut rng, &environments) as u8,
            severity: pick(&mut rng, &severities) as u8,
            alertname: rng.below(ALERTNAMES.len() as u64) as u8,
            status,
            opened_us: opened_us.min(now),
            acknowledged_us,
            resolved_us,
            auto_resolved: rng.unit() < 0.6,
            responder: rng.below(120) as u16,
            alerts,
        });
    }
    incidents
}

/// Alert counts for `incidents` incidents summing to `total`: each at least 1, at most
/// `ORDINARY_ALERTS_CAP`, one plus a geometric law otherwise (most incidents hold a few alerts,
/// some dozens).
pub fn allocate_alerts(rng: &mut Rng, incidents: u64, total: u64) -> Vec<u32> {
    if incidents == 0 {
        return Vec::new();
    }
    let mean_extra = total as f64 / incidents as f64 - 1.0;
    let mut counts: Vec<u32> =
        (0..incidents).map(|_| (1 + rng.geometric(mean_extra)).min(ORDINARY_ALERTS_CAP)).collect();
    let mut sum: u64 = counts.iter().map(|&c| c as u64).sum();
    let total = total.clamp(incidents, incidents * ORDINARY_ALERTS_CAP as u64);
    // The draws miss the total by about the square root of the count times the mean; spread the
    // difference one alert at a time over incidents drawn at random.
    while sum != total {
        let i = rng.below(incidents) as usize;
        if sum < total && counts[i] < ORDINARY_ALERTS_CAP {
            counts[i] += 1;
            sum += 1;
        } else if sum > total && counts[i] > 1 {
            counts[i] -= 1;
            sum -= 1;
        }
    }
    counts
}

/// A timestamp as COPY's text format takes it.
pub fn write_time(out: &mut String, us: i64) {
    let seconds = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => {
            let _ = write!(
                out,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}+00",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
        }
        Err(_) => out.push_str("\\N"),
    }
}

fn write_optional_time(out: &mut String, us: Option<i64>) {
    match us {
        Some(us) => write_time(out, us),
        None => out.push_str("\\N"),
    }
}

/// The columns `incident_row` writes, in order.
pub const INCIDENT_COLUMNS: &str = "id, correlation_key, title, service, environment, severity, team, status, assignee, \
     runbook_url, source_fingerprint, source_starts_at, source_labels, alert_count, firing_count, opened_at, \
     acknowledged_at, acknowledged_by, resolved_at, resolved_by, created_at, updated_at, version";

fn labels(out: &mut String, incident: &Incident, instance: u32) {
    let _ = write!(
        out,
        r#"{{"alertname": "{}", "environment": "{}", "instance": "10.{}.{}.{}:9100", "job": "{}", "service": "{}", "severity": "{}", "team": "{}"}}"#,
        ALERTNAMES[incident.alertname as usize],
        ENVIRONMENTS[incident.environment as usize].0,
        incident.service % 250,
        (instance >> 8) % 250,
        instance % 250,
        if incident.alertname.is_multiple_of(2) { "node" } else { "app" },
        service_name(incident.service),
        SEVERITIES[incident.severity as usize].0,
        team_name(team_of(incident.service)),
    );
}

fn fingerprint(incident: &Incident, alert: u32) -> u64 {
    Rng::new(incident.ordinal << 20 ^ alert as u64 ^ 0x5eed).next_u64()
}

fn person(n: u16) -> String {
    format!("oncall-{n:03}@example.com")
}

/// The incident's row, tab-separated, ending in a newline.
pub fn incident_row(out: &mut String, incident: &Incident) {
    let service = service_name(incident.service);
    let environment = ENVIRONMENTS[incident.environment as usize].0;
    let alertname = ALERTNAMES[incident.alertname as usize];
    let _ = write!(out, "{}\t{service}|{environment}|{alertname}", incident.id);
    // Active incidents hold their key alone (a unique index); resolved ones share theirs with the
    // incidents the same alert opened before.
    if incident.status != Status::Resolved {
        let _ = write!(out, "|{}", incident.ordinal);
    }
    let _ = write!(
        out,
        "\t{alertname} on {service} ({environment})\t{service}\t{environment}\t{}\t{}\t{}\t",
        SEVERITIES[incident.severity as usize].0,
        team_name(team_of(incident.service)),
        incident.status.as_str()
    );
    if incident.acknowledged_us.is_some() && incident.ordinal.is_multiple_of(3) {
        out.push_str(&person(incident.responder));
    } else {
        out.push_str("\\N");
    }
    let _ = write!(out, "\thttps://runbooks.example.com/{alertname}\t{:016x}\t", fingerprint(incident, 0));
    write_time(out, incident.opened_us);
    out.push('\t');
    labels(out, incident, 0);
    let firing = if incident.status == Status::Resolved { 0 } else { incident.alerts };
    let _ = write!(out, "\t{}\t{firing}\t", incident.alerts);
    write_time(out, incident.opened_us);
    out.push('\t');
    write_optional_time(out, incident.acknowledged_us);
    out.push('\t');
    match incident.acknowledged_us {
        Some(_) => out.push_str(&person(incident.responder)),
        None => out.push_str("\\N"),
    }
    out.push('\t');
    write_optional_time(out, incident.resolved_us);
    out.push('\t');
    match (incident.resolved_us, incident.auto_resolved) {
        (None, _) => out.push_str("\\N"),
        (Some(_), true) => out.push_str("alertmanager"),
        (Some(_), false) => out.push_str(&person(incident.responder)),
    }
    out.push('\t');
    write_time(out, incident.opened_us + 200_000);
    out.push('\t');
    let updated = incident.resolved_us.or(incident.acknowledged_us).unwrap_or(incident.opened_us);
    write_time(out, updated + 200_000);
    let version =
        1 + incident.alerts as u64 + incident.acknowledged_us.is_some() as u64 + incident.resolved_us.is_some() as u64;
    let _ = writeln!(out, "\t{version}");
}

/// When the incident's `alert`-th alert started: spread over the time the incident was open, the
/// first at its opening, an alert storm's arriving a webhook at a time.
pub fn alert_start(incident: &Incident, alert: u32, end_us: i64) -> i64 {
    if alert == 0 {
        return incident.opened_us;
    }
    let until = incident.resolved_us.unwrap_or(end_us - 2_000_000);
    let spread = (until - incident.opened_us).max(1_000_000);
    let (step, steps) = if incident.alerts > ORDINARY_ALERTS_CAP {
        (alert / STORM_WEBHOOK, incident.alerts.div_ceil(STORM_WEBHOOK))
    } else {
        (alert, incident.alerts)
    };
    incident.opened_us + (spread as i128 * step as i128 / steps.max(1) as i128) as i64
}

/// The columns `alert_row` writes, in order.
pub const ALERT_COLUMNS: &str = "id, incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, \
     generator_url, receiver, group_key, first_received_at, last_received_at, last_firing_report_at";

/// The incident's `alert`-th alert, with row id `id`.
pub fn alert_row(out: &mut String, incident: &Incident, alert: u32, id: u64, end_us: i64) {
    let starts = alert_start(incident, alert, end_us);
    let resolved = incident.resolved_us;
    let _ = write!(out, "{id}\t{}\t{:016x}\t", incident.id, fingerprint(incident, alert));
    write_time(out, starts);
    out.push('\t');
    write_optional_time(out, resolved);
    out.push_str(if resolved.is_some() { "\tresolved\t" } else { "\tfiring\t" });
    labels(out, incident, alert);
    let alertname = ALERTNAMES[incident.alertname as usize];
    let service = service_name(incident.service);
    let _ = write!(
        out,
        "\t{{\"summary\": \"{alertname} on {service}\", \"description\": \"{service} has fired {alertname} for more than 5 minutes.\"}}\
         \thttp://prometheus-0.monitoring:9090/graph?g0.expr=job%3A{alertname}\ttocsin\t{{}}/{{severity=~\"high|critical\"}}:{{alertname=\"{alertname}\", service=\"{service}\"}}\t"
    );
    write_time(out, starts + 800_000);
    out.push('\t');
    let last = resolved.unwrap_or(end_us - 2_000_000).max(starts + 800_000);
    write_time(out, last);
    out.push('\t');
    write_time(out, last);
    out.push('\n');
}

/// The columns `timeline_rows` writes, in order.
pub const TIMELINE_COLUMNS: &str = "id, incident_id, at, kind, actor, status, detail";

/// The incident's timeline: opened, one entry per further alert, acknowledged, resolved. Returns
/// the next free id.
pub fn timeline_rows(out: &mut String, incident: &Incident, mut id: u64, end_us: i64) -> u64 {
    for alert in 0..incident.alerts {
        let at = alert_start(incident, alert, end_us);
        let (kind, status) = if alert == 0 { ("opened", "open") } else { ("alert_added", "\\N") };
        let _ = write!(out, "{id}\t{}\t", incident.id);
        write_time(out, at);
        let _ = writeln!(
            out,
            "\t{kind}\talertmanager\t{status}\t{{\"alert\": {{\"fingerprint\": \"{:016x}\", \"alertname\": \"{}\", \"instance\": \"10.{}.{}.{}:9100\", \"state\": \"firing\", \"starts_at\": {}}}}}",
            fingerprint(incident, alert),
            ALERTNAMES[incident.alertname as usize],
            incident.service % 250,
            (alert >> 8) % 250,
            alert % 250,
            at.div_euclid(1_000_000)
        );
        id += 1;
    }
    if let Some(at) = incident.acknowledged_us {
        let _ = write!(out, "{id}\t{}\t", incident.id);
        write_time(out, at);
        let _ = writeln!(out, "\tacknowledged\t{}\tacknowledged\t{{}}", person(incident.responder));
        id += 1;
    }
    if let Some(at) = incident.resolved_us {
        let actor = if incident.auto_resolved { "alertmanager".to_owned() } else { person(incident.responder) };
        let _ = write!(out, "{id}\t{}\t", incident.id);
        write_time(out, at);
        let _ = writeln!(out, "\tresolved\t{actor}\tresolved\t{{}}");
        id += 1;
    }
    id
}

/// Timeline entries the incident gets from `timeline_rows`.
pub fn timeline_len(incident: &Incident) -> u64 {
    incident.alerts as u64 + incident.acknowledged_us.is_some() as u64 + incident.resolved_us.is_some() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            incidents: 20_000,
            alerts: 200_000,
            open: 2_000,
            acknowledged: 200,
            storms: 3,
            storm_alerts: 10_000,
            end_us: 1_796_601_600_000_000,
            days: 365,
            seed: 7,
        }
    }

    #[test]
    fn alert_counts_sum_to_the_total_and_stay_in_bounds() {
        let mut rng = Rng::new(1);
        for (incidents, total) in [(1, 1), (10, 10), (1_000, 10_000), (5_000, 9_999), (3, 6_000)] {
            let counts = allocate_alerts(&mut rng, incidents, total);
            assert_eq!(counts.len() as u64, incidents);
            assert_eq!(counts.iter().map(|&c| c as u64).sum::<u64>(), total, "{incidents} incidents");
            assert!(counts.iter().all(|&c| (1..=ORDINARY_ALERTS_CAP).contains(&c)));
        }
    }

    #[test]
    fn a_year_has_the_asked_shape() {
        let shape = shape();
        assert_eq!(shape.check(), Ok(()));
        let incidents = plan(&shape);
        assert_eq!(incidents.len(), 20_000);
        assert_eq!(incidents.iter().map(|i| i.alerts as u64).sum::<u64>(), 200_000);
        assert_eq!(incidents.iter().filter(|i| i.alerts == 10_000).count(), 3);
        let open = incidents.iter().filter(|i| i.status == Status::Open).count();
        let acknowledged = incidents.iter().filter(|i| i.status == Status::Acknowledged).count();
        assert!((1_700..2_300).contains(&open), "{open} open");
        assert!((120..300).contains(&acknowledged), "{acknowledged} acknowledged");
        // Skewed: the busiest service raises far more incidents than the quietest.
        let busiest = incidents.iter().filter(|i| i.service == 0).count();
        let quiet = incidents.iter().filter(|i| i.service == 299).count();
        assert!(busiest > 20 * quiet.max(1), "{busiest} against {quiet}");
        let start = shape.end_us - 365 * DAY_US;
        for incident in &incidents {
            assert!(incident.opened_us >= start && incident.opened_us < shape.end_us);
            if let Some(acknowledged) = incident.acknowledged_us {
                assert!(acknowledged >= incident.opened_us && acknowledged < shape.end_us);
            }
            if let Some(resolved) = incident.resolved_us {
                assert!(resolved >= incident.opened_us && resolved < shape.end_us);
                assert!(incident.acknowledged_us.is_none_or(|a| a <= resolved));
            }
            assert_eq!(incident.resolved_us.is_some(), incident.status == Status::Resolved);
        }
        // The same seed, the same year.
        assert_eq!(plan(&shape)[12_345].id, incidents[12_345].id);
    }

    #[test]
    fn times_to_acknowledge_and_resolve_are_minutes_and_tens_of_minutes() {
        let incidents = plan(&shape());
        let mut tta: Vec<i64> = incidents.iter().filter_map(|i| Some(i.acknowledged_us? - i.opened_us)).collect();
        let mut ttr: Vec<i64> = incidents.iter().filter_map(|i| Some(i.resolved_us? - i.opened_us)).collect();
        tta.sort_unstable();
        ttr.sort_unstable();
        let median_minutes = |v: &[i64]| v[v.len() / 2] as f64 / MINUTE_US as f64;
        assert!((3.0..6.0).contains(&median_minutes(&tta)), "{}", median_minutes(&tta));
        assert!((30.0..70.0).contains(&median_minutes(&ttr)), "{}", median_minutes(&ttr));
    }

    #[test]
    fn rows_have_one_field_per_column() {
        let shape = shape();
        let incidents = plan(&shape);
        let columns = |list: &str| list.split(',').count();
        for incident in incidents.iter().filter(|i| i.alerts > 1).take(50) {
            let mut out = String::new();
            incident_row(&mut out, incident);
            assert_eq!(out.trim_end().split('\t').count(), columns(INCIDENT_COLUMNS), "{out}");
            out.clear();
            alert_row(&mut out, incident, 1, 9, shape.end_us);
            assert_eq!(out.trim_end().split('\t').count(), columns(ALERT_COLUMNS), "{out}");
            out.clear();
            let next = timeline_rows(&mut out, incident, 100, shape.end_us);
            assert_eq!(next - 100, timeline_len(incident));
            for line in out.lines() {
                assert_eq!(line.split('\t').count(), columns(TIMELINE_COLUMNS), "{line}");
            }
        }
    }

    #[test]
    fn an_alert_storm_arrives_a_webhook_at_a_time_in_order() {
        let shape = shape();
        let storm = plan(&shape).into_iter().find(|i| i.alerts == 10_000);
        let Some(storm) = storm else { panic!("no alert storm") };
        let starts: Vec<i64> = (0..storm.alerts).map(|a| alert_start(&storm, a, shape.end_us)).collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(starts[1], starts[STORM_WEBHOOK as usize - 1]);
        assert!(starts[STORM_WEBHOOK as usize] > starts[0]);
    }

    #[test]
    fn times_are_written_as_postgresql_reads_them() {
        let mut out = String::new();
        write_time(&mut out, 1_796_601_600_123_456);
        assert_eq!(out, "2026-12-07 00:00:00.123456+00");
    }
}
