//! `flowex admin reconcile`: do the ledger, the SQL balances and the
//! engine agree?
//!
//! Three sources, read at one journal seq:
//!
//! 1. the double-entry ledger (`ledger_entries`), summed per account and asset;
//! 2. the `balances` table (available + locked per user and asset);
//! 3. the engine: in embedded mode recovered read-only from the data
//!    directory (the newest snapshot at or before the ledger's seq plus the
//!    journal up to it, like `flowex replay`), so the comparison is at
//!    exactly the ledger's seq; in distributed mode read from trading's
//!    `GET /internal/balances`, retried until the ledger has caught up with
//!    the engine's seq.
//!
//! Checks (booking rules: docs/WALLET.md): per asset the ledger sums to
//! zero (custody + Σ users + fees = 0); per user and asset ledger =
//! `balances` = engine; the engine's fee account (user 0) = ledger fees −
//! the withdrawal fees the ledger booked = its `balances` row; the
//! withdrawal fees the ledger booked = the fees of completed withdrawals.
//! Prints a report; any disagreement is listed by user and asset and makes
//! the command exit non-zero.

use anyhow::{bail, Context, Result};
use flowex_config::{Config, Mode};
use flowex_service::EngineClient;
use flowex_store::{LedgerAccount, Store};
use flowex_types::{AssetConfig, FEE_ACCOUNT};
use flowex_wallet::history::signed_decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The wallet's books at one seq.
#[derive(Debug, Default)]
pub struct Books {
    pub seq: u64,
    pub ledger: BTreeMap<(LedgerAccount, u64), i128>,
    /// (user, asset) → available + locked.
    pub balances: BTreeMap<(u64, u64), u128>,
    /// Withdrawal fees the ledger booked as revenue, per asset.
    pub ledger_withdrawal_fees: BTreeMap<u64, i128>,
    /// Fees of withdrawals in state `completed`, per asset.
    pub completed_withdrawal_fees: BTreeMap<u64, u128>,
}

/// The engine's balances at one seq.
#[derive(Debug, Default)]
pub struct EngineBooks {
    pub seq: u64,
    pub assets: Vec<AssetConfig>,
    /// (user, asset) → available + locked; user 0 is the fee account.
    pub balances: BTreeMap<(u64, u64), u128>,
}

/// What [`compare`] found.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub disagreements: Vec<String>,
}

/// Reads the books; retried until no projection commit landed during the
/// read (the offset before and after are the same).
async fn read_books(store: &Store) -> Result<Books> {
    let name = flowex_wallet::ledger::PROJECTOR;
    for _ in 0..100 {
        let before = store.projector_offset(name).await?;
        let ledger = store.ledger_totals().await?;
        let balances = store
            .all_balances()
            .await?
            .into_iter()
            .map(|b| {
                let total = u128::from(b.available) + u128::from(b.locked);
                ((b.user_id, b.asset_id), total)
            })
            .collect();
        let ledger_withdrawal_fees = store.ledger_withdrawal_fees().await?;
        let completed_withdrawal_fees = store.completed_withdrawal_fees().await?;
        if store.projector_offset(name).await? == before {
            return Ok(Books {
                seq: before,
                ledger,
                balances,
                ledger_withdrawal_fees,
                completed_withdrawal_fees,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the ledger kept moving while it was read; try again when it is quieter")
}

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

/// The engine of the trading service, over its internal API.
async fn engine_from_trading(engine: &EngineClient) -> Result<EngineBooks> {
    let err = |e: flowex_http::ApiError| anyhow::anyhow!("trading service: {}", e.message());
    let assets = engine.assets().await.map_err(err)?;
    let (seq, list) = engine.all_balances().await.map_err(err)?;
    Ok(EngineBooks {
        seq,
        assets,
        balances: list
            .into_iter()
            .map(|(u, a, h)| {
                (
                    (u.0, u64::from(a.0)),
                    u128::from(h.available) + u128::from(h.locked),
                )
            })
            .collect(),
    })
}

fn code_of(assets: &[AssetConfig], id: u64) -> (String, u8) {
    assets.iter().find(|a| u64::from(a.id.0) == id).map_or_else(
        || (format!("#{id}"), 0),
        |a| (a.code.as_str().to_string(), a.decimals),
    )
}

/// Compares the books with the engine (see the module documentation).
pub fn compare(books: &Books, engine: &EngineBooks) -> Report {
    let mut r = Report::default();
    r.lines.push(format!(
        "reconciled at seq {} (ledger offset {}, engine seq {})",
        books.seq, books.seq, engine.seq
    ));
    if books.seq != engine.seq {
        r.disagreements.push(format!(
            "the ledger is at seq {} but the engine at seq {}",
            books.seq, engine.seq
        ));
    }
    let mut assets: BTreeSet<u64> = books.ledger.keys().map(|(_, a)| *a).collect();
    assets.extend(engine.balances.keys().map(|(_, a)| *a));
    for &asset in &assets {
        let fees = check_equation(books, engine, asset, &mut r);
        check_fee_account(books, engine, asset, fees, &mut r);
    }
    check_users(books, engine, &mut r);
    r
}

/// `amount` atomic units of `asset` as a decimal.
fn fmt(engine: &EngineBooks, amount: i128, asset: u64) -> String {
    let (_, decimals) = code_of(&engine.assets, asset);
    signed_decimal(amount, decimals)
}

/// The accounting equation of `asset` (check 1): custody + users + fees
/// = 0. Returns the fees the ledger holds.
fn check_equation(books: &Books, engine: &EngineBooks, asset: u64, r: &mut Report) -> i128 {
    let (code, _) = code_of(&engine.assets, asset);
    let of = |pred: &dyn Fn(&LedgerAccount) -> bool| -> i128 {
        books
            .ledger
            .iter()
            .filter(|((acct, a), _)| *a == asset && pred(acct))
            .map(|(_, v)| *v)
            .sum()
    };
    let custody = of(&|a| *a == LedgerAccount::Custody);
    let fees = of(&|a| *a == LedgerAccount::Fees);
    let users = of(&|a| matches!(a, LedgerAccount::User(_)));
    let f = |amount| fmt(engine, amount, asset);
    r.lines.push(format!(
        "{code}: custody holds {} = users {} + fees {}",
        f(-custody),
        f(users),
        f(fees)
    ));
    if custody + users + fees != 0 {
        r.disagreements.push(format!(
            "{code}: the ledger does not balance: custody {} + users {} + fees {} = {}, not 0",
            f(custody),
            f(users),
            f(fees),
            f(custody + users + fees)
        ));
    }
    fees
}

/// The fee account of `asset` (check 3): the ledger's fees less the
/// withdrawal fees it booked, the balances row and the engine agree, and
/// those withdrawal fees are what completed withdrawals charged.
fn check_fee_account(books: &Books, engine: &EngineBooks, asset: u64, fees: i128, r: &mut Report) {
    let (code, _) = code_of(&engine.assets, asset);
    let f = |amount| fmt(engine, amount, asset);
    let wfees = books
        .ledger_withdrawal_fees
        .get(&asset)
        .copied()
        .unwrap_or(0);
    let completed = books
        .completed_withdrawal_fees
        .get(&asset)
        .copied()
        .unwrap_or(0) as i128;
    if wfees != completed {
        r.disagreements.push(format!(
            "{code}: the ledger booked {} of withdrawal fees, completed withdrawals charged {}",
            f(wfees),
            f(completed)
        ));
    }
    let fee_key = (FEE_ACCOUNT.0, asset);
    let engine_fees = engine.balances.get(&fee_key).copied().unwrap_or(0) as i128;
    let row = books.balances.get(&fee_key).copied().unwrap_or(0) as i128;
    if fees - wfees != engine_fees || row != engine_fees {
        r.disagreements.push(format!(
            "fee account {code}: ledger {} (fees {} − withdrawal fees {}), balances {}, engine {}",
            f(fees - wfees),
            f(fees),
            f(wfees),
            f(row),
            f(engine_fees)
        ));
    }
}

/// Every user and asset any source knows (check 2): ledger = balances = engine.
fn check_users(books: &Books, engine: &EngineBooks, r: &mut Report) {
    let mut keys: BTreeSet<(u64, u64)> = books
        .ledger
        .keys()
        .filter_map(|(acct, a)| match acct {
            LedgerAccount::User(u) => Some((*u, *a)),
            _ => None,
        })
        .collect();
    keys.extend(books.balances.keys().filter(|(u, _)| *u != FEE_ACCOUNT.0));
    keys.extend(engine.balances.keys().filter(|(u, _)| *u != FEE_ACCOUNT.0));
    let mut agreeing = 0usize;
    for &(user, asset) in &keys {
        let ledger = books
            .ledger
            .get(&(LedgerAccount::User(user), asset))
            .copied()
            .unwrap_or(0);
        let row = books.balances.get(&(user, asset)).copied().unwrap_or(0) as i128;
        let eng = engine.balances.get(&(user, asset)).copied().unwrap_or(0) as i128;
        if ledger == row && row == eng {
            agreeing += 1;
            continue;
        }
        let (code, _) = code_of(&engine.assets, asset);
        let f = |amount| fmt(engine, amount, asset);
        r.disagreements.push(format!(
            "user {user} {code}: ledger {}, balances {}, engine {}",
            f(ledger),
            f(row),
            f(eng)
        ));
    }
    r.lines.push(format!(
        "{agreeing} of {} user balances agree (ledger = balances = engine)",
        keys.len()
    ));
}

/// `flowex admin reconcile`.
pub async fn run(cfg: &Config) -> Result<()> {
    let store = Store::connect(&crate::ops::database_url(cfg)?)
        .await
        .context("opening the database")?;
    let (books, engine) = match cfg.mode {
        Mode::Embedded => {
            let books = read_books(&store).await?;
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
            let mut tries = 0;
            loop {
                let engine = engine_from_trading(&trading).await?;
                let books = read_books(&store).await?;
                if books.seq == engine.seq || tries == 100 {
                    break (books, engine);
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    store.close().await;
    let report = compare(&books, &engine);
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

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_types::{AssetCode, AssetId};

    fn assets() -> Vec<AssetConfig> {
        vec![AssetConfig {
            id: AssetId(1),
            code: AssetCode::new("BTC").unwrap(),
            decimals: 8,
        }]
    }

    /// User 7 deposited 100, bought with a fee of 1 to the fee account,
    /// and withdrew 10 with a fee of 2: custody −88, user 87, fees 1 + 2.
    fn agreeing() -> (Books, EngineBooks) {
        let mut books = Books {
            seq: 5,
            ..Books::default()
        };
        books.ledger.insert((LedgerAccount::Custody, 1), -90);
        books.ledger.insert((LedgerAccount::User(7), 1), 87);
        books.ledger.insert((LedgerAccount::Fees, 1), 3);
        books.balances.insert((7, 1), 87);
        books.balances.insert((0, 1), 1);
        books.ledger_withdrawal_fees.insert(1, 2);
        books.completed_withdrawal_fees.insert(1, 2);
        let mut engine = EngineBooks {
            seq: 5,
            assets: assets(),
            ..EngineBooks::default()
        };
        engine.balances.insert((7, 1), 87);
        engine.balances.insert((0, 1), 1);
        (books, engine)
    }

    #[test]
    fn agreeing_books_pass() {
        let (books, engine) = agreeing();
        let r = compare(&books, &engine);
        assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
        assert!(
            r.lines
                .iter()
                .any(|l| l.contains("BTC: custody holds 0.00000090")),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn every_disagreement_is_named() {
        let (mut books, engine) = agreeing();
        books.balances.insert((7, 1), 88);
        let r = compare(&books, &engine);
        assert_eq!(
            r.disagreements,
            vec!["user 7 BTC: ledger 0.00000087, balances 0.00000088, engine 0.00000087"]
        );
        let (mut books, engine) = agreeing();
        books.ledger.insert((LedgerAccount::User(7), 1), 86);
        let r = compare(&books, &engine);
        assert_eq!(r.disagreements.len(), 2, "{:?}", r.disagreements);
        assert!(r.disagreements[0].contains("BTC: the ledger does not balance"));
        assert!(r.disagreements[1].starts_with("user 7 BTC: ledger 0.00000086"));
        let (books, mut engine) = agreeing();
        engine.balances.insert((8, 1), 5);
        engine.balances.insert((0, 1), 2);
        let r = compare(&books, &engine);
        assert_eq!(r.disagreements.len(), 2, "{:?}", r.disagreements);
        assert!(
            r.disagreements[0].starts_with("fee account BTC"),
            "{:?}",
            r.disagreements
        );
        assert_eq!(
            r.disagreements[1],
            "user 8 BTC: ledger 0.00000000, balances 0.00000000, engine 0.00000005"
        );
        let (mut books, engine) = agreeing();
        books.completed_withdrawal_fees.insert(1, 3);
        books.seq = 4;
        let r = compare(&books, &engine);
        assert_eq!(r.disagreements.len(), 2, "{:?}", r.disagreements);
    }
}
