//! Reconciliation: do the ledger, the SQL balances and the engine agree?
//!
//! The one implementation behind `flowex admin reconcile`, the admin API
//! `GET /api/v1/admin/reconcile` ([`admin_reconcile`]) and the
//! `flowex_ledger_imbalance_atoms` gauge ([`asset_sums`], sampled by
//! [`crate::sampler`]).
//!
//! Three sources, read at one journal seq:
//!
//! 1. the double-entry ledger (`ledger_entries`), summed per account and asset;
//! 2. the `balances` table (available + locked per user and asset);
//! 3. the engine: over an [`EngineClient`] ([`at_one_seq`]: the engine and
//!    the books are read again until the ledger has caught up with the
//!    engine's seq), or, for the offline command in embedded mode,
//!    recovered from the journal at exactly the ledger's seq (the caller
//!    builds the [`EngineBooks`]).
//!
//! Checks (booking rules: docs/WALLET.md): per asset the ledger sums to
//! zero (custody + Σ users + fees = 0); per user and asset ledger =
//! `balances` = engine; the engine's fee account (user 0) = ledger fees −
//! the withdrawal fees the ledger booked = its `balances` row; the
//! withdrawal fees the ledger booked = the fees of completed withdrawals.
//! Every disagreement is named by user and asset.

use crate::history::signed_decimal;
use crate::WalletState;
use anyhow::{bail, Result};
use axum::extract::State;
use axum::Json;
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_service::EngineClient;
use flowex_store::{LedgerAccount, Store, StoreError};
use flowex_types::{AssetConfig, FEE_ACCOUNT};
use serde::Serialize;
use serde_json::Value;
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

/// One asset's totals, in atomic units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetCheck {
    pub asset: u64,
    /// Σ every engine balance of the asset (users and the fee account).
    pub engine_total: i128,
    /// What the ledger says the engine holds: Σ user accounts + fees −
    /// the withdrawal fees booked (those left the engine with the withdrawal).
    pub ledger_total: i128,
    /// custody + Σ users + fees: 0 when the ledger balances.
    pub imbalance: i128,
    /// No disagreement names this asset.
    pub ok: bool,
}

/// What [`compare`] found.
#[derive(Debug, Default)]
pub struct Report {
    pub seq: u64,
    pub lines: Vec<String>,
    pub disagreements: Vec<String>,
    pub assets: Vec<AssetCheck>,
}

impl Report {
    fn disagree(&mut self, asset: Option<u64>, text: String) {
        if let Some(check) = asset.and_then(|a| self.assets.iter_mut().find(|c| c.asset == a)) {
            check.ok = false;
        }
        self.disagreements.push(text);
    }
}

/// One asset's ledger accounts summed by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssetSums {
    pub custody: i128,
    pub users: i128,
    pub fees: i128,
}

impl AssetSums {
    /// custody + users + fees: 0 in a ledger that balances (double entry).
    pub fn imbalance(&self) -> i128 {
        self.custody + self.users + self.fees
    }
}

/// The ledger's totals per asset and account kind: the accounting equation
/// this module checks and the imbalance gauge reports.
pub fn asset_sums(ledger: &BTreeMap<(LedgerAccount, u64), i128>) -> BTreeMap<u64, AssetSums> {
    let mut sums: BTreeMap<u64, AssetSums> = BTreeMap::new();
    for ((account, asset), amount) in ledger {
        let s = sums.entry(*asset).or_default();
        match account {
            LedgerAccount::Custody => s.custody += amount,
            LedgerAccount::Fees => s.fees += amount,
            LedgerAccount::User(_) => s.users += amount,
        }
    }
    sums
}

/// Reads the books; retried until no projection commit landed during the
/// read (the offset before and after are the same).
pub async fn read_books(store: &Store) -> Result<Books> {
    let name = crate::ledger::PROJECTOR;
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

/// The engine's balances over `engine` (the sequencer in `flowex up`,
/// trading's internal API in distributed mode).
pub async fn engine_books(engine: &EngineClient) -> Result<EngineBooks> {
    let assets = engine.assets().await?;
    let (seq, list) = engine.all_balances().await?;
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

/// The engine and the books at one seq: read again (every 100 ms, at most
/// `tries` times) until the ledger has applied exactly what the engine has;
/// the last pair otherwise (whose seqs [`compare`] reports as a disagreement).
pub async fn at_one_seq(
    store: &Store,
    client: &EngineClient,
    tries: u32,
) -> Result<(Books, EngineBooks)> {
    let mut tried = 0;
    loop {
        let engine = engine_books(client).await?;
        let books = read_books(store).await?;
        tried += 1;
        if books.seq == engine.seq || tried >= tries {
            return Ok((books, engine));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code_of(assets: &[AssetConfig], id: u64) -> (String, u8) {
    assets.iter().find(|a| u64::from(a.id.0) == id).map_or_else(
        || (format!("#{id}"), 0),
        |a| (a.code.as_str().to_string(), a.decimals),
    )
}

/// Compares the books with the engine (see the module documentation).
pub fn compare(books: &Books, engine: &EngineBooks) -> Report {
    let mut r = Report {
        seq: books.seq,
        ..Report::default()
    };
    r.lines.push(format!(
        "reconciled at seq {} (ledger offset {}, engine seq {})",
        books.seq, books.seq, engine.seq
    ));
    if books.seq != engine.seq {
        r.disagree(
            None,
            format!(
                "the ledger is at seq {} but the engine at seq {}",
                books.seq, engine.seq
            ),
        );
    }
    let sums = asset_sums(&books.ledger);
    let mut assets: BTreeSet<u64> = sums.keys().copied().collect();
    assets.extend(engine.balances.keys().map(|(_, a)| *a));
    for &asset in &assets {
        let s = sums.get(&asset).copied().unwrap_or_default();
        r.assets.push(asset_totals(books, engine, asset, &s));
        check_equation(engine, asset, &s, &mut r);
        check_fee_account(books, engine, asset, s.fees, &mut r);
    }
    check_users(books, engine, &mut r);
    r
}

fn asset_totals(books: &Books, engine: &EngineBooks, asset: u64, s: &AssetSums) -> AssetCheck {
    let wfees = books
        .ledger_withdrawal_fees
        .get(&asset)
        .copied()
        .unwrap_or(0);
    let engine_total = engine
        .balances
        .iter()
        .filter(|((_, a), _)| *a == asset)
        .map(|(_, v)| *v as i128)
        .sum();
    AssetCheck {
        asset,
        engine_total,
        ledger_total: s.users + s.fees - wfees,
        imbalance: s.imbalance(),
        ok: true,
    }
}

/// `amount` atomic units of `asset` as a decimal.
fn fmt(engine: &EngineBooks, amount: i128, asset: u64) -> String {
    let (_, decimals) = code_of(&engine.assets, asset);
    signed_decimal(amount, decimals)
}

/// The accounting equation of `asset` (check 1): custody + users + fees = 0.
fn check_equation(engine: &EngineBooks, asset: u64, s: &AssetSums, r: &mut Report) {
    let (code, _) = code_of(&engine.assets, asset);
    let f = |amount| fmt(engine, amount, asset);
    r.lines.push(format!(
        "{code}: custody holds {} = users {} + fees {}",
        f(-s.custody),
        f(s.users),
        f(s.fees)
    ));
    if s.imbalance() != 0 {
        let text = format!(
            "{code}: the ledger does not balance: custody {} + users {} + fees {} = {}, not 0",
            f(s.custody),
            f(s.users),
            f(s.fees),
            f(s.imbalance())
        );
        r.disagree(Some(asset), text);
    }
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
        let text = format!(
            "{code}: the ledger booked {} of withdrawal fees, completed withdrawals charged {}",
            f(wfees),
            f(completed)
        );
        r.disagree(Some(asset), text);
    }
    let fee_key = (FEE_ACCOUNT.0, asset);
    let engine_fees = engine.balances.get(&fee_key).copied().unwrap_or(0) as i128;
    let row = books.balances.get(&fee_key).copied().unwrap_or(0) as i128;
    if fees - wfees != engine_fees || row != engine_fees {
        let text = format!(
            "fee account {code}: ledger {} (fees {} − withdrawal fees {}), balances {}, engine {}",
            f(fees - wfees),
            f(fees),
            f(wfees),
            f(row),
            f(engine_fees)
        );
        r.disagree(Some(asset), text);
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
        let text = format!(
            "user {user} {code}: ledger {}, balances {}, engine {}",
            f(ledger),
            f(row),
            f(eng)
        );
        r.disagree(Some(asset), text);
    }
    r.lines.push(format!(
        "{agreeing} of {} user balances agree (ledger = balances = engine)",
        keys.len()
    ));
}

/// One asset in the answer of `GET /api/v1/admin/reconcile` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
struct AssetReconcile {
    /// The asset's code.
    #[schema(example = "USDT")]
    asset: String,
    /// Σ every engine balance (users and the fee account), decimal string.
    #[schema(example = "1000.00000000")]
    engine_total: String,
    /// What the ledger says the engine holds (user accounts + fees − withdrawal fees booked), decimal string.
    #[schema(example = "1000.00000000")]
    ledger_total: String,
    /// engine_total − ledger_total, decimal string (0 when they agree).
    #[schema(example = "0.00000000")]
    difference: String,
    /// custody + users + fees in the ledger, decimal string (0 when it balances).
    #[schema(example = "0.00000000")]
    ledger_imbalance: String,
    /// Totals agree, the ledger balances and no user or fee account of this asset disagrees.
    ok: bool,
}

/// The answer of `GET /api/v1/admin/reconcile` (OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
struct ReconcileReport {
    /// Nothing disagrees.
    ok: bool,
    /// The journal seq the books were compared at.
    seq: u64,
    /// Ms since the Unix epoch.
    checked_at: i64,
    /// Every asset the ledger or the engine knows.
    assets: Vec<AssetReconcile>,
    /// Each disagreement in words (by user and asset), as `flowex admin reconcile` prints it.
    disagreements: Vec<String>,
}

fn report_view(r: &Report, engine: &EngineBooks, checked_at: i64) -> ReconcileReport {
    let assets = r
        .assets
        .iter()
        .map(|c| {
            let f = |amount| fmt(engine, amount, c.asset);
            AssetReconcile {
                asset: code_of(&engine.assets, c.asset).0,
                engine_total: f(c.engine_total),
                ledger_total: f(c.ledger_total),
                difference: f(c.engine_total - c.ledger_total),
                ledger_imbalance: f(c.imbalance),
                ok: c.ok,
            }
        })
        .collect();
    ReconcileReport {
        ok: r.disagreements.is_empty(),
        seq: r.seq,
        checked_at,
        assets,
        disagreements: r.disagreements.clone(),
    }
}

/// A failed read as the API's error: the store's own mapping, the engine
/// client's error as it came, anything else (the ledger kept moving) 503.
fn read_error(e: anyhow::Error) -> ApiError {
    let e = match e.downcast::<StoreError>() {
        Ok(e) => return flowex_kit::store_error(e),
        Err(e) => e,
    };
    match e.downcast::<ApiError>() {
        Ok(e) => e,
        Err(e) => ApiError::unavailable(e.to_string()).with_retry_after(1),
    }
}

/// `GET /api/v1/admin/reconcile`.
#[utoipa::path(get, path = "/api/v1/admin/reconcile", tag = "admin",
    summary = "Reconcile the ledger, the balances and the engine (admin)",
    description = "The check of `flowex admin reconcile`, on the running exchange: the ledger, the SQL balances and the engine read at one journal seq (read again for up to 5 s until the ledger has caught up with the engine), then per asset the engine's total against the ledger's, the ledger's own balance, and every user's and the fee account's balance in all three. Read-only. A disagreement is a 200 with `ok: false` and each one named.",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The comparison.", body = ReconcileReport),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`.", body = NativeError),
        (status = 403, description = "`forbidden`: not an admin.", body = NativeError),
        (status = 503, description = "`service_unavailable`: the database or the engine did not answer, or the ledger kept moving while it was read; try again.", body = NativeError),
    ))]
pub async fn admin_reconcile(
    State(s): State<WalletState>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    flowex_kit::require_admin(&s.store, Some(&who)).await?;
    let (books, engine) = at_one_seq(&s.store, &s.sink, 50)
        .await
        .map_err(read_error)?;
    let report = compare(&books, &engine);
    let view = report_view(&report, &engine, flowex_http::clock::now_ms_i64());
    Ok(Json(to_value(&view)))
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
        assert_eq!(
            r.assets,
            vec![AssetCheck {
                asset: 1,
                engine_total: 88,
                ledger_total: 88,
                imbalance: 0,
                ok: true
            }]
        );
        let view = report_view(&r, &engine, 1);
        assert!(view.ok);
        assert_eq!(view.assets[0].difference, "0.00000000");
        assert_eq!(view.assets[0].engine_total, "0.00000088");
    }

    #[test]
    fn the_gauge_and_the_check_share_the_equation() {
        let (mut books, engine) = agreeing();
        assert_eq!(asset_sums(&books.ledger)[&1].imbalance(), 0);
        books.ledger.insert((LedgerAccount::Fees, 1), 4);
        assert_eq!(asset_sums(&books.ledger)[&1].imbalance(), 1);
        let r = compare(&books, &engine);
        assert_eq!(r.assets[0].imbalance, 1);
        assert!(!r.assets[0].ok);
        let view = report_view(&r, &engine, 1);
        assert!(!view.ok);
        assert_eq!(view.assets[0].ledger_imbalance, "0.00000001");
        assert_eq!(view.assets[0].difference, "-0.00000001");
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
        assert!(!r.assets[0].ok);
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
        assert_eq!(r.assets[0].engine_total - r.assets[0].ledger_total, 6);
        let (mut books, engine) = agreeing();
        books.completed_withdrawal_fees.insert(1, 3);
        books.seq = 4;
        let r = compare(&books, &engine);
        assert_eq!(r.disagreements.len(), 2, "{:?}", r.disagreements);
    }
}
