//! Order id → slab slot.
//!
//! The engine hands out order ids in increasing order and most orders live
//! briefly, so the open ids crowd the newest end of the id range. A window
//! (`VecDeque`) indexed by `id - base` answers with one array access and no
//! hashing or rehash stalls; it advances past closed ids at its front. Ids
//! that fall behind the window (a long-lived order when the window is
//! trimmed, or an old order re-entering the book) live in a hash map. What
//! is found never depends on where it is kept.

use crate::book::NIL;
use flowex_types::OrderId;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Entries the window may hold before its oldest open ids move to the map.
const MAX_WINDOW: usize = 1 << 20;

#[derive(Clone, Default)]
pub(crate) struct OrderIndex {
    base: u64,
    window: VecDeque<u32>,
    behind: FxHashMap<OrderId, u32>,
    len: usize,
}

impl OrderIndex {
    #[inline]
    fn offset(&self, id: OrderId) -> Option<usize> {
        let i = id.0.checked_sub(self.base)?;
        (i < self.window.len() as u64).then_some(i as usize)
    }

    #[inline]
    pub fn get(&self, id: &OrderId) -> Option<&u32> {
        match self.offset(*id) {
            Some(i) => Some(&self.window[i]).filter(|s| **s != NIL),
            None if id.0 < self.base => self.behind.get(id),
            None => None,
        }
    }

    pub fn insert(&mut self, id: OrderId, slot: u32) {
        debug_assert!(self.get(&id).is_none(), "order {id} indexed twice");
        self.len += 1;
        if self.window.is_empty() && self.behind.is_empty() {
            self.base = id.0;
        }
        if id.0 < self.base {
            self.behind.insert(id, slot);
            return;
        }
        let i = (id.0 - self.base) as usize;
        if i == self.window.len() {
            // The usual case: the newest id, right after the last one.
            self.window.push_back(slot);
        } else {
            if i > self.window.len() {
                self.window.resize(i + 1, NIL);
            }
            self.window[i] = slot;
        }
        if self.window.len() > MAX_WINDOW {
            self.trim();
        }
    }

    pub fn remove(&mut self, id: &OrderId) -> Option<u32> {
        let removed = match self.offset(*id) {
            Some(i) if self.window[i] != NIL => Some(std::mem::replace(&mut self.window[i], NIL)),
            Some(_) => None,
            None => self.behind.remove(id),
        };
        if removed.is_some() {
            self.len -= 1;
            while self.window.front() == Some(&NIL) {
                self.window.pop_front();
                self.base += 1;
            }
        }
        removed
    }

    /// Moves the oldest half of the window behind it.
    fn trim(&mut self) {
        while self.window.len() > MAX_WINDOW / 2 {
            if let Some(slot) = self.window.pop_front().filter(|s| *s != NIL) {
                self.behind.insert(OrderId(self.base), slot);
            }
            self.base += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every (id, slot), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, u32)> + '_ {
        let base = self.base;
        let window = self
            .window
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != NIL)
            .map(move |(i, s)| (OrderId(base + i as u64), *s));
        self.behind.iter().map(|(id, s)| (*id, *s)).chain(window)
    }
}

impl std::ops::Index<&OrderId> for OrderIndex {
    type Output = u32;

    fn index(&self, id: &OrderId) -> &u32 {
        self.get(id).expect("indexed order")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, rng_seed: proptest::test_runner::RngSeed::Fixed(11), failure_persistence: None, ..ProptestConfig::default() })]
        /// Same answers as a map, for increasing new ids, removals in any order and re-inserts of old ids.
        #[test]
        fn agrees_with_a_map(ops in prop::collection::vec((0u8..4, 0u64..64), 1..500)) {
            let (mut idx, mut model, mut next) = (OrderIndex::default(), BTreeMap::new(), 1u64);
            for (n, (kind, pick)) in ops.into_iter().enumerate() {
                let open: Vec<u64> = model.keys().copied().collect();
                match kind {
                    0 | 1 => {
                        idx.insert(OrderId(next), n as u32);
                        model.insert(next, n as u32);
                        next += 1;
                    }
                    2 if !open.is_empty() => {
                        let id = open[pick as usize % open.len()];
                        prop_assert_eq!(idx.remove(&OrderId(id)), model.remove(&id));
                    }
                    _ => {
                        // Re-insert an old, closed id (an order coming back to the book).
                        let id = pick % next.max(1);
                        if id > 0 && !model.contains_key(&id) {
                            idx.insert(OrderId(id), n as u32);
                            model.insert(id, n as u32);
                        }
                    }
                }
                prop_assert_eq!(idx.len(), model.len());
                for id in 0..next + 2 {
                    prop_assert_eq!(idx.get(&OrderId(id)).copied(), model.get(&id).copied());
                }
                let mut all: Vec<(u64, u32)> = idx.iter().map(|(i, s)| (i.0, s)).collect();
                all.sort_unstable();
                prop_assert_eq!(all, model.iter().map(|(i, s)| (*i, *s)).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_long_lived_order_does_not_pin_the_window() {
        let mut idx = OrderIndex::default();
        idx.insert(OrderId(1), 7);
        for id in 2..(MAX_WINDOW as u64 * 3) {
            idx.insert(OrderId(id), 1);
            idx.remove(&OrderId(id));
        }
        assert!(
            idx.window.len() <= MAX_WINDOW,
            "window {}",
            idx.window.len()
        );
        assert_eq!(idx.get(&OrderId(1)), Some(&7));
        assert_eq!(idx.len(), 1);
    }
}
