//! A reference order book for differential tests: one market, unlimited
//! funds, quantities in lots, every rule written the most obvious way (linear
//! scans, clones, sorting) with no attention to speed. The optimised engine
//! must produce exactly the same accept/reject decisions, order ids, trades
//! and L2 book on any command stream.

use flowex_types::{OrderType, Side, StpMode, TimeInForce};

#[derive(Clone, Debug)]
struct RefOrder {
    id: u64,
    user: u64,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    price: u64,
    stop_price: u64,
    qty: u64,
    /// Arrival counter: lower is older (time priority).
    arrival: u64,
    stp: StpMode,
}

/// A new order for the reference book (sized in lots).
#[derive(Clone, Copy, Debug)]
pub struct RefNew {
    pub user: u64,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub price: u64,
    pub stop_price: u64,
    pub qty: u64,
    pub stp: StpMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTrade {
    pub maker: u64,
    pub taker: u64,
    pub price: u64,
    pub qty: u64,
}

#[derive(Clone, Default)]
pub struct RefBook {
    resting: Vec<RefOrder>,
    stops: Vec<RefOrder>,
    last_price: u64,
    next_id: u64,
    clock: u64,
    /// Trades of the last command.
    pub trades: Vec<RefTrade>,
}

fn stop_falls(o: &RefOrder) -> bool {
    matches!(
        (o.order_type, o.side),
        (OrderType::StopLoss | OrderType::StopLossLimit, Side::Sell)
            | (
                OrderType::TakeProfit | OrderType::TakeProfitLimit,
                Side::Buy
            )
    )
}

impl RefBook {
    pub fn new() -> Self {
        RefBook {
            next_id: 1,
            ..Default::default()
        }
    }

    /// Places an order; returns its id, or `None` when it is rejected.
    pub fn place(&mut self, n: RefNew) -> Option<u64> {
        self.trades.clear();
        let limit_priced = matches!(
            n.order_type,
            OrderType::Limit
                | OrderType::LimitMaker
                | OrderType::StopLossLimit
                | OrderType::TakeProfitLimit
        );
        let tif = match n.order_type {
            OrderType::Limit | OrderType::StopLossLimit | OrderType::TakeProfitLimit => n.tif,
            OrderType::LimitMaker => TimeInForce::Gtc,
            _ => TimeInForce::Ioc,
        };
        let o = RefOrder {
            id: 0,
            user: n.user,
            side: n.side,
            order_type: n.order_type,
            tif,
            price: if limit_priced { n.price } else { 0 },
            stop_price: if n.order_type.is_stop() {
                n.stop_price
            } else {
                0
            },
            qty: n.qty,
            arrival: 0,
            stp: n.stp,
        };
        if n.order_type.is_stop() && self.last_price != 0 {
            let now = if stop_falls(&o) {
                self.last_price <= o.stop_price
            } else {
                self.last_price >= o.stop_price
            };
            if now {
                return None;
            }
        }
        if n.order_type == OrderType::LimitMaker && self.best_maker(&o).is_some() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let o = RefOrder {
            id,
            arrival: self.tick(),
            ..o
        };
        if o.order_type.is_stop() {
            self.stops.push(o);
        } else {
            self.run_with_triggers(o);
        }
        Some(id)
    }

    pub fn cancel(&mut self, user: u64, id: u64) -> bool {
        self.trades.clear();
        let before = self.resting.len() + self.stops.len();
        self.resting.retain(|o| !(o.id == id && o.user == user));
        self.stops.retain(|o| !(o.id == id && o.user == user));
        before != self.resting.len() + self.stops.len()
    }

    /// Amends a resting order's price and/or remaining quantity.
    pub fn amend(
        &mut self,
        user: u64,
        id: u64,
        new_price: Option<u64>,
        new_qty: Option<u64>,
    ) -> bool {
        self.trades.clear();
        let Some(pos) = self
            .resting
            .iter()
            .position(|o| o.id == id && o.user == user)
        else {
            return false;
        };
        let old = self.resting[pos].clone();
        let price = new_price.unwrap_or(old.price);
        let qty = new_qty.unwrap_or(old.qty);
        if qty == 0 || (price == old.price && qty == old.qty) {
            return false;
        }
        if price == old.price && qty < old.qty {
            self.resting[pos].qty = qty;
            return true;
        }
        let moved = RefOrder { price, qty, ..old };
        if moved.order_type == OrderType::LimitMaker && self.best_maker(&moved).is_some() {
            return false;
        }
        self.resting.remove(pos);
        let moved = RefOrder {
            arrival: self.tick(),
            ..moved
        };
        self.run_with_triggers(moved);
        true
    }

    /// Aggregated levels of one side, best first.
    pub fn l2(&self, side: Side) -> Vec<(u64, u64)> {
        let mut levels: Vec<(u64, u64)> = Vec::new();
        for o in self.resting.iter().filter(|o| o.side == side) {
            match levels.iter_mut().find(|(p, _)| *p == o.price) {
                Some(l) => l.1 += o.qty,
                None => levels.push((o.price, o.qty)),
            }
        }
        levels.sort_by_key(|&(p, _)| if side == Side::Buy { u64::MAX - p } else { p });
        levels
    }

    /// Ids of all open orders (resting and stops), with their owners.
    pub fn open_orders(&self) -> Vec<(u64, u64)> {
        self.resting
            .iter()
            .chain(&self.stops)
            .map(|o| (o.id, o.user))
            .collect()
    }

    /// Resting orders as (id, owner, price, remaining quantity).
    pub fn resting(&self) -> Vec<(u64, u64, u64, u64)> {
        self.resting
            .iter()
            .map(|o| (o.id, o.user, o.price, o.qty))
            .collect()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The resting order a taker would meet next: best price, then oldest.
    fn best_maker(&self, t: &RefOrder) -> Option<usize> {
        let market = t.order_type.triggered() == OrderType::Market;
        let crosses = |o: &RefOrder| match t.side {
            Side::Buy => market || o.price <= t.price,
            Side::Sell => market || o.price >= t.price,
        };
        let better = |a: &RefOrder, b: &RefOrder| {
            let price_better = match t.side {
                Side::Buy => a.price < b.price,
                Side::Sell => a.price > b.price,
            };
            price_better || (a.price == b.price && a.arrival < b.arrival)
        };
        let mut best: Option<usize> = None;
        for (i, o) in self.resting.iter().enumerate() {
            if o.side != t.side && crosses(o) && best.is_none_or(|b| better(o, &self.resting[b])) {
                best = Some(i);
            }
        }
        best
    }

    /// Executes a taker, then every stop its trades trigger, in trigger order.
    fn run_with_triggers(&mut self, taker: RefOrder) {
        let mut queue = std::collections::VecDeque::new();
        let mut next = Some(taker);
        while let Some(t) = next.take().or_else(|| queue.pop_front()) {
            let start = self.trades.len();
            self.execute(t);
            let prices: Vec<u64> = self.trades[start..].iter().map(|x| x.price).collect();
            let (Some(&lo), Some(&hi)) = (prices.iter().min(), prices.iter().max()) else {
                continue;
            };
            let mut falling: Vec<RefOrder> = self
                .stops
                .iter()
                .filter(|o| stop_falls(o) && o.stop_price >= lo)
                .cloned()
                .collect();
            falling.sort_by_key(|o| (u64::MAX - o.stop_price, o.id));
            let mut rising: Vec<RefOrder> = self
                .stops
                .iter()
                .filter(|o| !stop_falls(o) && o.stop_price <= hi)
                .cloned()
                .collect();
            rising.sort_by_key(|o| (o.stop_price, o.id));
            for o in falling.into_iter().chain(rising) {
                self.stops.retain(|s| s.id != o.id);
                queue.push_back(o);
            }
        }
    }

    fn execute(&mut self, mut t: RefOrder) {
        if t.order_type.is_stop() {
            // A triggered stop queues behind everything already resting.
            t.arrival = self.tick();
        }
        if t.tif == TimeInForce::Fok {
            // All or nothing: try it on a copy of the book first.
            let mut trial = self.clone();
            trial.trades.clear();
            trial.match_taker(&mut t.clone());
            let filled: u64 = trial.trades.iter().map(|x| x.qty).sum();
            if filled < t.qty {
                return;
            }
        }
        let alive = self.match_taker(&mut t);
        let rests = alive
            && t.qty > 0
            && t.tif == TimeInForce::Gtc
            && t.order_type.triggered() != OrderType::Market;
        if rests {
            self.resting.push(t);
        }
    }

    /// Matches until done; returns false if self-trade prevention expired the taker.
    fn match_taker(&mut self, t: &mut RefOrder) -> bool {
        while t.qty > 0 {
            let Some(i) = self.best_maker(t) else {
                return true;
            };
            let m = self.resting[i].clone();
            if m.user == t.user && t.stp != StpMode::None {
                match t.stp {
                    StpMode::ExpireTaker => return false,
                    StpMode::ExpireMaker => {
                        self.resting.remove(i);
                    }
                    StpMode::ExpireBoth => {
                        self.resting.remove(i);
                        return false;
                    }
                    _ => {
                        let d = m.qty.min(t.qty);
                        self.resting[i].qty -= d;
                        if self.resting[i].qty == 0 {
                            self.resting.remove(i);
                        }
                        t.qty -= d;
                        if t.qty == 0 {
                            return false;
                        }
                    }
                }
                continue;
            }
            let q = m.qty.min(t.qty);
            self.trades.push(RefTrade {
                maker: m.id,
                taker: t.id,
                price: m.price,
                qty: q,
            });
            self.last_price = m.price;
            t.qty -= q;
            self.resting[i].qty -= q;
            if self.resting[i].qty == 0 {
                self.resting.remove(i);
            }
        }
        true
    }
}
