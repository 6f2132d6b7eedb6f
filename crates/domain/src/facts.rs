//! What an incident says about itself, read from the labels and annotations of the alert that
//! opened it. The defaults for missing labels are part of tocsin's contract (docs/architecture.md).

use crate::severity::Severity;
use std::collections::BTreeMap;

/// Shown where a label the incident needs is missing, so the gap is visible rather than blank.
pub const UNKNOWN: &str = "unknown";
/// Team of an incident whose alert has no `team` label and whose service is not mapped.
pub const UNOWNED_TEAM: &str = "unowned";

/// The service-to-team mapping from configuration, for alerts that carry no `team` label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamMapping(BTreeMap<String, String>);

impl TeamMapping {
    /// Reads `service=team` pairs separated by commas, e.g. `checkout-api=payments,web-server=web`.
    pub fn parse(spec: &str) -> Result<TeamMapping, String> {
        let mut mapping = BTreeMap::new();
        for pair in spec.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            let (service, team) = pair
                .split_once('=')
                .map(|(service, team)| (service.trim(), team.trim()))
                .filter(|(service, team)| !service.is_empty() && !team.is_empty())
                .ok_or_else(|| format!("`{pair}` is not of the form service=team"))?;
            mapping.insert(service.to_owned(), team.to_owned());
        }
        Ok(TeamMapping(mapping))
    }

    pub fn team_of(&self, service: &str) -> Option<&str> {
        self.0.get(service).map(String::as_str)
    }

    /// `(service, team)` pairs, by service.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(service, team)| (service.as_str(), team.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, String)> for TeamMapping {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        TeamMapping(pairs.into_iter().collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFacts {
    pub title: String,
    pub service: String,
    pub environment: String,
    pub severity: Severity,
    pub team: String,
    pub runbook_url: Option<String>,
}

impl IncidentFacts {
    /// - service: the `service` label, else `job`, else "unknown";
    /// - environment: `environment`, else `env`, else "unknown";
    /// - severity: the `severity` label (see [`Severity::from_label`]);
    /// - team: the `team` label, else the service's team from config, else "unowned";
    /// - title: the `summary` annotation, else "alertname on instance", else the alertname;
    /// - runbook: the `runbook_url` annotation.
    pub fn from_alert(
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
        teams: &TeamMapping,
    ) -> IncidentFacts {
        let label = |name: &str| labels.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let service = label("service").or_else(|| label("job")).unwrap_or(UNKNOWN).to_owned();
        let environment = label("environment").or_else(|| label("env")).unwrap_or(UNKNOWN).to_owned();
        let team = label("team").or_else(|| teams.team_of(&service)).unwrap_or(UNOWNED_TEAM).to_owned();
        let annotation = |name: &str| annotations.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let title = match (annotation("summary"), label("alertname"), label("instance")) {
            (Some(summary), _, _) => summary.to_owned(),
            (None, Some(alertname), Some(instance)) => format!("{alertname} on {instance}"),
            (None, Some(alertname), None) => alertname.to_owned(),
            (None, None, _) => "Alert without a name".to_owned(),
        };
        IncidentFacts {
            title,
            service,
            environment,
            severity: Severity::from_label(label("severity")),
            team,
            runbook_url: annotation("runbook_url").map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn labels_and_annotations_give_the_facts() {
        let labels = map(&[
            ("alertname", "HighCPU"),
            ("service", "web-server"),
            ("environment", "production"),
            ("severity", "critical"),
            ("team", "web"),
            ("job", "node_exporter"),
        ]);
        let annotations = map(&[("summary", "High CPU usage on web-server-01"), ("runbook_url", "https://rb/cpu")]);
        let facts = IncidentFacts::from_alert(&labels, &annotations, &TeamMapping::default());
        assert_eq!(
            facts,
            IncidentFacts {
                title: "High CPU usage on web-server-01".into(),
                service: "web-server".into(),
                environment: "production".into(),
                severity: Severity::Critical,
                team: "web".into(),
                runbook_url: Some("https://rb/cpu".into()),
            }
        );
    }

    #[test]
    fn missing_labels_fall_back_in_the_documented_order() {
        let labels =
            map(&[("alertname", "InstanceDown"), ("instance", "db-7:9100"), ("job", "postgres"), ("env", "staging")]);
        let teams = TeamMapping::parse("postgres=data, web=web").unwrap_or_default();
        let facts = IncidentFacts::from_alert(&labels, &BTreeMap::new(), &teams);
        assert_eq!(facts.service, "postgres");
        assert_eq!(facts.environment, "staging");
        assert_eq!(facts.team, "data");
        assert_eq!(facts.title, "InstanceDown on db-7:9100");
        assert_eq!(facts.severity, Severity::Warning);
        assert_eq!(facts.runbook_url, None);
    }

    #[test]
    fn nothing_known_is_said_plainly() {
        let facts = IncidentFacts::from_alert(&BTreeMap::new(), &BTreeMap::new(), &TeamMapping::default());
        assert_eq!(
            (facts.service.as_str(), facts.environment.as_str(), facts.team.as_str()),
            (UNKNOWN, UNKNOWN, UNOWNED_TEAM)
        );
        assert_eq!(facts.title, "Alert without a name");
    }

    #[test]
    fn a_bad_team_mapping_is_named() {
        assert_eq!(TeamMapping::parse("web=web,oops"), Err("`oops` is not of the form service=team".to_owned()));
    }
}
