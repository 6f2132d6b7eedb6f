//! Severity of an alert and of the incident it opens, read from the `severity` label.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ordered from least to most urgent, so `>=` means "at least as urgent as".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    High,
    Critical,
}

impl Severity {
    /// What an alert without a recognisable `severity` label is treated as: it is worth a look, but
    /// nobody said it should wake anyone. The original label value is kept with the alert.
    pub const DEFAULT: Severity = Severity::Warning;

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Reads the names teams actually put in their rules (case-insensitive), including the common
    /// synonyms from PagerDuty and Opsgenie conventions.
    pub fn parse(value: &str) -> Option<Severity> {
        match value.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "p1" | "fatal" | "emergency" => Some(Severity::Critical),
            "high" | "error" | "major" | "p2" => Some(Severity::High),
            "warning" | "warn" | "minor" | "medium" | "p3" => Some(Severity::Warning),
            "info" | "informational" | "low" | "none" | "p4" | "p5" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn from_label(value: Option<&str>) -> Severity {
        value.and_then(Severity::parse).unwrap_or(Severity::DEFAULT)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Severity::parse(value).ok_or_else(|| format!("unknown severity `{value}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_and_case_are_understood() {
        assert_eq!(Severity::from_label(Some("CRITICAL")), Severity::Critical);
        assert_eq!(Severity::from_label(Some("page")), Severity::Critical);
        assert_eq!(Severity::from_label(Some("error")), Severity::High);
        assert_eq!(Severity::from_label(Some(" warn ")), Severity::Warning);
        assert_eq!(Severity::from_label(Some("info")), Severity::Info);
    }

    #[test]
    fn missing_or_unknown_severity_falls_back_to_warning() {
        assert_eq!(Severity::from_label(None), Severity::Warning);
        assert_eq!(Severity::from_label(Some("sev-unknown")), Severity::Warning);
    }

    #[test]
    fn severities_order_by_urgency() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::High > Severity::Warning);
        assert!(Severity::Warning > Severity::Info);
    }

    #[test]
    fn round_trips_through_its_name() {
        for severity in [Severity::Info, Severity::Warning, Severity::High, Severity::Critical] {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(severity));
        }
    }
}
