//! What the bot quotes: a pure function of the market's rules, a reference
//! price and a seeded random number generator, so it can be tested without
//! a server.

use crate::rules::Rules;
use rand::Rng;

/// Price levels on each side of the book.
pub const LEVELS: u64 = 3;
/// Half the spread around the reference price, in basis points.
const HALF_SPREAD_BPS: u64 = 5;
/// Distance between two levels of one side, in basis points.
const LEVEL_GAP_BPS: u64 = 10;
/// Largest step of the reference price per refresh, in basis points.
const MAX_STEP_BPS: i64 = 8;
/// The reference price is pulled back once it strays this far (percent) from its start.
const MAX_DRIFT_PCT: u64 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// One order to send: price in ticks (0 for a market order) and quantity in lots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub side: Side,
    pub ticks: u64,
    pub lots: u64,
}

/// The bot's view of one market: a reference price that wanders slowly
/// around where it started.
#[derive(Clone, Debug)]
pub struct Quoter {
    pub rules: Rules,
    anchor: u64,
    reference: u64,
}

impl Quoter {
    /// A quoter starting at `reference` ticks (kept inside the price filter).
    pub fn new(rules: Rules, reference: u64) -> Quoter {
        let mut q = Quoter {
            rules,
            anchor: reference,
            reference,
        };
        q.reference = reference.clamp(q.lowest_reference(), q.rules.max_ticks);
        q.anchor = q.reference;
        q
    }

    /// The reference price in ticks.
    pub fn reference(&self) -> u64 {
        self.reference
    }

    /// Moves the reference price by up to ±8 bp (at least one tick), pulled
    /// back towards where it started once it strays 20 % away.
    pub fn walk(&mut self, rng: &mut impl Rng) {
        let mut bps = rng.gen_range(-MAX_STEP_BPS..=MAX_STEP_BPS);
        let band = self.anchor / 100 * MAX_DRIFT_PCT;
        if self.reference > self.anchor.saturating_add(band) {
            bps = -bps.abs();
        } else if self.reference < self.anchor.saturating_sub(band) {
            bps = bps.abs();
        }
        let step = bps_of(self.reference, bps.unsigned_abs()).max(u64::from(bps != 0));
        self.reference = if bps < 0 {
            self.reference.saturating_sub(step)
        } else {
            self.reference.saturating_add(step)
        }
        .clamp(self.lowest_reference(), self.rules.max_ticks);
    }

    /// Below this the lowest bid would leave the price filter.
    fn lowest_reference(&self) -> u64 {
        let (half, gap) = self.distances();
        self.rules.min_ticks + half + gap * (LEVELS - 1)
    }

    fn distances(&self) -> (u64, u64) {
        let bps = |b: u64| bps_of(self.reference, b).max(1);
        (bps(HALF_SPREAD_BPS), bps(LEVEL_GAP_BPS))
    }

    /// The resting orders to show: `LEVELS` bids below and asks above the
    /// reference, larger further out, each worth at least the minimum notional.
    pub fn ladder(&self) -> Vec<Quote> {
        let (half, gap) = self.distances();
        let mut out = Vec::with_capacity(2 * LEVELS as usize);
        for level in 0..LEVELS {
            let away = half + gap * level;
            let size = 3 + 2 * level;
            if let Some(bid) = self.reference.checked_sub(away) {
                if bid >= self.rules.min_ticks {
                    out.push(self.quote(Side::Buy, bid, size));
                }
            }
            let ask = self.reference.saturating_add(away);
            if ask <= self.rules.max_ticks {
                out.push(self.quote(Side::Sell, ask, size));
            }
        }
        out
    }

    fn quote(&self, side: Side, ticks: u64, size: u64) -> Quote {
        Quote {
            side,
            ticks,
            lots: self.rules.lots_for(ticks, size),
        }
    }

    /// A small market order on a random side: it takes the best quote, so
    /// trades (and candles) happen. `ticks` is 0: a market order has no price.
    pub fn taker(&self, rng: &mut impl Rng) -> Quote {
        let side = if rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let lots = self.rules.lots_for(self.reference, 2);
        Quote {
            side,
            ticks: 0,
            lots,
        }
    }
}

/// `bps` basis points of `ticks`, rounded down.
fn bps_of(ticks: u64, bps: u64) -> u64 {
    (u128::from(ticks) * u128::from(bps) / 10_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Dec;
    use rand::SeedableRng;

    fn rules() -> Rules {
        Rules {
            symbol: "ETHBTC".into(),
            trading: true,
            tick: Dec { units: 1, scale: 5 },
            step: Dec { units: 1, scale: 3 },
            min_ticks: 1,
            max_ticks: 100_000_000,
            min_lots: 1,
            max_lots: 9_000_000,
            // 0.0001 BTC at scale 8.
            min_notional: 10_000,
        }
    }

    #[test]
    fn ladder_brackets_the_reference_and_meets_every_filter() {
        let q = Quoter::new(rules(), 5_000); // 0.05 BTC
        let ladder = q.ladder();
        assert_eq!(ladder.len(), 2 * LEVELS as usize);
        for o in &ladder {
            match o.side {
                Side::Buy => assert!(o.ticks < 5_000),
                Side::Sell => assert!(o.ticks > 5_000),
            }
            let value = u128::from(o.ticks) * u128::from(o.lots);
            assert!(
                value >= q.rules.min_notional,
                "{o:?} below the minimum notional"
            );
        }
        let best_bid = ladder
            .iter()
            .filter(|o| o.side == Side::Buy)
            .map(|o| o.ticks)
            .max();
        let best_ask = ladder
            .iter()
            .filter(|o| o.side == Side::Sell)
            .map(|o| o.ticks)
            .min();
        assert_eq!((best_bid, best_ask), (Some(4_998), Some(5_002)));
    }

    #[test]
    fn the_walk_is_seeded_and_stays_near_its_start() {
        let run = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut q = Quoter::new(rules(), 5_000);
            let mut seen = Vec::new();
            for _ in 0..20_000 {
                q.walk(&mut rng);
                seen.push(q.reference());
            }
            seen
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same path");
        assert_ne!(a, run(8));
        let (lo, hi) = (a.iter().min().unwrap(), a.iter().max().unwrap());
        assert!(*lo >= 3_900 && *hi <= 6_100, "wandered to {lo}..{hi}");
        assert!(hi - lo > 50, "hardly moved: {lo}..{hi}");
    }

    #[test]
    fn a_tiny_price_never_quotes_below_the_filter() {
        let mut q = Quoter::new(rules(), 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1_000 {
            q.walk(&mut rng);
            assert!(q.ladder().iter().all(|o| o.ticks >= 1));
            assert_eq!(q.ladder().len(), 2 * LEVELS as usize);
        }
    }
}
