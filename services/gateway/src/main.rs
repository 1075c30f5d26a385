//! `flowex-gateway [CONFIG.toml]`: the API gateway alone (distributed
//! mode), configured from the file (or `FLOWEX_CONFIG`) and `FLOWEX_*`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("FLOWEX_CONFIG"))
        .map(PathBuf::from);
    let config = flowex_config::Config::load(file.as_deref())?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log.level))
        .init();
    flowex_gateway::serve(config).await
}
