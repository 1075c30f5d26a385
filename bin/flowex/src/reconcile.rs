//! `flowex admin reconcile`: do the ledger, the SQL balances and the
//! engine agree?
//!
//! The check is `flowex_wallet::reconcile` (the same one the admin API
//! `GET /api/v1/admin/reconcile` runs). This command picks the engine to
//! compare with: in embedded mode recovered read-only from the data
//! directory (the newest snapshot at or before the ledger's seq plus the
//! journal up to it, like `flowex replay`), so the comparison is at exactly
//! the ledger's seq and needs no running server; in distributed mode
//! trading's `GET /internal/balances`, read again until the ledger has
//! caught up with the engine's seq. Prints a report; any disagreement is
//! listed by user and asset and makes the command exit non-zero.

use anyhow::{bail, Context, Result};
use flowex_config::{Config, Mode};
use flowex_service::EngineClient;
use flowex_store::Store;
use flowex_wallet::reconcile::{self, EngineBooks};
use std::time::Duration;

/// The engine exactly at `seq`, recovered read-only from the data directory.
fn engine_from_journal(cfg: &Config, seq: u64) -> Result<EngineBooks> {
    let dir = crate::replay::journal_dir(&cfg.data_dir);
    let engine = flowex_bus::engine_at(&dir, seq)
        .with_context(|| format!("recovering the engine at seq {seq} from {}", dir.display()))?;
    Ok(EngineBooks {
        seq: engine.last_seq(),
        assets: engine.assets(),
        balances: engine
            .all_balances()
            .into_iter()
            .map(|(u, a, b)| {
                (
                    (u.0, u64::from(a.0)),
                    u128::from(b.available) + u128::from(b.locked),
                )
            })
            .collect(),
    })
}

/// `flowex admin reconcile`.
pub async fn run(cfg: &Config) -> Result<()> {
    let store = Store::connect(&crate::ops::database_url(cfg)?)
        .await
        .context("opening the database")?;
    let (books, engine) = match cfg.mode {
        Mode::Embedded => {
            let books = reconcile::read_books(&store).await?;
            let seq = books.seq;
            let cfg = cfg.clone();
            let engine =
                tokio::task::spawn_blocking(move || engine_from_journal(&cfg, seq)).await??;
            (books, engine)
        }
        Mode::Distributed => {
            let token = flowex_service::process::internal_token(cfg)?;
            let trading =
                EngineClient::remote(&cfg.services.trading.url, token, Duration::from_secs(30));
            reconcile::at_one_seq(&store, &trading, 100)
                .await
                .context("reading the books and the trading service's engine")?
        }
    };
    store.close().await;
    let report = reconcile::compare(&books, &engine);
    for line in &report.lines {
        println!("{line}");
    }
    if report.disagreements.is_empty() {
        println!("OK: the ledger, the balances and the engine agree");
        return Ok(());
    }
    for d in &report.disagreements {
        println!("DISAGREEMENT {d}");
    }
    bail!(
        "reconcile found {} disagreement(s)",
        report.disagreements.len()
    )
}
