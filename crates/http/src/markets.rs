//! A market as the APIs see it: exact conversion between Binance's decimal
//! strings and the engine's integers (ticks, lots, atoms), shared by the
//! trading and market-data services. Never floating point: parsing is
//! [`parse_scaled`], formatting [`format_scaled`] (and
//! [`format_scaled_wide`] for sums that may pass `u64`).

use crate::ApiError;
use flowex_types::{
    format_scaled, format_scaled_wide, parse_scaled, AssetConfig, DecimalError, MarketConfig,
};

const DECIMAL_RANGE: &str = "^([0-9]{1,20})(\\.[0-9]{1,20})?$";

/// A market's configuration with its base and quote assets.
#[derive(Clone, Debug)]
pub struct MarketInfo {
    /// The engine's configuration.
    pub cfg: MarketConfig,
    /// The base asset.
    pub base: AssetConfig,
    /// The quote asset.
    pub quote: AssetConfig,
}

impl MarketInfo {
    fn decimal(&self, param: &str, s: &str, decimals: u8) -> Result<u64, ApiError> {
        parse_scaled(s, decimals).map_err(|e| match e {
            DecimalError::TooPrecise => ApiError::bad_precision(param),
            DecimalError::Overflow | DecimalError::TooLong => ApiError::invalid_parameter(param),
            _ => ApiError::illegal_chars_in(param, DECIMAL_RANGE),
        })
    }

    /// A price string in ticks: too many decimals is -1111, off the tick grid -1013 PRICE_FILTER.
    pub fn price(&self, param: &str, s: &str) -> Result<u64, ApiError> {
        let atoms = self.decimal(param, s, self.quote.decimals)?;
        if atoms % self.cfg.tick_size != 0 {
            return Err(ApiError::filter_failure("PRICE_FILTER"));
        }
        Ok(atoms / self.cfg.tick_size)
    }

    /// A base quantity string in lots: off the step grid is -1013 LOT_SIZE.
    pub fn qty(&self, param: &str, s: &str) -> Result<u64, ApiError> {
        let atoms = self.decimal(param, s, self.base.decimals)?;
        if atoms % self.cfg.lot_size != 0 {
            return Err(ApiError::filter_failure("LOT_SIZE"));
        }
        Ok(atoms / self.cfg.lot_size)
    }

    /// A quote amount string in quote atoms.
    pub fn quote_amount(&self, param: &str, s: &str) -> Result<u64, ApiError> {
        self.decimal(param, s, self.quote.decimals)
    }

    /// Ticks as a price string (quote decimals).
    pub fn price_str(&self, ticks: u64) -> String {
        format_scaled(
            ticks.saturating_mul(self.cfg.tick_size),
            self.quote.decimals,
        )
    }

    /// Lots as a quantity string (base decimals).
    pub fn qty_str(&self, lots: u64) -> String {
        format_scaled(lots.saturating_mul(self.cfg.lot_size), self.base.decimals)
    }

    /// Quote atoms as a string.
    pub fn quote_str(&self, atoms: u64) -> String {
        format_scaled(atoms, self.quote.decimals)
    }

    /// Base atoms as a string.
    pub fn base_str(&self, atoms: u64) -> String {
        format_scaled(atoms, self.base.decimals)
    }

    /// A sum of quantities (lots), as base: may pass `u64`.
    pub fn qty_sum_str(&self, lots: u128) -> String {
        format_scaled_wide(
            lots.saturating_mul(u128::from(self.cfg.lot_size)),
            self.base.decimals,
        )
    }

    /// A sum of quote atoms: may pass `u64`.
    pub fn quote_sum_str(&self, atoms: u128) -> String {
        format_scaled_wide(atoms, self.quote.decimals)
    }
}
