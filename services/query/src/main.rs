use tocsin_query::Application;
use tocsin_query::config::Config;
use tocsin_runtime::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tocsin_runtime::logging::init("query");
    let config = Config::from_env(&Env::from_process())?;
    let shutdown = tocsin_runtime::shutdown::on_signal();
    let app = Application::build(config, shutdown).await?;
    tracing::info!(port = app.port(), "query listening");
    app.run_until_stopped().await?;
    tracing::info!("query stopped");
    Ok(())
}
