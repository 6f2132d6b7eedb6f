//! Reading configuration from the environment. Each service has one typed config struct built
//! with [`Env`]; a missing or malformed variable stops start-up with a message naming it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {purpose}")]
    Missing { name: String, purpose: String },
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid { name: String, value: String, reason: String },
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Redacted too: a secret formatted into a message by mistake says so instead of leaking.
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

/// Only a string is a secret. Anything else is refused with an error that does not quote it:
/// serde's own "invalid type: integer `12345`" would put the value in a start-up error.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        struct SecretVisitor;

        impl SecretVisitor {
            fn refuse<E: serde::de::Error>() -> Result<Secret, E> {
                Err(E::custom("a secret must be a string (quote it)"))
            }
        }

        impl serde::de::Visitor<'_> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret::new(value))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }

            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                SecretVisitor::refuse()
            }
        }

        deserializer.deserialize_str(SecretVisitor)
    }
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads variables from a source: the process environment in services, a map in tests.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    pub fn from_process() -> Env {
        Env { lookup: Box::new(|name| std::env::var(name).ok()) }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        let map: std::collections::HashMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Env { lookup: Box::new(move |name| map.get(name).cloned()) }
    }

    /// The value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&self, name: &str, purpose: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::Missing { name: name.into(), purpose: purpose.into() })
    }

    pub fn secret(&self, name: &str, purpose: &str) -> Result<Secret, ConfigError> {
        self.required(name, purpose).map(Secret::new)
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.trim().parse().map_err(|error: T::Err| ConfigError::Invalid {
                name: name.into(),
                reason: error.to_string(),
                value,
            }),
        }
    }

    /// A duration such as `500ms`, `30s`, `5m` or `1h 30m`.
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => humantime::parse_duration(value.trim()).map_err(|error| ConfigError::Invalid {
                name: name.into(),
                reason: format!("{error} (write it like 500ms, 30s, 5m or 1h)"),
                value,
            }),
        }
    }

    /// A yes/no switch: true/false, yes/no, on/off, 1/0.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(ConfigError::Invalid { name: name.into(), value, reason: "expected true or false".into() }),
            },
        }
    }

    /// A value checked by `parse`, which explains what is wrong with it.
    pub fn with<T>(
        &self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => parse(&value).map_err(|reason| ConfigError::Invalid { name: name.into(), value, reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_name_the_variable() {
        let env = Env::from_pairs([("PORT", "80x"), ("WAIT", "30s"), ("ON", "yes"), ("BLANK", "  ")]);
        assert_eq!(env.duration_or("WAIT", Duration::ZERO).ok(), Some(Duration::from_secs(30)));
        assert_eq!(env.bool_or("ON", false).ok(), Some(true));
        assert_eq!(env.parse_or("MISSING", 7u16).ok(), Some(7));
        let error = env.parse_or("PORT", 0u16).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("PORT=\"80x\" is not valid"), "{error}");
        let error = env.required("BLANK", "the API token").err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error, "BLANK is not set: the API token");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
        assert_eq!(format!("{}", Secret::new("hunter2")), "***");
    }
}
