//! `flowex-auth-service`: the auth service alone. Configuration from the
//! file named by `FLOWEX_CONFIG` (optional) and `FLOWEX_*` variables.

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::var_os("FLOWEX_CONFIG").map(std::path::PathBuf::from);
    let config = flowex_config::Config::load(file.as_deref())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    flowex_auth_service::serve(config).await
}
