use clap::Parser;
use tocsin_notifier::Application;
use tocsin_notifier::config::Config;
use tocsin_runtime::Env;

/// Sends incident events to Slack, Teams, e-mail and GitHub as the routing file says, and
/// takes Slack's button clicks.
/// Configured by environment variables: docs/configuration.md.
#[derive(Parser)]
#[command(name = "tocsin-notifier", version)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    tocsin_runtime::logging::init("notifier");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "notifier running");
    app.run_until_stopped().await?;
    tracing::info!("notifier stopped");
    Ok(())
}
