use anyhow::Context;
use tocsin_incident_core::Application;
use tocsin_incident_core::config::Config;
use tocsin_incident_core::maintenance;
use tocsin_runtime::Env;

fn usage() -> String {
    format!(
        "usage: tocsin-incident-core [serve|migrate|archive|restore]
  serve    apply alerts and commands to incidents (the default)
  migrate  apply pending database migrations to DATABASE_URL and exit
{}",
        maintenance::USAGE
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tocsin_runtime::logging::init("incident-core");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("archive") => maintenance::archive(&Env::from_process(), rest).await,
        Some("restore") => maintenance::restore(&Env::from_process(), rest).await,
        Some("-h" | "--help" | "help") => {
            println!("{}", usage());
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}`\n{}", usage()),
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "incident-core running");
    app.run_until_stopped().await?;
    tracing::info!("incident-core stopped");
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let env = Env::from_process();
    let url = env.required("DATABASE_URL", "the PostgreSQL URL to migrate")?;
    let applied = tocsin_storage::migrate(&url).await.context("migrating the database")?;
    if applied.is_empty() {
        tracing::info!("database schema is up to date");
    } else {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    Ok(())
}
