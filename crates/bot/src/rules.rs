//! A market's trading rules as `GET /api/v3/exchangeInfo` publishes them,
//! turned into integers (ticks, lots, atoms) so the bot never rounds.

use flowex_types::{format_scaled, parse_scaled};
use serde_json::Value;

/// An exact decimal: `units / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec {
    pub units: u64,
    pub scale: u8,
}

impl Dec {
    /// Parses `"0.01000000"` as 1 / 10^2 (trailing zeros do not add scale).
    pub fn parse(s: &str) -> Option<Dec> {
        let trimmed = match s.split_once('.') {
            Some((int, frac)) => {
                let frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    int.to_string()
                } else {
                    format!("{int}.{frac}")
                }
            }
            None => s.to_string(),
        };
        let scale = trimmed.split_once('.').map_or(0, |(_, f)| f.len());
        let scale = u8::try_from(scale).ok()?;
        let units = parse_scaled(&trimmed, scale).ok()?;
        Some(Dec { units, scale })
    }

    /// `n` of this unit as a decimal string (`n * units / 10^scale`).
    pub fn times(self, n: u64) -> Option<String> {
        n.checked_mul(self.units)
            .map(|v| format_scaled(v, self.scale))
    }

    /// This value expressed in units of `10^-scale` (`None` if it does not fit exactly).
    fn at_scale(self, scale: u8) -> Option<u128> {
        let up = scale.checked_sub(self.scale)?;
        10u128
            .checked_pow(u32::from(up))
            .and_then(|f| f.checked_mul(u128::from(self.units)))
    }
}

/// What the bot needs to know of one market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub symbol: String,
    pub trading: bool,
    pub tick: Dec,
    pub step: Dec,
    /// PRICE_FILTER bounds in ticks.
    pub min_ticks: u64,
    pub max_ticks: u64,
    /// LOT_SIZE bounds in lots.
    pub min_lots: u64,
    pub max_lots: u64,
    /// NOTIONAL's minimum, in quote units at scale `tick.scale + step.scale`.
    pub min_notional: u128,
}

impl Rules {
    /// The rules of every symbol in an `exchangeInfo` body; symbols whose
    /// filters cannot be read exactly are left out (and logged).
    pub fn from_exchange_info(info: &Value) -> Vec<Rules> {
        let Some(symbols) = info["symbols"].as_array() else {
            return Vec::new();
        };
        symbols
            .iter()
            .filter_map(|s| {
                let rules = Rules::from_symbol(s);
                if rules.is_none() {
                    tracing::warn!(symbol = %s["symbol"], "demo bot: unreadable filters, market skipped");
                }
                rules
            })
            .collect()
    }

    fn from_symbol(s: &Value) -> Option<Rules> {
        let filter = |kind: &str| {
            s["filters"]
                .as_array()?
                .iter()
                .find(|f| f["filterType"] == kind)
                .cloned()
        };
        let dec = |v: &Value, key: &str| Dec::parse(v[key].as_str()?);
        let price = filter("PRICE_FILTER")?;
        let lot = filter("LOT_SIZE")?;
        let notional = filter("NOTIONAL").or_else(|| filter("MIN_NOTIONAL"))?;
        let tick = dec(&price, "tickSize")?;
        let step = dec(&lot, "stepSize")?;
        if tick.units == 0 || step.units == 0 {
            return None;
        }
        let in_units = |v: Dec, unit: Dec| {
            let s = v.scale.max(unit.scale);
            Some((v.at_scale(s)? / unit.at_scale(s)?) as u64)
        };
        let max_ticks = in_units(dec(&price, "maxPrice")?, tick)?;
        let max_lots = in_units(dec(&lot, "maxQty")?, step)?;
        Some(Rules {
            symbol: s["symbol"].as_str()?.to_string(),
            trading: s["status"] == "TRADING",
            tick,
            step,
            min_ticks: in_units(dec(&price, "minPrice")?, tick)?.max(1),
            max_ticks: if max_ticks == 0 { u64::MAX } else { max_ticks },
            min_lots: in_units(dec(&lot, "minQty")?, step)?.max(1),
            max_lots: if max_lots == 0 { u64::MAX } else { max_lots },
            min_notional: dec(&notional, "minNotional")?.at_scale(tick.scale + step.scale)?,
        })
    }

    /// A price string given in ticks.
    pub fn price(&self, ticks: u64) -> Option<String> {
        self.tick.times(ticks)
    }

    /// A quantity string given in lots.
    pub fn qty(&self, lots: u64) -> Option<String> {
        self.step.times(lots)
    }

    /// Price in ticks of a decimal price string, rounded down to the tick.
    pub fn ticks_of(&self, price: &str) -> Option<u64> {
        let p = Dec::parse(price)?;
        let s = p.scale.max(self.tick.scale);
        Some((p.at_scale(s)? / self.tick.at_scale(s)?) as u64)
    }

    /// Quantity in lots of a decimal quantity string, rounded down to the lot.
    pub fn lots_of(&self, qty: &str) -> Option<u64> {
        let q = Dec::parse(qty)?;
        let s = q.scale.max(self.step.scale);
        Some((q.at_scale(s)? / self.step.at_scale(s)?) as u64)
    }

    /// The fewest lots worth at least `multiple` × the minimum notional at
    /// `ticks`, within LOT_SIZE.
    pub fn lots_for(&self, ticks: u64, multiple: u64) -> u64 {
        let lot_value =
            u128::from(ticks) * u128::from(self.tick.units) * u128::from(self.step.units);
        let target = self
            .min_notional
            .max(1)
            .saturating_mul(u128::from(multiple));
        let lots = target.div_ceil(lot_value.max(1));
        u64::try_from(lots)
            .unwrap_or(u64::MAX)
            .clamp(self.min_lots, self.max_lots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn btcusdt() -> Value {
        json!({"symbols": [{
            "symbol": "BTCUSDT", "status": "TRADING",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "maxNotional": "0"}
            ]
        }]})
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(Dec::parse("0.01000000"), Some(Dec { units: 1, scale: 2 }));
        assert_eq!(Dec::parse("5"), Some(Dec { units: 5, scale: 0 }));
        assert_eq!(
            Dec::parse("64000.50"),
            Some(Dec {
                units: 640005,
                scale: 1
            })
        );
        assert_eq!(Dec::parse("abc"), None);
        assert_eq!(Dec::parse("-1"), None);
    }

    #[test]
    fn exchange_info_becomes_integer_rules() {
        let rules = Rules::from_exchange_info(&btcusdt());
        let r = &rules[0];
        assert_eq!(r.symbol, "BTCUSDT");
        assert!(r.trading);
        assert_eq!((r.min_ticks, r.max_ticks), (1, 100_000_000));
        assert_eq!((r.min_lots, r.max_lots), (1, 900_000_000));
        // 5 USDT at scale 2 + 5 = 7.
        assert_eq!(r.min_notional, 50_000_000);
        assert_eq!(r.price(6_400_012).as_deref(), Some("64000.12"));
        assert_eq!(r.qty(150).as_deref(), Some("0.00150"));
        assert_eq!(r.ticks_of("64000.129"), Some(6_400_012));
        assert_eq!(r.lots_of("0.00150000"), Some(150));
    }

    #[test]
    fn lots_cover_the_minimum_notional() {
        let r = &Rules::from_exchange_info(&btcusdt())[0];
        // 5 USDT at 64000 is 0.000078125 BTC: 8 lots of 0.00001.
        assert_eq!(r.lots_for(6_400_000, 1), 8);
        assert_eq!(r.lots_for(6_400_000, 4), 32);
        // Never below the minimum quantity, never above the maximum.
        assert_eq!(r.lots_for(u64::MAX / 1_000_000, 1), 1);
        assert_eq!(r.lots_for(1, u64::MAX), r.max_lots);
    }

    #[test]
    fn unreadable_filters_skip_the_market() {
        let mut info = btcusdt();
        info["symbols"][0]["filters"][0]["tickSize"] = json!("0");
        assert!(Rules::from_exchange_info(&info).is_empty());
    }
}
