use tocsin_notifier::Application;
use tocsin_notifier::config::Config;
use tocsin_runtime::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tocsin_runtime::logging::init("notifier");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "notifier running");
    app.run_until_stopped().await?;
    tracing::info!("notifier stopped");
    Ok(())
}
