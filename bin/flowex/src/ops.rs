//! Operator commands: `flowex config` and `flowex migrate`.

use anyhow::{Context, Result};
use flowex_config::Config;
use std::path::{Path, PathBuf};

/// Command-line settings that override the file and the environment.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Configuration file (TOML); `FLOWEX_*` variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (embedded mode): SQLite file, journal, secrets.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Port to listen on.
    #[arg(long, global = true)]
    pub port: Option<u16>,
}

impl Overrides {
    /// The effective configuration: defaults < file < environment < flags.
    pub fn load(&self) -> Result<Config> {
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        if let Some(d) = &self.data_dir {
            env.push(("FLOWEX_DATA_DIR".into(), d.display().to_string()));
        }
        if let Some(p) = self.port {
            env.push(("FLOWEX_PORT".into(), p.to_string()));
        }
        Config::load_from(self.config.as_deref(), env).context("loading the configuration")
    }
}

pub fn print_config(cfg: &Config) {
    print!("{}", cfg.redacted());
}

/// Applies the SQL migrations to the configured database.
pub async fn migrate(cfg: &Config) -> Result<()> {
    let url = database_url(cfg)?;
    ensure_sqlite_dir(cfg)?;
    let store = flowex_store::Store::connect(&url)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    println!("database schema is up to date ({:?})", store.backend());
    Ok(())
}

pub fn database_url(cfg: &Config) -> Result<String> {
    Ok(cfg
        .database_url
        .as_ref()
        .context("no database_url configured")?
        .expose()
        .to_string())
}

/// SQLite creates the file but not its directory.
pub fn ensure_sqlite_dir(cfg: &Config) -> Result<()> {
    let dir: &Path = &cfg.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Ms since the Unix epoch (account creation times).
pub use flowex_http::clock::now_ms_i64 as now_ms;
