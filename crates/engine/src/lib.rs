//! The FlowEx trading core: a pure, deterministic state machine.
//!
//! [`Engine::apply`] takes one sequenced command and appends the events it
//! causes. There is no I/O, clock, randomness or thread here: time and the
//! sequence number come in with the command, so the same journal always
//! yields the same events and the same [`Engine::state_hash`].
//!
//! Layout: `book` (orders and price ladders), `accounts` (balances),
//! `funds` (assets, markets, deposits, withdrawals), `orders` (placement,
//! cancel, amend), `matching` (the match loop, settlement, STP, stops),
//! `query` (read-only views), `snapshot` (canonical state, hash, restore),
//! `invariants` (the checks tests run after every random stream), and
//! `reference` (a slow, obviously correct book for differential tests).

mod accounts;
mod book;
mod funds;
mod invariants;
mod matching;
mod order_index;
mod orders;
mod price_index;
mod query;
pub mod reference;
mod snapshot;

pub use accounts::Balance;
pub use query::{Depth, OrderView};
pub use snapshot::SnapshotError;

use accounts::Accounts;
use book::{Ladder, Slab};
use flowex_types::{
    AssetConfig, ClientOrderId, Command, EngineLimits, Envelope, Event, IdemKey, MarketConfig,
    MarketScale, OrderId, RejectReason, Side, UserId,
};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BTreeSet, VecDeque};

#[derive(Clone)]
pub(crate) struct AssetState {
    pub cfg: AssetConfig,
    /// Deposits minus withdrawals: what all balances of this asset must sum to.
    pub supply: u64,
}

#[derive(Clone)]
pub(crate) struct Market {
    pub cfg: MarketConfig,
    pub scale: MarketScale,
    pub base: u32,
    pub quote: u32,
    pub bids: Ladder,
    pub asks: Ladder,
    /// Stops that trigger when the last price falls to or below their stop price, highest first.
    pub stops_falling: BTreeSet<(Reverse<u64>, OrderId)>,
    /// Stops that trigger when the last price rises to or above their stop price, lowest first.
    pub stops_rising: BTreeSet<(u64, OrderId)>,
    /// Price of the last trade in ticks, 0 before the first.
    pub last_price: u64,
    pub next_trade_id: u64,
    /// Gap-free id of the last `BookChanged` event.
    pub update_id: u64,
    /// Resting orders plus pending stops.
    pub order_count: u32,
}

impl Market {
    pub fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WithdrawalState {
    Pending,
    Released,
    Finalized,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Withdrawal {
    pub user: UserId,
    pub acct: u32,
    pub asset: u32,
    pub amount: u64,
    pub state: WithdrawalState,
}

/// `apply` was handed a command out of sequence; nothing was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceError {
    pub expected: u64,
    pub got: u64,
}

/// `Clone` is a deep copy: the sequencer takes one (a short pause) and
/// encodes the snapshot from it on another thread.
#[derive(Clone)]
pub struct Engine {
    limits: EngineLimits,
    last_seq: u64,
    now_ns: u64,
    next_order_id: u64,
    assets: Vec<AssetState>,
    asset_index: FxHashMap<flowex_types::AssetId, u32>,
    markets: Vec<Market>,
    market_index: FxHashMap<flowex_types::MarketId, u32>,
    accounts: Accounts,
    orders: Slab,
    order_index: order_index::OrderIndex,
    client_index: FxHashMap<(UserId, ClientOrderId), OrderId>,
    /// Every deposit and withdrawal key ever seen, so a retry is a no-op.
    used_keys: FxHashMap<IdemKey, ()>,
    withdrawals: FxHashMap<IdemKey, Withdrawal>,
    // Per-command scratch, reused to avoid allocation.
    dirty_levels: Vec<(u32, Side, u64)>,
    trigger_queue: VecDeque<OrderId>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        Engine {
            limits: EngineLimits::default(),
            last_seq: 0,
            now_ns: 0,
            next_order_id: 1,
            assets: Vec::new(),
            asset_index: FxHashMap::default(),
            markets: Vec::new(),
            market_index: FxHashMap::default(),
            accounts: Accounts::new(),
            orders: Slab::default(),
            order_index: order_index::OrderIndex::default(),
            client_index: FxHashMap::default(),
            used_keys: FxHashMap::default(),
            withdrawals: FxHashMap::default(),
            dirty_levels: Vec::new(),
            trigger_queue: VecDeque::new(),
        }
    }

    /// Sequence number of the last applied command (0 for a fresh engine).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Time of the last applied command (0 for a fresh engine).
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// Applies one command, appending its events to `out`. The command's
    /// `seq` must follow the last one applied.
    pub fn apply(&mut self, env: &Envelope, out: &mut Vec<Event>) -> Result<(), SequenceError> {
        if env.seq != self.last_seq + 1 {
            return Err(SequenceError {
                expected: self.last_seq + 1,
                got: env.seq,
            });
        }
        self.last_seq = env.seq;
        self.now_ns = env.timestamp_ns;
        let start = out.len();
        if let Err(reason) = self.dispatch(&env.command, out) {
            // Rejections are decided before any change, so there is nothing to undo.
            debug_assert!(self.accounts.dirty.is_empty() && self.dirty_levels.is_empty());
            out.truncate(start);
            out.push(Event::Rejected { reason });
        }
        self.flush_changes(out);
        Ok(())
    }

    fn dispatch(&mut self, cmd: &Command, out: &mut Vec<Event>) -> Result<(), RejectReason> {
        match *cmd {
            Command::SetLimits(limits) => {
                if limits.max_open_orders_per_user == 0 || limits.max_orders_per_market == 0 {
                    return Err(RejectReason::InvalidConfig);
                }
                self.limits = limits;
                out.push(Event::LimitsSet(limits));
                Ok(())
            }
            Command::CreateAsset(cfg) => self.create_asset(cfg, out),
            Command::CreateMarket(cfg) => self.create_market(cfg, out),
            Command::UpdateMarket { market, update } => self.update_market(market, &update, out),
            Command::SetMarketStatus { market, status } => {
                self.set_market_status(market, status, out)
            }
            Command::SetUserFees { user, fees } => self.set_user_fees(user, fees, out),
            Command::SetUserFrozen { user, frozen } => self.set_user_frozen(user, frozen, out),
            Command::Deposit {
                key,
                user,
                asset,
                amount,
            } => self.deposit(key, user, asset, amount, out),
            Command::Withdraw {
                key,
                user,
                asset,
                amount,
            } => self.withdraw(key, user, asset, amount, out),
            Command::WithdrawLock {
                key,
                user,
                asset,
                amount,
            } => self.withdraw_lock(key, user, asset, amount, out),
            Command::WithdrawRelease { key } => self.withdraw_close(key, false, out),
            Command::WithdrawFinalize { key } => self.withdraw_close(key, true, out),
            Command::PlaceOrder(order) => self.place_order(&order, out),
            Command::CancelOrder {
                user,
                market,
                order,
            } => self.cancel_order(user, market, order, out),
            Command::CancelAll { user, market } => self.cancel_all(user, market, out),
            Command::ReplaceOrder {
                user,
                market,
                order,
                new_price,
                new_qty,
            } => self.replace_order(user, market, order, new_price, new_qty, out),
        }
    }

    /// Emits one `BalanceChanged` per touched balance and one `BookChanged`
    /// per touched level, with the final values of this command.
    fn flush_changes(&mut self, out: &mut Vec<Event>) {
        for i in 0..self.accounts.dirty.len() {
            let (acct, asset) = self.accounts.dirty[i];
            let b = self.accounts.balance(acct, asset);
            out.push(Event::BalanceChanged {
                user: self.accounts.get(acct).user,
                asset: self.assets[asset as usize].cfg.id,
                available: b.available,
                locked: b.locked,
            });
        }
        self.accounts.end_command();
        for i in 0..self.dirty_levels.len() {
            let (m, side, price) = self.dirty_levels[i];
            let market = &mut self.markets[m as usize];
            market.update_id += 1;
            out.push(Event::BookChanged {
                market: market.cfg.id,
                side,
                price,
                qty: market.ladder(side).qty_at(price),
                update_id: market.update_id,
            });
        }
        self.dirty_levels.clear();
    }

    pub(crate) fn touch_level(&mut self, market: u32, side: Side, price: u64) {
        let key = (market, side, price);
        if !self.dirty_levels.contains(&key) {
            self.dirty_levels.push(key);
        }
    }

    pub(crate) fn market_slot(&self, id: flowex_types::MarketId) -> Result<u32, RejectReason> {
        self.market_index
            .get(&id)
            .copied()
            .ok_or(RejectReason::UnknownMarket)
    }

    pub(crate) fn asset_slot(&self, id: flowex_types::AssetId) -> Result<u32, RejectReason> {
        self.asset_index
            .get(&id)
            .copied()
            .ok_or(RejectReason::UnknownAsset)
    }
}

#[cfg(test)]
mod tests;
