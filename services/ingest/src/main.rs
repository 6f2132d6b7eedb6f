use clap::Parser;
use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_runtime::Env;

/// Takes Alertmanager's webhooks on POST /alerts and puts each alert on the alerts stream.
/// Configured by environment variables: docs/configuration.md.
#[derive(Parser)]
#[command(name = "tocsin-ingest", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    tocsin_runtime::logging::init("ingest");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "ingest listening");
    app.run_until_stopped().await?;
    tracing::info!("ingest stopped");
    Ok(())
}
