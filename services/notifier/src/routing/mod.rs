//! The routing file: which incident events go to which targets (a Slack channel, a webhook,
//! addresses, a GitHub repository: each one place on one channel, see `crate::channels`). Read
//! and checked once at start-up; a mistake stops the notifier with a message naming the file and
//! the line. Routes work as in Alertmanager's routing tree, flattened: tried in order, first match
//! wins unless a route says `continue`, and a default route takes what nothing matched. The format is documented for operators in `docs/routing.md`.
//!
//! Secrets (tokens, webhook URLs) are never in the file: it names an environment variable or a file
//! holding each one, read here through [`SecretSource`].

mod file;
mod locate;
mod matcher;

use file::{RoutingFile, TargetFile};
use locate::Step;
use std::fmt;
use std::path::Path;
use tocsin_domain::{EventKind, Incident, IncidentEvent, Severity};
use tocsin_runtime::Secret;

use matcher::Matcher;

/// Where secrets named by the routing file are read: the process environment and the filesystem
/// in the notifier, fixed values in tests.
pub trait SecretSource {
    fn var(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// Environment variables of this process and files on its filesystem.
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// What is wrong with the routing file; the message names the file and, when it can, the line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RoutingError(String);

impl RoutingError {
    fn new(source_name: &str, line: Option<usize>, message: impl fmt::Display) -> RoutingError {
        match line {
            Some(line) => RoutingError(format!("routing file {source_name}: line {line}: {message}")),
            None => RoutingError(format!("routing file {source_name}: {message}")),
        }
    }

    /// serde_yaml_ng's message ends with " at line L column C" (except at 1:1); the line moves to
    /// the front, where every routing error has it.
    fn from_yaml(source_name: &str, error: &serde_yaml_ng::Error) -> RoutingError {
        let message = error.to_string();
        match error.location() {
            Some(location) => {
                let position = format!(" at line {} column {}", location.line(), location.column());
                RoutingError::new(source_name, Some(location.line()), message.replacen(&position, "", 1))
            }
            None => RoutingError::new(source_name, None, message),
        }
    }
}

/// A target's channel and where on it to send.
#[derive(Debug, Clone)]
pub enum TargetKind {
    /// The tocsin Slack app (bot token): one message per incident, updated in place, steps in its
    /// thread, buttons.
    Slack {
        /// A name (`#payments-oncall`) or an id (`C0123456789`).
        slack_channel: String,
        token: Secret,
    },
    /// An incoming webhook: one message per event, no buttons.
    SlackWebhook {
        url: Secret,
    },
    Teams {
        url: Secret,
    },
    Email {
        to: Vec<String>,
    },
    GitHub {
        repository: String,
        token: Secret,
        labels: Vec<String>,
    },
}

/// A named place to send to, from the routing file: one channel, and where on it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
}

#[derive(Debug, Clone)]
struct Route {
    /// For logs; `None` for unnamed routes and the default route.
    name: Option<String>,
    matchers: Vec<Matcher>,
    /// Indices into `Routing::targets`.
    targets: Vec<usize>,
    events: Vec<EventKind>,
    min_severity: Severity,
    continue_matching: bool,
}

impl Route {
    fn matches(&self, incident: &Incident) -> bool {
        self.matchers.iter().all(|matcher| matcher.matches(incident))
    }

    /// Adds this route's targets to `chosen` if it sends this kind of event at this severity.
    fn choose(&self, event: &IncidentEvent, chosen: &mut Vec<usize>) {
        if !self.events.contains(&event.kind) || event.incident.severity < self.min_severity {
            return;
        }
        for &target in &self.targets {
            if !chosen.contains(&target) {
                chosen.push(target);
            }
        }
    }
}

/// The default is empty: no targets, nothing sent.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    targets: Vec<Target>,
    routes: Vec<Route>,
    default_route: Option<Route>,
    /// What the file says in a way that still works but should change, each placed like an error.
    warnings: Vec<String>,
}

impl Routing {
    /// Reads and checks a routing file's text; `source_name` (usually its path) starts every
    /// error message and every warning. Each warning is logged, and kept for [`Routing::warnings`].
    pub fn parse(source_name: &str, text: &str, secrets: &dyn SecretSource) -> Result<Routing, RoutingError> {
        let file = match serde_yaml_ng::from_str::<Option<RoutingFile>>(text) {
            Ok(Some(file)) => file,
            Ok(None) => {
                return Err(RoutingError::new(source_name, None, "the file is empty; it needs targets and routes"));
            }
            Err(error) => return Err(RoutingError::from_yaml(source_name, &error)),
        };
        let routing = Builder { source_name, text, secrets }.routing(file)?;
        for warning in &routing.warnings {
            tracing::warn!("{warning}");
        }
        Ok(routing)
    }

    pub fn load(path: &Path, secrets: &dyn SecretSource) -> Result<Routing, RoutingError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|error| RoutingError::new(&source_name, None, format!("cannot read it: {error}")))?;
        Routing::parse(&source_name, &text, secrets)
    }

    /// The simple case: one default route to one Slack channel, every event, any severity.
    pub fn single_slack_channel(slack_channel: String, token: Secret) -> Routing {
        Routing {
            targets: vec![Target { name: "slack".to_owned(), kind: TargetKind::Slack { slack_channel, token } }],
            routes: Vec::new(),
            default_route: Some(Route {
                name: None,
                matchers: Vec::new(),
                targets: vec![0],
                events: file::ALL_EVENTS.to_vec(),
                min_severity: Severity::Info,
                continue_matching: false,
            }),
            warnings: Vec::new(),
        }
    }

    /// What the file says in a way that still works but should change (the old word `created`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// In the order of the file.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter()
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|target| target.name == name)
    }

    /// Target names this event goes to, each once, in route order. A route matches on its matchers
    /// alone; its `events` and `min_severity` then decide what it sends, so an event it filters out
    /// goes nowhere rather than on to later routes: one incident stays with one set of routes for
    /// its whole life. The default route applies when no route matched.
    pub fn targets_for(&self, event: &IncidentEvent) -> Vec<&Target> {
        let mut chosen = Vec::new();
        let mut matched = false;
        for route in &self.routes {
            if !route.matches(&event.incident) {
                continue;
            }
            matched = true;
            tracing::debug!(
                event.id = %event.id,
                event.kind = event.kind.as_str(),
                route = route.name.as_deref().unwrap_or("(unnamed)"),
                "the route matches"
            );
            route.choose(event, &mut chosen);
            if !route.continue_matching {
                break;
            }
        }
        match (&self.default_route, matched) {
            (Some(default_route), false) => default_route.choose(event, &mut chosen),
            (None, false) if event.kind == EventKind::Opened => {
                // Once per incident rather than for each of its events.
                tracing::info!(
                    incident.id = %event.incident.id,
                    incident.service = %event.incident.service,
                    "no route matches the incident and there is no default route; it is sent nowhere"
                );
            }
            _ => {}
        }
        chosen.into_iter().filter_map(|index| self.targets.get(index)).collect()
    }

    /// No targets at all: nothing would ever be sent.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Turns the file as written into a [`Routing`], with the checks that need the whole file. Each
/// error is placed by finding its node in the text again (see `locate`).
struct Builder<'a> {
    source_name: &'a str,
    text: &'a str,
    secrets: &'a dyn SecretSource,
}

impl Builder<'_> {
    fn error_at(&self, at: &[Step<'_>], message: impl fmt::Display) -> RoutingError {
        RoutingError::new(self.source_name, locate::line_of(self.text, at), message)
    }

    fn routing(&self, file: RoutingFile) -> Result<Routing, RoutingError> {
        let mut warnings = Vec::new();
        let targets = file
            .targets
            .0
            .into_iter()
            .map(|(name, target)| self.target(name, target))
            .collect::<Result<Vec<_>, _>>()?;
        let routes = file
            .routes
            .into_iter()
            .enumerate()
            .map(|(index, route)| {
                let place = [Step::Key("routes"), Step::Index(index)];
                warnings.extend(self.old_words(&place, &route.events));
                Ok(Route {
                    targets: self.target_indices(&targets, &route.targets, &place)?,
                    name: route.name,
                    matchers: route.matchers,
                    events: route.events.kinds,
                    min_severity: route.min_severity,
                    continue_matching: route.continue_matching,
                })
            })
            .collect::<Result<Vec<_>, RoutingError>>()?;
        let default_route = match file.default_route {
            None => None,
            Some(route) => {
                let place = [Step::Key("default_route")];
                warnings.extend(self.old_words(&place, &route.events));
                Some(Route {
                    name: None,
                    matchers: Vec::new(),
                    targets: self.target_indices(&targets, &route.targets, &place)?,
                    events: route.events.kinds,
                    min_severity: route.min_severity,
                    continue_matching: false,
                })
            }
        };
        if routes.is_empty() && default_route.is_none() {
            return Err(RoutingError::new(
                self.source_name,
                None,
                "there are no routes and no default_route, so nothing would ever be sent",
            ));
        }
        Ok(Routing { targets, routes, default_route, warnings })
    }

    /// A warning for each `created` in the `events` of the route at `route`, placed like an error.
    fn old_words(&self, route: &[Step<'_>], events: &file::Events) -> Vec<String> {
        events
            .old_words
            .iter()
            .map(|&position| {
                let at = [route, &[Step::Key("events"), Step::Index(position)]].concat();
                let message = format!(
                    "{}: `{}` is the old word for `opened`; it is still read, but write `opened`",
                    locate::display(&at),
                    file::OLD_OPENED
                );
                RoutingError::new(self.source_name, locate::line_of(self.text, &at), message).to_string()
            })
            .collect()
    }

    fn target(&self, name: String, target: TargetFile) -> Result<Target, RoutingError> {
        let mut kinds = target.into_kinds().into_iter();
        let kind = match (kinds.next(), kinds.next()) {
            (None, _) => {
                return Err(self.error_at(
                    &[Step::Key("targets"), Step::Key(&name)],
                    format!(
                        "targets.{name}: says nowhere to send; give one of slack, slack_webhook, teams, email or github"
                    ),
                ));
            }
            (Some((first, _)), Some((second, _))) => {
                return Err(self.error_at(
                    &[Step::Key("targets"), Step::Key(&name), Step::Key(second)],
                    format!(
                        "targets.{name}: has both {first} and {second}; a target is one place to send to, \
                         so make two targets and list both in the route"
                    ),
                ));
            }
            (Some((_, only)), None) => only,
        };
        let place = |kind: &'static str| [Step::Key("targets"), Step::Key(&name), Step::Key(kind)];
        let kind = match kind {
            file::Kind::Slack(slack) => TargetKind::Slack {
                slack_channel: slack.channel.0,
                token: self.secret(
                    &place("slack"),
                    "token",
                    "the Slack bot token",
                    slack.token_env,
                    slack.token_file,
                    |_| Ok(()),
                )?,
            },
            file::Kind::SlackWebhook(webhook) => {
                TargetKind::SlackWebhook { url: self.url(&place("slack_webhook"), "the Slack webhook URL", webhook)? }
            }
            file::Kind::Teams(webhook) => {
                TargetKind::Teams { url: self.url(&place("teams"), "the Teams webhook URL", webhook)? }
            }
            file::Kind::Email(email) => {
                TargetKind::Email { to: email.to.into_iter().map(|address| address.0).collect() }
            }
            file::Kind::GitHub(github) => TargetKind::GitHub {
                repository: github.repository.0,
                token: self.secret(
                    &place("github"),
                    "token",
                    "the GitHub token",
                    github.token_env,
                    github.token_file,
                    |_| Ok(()),
                )?,
                labels: github.labels.into_iter().map(|label| label.0).collect(),
            },
        };
        Ok(Target { name, kind })
    }

    fn url(&self, place: &[Step<'_>], purpose: &str, webhook: file::WebhookFile) -> Result<Secret, RoutingError> {
        let is_url = |value: &str| {
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(())
            } else {
                Err("does not hold an http(s) URL; its value is not shown")
            }
        };
        self.secret(place, "url", purpose, webhook.url_env, webhook.url_file, is_url)
    }

    /// A secret from the environment variable `{field}_env` or the file `{field}_file` (exactly one
    /// of them), not empty and passing `check`. Messages name the variable or the file, never the
    /// value.
    fn secret(
        &self,
        place: &[Step<'_>],
        field: &str,
        purpose: &str,
        env: Option<file::EnvName>,
        file: Option<file::FilePath>,
        check: fn(&str) -> Result<(), &'static str>,
    ) -> Result<Secret, RoutingError> {
        let env_key = format!("{field}_env");
        let file_key = format!("{field}_file");
        let (key, holder, read) = match (env, file) {
            (None, None) => {
                let message = format!(
                    "{}: needs {env_key} (an environment variable) or {file_key} (a file) holding {purpose}",
                    locate::display(place)
                );
                return Err(self.error_at(place, message));
            }
            (Some(_), Some(_)) => {
                let at = [place, &[Step::Key(&file_key)]].concat();
                let message = format!("{}: {env_key} is also given; keep one of them", locate::display(&at));
                return Err(self.error_at(&at, message));
            }
            (Some(file::EnvName(name)), None) => {
                let read = self.secrets.var(&name).ok_or_else(|| "is not set".to_owned());
                (&env_key, format!("the environment variable {name}"), read)
            }
            (None, Some(file::FilePath(path))) => {
                let read = self.secrets.read_file(&path).map_err(|error| format!("cannot be read: {error}"));
                (&file_key, format!("the file {}", path.display()), read)
            }
        };
        let problem = match read.as_deref().map(str::trim) {
            Ok("") => "is empty".to_owned(),
            Ok(value) => match check(value) {
                Ok(()) => return Ok(Secret::new(value)),
                Err(problem) => problem.to_owned(),
            },
            Err(problem) => problem.clone(),
        };
        let at = [place, &[Step::Key(key)]].concat();
        Err(self.error_at(&at, format!("{}: {holder} ({purpose}) {problem}", locate::display(&at))))
    }

    fn target_indices(
        &self,
        targets: &[Target],
        names: &[String],
        route: &[Step<'_>],
    ) -> Result<Vec<usize>, RoutingError> {
        names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                targets.iter().position(|target| &target.name == name).ok_or_else(|| {
                    let at = [route, &[Step::Key("targets"), Step::Index(index)]].concat();
                    let defined = if targets.is_empty() {
                        "no targets are defined".to_owned()
                    } else {
                        let names: Vec<&str> = targets.iter().map(|target| target.name.as_str()).collect();
                        format!("the targets are {}", names.join(", "))
                    };
                    self.error_at(&at, format!("{}: there is no target `{name}`; {defined}", locate::display(&at)))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use time::OffsetDateTime;

    use uuid::Uuid;

    /// Every secret the fake hands out; no error message may contain any of them.
    const SECRET_VALUES: [&str; 4] = [
        "xoxb-bot-token-value",
        "https://hooks.example.com/services/T0/B0/webhook-value",
        "ghp_token_value",
        "not a url",
    ];

    struct FakeSecrets {
        vars: Vec<(&'static str, &'static str)>,
        files: Vec<(&'static str, &'static str)>,
    }

    impl FakeSecrets {
        fn new() -> FakeSecrets {
            FakeSecrets {
                vars: vec![
                    ("SLACK_BOT_TOKEN", "xoxb-bot-token-value"),
                    ("SLACK_PLATFORM_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/webhook-value"),
                    ("TEAMS_CHECKOUT_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/webhook-value"),
                    ("TOKEN", "xoxb-bot-token-value"),
                    ("HOOK", "https://hooks.example.com/services/T0/B0/webhook-value"),
                    ("SLACK_INCIDENTS_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/webhook-value"),
                    ("BLANK", "  \n"),
                    ("NOT_A_URL", "not a url"),
                ],
                files: vec![
                    (
                        "/run/secrets/tocsin/slack-incidents-webhook-url",
                        "https://hooks.example.com/services/T0/B0/webhook-value\n",
                    ),
                    ("/run/secrets/tocsin/github-token", "ghp_token_value\n"),
                    ("/run/secrets/empty", "\n"),
                ],
            }
        }
    }

    impl SecretSource for FakeSecrets {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.iter().find(|(var, _)| *var == name).map(|(_, value)| (*value).to_owned())
        }

        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            self.files
                .iter()
                .find(|(file, _)| Path::new(file) == path)
                .map(|(_, content)| (*content).to_owned())
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)")
                })
        }
    }

    fn parse(text: &str) -> Routing {
        Routing::parse("test.yaml", text, &FakeSecrets::new()).expect("parsing")
    }

    /// The error for `text`, checked to be on `line` and to show no secret.
    fn error_on_line(text: &str, line: usize) -> String {
        let error = match Routing::parse("test.yaml", text, &FakeSecrets::new()) {
            Ok(routing) => panic!("parsed: {routing:?}"),
            Err(error) => error.to_string(),
        };
        let prefix = format!("routing file test.yaml: line {line}: ");
        assert!(error.starts_with(&prefix), "expected `{prefix}...`, got: {error}");
        for secret in SECRET_VALUES {
            assert!(!error.contains(secret), "the message shows a secret: {error}");
        }
        error
    }

    fn incident(service: &str, environment: &str, team: &str, severity: Severity, labels: &[(&str, &str)]) -> Incident {
        let mut incident = Incident {
            title: format!("{service} is unwell"),
            service: service.to_owned(),
            environment: environment.to_owned(),
            severity,
            team: team.to_owned(),
            ..tocsin_testkit::open_incident(OffsetDateTime::UNIX_EPOCH)
        };
        incident.source_alert.fingerprint = "0f".to_owned();
        incident.source_alert.labels = tocsin_testkit::labels(labels);
        incident
    }

    fn event(kind: EventKind, incident: Incident) -> IncidentEvent {
        IncidentEvent {
            id: Uuid::nil(),
            kind,
            at: OffsetDateTime::UNIX_EPOCH,
            actor: "ana@example.com".to_owned(),
            incident,
            detail: serde_json::Value::Null,
            maintenance: None,
        }
    }

    fn sent_to<'r>(routing: &'r Routing, kind: EventKind, incident: &Incident) -> Vec<&'r str> {
        routing.targets_for(&event(kind, incident.clone())).into_iter().map(|target| target.name.as_str()).collect()
    }

    const EXAMPLE: &str = include_str!("../../../../docs/routing.example.yaml");

    #[test]
    fn the_example_file_parses_with_its_secrets() {
        let routing = Routing::parse("docs/routing.example.yaml", EXAMPLE, &FakeSecrets::new()).expect("parsing");
        let names: Vec<&str> = routing.targets().map(|target| target.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "payments-slack",
                "checkout-slack",
                "platform-webhook",
                "incidents-webhook",
                "checkout-teams",
                "sre-mail",
                "payments-github"
            ]
        );
        assert!(!routing.is_empty());
        assert_eq!(routing.warnings(), [] as [String; 0], "the example uses today's words");
        match routing.target("payments-slack").map(|target| &target.kind) {
            Some(TargetKind::Slack { slack_channel, token }) => {
                assert_eq!(slack_channel, "#payments-oncall");
                assert_eq!(token.expose(), "xoxb-bot-token-value");
            }
            other => panic!("payments-slack is {other:?}"),
        }
        match routing.target("incidents-webhook").map(|target| &target.kind) {
            Some(TargetKind::SlackWebhook { url }) => {
                assert_eq!(
                    url.expose(),
                    "https://hooks.example.com/services/T0/B0/webhook-value",
                    "file content is trimmed"
                );
            }
            other => panic!("incidents-webhook is {other:?}"),
        }
        match routing.target("payments-github").map(|target| &target.kind) {
            Some(TargetKind::GitHub { repository, token, labels }) => {
                assert_eq!(repository, "acme/payments");
                assert_eq!(token.expose(), "ghp_token_value");
                assert_eq!(labels, &["incident", "on-call"]);
            }
            other => panic!("payments-github is {other:?}"),
        }
        match routing.target("sre-mail").map(|target| &target.kind) {
            Some(TargetKind::Email { to }) => assert_eq!(to, &["sre@example.com", "sre-managers@example.com"]),
            other => panic!("sre-mail is {other:?}"),
        }
        assert!(matches!(routing.target("checkout-teams").map(|t| &t.kind), Some(TargetKind::Teams { .. })));
        assert!(routing.target("nowhere").is_none());
    }

    #[test]
    fn the_example_file_routes_as_its_comments_say() {
        use EventKind::*;
        use Severity::*;
        let routing = parse(EXAMPLE);

        let payments_critical = incident("payments-api", "production", "payments", Critical, &[]);
        assert_eq!(sent_to(&routing, Opened, &payments_critical), ["sre-mail", "payments-slack", "payments-github"]);
        assert_eq!(sent_to(&routing, Acknowledged, &payments_critical), ["payments-slack"]);
        assert_eq!(sent_to(&routing, Resolved, &payments_critical), ["sre-mail", "payments-slack", "payments-github"]);
        assert_eq!(sent_to(&routing, AlertAdded, &payments_critical), Vec::<&str>::new());

        let payments_warning = incident("payments", "production", "payments", Warning, &[]);
        assert_eq!(sent_to(&routing, Opened, &payments_warning), ["payments-slack"]);
        let payments_info = incident("payments", "production", "payments", Info, &[]);
        assert_eq!(sent_to(&routing, Opened, &payments_info), Vec::<&str>::new(), "filtered, not passed on to default");

        let payments_staging = incident("payments", "staging", "payments", High, &[]);
        assert_eq!(sent_to(&routing, Opened, &payments_staging), ["incidents-webhook"]);
        assert_eq!(sent_to(&routing, Acknowledged, &payments_staging), Vec::<&str>::new());
        let checkout_dev = incident("checkout", "dev", "checkout", Warning, &[]);
        assert_eq!(sent_to(&routing, Opened, &checkout_dev), Vec::<&str>::new());

        let checkout_high = incident("checkout", "production", "checkout", High, &[]);
        assert_eq!(sent_to(&routing, Opened, &checkout_high), ["checkout-teams", "checkout-slack"]);
        assert_eq!(sent_to(&routing, Assigned, &checkout_high), ["checkout-slack"]);
        let checkout_warning = incident("checkout", "production", "checkout", Warning, &[]);
        assert_eq!(sent_to(&routing, Opened, &checkout_warning), ["checkout-slack"]);

        let platform = incident("ingress", "production", "platform", Warning, &[("cluster", "prod-eu-1")]);
        assert_eq!(sent_to(&routing, AlertAdded, &platform), ["platform-webhook"]);
        let platform_unlabelled = incident("ingress", "production", "platform", Warning, &[]);
        assert_eq!(sent_to(&routing, AlertAdded, &platform_unlabelled), ["platform-webhook"]);
        let sandbox = incident("ingress", "production", "platform", Warning, &[("cluster", "sandbox-7")]);
        assert_eq!(sent_to(&routing, Opened, &sandbox), ["incidents-webhook"], "unmatched: the default route");
        assert_eq!(sent_to(&routing, AlertAdded, &sandbox), Vec::<&str>::new());

        let search_warning = incident("search", "production", "search", Warning, &[]);
        assert_eq!(sent_to(&routing, Opened, &search_warning), ["incidents-webhook"]);
        assert_eq!(sent_to(&routing, Reopened, &search_warning), Vec::<&str>::new());
        let search_info = incident("search", "production", "search", Info, &[]);
        assert_eq!(sent_to(&routing, Opened, &search_info), Vec::<&str>::new());
        let search_critical = incident("search", "production", "search", Critical, &[]);
        assert_eq!(
            sent_to(&routing, Opened, &search_critical),
            ["sre-mail"],
            "a continue route still counts as a match"
        );
    }

    #[test]
    fn the_routing_files_in_the_documentation_parse() {
        let guide = include_str!("../../../../docs/routing.md");
        let files: Vec<&str> = guide
            .split("```yaml\n")
            // Iterator step, not a skipped test: the text before the first YAML fence.
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .filter(|block| block.starts_with("targets:"))
            .collect();
        let [first_example, simple_case] = files[..] else {
            panic!("expected the first example and the simple case, found {} routing files", files.len());
        };
        let first_example = parse(first_example);
        assert_eq!(first_example.warnings(), [] as [String; 0], "the guide uses today's words");
        let payments = incident("payments", "production", "payments", Severity::Warning, &[]);
        assert_eq!(sent_to(&first_example, EventKind::Acknowledged, &payments), ["payments-slack"]);
        let search = incident("search", "production", "search", Severity::Info, &[]);
        assert_eq!(sent_to(&first_example, EventKind::Opened, &search), ["incidents"]);
        assert_eq!(sent_to(&first_example, EventKind::Acknowledged, &search), Vec::<&str>::new());

        // The Helm values' `notifier.routing: |` block, unindented.
        let helm_values = guide.split("```yaml\nnotifier:\n").nth(1).and_then(|block| block.split("```").next());
        let helm_routing: String = helm_values
            .unwrap_or_default()
            .lines()
            .skip_while(|line| *line != "  routing: |")
            // Iterator step: the `routing: |` line itself.
            .skip(1)
            .map_while(|line| line.strip_prefix("    "))
            .map(|line| format!("{line}\n"))
            .collect();
        let helm_routing = parse(&helm_routing);
        assert_eq!(helm_routing.targets().count(), 2);

        let simple = parse(simple_case);
        let quiet = incident("anything", "dev", "", Severity::Info, &[]);
        for kind in file::ALL_EVENTS {
            assert_eq!(sent_to(&simple, kind, &quiet), ["slack"], "the same as single_slack_channel: {kind:?}");
        }
    }

    const TARGETS: &str = "\
targets:
  a:
    slack: {channel: '#a', token_env: TOKEN}
  b:
    slack_webhook: {url_env: HOOK}
  c:
    email: {to: [c@example.com]}
";

    #[test]
    fn the_first_matching_route_wins() {
        let routing = parse(&format!(
            "{TARGETS}\
routes:
  - matchers: [team=payments]
    targets: [a]
  - matchers: [service=~\"pay.*\"]
    targets: [b]
"
        ));
        let payments = incident("payments", "production", "payments", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &payments), ["a"]);
        let other_team = incident("payments", "production", "checkout", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &other_team), ["b"]);
        let nobody = incident("search", "production", "search", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &nobody), Vec::<&str>::new(), "no default route: nowhere");
    }

    #[test]
    fn continue_keeps_matching_and_each_target_is_sent_once() {
        let routing = parse(&format!(
            "{TARGETS}\
routes:
  - matchers: [team=payments]
    targets: [a, b]
    continue: true
  - targets: [b, c]
    continue: true
  - targets: [a]
  - targets: [c]
"
        ));
        let payments = incident("payments", "production", "payments", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &payments), ["a", "b", "c"]);
        let other = incident("search", "production", "search", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &other), ["b", "c", "a"], "route order, stops at route 3");
    }

    #[test]
    fn the_default_route_takes_only_what_no_route_matched() {
        let routing = parse(&format!(
            "{TARGETS}\
routes:
  - matchers: [environment=production]
    targets: [a]
    min_severity: critical
default_route:
  targets: [c]
  events: [opened]
  min_severity: warning
"
        ));
        let production = incident("payments", "production", "payments", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &production), Vec::<&str>::new(), "matched, then filtered");
        let staging = incident("payments", "staging", "payments", Severity::High, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &staging), ["c"]);
        assert_eq!(sent_to(&routing, EventKind::Resolved, &staging), Vec::<&str>::new());
        let quiet = incident("payments", "staging", "payments", Severity::Info, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &quiet), Vec::<&str>::new());

        let only_default = parse(&format!("{TARGETS}default_route:\n  targets: [b]\n"));
        assert_eq!(sent_to(&only_default, EventKind::Opened, &quiet), ["b"]);
    }

    /// What `run` logged, as text, with what it returned.
    fn logged<T>(run: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut buffer) = self.0.lock() {
                    buffer.extend_from_slice(bytes);
                }
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let returned = tracing::subscriber::with_default(subscriber, run);
        let text = buffer.0.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
        (returned, text)
    }

    #[test]
    fn opened_is_the_word_and_the_old_created_is_still_read_with_a_warning() {
        let text = format!(
            "{TARGETS}\
routes:
  - matchers: [team=payments]
    targets: [a]
    events: [resolved, created]
default_route:
  targets: [b]
  events: [created]
"
        );
        let (routing, log) = logged(|| parse(&text));
        let payments = incident("payments", "production", "payments", Severity::Info, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &payments), ["a"]);
        let search = incident("search", "production", "search", Severity::Info, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &search), ["b"]);
        let line = TARGETS.lines().count();
        assert_eq!(
            routing.warnings(),
            [
                format!(
                    "routing file test.yaml: line {}: routes[0].events[1]: `created` is the old word for `opened`; \
                     it is still read, but write `opened`",
                    line + 4
                ),
                format!(
                    "routing file test.yaml: line {}: default_route.events[0]: `created` is the old word for \
                     `opened`; it is still read, but write `opened`",
                    line + 7
                ),
            ]
        );
        for warning in routing.warnings() {
            assert!(log.contains(warning) && log.contains("WARN"), "not logged: {warning}\n{log}");
        }

        let (routing, log) = logged(|| parse(&text.replace("created", "opened")));
        assert_eq!(sent_to(&routing, EventKind::Opened, &payments), ["a"]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &search), ["b"]);
        assert!(routing.warnings().is_empty() && log.is_empty(), "{log}");
    }

    #[test]
    fn events_default_to_the_lifecycle_and_can_be_chosen() {
        use EventKind::*;
        let routing = parse(&format!(
            "{TARGETS}\
routes:
  - matchers: [team=payments]
    targets: [a]
  - matchers: [team=checkout]
    targets: [b]
    events: [opened, alert_added, alert_resolved, opened]
"
        ));
        let payments = incident("payments", "production", "payments", Severity::Info, &[]);
        for kind in [Opened, Acknowledged, Resolved, Reopened, Assigned] {
            assert_eq!(sent_to(&routing, kind, &payments), ["a"], "{kind:?}");
        }
        for kind in [AlertAdded, AlertResolved] {
            assert_eq!(sent_to(&routing, kind, &payments), Vec::<&str>::new(), "{kind:?}");
        }
        let checkout = incident("checkout", "production", "checkout", Severity::Info, &[]);
        for kind in [Opened, AlertAdded, AlertResolved] {
            assert_eq!(sent_to(&routing, kind, &checkout), ["b"], "{kind:?}");
        }
        assert_eq!(sent_to(&routing, Acknowledged, &checkout), Vec::<&str>::new());
    }

    #[test]
    fn min_severity_is_inclusive_and_reads_synonyms() {
        let routing = parse(&format!("{TARGETS}routes:\n  - targets: [a]\n    min_severity: P2\n"));
        let at = |severity| incident("payments", "production", "payments", severity, &[]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &at(Severity::Critical)), ["a"]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &at(Severity::High)), ["a"]);
        assert_eq!(sent_to(&routing, EventKind::Opened, &at(Severity::Warning)), Vec::<&str>::new());
        let any = parse(&format!("{TARGETS}routes:\n  - targets: [a]\n"));
        assert_eq!(sent_to(&any, EventKind::Opened, &at(Severity::Info)), ["a"], "the default is info");
    }

    #[test]
    fn every_matcher_of_a_route_must_hold() {
        let routing = parse(&format!(
            "{TARGETS}\
routes:
  - matchers:
      - service=\"payments\"
      - environment!=\"staging\"
      - severity=~\"critical|high\"
      - region!~\"eu-.*\"
    targets: [a]
"
        ));
        let at = |environment, severity, labels| incident("payments", environment, "payments", severity, labels);
        assert_eq!(
            sent_to(&routing, EventKind::Opened, &at("production", Severity::High, &[("region", "us-east-1")])),
            ["a"]
        );
        assert_eq!(sent_to(&routing, EventKind::Opened, &at("production", Severity::High, &[])), ["a"], "no region");
        assert!(
            sent_to(&routing, EventKind::Opened, &at("production", Severity::High, &[("region", "eu-west-1")]))
                .is_empty()
        );
        assert!(sent_to(&routing, EventKind::Opened, &at("staging", Severity::High, &[])).is_empty());
        assert!(sent_to(&routing, EventKind::Opened, &at("production", Severity::Warning, &[])).is_empty());
    }

    #[test]
    fn a_matcher_with_a_colon_in_it_is_single_quoted_as_the_guide_says() {
        let routing =
            parse(&format!("{TARGETS}routes:\n  - matchers:\n      - 'title=~\".*: timeout\"'\n    targets: [a]\n"));
        let mut timeout = incident("payments", "production", "payments", Severity::High, &[]);
        timeout.title = "checkout: timeout".to_owned();
        assert_eq!(sent_to(&routing, EventKind::Opened, &timeout), ["a"]);
        let other = incident("payments", "production", "payments", Severity::High, &[]);
        assert!(sent_to(&routing, EventKind::Opened, &other).is_empty());
        let unquoted = error_on_line(
            &format!("{TARGETS}routes:\n  - matchers:\n      - title=~\".*: timeout\"\n    targets: [a]\n"),
            10,
        );
        assert!(unquoted.contains("expected a matcher"), "{unquoted}");
    }

    #[test]
    fn the_simple_case_sends_everything_to_one_slack_channel() {
        let routing = Routing::single_slack_channel("#oncall".to_owned(), Secret::new("xoxb-1"));
        let names: Vec<&str> = routing.targets().map(|target| target.name.as_str()).collect();
        assert_eq!(names, ["slack"]);
        let quiet = incident("anything", "dev", "", Severity::Info, &[]);
        for kind in file::ALL_EVENTS {
            assert_eq!(sent_to(&routing, kind, &quiet), ["slack"], "{kind:?}");
        }
        assert!(Routing::default().is_empty());
        assert!(Routing::default().targets_for(&event(EventKind::Opened, quiet)).is_empty());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_at_any_depth() {
        let error = error_on_line("targets:\n  a:\n    slack:\n      chanel: '#a'\n      token_env: TOKEN\n", 4);
        assert!(error.contains("targets.a.slack: unknown field `chanel`, expected one of `channel`"), "{error}");
        let error = error_on_line(&format!("{TARGETS}routes:\n  - targets: [a]\n    contine: true\n"), 10);
        assert!(error.contains("routes[0]: unknown field `contine`"), "{error}");
        let error = error_on_line(&format!("{TARGETS}default_route:\n  targets: [a]\n  matchers: [team=x]\n"), 10);
        assert!(error.contains("default_route: unknown field `matchers`"), "{error}");
        let error = error_on_line(&format!("{TARGETS}route:\n  - targets: [a]\n"), 8);
        assert!(error.contains("unknown field `route`"), "{error}");
        let error =
            error_on_line("targets:\n  a:\n    slack:\n      channel: '#a'\n      token: xoxb-bot-token-value\n", 5);
        assert!(error.contains("unknown field `token`"), "a secret in the file has no key to go in: {error}");
    }

    #[test]
    fn a_bad_matcher_is_named_with_its_line() {
        let routes = |matcher: &str| {
            format!("{TARGETS}routes:\n  - targets: [a]\n    matchers:\n      - team=payments\n      - {matcher}\n")
        };
        let error = error_on_line(&routes(r#"service=~"(payments""#), 12);
        assert!(error.contains("invalid regular expression `(payments`"), "{error}");
        let error = error_on_line(&routes(r#"service=="payments""#), 12);
        assert!(error.contains("unknown operator `==`"), "{error}");
        let error = error_on_line(&routes(r#"severity="sev1""#), 12);
        assert!(error.contains("unknown severity `sev1`"), "{error}");
        let error = error_on_line(&routes("service: payments"), 12);
        assert!(error.contains("expected a matcher such as service=\"payments\""), "{error}");
    }

    #[test]
    fn an_unknown_target_is_named_with_its_line() {
        let error =
            error_on_line(&format!("{TARGETS}routes:\n  - targets: [a]\n  - targets:\n      - a\n      - d\n"), 12);
        assert!(error.contains("routes[1].targets[1]: there is no target `d`; the targets are a, b, c"), "{error}");
        let error = error_on_line(&format!("{TARGETS}default_route:\n  targets: [a,\n    b, dd]\n"), 10);
        assert!(error.contains("default_route.targets[2]: there is no target `dd`"), "{error}");
    }

    #[test]
    fn an_unknown_event_or_severity_is_named_with_its_line() {
        let error = error_on_line(
            &format!("{TARGETS}routes:\n  - targets: [a]\n    events:\n      - opened\n      - closed\n"),
            12,
        );
        assert!(error.contains("unknown event `closed`, expected one of opened, acknowledged, resolved, reopened, assigned, note_added, edited, alert_added, alert_resolved"), "{error}");
        let error = error_on_line(&format!("{TARGETS}routes:\n  - targets: [a]\n    min_severity: sev2\n"), 10);
        assert!(error.contains("unknown severity `sev2`"), "{error}");
        let error = error_on_line(&format!("{TARGETS}default_route:\n  targets: [a]\n  events: []\n"), 10);
        assert!(error.contains("the list is empty; expected a list of events"), "{error}");
    }

    #[test]
    fn a_route_needs_targets() {
        let error = error_on_line(
            &format!("{TARGETS}routes:\n  - targets: [a]\n  - name: nowhere\n    matchers: [team=x]\n"),
            10,
        );
        assert!(error.contains("routes[1]: missing field `targets`"), "{error}");
        let error = error_on_line(&format!("{TARGETS}routes:\n  - name: nowhere\n    targets: []\n"), 10);
        assert!(error.contains("the list is empty; expected a list of target names"), "{error}");
    }

    #[test]
    fn a_missing_or_empty_secret_is_named_with_its_line_and_never_shown() {
        let target = |lines: &str| {
            format!("targets:\n  a:\n    slack:\n      channel: '#a'\n{lines}routes:\n  - targets: [a]\n")
        };
        let error = error_on_line(&target("      token_env: SLACK_TOKN\n"), 5);
        assert!(
            error.contains(
                "targets.a.slack.token_env: the environment variable SLACK_TOKN (the Slack bot token) is not set"
            ),
            "{error}"
        );
        let error = error_on_line(&target("      token_env: BLANK\n"), 5);
        assert!(error.contains("the environment variable BLANK (the Slack bot token) is empty"), "{error}");
        let error = error_on_line(&target("      token_file: /run/secrets/missing\n"), 5);
        assert!(
            error.contains(
                "targets.a.slack.token_file: the file /run/secrets/missing (the Slack bot token) cannot be read"
            ),
            "{error}"
        );
        assert!(error.contains("No such file"), "{error}");
        let error = error_on_line(&target("      token_file: /run/secrets/empty\n"), 5);
        assert!(error.contains("the file /run/secrets/empty (the Slack bot token) is empty"), "{error}");
        let error =
            error_on_line(&target("      token_env: TOKEN\n      token_file: /run/secrets/tocsin/github-token\n"), 6);
        assert!(error.contains("token_env is also given; keep one of them"), "{error}");
        let error = error_on_line(&target(""), 3);
        assert!(error.contains("targets.a.slack: needs token_env (an environment variable) or token_file"), "{error}");
        // The secret pasted where its variable's name belongs is refused without being repeated.
        let error = error_on_line(&target("      token_env: xoxb-bot-token-value\n"), 5);
        assert!(error.contains("expected the name of an environment variable"), "{error}");
    }

    #[test]
    fn a_webhook_secret_must_be_a_url_and_is_not_shown_when_it_is_not() {
        let error =
            error_on_line("targets:\n  b:\n    teams:\n      url_env: NOT_A_URL\ndefault_route:\n  targets: [b]\n", 4);
        assert!(
            error.contains("targets.b.teams.url_env: the environment variable NOT_A_URL (the Teams webhook URL) does not hold an http(s) URL"),
            "{error}"
        );
        let error = error_on_line("targets:\n  b:\n    slack_webhook:\n      url_env: HOOK\n      url_file: /x\n", 5);
        assert!(error.contains("url_env is also given"), "{error}");
    }

    #[test]
    fn a_target_has_exactly_one_valid_kind() {
        let error = error_on_line(
            "targets:\n  a:\n    slack: {channel: '#a', token_env: TOKEN}\n    email:\n      to: [x@example.com]\n",
            4,
        );
        assert!(error.contains("targets.a: has both slack and email"), "{error}");
        let error = error_on_line(&format!("{TARGETS}  d: {{}}\n"), 8);
        assert!(error.contains("targets.d: says nowhere to send"), "{error}");
        let error = error_on_line(&format!("{TARGETS}  d:\n    email:\n      to: []\n"), 10);
        assert!(error.contains("the list is empty; expected a list of e-mail addresses"), "{error}");
        let error = error_on_line(
            &format!("{TARGETS}  d:\n    email:\n      to:\n        - ops@example.com\n        - ops\n"),
            12,
        );
        assert!(error.contains("`ops` is not an e-mail address"), "{error}");
        let error = error_on_line(
            &format!("{TARGETS}  d:\n    github:\n      repository: payments\n      token_env: TOKEN\n"),
            10,
        );
        assert!(error.contains("`payments` is not a GitHub repository: write it as owner/name"), "{error}");
        let error = error_on_line("targets:\n  a:\n    slack:\n      channel: #oncall\n      token_env: TOKEN\n", 4);
        assert!(error.contains("the channel is empty; quote a name that starts with #"), "{error}");
    }

    #[test]
    fn target_names_are_unique_and_plain() {
        let error = error_on_line(&format!("{TARGETS}  b:\n    email: {{to: [x@example.com]}}\n"), 8);
        assert!(error.contains("the target `b` is defined twice"), "{error}");
        let error = error_on_line(
            "targets:\n  a:\n    email: {to: [x@example.com]}\n  ops team:\n    email: {to: [x@example.com]}\n",
            4,
        );
        assert!(error.contains("`ops team` is not a valid target name"), "{error}");
    }

    #[test]
    fn a_file_that_sends_nothing_or_is_not_yaml_is_refused() {
        let error = Routing::parse("r.yaml", "# nothing yet\n", &FakeSecrets::new()).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("routing file r.yaml: the file is empty; it needs targets and routes"));
        let error = Routing::parse("r.yaml", TARGETS, &FakeSecrets::new()).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("routing file r.yaml: there are no routes and no default_route, so nothing would ever be sent")
        );
        let error = error_on_line(&format!("{TARGETS}routes:\n  - targets: [a\n  - targets: [b]\n"), 10);
        assert!(error.contains("did not find expected ',' or ']'"), "{error}");
        let error = error_on_line("routes: []\n", 1);
        assert!(error.contains("missing field `targets`"), "{error}");
    }

    #[test]
    fn load_reads_the_file_or_names_it() {
        let path = std::env::temp_dir().join(format!("tocsin-routing-test-{}.yaml", std::process::id()));
        std::fs::write(&path, format!("{TARGETS}routes:\n  - targets: [c]\n")).expect("writing a test file");
        let loaded = Routing::load(&path, &FakeSecrets::new());
        let _ = std::fs::remove_file(&path);
        let routing = loaded.expect("loading the routing file");
        assert_eq!(routing.targets().count(), 3);

        let error = Routing::load(&path, &FakeSecrets::new()).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(error.starts_with(&format!("routing file {}: cannot read it: ", path.display())), "{error}");
    }
}
