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
    ensure_private_dir(&cfg.data_dir)
}

/// Files this process creates are its user's alone (0600, directories
/// 0700), whatever the umask it was started with: the data directory holds
/// emails, password hashes, session addresses, the audit log and the
/// journal, and SQLite's `-wal`/`-shm` files and journal segments are
/// created with the umask's mode.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` as 0700, or makes an existing one (and what lies in it,
/// two levels down: the database files, `journal/`, `secrets/`) readable
/// by its owner only, as a data directory made by an older version was not.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    owner_only(dir, 2).with_context(|| format!("making {} private", dir.display()))
}

fn owner_only(path: &Path, depth: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(()); // not ours to change
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))?;
    }
    if meta.is_dir() && depth > 0 {
        for entry in std::fs::read_dir(path)? {
            owner_only(&entry?.path(), depth - 1)?;
        }
    }
    Ok(())
}

/// Ms since the Unix epoch (account creation times).
pub use flowex_http::clock::now_ms_i64 as now_ms;
