//! A market's units: ticks, lots and atoms as Binance's decimal strings.

use flowex_types::{format_scaled, format_scaled_wide, AssetConfig, MarketConfig, Symbol};

/// What writing a market's numbers takes: its symbol, tick and lot sizes
/// and the decimals of its two assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Market {
    pub symbol: Symbol,
    /// Quote atoms per whole base unit in one tick.
    pub tick_size: u64,
    /// Base atoms in one lot.
    pub lot_size: u64,
    pub base_decimals: u8,
    pub quote_decimals: u8,
}

impl Market {
    pub fn new(cfg: &MarketConfig, base: &AssetConfig, quote: &AssetConfig) -> Market {
        Market {
            symbol: cfg.symbol,
            tick_size: cfg.tick_size,
            lot_size: cfg.lot_size,
            base_decimals: base.decimals,
            quote_decimals: quote.decimals,
        }
    }

    pub fn symbol(&self) -> String {
        self.symbol.as_str().to_string()
    }

    /// Ticks as a price (quote decimals).
    pub fn price(&self, ticks: u64) -> String {
        format_scaled(ticks.saturating_mul(self.tick_size), self.quote_decimals)
    }

    /// Lots as a base quantity.
    pub fn qty(&self, lots: u64) -> String {
        format_scaled(lots.saturating_mul(self.lot_size), self.base_decimals)
    }

    /// Quote atoms.
    pub fn quote(&self, atoms: u64) -> String {
        format_scaled(atoms, self.quote_decimals)
    }

    /// A sum of lots, which may pass `u64`.
    pub fn qty_sum(&self, lots: u128) -> String {
        format_scaled_wide(
            lots.saturating_mul(u128::from(self.lot_size)),
            self.base_decimals,
        )
    }

    /// A sum of quote atoms, which may pass `u64`.
    pub fn quote_sum(&self, atoms: u128) -> String {
        format_scaled_wide(atoms, self.quote_decimals)
    }
}
