//! Order commands: validation and reservation of a new order, cancel,
//! cancel-all and amend. Every check happens before the first change, so a
//! rejected command leaves no trace.

use crate::book::{Order, Place, NIL};
use crate::matching::Taker;
use crate::Engine;
use flowex_types::{
    EndReason, Event, MarketId, MarketStatus, NewOrder, OrderId, OrderInfo, OrderQty, OrderRef,
    OrderStatus, OrderType, RejectReason, Side, StpMode, TimeInForce, UserId, FEE_ACCOUNT,
};
use std::cmp::Reverse;

type Outcome = Result<(), RejectReason>;

/// What a new order reserves when it is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// A fixed amount (quote for buys, base for sells).
    Fixed(u64),
    /// Everything available when it executes (MARKET buy by base, MARKET sell by quote).
    AllAvailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopDir {
    /// Triggers when the last price falls to the stop price or below.
    Falling,
    /// Triggers when the last price rises to the stop price or above.
    Rising,
}

pub(crate) struct Plan {
    pub market: u32,
    pub acct: u32,
    pub reserve: Reserve,
    pub tif: TimeInForce,
    pub stp: StpMode,
    pub stop: Option<StopDir>,
}

pub(crate) fn stop_direction(order_type: OrderType, side: Side) -> Option<StopDir> {
    match (order_type, side) {
        (OrderType::StopLoss | OrderType::StopLossLimit, Side::Sell)
        | (OrderType::TakeProfit | OrderType::TakeProfitLimit, Side::Buy) => Some(StopDir::Falling),
        (OrderType::StopLoss | OrderType::StopLossLimit, Side::Buy)
        | (OrderType::TakeProfit | OrderType::TakeProfitLimit, Side::Sell) => Some(StopDir::Rising),
        _ => None,
    }
}

fn crosses(side: Side, limit: u64, opposite_best: u64) -> bool {
    match side {
        Side::Buy => opposite_best <= limit,
        Side::Sell => opposite_best >= limit,
    }
}

impl Engine {
    /// Every check of a new order, in the order that decides which reason
    /// a refusal names: the market's terms, size, account, then the book.
    fn validate_new(&self, o: &NewOrder) -> Result<Plan, RejectReason> {
        let (mk, stp, stop, tif) = self.check_terms(o)?;
        let reserve = self.check_size(o, mk)?;
        let may_rest = stop.is_some() || tif == TimeInForce::Gtc;
        let acct = self.check_account(o, mk, reserve, may_rest)?;
        self.check_against_book(o, mk, stop)?;
        Ok(Plan {
            market: mk,
            acct,
            reserve,
            tif,
            stp,
            stop,
        })
    }

    /// The market's terms: open for trading, not the fee account, an
    /// allowed STP mode, prices in range. Returns the market's slot, the
    /// STP mode, the stop direction and the effective time in force.
    fn check_terms(
        &self,
        o: &NewOrder,
    ) -> Result<(u32, StpMode, Option<StopDir>, TimeInForce), RejectReason> {
        let mk = self.market_slot(o.market)?;
        let m = &self.markets[mk as usize];
        if m.cfg.status != MarketStatus::Trading {
            return Err(RejectReason::MarketClosed);
        }
        if o.user == FEE_ACCOUNT {
            return Err(RejectReason::ReservedAccount);
        }
        let stp = o.stp.unwrap_or(m.cfg.default_stp);
        if !m.cfg.allowed_stp.contains(stp) {
            return Err(RejectReason::StpModeNotAllowed);
        }
        let in_price_range = |p: u64| p >= m.cfg.min_price && p <= m.cfg.max_price;
        if o.order_type.has_limit_price() && !in_price_range(o.price) {
            return Err(RejectReason::InvalidPrice);
        }
        let stop = stop_direction(o.order_type, o.side);
        if stop.is_some() && !in_price_range(o.stop_price) {
            return Err(RejectReason::InvalidStopPrice);
        }
        let tif = match o.order_type {
            OrderType::Limit | OrderType::StopLossLimit | OrderType::TakeProfitLimit => o.tif,
            OrderType::LimitMaker => TimeInForce::Gtc,
            OrderType::Market | OrderType::StopLoss | OrderType::TakeProfit => TimeInForce::Ioc,
        };
        Ok((mk, stp, stop, tif))
    }

    /// The account: exists, not frozen, a fresh client order id, room for
    /// one more resting order, funds for what the order reserves.
    fn check_account(
        &self,
        o: &NewOrder,
        mk: u32,
        reserve: Reserve,
        may_rest: bool,
    ) -> Result<u32, RejectReason> {
        let m = &self.markets[mk as usize];
        let acct = self
            .accounts
            .find(o.user)
            .ok_or(RejectReason::InsufficientFunds)?;
        let account = self.accounts.get(acct);
        if account.frozen {
            return Err(RejectReason::UserFrozen);
        }
        if o.client_id
            .is_some_and(|c| self.client_index.contains_key(&(o.user, c)))
        {
            return Err(RejectReason::DuplicateClientOrderId);
        }
        if may_rest && account.open_orders >= self.limits.max_open_orders_per_user {
            return Err(RejectReason::TooManyOrders);
        }
        if may_rest && m.order_count >= self.limits.max_orders_per_market {
            return Err(RejectReason::BookFull);
        }
        let asset = if o.side == Side::Buy { m.quote } else { m.base };
        let available = account.balance(asset).available;
        match reserve {
            Reserve::Fixed(need) if need > available => Err(RejectReason::InsufficientFunds),
            Reserve::AllAvailable if available == 0 => Err(RejectReason::InsufficientFunds),
            _ => Ok(acct),
        }
    }

    /// Against the book and the last price: a stop must not trigger at
    /// once, a post-only order must not take liquidity.
    fn check_against_book(
        &self,
        o: &NewOrder,
        mk: u32,
        stop: Option<StopDir>,
    ) -> Result<(), RejectReason> {
        let m = &self.markets[mk as usize];
        if let Some(dir) = stop {
            let last = m.last_price;
            let now = match dir {
                StopDir::Falling => last <= o.stop_price,
                StopDir::Rising => last >= o.stop_price,
            };
            if last != 0 && now {
                return Err(RejectReason::StopWouldTriggerImmediately);
            }
        }
        if o.order_type == OrderType::LimitMaker {
            if let Some((best, _)) = m.ladder(o.side.opposite()).best() {
                if crosses(o.side, o.price, best) {
                    return Err(RejectReason::WouldTakeLiquidity);
                }
            }
        }
        Ok(())
    }

    /// Checks quantity and notional filters; returns what the order reserves.
    fn check_size(&self, o: &NewOrder, mk: u32) -> Result<Reserve, RejectReason> {
        let m = &self.markets[mk as usize];
        let cfg = &m.cfg;
        let notional_ok =
            |v: u64| v >= cfg.min_notional && (cfg.max_notional == 0 || v <= cfg.max_notional);
        let market_priced = matches!(
            o.order_type,
            OrderType::Market | OrderType::StopLoss | OrderType::TakeProfit
        );
        match o.qty {
            OrderQty::Base(n) => {
                if n < cfg.min_qty || n > cfg.max_qty {
                    return Err(RejectReason::InvalidQty);
                }
                let base = m.scale.base_amount(n).ok_or(RejectReason::Overflow)?;
                if market_priced {
                    // Without a limit price, judge the value at the stop price or the last trade.
                    let reference = if o.order_type == OrderType::Market {
                        m.last_price
                    } else {
                        o.stop_price
                    };
                    if reference != 0 {
                        let v = m
                            .scale
                            .notional(reference, n)
                            .ok_or(RejectReason::Overflow)?;
                        if v < cfg.min_notional {
                            return Err(RejectReason::InvalidNotional);
                        }
                    }
                    return Ok(match o.side {
                        Side::Buy => Reserve::AllAvailable,
                        Side::Sell => Reserve::Fixed(base),
                    });
                }
                let v = m.scale.notional(o.price, n).ok_or(RejectReason::Overflow)?;
                if !notional_ok(v) {
                    return Err(RejectReason::InvalidNotional);
                }
                Ok(match o.side {
                    Side::Buy => Reserve::Fixed(v),
                    Side::Sell => Reserve::Fixed(base),
                })
            }
            OrderQty::Quote(q) => {
                if !market_priced {
                    return Err(RejectReason::InvalidOrder);
                }
                if q == 0 {
                    return Err(RejectReason::InvalidQty);
                }
                if !notional_ok(q) {
                    return Err(RejectReason::InvalidNotional);
                }
                Ok(match o.side {
                    Side::Buy => Reserve::Fixed(q),
                    Side::Sell => Reserve::AllAvailable,
                })
            }
        }
    }

    pub(crate) fn place_order(&mut self, o: &NewOrder, out: &mut Vec<Event>) -> Outcome {
        let plan = self.validate_new(o)?;
        let id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        let (orig_qty, quote_qty) = match o.qty {
            OrderQty::Base(n) => (n, 0),
            OrderQty::Quote(q) => (0, q),
        };
        let limit_priced = o.order_type.has_limit_price();
        let info = OrderInfo {
            id,
            user: o.user,
            market: o.market,
            side: o.side,
            order_type: o.order_type,
            tif: plan.tif,
            price: if limit_priced { o.price } else { 0 },
            qty: orig_qty,
            quote_qty,
            stop_price: if plan.stop.is_some() { o.stop_price } else { 0 },
            client_id: o.client_id,
            stp: plan.stp,
        };
        out.push(Event::OrderAccepted(info));
        let m = &self.markets[plan.market as usize];
        let asset = if o.side == Side::Buy { m.quote } else { m.base };
        let locked = match plan.reserve {
            Reserve::Fixed(v) => v,
            Reserve::AllAvailable if plan.stop.is_some() => 0,
            Reserve::AllAvailable => self.accounts.balance(plan.acct, asset).available,
        };
        self.accounts.lock(plan.acct, asset, locked);
        let order = Order {
            id,
            user: o.user,
            acct: plan.acct,
            market: plan.market,
            side: o.side,
            order_type: o.order_type,
            tif: plan.tif,
            price: info.price,
            stop_price: info.stop_price,
            orig_qty,
            quote_qty,
            remaining: orig_qty,
            executed: 0,
            cum_quote: 0,
            locked,
            client_id: o.client_id,
            stp: plan.stp,
            time_ns: self.now_ns,
            place: Place::Stop,
            level: NIL,
            prev: NIL,
            next: NIL,
            user_prev: NIL,
            user_next: NIL,
        };
        if let Some(dir) = plan.stop {
            self.add_stop(order, dir);
            return Ok(());
        }
        let range = self.execute(Taker::from_order(order), out);
        self.run_triggers(plan.market, range, out);
        Ok(())
    }

    fn add_stop(&mut self, order: Order, dir: StopDir) {
        let (mk, id, stop) = (order.market, order.id, order.stop_price);
        let m = &mut self.markets[mk as usize];
        match dir {
            StopDir::Falling => m.stops_falling.insert((Reverse(stop), id)),
            StopDir::Rising => m.stops_rising.insert((stop, id)),
        };
        self.insert_open(order);
    }

    /// Finds an open order of `user` in `market` by id or client id.
    pub(crate) fn find_open(
        &self,
        user: UserId,
        market: MarketId,
        r: OrderRef,
    ) -> Result<u32, RejectReason> {
        let id = match r {
            OrderRef::Id(id) => id,
            OrderRef::Client(c) => *self
                .client_index
                .get(&(user, c))
                .ok_or(RejectReason::UnknownOrder)?,
        };
        let slot = *self
            .order_index
            .get(&id)
            .ok_or(RejectReason::UnknownOrder)?;
        let o = self.orders.get(slot);
        // Someone else's order is as unknown as a missing one.
        if o.user != user || self.markets[o.market as usize].cfg.id != market {
            return Err(RejectReason::UnknownOrder);
        }
        Ok(slot)
    }

    pub(crate) fn cancel_order(
        &mut self,
        user: UserId,
        market: MarketId,
        r: OrderRef,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let mk = self.market_slot(market)?;
        if self.markets[mk as usize].cfg.status == MarketStatus::Halted {
            return Err(RejectReason::MarketClosed);
        }
        let slot = self.find_open(user, market, r)?;
        self.cancel_slot(slot, EndReason::Canceled, out);
        Ok(())
    }

    fn cancel_slot(&mut self, slot: u32, reason: EndReason, out: &mut Vec<Event>) {
        if self.orders.get(slot).place == Place::Stop {
            let o = self.orders.get(slot);
            let (mk, id, stop) = (o.market, o.id, o.stop_price);
            let m = &mut self.markets[mk as usize];
            let removed =
                m.stops_falling.remove(&(Reverse(stop), id)) || m.stops_rising.remove(&(stop, id));
            debug_assert!(removed);
        }
        let o = self.remove_open(slot);
        self.release_lock(&o);
        self.emit_update(&o, OrderStatus::Canceled, Some(reason), out);
    }

    pub(crate) fn cancel_all(
        &mut self,
        user: Option<UserId>,
        market: Option<MarketId>,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let only = match market {
            Some(id) => {
                let mk = self.market_slot(id)?;
                if self.markets[mk as usize].cfg.status == MarketStatus::Halted {
                    return Err(RejectReason::MarketClosed);
                }
                Some(mk)
            }
            None => None,
        };
        let wanted = |o: &Order, engine: &Engine| {
            only.is_none_or(|mk| o.market == mk)
                && engine.markets[o.market as usize].cfg.status != MarketStatus::Halted
        };
        let mut slots: Vec<(OrderId, u32)> = match user {
            Some(u) => {
                let Some(acct) = self.accounts.find(u) else {
                    return Ok(());
                };
                let mut v = Vec::new();
                let mut s = self.accounts.get(acct).orders_head;
                while s != NIL {
                    let o = self.orders.get(s);
                    if wanted(o, self) {
                        v.push((o.id, s));
                    }
                    s = o.user_next;
                }
                v
            }
            None => self
                .order_index
                .iter()
                .filter(|(_, s)| wanted(self.orders.get(*s), self))
                .collect(),
        };
        slots.sort_unstable();
        for (_, slot) in slots {
            self.cancel_slot(slot, EndReason::MassCanceled, out);
        }
        Ok(())
    }

    pub(crate) fn replace_order(
        &mut self,
        user: UserId,
        market: MarketId,
        r: OrderRef,
        new_price: Option<u64>,
        new_qty: Option<u64>,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let mk = self.market_slot(market)?;
        let m = &self.markets[mk as usize];
        if m.cfg.status != MarketStatus::Trading {
            return Err(RejectReason::MarketClosed);
        }
        let slot = self.find_open(user, market, r)?;
        let o = self.orders.get(slot);
        if o.place != Place::Resting {
            return Err(RejectReason::InvalidAmend);
        }
        let price = new_price.unwrap_or(o.price);
        let qty = new_qty.unwrap_or(o.remaining);
        if price < m.cfg.min_price || price > m.cfg.max_price {
            return Err(RejectReason::InvalidPrice);
        }
        if qty == 0 || qty > m.cfg.max_qty {
            return Err(RejectReason::InvalidQty);
        }
        if price == o.price && qty == o.remaining {
            return Err(RejectReason::InvalidAmend);
        }
        // A frozen user may shrink an order (a partial cancel) but not reprice or grow it.
        if self.accounts.get(o.acct).frozen && !(price == o.price && qty < o.remaining) {
            return Err(RejectReason::UserFrozen);
        }
        if price == o.price && qty < o.remaining {
            self.reduce_in_place(slot, qty, out);
            return Ok(());
        }
        let (lock, asset) = self.check_amended_funds(slot, mk, price, qty)?;
        let crossing = m
            .ladder(o.side.opposite())
            .best()
            .is_some_and(|(best, _)| crosses(o.side, price, best));
        if !crossing {
            self.move_in_place(slot, price, qty, (lock, asset), out);
            return Ok(());
        }
        self.reenter_as_taker(slot, mk, price, qty, (lock, asset), out);
        Ok(())
    }

    /// What an amended order must lock, and in which asset, once its new
    /// notional, the owner's funds and (post-only) the book allow it.
    // Always inlined: on the amend path, a call costs ~2 % of the
    // exchange-core mix (callgrind).
    #[inline(always)]
    fn check_amended_funds(
        &self,
        slot: u32,
        mk: u32,
        price: u64,
        qty: u64,
    ) -> Result<(u64, u32), RejectReason> {
        let m = &self.markets[mk as usize];
        let o = self.orders.get(slot);
        let lock = match o.side {
            Side::Buy => m.scale.notional(price, qty).ok_or(RejectReason::Overflow)?,
            Side::Sell => m.scale.base_amount(qty).ok_or(RejectReason::Overflow)?,
        };
        let value = m.scale.notional(price, qty).ok_or(RejectReason::Overflow)?;
        if value < m.cfg.min_notional || (m.cfg.max_notional != 0 && value > m.cfg.max_notional) {
            return Err(RejectReason::InvalidNotional);
        }
        let asset = if o.side == Side::Buy { m.quote } else { m.base };
        if lock > o.locked && lock - o.locked > self.accounts.balance(o.acct, asset).available {
            return Err(RejectReason::InsufficientFunds);
        }
        if o.order_type == OrderType::LimitMaker {
            if let Some((best, _)) = m.ladder(o.side.opposite()).best() {
                if crosses(o.side, price, best) {
                    return Err(RejectReason::WouldTakeLiquidity);
                }
            }
        }
        Ok((lock, asset))
    }

    /// An amendment that crosses: the order leaves the book, re-reserves
    /// `lock`, and comes back as a taker with fresh time priority.
    fn reenter_as_taker(
        &mut self,
        slot: u32,
        mk: u32,
        price: u64,
        qty: u64,
        (lock, asset): (u64, u32),
        out: &mut Vec<Event>,
    ) {
        let mut order = self.remove_open(slot);
        if lock > order.locked {
            self.accounts.lock(order.acct, asset, lock - order.locked);
        } else {
            self.accounts.unlock(order.acct, asset, order.locked - lock);
        }
        order.locked = lock;
        order.price = price;
        order.remaining = qty;
        order.orig_qty = order.executed + qty;
        order.time_ns = self.now_ns;
        out.push(Event::OrderAmended {
            order: order.id,
            user: order.user,
            market: self.markets[mk as usize].cfg.id,
            price,
            remaining: qty,
            kept_priority: false,
        });
        let range = self.execute(Taker::from_order(order), out);
        self.run_triggers(mk, range, out);
    }

    /// A new price that does not cross, or a larger quantity: the order goes
    /// to the back of its (new) level without leaving its slot, its owner's
    /// list or the indexes. Same events as leaving and re-entering the book.
    fn move_in_place(
        &mut self,
        slot: u32,
        price: u64,
        qty: u64,
        (lock, asset): (u64, u32),
        out: &mut Vec<Event>,
    ) {
        let o = self.orders.get(slot);
        let (mk, side, acct, old_price, old_lock) = (o.market, o.side, o.acct, o.price, o.locked);
        self.markets[mk as usize]
            .ladder_mut(side)
            .unlink(&mut self.orders, slot);
        self.touch_level(mk, side, old_price);
        if lock > old_lock {
            self.accounts.lock(acct, asset, lock - old_lock);
        } else {
            self.accounts.unlock(acct, asset, old_lock - lock);
        }
        let o = self.orders.get_mut(slot);
        o.locked = lock;
        o.price = price;
        o.remaining = qty;
        o.orig_qty = o.executed + qty;
        o.time_ns = self.now_ns;
        self.markets[mk as usize]
            .ladder_mut(side)
            .push_back(&mut self.orders, slot);
        self.touch_level(mk, side, price);
        let o = self.orders.get(slot);
        let market = self.markets[mk as usize].cfg.id;
        out.push(Event::OrderAmended {
            order: o.id,
            user: o.user,
            market,
            price,
            remaining: qty,
            kept_priority: false,
        });
        let status = if o.executed > 0 {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::New
        };
        self.emit_update(o, status, None, out);
    }

    /// Lowers the open quantity of a resting order, keeping its place in the queue.
    fn reduce_in_place(&mut self, slot: u32, qty: u64, out: &mut Vec<Event>) {
        let o = self.orders.get(slot);
        let (mk, side, price, cut) = (o.market, o.side, o.price, o.remaining - qty);
        let m = &self.markets[mk as usize];
        let (asset, release) = match side {
            Side::Buy => (
                m.quote,
                m.scale
                    .notional(price, cut)
                    .expect("within the order's own lock"),
            ),
            Side::Sell => (
                m.base,
                m.scale
                    .base_amount(cut)
                    .expect("within the order's own lock"),
            ),
        };
        let level = self.orders.get(slot).level;
        self.markets[mk as usize]
            .ladder_mut(side)
            .reduce(level, cut);
        self.touch_level(mk, side, price);
        let o = self.orders.get_mut(slot);
        o.remaining = qty;
        o.orig_qty = o.executed + qty;
        o.locked -= release;
        let (acct, id, user) = (o.acct, o.id, o.user);
        self.accounts.unlock(acct, asset, release);
        let market = self.markets[mk as usize].cfg.id;
        out.push(Event::OrderAmended {
            order: id,
            user,
            market,
            price,
            remaining: qty,
            kept_priority: true,
        });
    }

    /// Links an order into the book (if resting), its owner's list and the indexes.
    pub(crate) fn insert_open(&mut self, mut order: Order) {
        // The order may come back from `remove_open` (amend, trigger) with stale links.
        (order.prev, order.next, order.user_prev, order.user_next) = (NIL, NIL, NIL, NIL);
        let (id, user, acct, mk, side, place, client) = (
            order.id,
            order.user,
            order.acct,
            order.market,
            order.side,
            order.place,
            order.client_id,
        );
        let price = order.price;
        let slot = self.orders.alloc(order);
        if place == Place::Resting {
            let m = &mut self.markets[mk as usize];
            match side {
                Side::Buy => m.bids.push_back(&mut self.orders, slot),
                Side::Sell => m.asks.push_back(&mut self.orders, slot),
            }
            self.touch_level(mk, side, price);
        }
        let account = self.accounts.get_mut(acct);
        let tail = account.orders_tail;
        account.orders_tail = slot;
        if tail == NIL {
            account.orders_head = slot;
        } else {
            self.orders.get_mut(tail).user_next = slot;
        }
        self.orders.get_mut(slot).user_prev = tail;
        account.open_orders += 1;
        self.markets[mk as usize].order_count += 1;
        self.order_index.insert(id, slot);
        if let Some(c) = client {
            self.client_index.insert((user, c), id);
        }
    }

    /// Unlinks an open order from the book (if resting), its owner's list and
    /// the indexes, frees its slot and returns it. Stop-book entries are the
    /// caller's business.
    pub(crate) fn remove_open(&mut self, slot: u32) -> Order {
        let o = self.orders.get(slot).clone();
        if o.place == Place::Resting {
            self.markets[o.market as usize]
                .ladder_mut(o.side)
                .unlink(&mut self.orders, slot);
            self.touch_level(o.market, o.side, o.price);
        }
        if o.user_prev == NIL {
            self.accounts.get_mut(o.acct).orders_head = o.user_next;
        } else {
            self.orders.get_mut(o.user_prev).user_next = o.user_next;
        }
        if o.user_next == NIL {
            self.accounts.get_mut(o.acct).orders_tail = o.user_prev;
        } else {
            self.orders.get_mut(o.user_next).user_prev = o.user_prev;
        }
        self.accounts.get_mut(o.acct).open_orders -= 1;
        self.markets[o.market as usize].order_count -= 1;
        self.order_index.remove(&o.id);
        if let Some(c) = o.client_id {
            self.client_index.remove(&(o.user, c));
        }
        self.orders.release(slot);
        o
    }

    pub(crate) fn release_lock(&mut self, o: &Order) {
        let m = &self.markets[o.market as usize];
        let asset = if o.side == Side::Buy { m.quote } else { m.base };
        self.accounts.unlock(o.acct, asset, o.locked);
    }

    pub(crate) fn emit_update(
        &self,
        o: &Order,
        status: OrderStatus,
        reason: Option<EndReason>,
        out: &mut Vec<Event>,
    ) {
        out.push(Event::OrderUpdate {
            order: o.id,
            user: o.user,
            market: self.markets[o.market as usize].cfg.id,
            status,
            executed: o.executed,
            cum_quote: o.cum_quote,
            remaining: if status.is_final() { 0 } else { o.remaining },
            reason,
        });
    }
}
