use anyhow::Context;
use tocsin_incident_core::Application;
use tocsin_incident_core::config::Config;
use tocsin_runtime::Env;

const USAGE: &str = "usage: tocsin-incident-core [serve|migrate]
  serve    apply alerts and commands to incidents (the default)
  migrate  apply pending database migrations to DATABASE_URL and exit";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tocsin_runtime::telemetry::init("incident-core");
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}`\n{USAGE}"),
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
