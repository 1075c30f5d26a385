//! Assets and markets: the static configuration the engine trades against.
//!
//! Units, once and for all:
//! - an asset amount is a count of the asset's atomic unit, 10^-decimals;
//! - a price is a count of ticks; `tick_size` says how many quote atoms one
//!   tick is worth per whole base unit;
//! - a quantity is a count of lots; `lot_size` says how many base atoms one
//!   lot is.
//!
//! A market is only accepted when one lot at one tick costs a whole number of
//! quote atoms, so every notional is an exact integer and never rounded.

use crate::ids::{AssetCode, AssetId, MarketId, Symbol};
use serde::{Deserialize, Serialize};

/// Largest fee rate accepted, in parts per million (10%).
pub const MAX_FEE_PPM: u32 = 100_000;
/// Largest number of decimals an asset may have (10^19 overflows u64).
pub const MAX_ASSET_DECIMALS: u8 = 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetConfig {
    pub id: AssetId,
    pub code: AssetCode,
    /// The atomic unit is 10^-decimals of one whole unit.
    pub decimals: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarketStatus {
    /// Orders are placed, matched, amended and canceled.
    Trading,
    /// Nothing changes the book: no place, amend or cancel.
    Halted,
    /// Only cancels (single and cancel-all) are accepted.
    CancelOnly,
}

/// Self-trade prevention; the taker's mode decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StpMode {
    None,
    ExpireTaker,
    ExpireMaker,
    ExpireBoth,
    Decrement,
}

impl StpMode {
    pub const ALL: [StpMode; 5] = [
        StpMode::None,
        StpMode::ExpireTaker,
        StpMode::ExpireMaker,
        StpMode::ExpireBoth,
        StpMode::Decrement,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of STP modes, as a bit mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StpModes(pub u8);

impl StpModes {
    pub const ALL: StpModes = StpModes(0b1_1111);

    pub fn of(modes: &[StpMode]) -> Self {
        StpModes(modes.iter().fold(0, |m, s| m | s.bit()))
    }

    pub fn contains(self, mode: StpMode) -> bool {
        self.0 & mode.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = StpMode> {
        StpMode::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketConfig {
    pub id: MarketId,
    pub symbol: Symbol,
    pub base: AssetId,
    pub quote: AssetId,
    /// Quote atoms per whole base unit that one tick is worth.
    pub tick_size: u64,
    /// Base atoms in one lot (Binance's `stepSize`).
    pub lot_size: u64,
    /// Price range in ticks, inclusive.
    pub min_price: u64,
    pub max_price: u64,
    /// Quantity range in lots, inclusive.
    pub min_qty: u64,
    pub max_qty: u64,
    /// Smallest and largest order value, in quote atoms (0 = no maximum).
    pub min_notional: u64,
    pub max_notional: u64,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
    pub status: MarketStatus,
    pub allowed_stp: StpModes,
    pub default_stp: StpMode,
}

/// Fields of a market that may change after creation; `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketUpdate {
    pub min_price: Option<u64>,
    pub max_price: Option<u64>,
    pub min_qty: Option<u64>,
    pub max_qty: Option<u64>,
    pub min_notional: Option<u64>,
    pub max_notional: Option<u64>,
    pub maker_fee_ppm: Option<u32>,
    pub taker_fee_ppm: Option<u32>,
    pub status: Option<MarketStatus>,
    pub allowed_stp: Option<StpModes>,
    pub default_stp: Option<StpMode>,
}

impl MarketConfig {
    /// Applies an update, returning the new config (the caller validates it).
    pub fn updated(&self, u: &MarketUpdate) -> MarketConfig {
        MarketConfig {
            min_price: u.min_price.unwrap_or(self.min_price),
            max_price: u.max_price.unwrap_or(self.max_price),
            min_qty: u.min_qty.unwrap_or(self.min_qty),
            max_qty: u.max_qty.unwrap_or(self.max_qty),
            min_notional: u.min_notional.unwrap_or(self.min_notional),
            max_notional: u.max_notional.unwrap_or(self.max_notional),
            maker_fee_ppm: u.maker_fee_ppm.unwrap_or(self.maker_fee_ppm),
            taker_fee_ppm: u.taker_fee_ppm.unwrap_or(self.taker_fee_ppm),
            status: u.status.unwrap_or(self.status),
            allowed_stp: u.allowed_stp.unwrap_or(self.allowed_stp),
            default_stp: u.default_stp.unwrap_or(self.default_stp),
            ..*self
        }
    }

    /// Checks everything that does not need the asset table.
    pub fn validate_limits(&self) -> Result<(), &'static str> {
        if self.base == self.quote {
            return Err("base and quote must differ");
        }
        if self.tick_size == 0 || self.lot_size == 0 {
            return Err("tick and lot size must be positive");
        }
        if self.min_price == 0 || self.min_price > self.max_price {
            return Err("price range must be 1 <= min <= max");
        }
        if self.min_qty == 0 || self.min_qty > self.max_qty {
            return Err("quantity range must be 1 <= min <= max");
        }
        if self.max_notional != 0 && self.min_notional > self.max_notional {
            return Err("min notional above max notional");
        }
        if self.maker_fee_ppm > MAX_FEE_PPM || self.taker_fee_ppm > MAX_FEE_PPM {
            return Err("fee rate above the 10% maximum");
        }
        if !self.allowed_stp.contains(self.default_stp) {
            return Err("default STP mode is not among the allowed ones");
        }
        Ok(())
    }
}

/// Conversion factors derived from a market and its two assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketScale {
    /// Base atoms per lot.
    pub base_per_lot: u64,
    /// Quote atoms one lot costs at a price of one tick.
    pub quote_per_tick_lot: u64,
    pub base_decimals: u8,
    pub quote_decimals: u8,
}

impl MarketScale {
    /// Derives the scale, refusing configurations where a notional would not
    /// be a whole number of quote atoms.
    pub fn derive(
        m: &MarketConfig,
        base: &AssetConfig,
        quote: &AssetConfig,
    ) -> Result<Self, &'static str> {
        let unit = crate::decimal::pow10(base.decimals).ok_or("base decimals too large")?;
        let product = u128::from(m.tick_size) * u128::from(m.lot_size);
        if product % u128::from(unit) != 0 {
            return Err("one lot at one tick must cost a whole number of quote atoms");
        }
        let qptl = u64::try_from(product / u128::from(unit)).map_err(|_| "tick x lot too large")?;
        Ok(MarketScale {
            base_per_lot: m.lot_size,
            quote_per_tick_lot: qptl,
            base_decimals: base.decimals,
            quote_decimals: quote.decimals,
        })
    }

    /// Quote atoms for `lots` at `price` ticks; `None` on overflow.
    #[inline]
    pub fn notional(&self, price: u64, lots: u64) -> Option<u64> {
        let v = (u128::from(price) * u128::from(lots))
            .checked_mul(u128::from(self.quote_per_tick_lot))?;
        u64::try_from(v).ok()
    }

    /// Base atoms in `lots`; `None` on overflow.
    #[inline]
    pub fn base_amount(&self, lots: u64) -> Option<u64> {
        lots.checked_mul(self.base_per_lot)
    }
}

/// Fee on `amount` at `ppm` parts per million, rounded up to the atomic unit
/// (in the exchange's favour). Never more than `amount` while ppm <= 10^6.
#[inline]
pub fn fee_ceil(amount: u64, ppm: u32) -> u64 {
    let v = u128::from(amount) * u128::from(ppm);
    // amount * ppm / 1e6 <= amount, so the result always fits in u64.
    v.div_ceil(1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: u32, decimals: u8) -> AssetConfig {
        AssetConfig {
            id: AssetId(id),
            code: AssetCode::new("X").unwrap(),
            decimals,
        }
    }

    fn market(tick: u64, lot: u64) -> MarketConfig {
        MarketConfig {
            id: MarketId(1),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            base: AssetId(1),
            quote: AssetId(2),
            tick_size: tick,
            lot_size: lot,
            min_price: 1,
            max_price: 1_000_000,
            min_qty: 1,
            max_qty: 1_000_000,
            min_notional: 0,
            max_notional: 0,
            maker_fee_ppm: 1000,
            taker_fee_ppm: 1000,
            status: MarketStatus::Trading,
            allowed_stp: StpModes::ALL,
            default_stp: StpMode::None,
        }
    }

    #[test]
    fn scale_is_exact_or_refused() {
        // BTCUSDT: tick 0.01 USDT (10^6 atoms at 8 decimals), lot 0.00001 BTC (1000 atoms).
        let s = MarketScale::derive(&market(1_000_000, 1000), &asset(1, 8), &asset(2, 8)).unwrap();
        assert_eq!(s.quote_per_tick_lot, 10);
        assert_eq!(s.notional(6_000_000, 100_000), Some(6_000_000_000_000)); // 60000 USDT x 1 BTC
                                                                             // ETHBTC with tick 0.00001 and lot 0.0001 would cost 0.1 satoshi per lot-tick.
        assert!(MarketScale::derive(&market(1000, 10_000), &asset(1, 8), &asset(2, 8)).is_err());
        assert_eq!(s.notional(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn fees_round_up_and_never_exceed_amount() {
        assert_eq!(fee_ceil(1000, 1000), 1);
        assert_eq!(fee_ceil(1001, 1000), 2);
        assert_eq!(fee_ceil(1, 1), 1);
        assert_eq!(fee_ceil(0, 1000), 0);
        assert_eq!(fee_ceil(12345, 0), 0);
        assert_eq!(fee_ceil(u64::MAX, 1_000_000), u64::MAX);
    }

    #[test]
    fn stp_mode_sets() {
        let s = StpModes::of(&[StpMode::None, StpMode::Decrement]);
        assert!(s.contains(StpMode::Decrement) && !s.contains(StpMode::ExpireBoth));
        assert_eq!(StpModes::ALL.iter().count(), 5);
    }
}
