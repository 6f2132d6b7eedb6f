//! Label matchers in Alertmanager's syntax, which the people writing maintenance windows and
//! silences already know: `service="checkout"`, `env!="staging"`, `instance=~"db-[0-9]+"`,
//! `alertname!~"Watchdog|InfoInhibitor"`, alone or as a set, `{service="checkout", env=~"prod.*"}`.
//!
//! They mean what they mean in Alertmanager: a regular expression matches the whole value (it is
//! anchored, `^(?:…)$`), and a label the alert does not have counts as the empty value, so
//! `team=""` matches alerts without a team and `team!=""` only those with one. A set matches when
//! every matcher in it does. The JSON form ([`ApiMatcher`]) is the one of Alertmanager's
//! `/api/v2/silences`, so a matcher goes to Alertmanager as it was written here.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// The longest value a matcher takes, in bytes: longer than any label value ingest accepts.
pub const MAX_VALUE_BYTES: usize = 4096;
/// The most matchers in one set.
pub const MAX_MATCHERS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

/// One matcher: a label name, an operator, a value (a regular expression for `=~` and `!~`).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored expression, for the regex operators.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl Eq for Matcher {}

/// Why a matcher is refused; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error(
        "{0:?} is not a matcher: expected name, an operator (=, !=, =~, !~) and a value, as in service=\"checkout\""
    )]
    Syntax(String),
    #[error("{0:?} is not a label name: letters, digits and _, not starting with a digit")]
    Name(String),
    #[error("the value of {name} is over {MAX_VALUE_BYTES} bytes")]
    ValueTooLong { name: String },
    #[error("the value of {name} is not a regular expression: {reason}")]
    Regex { name: String, reason: String },
    #[error("the value {0:?} has an unfinished quote or escape")]
    Quoting(String),
    #[error("a set has at most {MAX_MATCHERS} matchers")]
    TooMany,
    #[error("a set needs at least one matcher")]
    Empty,
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        if !is_label_name(name) {
            return Err(MatcherError::Name(name.to_owned()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(MatcherError::ValueTooLong { name: name.to_owned() });
        }
        let regex = if op.is_regex() {
            let anchored = format!("^(?:{value})$");
            Some(
                regex::RegexBuilder::new(&anchored)
                    // Bounded, so that a window's matcher cannot cost unbounded memory.
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|error| MatcherError::Regex { name: name.to_owned(), reason: error.to_string() })?,
            )
        } else {
            None
        };
        Ok(Matcher { name: name.to_owned(), op, value: value.to_owned(), regex })
    }

    /// One matcher as Alertmanager writes it: `name`, an operator, and a value that is either in
    /// double quotes (with `\"`, `\\` and `\n` escapes) or bare up to the end.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let text = text.trim();
        let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
        let (name, rest) = text.split_at(name_end);
        let rest = rest.trim_start();
        let (op, value) =
            [("=~", MatchOp::Regex), ("!~", MatchOp::NotRegex), ("!=", MatchOp::NotEqual), ("=", MatchOp::Equal)]
                .into_iter()
                .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|value| (op, value.trim())))
                .ok_or_else(|| MatcherError::Syntax(text.to_owned()))?;
        if name.is_empty() {
            return Err(MatcherError::Syntax(text.to_owned()));
        }
        Matcher::new(name, op, &unquote(value)?)
    }

    /// Whether `labels` (an alert's, an incident's) satisfy it; a missing label is the empty value.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match (&self.regex, self.op) {
            (Some(regex), MatchOp::Regex) => regex.is_match(value),
            (Some(regex), MatchOp::NotRegex) => !regex.is_match(value),
            (_, MatchOp::Equal) => value == self.value,
            (_, MatchOp::NotEqual) => value != self.value,
            // A regex operator always has its expression (`new` compiles it).
            (None, _) => false,
        }
    }
}

impl fmt::Display for Matcher {
    /// `name="value"`, quoted and escaped so that [`Matcher::parse`] reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A set of matchers, `{a="b", c=~"d"}` or the same without braces; commas inside quotes are
/// part of the value.
pub fn parse_set(text: &str) -> Result<Vec<Matcher>, MatcherError> {
    let inner = text.trim();
    let inner = inner.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).unwrap_or(inner);
    let mut matchers = Vec::new();
    for part in split_outside_quotes(inner)? {
        if part.trim().is_empty() {
            continue;
        }
        if matchers.len() == MAX_MATCHERS {
            return Err(MatcherError::TooMany);
        }
        matchers.push(Matcher::parse(part)?);
    }
    if matchers.is_empty() {
        return Err(MatcherError::Empty);
    }
    Ok(matchers)
}

/// Whether every matcher of `set` matches `labels`.
pub fn all_match(set: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    set.iter().all(|matcher| matcher.matches(labels))
}

/// A matcher as Alertmanager's API v2 writes it (a silence's `matchers`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// Absent in Alertmanager before 0.22, where it meant `true`.
    #[serde(default = "equal_by_default")]
    pub is_equal: bool,
}

fn equal_by_default() -> bool {
    true
}

impl From<&Matcher> for ApiMatcher {
    fn from(matcher: &Matcher) -> ApiMatcher {
        ApiMatcher {
            name: matcher.name.clone(),
            value: matcher.value.clone(),
            is_regex: matcher.op.is_regex(),
            is_equal: matcher.op.is_equal(),
        }
    }
}

impl TryFrom<&ApiMatcher> for Matcher {
    type Error = MatcherError;

    fn try_from(api: &ApiMatcher) -> Result<Matcher, MatcherError> {
        let op = match (api.is_regex, api.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(&api.name, op, &api.value)
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as written: inside double quotes with escapes, or bare.
fn unquote(value: &str) -> Result<String, MatcherError> {
    let Some(quoted) = value.strip_prefix('"') else {
        return Ok(value.to_owned());
    };
    let Some(body) = quoted.strip_suffix('"') else {
        return Err(MatcherError::Quoting(value.to_owned()));
    };
    let mut unquoted = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => unquoted.push('\n'),
                Some(escaped @ ('"' | '\\')) => unquoted.push(escaped),
                // Regular expressions keep their own escapes (`\d`, `\.`).
                Some(other) => {
                    unquoted.push('\\');
                    unquoted.push(other);
                }
                None => return Err(MatcherError::Quoting(value.to_owned())),
            },
            '"' => return Err(MatcherError::Quoting(value.to_owned())),
            c => unquoted.push(c),
        }
    }
    Ok(unquoted)
}

/// The parts of `text` between commas that are not inside double quotes.
fn split_outside_quotes(text: &str) -> Result<Vec<&str>, MatcherError> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(MatcherError::Quoting(text[start..].to_owned()));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    fn matches(text: &str, pairs: &[(&str, &str)]) -> bool {
        Matcher::parse(text).expect("a matcher").matches(&labels(pairs))
    }

    #[test]
    fn each_operator_means_what_it_means_in_alertmanager() {
        let checkout = [("service", "checkout"), ("env", "prod-eu")];
        assert!(matches(r#"service="checkout""#, &checkout));
        assert!(!matches(r#"service="check""#, &checkout));
        assert!(matches(r#"service!="payments""#, &checkout));
        assert!(!matches(r#"service!="checkout""#, &checkout));
        assert!(matches(r#"env=~"prod.*""#, &checkout));
        // Anchored: a regex matches the whole value, not a part of it.
        assert!(!matches(r#"env=~"prod""#, &checkout));
        assert!(!matches(r#"env=~"eu""#, &checkout));
        assert!(matches(r#"env!~"staging|dev""#, &checkout));
        assert!(!matches(r#"env!~"prod-.+""#, &checkout));
    }

    #[test]
    fn a_missing_label_is_the_empty_value() {
        let without_team = [("service", "checkout")];
        assert!(matches(r#"team="""#, &without_team));
        assert!(!matches(r#"team!="""#, &without_team));
        assert!(matches(r#"team=~".*""#, &without_team));
        assert!(!matches(r#"team=~".+""#, &without_team));
        assert!(matches(r#"team!="platform""#, &without_team));
    }

    #[test]
    fn values_may_be_quoted_with_escapes_or_bare() {
        let matcher = Matcher::parse(r#"summary = "say \"hi\", twice\\ \n""#).expect("quoted");
        assert_eq!(matcher.value, "say \"hi\", twice\\ \n");
        assert_eq!(Matcher::parse("service=checkout").expect("bare").value, "checkout");
        assert_eq!(Matcher::parse(r#"instance=~"db-\d+""#).expect("regex escapes").value, r"db-\d+");
        assert!(matches(r#"instance=~"db-\d+""#, &[("instance", "db-12")]));
    }

    #[test]
    fn a_matcher_reads_back_what_it_writes() {
        for text in [r#"a="b""#, r#"a!="x\"y""#, r#"a=~"p.*|q""#, r#"a!~"\\d""#, "a=\"line\\nbreak\""] {
            let matcher = Matcher::parse(text).expect(text);
            assert_eq!(Matcher::parse(&matcher.to_string()).expect("written"), matcher, "{text}");
        }
    }

    #[test]
    fn a_set_matches_when_every_matcher_does() {
        let set = parse_set(r#"{service="checkout", env=~"prod.*", summary="a, b"}"#).expect("a set");
        assert_eq!(set.len(), 3);
        assert_eq!(set[2].value, "a, b", "a comma inside quotes is part of the value");
        assert!(all_match(&set, &labels(&[("service", "checkout"), ("env", "prod"), ("summary", "a, b")])));
        assert!(!all_match(&set, &labels(&[("service", "checkout"), ("env", "dev"), ("summary", "a, b")])));
        assert_eq!(parse_set(r#"service="checkout", env="prod""#).expect("without braces").len(), 2);
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        assert!(matches!(Matcher::parse("service"), Err(MatcherError::Syntax(_))));
        assert!(matches!(Matcher::parse(r#"="x""#), Err(MatcherError::Syntax(_))));
        assert!(matches!(Matcher::parse(r#"9lives="x""#), Err(MatcherError::Name(_))));
        assert!(matches!(Matcher::parse(r#"a=~"(unclosed""#), Err(MatcherError::Regex { .. })));
        assert!(matches!(Matcher::parse(r#"a="open"#), Err(MatcherError::Quoting(_))));
        assert!(matches!(Matcher::parse(r#"a="in"side""#), Err(MatcherError::Quoting(_))));
        let long = format!(r#"a="{}""#, "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(matches!(Matcher::parse(&long), Err(MatcherError::ValueTooLong { .. })));
        assert_eq!(parse_set("{}"), Err(MatcherError::Empty));
        let many = (0..=MAX_MATCHERS).map(|n| format!("l{n}=\"v\"")).collect::<Vec<_>>().join(",");
        assert_eq!(parse_set(&many), Err(MatcherError::TooMany));
        assert!(parse_set(r#"a="x, b="y""#).is_err(), "an unfinished quote in a set");
    }

    #[test]
    fn the_api_form_is_alertmanagers() {
        let matcher = Matcher::parse(r#"env!~"dev|test""#).expect("a matcher");
        let api = ApiMatcher::from(&matcher);
        assert_eq!(
            serde_json::to_value(&api).expect("json"),
            serde_json::json!({"name": "env", "value": "dev|test", "isRegex": true, "isEqual": false})
        );
        assert_eq!(Matcher::try_from(&api).expect("back"), matcher);
        let before_0_22: ApiMatcher =
            serde_json::from_value(serde_json::json!({"name": "a", "value": "b", "isRegex": false})).expect("old form");
        assert_eq!(Matcher::try_from(&before_0_22).expect("equal").op, MatchOp::Equal);
    }
}
