//! The double-entry ledger: the engine's events booked as `ledger_entries`,
//! with the `balances` table, one SQL transaction per journal seq together
//! with the wallet's offset ([`PROJECTOR`]).
//!
//! # Accounts and signs
//!
//! Per asset: `('user', id)` — what the platform owes a user (liability);
//! `fees` — fee revenue; `custody` — the platform's holdings. A credit to an
//! account is positive. Every command's entries sum to zero per asset, so
//! per asset `custody + Σ users + fees = 0` at every seq: `-custody` is what
//! the platform holds, and it equals what it owes plus what it earned.
//!
//! # Booking rules ([`book`])
//!
//! The amounts come from the engine's `BalanceChanged` events: a user's
//! entry is the change of their total (available + locked) against the
//! `balances` row, so the ledger and the balances can never drift apart.
//! Moving funds between available and locked (orders, withdrawal locks) is
//! no entry. The causes:
//!
//! | command | entries |
//! |---|---|
//! | `Deposit` | user `+a` (deposit), custody `−a` (deposit) |
//! | trade (`PlaceOrder` that fills, stop cascades) | each user's net change without fees (trade); per fill and side: payer `−fee`, fees `+fee` (fee) |
//! | `WithdrawFinalize` of a wallet withdrawal (`amount` + `fee` locked) | user `−amount` (withdrawal), custody `+amount` (withdrawal: what left), user `−fee`, fees `+fee` (fee) |
//! | `Withdraw` (operator, instant) | user `−a` or fees `−a` (the fee account), custody `+a` (withdrawal) |
//! | anything else that changes a total | the change (adjustment), custody the other side |
//!
//! The withdrawal fee leaves the user's engine balance with the withdrawal
//! (the engine has no transfer command) but stays in custody: the platform
//! sends `amount` and keeps `fee`. So the ledger's `fees` account is the
//! engine's fee account (user 0: trade fees) plus the fees of completed
//! withdrawals, which `flowex admin reconcile` checks.
//!
//! # Both modes
//!
//! In one process ([`start_local`]) the projection follows the sequencer
//! with [`flowex_bus::follow_sequencer`] (catch-up from the journal, then
//! live), the same loop as trading's order history; in distributed mode
//! [`crate::events::run_feed`] follows the Redis stream and calls
//! [`write`] in its own projection transaction.

use crate::CommandSink;
use flowex_bus::EventRecord;
use flowex_store::{
    BalanceRecord, DepositRecord, DepositState, LedgerAccount, LedgerCause, LedgerEntry,
    ProjectionTx, Store,
};
use flowex_types::{AssetId, Event, IdemKey, MarketConfig, MarketId, Side, FEE_ACCOUNT};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The ledger's name in `projector_offsets` (the wallet's one projection,
/// in both modes).
pub const PROJECTOR: &str = "wallet";

/// Batches of room in the in-process subscription.
const SUBSCRIPTION_CAPACITY: usize = 4096;

/// Market id → configuration (for the assets a trade's fees are paid in),
/// learnt from `MarketCreated`/`MarketUpdated` events and, for a market
/// created before the projection started, asked of the engine.
#[derive(Clone)]
pub struct Markets {
    sink: CommandSink,
    known: Arc<RwLock<HashMap<MarketId, MarketConfig>>>,
}

impl Markets {
    pub fn new(sink: CommandSink) -> Self {
        Markets {
            sink,
            known: Arc::default(),
        }
    }

    /// The configurations of the markets `events` trade in.
    async fn for_events(
        &self,
        events: &[Event],
    ) -> Result<HashMap<MarketId, MarketConfig>, String> {
        let mut wanted: Vec<MarketId> = Vec::new();
        {
            let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
            for e in events {
                match e {
                    Event::MarketCreated(m) | Event::MarketUpdated(m) => {
                        known.insert(m.id, *m);
                    }
                    Event::Trade(t) if !wanted.contains(&t.market) => wanted.push(t.market),
                    _ => {}
                }
            }
        }
        let missing = {
            let known = self.known.read().unwrap_or_else(|p| p.into_inner());
            wanted.iter().any(|m| !known.contains_key(m))
        };
        if missing {
            let all = self
                .sink
                .markets()
                .await
                .map_err(|e| e.message().to_string())?;
            let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
            for m in all {
                known.insert(m.id, m);
            }
        }
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        wanted
            .into_iter()
            .map(|m| {
                known
                    .get(&m)
                    .map(|c| (m, *c))
                    .ok_or_else(|| format!("market {} is unknown to the engine", m.0))
            })
            .collect()
    }
}

/// A withdrawal of the wallet as the booking needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithdrawalFee {
    pub id: u64,
    /// What the user receives.
    pub amount: u64,
    pub fee: u64,
}

/// What one command changes in SQL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Booking {
    pub entries: Vec<LedgerEntry>,
    pub balances: Vec<BalanceRecord>,
}

fn account_of(user: u64) -> LedgerAccount {
    if user == FEE_ACCOUNT.0 {
        LedgerAccount::Fees
    } else {
        LedgerAccount::User(user)
    }
}

/// The primary cause of a command and its reference.
fn primary_cause(
    events: &[Event],
    markets: &HashMap<MarketId, MarketConfig>,
    withdrawals: &HashMap<IdemKey, WithdrawalFee>,
) -> (LedgerCause, Option<String>) {
    let mut trades = events.iter().filter_map(|e| match e {
        Event::Trade(t) => Some(t),
        _ => None,
    });
    if let Some(first) = trades.next() {
        let last = trades.next_back().map_or(first.id.0, |t| t.id.0);
        let sym = markets
            .get(&first.market)
            .map_or_else(|| first.market.0.to_string(), |m| m.symbol.to_string());
        let ids = if last == first.id.0 {
            first.id.0.to_string()
        } else {
            format!("{}-{last}", first.id.0)
        };
        return (LedgerCause::Trade, Some(format!("trade:{sym}:{ids}")));
    }
    for e in events {
        match e {
            Event::Deposited { key, .. } => {
                return (LedgerCause::Deposit, Some(format!("deposit:{key}")))
            }
            Event::Withdrawn { key, .. } => {
                return (LedgerCause::Withdrawal, Some(format!("withdraw:{key}")))
            }
            Event::WithdrawFinalized { key, .. } => {
                let r = withdrawals.get(key).map_or_else(
                    || format!("withdraw:{key}"),
                    |w| format!("withdrawal:{}", w.id),
                );
                return (LedgerCause::Withdrawal, Some(r));
            }
            _ => {}
        }
    }
    (LedgerCause::Adjustment, None)
}

/// Books one command (see the module documentation). `prior` holds the
/// stored total (available + locked) of every (user, asset) the command's
/// `BalanceChanged` events name (absent: 0); `markets` the markets it
/// trades in; `withdrawals` the wallet's withdrawals it finalizes.
pub fn book(
    record: &EventRecord,
    prior: &BTreeMap<(u64, AssetId), u128>,
    markets: &HashMap<MarketId, MarketConfig>,
    withdrawals: &HashMap<IdemKey, WithdrawalFee>,
) -> Booking {
    let at = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
    let seq = record.seq;
    let mut finals: BTreeMap<(u64, AssetId), (u64, u64)> = BTreeMap::new();
    for e in &record.events {
        if let Event::BalanceChanged {
            user,
            asset,
            available,
            locked,
        } = e
        {
            finals.insert((user.0, *asset), (*available, *locked));
        }
    }
    let (cause, reference) = primary_cause(&record.events, markets, withdrawals);
    // Legs whose amount the engine's balances explain: (account, asset, amount, cause, reference).
    let mut fee_legs: Vec<(LedgerAccount, AssetId, i128, Option<String>)> = Vec::new();
    // Part of each (user, asset) change that a fee leg already books.
    let mut explained: BTreeMap<(u64, AssetId), i128> = BTreeMap::new();
    for e in &record.events {
        match e {
            Event::Trade(t) => {
                let Some(m) = markets.get(&t.market) else {
                    continue;
                };
                let r = Some(format!("trade:{}:{}", m.symbol, t.id.0));
                let (buyer, seller, buyer_fee, seller_fee) = match t.taker_side {
                    Side::Buy => (t.taker_user, t.maker_user, t.taker_fee, t.maker_fee),
                    Side::Sell => (t.maker_user, t.taker_user, t.maker_fee, t.taker_fee),
                };
                for (payer, asset, fee) in
                    [(buyer, m.base, buyer_fee), (seller, m.quote, seller_fee)]
                {
                    if fee == 0 {
                        continue;
                    }
                    let fee = i128::from(fee);
                    fee_legs.push((account_of(payer.0), asset, -fee, r.clone()));
                    fee_legs.push((LedgerAccount::Fees, asset, fee, r.clone()));
                    *explained.entry((payer.0, asset)).or_default() -= fee;
                    *explained.entry((FEE_ACCOUNT.0, asset)).or_default() += fee;
                }
            }
            Event::WithdrawFinalized {
                key,
                user,
                asset,
                amount,
            } => {
                let Some(w) = withdrawals.get(key) else {
                    continue;
                };
                if w.fee == 0 || w.amount.checked_add(w.fee) != Some(*amount) {
                    continue;
                }
                // The fee stays in custody: the fees leg has no engine balance behind it.
                let fee = i128::from(w.fee);
                fee_legs.push((account_of(user.0), *asset, -fee, reference.clone()));
                fee_legs.push((LedgerAccount::Fees, *asset, fee, reference.clone()));
                *explained.entry((user.0, *asset)).or_default() -= fee;
            }
            _ => {}
        }
    }
    let mut legs: Vec<(LedgerAccount, AssetId, i128, LedgerCause, Option<String>)> = Vec::new();
    for (&(user, asset), &(available, locked)) in &finals {
        let total = u128::from(available) + u128::from(locked);
        let before = prior.get(&(user, asset)).copied().unwrap_or(0);
        let change = total as i128 - before as i128;
        let rest = change - explained.get(&(user, asset)).copied().unwrap_or(0);
        if rest != 0 {
            legs.push((account_of(user), asset, rest, cause, reference.clone()));
        }
    }
    legs.extend(
        fee_legs
            .into_iter()
            .map(|(acct, asset, amount, r)| (acct, asset, amount, LedgerCause::Fee, r)),
    );
    // What is left per asset entered or left the platform: custody's side.
    let mut sums: BTreeMap<AssetId, i128> = BTreeMap::new();
    for (_, asset, amount, _, _) in &legs {
        *sums.entry(*asset).or_default() += amount;
    }
    for (asset, sum) in sums {
        if sum != 0 {
            let c = match cause {
                LedgerCause::Deposit | LedgerCause::Withdrawal => cause,
                _ => LedgerCause::Adjustment,
            };
            legs.push((LedgerAccount::Custody, asset, -sum, c, reference.clone()));
        }
    }
    let entries = legs
        .into_iter()
        .enumerate()
        .map(
            |(idx, (account, asset, amount, cause, reference))| LedgerEntry {
                seq,
                idx: idx as u32,
                at,
                account,
                asset_id: u64::from(asset.0),
                amount,
                cause,
                reference,
            },
        )
        .collect();
    let balances = finals
        .into_iter()
        .map(|((user, asset), (available, locked))| BalanceRecord {
            user_id: user,
            asset_id: u64::from(asset.0),
            available,
            locked,
            seq,
        })
        .collect();
    Booking { entries, balances }
}

/// Writes one command's entries and balances through its projection
/// transaction (which also stores the offset when committed).
pub async fn write(
    tx: &mut ProjectionTx,
    record: &EventRecord,
    markets: &Markets,
) -> Result<usize, String> {
    let market_cfgs = markets.for_events(&record.events).await?;
    let mut prior = BTreeMap::new();
    let mut withdrawals = HashMap::new();
    for e in &record.events {
        match e {
            Event::BalanceChanged { user, asset, .. } if !prior.contains_key(&(user.0, *asset)) => {
                let total = tx
                    .balance_of(user.0, u64::from(asset.0))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_or(0, |b| u128::from(b.available) + u128::from(b.locked));
                prior.insert((user.0, *asset), total);
            }
            Event::WithdrawFinalized { key, .. } => {
                let found = tx
                    .withdrawal_by_key(key.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(w) = found {
                    let fee = WithdrawalFee {
                        id: w.id,
                        amount: w.amount,
                        fee: w.fee,
                    };
                    withdrawals.insert(*key, fee);
                }
            }
            _ => {}
        }
    }
    let booking = book(record, &prior, &market_cfgs, &withdrawals);
    if !booking.entries.is_empty() {
        tx.insert_ledger_entries(&booking.entries)
            .await
            .map_err(|e| e.to_string())?;
    }
    for b in &booking.balances {
        tx.upsert_balance(b).await.map_err(|e| e.to_string())?;
    }
    record_deposits(tx, record).await?;
    Ok(booking.entries.len())
}

/// Marks the command's deposits credited in `deposits` (recording those
/// the wallet never saw requested, such as faucet claims and demo seeding,
/// so that every user's deposit history is complete).
async fn record_deposits(tx: &mut ProjectionTx, record: &EventRecord) -> Result<(), String> {
    let at = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
    for e in &record.events {
        if let Event::Deposited {
            key,
            user,
            asset,
            amount,
        } = e
        {
            let key = key.as_str();
            let source = if key.starts_with("admin:") {
                "admin"
            } else if key.starts_with("faucet-") {
                "faucet"
            } else {
                "engine"
            };
            let d = DepositRecord {
                idem_key: key.to_string(),
                user_id: user.0,
                asset_id: u64::from(asset.0),
                amount: *amount,
                state: DepositState::Credited,
                source: source.to_string(),
                reference: None,
                created_at: at,
                credited_at: Some(at),
                seq: Some(record.seq),
            };
            tx.project_deposit_credited(&d)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Applies one command once: `false` (and nothing written) if the offset
/// already covers it.
pub async fn project(
    store: &Store,
    markets: &Markets,
    record: &EventRecord,
) -> Result<bool, String> {
    let Some(mut tx) = store
        .begin_projection(PROJECTOR, record.seq..=record.seq)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    write(&mut tx, record, markets).await?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(true)
}

struct LocalLedger {
    store: Store,
    markets: Markets,
}

impl flowex_bus::Projection for LocalLedger {
    async fn offset(&self) -> Result<u64, String> {
        self.store
            .projector_offset(PROJECTOR)
            .await
            .map_err(|e| e.to_string())
    }

    async fn apply(&self, record: &EventRecord) -> Result<(), String> {
        project(&self.store, &self.markets, record)
            .await
            .map(|_| ())
    }
}

/// Starts the ledger projection of the in-process sequencer `sink` (whose
/// journal is `journal_dir`) into `store`; the task ends when the
/// sequencer stops (aborting it is safe: an unfinished transaction rolls
/// back and the next start resumes from the stored offset).
pub fn start_local(
    seq: flowex_sequencer::SequencerHandle,
    store: Store,
    journal_dir: PathBuf,
) -> tokio::task::JoinHandle<()> {
    let markets = Markets::new(CommandSink::Local(seq.clone()));
    let cfg = flowex_bus::FollowConfig {
        name: PROJECTOR,
        journal_dir,
        capacity: SUBSCRIPTION_CAPACITY,
    };
    tokio::spawn(flowex_bus::follow_sequencer(
        seq,
        cfg,
        LocalLedger { store, markets },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_types::UserId;

    fn changed(user: u64, asset: u32, available: u64, locked: u64) -> Event {
        Event::BalanceChanged {
            user: UserId(user),
            asset: AssetId(asset),
            available,
            locked,
        }
    }

    fn legs(b: &Booking) -> Vec<(LedgerAccount, u64, i128, LedgerCause)> {
        b.entries
            .iter()
            .map(|e| (e.account, e.asset_id, e.amount, e.cause))
            .collect()
    }

    #[test]
    fn operator_withdrawal_of_fees_and_lock_moves() {
        let key = IdemKey::new("fees-out").unwrap();
        // The operator takes 5 of the fee account's 7 out.
        let record = EventRecord {
            seq: 9,
            timestamp_ns: 2_000_000,
            events: vec![
                Event::Withdrawn {
                    key,
                    user: FEE_ACCOUNT,
                    asset: AssetId(1),
                    amount: 5,
                },
                changed(0, 1, 2, 0),
            ],
        };
        let prior = BTreeMap::from([((0, AssetId(1)), 7u128)]);
        let b = book(&record, &prior, &HashMap::new(), &HashMap::new());
        assert_eq!(
            legs(&b),
            vec![
                (LedgerAccount::Fees, 1, -5, LedgerCause::Withdrawal),
                (LedgerAccount::Custody, 1, 5, LedgerCause::Withdrawal),
            ]
        );
        assert_eq!(b.entries[0].at, 2);
        assert_eq!(b.entries[0].reference.as_deref(), Some("withdraw:fees-out"));
        // A lock moves available to locked: no entry, the balance row only.
        let record = EventRecord {
            seq: 10,
            timestamp_ns: 0,
            events: vec![changed(4, 1, 3, 7)],
        };
        let prior = BTreeMap::from([((4, AssetId(1)), 10u128)]);
        let b = book(&record, &prior, &HashMap::new(), &HashMap::new());
        assert!(b.entries.is_empty());
        assert_eq!(b.balances.len(), 1);
        assert_eq!((b.balances[0].available, b.balances[0].locked), (3, 7));
    }

    #[test]
    fn a_finalized_withdrawal_splits_its_fee() {
        let key = IdemKey::new("withdrawal:3").unwrap();
        let record = EventRecord {
            seq: 12,
            timestamp_ns: 0,
            events: vec![
                Event::WithdrawFinalized {
                    key,
                    user: UserId(4),
                    asset: AssetId(1),
                    amount: 105,
                },
                changed(4, 1, 0, 0),
            ],
        };
        let prior = BTreeMap::from([((4, AssetId(1)), 105u128)]);
        let fees = HashMap::from([(
            key,
            WithdrawalFee {
                id: 3,
                amount: 100,
                fee: 5,
            },
        )]);
        let b = book(&record, &prior, &HashMap::new(), &fees);
        assert_eq!(
            legs(&b),
            vec![
                (LedgerAccount::User(4), 1, -100, LedgerCause::Withdrawal),
                (LedgerAccount::User(4), 1, -5, LedgerCause::Fee),
                (LedgerAccount::Fees, 1, 5, LedgerCause::Fee),
                (LedgerAccount::Custody, 1, 100, LedgerCause::Withdrawal),
            ]
        );
        assert!(b
            .entries
            .iter()
            .all(|e| e.reference.as_deref() == Some("withdrawal:3")));
        // Without the wallet's row (an engine-only withdrawal) it all leaves.
        let b = book(&record, &prior, &HashMap::new(), &HashMap::new());
        assert_eq!(
            legs(&b),
            vec![
                (LedgerAccount::User(4), 1, -105, LedgerCause::Withdrawal),
                (LedgerAccount::Custody, 1, 105, LedgerCause::Withdrawal),
            ]
        );
    }
}
