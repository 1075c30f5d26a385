//! The invariants of DESIGN.md, checked over the whole state. Tests call
//! this after random streams; it is O(state), so never on the hot path.

use crate::book::{Place, NIL};
use crate::{Engine, WithdrawalState};
use flowex_types::Side;
use std::collections::BTreeMap;

impl Engine {
    /// Returns the first broken invariant, if any.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_conservation()?;
        self.check_locks()?;
        self.check_books()?;
        self.check_indexes()?;
        Ok(())
    }

    /// The lookup structures agree with the orders: every client id names an
    /// open order of its user, every stop-book entry a pending stop filed
    /// under its own stop price and direction, and nothing is left triggered.
    fn check_indexes(&self) -> Result<(), String> {
        use crate::orders::{stop_direction, StopDir};
        for (&(user, client), &id) in &self.client_index {
            let o = self.order_index.get(&id).map(|&s| self.orders.get(s));
            if !o.is_some_and(|o| o.user == user && o.client_id == Some(client)) {
                return Err(format!(
                    "client id {client} of user {user} points at order {id}"
                ));
            }
        }
        let (mut with_client, mut pending) = (0usize, 0usize);
        for (_, s) in self.order_index.iter() {
            let o = self.orders.get(s);
            with_client += usize::from(o.client_id.is_some());
            pending += usize::from(o.place == Place::Stop);
            if o.place == Place::Triggered {
                return Err(format!("order {} left triggered between commands", o.id));
            }
        }
        if with_client != self.client_index.len() {
            return Err(format!(
                "{with_client} open orders have client ids, {} indexed",
                self.client_index.len()
            ));
        }
        let mut filed = 0usize;
        for (mk, m) in self.markets.iter().enumerate() {
            let falling = m
                .stops_falling
                .iter()
                .map(|&(std::cmp::Reverse(p), id)| (p, id, StopDir::Falling));
            let rising = m
                .stops_rising
                .iter()
                .map(|&(p, id)| (p, id, StopDir::Rising));
            for (stop, id, dir) in falling.chain(rising) {
                filed += 1;
                let Some(&s) = self.order_index.get(&id) else {
                    return Err(format!("stop {id} is not open"));
                };
                let o = self.orders.get(s);
                if o.place != Place::Stop
                    || o.market != mk as u32
                    || o.stop_price != stop
                    || stop_direction(o.order_type, o.side) != Some(dir)
                {
                    return Err(format!("stop {id} misfiled at {stop}"));
                }
            }
        }
        if filed != pending || !self.trigger_queue.is_empty() {
            return Err(format!("{pending} pending stops, {filed} in stop books"));
        }
        Ok(())
    }

    /// 1. For every asset, all balances sum to deposits minus withdrawals.
    fn check_conservation(&self) -> Result<(), String> {
        for (slot, asset) in self.assets.iter().enumerate() {
            let total: u128 = self
                .accounts
                .list
                .iter()
                .map(|a| u128::from(a.balance(slot as u32).total()))
                .sum();
            if total != u128::from(asset.supply) {
                return Err(format!(
                    "asset {}: balances sum to {total}, supply is {}",
                    asset.cfg.code, asset.supply
                ));
            }
        }
        Ok(())
    }

    /// 2. Locked funds equal what open orders and pending withdrawals reserve.
    fn check_locks(&self) -> Result<(), String> {
        let mut reserved: BTreeMap<(u32, u32), u64> = BTreeMap::new();
        let mut open_per_acct: BTreeMap<u32, u32> = BTreeMap::new();
        for (id, slot) in self.order_index.iter() {
            let o = self.orders.get(slot);
            if o.id != id {
                return Err(format!("order index points {id} at order {}", o.id));
            }
            let m = &self.markets[o.market as usize];
            let asset = if o.side == Side::Buy { m.quote } else { m.base };
            *reserved.entry((o.acct, asset)).or_default() += o.locked;
            *open_per_acct.entry(o.acct).or_default() += 1;
            if o.place == Place::Resting {
                let expect = match o.side {
                    Side::Buy => m.scale.notional(o.price, o.remaining),
                    Side::Sell => m.scale.base_amount(o.remaining),
                };
                if expect != Some(o.locked) {
                    return Err(format!("order {id} locks {} for {:?}", o.locked, expect));
                }
            }
        }
        for w in self
            .withdrawals
            .values()
            .filter(|w| w.state == WithdrawalState::Pending)
        {
            *reserved.entry((w.acct, w.asset)).or_default() += w.amount;
        }
        for (acct, account) in self.accounts.list.iter().enumerate() {
            for slot in 0..self.assets.len() as u32 {
                let want = reserved.get(&(acct as u32, slot)).copied().unwrap_or(0);
                if account.balance(slot).locked != want {
                    return Err(format!(
                        "user {} asset {slot}: locked {} but reserved {want}",
                        account.user,
                        account.balance(slot).locked
                    ));
                }
            }
            let open = open_per_acct.get(&(acct as u32)).copied().unwrap_or(0);
            let (mut listed, mut s, mut prev) = (0u32, account.orders_head, NIL);
            while s != NIL && listed <= open {
                let o = self.orders.get(s);
                if o.acct != acct as u32 || o.user_prev != prev {
                    return Err(format!(
                        "user {}: order list broken at order {}",
                        account.user, o.id
                    ));
                }
                listed += 1;
                (prev, s) = (s, o.user_next);
            }
            if listed != open || account.orders_tail != prev {
                return Err(format!(
                    "user {}: order list holds {listed}, expected {open}",
                    account.user
                ));
            }
            if account.open_orders != open {
                return Err(format!(
                    "user {} counts {} open orders, has {open}",
                    account.user, account.open_orders
                ));
            }
        }
        Ok(())
    }

    /// 3. Books never cross at rest; levels hold what their orders add up to, in time order.
    fn check_books(&self) -> Result<(), String> {
        for (mk, m) in self.markets.iter().enumerate() {
            if let (Some((bid, _)), Some((ask, _))) = (m.bids.best(), m.asks.best()) {
                if bid >= ask {
                    return Err(format!(
                        "{}: crossed book, bid {bid} >= ask {ask}",
                        m.cfg.symbol
                    ));
                }
            }
            let mut in_book = 0u32;
            for side in [Side::Buy, Side::Sell] {
                for (price, level) in m.ladder(side).iter() {
                    let (mut qty, mut count, mut last_time, mut s) = (0u64, 0u32, 0u64, level.head);
                    while s != NIL {
                        let o = self.orders.get(s);
                        if o.price != price
                            || o.side != side
                            || o.market != mk as u32
                            || o.remaining == 0
                        {
                            return Err(format!("order {} misplaced at level {price}", o.id));
                        }
                        if o.time_ns < last_time {
                            return Err(format!("order {} breaks time priority at {price}", o.id));
                        }
                        last_time = o.time_ns;
                        qty += o.remaining;
                        count += 1;
                        s = o.next;
                    }
                    if qty != level.qty || count != level.count || count == 0 {
                        return Err(format!(
                            "{}: level {price} says {}x{} but holds {count}x{qty}",
                            m.cfg.symbol, level.count, level.qty
                        ));
                    }
                    in_book += count;
                }
            }
            let stops = (m.stops_falling.len() + m.stops_rising.len()) as u32;
            if in_book + stops != m.order_count {
                return Err(format!(
                    "{}: counts {} orders, holds {}",
                    m.cfg.symbol,
                    m.order_count,
                    in_book + stops
                ));
            }
        }
        Ok(())
    }
}
