use anyhow::Context;
use clap::Parser;
use tocsin_incident_core::Application;
use tocsin_incident_core::archival;
use tocsin_incident_core::cli::{Cli, Command};
use tocsin_incident_core::config::Config;
use tocsin_runtime::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tocsin_runtime::logging::init("incident-core");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Archive(args) => archival::archive(&Env::from_process(), &args).await,
        Command::Restore(args) => archival::restore(&Env::from_process(), &args).await,
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
