//! `tocsin`: on-call work from a terminal. Lists, shows and acts on incidents, and says who is on
//! call, through the query API of a context saved by `tocsin login`; prints tables for people and
//! the API's JSON (or YAML) for scripts: `tocsin incidents list -o json | jq length`.
//!
//! Errors name the problem and the fix; the exit code is 1 for them and 2 for a wrong command line.

mod client;
mod config;
mod output;

use crate::client::Client;
use crate::config::{Config, Context};
use crate::output::Format;
use anyhow::{Context as _, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use time::OffsetDateTime;
use url::Url;

#[derive(Debug, Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Incidents from a terminal: list, show, declare, acknowledge, resolve, reopen, assign, note, edit; who is on call"
)]
struct Cli {
    /// Use this context instead of the current one.
    #[arg(long, global = true, env = "TOCSIN_CONTEXT")]
    context: Option<String>,
    /// The configuration file (contexts and their tokens).
    #[arg(long, global = true, env = "TOCSIN_CONFIG")]
    config: Option<PathBuf>,
    /// How to print what the API answers.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save a context: a tocsin URL and a token for it, checked against the API first. The token is
    /// read from standard input, or from TOCSIN_TOKEN, never from the command line (which shells
    /// keep in their history).
    Login {
        /// The address of the dashboard and API, e.g. https://tocsin.example.com.
        #[arg(long)]
        url: Url,
        /// The context's name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// The saved contexts.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Incidents: list, show, and act on them.
    #[command(subcommand, visible_alias = "incident")]
    Incidents(IncidentCommand),
    /// Who is on call now in each schedule, and until when.
    Oncall {
        /// Only this team's schedules (its slug).
        #[arg(long)]
        team: Option<String>,
    },
    /// On-call schedules: list, show.
    #[command(subcommand, visible_alias = "schedule")]
    Schedules(ScheduleCommand),
    /// Print a completion script: `tocsin completions bash > /etc/bash_completion.d/tocsin`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
enum ContextCommand {
    /// Every context, the current one marked.
    List,
    /// Make a context the current one.
    Use { name: String },
    /// Forget a context and its token.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Every schedule, by team then name.
    List {
        /// Only this team's schedules (its slug).
        #[arg(long)]
        team: Option<String>,
    },
    /// One schedule: its layers in force and its overrides to come.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
enum IncidentCommand {
    /// Incidents, newest first: open and acknowledged unless --status says otherwise.
    List(ListArgs),
    /// One incident with its timeline.
    Show {
        id: String,
    },
    /// Acknowledge: someone is on it.
    #[command(visible_alias = "acknowledge")]
    Ack(ActArgs),
    Resolve(ActArgs),
    Reopen(ActArgs),
    /// Assign to someone, or clear the assignment with an empty name ("").
    Assign {
        id: String,
        assignee: String,
        /// Who acts, for the timeline; a signed-in person's own name is always recorded instead.
        #[arg(long)]
        actor: Option<String>,
    },
    /// Open an incident by hand: routed, notified and escalated like one an alert opened.
    Declare {
        /// What is wrong, in one line.
        title: String,
        /// The service affected; its owner in the catalogue is the incident's team.
        #[arg(long)]
        service: String,
        /// critical, high, warning or info.
        #[arg(long)]
        severity: String,
        #[arg(long)]
        environment: Option<String>,
        /// What is known so far (Markdown).
        #[arg(long)]
        summary: Option<String>,
        /// Who declares, for the timeline; by default the token's name.
        #[arg(long)]
        actor: Option<String>,
    },
    /// Add a note (Markdown) to the incident's timeline; it is posted in its Slack thread too.
    Note {
        id: String,
        text: String,
        /// Who writes, for the timeline; by default the token's name.
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ActArgs {
    id: String,
    /// Who acts, for the timeline; by default the token's name.
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// open, acknowledged, resolved (comma-separated).
    #[arg(long, default_value = "open,acknowledged")]
    status: String,
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    environment: Option<String>,
    /// critical, high, warning, info (comma-separated).
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    team: Option<String>,
    /// Opened at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Opened before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// How many to list, 1 to 500 (with --all, the size of each page).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Every matching incident, page after page.
    #[arg(long)]
    all: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tocsin: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tocsin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs one command; what to print on success.
async fn run(cli: Cli) -> anyhow::Result<String> {
    let path = match &cli.config {
        Some(path) => path.clone(),
        None => config::default_path()?,
    };
    let mut config = Config::load(&path)?;
    let now = OffsetDateTime::now_utc();
    match cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tocsin", &mut script);
            Ok(String::from_utf8(script)?)
        }
        Command::Login { url, name } => {
            let token = read_token()?;
            let context = Context { url, token };
            // Checked before it is saved: a wrong URL or token is found now, not at 3 a.m.
            Client::new(name.clone(), context.clone())?.get("/incidents", &[("limit", "1".into())]).await?;
            config.contexts.insert(name.clone(), context);
            config.current_context = Some(name.clone());
            config.save(&path)?;
            Ok(format!("logged in: context `{name}` is current ({})\n", path.display()))
        }
        Command::Context(command) => context_command(command, &mut config, &path),
        Command::Incidents(command) => {
            let (name, context) = config.context(cli.context.as_deref())?;
            let client = Client::new(name, context)?;
            incident_command(&client, command, cli.output, now).await
        }
        Command::Oncall { team } => {
            let (name, context) = config.context(cli.context.as_deref())?;
            let client = Client::new(name, context)?;
            let answer = client.get("/oncall", &team_query(team)).await?;
            let items = answer["items"].as_array().context("the API's answer has no `items`")?;
            output::on_call(cli.output, items, now)
        }
        Command::Schedules(command) => {
            let (name, context) = config.context(cli.context.as_deref())?;
            let client = Client::new(name, context)?;
            match command {
                ScheduleCommand::List { team } => {
                    let answer = client.get("/schedules", &team_query(team)).await?;
                    let items = answer["items"].as_array().context("the API's answer has no `items`")?;
                    output::schedules(cli.output, items)
                }
                ScheduleCommand::Show { id } => {
                    let schedule = client.get(&format!("/schedules/{}", path_segment(&id)), &[]).await?;
                    output::schedule(cli.output, &schedule)
                }
            }
        }
    }
}

fn context_command(command: ContextCommand, config: &mut Config, path: &std::path::Path) -> anyhow::Result<String> {
    match command {
        ContextCommand::List => {
            let mut text = String::new();
            for (name, context) in &config.contexts {
                let current = if config.current_context.as_deref() == Some(name) { "*" } else { " " };
                text.push_str(&format!("{current} {name}\t{}\n", context.url));
            }
            Ok(text)
        }
        ContextCommand::Use { name } => {
            config.context(Some(&name))?;
            config.current_context = Some(name.clone());
            config.save(path)?;
            Ok(format!("context `{name}` is current\n"))
        }
        ContextCommand::Delete { name } => {
            if config.contexts.remove(&name).is_none() {
                bail!("no context named `{name}` (`tocsin context list`)");
            }
            if config.current_context.as_deref() == Some(name.as_str()) {
                config.current_context = None;
            }
            config.save(path)?;
            Ok(format!("context `{name}` deleted\n"))
        }
    }
}

async fn incident_command(
    client: &Client,
    command: IncidentCommand,
    format: Format,
    now: OffsetDateTime,
) -> anyhow::Result<String> {
    let act = |id: &str, action: &str| format!("/incidents/{}/{action}", path_segment(id));
    let incident = match command {
        IncidentCommand::List(args) => return output::incidents(format, &list(client, &args).await?, now),
        IncidentCommand::Show { id } => client.get(&format!("/incidents/{}", path_segment(&id)), &[]).await?,
        IncidentCommand::Ack(ActArgs { id, actor }) => {
            client.post(&act(&id, "acknowledge"), &json!({ "actor": actor })).await?
        }
        IncidentCommand::Resolve(ActArgs { id, actor }) => {
            client.post(&act(&id, "resolve"), &json!({ "actor": actor })).await?
        }
        IncidentCommand::Reopen(ActArgs { id, actor }) => {
            client.post(&act(&id, "reopen"), &json!({ "actor": actor })).await?
        }
        IncidentCommand::Assign { id, assignee, actor } => {
            let assignee = Some(assignee.trim().to_owned()).filter(|assignee| !assignee.is_empty());
            client.post(&act(&id, "assign"), &json!({ "assignee": assignee, "actor": actor })).await?
        }
        IncidentCommand::Declare { title, service, severity, environment, summary, actor } => {
            let declaration = json!({
                "title": title, "service": service, "severity": severity,
                "environment": environment, "summary": summary, "actor": actor,
            });
            client.post("/incidents", &declaration).await?
        }
        IncidentCommand::Note { id, text, actor } => {
            client.post(&act(&id, "notes"), &json!({ "text": text, "actor": actor })).await?
        }
    };
    output::incident(format, &incident, now)
}

/// The incidents the filters select: one page, or every page with `--all`.
async fn list(client: &Client, args: &ListArgs) -> anyhow::Result<Vec<Value>> {
    if !(1..=500).contains(&args.limit) {
        bail!("--limit must be between 1 and 500, not {}", args.limit);
    }
    let mut query: Vec<(&str, String)> = vec![("status", args.status.clone()), ("limit", args.limit.to_string())];
    for (name, value) in [
        ("service", &args.service),
        ("environment", &args.environment),
        ("severity", &args.severity),
        ("team", &args.team),
        ("since", &args.since),
        ("until", &args.until),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor.clone()));
        }
        let page = client.get("/incidents", &page_query).await?;
        let page_items = page["items"].as_array().context("the API's answer has no `items`")?;
        items.extend(page_items.iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if !args.all || cursor.is_none() {
            return Ok(items);
        }
    }
}

/// `?team=…` when a team is given.
fn team_query(team: Option<String>) -> Vec<(&'static str, String)> {
    team.map(|team| vec![("team", team)]).unwrap_or_default()
}

/// An id as one path segment: whatever was typed cannot reach another route.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.trim().as_bytes()).collect()
}

/// The token to log in with: standard input when it is not a terminal, else TOCSIN_TOKEN.
fn read_token() -> anyhow::Result<String> {
    let token = match std::env::var("TOCSIN_TOKEN") {
        Ok(token) if !token.trim().is_empty() => token,
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                bail!("give the token on standard input (`tocsin login --url … < token.txt`) or in TOCSIN_TOKEN");
            }
            let mut token = String::new();
            std::io::stdin().read_to_string(&mut token).context("cannot read the token from standard input")?;
            token
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the token is empty: give it on standard input or in TOCSIN_TOKEN");
    }
    Ok(token)
}
