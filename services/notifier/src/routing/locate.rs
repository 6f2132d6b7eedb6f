//! Finds the line of a node in the routing file, for the checks that can only run after parsing (a
//! route naming a target that does not exist, a secret that cannot be read).
//!
//! serde_yaml_ng keeps no positions in the values it returns; only its errors carry one, the position
//! of the node being read when the error was raised. So this reads the text again, walking down a
//! path, and raises an error on purpose at the node wanted: that error's location is the node's
//! line. Exact whatever the style (block or flow, anchors), and it only runs when there is already
//! an error to report.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One step down from the top of the file: a mapping key, or a position in a list (from 0).
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The message of the probe's own error, so that it is not mistaken for anything else.
const FOUND: &str = "\u{0}routing-locate-found";

/// The 1-based line of the node at `path`. For a final `Key` step that is the line of the key
/// itself; for a final `Index` step the line where the list item starts.
pub fn line_of(text: &str, path: &[Step<'_>]) -> Option<usize> {
    let error = Probe { path }.deserialize(serde_yaml_ng::Deserializer::from_str(text)).err()?;
    if !error.to_string().contains(FOUND) {
        return None;
    }
    error.location().map(|location| location.line())
}

/// Renders a path the way serde_yaml_ng names one in its own messages: `routes[2].targets[0]`.
pub fn display(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

struct Probe<'p> {
    path: &'p [Step<'p>],
}

impl Probe<'_> {
    /// A scalar: the node wanted if the path ends here, otherwise not on the path.
    fn leaf<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() { Err(E::custom(FOUND)) } else { Ok(()) }
    }
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((step, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let wanted = match step {
            Step::Key(key) => Some(*key),
            Step::Index(_) => None,
        };
        // Every entry is read to the end: leaving some unread is an error of its own.
        while let Some(hit) = map.next_key_seed(KeyProbe { wanted, last: rest.is_empty() })? {
            if hit {
                map.next_value_seed(Probe { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((step, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let wanted = match step {
            Step::Index(index) => Some(*index),
            Step::Key(_) => None,
        };
        let mut index = 0;
        loop {
            let more = if Some(index) == wanted {
                seq.next_element_seed(Probe { path: rest })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// Reads a mapping key: says whether it is the one wanted, or fails there when the path ends on it.
struct KeyProbe<'a> {
    wanted: Option<&'a str>,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        let hit = self.wanted == Some(key);
        if hit && self.last { Err(E::custom(FOUND)) } else { Ok(hit) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::*;

    const TEXT: &str = "\
targets:
  a:
    slack: {channel: x, token_env: A}
  b:
    email:
      to:
        - x@example.com
routes:
  - name: first
    targets: [a,
      b]
  - targets:
      - b
      - a
";

    #[test]
    fn finds_keys_and_list_items_in_block_and_flow_style() {
        assert_eq!(line_of(TEXT, &[Key("targets"), Key("b")]), Some(4));
        assert_eq!(line_of(TEXT, &[Key("targets"), Key("a"), Key("slack"), Key("token_env")]), Some(3));
        assert_eq!(line_of(TEXT, &[Key("targets"), Key("b"), Key("email"), Key("to"), Index(0)]), Some(7));
        assert_eq!(line_of(TEXT, &[Key("routes"), Index(0)]), Some(9));
        assert_eq!(line_of(TEXT, &[Key("routes"), Index(0), Key("targets"), Index(1)]), Some(11));
        assert_eq!(line_of(TEXT, &[Key("routes"), Index(1), Key("targets"), Index(1)]), Some(14));
        assert_eq!(line_of(TEXT, &[Key("routes"), Index(1)]), Some(12));
    }

    #[test]
    fn a_path_that_is_not_there_has_no_line() {
        assert_eq!(line_of(TEXT, &[Key("targets"), Key("c")]), None);
        assert_eq!(line_of(TEXT, &[Key("routes"), Index(2)]), None);
        assert_eq!(line_of(TEXT, &[Key("routes"), Key("name")]), None);
    }

    #[test]
    fn paths_display_like_serde_yaml_paths() {
        assert_eq!(display(&[Key("routes"), Index(2), Key("targets"), Index(0)]), "routes[2].targets[0]");
        assert_eq!(display(&[Key("default_route"), Key("targets")]), "default_route.targets");
    }
}
