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
//! # One projection, both modes
//!
//! [`Ledger`] is one [`Projection`] on the one follower
//! ([`flowex_bus::Follower`]): in one process ([`start_local`]) on the
//! sequencer (catch-up from the journal, then live), in distributed mode
//! ([`crate::events::run_feed`]) on the Redis stream. Each batch of
//! records is booked in one projection transaction with the offset. The
//! markets a trade's fees are paid in come from the events and the
//! [`Catalog`] stored with the offset, never from the live engine.

use flowex_bus::{
    Catalog, CatalogError, EventRecord, FollowStatus, Follower, Projection, Source, Start,
    StartContext,
};
use flowex_store::{
    BalanceRecord, DepositRecord, DepositState, LedgerAccount, LedgerCause, LedgerEntry,
    ProjectionTx, Store, StoreError,
};
use flowex_types::{AssetId, Event, IdemKey, Side, FEE_ACCOUNT};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The ledger's name in `projector_offsets` (the wallet's one projection,
/// in both modes).
pub const PROJECTOR: &str = "wallet";

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
    catalog: &Catalog,
    withdrawals: &HashMap<IdemKey, WithdrawalFee>,
) -> (LedgerCause, Option<String>) {
    let mut trades = events.iter().filter_map(|e| match e {
        Event::Trade(t) => Some(t),
        _ => None,
    });
    if let Some(first) = trades.next() {
        let last = trades.next_back().map_or(first.id.0, |t| t.id.0);
        let sym = catalog
            .market(first.market)
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

/// One ledger leg before it is numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Leg {
    account: LedgerAccount,
    asset: AssetId,
    amount: i128,
    cause: LedgerCause,
    reference: Option<String>,
}

/// Final (available, locked) per (user, asset), from `BalanceChanged`.
type Finals = BTreeMap<(u64, AssetId), (u64, u64)>;

/// Books one command (see the module documentation). `prior` holds the
/// stored total (available + locked) of every (user, asset) the command's
/// `BalanceChanged` events name (absent: 0); `catalog` the markets it
/// trades in; `withdrawals` the wallet's withdrawals it finalizes.
pub fn book(
    record: &EventRecord,
    prior: &BTreeMap<(u64, AssetId), u128>,
    catalog: &Catalog,
    withdrawals: &HashMap<IdemKey, WithdrawalFee>,
) -> Booking {
    let mut finals: Finals = BTreeMap::new();
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
    let (cause, reference) = primary_cause(&record.events, catalog, withdrawals);
    let fees = fee_legs(&record.events, catalog, withdrawals, &reference);
    let mut legs = change_legs(&finals, prior, &fees.explained, cause, &reference);
    legs.extend(fees.legs);
    let custody = custody_legs(&legs, cause, &reference);
    legs.extend(custody);
    let at = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
    let entries = legs
        .into_iter()
        .enumerate()
        .map(|(idx, leg)| LedgerEntry {
            seq: record.seq,
            idx: idx as u32,
            at,
            account: leg.account,
            asset_id: u64::from(leg.asset.0),
            amount: leg.amount,
            cause: leg.cause,
            reference: leg.reference,
        })
        .collect();
    let balances = finals
        .into_iter()
        .map(|((user, asset), (available, locked))| BalanceRecord {
            user_id: user,
            asset_id: u64::from(asset.0),
            available,
            locked,
            seq: record.seq,
        })
        .collect();
    Booking { entries, balances }
}

/// The fee legs of a command, and the part of each (user, asset) change
/// they already book.
struct FeeLegs {
    legs: Vec<Leg>,
    explained: BTreeMap<(u64, AssetId), i128>,
}

impl FeeLegs {
    /// `payer` pays `fee` of `asset` into the fees account.
    fn pay(&mut self, payer: u64, asset: AssetId, fee: u64, reference: &Option<String>) {
        let fee = i128::from(fee);
        for (account, amount) in [(account_of(payer), -fee), (LedgerAccount::Fees, fee)] {
            self.legs.push(Leg {
                account,
                asset,
                amount,
                cause: LedgerCause::Fee,
                reference: reference.clone(),
            });
        }
        *self.explained.entry((payer, asset)).or_default() -= fee;
    }
}

fn fee_legs(
    events: &[Event],
    catalog: &Catalog,
    withdrawals: &HashMap<IdemKey, WithdrawalFee>,
    reference: &Option<String>,
) -> FeeLegs {
    let mut fees = FeeLegs {
        legs: Vec::new(),
        explained: BTreeMap::new(),
    };
    for e in events {
        match e {
            Event::Trade(t) => {
                let Some(m) = catalog.market(t.market) else {
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
                    if fee > 0 {
                        fees.pay(payer.0, asset, fee, &r);
                        // The fee account's engine balance grows by it.
                        *fees.explained.entry((FEE_ACCOUNT.0, asset)).or_default() +=
                            i128::from(fee);
                    }
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
                fees.pay(user.0, *asset, w.fee, reference);
            }
            _ => {}
        }
    }
    fees
}

/// Each (user, asset)'s change of total that no fee leg explains.
fn change_legs(
    finals: &Finals,
    prior: &BTreeMap<(u64, AssetId), u128>,
    explained: &BTreeMap<(u64, AssetId), i128>,
    cause: LedgerCause,
    reference: &Option<String>,
) -> Vec<Leg> {
    let mut legs = Vec::new();
    for (&(user, asset), &(available, locked)) in finals {
        let total = u128::from(available) + u128::from(locked);
        let before = prior.get(&(user, asset)).copied().unwrap_or(0);
        let change = total as i128 - before as i128;
        let rest = change - explained.get(&(user, asset)).copied().unwrap_or(0);
        if rest != 0 {
            legs.push(Leg {
                account: account_of(user),
                asset,
                amount: rest,
                cause,
                reference: reference.clone(),
            });
        }
    }
    legs
}

/// What is left per asset entered or left the platform: custody's side.
fn custody_legs(legs: &[Leg], cause: LedgerCause, reference: &Option<String>) -> Vec<Leg> {
    let mut sums: BTreeMap<AssetId, i128> = BTreeMap::new();
    for leg in legs {
        *sums.entry(leg.asset).or_default() += leg.amount;
    }
    let cause = match cause {
        LedgerCause::Deposit | LedgerCause::Withdrawal => cause,
        _ => LedgerCause::Adjustment,
    };
    sums.into_iter()
        .filter(|(_, sum)| *sum != 0)
        .map(|(asset, sum)| Leg {
            account: LedgerAccount::Custody,
            asset,
            amount: -sum,
            cause,
            reference: reference.clone(),
        })
        .collect()
}

/// The balances a batch has booked so far: later records of the batch
/// read their prior totals here instead of in SQL, and each balance row is
/// written once, at the end of the batch, with its last state.
#[derive(Debug, Default)]
pub struct BatchBalances {
    rows: BTreeMap<(u64, u64), BalanceRecord>,
}

impl BatchBalances {
    /// Writes every balance the batch changed, in its final state.
    pub async fn flush(self, tx: &mut ProjectionTx) -> Result<(), StoreError> {
        for b in self.rows.values() {
            tx.upsert_balance(b).await?;
        }
        Ok(())
    }
}

/// Writes one command's entries through its projection transaction (which
/// also stores the offset when committed) and keeps its balances in
/// `balances` (written by [`BatchBalances::flush`]); `catalog` is the
/// configuration as of this command.
pub async fn write(
    tx: &mut ProjectionTx,
    record: &EventRecord,
    catalog: &Catalog,
    balances: &mut BatchBalances,
) -> Result<usize, StoreError> {
    let mut prior = BTreeMap::new();
    let mut withdrawals = HashMap::new();
    for e in &record.events {
        match e {
            Event::BalanceChanged { user, asset, .. } if !prior.contains_key(&(user.0, *asset)) => {
                let key = (user.0, *asset);
                let row = match balances.rows.get(&(user.0, u64::from(asset.0))) {
                    Some(b) => Some(*b),
                    None => tx.balance_of(user.0, u64::from(asset.0)).await?,
                };
                let total = row.map_or(0, |b| u128::from(b.available) + u128::from(b.locked));
                prior.insert(key, total);
            }
            Event::WithdrawFinalized { key, .. } => {
                if let Some(w) = tx.withdrawal_by_key(key.as_str()).await? {
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
    let booking = book(record, &prior, catalog, &withdrawals);
    if !booking.entries.is_empty() {
        tx.insert_ledger_entries(&booking.entries).await?;
    }
    for b in booking.balances {
        balances.rows.insert((b.user_id, b.asset_id), b);
    }
    record_deposits(tx, record).await?;
    Ok(booking.entries.len())
}

/// Marks the command's deposits credited in `deposits` (recording those
/// the wallet never saw requested, such as faucet claims and demo seeding,
/// so that every user's deposit history is complete).
async fn record_deposits(tx: &mut ProjectionTx, record: &EventRecord) -> Result<(), StoreError> {
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
            tx.project_deposit_credited(&d).await?;
        }
    }
    Ok(())
}

/// What can stop the ledger's projection of a batch.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// Books a batch of consecutive records (entries, balances, the new
/// offset, and the catalog if the batch changed it) in one transaction;
/// `false` (and nothing written) if the offset already covers it.
/// `catalog` is the configuration before the batch and learns its changes.
pub async fn project(
    store: &Store,
    catalog: &mut Catalog,
    batch: &[EventRecord],
) -> Result<bool, LedgerError> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(false);
    };
    let Some(mut tx) = store
        .begin_projection(PROJECTOR, first.seq..=last.seq)
        .await?
    else {
        // Applied already (by another instance): learn its configuration.
        for r in batch {
            catalog.apply(&r.events);
        }
        return Ok(false);
    };
    let mut next = catalog.clone();
    let mut changed = false;
    let mut balances = BatchBalances::default();
    for record in batch {
        changed |= next.apply(&record.events);
        for e in &record.events {
            if let Event::Trade(t) = e {
                if next.market(t.market).is_none() {
                    let (seq, market) = (record.seq, t.market);
                    return Err(CatalogError::UnknownMarket { seq, market }.into());
                }
            }
        }
        write(&mut tx, record, &next, &mut balances).await?;
    }
    balances.flush(&mut tx).await?;
    if changed {
        tx.set_state(next.to_json());
    }
    tx.commit().await?;
    *catalog = next;
    Ok(true)
}

/// The wallet's ledger as a [`Projection`] (the same in both modes).
pub struct Ledger {
    store: Store,
    catalog: Catalog,
}

impl Ledger {
    pub fn new(store: Store) -> Ledger {
        Ledger {
            store,
            catalog: Catalog::default(),
        }
    }

    /// The configuration as of the last seq booked.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

impl Projection for Ledger {
    type Error = LedgerError;

    async fn start(&mut self, ctx: &StartContext) -> Result<Start, LedgerError> {
        let (offset, stored) = self.store.projector_state(PROJECTOR).await?;
        self.catalog = Catalog::resume(PROJECTOR, offset, stored.as_deref(), ctx).await?;
        Ok(Start::Offset(offset))
    }

    async fn apply(&mut self, batch: &[EventRecord]) -> Result<(), LedgerError> {
        project(&self.store, &mut self.catalog, batch).await?;
        Ok(())
    }
}

/// A status for the ledger's follower, at its stored offset.
pub async fn status(store: &Store) -> Result<Arc<FollowStatus>, StoreError> {
    let offset = store.projector_offset(PROJECTOR).await?;
    Ok(Arc::new(FollowStatus::new(PROJECTOR, offset)))
}

/// Runs the ledger on `source` with `status` until the source ends.
pub async fn run(source: Source, store: Store, status: Arc<FollowStatus>) {
    Follower::new(source, Ledger::new(store), status)
        .run()
        .await;
}

/// Starts the ledger projection of the in-process sequencer `seq` (whose
/// journal is `journal_dir`) into `store`; the task ends when the
/// sequencer stops (aborting it is safe: an unfinished transaction rolls
/// back and the next start resumes from the stored offset).
pub fn start_local(
    seq: flowex_sequencer::SequencerHandle,
    store: Store,
    journal_dir: PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let status = Arc::new(FollowStatus::new(PROJECTOR, 0));
        run(Source::sequencer(seq, journal_dir), store, status).await;
    })
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
        let b = book(&record, &prior, &Catalog::default(), &HashMap::new());
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
        let b = book(&record, &prior, &Catalog::default(), &HashMap::new());
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
        let b = book(&record, &prior, &Catalog::default(), &fees);
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
        let b = book(&record, &prior, &Catalog::default(), &HashMap::new());
        assert_eq!(
            legs(&b),
            vec![
                (LedgerAccount::User(4), 1, -105, LedgerCause::Withdrawal),
                (LedgerAccount::Custody, 1, 105, LedgerCause::Withdrawal),
            ]
        );
    }
}
