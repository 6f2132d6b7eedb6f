//! The `archive` and `restore` subcommands: an operator's way to export days of the database to
//! the archive without deleting anything, and to load archived days back. Both read
//! `DATABASE_URL` and `ARCHIVE_URL` (with the store's `AZURE_*`/`AWS_*` options), nothing else.

use anyhow::Context;
use clap::Args;
use time::Date;
use tocsin_archive::{Archive, ArchivedTable, Days, parse_day};
use tocsin_runtime::Env;
use tocsin_storage::{Pool, PoolSettings};

/// `archive`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ArchiveArgs {
    /// The first day (UTC) to archive [default: the first day with rows]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: Option<Date>,
    /// The last day to archive [default: yesterday]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Option<Date>,
    /// The last DAYS days up to yesterday, instead of --from and --to: 3 is yesterday and the two
    /// days before
    #[arg(long, value_name = "DAYS", conflicts_with_all = ["from", "to"], value_parser = clap::value_parser!(u16).range(1..))]
    pub last: Option<u16>,
    #[command(flatten)]
    pub tables: Tables,
}

/// `restore`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RestoreArgs {
    /// The first day (UTC) to restore
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub from: Date,
    /// The last day to restore
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub to: Date,
    #[command(flatten)]
    pub tables: Tables,
}

/// `--table`, for both subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Tables {
    /// Only this table: incidents, alerts, timeline_entries, notification_threads, pages,
    /// command_outcomes or notification_deliveries (repeat --table, or separate them with commas)
    /// [default: every table]. Alerts, timeline entries, threads and pages are filed under their
    /// incident's day
    #[arg(long = "table", value_name = "TABLE", value_delimiter = ',', value_parser = parse_table)]
    named: Vec<ArchivedTable>,
}

impl Tables {
    /// The tables named, each once, in the order given; every table when none was named.
    pub fn chosen(&self) -> Vec<ArchivedTable> {
        if self.named.is_empty() {
            return ArchivedTable::ALL.to_vec();
        }
        let mut chosen: Vec<ArchivedTable> = Vec::with_capacity(self.named.len());
        for table in &self.named {
            if !chosen.contains(table) {
                chosen.push(*table);
            }
        }
        chosen
    }
}

fn parse_table(name: &str) -> Result<ArchivedTable, String> {
    name.parse::<ArchivedTable>().map_err(|error| error.to_string())
}

fn open(env: &Env) -> anyhow::Result<(Pool, Archive)> {
    let database_url = env.required("DATABASE_URL", "the PostgreSQL URL, e.g. postgres://user:pass@host/db")?;
    let archive_url = env.required(
        "ARCHIVE_URL",
        "where archives are kept, e.g. file:///var/lib/tocsin/archive, az://container/prefix or s3://bucket/prefix",
    )?;
    let archive = Archive::open(&archive_url, tocsin_archive::store_options_from_process())
        .context("ARCHIVE_URL is not usable")?;
    // One connection holds the retention lock while another reads.
    let pool = tocsin_storage::connect(&database_url, &PoolSettings { max_connections: 2, ..PoolSettings::default() })?;
    Ok((pool, archive))
}

/// Writes the rows filed under the chosen days to the archive, one object per table and day,
/// deleting nothing.
pub async fn archive(env: &Env, args: &ArchiveArgs) -> anyhow::Result<()> {
    let tables = args.tables.chosen();
    let (pool, archive) = open(env)?;
    let to = args.to.unwrap_or_else(tocsin_archive::yesterday);
    let from = match (args.from, args.last) {
        (Some(day), _) => day,
        (None, Some(last)) => to - time::Duration::days(i64::from(last) - 1),
        (None, None) => {
            let mut conn = pool.get().await.context("connecting to DATABASE_URL")?;
            match tocsin_archive::first_day(&mut conn, &tables).await.context("reading DATABASE_URL")? {
                Some(day) => day,
                None => {
                    tracing::info!("nothing to archive: the tables are empty");
                    return Ok(());
                }
            }
        }
    };
    let days = Days::new(from, to).map_err(|error| anyhow::anyhow!("archive: {error}"))?;
    tracing::info!(from = %days.first, to = %days.last, archive = archive.location(), "archiving");
    let written = tocsin_archive::archive_days(&pool, &archive, &tables, days).await?;
    tracing::info!(
        objects = written.len(),
        rows = written.iter().map(|object| object.rows).sum::<usize>(),
        archive = archive.location(),
        "archive complete"
    );
    Ok(())
}

/// Loads the rows archived for the chosen days into the database, incidents first; rows already
/// there are left as they are, so it can be run again.
pub async fn restore(env: &Env, args: &RestoreArgs) -> anyhow::Result<()> {
    let days = Days::new(args.from, args.to).map_err(|error| anyhow::anyhow!("restore: {error}"))?;
    let (pool, archive) = open(env)?;
    let mut conn = pool.get().await.context("connecting to DATABASE_URL")?;
    tracing::info!(from = %days.first, to = %days.last, archive = archive.location(), "restoring");
    let restored = tocsin_archive::restore_days(&mut conn, &archive, &args.tables.chosen(), days).await?;
    if restored.iter().all(|table| table.objects == 0) {
        anyhow::bail!("nothing is archived at {} for {} to {}", archive.location(), days.first, days.last);
    }
    for table in &restored {
        tracing::info!(
            table = %table.table,
            objects = table.objects,
            rows = table.rows,
            inserted = table.inserted,
            already_present = table.rows - table.inserted,
            "restored table"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use time::macros::date;

    /// Either subcommand's arguments as the binary parses them.
    #[derive(Debug, Parser)]
    enum Subcommand {
        Archive(ArchiveArgs),
        Restore(RestoreArgs),
    }

    fn parse(args: &[&str]) -> Result<Subcommand, String> {
        Subcommand::try_parse_from(std::iter::once("tocsin-incident-core").chain(args.iter().copied()))
            .map_err(|error| error.to_string())
    }

    fn archive(args: &[&str]) -> ArchiveArgs {
        match parse(&[&["archive"], args].concat()) {
            Ok(Subcommand::Archive(args)) => args,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn options_name_days_and_tables_in_either_spelling() {
        let args =
            archive(&["--from", "2026-01-01", "--to=2026-01-31", "--table", "alerts,incidents", "--table=alerts"]);
        assert_eq!((args.from, args.to, args.last), (Some(date!(2026 - 01 - 01)), Some(date!(2026 - 01 - 31)), None));
        assert_eq!(args.tables.chosen(), [ArchivedTable::Alerts, ArchivedTable::Incidents]);
        assert_eq!(archive(&[]).tables.chosen(), ArchivedTable::ALL.to_vec());
        assert_eq!(archive(&["--last", "3"]).last, Some(3));
        match parse(&["restore", "--from", "2026-01-01", "--to", "2026-01-02", "--table", "command_outcomes"]) {
            Ok(Subcommand::Restore(args)) => {
                assert_eq!((args.from, args.to), (date!(2026 - 01 - 01), date!(2026 - 01 - 02)));
                assert_eq!(args.tables.chosen(), [ArchivedTable::CommandOutcomes]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        let error = |args: &[&str]| parse(args).err().unwrap_or_default();
        assert!(error(&["archive", "--from", "2026-13-01"]).contains("`2026-13-01` is not a day written YYYY-MM-DD"));
        assert!(error(&["archive", "--table", "incident"]).contains("unknown table `incident`"));
        assert!(error(&["archive", "--to"]).contains("a value is required for '--to <YYYY-MM-DD>'"));
        assert!(error(&["archive", "--since", "2026-01-01"]).contains("unexpected argument '--since'"));
        assert!(error(&["archive", "--last", "0"]).contains("invalid value '0' for '--last <DAYS>'"));
        assert!(
            error(&["archive", "--last", "2", "--to", "2026-01-01"])
                .contains("the argument '--last <DAYS>' cannot be used with '--to <YYYY-MM-DD>'")
        );
        let restore = error(&["restore", "--to", "2026-01-31"]);
        assert!(restore.contains("the following required arguments were not provided") && restore.contains("--from"));
    }
}
