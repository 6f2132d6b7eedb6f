//! Alertmanager's matcher syntax (`name="value"`, `!=`, `=~`, `!~`, parsed and tested by
//! `tocsin_domain::matcher`) applied to an incident: a few names read the incident's own fields,
//! any other name reads a label of the alert that opened it.

use std::fmt;
use tocsin_domain::matcher::{self, MatchOp};
use tocsin_domain::{Incident, IncidentStatus, Severity};

#[derive(Debug, Clone)]
pub struct Matcher {
    field: Field,
    /// The name, operator and value, parsed and tested as everywhere in tocsin
    /// (`tocsin_domain::matcher`); severities and statuses in their canonical names.
    test: matcher::Matcher,
    /// As written, for messages and logs.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Service,
    Environment,
    Severity,
    Team,
    Status,
    Title,
    Label(String),
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let written = text.trim();
        let parsed = matcher::Matcher::parse(written).map_err(|error| error.to_string())?;
        let field = Field::named(&parsed.name);
        let test = match parsed.op {
            MatchOp::Equal | MatchOp::NotEqual => {
                let canonical = field.canonical(&parsed.value).map_err(|reason| format!("`{written}`: {reason}"))?;
                matcher::Matcher::new(&parsed.name, parsed.op, &canonical).map_err(|error| error.to_string())?
            }
            MatchOp::Regex | MatchOp::NotRegex => parsed,
        };
        Ok(Matcher { field, test, text: written.to_owned() })
    }

    pub fn matches(&self, incident: &Incident) -> bool {
        self.test.matches_value(self.field.value(incident))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Field {
    fn named(name: &str) -> Field {
        match name {
            "service" => Field::Service,
            "environment" => Field::Environment,
            "severity" => Field::Severity,
            "team" => Field::Team,
            "status" => Field::Status,
            "title" => Field::Title,
            label => Field::Label(label.to_owned()),
        }
    }

    /// The value an equality compares with. Severities are compared by their canonical name, so
    /// `severity="page"` means critical, as everywhere else in tocsin; a severity or status that
    /// can never match is a mistake worth stopping for.
    fn canonical(&self, value: &str) -> Result<String, String> {
        match self {
            Field::Severity => Severity::parse(value)
                .map(|severity| severity.as_str().to_owned())
                .ok_or_else(|| format!("unknown severity `{value}`, expected info, warning, high or critical")),
            Field::Status => IncidentStatus::parse(value)
                .map(|status| status.as_str().to_owned())
                .ok_or_else(|| format!("unknown status `{value}`, expected open, acknowledged or resolved")),
            _ => Ok(value.to_owned()),
        }
    }

    /// A label the alert does not carry reads as the empty string, as in Alertmanager, so
    /// `region=""` matches alerts without a region and `region!=""` those with one.
    fn value<'a>(&self, incident: &'a Incident) -> &'a str {
        match self {
            Field::Service => &incident.service,
            Field::Environment => &incident.environment,
            Field::Severity => incident.severity.as_str(),
            Field::Team => &incident.team,
            Field::Status => incident.status.as_str(),
            Field::Title => &incident.title,
            Field::Label(name) => incident.source_alert.labels.get(name).map_or("", String::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use time::OffsetDateTime;

    fn incident(labels: &[(&str, &str)]) -> Incident {
        let mut incident = Incident {
            title: "Checkout latency above 2s".to_owned(),
            service: "payments".to_owned(),
            severity: Severity::High,
            ..tocsin_testkit::open_incident(OffsetDateTime::UNIX_EPOCH)
        };
        incident.source_alert.labels = tocsin_testkit::labels(labels);
        incident
    }

    fn holds(matcher: &str, incident: &Incident) -> bool {
        Matcher::parse(matcher).unwrap_or_else(|error| panic!("{matcher}: {error}")).matches(incident)
    }

    fn refusal(matcher: &str) -> String {
        match Matcher::parse(matcher) {
            Ok(parsed) => panic!("`{matcher}` parsed as {parsed:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn each_operator_reads_incident_fields() {
        let incident = incident(&[]);
        assert!(holds(r#"service="payments""#, &incident));
        assert!(!holds(r#"service="checkout""#, &incident));
        assert!(holds(r#"environment!="staging""#, &incident));
        assert!(!holds(r#"environment!="production""#, &incident));
        assert!(holds(r#"team=~"pay.*|checkout""#, &incident));
        assert!(!holds(r#"team!~"pay.*""#, &incident));
        assert!(holds(r#"status="open""#, &incident));
        assert!(holds(r#"title=~".*latency.*""#, &incident));
    }

    #[test]
    fn regexes_are_anchored_at_both_ends() {
        let incident = incident(&[]);
        assert!(!holds(r#"service=~"pay""#, &incident));
        assert!(!holds(r#"service=~"ments""#, &incident));
        assert!(holds(r#"service=~"pay|payments""#, &incident));
        assert!(holds(r#"service!~"pay""#, &incident));
    }

    #[test]
    fn severity_is_compared_by_its_canonical_name() {
        let incident = incident(&[]);
        assert!(holds(r#"severity="high""#, &incident));
        assert!(holds(r#"severity="P2""#, &incident), "a synonym means the same severity");
        assert!(holds(r#"severity=~"critical|high""#, &incident));
        assert!(!holds(r#"severity!="error""#, &incident));
        assert!(refusal(r#"severity="sev1""#).contains("unknown severity `sev1`"));
        assert!(refusal(r#"status="closed""#).contains("unknown status `closed`"));
    }

    #[test]
    fn other_names_read_the_source_alert_labels() {
        let incident = incident(&[("region", "eu-west-1"), ("alertname", "HighLatency")]);
        assert!(holds(r#"region=~"eu-.*""#, &incident));
        assert!(!holds(r#"region!~"eu-.*""#, &incident));
        assert!(holds("alertname=HighLatency", &incident), "an unquoted value is allowed");
        assert!(holds(r#"  region = "eu-west-1"  "#, &incident), "spaces around the operator are allowed");
    }

    #[test]
    fn a_missing_label_reads_as_empty() {
        let incident = incident(&[]);
        assert!(holds(r#"region="""#, &incident));
        assert!(!holds(r#"region!="""#, &incident));
        assert!(holds(r#"region!~"eu-.*""#, &incident));
        assert!(!holds(r#"region=~".+""#, &incident));
        assert!(holds(r#"region=~".*""#, &incident));
    }

    #[test]
    fn quoted_values_follow_alertmanager_escapes() {
        let incident = incident(&[("host", r"api.example.com"), ("note", "say \"hi\"\\")]);
        assert!(holds(r#"host=~"api\.example\.com""#, &incident), "unknown escapes stay for the regex");
        assert!(!holds(r#"host=~"api\.example\.org""#, &incident));
        assert!(holds(r#"note="say \"hi\"\\""#, &incident));
    }

    /// Every refusal of the syntax is the domain's, tested there
    /// (`tocsin_domain::matcher`'s `refusals_say_what_was_wrong`); a routing file shows it as is.
    #[test]
    fn bad_matchers_say_what_is_wrong() {
        assert!(refusal(r#"service=="payments""#).contains("unknown operator `==`"));
        assert!(refusal(r#"service="payments",team="payments""#).ends_with("write one matcher per list item"));
    }

    #[test]
    fn a_matcher_displays_as_written() {
        let matcher = Matcher::parse(r#" region!~"eu-.*" "#).expect("parsing");
        assert_eq!(matcher.to_string(), r#"region!~"eu-.*""#);
    }
}
