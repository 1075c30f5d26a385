//! Scenario tests of the engine: a small harness that applies commands in
//! sequence with a monotonic fake clock and, after every command, checks the
//! invariants, the coalesced `BalanceChanged` / `BookChanged` events against
//! the queried state, gap-free book update ids and a snapshot round trip.
//!
//! Test market BTCUSD: BTC 3 decimals, USD 2 decimals, tick 100, lot 1000, so
//! one lot at one tick costs 100 USD atoms and one lot is 1000 BTC atoms.

mod admin;
mod amend;
mod fees;
mod misc;
mod orders;
mod priority;
mod probes;
mod stops;
mod stp;

use crate::{Balance, Engine, OrderView};
use flowex_types::*;
use std::collections::{BTreeMap, BTreeSet};

pub(super) const BTC: AssetId = AssetId(1);
pub(super) const USD: AssetId = AssetId(2);
pub(super) const ETH: AssetId = AssetId(3);
pub(super) const M: MarketId = MarketId(1);
pub(super) const M2: MarketId = MarketId(2);
pub(super) const A: UserId = UserId(1);
pub(super) const B: UserId = UserId(2);
pub(super) const C: UserId = UserId(3);
pub(super) const D: UserId = UserId(4);
/// Funding of [`H::funded`]: 100,000.00 USD and 100 BTC (100 lots).
pub(super) const FU: u64 = 10_000_000;
pub(super) const FB: u64 = 100_000;
pub(super) const USERS: [UserId; 5] = [FEE_ACCOUNT, A, B, C, D];

/// Quote atoms of `lots` at `price` ticks in the test market.
pub(super) fn q(price: u64, lots: u64) -> u64 {
    price * lots * 100
}

/// Base atoms of `lots`.
pub(super) fn b(lots: u64) -> u64 {
    lots * 1000
}

pub(super) fn key(s: &str) -> IdemKey {
    IdemKey::new(s).unwrap()
}

pub(super) fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap()
}

pub(super) fn asset(id: AssetId, code: &str, decimals: u8) -> AssetConfig {
    AssetConfig {
        id,
        code: AssetCode::new(code).unwrap(),
        decimals,
    }
}

pub(super) fn market_cfg(
    id: MarketId,
    symbol: &str,
    base: AssetId,
    maker: u32,
    taker: u32,
) -> MarketConfig {
    MarketConfig {
        id,
        symbol: Symbol::new(symbol).unwrap(),
        base,
        quote: USD,
        tick_size: 100,
        lot_size: 1000,
        min_price: 1,
        max_price: 1_000_000,
        min_qty: 1,
        max_qty: 1_000_000,
        min_notional: 0,
        max_notional: 0,
        maker_fee_ppm: maker,
        taker_fee_ppm: taker,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::None,
    }
}

/// Price levels as (price, lots), best first.
pub(super) type Levels = Vec<(u64, u64)>;

/// An order update, reduced to what tests compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Upd {
    pub order: OrderId,
    pub status: OrderStatus,
    pub executed: u64,
    pub remaining: u64,
    pub reason: Option<EndReason>,
}

/// Everything a rejected command must leave untouched.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct World {
    balances: Vec<(UserId, AssetId, Balance)>,
    open: Vec<OrderView>,
    depth: Vec<(MarketId, crate::Depth)>,
    supply: Vec<(AssetId, Option<u64>)>,
    open_count: usize,
}

pub(super) struct H {
    pub e: Engine,
    pub seq: u64,
    pub now: u64,
    /// Events of the last command.
    pub last: Vec<Event>,
    update_ids: BTreeMap<MarketId, u64>,
}

impl H {
    /// An engine with no assets or markets.
    pub fn bare() -> H {
        H {
            e: Engine::new(),
            seq: 0,
            now: 1_700_000_000_000_000_000,
            last: Vec::new(),
            update_ids: BTreeMap::new(),
        }
    }

    /// BTC, USD, ETH and the BTCUSD market with the given fees.
    pub fn with_fees(maker: u32, taker: u32) -> H {
        let mut h = H::bare();
        h.ok(Command::CreateAsset(asset(BTC, "BTC", 3)));
        h.ok(Command::CreateAsset(asset(USD, "USD", 2)));
        h.ok(Command::CreateAsset(asset(ETH, "ETH", 3)));
        h.ok(Command::CreateMarket(market_cfg(
            M, "BTCUSD", BTC, maker, taker,
        )));
        h
    }

    /// The BTCUSD market without fees.
    pub fn new() -> H {
        H::with_fees(0, 0)
    }

    /// BTCUSD without fees; A, B, C and D each hold [`FU`] USD atoms and [`FB`] BTC atoms.
    pub fn funded() -> H {
        let mut h = H::new();
        h.fund_all();
        h
    }

    pub fn fund_all(&mut self) {
        for user in [A, B, C, D] {
            self.fund(user, FU, FB);
        }
    }

    /// Adds the ETHUSD market (same scale, no fees).
    pub fn add_eth_market(&mut self) {
        self.ok(Command::CreateMarket(market_cfg(M2, "ETHUSD", ETH, 0, 0)));
    }

    /// Applies the next command; checks invariants and the event stream.
    pub fn cmd(&mut self, c: Command) -> Vec<Event> {
        let before = self.all_balances();
        self.seq += 1;
        self.now += 1_000;
        let env = Envelope {
            seq: self.seq,
            timestamp_ns: self.now,
            command: c,
        };
        let mut out = Vec::new();
        self.e.apply(&env, &mut out).expect("in sequence");
        if let Err(err) = self.e.check_invariants() {
            panic!("invariant broken after {c:?}: {err}\nevents: {out:#?}");
        }
        self.check_events(&c, &out, &before);
        self.last = out.clone();
        out
    }

    /// Applies a command that must not be rejected.
    pub fn ok(&mut self, c: Command) -> Vec<Event> {
        let ev = self.cmd(c);
        assert_eq!(rejected(&ev), None, "{c:?} rejected: {ev:?}");
        ev
    }

    /// Applies a command that must be rejected for `reason` with nothing changed.
    pub fn reject(&mut self, c: Command, reason: RejectReason) {
        let world = self.world();
        let ev = self.cmd(c);
        assert_eq!(ev, vec![Event::Rejected { reason }], "{c:?}");
        assert_eq!(self.world(), world, "rejected {c:?} changed state");
    }

    fn all_balances(&self) -> Vec<(UserId, AssetId, Balance)> {
        let mut v = Vec::new();
        for u in USERS {
            for a in [BTC, USD, ETH] {
                v.push((u, a, self.e.balance(u, a)));
            }
        }
        v
    }

    pub fn world(&self) -> World {
        let mut open = Vec::new();
        for u in USERS {
            open.extend(self.e.open_orders(u, None));
        }
        World {
            balances: self.all_balances(),
            open,
            depth: self
                .e
                .markets()
                .iter()
                .map(|m| (m.id, self.e.depth(m.id, usize::MAX).unwrap()))
                .collect(),
            supply: [BTC, USD, ETH]
                .iter()
                .map(|a| (*a, self.e.supply(*a)))
                .collect(),
            open_count: self.e.open_order_count(),
        }
    }

    fn check_events(&mut self, c: &Command, out: &[Event], before: &[(UserId, AssetId, Balance)]) {
        let mut seen_bal = BTreeSet::new();
        let mut seen_lvl = BTreeSet::new();
        for ev in out {
            match *ev {
                Event::BookChanged {
                    market,
                    side,
                    price,
                    qty,
                    update_id,
                } => {
                    let last = self.update_ids.entry(market).or_insert(0);
                    assert_eq!(
                        update_id,
                        *last + 1,
                        "update ids must be gap-free after {c:?}"
                    );
                    *last = update_id;
                    assert!(
                        seen_lvl.insert((market, side == Side::Buy, price)),
                        "level reported twice: {out:?}"
                    );
                    let d = self.e.depth(market, usize::MAX).unwrap();
                    let levels = if side == Side::Buy { d.bids } else { d.asks };
                    let actual = levels.iter().find(|l| l.0 == price).map_or(0, |l| l.1);
                    assert_eq!(qty, actual, "BookChanged must carry the final level qty");
                }
                Event::BalanceChanged {
                    user,
                    asset,
                    available,
                    locked,
                } => {
                    assert!(
                        seen_bal.insert((user, asset)),
                        "balance reported twice: {out:?}"
                    );
                    assert_eq!(self.e.balance(user, asset), Balance { available, locked });
                }
                _ => {}
            }
        }
        for (u, a, was) in before {
            if self.e.balance(*u, *a) != *was {
                assert!(
                    seen_bal.contains(&(*u, *a)),
                    "changed balance {u} {a} not reported after {c:?}"
                );
            }
        }
        for m in self.e.markets() {
            let want = self.update_ids.get(&m.id).copied().unwrap_or(0);
            assert_eq!(self.e.depth(m.id, 0).unwrap().update_id, want);
        }
        // Every state survives a snapshot round trip.
        let restored = Engine::restore(&self.e.snapshot()).expect("snapshot restores");
        assert_eq!(
            restored.state_hash(),
            self.e.state_hash(),
            "snapshot round trip after {c:?}"
        );
        assert!(restored.check_invariants().is_ok());
    }

    // ---- funds ----

    pub fn deposit(&mut self, user: UserId, a: AssetId, amount: u64) {
        let k = format!("dep-{}-{}", self.seq + 1, user.0);
        self.ok(Command::Deposit {
            key: key(&k),
            user,
            asset: a,
            amount,
        });
    }

    /// Deposits `usd` USD atoms and `btc` BTC atoms.
    pub fn fund(&mut self, user: UserId, usd: u64, btc: u64) {
        if usd > 0 {
            self.deposit(user, USD, usd);
        }
        if btc > 0 {
            self.deposit(user, BTC, btc);
        }
    }

    /// (available, locked)
    pub fn bal(&self, user: UserId, a: AssetId) -> (u64, u64) {
        let x = self.e.balance(user, a);
        (x.available, x.locked)
    }

    // ---- orders ----

    pub fn place(&mut self, o: NewOrder) -> Vec<Event> {
        self.cmd(Command::PlaceOrder(o))
    }

    /// Places an order that must be accepted; returns its id.
    pub fn place_ok(&mut self, o: NewOrder) -> OrderId {
        let ev = self.place(o);
        accepted(&ev).unwrap_or_else(|| panic!("{o:?} not accepted: {ev:?}"))
    }

    /// A GTC limit order that must be accepted.
    pub fn limit(&mut self, user: UserId, side: Side, price: u64, lots: u64) -> OrderId {
        self.place_ok(lim(user, side, price, lots))
    }

    pub fn cancel(&mut self, user: UserId, id: OrderId) -> Vec<Event> {
        self.cmd(Command::CancelOrder {
            user,
            market: M,
            order: OrderRef::Id(id),
        })
    }

    pub fn amend(
        &mut self,
        user: UserId,
        id: OrderId,
        price: Option<u64>,
        lots: Option<u64>,
    ) -> Vec<Event> {
        self.cmd(Command::ReplaceOrder {
            user,
            market: M,
            order: OrderRef::Id(id),
            new_price: price,
            new_qty: lots,
        })
    }

    pub fn set_status(&mut self, status: MarketStatus) {
        self.ok(Command::SetMarketStatus { market: M, status });
    }

    pub fn update_market(&mut self, update: MarketUpdate) {
        self.ok(Command::UpdateMarket { market: M, update });
    }

    /// (bids, asks) of BTCUSD as (price, lots), best first.
    pub fn depth(&self) -> (Levels, Levels) {
        let d = self.e.depth(M, usize::MAX).unwrap();
        (d.bids, d.asks)
    }

    pub fn open_ids(&self, user: UserId) -> Vec<OrderId> {
        self.e
            .open_orders(user, None)
            .iter()
            .map(|o| o.id)
            .collect()
    }
}

// ---- order builders ----

pub(super) fn order(
    user: UserId,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    price: u64,
    qty: OrderQty,
) -> NewOrder {
    NewOrder {
        user,
        market: M,
        side,
        order_type,
        tif,
        price,
        qty,
        stop_price: 0,
        client_id: None,
        stp: None,
    }
}

pub(super) fn lim(user: UserId, side: Side, price: u64, lots: u64) -> NewOrder {
    order(
        user,
        side,
        OrderType::Limit,
        TimeInForce::Gtc,
        price,
        OrderQty::Base(lots),
    )
}

pub(super) fn lim_tif(
    user: UserId,
    side: Side,
    price: u64,
    lots: u64,
    tif: TimeInForce,
) -> NewOrder {
    order(
        user,
        side,
        OrderType::Limit,
        tif,
        price,
        OrderQty::Base(lots),
    )
}

pub(super) fn mkt(user: UserId, side: Side, lots: u64) -> NewOrder {
    order(
        user,
        side,
        OrderType::Market,
        TimeInForce::Gtc,
        0,
        OrderQty::Base(lots),
    )
}

pub(super) fn mkt_quote(user: UserId, side: Side, amount: u64) -> NewOrder {
    order(
        user,
        side,
        OrderType::Market,
        TimeInForce::Gtc,
        0,
        OrderQty::Quote(amount),
    )
}

pub(super) fn stop(
    user: UserId,
    side: Side,
    t: OrderType,
    price: u64,
    stop_price: u64,
    lots: u64,
) -> NewOrder {
    NewOrder {
        stop_price,
        ..order(user, side, t, TimeInForce::Gtc, price, OrderQty::Base(lots))
    }
}

pub(super) fn with_stp(o: NewOrder, stp: StpMode) -> NewOrder {
    NewOrder {
        stp: Some(stp),
        ..o
    }
}

pub(super) fn with_cid(o: NewOrder, c: &str) -> NewOrder {
    NewOrder {
        client_id: Some(cid(c)),
        ..o
    }
}

// ---- event filters ----

pub(super) fn accepted(ev: &[Event]) -> Option<OrderId> {
    ev.iter().find_map(|e| match e {
        Event::OrderAccepted(info) => Some(info.id),
        _ => None,
    })
}

pub(super) fn rejected(ev: &[Event]) -> Option<RejectReason> {
    ev.iter().find_map(|e| match e {
        Event::Rejected { reason } => Some(*reason),
        _ => None,
    })
}

pub(super) fn trades(ev: &[Event]) -> Vec<Trade> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(*t),
            _ => None,
        })
        .collect()
}

/// Trades as (price, lots, maker order, taker order).
pub(super) fn fills(ev: &[Event]) -> Vec<(u64, u64, OrderId, OrderId)> {
    trades(ev)
        .iter()
        .map(|t| (t.price, t.qty, t.maker_order, t.taker_order))
        .collect()
}

pub(super) fn updates(ev: &[Event]) -> Vec<Upd> {
    ev.iter()
        .filter_map(|e| match *e {
            Event::OrderUpdate {
                order,
                status,
                executed,
                remaining,
                reason,
                ..
            } => Some(Upd {
                order,
                status,
                executed,
                remaining,
                reason,
            }),
            _ => None,
        })
        .collect()
}

/// The last update of `id` in `ev`.
pub(super) fn upd(ev: &[Event], id: OrderId) -> Upd {
    *updates(ev)
        .iter()
        .rev()
        .find(|u| u.order == id)
        .unwrap_or_else(|| panic!("no update of {id:?} in {ev:?}"))
}

pub(super) fn u(
    order: OrderId,
    status: OrderStatus,
    executed: u64,
    remaining: u64,
    reason: Option<EndReason>,
) -> Upd {
    Upd {
        order,
        status,
        executed,
        remaining,
        reason,
    }
}

pub(super) fn triggered(ev: &[Event]) -> Vec<OrderId> {
    ev.iter()
        .filter_map(|e| match e {
            Event::StopTriggered { order, .. } => Some(*order),
            _ => None,
        })
        .collect()
}
