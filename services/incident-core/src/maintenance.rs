//! The `archive` and `restore` subcommands: an operator's way to export days of the database to
//! the archive without deleting anything, and to load archived days back. Both read
//! `DATABASE_URL` and `ARCHIVE_URL` (with the store's `AZURE_*`/`AWS_*` options), nothing else.

use anyhow::Context;
use time::Date;
use tocsin_archive::{Archive, ArchivedTable, Days, parse_day};
use tocsin_runtime::Env;
use tocsin_storage::{Pool, PoolSettings};

pub const USAGE: &str = "  archive [--from YYYY-MM-DD] [--to YYYY-MM-DD | --last DAYS] [--table TABLE]...
           write the rows of DATABASE_URL filed under those days (UTC) to ARCHIVE_URL, one object
           per table and day, deleting nothing; by default from the first day with rows to
           yesterday, every table; --last 3: yesterday and the two days before
  restore --from YYYY-MM-DD --to YYYY-MM-DD [--table TABLE]...
           load the rows archived at ARCHIVE_URL for those days into DATABASE_URL, incidents
           first; rows already there are left as they are, so it can be run again
  TABLE is incidents, alerts, timeline_entries, notification_threads, command_outcomes or
  notification_deliveries (repeat --table, or separate them with commas); alerts, timeline
  entries and threads are filed under their incident's day";

/// What `--from`, `--to` and `--table` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayOptions {
    pub from: Option<Date>,
    pub to: Option<Date>,
    /// The last this many days up to yesterday, instead of `from` and `to`.
    pub last: Option<u16>,
    /// Every table when none was named.
    pub tables: Vec<ArchivedTable>,
}

impl DayOptions {
    pub fn parse(args: &[String]) -> Result<DayOptions, String> {
        let mut options = DayOptions { from: None, to: None, last: None, tables: Vec::new() };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if !matches!(name, "--from" | "--to" | "--last" | "--table") {
                return Err(format!("unknown option `{arg}`"));
            }
            let value = inline.or_else(|| args.next().cloned()).ok_or_else(|| format!("{name} needs a value"))?;
            match name {
                "--from" => options.from = Some(parse_day(&value).map_err(|error| format!("--from: {error}"))?),
                "--to" => options.to = Some(parse_day(&value).map_err(|error| format!("--to: {error}"))?),
                "--last" => match value.trim().parse::<u16>() {
                    Ok(days @ 1..) => options.last = Some(days),
                    _ => return Err(format!("--last: `{value}` is not a number of days from 1 to 65535")),
                },
                _ => {
                    for table in value.split(',').filter(|table| !table.trim().is_empty()) {
                        let table = table.parse::<ArchivedTable>().map_err(|error| format!("--table: {error}"))?;
                        if !options.tables.contains(&table) {
                            options.tables.push(table);
                        }
                    }
                }
            }
        }
        if options.last.is_some() && (options.from.is_some() || options.to.is_some()) {
            return Err("--last names the days itself: give it without --from and --to".into());
        }
        if options.tables.is_empty() {
            options.tables = ArchivedTable::ALL.to_vec();
        }
        Ok(options)
    }
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

pub async fn archive(env: &Env, args: &[String]) -> anyhow::Result<()> {
    let options = DayOptions::parse(args).map_err(|error| anyhow::anyhow!("archive: {error}\nusage:\n{USAGE}"))?;
    let (pool, archive) = open(env)?;
    let to = options.to.unwrap_or_else(tocsin_archive::yesterday);
    let from = match (options.from, options.last) {
        (Some(day), _) => day,
        (None, Some(last)) => to - time::Duration::days(i64::from(last) - 1),
        (None, None) => {
            let mut conn = pool.get().await.context("connecting to DATABASE_URL")?;
            match tocsin_archive::first_day(&mut conn, &options.tables).await.context("reading DATABASE_URL")? {
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
    let written = tocsin_archive::archive_days(&pool, &archive, &options.tables, days).await?;
    tracing::info!(
        objects = written.len(),
        rows = written.iter().map(|object| object.rows).sum::<usize>(),
        archive = archive.location(),
        "archive complete"
    );
    Ok(())
}

pub async fn restore(env: &Env, args: &[String]) -> anyhow::Result<()> {
    let options = DayOptions::parse(args).map_err(|error| anyhow::anyhow!("restore: {error}\nusage:\n{USAGE}"))?;
    let (Some(from), Some(to)) = (options.from, options.to) else {
        anyhow::bail!("restore needs --from and --to, the first and last day to restore\nusage:\n{USAGE}");
    };
    let days = Days::new(from, to).map_err(|error| anyhow::anyhow!("restore: {error}"))?;
    let (pool, archive) = open(env)?;
    let mut conn = pool.get().await.context("connecting to DATABASE_URL")?;
    tracing::info!(from = %days.first, to = %days.last, archive = archive.location(), "restoring");
    let restored = tocsin_archive::restore_days(&mut conn, &archive, &options.tables, days).await?;
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
    use time::macros::date;

    fn parse(args: &[&str]) -> Result<DayOptions, String> {
        DayOptions::parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn options_name_days_and_tables_in_either_spelling() {
        let options =
            parse(&["--from", "2026-01-01", "--to=2026-01-31", "--table", "alerts,incidents", "--table=alerts"]);
        assert_eq!(
            options,
            Ok(DayOptions {
                from: Some(date!(2026 - 01 - 01)),
                to: Some(date!(2026 - 01 - 31)),
                last: None,
                tables: vec![ArchivedTable::Alerts, ArchivedTable::Incidents],
            })
        );
        assert_eq!(parse(&[]).map(|options| options.tables), Ok(ArchivedTable::ALL.to_vec()));
        assert_eq!(parse(&["--last", "3"]).map(|options| options.last), Ok(Some(3)));
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        let error = |args: &[&str]| parse(args).err().unwrap_or_default();
        assert!(error(&["--from", "2026-13-01"]).starts_with("--from: `2026-13-01` is not a day written YYYY-MM-DD"));
        assert!(error(&["--table", "incident"]).starts_with("--table: unknown table `incident`"));
        assert_eq!(error(&["--to"]), "--to needs a value");
        assert_eq!(error(&["--since", "2026-01-01"]), "unknown option `--since`");
        assert!(error(&["--last", "0"]).starts_with("--last: `0` is not a number of days"));
        assert_eq!(
            error(&["--last", "2", "--to", "2026-01-01"]),
            "--last names the days itself: give it without --from and --to"
        );
    }
}
