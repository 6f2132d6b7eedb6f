//! The `tocsin-incident-core` command line: its subcommands and their `--help`, parsed by clap.
//! Settings come from the environment (`config`), not from arguments; only what says which days
//! and tables `archive` and `restore` move is given on the command line.

use crate::archival::{ArchiveArgs, RestoreArgs};
use clap::{Parser, Subcommand};

/// incident-core: applies alerts and people's commands to incidents, relays the resulting events,
/// and deletes (or archives) what is past its retention. Configured by environment variables:
/// docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "tocsin-incident-core", version)]
pub struct Cli {
    /// What to do [default: serve]
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply alerts and commands to incidents (the default)
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit
    Migrate,
    /// Write the rows of DATABASE_URL filed under some days (UTC) to ARCHIVE_URL, one object per
    /// table and day, deleting nothing; by default from the first day with rows to yesterday,
    /// every table
    Archive(ArchiveArgs),
    /// Load the rows archived at ARCHIVE_URL for some days into DATABASE_URL, incidents first;
    /// rows already there are left as they are, so it can be run again
    Restore(RestoreArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tocsin-incident-core").chain(args.iter().copied()))
    }

    #[test]
    fn help_lists_every_subcommand() {
        let help = Cli::command().render_help().to_string();
        for subcommand in ["serve", "migrate", "archive", "restore"] {
            assert!(help.lines().any(|line| line.trim_start().starts_with(subcommand)), "{subcommand} in:\n{help}");
        }
        match parse(&["--help"]) {
            Err(error) => assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelp),
            Ok(cli) => panic!("--help parsed as {cli:?}"),
        }
    }

    #[test]
    fn no_subcommand_serves_and_unknown_ones_are_refused() {
        assert_eq!(parse(&[]).map(|cli| cli.command).ok(), Some(None));
        assert_eq!(parse(&["migrate"]).map(|cli| cli.command).ok(), Some(Some(Command::Migrate)));
        let error = parse(&["migrat"]).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(error.contains("unrecognized subcommand 'migrat'") && error.contains("migrate"), "{error}");
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
