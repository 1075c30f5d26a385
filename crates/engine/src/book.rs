//! Order storage and the price ladder of one side of a book.
//!
//! Orders live in a slab (a `Vec` with a free list) and are linked twice:
//! into their price level (FIFO, for time priority) and into their owner's
//! list of open orders. Links are slab indices, so nothing allocates per
//! order once the slab has grown.

use flowex_types::{ClientOrderId, OrderId, OrderType, Side, StpMode, TimeInForce, UserId};
use std::collections::BTreeMap;

pub(crate) const NIL: u32 = u32::MAX;

/// Where an open order sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the price ladder of its side.
    Resting,
    /// In the stop book, waiting for its trigger.
    Stop,
    /// Triggered, out of the stop book, queued to execute within this command.
    Triggered,
}

#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub id: OrderId,
    pub user: UserId,
    pub acct: u32,
    pub market: u32,
    pub side: Side,
    /// The type the order was placed with (a triggered stop keeps it).
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub price: u64,
    pub stop_price: u64,
    pub orig_qty: u64,
    pub quote_qty: u64,
    /// Open lots; `u64::MAX` for a pending stop sized in quote.
    pub remaining: u64,
    pub executed: u64,
    pub cum_quote: u64,
    /// Funds this order reserves, in quote (buy) or base (sell) atoms.
    pub locked: u64,
    pub client_id: Option<ClientOrderId>,
    pub stp: StpMode,
    pub time_ns: u64,
    pub place: Place,
    pub prev: u32,
    pub next: u32,
    pub user_prev: u32,
    pub user_next: u32,
}

#[derive(Default)]
pub(crate) struct Slab {
    items: Vec<Order>,
    free: Vec<u32>,
}

impl Slab {
    pub fn alloc(&mut self, order: Order) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = order;
                i
            }
            None => {
                self.items.push(order);
                (self.items.len() - 1) as u32
            }
        }
    }

    pub fn release(&mut self, i: u32) {
        self.free.push(i);
    }

    #[inline]
    pub fn get(&self, i: u32) -> &Order {
        &self.items[i as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, i: u32) -> &mut Order {
        &mut self.items[i as usize]
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub head: u32,
    pub tail: u32,
    /// Sum of `remaining` over the level's orders.
    pub qty: u64,
    pub count: u32,
}

/// One side of a book: price levels, best first.
pub(crate) struct Ladder {
    side: Side,
    levels: BTreeMap<u64, Level>,
}

impl Ladder {
    pub fn new(side: Side) -> Self {
        Ladder {
            side,
            levels: BTreeMap::new(),
        }
    }

    /// The best price and its level: highest bid or lowest ask.
    #[inline]
    pub fn best(&self) -> Option<(u64, &Level)> {
        let kv = match self.side {
            Side::Buy => self.levels.last_key_value(),
            Side::Sell => self.levels.first_key_value(),
        };
        kv.map(|(p, l)| (*p, l))
    }

    pub fn qty_at(&self, price: u64) -> u64 {
        self.levels.get(&price).map_or(0, |l| l.qty)
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (u64, &Level)> + '_> {
        let it = self.levels.iter().map(|(p, l)| (*p, l));
        match self.side {
            Side::Buy => Box::new(it.rev()),
            Side::Sell => Box::new(it),
        }
    }

    /// Appends the order at the back of its price level (lowest time priority).
    pub fn push_back(&mut self, slab: &mut Slab, slot: u32) {
        let (price, qty) = {
            let o = slab.get(slot);
            (o.price, o.remaining)
        };
        let level = self.levels.entry(price).or_insert(Level {
            head: NIL,
            tail: NIL,
            qty: 0,
            count: 0,
        });
        let old_tail = level.tail;
        {
            let o = slab.get_mut(slot);
            o.prev = old_tail;
            o.next = NIL;
        }
        if old_tail == NIL {
            level.head = slot;
        } else {
            slab.get_mut(old_tail).next = slot;
        }
        level.tail = slot;
        level.qty += qty;
        level.count += 1;
    }

    /// Takes the order out of its level; an emptied level disappears.
    pub fn unlink(&mut self, slab: &mut Slab, slot: u32) {
        let (price, qty, prev, next) = {
            let o = slab.get(slot);
            (o.price, o.remaining, o.prev, o.next)
        };
        let Some(level) = self.levels.get_mut(&price) else {
            debug_assert!(false, "order {slot} not in a level at {price}");
            return;
        };
        if prev == NIL {
            level.head = next;
        } else {
            slab.get_mut(prev).next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            slab.get_mut(next).prev = prev;
        }
        debug_assert!(level.qty >= qty && level.count > 0);
        level.qty -= qty;
        level.count -= 1;
        if level.count == 0 {
            debug_assert_eq!(level.qty, 0);
            self.levels.remove(&price);
        }
    }

    /// Lowers the aggregate of a level after a partial fill or a size reduction.
    pub fn reduce(&mut self, price: u64, by: u64) {
        if let Some(level) = self.levels.get_mut(&price) {
            debug_assert!(level.qty >= by);
            level.qty -= by;
        }
    }
}
