//! Label matchers in Alertmanager's syntax, which the people writing maintenance windows and
//! silences already know: `service="checkout"`, `env!="staging"`, `instance=~"db-[0-9]+"`,
//! `alertname!~"Watchdog|InfoInhibitor"`, alone or as a set, `{service="checkout", env=~"prod.*"}`.
//!
//! One implementation for all of tocsin: the notifier's routing rules read an incident's fields
//! through it, maintenance windows and silences an alert's labels.
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

/// Why a matcher is refused: one line naming the matcher as written and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

impl Matcher {
    /// A matcher of `name` by `op` and `value` (a regular expression for `=~` and `!~`).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        let written = || format!("{name}{}{value:?}", op.as_str());
        if !is_label_name(name) {
            return Err(MatcherError(format!("`{}`: `{name}` is not a label name", written())));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(MatcherError(format!("the value of `{name}` is over {MAX_VALUE_BYTES} bytes")));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(anchored(value).map_err(|reason| MatcherError(format!("`{}`: {reason}", written())))?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { name: name.to_owned(), op, value: value.to_owned(), regex })
    }

    /// One matcher as Alertmanager writes it: a label name, an operator, and a value that is bare
    /// or in double quotes with `\"`, `\\` and `\n` escapes (any other backslash is kept, so a
    /// regex like `"api\.example\.com"` reads as written: Alertmanager's rule). Spaces around the
    /// operator are allowed.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let written = text.trim();
        let refused = |reason: String| MatcherError(format!("`{written}`: {reason}"));
        let name_end =
            written.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(written.len());
        let (name, rest) = written.split_at(name_end);
        if name.is_empty() {
            return Err(MatcherError(format!(
                "`{written}` is not a matcher: expected a label name, an operator (=, !=, =~ or !~) and a value, \
                 such as service=\"payments\""
            )));
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(refused(format!("the label name `{name}` must not start with a digit")));
        }
        let rest = rest.trim_start();
        let operator_end = rest.find(|c: char| !matches!(c, '=' | '!' | '~' | '<' | '>')).unwrap_or(rest.len());
        let (operator, value) = rest.split_at(operator_end);
        let value = unquote(value.trim_start()).map_err(|reason| {
            // Alertmanager also takes `a="1",b="2"` in one string; a set is parsed by `parse_set`.
            let hint = if written.contains(',') { "; write one matcher per list item" } else { "" };
            refused(format!("{reason}{hint}"))
        })?;
        let op = match operator {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            "!~" => MatchOp::NotRegex,
            "" => return Err(refused(format!("no operator after `{name}`: use =, !=, =~ or !~"))),
            other => return Err(refused(format!("unknown operator `{other}`, expected =, !=, =~ or !~"))),
        };
        if value.len() > MAX_VALUE_BYTES {
            return Err(refused(format!("the value is over {MAX_VALUE_BYTES} bytes")));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(anchored(&value).map_err(refused)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { name: name.to_owned(), op, value, regex })
    }

    /// Whether `value` satisfies the matcher (the empty string for a label that is not there).
    pub fn matches_value(&self, value: &str) -> bool {
        match (&self.regex, self.op) {
            (Some(regex), MatchOp::Regex) => regex.is_match(value),
            (Some(regex), MatchOp::NotRegex) => !regex.is_match(value),
            (_, MatchOp::Equal) => value == self.value,
            (_, MatchOp::NotEqual) => value != self.value,
            // A regex operator always has its expression (`new` and `parse` compile it).
            (None, _) => false,
        }
    }

    /// Whether `labels` (an alert's) satisfy it; a missing label is the empty value.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
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
            return Err(MatcherError(format!("`{text}`: a set has at most {MAX_MATCHERS} matchers")));
        }
        matchers.push(Matcher::parse(part)?);
    }
    if matchers.is_empty() {
        return Err(MatcherError(format!("`{text}`: a set needs at least one matcher")));
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
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `pattern` anchored at both ends, as Alertmanager reads it: `=~"pay"` does not match `payments`.
fn anchored(pattern: &str) -> Result<Regex, String> {
    // Compiled alone first so that the message points into the pattern as written, on one line.
    let describe = |error: regex::Error| {
        let text = error.to_string();
        let reason = text.lines().rev().find_map(|line| line.strip_prefix("error: ")).unwrap_or(&text).to_owned();
        format!("invalid regular expression `{pattern}`: {reason}")
    };
    let compile = |pattern: &str| {
        // Bounded, so that a matcher someone wrote cannot cost unbounded memory.
        regex::RegexBuilder::new(pattern).size_limit(1 << 20).build()
    };
    compile(pattern).map_err(describe)?;
    compile(&format!("^(?:{pattern})$")).map_err(describe)
}

/// The value after the operator: bare, or in double quotes with `\"`, `\\` and `\n` escapes.
/// Any other backslash is kept, for regular expressions.
fn unquote(raw: &str) -> Result<String, String> {
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(body) => match body.strip_suffix('"').filter(|inner| !ends_in_escape(inner)) {
            Some(inner) => (inner, true),
            None => return Err("the value's closing double quote is missing".to_owned()),
        },
        None => (raw, false),
    };
    let mut value = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some(escaped @ ('"' | '\\')) => value.push(escaped),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            '"' if quoted => return Err("the value has a double quote inside: write it as \\\"".to_owned()),
            '"' => return Err("the value has a double quote without an opening one: quote the whole value".to_owned()),
            other => value.push(other),
        }
    }
    Ok(value)
}

/// Whether `text` ends in a backslash that escapes what follows (an odd run of backslashes).
fn ends_in_escape(text: &str) -> bool {
    text.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
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
        return Err(MatcherError(format!("`{text}`: a double quote is not closed")));
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

    fn refusal(text: &str) -> String {
        match Matcher::parse(text) {
            Ok(parsed) => panic!("`{text}` parsed as {parsed:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        assert!(refusal(r#"service=="payments""#).contains("unknown operator `==`"));
        assert!(refusal(r#"service~="payments""#).contains("unknown operator `~=`"));
        assert!(refusal(r#"service>="payments""#).contains("unknown operator `>=`"));
        assert!(refusal(r#"service "payments""#).contains("no operator after `service`"));
        assert!(refusal(r#"="payments""#).contains("expected a label name"));
        assert!(refusal(r#"{service="payments"}"#).contains("expected a label name"));
        assert!(refusal(r#"1abc="x""#).contains("must not start with a digit"));
        assert!(refusal(r#"service="payments"#).contains("closing double quote is missing"));
        assert!(refusal(r#"service="pay\""#).contains("closing double quote is missing"));
        assert!(refusal(r#"service="pay"ments""#).contains("double quote inside"));
        assert!(refusal(r#"service=pay"ments"#).contains("double quote without an opening one"));
        assert!(refusal(r#"service="payments",team="payments""#).ends_with("write one matcher per list item"));
        let bad_regex = refusal(r#"service=~"(payments""#);
        assert!(
            bad_regex.starts_with("`service=~\"(payments\"`: invalid regular expression `(payments`"),
            "{bad_regex}"
        );
        assert!(!bad_regex.contains('\n'), "one line: {bad_regex}");
        let long = format!(r#"a="{}""#, "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(refusal(&long).contains("over 4096 bytes"));
        assert!(parse_set("{}").is_err_and(|error| error.0.contains("at least one matcher")));
        let many = (0..=MAX_MATCHERS).map(|n| format!("l{n}=\"v\"")).collect::<Vec<_>>().join(",");
        assert!(parse_set(&many).is_err_and(|error| error.0.contains("at most 32 matchers")));
        assert!(parse_set(r#"a="x, b="y""#).is_err(), "an unfinished quote in a set");
        assert!(Matcher::new("9lives", MatchOp::Equal, "x").is_err());
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
