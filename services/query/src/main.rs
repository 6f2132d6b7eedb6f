use clap::Parser;
use tocsin_query::Application;
use tocsin_query::config::Config;
use tocsin_runtime::Env;

/// Serves the incident API, the live feed and the dashboard, and turns people's actions into
/// commands for incident-core.
/// Configured by environment variables: docs/configuration.md.
#[derive(Parser)]
#[command(name = "tocsin-query", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    tocsin_runtime::logging::init("query");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "query listening");
    app.run_until_stopped().await?;
    tracing::info!("query stopped");
    Ok(())
}
