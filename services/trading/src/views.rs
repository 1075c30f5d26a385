//! Read-only endpoints: ping, time, exchangeInfo, account.

use crate::markets::MarketInfo;
use crate::TradingState;
use axum::extract::State;
use axum::Json;
use flowex_engine::Engine;
use flowex_http::{ApiError, Identity, Params};
use flowex_types::{OrderType, UserId};
use serde_json::{json, Value};

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub async fn ping() -> Json<Value> {
    Json(json!({}))
}

pub async fn time() -> Json<Value> {
    Json(json!({ "serverTime": now_ms() }))
}

pub const ORDER_TYPES: [OrderType; 7] = [
    OrderType::Limit,
    OrderType::LimitMaker,
    OrderType::Market,
    OrderType::StopLoss,
    OrderType::StopLossLimit,
    OrderType::TakeProfit,
    OrderType::TakeProfitLimit,
];

pub fn order_type_str(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "LIMIT",
        OrderType::LimitMaker => "LIMIT_MAKER",
        OrderType::Market => "MARKET",
        OrderType::StopLoss => "STOP_LOSS",
        OrderType::StopLossLimit => "STOP_LOSS_LIMIT",
        OrderType::TakeProfit => "TAKE_PROFIT",
        OrderType::TakeProfitLimit => "TAKE_PROFIT_LIMIT",
    }
}

fn symbol_info(m: &MarketInfo, max_orders: u32) -> Value {
    let c = &m.cfg;
    let max_notional = if c.max_notional == 0 {
        "9000000000.00000000".to_string()
    } else {
        m.quote_str(c.max_notional)
    };
    json!({
        "symbol": c.symbol.as_str(),
        "status": m.status_str(),
        "baseAsset": m.base.code.as_str(),
        "baseAssetPrecision": m.base.decimals,
        "quoteAsset": m.quote.code.as_str(),
        "quotePrecision": m.quote.decimals,
        "quoteAssetPrecision": m.quote.decimals,
        "baseCommissionPrecision": m.base.decimals,
        "quoteCommissionPrecision": m.quote.decimals,
        "orderTypes": ORDER_TYPES.iter().map(|t| order_type_str(*t)).collect::<Vec<_>>(),
        "icebergAllowed": false,
        "ocoAllowed": false,
        "otoAllowed": false,
        "quoteOrderQtyMarketAllowed": true,
        "allowTrailingStop": false,
        "cancelReplaceAllowed": true,
        "isSpotTradingAllowed": true,
        "isMarginTradingAllowed": false,
        "filters": [
            { "filterType": "PRICE_FILTER", "minPrice": m.price_str(c.min_price), "maxPrice": m.price_str(c.max_price), "tickSize": m.price_str(1) },
            { "filterType": "LOT_SIZE", "minQty": m.qty_str(c.min_qty), "maxQty": m.qty_str(c.max_qty), "stepSize": m.qty_str(1) },
            { "filterType": "MARKET_LOT_SIZE", "minQty": m.qty_str(c.min_qty), "maxQty": m.qty_str(c.max_qty), "stepSize": m.qty_str(1) },
            { "filterType": "NOTIONAL", "minNotional": m.quote_str(c.min_notional), "applyMinToMarket": true,
              "maxNotional": max_notional, "applyMaxToMarket": false, "avgPriceMins": 5 },
            { "filterType": "MIN_NOTIONAL", "minNotional": m.quote_str(c.min_notional), "applyToMarket": true, "avgPriceMins": 5 },
            { "filterType": "MAX_NUM_ORDERS", "maxNumOrders": max_orders },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": c.default_stp.as_binance(),
        "allowedSelfTradePreventionModes": c.allowed_stp.iter().map(|m| m.as_binance()).collect::<Vec<_>>(),
    })
}

/// `symbol` or `symbols=["A","B"]` narrow the list; an unknown one is -1121.
fn wanted_symbols(params: &Params) -> Result<Option<Vec<String>>, ApiError> {
    if let Some(s) = params.optional("symbol")? {
        return Ok(Some(vec![s.to_string()]));
    }
    match params.optional("symbols")? {
        None => Ok(None),
        Some(list) => serde_json::from_str::<Vec<String>>(list)
            .map(Some)
            .map_err(|_| ApiError::invalid_parameter("symbols")),
    }
}

pub async fn exchange_info(
    State(state): State<TradingState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let wanted = wanted_symbols(&params)?;
    let dir = state
        .directory_for(wanted.as_ref().and_then(|w| w.first()).map(String::as_str))
        .await?;
    let limits = state.query(|e: &Engine| e.limits()).await?;
    let symbols: Vec<Value> = match &wanted {
        Some(list) => list
            .iter()
            .map(|s| {
                dir.market(s)
                    .map(|m| symbol_info(m, limits.max_open_orders_per_user))
            })
            .collect::<Result<_, _>>()?,
        None => dir
            .markets
            .values()
            .map(|m| symbol_info(m, limits.max_open_orders_per_user))
            .collect(),
    };
    let l = &state.limits;
    Ok(Json(json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": l.ip_weight_per_minute },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": l.orders_per_10s },
            { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": l.orders_per_day },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    })))
}

pub async fn account(
    State(state): State<TradingState>,
    who: Identity,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let omit_zero = params.optional("omitZeroBalances")? == Some("true");
    let dir = state.directory_for(None).await?;
    let user = UserId(who.user_id);
    let balances = state.query(move |e: &Engine| e.balances(user)).await?;
    let mut listed: Vec<Value> = Vec::new();
    for (id, a) in &dir.assets {
        let b = balances
            .iter()
            .find(|(asset, _)| asset.0 == *id)
            .map(|(_, b)| *b)
            .unwrap_or_default();
        if omit_zero && b.total() == 0 {
            continue;
        }
        listed.push(json!({ "asset": a.code.as_str(), "free": dir.asset_str(a.id, b.available), "locked": dir.asset_str(a.id, b.locked) }));
    }
    // Rates shown are the first market's (per-user tiers: issue 4's account/commission).
    let (maker, taker) = dir
        .markets
        .values()
        .next()
        .map_or((0, 0), |m| (m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm));
    let rate = |ppm: u32| flowex_types::format_scaled(u64::from(ppm) * 100, 8);
    Ok(Json(json!({
        "makerCommission": maker / 100,
        "takerCommission": taker / 100,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": { "maker": rate(maker), "taker": rate(taker), "buyer": rate(0), "seller": rate(0) },
        "canTrade": true,
        "canWithdraw": true,
        "canDeposit": true,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": now_ms(),
        "accountType": "SPOT",
        "balances": listed,
        "permissions": ["SPOT"],
        "uid": who.user_id,
    })))
}
