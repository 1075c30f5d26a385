//! Price → level lookup for one side of a book, with ordered neighbours.
//!
//! Most activity happens within a few thousand ticks of the touch, so a
//! dense window of `WINDOW` ticks answers lookups with an array index and
//! finds the next occupied price with a bit scan. Prices outside the window
//! live in a `BTreeMap`. When more levels sit outside than inside, the window
//! is re-centred on the price being inserted; a re-centring costs O(levels),
//! so it waits for at least a quarter of the levels (and `REBASE_SLACK`) to
//! have been inserted outside since the last one: amortised O(1) per insert,
//! even for a book spread wider than the window. The layout never changes
//! what is observed: only where a level is found, not which one.
//!
//! Memory: the window (`WINDOW` u32 slots and a bitset, 132 KiB) is
//! allocated on a side's first insert, so idle markets cost nothing.

use crate::book::NIL;
use std::collections::BTreeMap;

const WINDOW: usize = 1 << 15;
const WORDS: usize = WINDOW / 64;
const REBASE_SLACK: usize = 64;

#[derive(Clone, Default)]
pub(crate) struct PriceIndex {
    base: u64,
    /// Level slot per price in `base..base + WINDOW`, or NIL; empty until the first insert.
    slots: Vec<u32>,
    bits: Vec<u64>,
    in_window: usize,
    outside: BTreeMap<u64, u32>,
    /// Inserts that landed outside the window since it was last placed.
    outside_inserts: usize,
}

impl PriceIndex {
    #[inline]
    fn window_index(&self, price: u64) -> Option<usize> {
        let i = price.checked_sub(self.base)?;
        (i < WINDOW as u64 && !self.slots.is_empty()).then_some(i as usize)
    }

    #[inline]
    pub fn get(&self, price: u64) -> Option<u32> {
        match self.window_index(price) {
            Some(i) => Some(self.slots[i]).filter(|&s| s != NIL),
            None => self.outside.get(&price).copied(),
        }
    }

    pub fn len(&self) -> usize {
        self.in_window + self.outside.len()
    }

    /// Adds a price that is not present.
    pub fn insert(&mut self, price: u64, slot: u32) {
        debug_assert!(self.get(price).is_none(), "price {price} already indexed");
        if self.window_index(price).is_none() {
            self.outside_inserts += 1;
            let crowded_out = self.outside.len() > self.in_window
                && self.outside_inserts >= REBASE_SLACK.max(self.len() / 4);
            if self.slots.is_empty() || self.in_window == 0 || crowded_out {
                self.rebase(price);
            }
        }
        match self.window_index(price) {
            Some(i) => {
                self.slots[i] = slot;
                self.bits[i / 64] |= 1 << (i % 64);
                self.in_window += 1;
            }
            None => {
                self.outside.insert(price, slot);
            }
        }
    }

    pub fn remove(&mut self, price: u64) -> Option<u32> {
        match self.window_index(price) {
            Some(i) if self.slots[i] != NIL => {
                let slot = std::mem::replace(&mut self.slots[i], NIL);
                self.bits[i / 64] &= !(1 << (i % 64));
                self.in_window -= 1;
                Some(slot)
            }
            Some(_) => None,
            None => self.outside.remove(&price),
        }
    }

    /// Re-centres the window on `price`, moving levels between window and map.
    fn rebase(&mut self, price: u64) {
        let mut all: Vec<(u64, u32)> = std::mem::take(&mut self.outside).into_iter().collect();
        for (word, &bits) in self.bits.iter().enumerate() {
            let mut b = bits;
            while b != 0 {
                let i = word * 64 + b.trailing_zeros() as usize;
                all.push((self.base + i as u64, self.slots[i]));
                b &= b - 1;
            }
        }
        self.base = price.saturating_sub(WINDOW as u64 / 2);
        self.slots.clear();
        self.slots.resize(WINDOW, NIL);
        self.bits.clear();
        self.bits.resize(WORDS, 0);
        self.in_window = 0;
        self.outside_inserts = 0;
        for (p, s) in all {
            match self.window_index(p) {
                Some(i) => {
                    self.slots[i] = s;
                    self.bits[i / 64] |= 1 << (i % 64);
                    self.in_window += 1;
                }
                None => {
                    self.outside.insert(p, s);
                }
            }
        }
    }

    /// Highest occupied window index `<= i`.
    fn scan_down(&self, i: usize) -> Option<usize> {
        let (mut word, bit) = (i / 64, i % 64);
        let mut b = self.bits[word] & (u64::MAX >> (63 - bit));
        loop {
            if b != 0 {
                return Some(word * 64 + 63 - b.leading_zeros() as usize);
            }
            if word == 0 {
                return None;
            }
            word -= 1;
            b = self.bits[word];
        }
    }

    /// Lowest occupied window index `>= i`.
    fn scan_up(&self, i: usize) -> Option<usize> {
        let (mut word, bit) = (i / 64, i % 64);
        let mut b = self.bits[word] & (u64::MAX << bit);
        loop {
            if b != 0 {
                return Some(word * 64 + b.trailing_zeros() as usize);
            }
            word += 1;
            if word == WORDS {
                return None;
            }
            b = self.bits[word];
        }
    }

    /// The highest price strictly below `price`.
    pub fn below(&self, price: u64) -> Option<(u64, u32)> {
        let outside = self
            .outside
            .range(..price)
            .next_back()
            .map(|(p, s)| (*p, *s));
        let window = if self.in_window == 0 || price <= self.base {
            None
        } else {
            let start = (price - self.base - 1).min(WINDOW as u64 - 1) as usize;
            self.scan_down(start)
                .map(|i| (self.base + i as u64, self.slots[i]))
        };
        match (window, outside) {
            (Some(w), Some(o)) => Some(if w.0 > o.0 { w } else { o }),
            (w, o) => w.or(o),
        }
    }

    /// The lowest price strictly above `price`.
    pub fn above(&self, price: u64) -> Option<(u64, u32)> {
        if price == u64::MAX {
            return None;
        }
        let outside = self
            .outside
            .range(price.saturating_add(1)..)
            .next()
            .map(|(p, s)| (*p, *s));
        let window = if self.in_window == 0 {
            None
        } else if price < self.base {
            self.scan_up(0)
                .map(|i| (self.base + i as u64, self.slots[i]))
        } else if price - self.base + 1 >= WINDOW as u64 {
            None
        } else {
            let start = (price - self.base + 1) as usize;
            self.scan_up(start)
                .map(|i| (self.base + i as u64, self.slots[i]))
        };
        match (window, outside) {
            (Some(w), Some(o)) => Some(if w.0 < o.0 { w } else { o }),
            (w, o) => w.or(o),
        }
    }

    #[cfg(test)]
    pub fn max(&self) -> Option<(u64, u32)> {
        match self.get(u64::MAX) {
            Some(s) => Some((u64::MAX, s)),
            None => self.below(u64::MAX),
        }
    }

    #[cfg(test)]
    pub fn min(&self) -> Option<(u64, u32)> {
        match self.get(0) {
            Some(s) => Some((0, s)),
            None => self.above(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
    }

    fn price() -> impl Strategy<Value = u64> {
        prop_oneof![
            1_000_000u64..1_000_200,
            900_000u64..1_200_000,
            any::<u64>(),
            Just(0u64),
            Just(u64::MAX),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, rng_seed: proptest::test_runner::RngSeed::Fixed(7), failure_persistence: None, ..ProptestConfig::default() })]
        /// The index answers exactly like a BTreeMap, whatever the window does.
        #[test]
        fn agrees_with_a_btreemap(ops in prop::collection::vec(prop_oneof![price().prop_map(Op::Insert), price().prop_map(Op::Remove)], 1..400)) {
            let mut idx = PriceIndex::default();
            let mut model = BTreeMap::new();
            for (n, op) in ops.iter().enumerate() {
                match *op {
                    Op::Insert(p) if !model.contains_key(&p) => {
                        idx.insert(p, n as u32);
                        model.insert(p, n as u32);
                    }
                    Op::Insert(_) => {}
                    Op::Remove(p) => prop_assert_eq!(idx.remove(p), model.remove(&p)),
                }
                prop_assert_eq!(idx.len(), model.len());
                prop_assert_eq!(idx.max(), model.iter().next_back().map(|(p, s)| (*p, *s)));
                prop_assert_eq!(idx.min(), model.iter().next().map(|(p, s)| (*p, *s)));
                let probe = match *op { Op::Insert(p) | Op::Remove(p) => p };
                prop_assert_eq!(idx.get(probe), model.get(&probe).copied());
                prop_assert_eq!(idx.below(probe), model.range(..probe).next_back().map(|(p, s)| (*p, *s)));
                prop_assert_eq!(idx.above(probe), model.range(probe.saturating_add(1)..).next().map(|(p, s)| (*p, *s)).filter(|_| probe != u64::MAX));
            }
        }
    }

    #[test]
    fn rebases_when_most_levels_are_outside() {
        let mut idx = PriceIndex::default();
        idx.insert(10, 0);
        for k in 0..200u64 {
            idx.insert(10_000_000 + k, k as u32 + 1);
        }
        // The window followed the crowd; the first level is now the outsider.
        assert!(idx.outside.len() < 10, "{} outside", idx.outside.len());
        assert_eq!(idx.min(), Some((10, 0)));
        assert_eq!(idx.max(), Some((10_000_199, 200)));
        assert_eq!(idx.above(10), Some((10_000_000, 1)));
    }
}
