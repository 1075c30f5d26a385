//! Read-only endpoints: ping, time, exchangeInfo, account.

use crate::markets::MarketInfo;
use crate::TradingState;
use axum::extract::State;
use axum::Json;
use doc::{AccountInfo, ExchangeInfo, ServerTime};
use flowex_engine::Engine;
use flowex_http::openapi::{BinanceError, SignedParams};
use flowex_http::{ApiError, Identity, Params};
use flowex_types::UserId;
use serde_json::{json, Value};

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `GET /api/v3/ping`.
#[utoipa::path(get, path = "/api/v3/ping", tag = "trading",
    summary = "Test connectivity",
    responses((status = 200, description = "An empty object.", body = Object, example = json!({}))))]
pub async fn ping() -> Json<Value> {
    Json(json!({}))
}

/// `GET /api/v3/time`.
#[utoipa::path(get, path = "/api/v3/time", tag = "trading",
    summary = "Check server time",
    responses((status = 200, description = "The server's clock.", body = ServerTime)))]
pub async fn time() -> Json<Value> {
    Json(json!({ "serverTime": now_ms() }))
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
        "orderTypes": flowex_binance::OrderType::ALL,
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
        "defaultSelfTradePreventionMode": flowex_binance::SelfTradePreventionMode::from(c.default_stp),
        "allowedSelfTradePreventionModes": c.allowed_stp.iter().map(flowex_binance::SelfTradePreventionMode::from).collect::<Vec<_>>(),
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

/// `GET /api/v3/exchangeInfo`.
#[utoipa::path(get, path = "/api/v3/exchangeInfo", tag = "trading",
    summary = "Exchange information: rate limits, symbols and their filters",
    params(doc::ExchangeInfoParams),
    responses(
        (status = 200, description = "Rate limits and symbols (all, or those asked for).", body = ExchangeInfo),
        (status = 400, description = "-1121 invalid symbol, -1130 invalid `symbols`, -1100 illegal characters.", body = BinanceError),
    ))]
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

/// `GET /api/v3/account`.
#[utoipa::path(get, path = "/api/v3/account", tag = "trading",
    summary = "Account information (USER_DATA)",
    params(doc::AccountParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "Commission rates and balances; amounts are decimal strings.", body = AccountInfo),
        (status = 400, description = "-1100, -1130; signed requests: -1021, -1022, -1102, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
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
    // The user's own tier, else the first market's rates (per market: account/commission).
    let (tier, frozen) = state.query(move |e: &Engine| e.user_settings(user)).await?;
    let (maker, taker) = tier.unwrap_or_else(|| {
        dir.markets
            .values()
            .next()
            .map_or((0, 0), |m| (m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm))
    });
    Ok(Json(json!({
        "makerCommission": maker / 100,
        "takerCommission": taker / 100,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": { "maker": rate(maker), "taker": rate(taker), "buyer": rate(0), "seller": rate(0) },
        "canTrade": !frozen,
        "canWithdraw": !frozen,
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

/// A fee rate in parts per million as Binance writes it: `0.00100000` for 0.1%.
fn rate(ppm: u32) -> String {
    flowex_types::format_scaled(u64::from(ppm) * 100, 8)
}

/// `GET /api/v3/account/commission`: the caller's rates on one symbol.
#[utoipa::path(get, path = "/api/v3/account/commission", tag = "trading",
    summary = "Query commission rates (USER_DATA)",
    description = "The maker and taker rates that apply to the caller on `symbol`: the caller's own fee tier when an admin set one, else the market's. Buyer and seller surcharges, tax and discounts are zero.",
    params(doc::CommissionParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The rates, as decimal strings (0.001 = 0.1%).", body = doc::Commission),
        (status = 400, description = "-1102 mandatory parameter `symbol`, -1121 invalid symbol; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn commission(
    State(state): State<TradingState>,
    who: Identity,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let (_, m) = state.market_of(&params).await?;
    let m = &m;
    let user = UserId(who.user_id);
    let (tier, _) = state.query(move |e: &Engine| e.user_settings(user)).await?;
    let (maker, taker) = tier.unwrap_or((m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm));
    let zero = rate(0);
    Ok(Json(json!({
        "symbol": m.cfg.symbol.as_str(),
        "standardCommission": { "maker": rate(maker), "taker": rate(taker), "buyer": zero, "seller": zero },
        "taxCommission": { "maker": zero, "taker": zero, "buyer": zero, "seller": zero },
        "discount": { "enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "", "discount": zero },
    })))
}

/// The OpenAPI schemas of these endpoints (documentation only: the
/// handlers build JSON values).
#[allow(dead_code)]
pub(crate) mod doc {
    use utoipa::{IntoParams, ToSchema};

    /// `{"serverTime": …}`.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct ServerTime {
        /// Ms since the Unix epoch.
        #[schema(example = 1_700_000_000_000_u64)]
        server_time: u64,
    }

    /// Narrowing `exchangeInfo`: `symbol` or `symbols`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct ExchangeInfoParams {
        /// One market.
        #[param(example = "BTCUSDT")]
        symbol: Option<String>,
        /// Several markets, as a JSON array: `["BTCUSDT","ETHUSDT"]`.
        #[param(example = r#"["BTCUSDT","ETHUSDT"]"#)]
        symbols: Option<String>,
    }

    /// A limit the gateway enforces.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct RateLimit {
        /// `REQUEST_WEIGHT` or `ORDERS`.
        #[schema(example = "REQUEST_WEIGHT")]
        rate_limit_type: String,
        /// `SECOND`, `MINUTE` or `DAY`.
        #[schema(example = "MINUTE")]
        interval: String,
        interval_num: u32,
        limit: u64,
    }

    /// A symbol filter: `filterType` says which fields it has. Prices,
    /// quantities and notionals are decimal strings.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct SymbolFilter {
        /// `PRICE_FILTER`, `LOT_SIZE`, `MARKET_LOT_SIZE`, `NOTIONAL`, `MIN_NOTIONAL` or `MAX_NUM_ORDERS`.
        #[schema(example = "PRICE_FILTER")]
        filter_type: String,
        /// PRICE_FILTER.
        min_price: Option<String>,
        /// PRICE_FILTER.
        max_price: Option<String>,
        /// PRICE_FILTER: prices are multiples of it.
        #[schema(example = "0.01000000")]
        tick_size: Option<String>,
        /// LOT_SIZE, MARKET_LOT_SIZE.
        min_qty: Option<String>,
        /// LOT_SIZE, MARKET_LOT_SIZE.
        max_qty: Option<String>,
        /// LOT_SIZE, MARKET_LOT_SIZE: quantities are multiples of it.
        step_size: Option<String>,
        /// NOTIONAL, MIN_NOTIONAL.
        min_notional: Option<String>,
        /// NOTIONAL.
        max_notional: Option<String>,
        /// NOTIONAL.
        apply_min_to_market: Option<bool>,
        /// NOTIONAL.
        apply_max_to_market: Option<bool>,
        /// MIN_NOTIONAL.
        apply_to_market: Option<bool>,
        /// NOTIONAL, MIN_NOTIONAL.
        avg_price_mins: Option<u32>,
        /// MAX_NUM_ORDERS: open orders per user on the symbol.
        max_num_orders: Option<u32>,
    }

    /// A market.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct SymbolInfo {
        #[schema(example = "BTCUSDT")]
        symbol: String,
        /// `TRADING`, `HALT` or `BREAK` (cancel only).
        #[schema(example = "TRADING")]
        status: String,
        base_asset: String,
        base_asset_precision: u8,
        quote_asset: String,
        quote_precision: u8,
        quote_asset_precision: u8,
        base_commission_precision: u8,
        quote_commission_precision: u8,
        order_types: Vec<flowex_binance::OrderType>,
        iceberg_allowed: bool,
        oco_allowed: bool,
        oto_allowed: bool,
        quote_order_qty_market_allowed: bool,
        allow_trailing_stop: bool,
        cancel_replace_allowed: bool,
        is_spot_trading_allowed: bool,
        is_margin_trading_allowed: bool,
        filters: Vec<SymbolFilter>,
        /// Always empty.
        permissions: Vec<String>,
        /// `[["SPOT"]]`.
        permission_sets: Vec<Vec<String>>,
        default_self_trade_prevention_mode: flowex_binance::SelfTradePreventionMode,
        allowed_self_trade_prevention_modes: Vec<flowex_binance::SelfTradePreventionMode>,
    }

    /// `exchangeInfo`.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct ExchangeInfo {
        /// `UTC`.
        timezone: String,
        /// Ms since the Unix epoch.
        server_time: u64,
        rate_limits: Vec<RateLimit>,
        /// Always empty.
        #[schema(value_type = Vec<Object>)]
        exchange_filters: Vec<()>,
        symbols: Vec<SymbolInfo>,
    }

    /// The `account` options.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query, rename_all = "camelCase")]
    pub struct AccountParams {
        /// `true`: leave out assets with a zero balance.
        omit_zero_balances: Option<bool>,
    }

    /// The `account/commission` parameters.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct CommissionParams {
        /// The market, e.g. `BTCUSDT`.
        symbol: String,
    }

    /// Four rates, each a decimal string (`0.00100000` = 0.1%).
    #[derive(ToSchema)]
    pub struct Rates {
        #[schema(example = "0.00100000")]
        maker: String,
        #[schema(example = "0.00100000")]
        taker: String,
        #[schema(example = "0.00000000")]
        buyer: String,
        #[schema(example = "0.00000000")]
        seller: String,
    }

    /// Binance's discount block (no discounts at FlowEx).
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct Discount {
        enabled_for_account: bool,
        enabled_for_symbol: bool,
        discount_asset: String,
        #[schema(example = "0.00000000")]
        discount: String,
    }

    /// `GET /api/v3/account/commission`.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct Commission {
        #[schema(example = "BTCUSDT")]
        symbol: String,
        standard_commission: Rates,
        tax_commission: Rates,
        discount: Discount,
    }

    /// One asset's balance; decimal strings.
    #[derive(ToSchema)]
    pub struct Balance {
        #[schema(example = "BTC")]
        asset: String,
        /// Available.
        #[schema(example = "0.50000000")]
        free: String,
        /// Reserved by open orders (and pending withdrawals).
        #[schema(example = "0.00000000")]
        locked: String,
    }

    /// Commission rates as decimal strings (0.001 = 0.1 %).
    #[derive(ToSchema)]
    pub struct CommissionRates {
        #[schema(example = "0.00100000")]
        maker: String,
        #[schema(example = "0.00100000")]
        taker: String,
        buyer: String,
        seller: String,
    }

    /// `account`.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct AccountInfo {
        /// In basis points (10 = 0.1 %).
        maker_commission: u32,
        /// In basis points.
        taker_commission: u32,
        buyer_commission: u32,
        seller_commission: u32,
        commission_rates: CommissionRates,
        can_trade: bool,
        can_withdraw: bool,
        can_deposit: bool,
        brokered: bool,
        require_self_trade_prevention: bool,
        prevent_sor: bool,
        /// Ms since the Unix epoch.
        update_time: u64,
        /// `SPOT`.
        account_type: String,
        balances: Vec<Balance>,
        /// `["SPOT"]`.
        permissions: Vec<String>,
        /// The user's id.
        uid: u64,
    }
}
