//! Read-only endpoints: ping, time, exchangeInfo, account.

use crate::TradingState;
use axum::extract::State;
use axum::Json;
use flowex_binance::account::{AccountInfo, Balance, Commission, CommissionRates};
use flowex_binance::exchange::{ExchangeInfo, RateLimit, ServerTime, SymbolInfo};
use flowex_binance::params::{AccountParams, CommissionParams, ExchangeInfoParams};
use flowex_binance::{BinanceError, Empty, RateLimitInterval, RateLimitType};
use flowex_engine::Engine;
use flowex_http::openapi::SignedParams;
use flowex_http::{ApiError, Identity, Params};
use flowex_types::UserId;

pub use flowex_http::clock::now_ms;

/// `GET /api/v3/ping`.
#[utoipa::path(get, path = "/api/v3/ping", tag = "trading",
    summary = "Test connectivity",
    responses((status = 200, description = "An empty object.", body = Empty)))]
pub async fn ping() -> Json<Empty> {
    Json(Empty {})
}

/// `GET /api/v3/time`.
#[utoipa::path(get, path = "/api/v3/time", tag = "trading",
    summary = "Check server time",
    responses((status = 200, description = "The server's clock.", body = ServerTime)))]
pub async fn time() -> Json<ServerTime> {
    Json(ServerTime {
        server_time: now_ms(),
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
    params(ExchangeInfoParams),
    responses(
        (status = 200, description = "Rate limits and symbols (all, or those asked for).", body = ExchangeInfo),
        (status = 400, description = "-1121 invalid symbol, -1130 invalid `symbols`, -1100 illegal characters.", body = BinanceError),
    ))]
pub async fn exchange_info(
    State(state): State<TradingState>,
    params: Params,
) -> Result<Json<ExchangeInfo>, ApiError> {
    let wanted = wanted_symbols(&params)?;
    let dir = state
        .directory_for(wanted.as_ref().and_then(|w| w.first()).map(String::as_str))
        .await?;
    let max_orders = state
        .query(|e: &Engine| e.limits())
        .await?
        .max_open_orders_per_user;
    let info =
        |m: &crate::markets::MarketInfo| SymbolInfo::new(&m.cfg, &m.base, &m.quote, max_orders);
    let symbols = match &wanted {
        Some(list) => list
            .iter()
            .map(|s| dir.market(s).map(info))
            .collect::<Result<_, _>>()?,
        None => dir.markets.values().map(info).collect(),
    };
    let l = &state.limits;
    let limit = |rate_limit_type, interval, interval_num, limit| RateLimit {
        interval,
        interval_num,
        limit,
        rate_limit_type,
    };
    Ok(Json(ExchangeInfo {
        exchange_filters: Vec::new(),
        rate_limits: vec![
            limit(
                RateLimitType::RequestWeight,
                RateLimitInterval::Minute,
                1,
                l.ip_weight_per_minute,
            ),
            limit(
                RateLimitType::Orders,
                RateLimitInterval::Second,
                10,
                l.orders_per_10s,
            ),
            limit(
                RateLimitType::Orders,
                RateLimitInterval::Day,
                1,
                l.orders_per_day,
            ),
        ],
        server_time: now_ms(),
        symbols,
        timezone: "UTC".into(),
    }))
}

/// `GET /api/v3/account`.
#[utoipa::path(get, path = "/api/v3/account", tag = "trading",
    summary = "Account information (USER_DATA)",
    params(AccountParams, SignedParams),
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
) -> Result<Json<AccountInfo>, ApiError> {
    let omit_zero = params.optional("omitZeroBalances")? == Some("true");
    let dir = state.directory_for(None).await?;
    let user = UserId(who.user_id);
    let balances = state.query(move |e: &Engine| e.balances(user)).await?;
    let mut listed = Vec::new();
    for (id, a) in &dir.assets {
        let b = balances
            .iter()
            .find(|(asset, _)| asset.0 == *id)
            .map(|(_, b)| *b)
            .unwrap_or_default();
        if omit_zero && b.total() == 0 {
            continue;
        }
        listed.push(Balance {
            asset: a.code.as_str().to_string(),
            free: dir.asset_str(a.id, b.available),
            locked: dir.asset_str(a.id, b.locked),
        });
    }
    // The user's own tier, else the first market's rates (per market: account/commission).
    let (tier, frozen) = state.query(move |e: &Engine| e.user_settings(user)).await?;
    let (maker, taker) = tier.unwrap_or_else(|| {
        dir.markets
            .values()
            .next()
            .map_or((0, 0), |m| (m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm))
    });
    Ok(Json(AccountInfo {
        account_type: "SPOT".into(),
        balances: listed,
        brokered: false,
        buyer_commission: 0,
        can_deposit: true,
        can_trade: !frozen,
        can_withdraw: !frozen,
        commission_rates: CommissionRates::of(maker, taker),
        maker_commission: maker / 100,
        permissions: vec!["SPOT".into()],
        prevent_sor: false,
        require_self_trade_prevention: false,
        seller_commission: 0,
        taker_commission: taker / 100,
        uid: who.user_id,
        update_time: now_ms(),
    }))
}

/// `GET /api/v3/account/commission`: the caller's rates on one symbol.
#[utoipa::path(get, path = "/api/v3/account/commission", tag = "trading",
    summary = "Query commission rates (USER_DATA)",
    description = "The maker and taker rates that apply to the caller on `symbol`: the caller's own fee tier when an admin set one, else the market's. Buyer and seller surcharges, tax and discounts are zero.",
    params(CommissionParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The rates, as decimal strings (0.001 = 0.1%).", body = Commission),
        (status = 400, description = "-1102 mandatory parameter `symbol`, -1121 invalid symbol; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn commission(
    State(state): State<TradingState>,
    who: Identity,
    params: Params,
) -> Result<Json<Commission>, ApiError> {
    let (_, m) = state.market_of(&params).await?;
    let user = UserId(who.user_id);
    let (tier, _) = state.query(move |e: &Engine| e.user_settings(user)).await?;
    let (maker, taker) = tier.unwrap_or((m.cfg.maker_fee_ppm, m.cfg.taker_fee_ppm));
    Ok(Json(Commission::new(m.cfg.symbol.as_str(), maker, taker)))
}
