//! The match loop: an incoming (taker) order against the opposite side of
//! its book, price-time priority, settlement with fees, self-trade
//! prevention, and the stop orders that trades trigger.

use crate::book::{Order, Place, NIL};
use crate::orders::stop_direction;
use crate::{accounts::FEE_SLOT, Engine};
use flowex_types::{
    fee_ceil, EndReason, Event, OrderStatus, OrderType, Side, StpMode, TimeInForce, Trade, TradeId,
};
use std::cmp::Reverse;

/// An order while it takes liquidity. It becomes a book `Order` again only if it rests.
pub(crate) struct Taker {
    pub order: Order,
    /// The type it executes as (a triggered stop becomes MARKET or LIMIT).
    pub exec_type: OrderType,
    /// Lots still wanted; `u64::MAX` when sized in quote.
    pub want: u64,
    /// Quote still to be received by a MARKET sell sized in quote; else `u64::MAX`.
    pub quote_target: u64,
}

/// Why the match loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halt {
    /// Wanted quantity (or quote amount) reached.
    Done,
    /// Nothing (more) crosses the limit, or the book is empty.
    NoLiquidity,
    /// The order's reserved funds cannot pay for another lot.
    Funds,
    /// Self-trade prevention expired the taker.
    Stp,
}

impl Taker {
    pub fn from_order(o: Order) -> Taker {
        let sized_in_quote = o.orig_qty == 0;
        Taker {
            exec_type: o.order_type.triggered(),
            want: if sized_in_quote {
                u64::MAX
            } else {
                o.remaining
            },
            quote_target: if sized_in_quote && o.side == Side::Sell {
                o.quote_qty
            } else {
                u64::MAX
            },
            order: o,
        }
    }

    fn is_market(&self) -> bool {
        self.exec_type == OrderType::Market
    }

    fn crosses(&self, price: u64) -> bool {
        self.is_market()
            || match self.order.side {
                Side::Buy => price <= self.order.price,
                Side::Sell => price >= self.order.price,
            }
    }

    /// Largest fill against a maker with `maker_rem` lots at `price`, and
    /// what limits it when that is zero.
    fn max_fill(
        &self,
        price: u64,
        maker_rem: u64,
        quote_per_tick_lot: u64,
        base_per_lot: u64,
    ) -> (u64, Halt) {
        let mut q = maker_rem.min(self.want);
        let mut limit = Halt::Done;
        if self.is_market() {
            let lot_cost = u128::from(price) * u128::from(quote_per_tick_lot);
            let affordable = match self.order.side {
                Side::Buy => u128::from(self.order.locked) / lot_cost,
                Side::Sell => u128::from(self.order.locked / base_per_lot),
            };
            if affordable < u128::from(q) {
                q = affordable as u64;
                limit = Halt::Funds;
            }
            if self.quote_target != u64::MAX {
                let by_target = u128::from(self.quote_target) / lot_cost;
                if by_target < u128::from(q) {
                    q = by_target as u64;
                    limit = Halt::Done;
                }
            }
        }
        (q, limit)
    }
}

impl Engine {
    /// Runs a taker to completion: matches it, then rests, expires or fills
    /// it. Returns the lowest and highest trade price, for stop triggers.
    pub(crate) fn execute(&mut self, mut t: Taker, out: &mut Vec<Event>) -> Option<(u64, u64)> {
        let mut range: Option<(u64, u64)> = None;
        let halt = if t.order.tif == TimeInForce::Fok && !self.fok_fillable(&t) {
            Halt::NoLiquidity
        } else {
            self.match_loop(&mut t, &mut range, out)
        };
        self.finish_taker(t, halt, out);
        range
    }

    fn match_loop(
        &mut self,
        t: &mut Taker,
        range: &mut Option<(u64, u64)>,
        out: &mut Vec<Event>,
    ) -> Halt {
        let mk = t.order.market;
        let opposite = t.order.side.opposite();
        loop {
            // Done once the lots are filled, or a MARKET order sized in quote has
            // received (sell) or spent (buy) its whole amount, even if the book is now empty.
            let quote_used_up = t.quote_target == 0
                || (t.want == u64::MAX && t.order.side == Side::Buy && t.order.locked == 0);
            if t.want == 0 || quote_used_up {
                return Halt::Done;
            }
            let m = &self.markets[mk as usize];
            let Some((price, level)) = m.ladder(opposite).best() else {
                return Halt::NoLiquidity;
            };
            if !t.crosses(price) {
                return Halt::NoLiquidity;
            }
            let maker_slot = level.head;
            let maker = self.orders.get(maker_slot);
            let (q, limit) = t.max_fill(
                price,
                maker.remaining,
                m.scale.quote_per_tick_lot,
                m.scale.base_per_lot,
            );
            if q == 0 {
                return limit;
            }
            if maker.acct == t.order.acct && t.order.stp != StpMode::None {
                match self.prevent_self_trade(t, maker_slot, price, q, out) {
                    Some(halt) => return halt,
                    None => continue,
                }
            }
            self.fill(t, maker_slot, price, q, out);
            *range = Some(range.map_or((price, price), |(lo, hi)| (lo.min(price), hi.max(price))));
        }
    }

    /// Applies the taker's STP mode against its own resting order. Returns
    /// `Some(halt)` when the taker stops, `None` to go on matching.
    fn prevent_self_trade(
        &mut self,
        t: &mut Taker,
        maker_slot: u32,
        price: u64,
        q: u64,
        out: &mut Vec<Event>,
    ) -> Option<Halt> {
        match t.order.stp {
            StpMode::None => None,
            StpMode::ExpireTaker => Some(Halt::Stp),
            StpMode::ExpireMaker => {
                self.expire_maker(maker_slot, out);
                None
            }
            StpMode::ExpireBoth => {
                self.expire_maker(maker_slot, out);
                Some(Halt::Stp)
            }
            StpMode::Decrement => {
                self.decrement_maker(maker_slot, q, out);
                self.decrement_taker(t, price, q);
                let exhausted =
                    t.want == 0 || t.quote_target == 0 || (t.is_market() && t.order.locked == 0);
                exhausted.then_some(Halt::Stp)
            }
        }
    }

    fn expire_maker(&mut self, slot: u32, out: &mut Vec<Event>) {
        let o = self.remove_open(slot);
        self.release_lock(&o);
        self.emit_update(
            &o,
            OrderStatus::ExpiredInMatch,
            Some(EndReason::SelfTradePrevention),
            out,
        );
    }

    /// DECREMENT: both orders shrink by the overlap as if they had traded; no funds move.
    fn decrement_maker(&mut self, slot: u32, q: u64, out: &mut Vec<Event>) {
        let o = self.orders.get(slot);
        let (mk, side, price) = (o.market, o.side, o.price);
        let m = &self.markets[mk as usize];
        let (asset, release) = match side {
            Side::Buy => (
                m.quote,
                m.scale.notional(price, q).expect("within maker lock"),
            ),
            Side::Sell => (m.base, m.scale.base_amount(q).expect("within maker lock")),
        };
        if o.remaining == q {
            self.expire_maker(slot, out);
            return;
        }
        let level = self.orders.get(slot).level;
        self.markets[mk as usize].ladder_mut(side).reduce(level, q);
        self.touch_level(mk, side, price);
        let o = self.orders.get_mut(slot);
        o.remaining -= q;
        o.locked -= release;
        let acct = o.acct;
        self.accounts.unlock(acct, asset, release);
        let o = self.orders.get(slot).clone();
        let status = if o.executed > 0 {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::New
        };
        self.emit_update(&o, status, None, out);
    }

    fn decrement_taker(&mut self, t: &mut Taker, price: u64, q: u64) {
        let m = &self.markets[t.order.market as usize];
        let value = m.scale.notional(price, q).expect("fill value fits");
        let (quote, base) = (m.quote, m.base);
        let sized_in_quote = t.want == u64::MAX;
        if !sized_in_quote {
            t.want -= q;
            t.order.remaining -= q;
        }
        let release = match (t.order.side, t.is_market(), sized_in_quote) {
            (Side::Buy, false, _) => m
                .scale
                .notional(t.order.price, q)
                .expect("within taker lock"),
            (Side::Buy, true, true) => value,
            (Side::Buy, true, false) => 0,
            (Side::Sell, _, false) => m.scale.base_amount(q).expect("within taker lock"),
            (Side::Sell, _, true) => {
                t.quote_target -= value;
                0
            }
        };
        let asset = if t.order.side == Side::Buy {
            quote
        } else {
            base
        };
        t.order.locked -= release;
        self.accounts.unlock(t.order.acct, asset, release);
    }

    /// One trade of `q` lots at the maker's `price`: moves funds, charges fees, updates both orders.
    fn fill(&mut self, t: &mut Taker, maker_slot: u32, price: u64, q: u64, out: &mut Vec<Event>) {
        let mk = t.order.market;
        let m = &mut self.markets[mk as usize];
        let (base, quote, scale) = (m.base, m.quote, m.scale);
        let quote_amt = scale
            .notional(price, q)
            .expect("fill value bounded by a lock");
        let base_amt = scale.base_amount(q).expect("fill size bounded by a lock");
        let trade_id = TradeId(m.next_trade_id);
        m.next_trade_id += 1;
        m.last_price = price;
        let (market_maker_fee, market_taker_fee) = (m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm);
        let maker = self.orders.get(maker_slot);
        let (maker_acct, maker_id, maker_user) = (maker.acct, maker.id, maker.user);
        let maker_rate = self
            .accounts
            .get(maker_acct)
            .fees
            .map_or(market_maker_fee, |f| f.0);
        let taker_rate = self
            .accounts
            .get(t.order.acct)
            .fees
            .map_or(market_taker_fee, |f| f.1);
        let side = t.order.side;
        let parties = Parties {
            maker_acct,
            maker_slot,
            maker_rate,
            taker_rate,
        };
        let (taker_fee, maker_fee) = match side {
            Side::Buy => self.settle_taker_buy(t, &parties, (base, quote), q, base_amt, quote_amt),
            Side::Sell => self.settle_taker_sell(t, &parties, (base, quote), base_amt, quote_amt),
        };
        if t.want != u64::MAX {
            t.want -= q;
            t.order.remaining -= q;
        }
        t.order.executed += q;
        t.order.cum_quote += quote_amt;
        out.push(Event::Trade(Trade {
            market: self.markets[mk as usize].cfg.id,
            id: trade_id,
            price,
            qty: q,
            quote_qty: quote_amt,
            taker_side: side,
            maker_order: maker_id,
            maker_user,
            taker_order: t.order.id,
            taker_user: t.order.user,
            maker_fee,
            taker_fee,
        }));
        self.fill_maker(maker_slot, price, q, quote_amt, out);
    }

    /// A buying taker pays quote from its lock (releasing what its limit
    /// price reserved beyond the fill), the maker delivers base from its
    /// lock; each receives net of its fee, which goes to the fee account.
    /// Returns (taker fee, maker fee).
    #[inline]
    fn settle_taker_buy(
        &mut self,
        t: &mut Taker,
        p: &Parties,
        (base, quote): (u32, u32),
        q: u64,
        base_amt: u64,
        quote_amt: u64,
    ) -> (u64, u64) {
        let scale = self.markets[t.order.market as usize].scale;
        let reserved = if t.is_market() {
            quote_amt
        } else {
            scale.notional(t.order.price, q).expect("within taker lock")
        };
        self.accounts.spend_locked(t.order.acct, quote, quote_amt);
        self.accounts
            .unlock(t.order.acct, quote, reserved - quote_amt);
        t.order.locked -= reserved;
        self.accounts.spend_locked(p.maker_acct, base, base_amt);
        self.orders.get_mut(p.maker_slot).locked -= base_amt;
        let taker_fee = fee_ceil(base_amt, p.taker_rate);
        let maker_fee = fee_ceil(quote_amt, p.maker_rate);
        self.accounts
            .credit(t.order.acct, base, base_amt - taker_fee);
        self.accounts
            .credit(p.maker_acct, quote, quote_amt - maker_fee);
        self.accounts.credit(FEE_SLOT, base, taker_fee);
        self.accounts.credit(FEE_SLOT, quote, maker_fee);
        (taker_fee, maker_fee)
    }

    /// A selling taker delivers base from its lock, the maker pays quote
    /// from its lock; fees as for a buy. Returns (taker fee, maker fee).
    #[inline]
    fn settle_taker_sell(
        &mut self,
        t: &mut Taker,
        p: &Parties,
        (base, quote): (u32, u32),
        base_amt: u64,
        quote_amt: u64,
    ) -> (u64, u64) {
        self.accounts.spend_locked(t.order.acct, base, base_amt);
        t.order.locked -= base_amt;
        self.accounts.spend_locked(p.maker_acct, quote, quote_amt);
        self.orders.get_mut(p.maker_slot).locked -= quote_amt;
        let taker_fee = fee_ceil(quote_amt, p.taker_rate);
        let maker_fee = fee_ceil(base_amt, p.maker_rate);
        self.accounts
            .credit(t.order.acct, quote, quote_amt - taker_fee);
        self.accounts
            .credit(p.maker_acct, base, base_amt - maker_fee);
        self.accounts.credit(FEE_SLOT, quote, taker_fee);
        self.accounts.credit(FEE_SLOT, base, maker_fee);
        if t.quote_target != u64::MAX {
            t.quote_target -= quote_amt;
        }
        (taker_fee, maker_fee)
    }

    fn fill_maker(&mut self, slot: u32, price: u64, q: u64, quote_amt: u64, out: &mut Vec<Event>) {
        let o = self.orders.get_mut(slot);
        let (mk, side, level) = (o.market, o.side, o.level);
        o.remaining -= q;
        o.executed += q;
        o.cum_quote += quote_amt;
        let done = o.remaining == 0;
        self.markets[mk as usize].ladder_mut(side).reduce(level, q);
        self.touch_level(mk, side, price);
        if done {
            let o = self.remove_open(slot);
            debug_assert_eq!(o.locked, 0, "a filled maker keeps no reservation");
            self.emit_update(&o, OrderStatus::Filled, Some(EndReason::Filled), out);
        } else {
            let o = self.orders.get(slot).clone();
            self.emit_update(&o, OrderStatus::PartiallyFilled, None, out);
        }
    }

    /// FOK: would the whole quantity fill now? Decided without changing anything.
    fn fok_fillable(&self, t: &Taker) -> bool {
        let m = &self.markets[t.order.market as usize];
        let mut need = t.want;
        for (price, level) in m.ladder(t.order.side.opposite()).iter() {
            if !t.crosses(price) {
                return false;
            }
            let mut s = level.head;
            while s != NIL {
                let o = self.orders.get(s);
                let own = o.acct == t.order.acct && t.order.stp != StpMode::None;
                match (own, t.order.stp) {
                    (true, StpMode::ExpireMaker) => {}
                    (true, _) => return false,
                    (false, _) => {
                        need = need.saturating_sub(o.remaining);
                        if need == 0 {
                            return true;
                        }
                    }
                }
                s = o.next;
            }
        }
        false
    }

    /// Rests, fills or expires the taker once matching has stopped.
    fn finish_taker(&mut self, t: Taker, halt: Halt, out: &mut Vec<Event>) {
        let mut o = t.order;
        let sized_in_quote = t.want == u64::MAX;
        let rests = halt == Halt::NoLiquidity
            && !t.exec_type.eq(&OrderType::Market)
            && o.tif == TimeInForce::Gtc;
        if rests {
            o.place = Place::Resting;
            let status = if o.executed > 0 {
                OrderStatus::PartiallyFilled
            } else {
                OrderStatus::New
            };
            self.emit_update(&o, status, None, out);
            self.insert_open(o);
            return;
        }
        let (status, reason) = match halt {
            Halt::Done if o.executed > 0 || !sized_in_quote => {
                (OrderStatus::Filled, EndReason::Filled)
            }
            Halt::Done | Halt::NoLiquidity => (OrderStatus::Expired, EndReason::NoLiquidity),
            Halt::Funds if sized_in_quote && o.side == Side::Buy && o.executed > 0 => {
                // A MARKET buy for a quote amount has spent what whole lots it could.
                (OrderStatus::Filled, EndReason::Filled)
            }
            Halt::Funds => (OrderStatus::Expired, EndReason::InsufficientFunds),
            Halt::Stp => (OrderStatus::ExpiredInMatch, EndReason::SelfTradePrevention),
        };
        self.release_lock(&o);
        o.locked = 0;
        self.emit_update(&o, status, Some(reason), out);
    }

    /// Triggers and executes stops after trades in `range`, including the
    /// stops that those executions trigger in turn, in trigger order.
    pub(crate) fn run_triggers(
        &mut self,
        mk: u32,
        range: Option<(u64, u64)>,
        out: &mut Vec<Event>,
    ) {
        self.enqueue_triggered(mk, range);
        while let Some(id) = self.trigger_queue.pop_front() {
            let Some(&slot) = self.order_index.get(&id) else {
                continue;
            };
            let mut order = self.remove_open(slot);
            // A triggered order queues behind everything already resting.
            order.time_ns = self.now_ns;
            let last_price = self.markets[mk as usize].last_price;
            out.push(Event::StopTriggered {
                order: id,
                user: order.user,
                market: self.markets[mk as usize].cfg.id,
                last_price,
            });
            if !self.reserve_on_trigger(&mut order, out) {
                continue;
            }
            let range = self.execute(Taker::from_order(order), out);
            self.enqueue_triggered(mk, range);
        }
    }

    fn enqueue_triggered(&mut self, mk: u32, range: Option<(u64, u64)>) {
        let Some((lo, hi)) = range else { return };
        let m = &mut self.markets[mk as usize];
        while let Some(&(Reverse(stop), id)) = m.stops_falling.first() {
            if stop < lo {
                break;
            }
            m.stops_falling.pop_first();
            self.orders.get_mut(self.order_index[&id]).place = Place::Triggered;
            self.trigger_queue.push_back(id);
        }
        while let Some(&(stop, id)) = m.stops_rising.first() {
            if stop > hi {
                break;
            }
            m.stops_rising.pop_first();
            self.orders.get_mut(self.order_index[&id]).place = Place::Triggered;
            self.trigger_queue.push_back(id);
        }
    }

    /// A triggered stop that reserves "everything available" reserves it now.
    /// Returns false (and expires the order) when there is nothing to reserve.
    fn reserve_on_trigger(&mut self, order: &mut Order, out: &mut Vec<Event>) -> bool {
        let all_available = order.order_type.triggered() == OrderType::Market
            && ((order.side == Side::Buy && order.orig_qty > 0)
                || (order.side == Side::Sell && order.orig_qty == 0));
        if !all_available {
            return true;
        }
        debug_assert!(stop_direction(order.order_type, order.side).is_some());
        let m = &self.markets[order.market as usize];
        let asset = if order.side == Side::Buy {
            m.quote
        } else {
            m.base
        };
        let available = self.accounts.balance(order.acct, asset).available;
        if available == 0 {
            self.emit_update(
                order,
                OrderStatus::Expired,
                Some(EndReason::InsufficientFunds),
                out,
            );
            return false;
        }
        self.accounts.lock(order.acct, asset, available);
        order.locked = available;
        true
    }
}

/// The maker's side of one fill, as the settlement needs it.
struct Parties {
    maker_acct: u32,
    maker_slot: u32,
    maker_rate: u32,
    taker_rate: u32,
}
