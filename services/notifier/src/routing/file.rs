//! The routing file as written. Every value that can be judged on its own (a matcher, an event
//! name, a severity, a repository, an address) is checked while serde reads it, so that serde's
//! error carries that value's line. What needs the whole file (a route's targets exist, a target
//! has exactly one kind, its secrets resolve) is checked afterwards, in `super::build`.

use super::matcher::Matcher;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use tocsin_domain::{EventKind, Severity};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    pub targets: Targets,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    pub default_route: Option<DefaultRouteFile>,
}

/// The targets in the order of the file. A name given twice is refused at its second occurrence
/// (a plain map would keep the last one without a word).
pub struct Targets(pub Vec<(String, TargetFile)>);

/// One key per kind; `super::build` checks that exactly one is there, and names the line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    pub slack: Option<SlackFile>,
    pub slack_webhook: Option<WebhookFile>,
    pub teams: Option<WebhookFile>,
    pub email: Option<EmailFile>,
    pub github: Option<GitHubFile>,
}

/// A target's one kind, once `TargetFile::into_kinds` has found it.
pub enum Kind {
    Slack(SlackFile),
    SlackWebhook(WebhookFile),
    Teams(WebhookFile),
    Email(EmailFile),
    GitHub(GitHubFile),
}

impl TargetFile {
    /// The kinds given, each with its key.
    pub fn into_kinds(self) -> Vec<(&'static str, Kind)> {
        let TargetFile { slack, slack_webhook, teams, email, github } = self;
        [
            slack.map(|kind| ("slack", Kind::Slack(kind))),
            slack_webhook.map(|kind| ("slack_webhook", Kind::SlackWebhook(kind))),
            teams.map(|kind| ("teams", Kind::Teams(kind))),
            email.map(|kind| ("email", Kind::Email(kind))),
            github.map(|kind| ("github", Kind::GitHub(kind))),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackFile {
    pub channel: SlackChannel,
    pub token_env: Option<EnvName>,
    pub token_file: Option<FilePath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    pub url_env: Option<EnvName>,
    pub url_file: Option<FilePath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailFile {
    #[serde(deserialize_with = "addresses")]
    pub to: Vec<Address>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubFile {
    pub repository: Repository,
    pub token_env: Option<EnvName>,
    pub token_file: Option<FilePath>,
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub name: Option<String>,
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    #[serde(deserialize_with = "target_names")]
    pub targets: Vec<String>,
    #[serde(default)]
    pub events: Events,
    #[serde(default = "lowest_severity", deserialize_with = "severity")]
    pub min_severity: Severity,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// A route without matchers, name or `continue`: it only applies when no route matched.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRouteFile {
    #[serde(deserialize_with = "target_names")]
    pub targets: Vec<String>,
    #[serde(default)]
    pub events: Events,
    #[serde(default = "lowest_severity", deserialize_with = "severity")]
    pub min_severity: Severity,
}

/// What a route sends when it does not say: every step of the lifecycle and what people write and
/// change (notes, edits), but not each alert joining or leaving the incident, which can be many.
pub const DEFAULT_EVENTS: [EventKind; 7] = [
    EventKind::Opened,
    EventKind::Acknowledged,
    EventKind::Resolved,
    EventKind::Reopened,
    EventKind::Assigned,
    EventKind::NoteAdded,
    EventKind::Edited,
];

pub const ALL_EVENTS: [EventKind; 9] = [
    EventKind::Opened,
    EventKind::Acknowledged,
    EventKind::Resolved,
    EventKind::Reopened,
    EventKind::Assigned,
    EventKind::NoteAdded,
    EventKind::Edited,
    EventKind::AlertAdded,
    EventKind::AlertResolved,
];

fn lowest_severity() -> Severity {
    Severity::Info
}

/// The word routing files used for `opened` before they used the domain's words. Still read, with a
/// warning (`super::Builder`), so that a file written then keeps working.
pub const OLD_OPENED: &str = "created";

/// A route's `events`: the kinds it sends, each once, and where the file wrote [`OLD_OPENED`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    pub kinds: Vec<EventKind>,
    /// Positions in the list (from 0) that say `created`.
    pub old_words: Vec<usize>,
}

/// What a route sends when it does not say.
impl Default for Events {
    fn default() -> Events {
        Events { kinds: DEFAULT_EVENTS.to_vec(), old_words: Vec::new() }
    }
}

/// An event kind by its domain name (`opened`, `alert_added`, ...), or by [`OLD_OPENED`].
fn parse_event(name: &str) -> Result<EventName, String> {
    match name.trim() {
        OLD_OPENED => Ok(EventName { kind: EventKind::Opened, old_word: true }),
        other => EventKind::parse(other).map(|kind| EventName { kind, old_word: false }).ok_or_else(|| {
            let known: Vec<&str> = ALL_EVENTS.into_iter().map(EventKind::as_str).collect();
            format!("unknown event `{other}`, expected one of {}", known.join(", "))
        }),
    }
}

fn parse_severity(name: &str) -> Result<Severity, String> {
    Severity::parse(name).ok_or_else(|| format!("unknown severity `{name}`, expected info, warning, high or critical"))
}

/// A Slack channel name (`#payments-oncall`) or id (`C0123456789`).
pub struct SlackChannel(pub String);

/// The name of an environment variable holding a secret.
#[derive(Clone)]
pub struct EnvName(pub String);

/// A file holding a secret.
#[derive(Clone)]
pub struct FilePath(pub PathBuf);

/// `owner/name`.
pub struct Repository(pub String);

pub struct Address(pub String);

pub struct Label(pub String);

impl<'de> Deserialize<'de> for SlackChannel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SlackChannel, D::Error> {
        scalar(deserializer, "a Slack channel name or id", |text| {
            let channel = text.trim();
            if channel.is_empty() {
                // The usual cause: `channel: #payments` is a comment to YAML.
                Err("the channel is empty; quote a name that starts with # (\"#payments\"), \
                     YAML reads an unquoted # as the start of a comment"
                    .to_owned())
            } else if channel.contains(char::is_whitespace) {
                Err(format!("`{channel}` is not a Slack channel: a channel name has no spaces"))
            } else {
                Ok(SlackChannel(channel.to_owned()))
            }
        })
    }
}

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EnvName, D::Error> {
        scalar(deserializer, "the name of an environment variable", |text| {
            let name = text.trim();
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                Ok(EnvName(name.to_owned()))
            } else {
                // Not echoed: a mistaken value here is most likely the secret itself.
                Err("expected the name of an environment variable (letters, digits and _, such as \
                     SLACK_BOT_TOKEN), not the secret itself; the value is not repeated here"
                    .to_owned())
            }
        })
    }
}

impl<'de> Deserialize<'de> for FilePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FilePath, D::Error> {
        scalar(deserializer, "the path of a file", |text| match text.trim() {
            "" => Err("the file path is empty".to_owned()),
            path => Ok(FilePath(PathBuf::from(path))),
        })
    }
}

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Repository, D::Error> {
        scalar(deserializer, "a GitHub repository as owner/name", |text| {
            let repository = text.trim();
            let part_ok =
                |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            match repository.split_once('/') {
                Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(Repository(repository.to_owned())),
                _ => Err(format!(
                    "`{repository}` is not a GitHub repository: write it as owner/name, such as acme/payments"
                )),
            }
        })
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        scalar(deserializer, "an e-mail address", |text| {
            let address = text.trim();
            match address.split_once('@') {
                Some((local, domain))
                    if !local.is_empty() && !domain.is_empty() && !address.contains(char::is_whitespace) =>
                {
                    Ok(Address(address.to_owned()))
                }
                _ => Err(format!("`{address}` is not an e-mail address")),
            }
        })
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        scalar(deserializer, "a GitHub label", |text| match text.trim() {
            "" => Err("a label is empty".to_owned()),
            label => Ok(Label(label.to_owned())),
        })
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Matcher, D::Error> {
        scalar(deserializer, "a matcher such as service=\"payments\"", Matcher::parse)
    }
}

struct EventName {
    kind: EventKind,
    old_word: bool,
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventName, D::Error> {
        scalar(deserializer, "an event name", parse_event)
    }
}

fn severity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
    scalar(deserializer, "a severity", parse_severity)
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Events, D::Error> {
        let names: Vec<EventName> = non_empty(deserializer, "a list of events")?;
        let mut events = Events { kinds: Vec::with_capacity(names.len()), old_words: Vec::new() };
        for (position, name) in names.into_iter().enumerate() {
            if name.old_word {
                events.old_words.push(position);
            }
            if !events.kinds.contains(&name.kind) {
                events.kinds.push(name.kind);
            }
        }
        Ok(events)
    }
}

fn target_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    non_empty(deserializer, "a list of target names")
}

fn addresses<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Address>, D::Error> {
    non_empty(deserializer, "a list of e-mail addresses")
}

/// A scalar turned into `T` by `parse`. The error is raised while serde_yaml_ng is on the scalar, so
/// it carries the scalar's own line.
fn scalar<'de, D, T, F>(deserializer: D, expecting: &'static str, parse: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct Scalar<F> {
        expecting: &'static str,
        parse: F,
    }

    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Scalar<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Scalar { expecting, parse })
}

/// A list that must have at least one item; an empty one is refused on the line of its `[]`.
fn non_empty<'de, D, T>(deserializer: D, expecting: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct NonEmpty<T> {
        expecting: &'static str,
        item: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for NonEmpty<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            if items.is_empty() {
                return Err(de::Error::custom(format!("the list is empty; expected {}", self.expecting)));
            }
            Ok(items)
        }
    }

    deserializer.deserialize_seq(NonEmpty { expecting, item: PhantomData })
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Targets, D::Error> {
        deserializer.deserialize_map(TargetsVisitor)
    }
}

struct TargetsVisitor;

impl<'de> Visitor<'de> for TargetsVisitor {
    type Value = Targets;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping from target names to targets")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Targets, A::Error> {
        let mut targets: Vec<(String, TargetFile)> = Vec::new();
        while let Some(name) = map.next_key_seed(NewTargetName { taken: &targets })? {
            let target = map.next_value()?;
            targets.push((name, target));
        }
        Ok(Targets(targets))
    }
}

/// A target's name, read as a key so that a bad or repeated name is reported on its own line.
struct NewTargetName<'a> {
    taken: &'a [(String, TargetFile)],
}

impl<'de> DeserializeSeed<'de> for NewTargetName<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        scalar(deserializer, "a target name", |name| {
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                Err(format!("`{name}` is not a valid target name: use letters, digits, -, _ and ."))
            } else if self.taken.iter().any(|(taken, _)| taken == name) {
                Err(format!("the target `{name}` is defined twice"))
            } else {
                Ok(name.to_owned())
            }
        })
    }
}
