//! Correlation: which open incident a new alert joins. Alerts whose key is equal belong to the same
//! open incident; the database enforces "one open incident per key" with a partial unique index, so
//! two replicas racing for a key still produce one incident.
//!
//! A key is made of label values, so it is as long as they are. PostgreSQL's btree holds at most
//! about 2.7 kB per entry, so the indexes hold the key's SHA-256 digest ([`CorrelationKey::digest`],
//! the `correlation_digest` column) and the key itself is kept beside it, readable.

use crate::facts::IncidentFacts;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelationField {
    Service,
    Environment,
    Severity,
    Team,
    /// Any alert label, written `label:NAME` in configuration (for example `label:cluster`).
    Label(String),
}

impl CorrelationField {
    fn name(&self) -> String {
        match self {
            CorrelationField::Service => "service".into(),
            CorrelationField::Environment => "environment".into(),
            CorrelationField::Severity => "severity".into(),
            CorrelationField::Team => "team".into(),
            CorrelationField::Label(name) => format!("label:{name}"),
        }
    }
}

/// The fields that make up the key, in order. The default is DESIGN.md's: service, environment,
/// severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationRule {
    fields: Vec<CorrelationField>,
}

impl Default for CorrelationRule {
    fn default() -> Self {
        CorrelationRule {
            fields: vec![CorrelationField::Service, CorrelationField::Environment, CorrelationField::Severity],
        }
    }
}

impl CorrelationRule {
    /// Reads a comma-separated list such as `service,environment,severity,label:cluster`.
    pub fn parse(spec: &str) -> Result<CorrelationRule, String> {
        let mut fields = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let field = match part {
                "service" => CorrelationField::Service,
                "environment" => CorrelationField::Environment,
                "severity" => CorrelationField::Severity,
                "team" => CorrelationField::Team,
                other => match other.strip_prefix("label:") {
                    Some(name) if !name.is_empty() => CorrelationField::Label(name.to_owned()),
                    _ => {
                        return Err(format!(
                            "unknown correlation field `{other}` (expected service, environment, \
                             severity, team or label:NAME)"
                        ));
                    }
                },
            };
            if fields.contains(&field) {
                return Err(format!("correlation field `{part}` is listed twice"));
            }
            fields.push(field);
        }
        if fields.is_empty() {
            return Err("the correlation rule names no field".into());
        }
        Ok(CorrelationRule { fields })
    }

    pub fn key(&self, facts: &IncidentFacts, labels: &BTreeMap<String, String>) -> CorrelationKey {
        let parts: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|field| {
                let value = match field {
                    CorrelationField::Service => facts.service.clone(),
                    CorrelationField::Environment => facts.environment.clone(),
                    CorrelationField::Severity => facts.severity.as_str().to_owned(),
                    CorrelationField::Team => facts.team.clone(),
                    CorrelationField::Label(name) => labels.get(name).cloned().unwrap_or_default(),
                };
                (field.name(), value)
            })
            .collect();
        // JSON keeps the key unambiguous whatever the label values contain, and readable in SQL.
        CorrelationKey(serde_json::to_string(&parts).unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorrelationKey(String);

impl CorrelationKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database indexes the key by: see [`digest`].
    pub fn digest(&self) -> Vec<u8> {
        digest(&self.0)
    }
}

/// The SHA-256 of a correlation key's UTF-8 bytes: 32 bytes whatever the key's length. PostgreSQL
/// computes the same for every incident (`correlation_digest(correlation_key)`, a generated column),
/// and lookups compare the two.
pub fn digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

impl fmt::Display for CorrelationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::TeamMapping;

    fn facts_of(labels: &[(&str, &str)]) -> (IncidentFacts, BTreeMap<String, String>) {
        let labels: BTreeMap<_, _> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        (IncidentFacts::from_alert(&labels, &BTreeMap::new(), &TeamMapping::default()), labels)
    }

    #[test]
    fn instances_of_one_service_share_a_key() {
        let rule = CorrelationRule::default();
        let (a, la) =
            facts_of(&[("service", "web"), ("environment", "prod"), ("severity", "critical"), ("instance", "1")]);
        let (b, lb) =
            facts_of(&[("service", "web"), ("environment", "prod"), ("severity", "critical"), ("instance", "2")]);
        let (c, lc) = facts_of(&[("service", "web"), ("environment", "prod"), ("severity", "warning")]);
        assert_eq!(rule.key(&a, &la), rule.key(&b, &lb));
        assert_ne!(rule.key(&a, &la), rule.key(&c, &lc));
        assert_eq!(rule.key(&a, &la).as_str(), r#"[["service","web"],["environment","prod"],["severity","critical"]]"#);
    }

    #[test]
    fn label_fields_split_incidents_by_that_label() {
        let rule = CorrelationRule::parse("service, label:cluster").unwrap_or_default();
        let (a, la) = facts_of(&[("service", "web"), ("cluster", "eu")]);
        let (b, lb) = facts_of(&[("service", "web"), ("cluster", "us")]);
        assert_ne!(rule.key(&a, &la), rule.key(&b, &lb));
    }

    #[test]
    fn a_key_of_any_length_has_a_32_byte_digest() {
        let rule = CorrelationRule::default();
        let long_service = "s".repeat(10_000);
        let (facts, labels) = facts_of(&[("service", &long_service)]);
        let key = rule.key(&facts, &labels);
        assert!(key.as_str().len() > 10_000);
        assert_eq!(key.digest().len(), 32);
        // The SHA-256 of `abc`, as PostgreSQL's sha256('abc') gives it.
        assert_eq!(
            digest("abc").iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_rules_are_named() {
        assert!(CorrelationRule::parse("service,colour").is_err_and(|e| e.contains("`colour`")));
        assert!(CorrelationRule::parse("service,service").is_err_and(|e| e.contains("twice")));
        assert!(CorrelationRule::parse(" , ").is_err());
    }
}
