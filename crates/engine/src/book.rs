//! Order storage and the price ladder of one side of a book.
//!
//! Orders live in a slab (a `Vec` with a free list) and are linked twice:
//! into their price level (FIFO, for time priority) and into their owner's
//! list of open orders. Links are slab indices, so nothing allocates per
//! order once the slab has grown.

use crate::price_index::PriceIndex;
use flowex_types::{ClientOrderId, OrderId, OrderType, Side, StpMode, TimeInForce, UserId};

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
    /// Slot of the price level holding the order (when resting).
    pub level: u32,
    pub prev: u32,
    pub next: u32,
    pub user_prev: u32,
    pub user_next: u32,
}

#[derive(Clone, Default)]
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
    pub price: u64,
    pub head: u32,
    pub tail: u32,
    /// Sum of `remaining` over the level's orders.
    pub qty: u64,
    pub count: u32,
}

/// One side of a book: price levels, best first.
///
/// Levels live in an arena and orders remember their level's slot, so
/// unlinking or shrinking an order never searches. A [`PriceIndex`] finds a
/// level by price, and the best level is cached.
#[derive(Clone)]
pub(crate) struct Ladder {
    side: Side,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    index: PriceIndex,
    best: u32,
}

impl Ladder {
    pub fn new(side: Side) -> Self {
        Ladder {
            side,
            levels: Vec::new(),
            free_levels: Vec::new(),
            index: PriceIndex::default(),
            best: NIL,
        }
    }

    /// The best price and its level: highest bid or lowest ask.
    #[inline]
    pub fn best(&self) -> Option<(u64, &Level)> {
        (self.best != NIL).then(|| {
            let l = &self.levels[self.best as usize];
            (l.price, l)
        })
    }

    pub fn qty_at(&self, price: u64) -> u64 {
        self.index
            .get(price)
            .map_or(0, |l| self.levels[l as usize].qty)
    }

    /// The level after `price` going away from the touch.
    fn worse_than(&self, price: u64) -> Option<(u64, u32)> {
        match self.side {
            Side::Buy => self.index.below(price),
            Side::Sell => self.index.above(price),
        }
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Level)> + '_ {
        let first = self.best().map(|(p, _)| (p, self.best));
        std::iter::successors(first, move |&(p, _)| self.worse_than(p))
            .map(move |(p, l)| (p, &self.levels[l as usize]))
    }

    /// Appends the order at the back of its price level (lowest time priority).
    pub fn push_back(&mut self, slab: &mut Slab, slot: u32) {
        let (price, qty) = {
            let o = slab.get(slot);
            (o.price, o.remaining)
        };
        let level_slot = match self.index.get(price) {
            Some(l) => l,
            None => self.new_level(price),
        };
        let level = &mut self.levels[level_slot as usize];
        let old_tail = level.tail;
        level.tail = slot;
        if old_tail == NIL {
            level.head = slot;
        }
        level.qty += qty;
        level.count += 1;
        if old_tail != NIL {
            slab.get_mut(old_tail).next = slot;
        }
        let o = slab.get_mut(slot);
        o.prev = old_tail;
        o.next = NIL;
        o.level = level_slot;
    }

    fn new_level(&mut self, price: u64) -> u32 {
        let level = Level {
            price,
            head: NIL,
            tail: NIL,
            qty: 0,
            count: 0,
        };
        let slot = match self.free_levels.pop() {
            Some(s) => {
                self.levels[s as usize] = level;
                s
            }
            None => {
                self.levels.push(level);
                (self.levels.len() - 1) as u32
            }
        };
        self.index.insert(price, slot);
        let better = match self.best() {
            None => true,
            Some((best, _)) => match self.side {
                Side::Buy => price > best,
                Side::Sell => price < best,
            },
        };
        if better {
            self.best = slot;
        }
        slot
    }

    /// Takes the order out of its level; an emptied level disappears.
    pub fn unlink(&mut self, slab: &mut Slab, slot: u32) {
        let (level_slot, qty, prev, next) = {
            let o = slab.get(slot);
            (o.level, o.remaining, o.prev, o.next)
        };
        if prev != NIL {
            slab.get_mut(prev).next = next;
        }
        if next != NIL {
            slab.get_mut(next).prev = prev;
        }
        let level = &mut self.levels[level_slot as usize];
        if prev == NIL {
            level.head = next;
        }
        if next == NIL {
            level.tail = prev;
        }
        debug_assert!(level.qty >= qty && level.count > 0);
        level.qty -= qty;
        level.count -= 1;
        if level.count == 0 {
            debug_assert_eq!(level.qty, 0);
            self.drop_level(level_slot);
        }
    }

    fn drop_level(&mut self, level_slot: u32) {
        let price = self.levels[level_slot as usize].price;
        self.index.remove(price);
        self.free_levels.push(level_slot);
        if self.best == level_slot {
            self.best = self.worse_than(price).map_or(NIL, |(_, l)| l);
        }
    }

    /// Lowers the aggregate of an order's level after a partial fill or a size reduction.
    pub fn reduce(&mut self, level_slot: u32, by: u64) {
        let level = &mut self.levels[level_slot as usize];
        debug_assert!(level.qty >= by);
        level.qty -= by;
    }
}
