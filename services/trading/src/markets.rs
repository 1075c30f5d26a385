//! The markets as the API sees them: symbols, and exact conversion between
//! Binance's decimal strings and the engine's integers (ticks, lots, atoms).

use flowex_http::ApiError;
use flowex_types::{format_scaled, AssetConfig};
use std::collections::BTreeMap;

/// Digits Binance reports for every asset (`baseAssetPrecision` etc.).
pub const WIRE_PRECISION: u8 = 8;

/// A market with its two assets: the exact string ⇄ integer conversions
/// (shared with market-data, so it lives in `flowex_http`).
pub use flowex_http::markets::MarketInfo;

/// The units `m`'s numbers are written in on the Binance API.
pub fn units(m: &MarketInfo) -> flowex_binance::Market {
    flowex_binance::Market::new(&m.cfg, &m.base, &m.quote)
}

/// Markets by symbol, and assets by id, as last read from the engine.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub markets: BTreeMap<String, MarketInfo>,
    pub assets: BTreeMap<u32, AssetConfig>,
}

impl Directory {
    pub fn from_engine(engine: &flowex_engine::Engine) -> Directory {
        let assets: BTreeMap<u32, AssetConfig> =
            engine.assets().into_iter().map(|a| (a.id.0, a)).collect();
        let markets = engine
            .markets()
            .into_iter()
            .filter_map(|cfg| {
                let base = *assets.get(&cfg.base.0)?;
                let quote = *assets.get(&cfg.quote.0)?;
                Some((
                    cfg.symbol.as_str().to_string(),
                    MarketInfo { cfg, base, quote },
                ))
            })
            .collect();
        Directory { markets, assets }
    }

    pub fn market(&self, symbol: &str) -> Result<&MarketInfo, ApiError> {
        self.markets
            .get(symbol)
            .ok_or_else(ApiError::invalid_symbol)
    }

    pub fn by_id(&self, id: flowex_types::MarketId) -> Option<&MarketInfo> {
        self.markets.values().find(|m| m.cfg.id == id)
    }

    pub fn asset_str(&self, asset: flowex_types::AssetId, atoms: u64) -> String {
        let decimals = self
            .assets
            .get(&asset.0)
            .map_or(WIRE_PRECISION, |a| a.decimals);
        format_scaled(atoms, decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btcusdt() -> MarketInfo {
        MarketInfo {
            cfg: flowex_testkit::btcusdt(),
            base: flowex_testkit::btc(),
            quote: flowex_testkit::usdt(),
        }
    }

    #[test]
    fn converts_exactly_or_refuses_with_binance_codes() {
        let m = btcusdt();
        assert_eq!(m.price("price", "64000.01").unwrap(), 6_400_001);
        assert_eq!(m.price("price", "64000.0100000").unwrap(), 6_400_001);
        assert_eq!(m.price_str(6_400_001), "64000.01000000");
        assert_eq!(m.qty("quantity", "0.00100000").unwrap(), 100);
        assert_eq!(m.qty_str(100), "0.00100000");
        assert_eq!(
            m.price("price", "64000.001").unwrap_err().binance_code(),
            -1013
        );
        assert_eq!(
            m.qty("quantity", "0.000001").unwrap_err().binance_code(),
            -1013
        );
        assert_eq!(
            m.qty("quantity", "0.000000001").unwrap_err().binance_code(),
            -1111
        );
        assert_eq!(m.price("price", "1e5").unwrap_err().binance_code(), -1100);
        assert_eq!(m.price("price", "-1").unwrap_err().binance_code(), -1100);
    }
}
