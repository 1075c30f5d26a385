//! `time` and `exchangeInfo`: the server's clock, its rate limits and its
//! symbols with their filters.

use crate::enums::{
    OrderType, RateLimitInterval, RateLimitType, SelfTradePreventionMode, SymbolStatus,
};
use crate::Market;
use flowex_types::{AssetConfig, MarketConfig};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"serverTime": …}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// Ms since the Unix epoch.
    #[schema(example = 1_700_000_000_000_u64)]
    pub server_time: u64,
}

/// A limit the gateway enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub interval: RateLimitInterval,
    pub interval_num: u32,
    pub limit: u64,
    pub rate_limit_type: RateLimitType,
}

/// Which filter an entry of `filters` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterType {
    PriceFilter,
    LotSize,
    MarketLotSize,
    Notional,
    MinNotional,
    MaxNumOrders,
}

/// `PRICE_FILTER`: prices are multiples of `tickSize` within the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    pub filter_type: FilterType,
    pub max_price: String,
    pub min_price: String,
    #[schema(example = "0.01000000")]
    pub tick_size: String,
}

/// `LOT_SIZE` and `MARKET_LOT_SIZE`: quantities are multiples of
/// `stepSize` within the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    pub filter_type: FilterType,
    pub max_qty: String,
    pub min_qty: String,
    pub step_size: String,
}

/// `NOTIONAL`: the order's value (price × quantity) within the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotionalFilter {
    pub apply_max_to_market: bool,
    pub apply_min_to_market: bool,
    pub avg_price_mins: u32,
    pub filter_type: FilterType,
    pub max_notional: String,
    pub min_notional: String,
}

/// `MIN_NOTIONAL`, the older filter some clients still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinNotionalFilter {
    pub apply_to_market: bool,
    pub avg_price_mins: u32,
    pub filter_type: FilterType,
    pub min_notional: String,
}

/// `MAX_NUM_ORDERS`: open orders per user on the symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaxNumOrdersFilter {
    pub filter_type: FilterType,
    pub max_num_orders: u32,
}

/// A symbol filter; `filterType` says which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SymbolFilter {
    Price(PriceFilter),
    LotSize(LotSizeFilter),
    Notional(NotionalFilter),
    MinNotional(MinNotionalFilter),
    MaxNumOrders(MaxNumOrdersFilter),
}

/// A market. Prices, quantities and notionals are decimal strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub allow_trailing_stop: bool,
    pub allowed_self_trade_prevention_modes: Vec<SelfTradePreventionMode>,
    pub base_asset: String,
    pub base_asset_precision: u8,
    pub base_commission_precision: u8,
    pub cancel_replace_allowed: bool,
    pub default_self_trade_prevention_mode: SelfTradePreventionMode,
    pub filters: Vec<SymbolFilter>,
    pub iceberg_allowed: bool,
    pub is_margin_trading_allowed: bool,
    pub is_spot_trading_allowed: bool,
    pub oco_allowed: bool,
    pub order_types: Vec<OrderType>,
    pub oto_allowed: bool,
    /// `[["SPOT"]]`.
    pub permission_sets: Vec<Vec<String>>,
    /// Always empty.
    pub permissions: Vec<String>,
    pub quote_asset: String,
    pub quote_asset_precision: u8,
    pub quote_commission_precision: u8,
    pub quote_order_qty_market_allowed: bool,
    pub quote_precision: u8,
    pub status: SymbolStatus,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
}

/// The `maxNotional` shown for a market without a maximum.
const NO_MAX_NOTIONAL: &str = "9000000000.00000000";
/// Minutes of the average price the notional filters apply to market orders.
const AVG_PRICE_MINS: u32 = 5;

impl SymbolInfo {
    /// The market `cfg` of `base` and `quote`, with at most `max_orders`
    /// open orders per user.
    pub fn new(
        cfg: &MarketConfig,
        base: &AssetConfig,
        quote: &AssetConfig,
        max_orders: u32,
    ) -> Self {
        let m = Market::new(cfg, base, quote);
        SymbolInfo {
            allow_trailing_stop: false,
            allowed_self_trade_prevention_modes: cfg.allowed_stp.iter().map(Into::into).collect(),
            base_asset: base.code.as_str().to_string(),
            base_asset_precision: base.decimals,
            base_commission_precision: base.decimals,
            cancel_replace_allowed: true,
            default_self_trade_prevention_mode: cfg.default_stp.into(),
            filters: filters(cfg, &m, max_orders),
            iceberg_allowed: false,
            is_margin_trading_allowed: false,
            is_spot_trading_allowed: true,
            oco_allowed: false,
            order_types: OrderType::ALL.to_vec(),
            oto_allowed: false,
            permission_sets: vec![vec!["SPOT".to_string()]],
            permissions: Vec::new(),
            quote_asset: quote.code.as_str().to_string(),
            quote_asset_precision: quote.decimals,
            quote_commission_precision: quote.decimals,
            quote_order_qty_market_allowed: true,
            quote_precision: quote.decimals,
            status: cfg.status.into(),
            symbol: m.symbol(),
        }
    }
}

fn filters(cfg: &MarketConfig, m: &Market, max_orders: u32) -> Vec<SymbolFilter> {
    let lot_size = |filter_type| LotSizeFilter {
        filter_type,
        max_qty: m.qty(cfg.max_qty),
        min_qty: m.qty(cfg.min_qty),
        step_size: m.qty(1),
    };
    let max_notional = if cfg.max_notional == 0 {
        NO_MAX_NOTIONAL.to_string()
    } else {
        m.quote(cfg.max_notional)
    };
    vec![
        SymbolFilter::Price(PriceFilter {
            filter_type: FilterType::PriceFilter,
            max_price: m.price(cfg.max_price),
            min_price: m.price(cfg.min_price),
            tick_size: m.price(1),
        }),
        SymbolFilter::LotSize(lot_size(FilterType::LotSize)),
        SymbolFilter::LotSize(lot_size(FilterType::MarketLotSize)),
        SymbolFilter::Notional(NotionalFilter {
            apply_max_to_market: false,
            apply_min_to_market: true,
            avg_price_mins: AVG_PRICE_MINS,
            filter_type: FilterType::Notional,
            max_notional,
            min_notional: m.quote(cfg.min_notional),
        }),
        SymbolFilter::MinNotional(MinNotionalFilter {
            apply_to_market: true,
            avg_price_mins: AVG_PRICE_MINS,
            filter_type: FilterType::MinNotional,
            min_notional: m.quote(cfg.min_notional),
        }),
        SymbolFilter::MaxNumOrders(MaxNumOrdersFilter {
            filter_type: FilterType::MaxNumOrders,
            max_num_orders: max_orders,
        }),
    ]
}

/// `exchangeInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub exchange_filters: Vec<crate::Empty>,
    pub rate_limits: Vec<RateLimit>,
    /// Ms since the Unix epoch.
    pub server_time: u64,
    pub symbols: Vec<SymbolInfo>,
    /// `UTC`.
    pub timezone: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{btcusdt, sorted_json};

    #[test]
    fn symbols_are_written_in_sorted_key_order() {
        let (cfg, base, quote) = btcusdt();
        let text = sorted_json(&SymbolInfo::new(&cfg, &base, &quote, 200));
        assert!(text.starts_with(r#"{"allowTrailingStop":false,"allowedSelfTradePreventionModes":["NONE","EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH","DECREMENT"],"baseAsset":"BTC""#), "{text}");
        assert!(text.contains(r#"{"applyMaxToMarket":false,"applyMinToMarket":true,"avgPriceMins":5,"filterType":"NOTIONAL","maxNotional":"9000000000.00000000","minNotional":"5.00000000"}"#), "{text}");
        let info = ExchangeInfo {
            exchange_filters: Vec::new(),
            rate_limits: vec![RateLimit {
                interval: RateLimitInterval::Minute,
                interval_num: 1,
                limit: 6000,
                rate_limit_type: RateLimitType::RequestWeight,
            }],
            server_time: 1,
            symbols: Vec::new(),
            timezone: "UTC".into(),
        };
        assert_eq!(
            sorted_json(&info),
            r#"{"exchangeFilters":[],"rateLimits":[{"interval":"MINUTE","intervalNum":1,"limit":6000,"rateLimitType":"REQUEST_WEIGHT"}],"serverTime":1,"symbols":[],"timezone":"UTC"}"#
        );
    }
}
