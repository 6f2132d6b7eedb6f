use tocsin_ingest::Application;
use tocsin_ingest::config::Config;
use tocsin_runtime::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tocsin_runtime::logging::init("ingest");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "ingest listening");
    app.run_until_stopped().await?;
    tracing::info!("ingest stopped");
    Ok(())
}
