//! What the bot quotes: a pure function of the market's rules, a reference
//! price and a seeded random number generator, so it can be tested without
//! a server.
//!
//! Prices live on a lattice: the reference moves in whole `gap`s, and every
//! level sits at `reference ± (HALF_SPREAD_TICKS + n × gap)`. When the
//! reference moves one gap, the ladder shifts by one level and all other
//! quotes stay where they are, so following the price costs about two new
//! orders, not a new ladder (the per-user order limits are Binance's: 100
//! per 10 s, 200 000 per day).

use crate::rules::Rules;
use rand::Rng;

/// Price levels on each side of the book.
pub const LEVELS: u64 = 25;
/// Best bid and best ask are this many ticks from the reference: a spread
/// of twice that.
pub const HALF_SPREAD_TICKS: u64 = 2;
/// Distance between two levels of one side, in hundredths of a basis
/// point of the starting price (at least one tick).
const LEVEL_GAP_CENTI_BPS: u64 = 40;
/// Value of the best level in minimum notionals, and what each level
/// further out adds.
const TOUCH_SIZE: u64 = 30;
const SIZE_GROWTH: u64 = 12;
/// The reference is pulled back once it strays this far (percent) from its start.
const MAX_DRIFT_PCT: u64 = 20;
/// A taker order is worth between these many minimum notionals.
const TAKER_SIZE: std::ops::RangeInclusive<u64> = 1..=16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

/// The bot's view of one market: a reference price that wanders around
/// where it started, in steps of one level.
#[derive(Clone, Debug)]
pub struct Quoter {
    pub rules: Rules,
    anchor: u64,
    reference: u64,
    gap: u64,
}

impl Quoter {
    /// A quoter starting at `reference` ticks (kept inside the price filter).
    pub fn new(rules: Rules, reference: u64) -> Quoter {
        let gap = bps_of(reference, LEVEL_GAP_CENTI_BPS, 1_000_000).max(1);
        let mut q = Quoter {
            rules,
            anchor: reference,
            reference,
            gap,
        };
        q.reference = q.clamp(reference);
        q.anchor = q.reference;
        q
    }

    /// The reference price in ticks.
    pub fn reference(&self) -> u64 {
        self.reference
    }

    /// Ticks between two levels of one side.
    pub fn gap(&self) -> u64 {
        self.gap
    }

    /// Moves the reference by -2..=2 levels (half the time not at all),
    /// towards where it started once it strays 20 % away.
    pub fn walk(&mut self, rng: &mut impl Rng) {
        let roll = rng.gen_range(0..20);
        let mut steps: i64 = match roll {
            0..=9 => 0,
            10..=13 => 1,
            14..=17 => -1,
            18 => 2,
            _ => -2,
        };
        let band = self.anchor / 100 * MAX_DRIFT_PCT;
        if self.reference > self.anchor.saturating_add(band) {
            steps = -steps.abs();
        } else if self.reference < self.anchor.saturating_sub(band) {
            steps = steps.abs();
        }
        let by = self.gap.saturating_mul(steps.unsigned_abs());
        let next = if steps < 0 {
            self.reference.saturating_sub(by)
        } else {
            self.reference.saturating_add(by)
        };
        self.reference = self.clamp(next);
    }

    /// Inside the price filter with room for the whole bid side.
    fn clamp(&self, ticks: u64) -> u64 {
        let lowest = self.rules.min_ticks + HALF_SPREAD_TICKS + self.gap * (LEVELS - 1);
        ticks.clamp(lowest, self.rules.max_ticks.max(lowest))
    }

    /// The resting orders to show: `LEVELS` bids below and asks above the
    /// reference, larger further out, each worth at least the minimum
    /// notional. A level's size depends only on its distance and price, so
    /// a level that stays is not requoted.
    pub fn ladder(&self) -> Vec<Quote> {
        let mut out = Vec::with_capacity(2 * LEVELS as usize);
        for level in 0..LEVELS {
            let away = HALF_SPREAD_TICKS + self.gap * level;
            if let Some(bid) = self.reference.checked_sub(away) {
                if bid >= self.rules.min_ticks {
                    out.push(self.quote(Side::Buy, bid, level));
                }
            }
            let ask = self.reference.saturating_add(away);
            if ask <= self.rules.max_ticks {
                out.push(self.quote(Side::Sell, ask, level));
            }
        }
        out
    }

    fn quote(&self, side: Side, ticks: u64, level: u64) -> Quote {
        // ±25 %, fixed per price, so sizes look irregular but stay put.
        let jitter = 75 + splitmix(ticks) % 51;
        let size = (TOUCH_SIZE + SIZE_GROWTH * level) * jitter / 100;
        Quote {
            side,
            ticks,
            lots: self.rules.lots_for(ticks, size.max(1)),
        }
    }

    /// A market order on a random side worth a few minimum notionals: it
    /// takes the best quotes, so trades (and candles) happen. `ticks` is 0:
    /// a market order has no price.
    pub fn taker(&self, rng: &mut impl Rng) -> Quote {
        let side = if rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let lots = self
            .rules
            .lots_for(self.reference, rng.gen_range(TAKER_SIZE));
        Quote {
            side,
            ticks: 0,
            lots,
        }
    }
}

/// `parts / per` of `ticks`, rounded down.
fn bps_of(ticks: u64, parts: u64, per: u64) -> u64 {
    (u128::from(ticks) * u128::from(parts) / u128::from(per)) as u64
}

/// A well-mixed hash of a price (SplitMix64's finaliser).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod tests {
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

    pub(crate) fn btcusdt() -> Rules {
        Rules {
            symbol: "BTCUSDT".into(),
            trading: true,
            tick: Dec { units: 1, scale: 2 },
            step: Dec { units: 1, scale: 5 },
            min_ticks: 1,
            max_ticks: 100_000_000,
            min_lots: 1,
            max_lots: 900_000_000,
            // 5 USDT at scale 7.
            min_notional: 50_000_000,
        }
    }

    fn side(ladder: &[Quote], s: Side) -> Vec<Quote> {
        ladder.iter().filter(|o| o.side == s).copied().collect()
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
        let best_bid = side(&ladder, Side::Buy).iter().map(|o| o.ticks).max();
        let best_ask = side(&ladder, Side::Sell).iter().map(|o| o.ticks).min();
        assert_eq!((best_bid, best_ask), (Some(4_998), Some(5_002)));
    }

    /// 20+ levels a side, a spread of a few ticks, sizes growing away from
    /// the touch, and more than 10 000 USDT on each side of BTCUSDT.
    #[test]
    fn the_btcusdt_book_is_deep() {
        let q = Quoter::new(btcusdt(), 6_400_000); // 64 000.00
        let ladder = q.ladder();
        let (bids, asks) = (side(&ladder, Side::Buy), side(&ladder, Side::Sell));
        assert!(bids.len() >= 20 && asks.len() >= 20);
        assert_eq!(asks[0].ticks - bids[0].ticks, 2 * HALF_SPREAD_TICKS);
        // Value in USDT (ticks of 0.01 × lots of 0.00001 = 1e-7 USDT).
        let usdt = |o: &Quote| u128::from(o.ticks) * u128::from(o.lots) / 10_000_000;
        let ask_value: u128 = asks.iter().map(usdt).sum();
        let bid_value: u128 = bids.iter().map(usdt).sum();
        assert!(
            ask_value > 15_000 && bid_value > 15_000,
            "{ask_value} {bid_value}"
        );
        // Outer levels are much larger than the touch, despite the jitter.
        assert!(usdt(&asks[24]) > 4 * usdt(&asks[0]));
        assert!(usdt(&bids[24]) > 4 * usdt(&bids[0]));
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
