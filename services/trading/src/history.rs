//! Order and trade history: `allOrders`, `myTrades`, and the closed orders
//! `GET /api/v3/order` finds. Answered from the SQL projection
//! ([`crate::projector`]), which may lag the engine by a batch: each read
//! first waits (briefly) for the projection to reach the engine's last
//! seq, so it sees every command already answered (read-your-writes, e.g.
//! `GET /api/v3/order` of an order that just filled).

use crate::markets::{units, Directory, MarketInfo};
use crate::projector::History;
use crate::TradingState;
use axum::extract::State;
use axum::Json;
use flowex_binance::account::MyTrade;
use flowex_binance::params::{AllOrdersParams, MyTradesParams};
use flowex_binance::BinanceError;
use flowex_binance::{OrderState, QueriedOrder};
use flowex_engine::Engine;
use flowex_http::openapi::SignedParams;
use flowex_http::{ApiError, Identity, Params};
use flowex_kit::store_error;
use flowex_store::{OrderQuery, OrderRecord, TradeQuery, UserTrade};
use flowex_types::{AssetId, UserId};
use std::time::Duration;

/// Binance's longest `startTime`..`endTime` window for history queries.
const MAX_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a miss waits for the projection to catch up with the engine.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// A stored order, as every report of an order is written from.
fn stored_state(o: &OrderRecord) -> OrderState {
    let time = |t: i64| u64::try_from(t).unwrap_or(0);
    OrderState {
        id: o.id,
        client_order_id: o.client_order_id.clone().unwrap_or_default(),
        side: o.side,
        order_type: o.order_type,
        tif: o.time_in_force,
        price: o.price,
        orig_qty: o.orig_qty,
        orig_quote_qty: o.orig_quote_qty,
        executed_qty: o.executed_qty,
        cum_quote_qty: o.cum_quote_qty,
        status: o.status,
        stop_price: o.stop_price,
        stp: o.stp_mode,
        time: time(o.time),
        update_time: time(o.update_time),
        working_time: o.working_time.map(time),
    }
}

fn my_trade(dir: &Directory, m: &MarketInfo, t: &UserTrade) -> MyTrade {
    let asset = u32::try_from(t.commission_asset_id).unwrap_or_default();
    let code = dir
        .assets
        .get(&asset)
        .map_or_else(String::new, |a| a.code.as_str().to_string());
    MyTrade {
        commission: dir.asset_str(AssetId(asset), t.commission),
        commission_asset: code,
        id: t.trade.id,
        is_best_match: true,
        is_buyer: t.is_buyer,
        is_maker: t.is_maker,
        order_id: t.order_id,
        order_list_id: -1,
        price: m.price_str(t.trade.price),
        qty: m.qty_str(t.trade.qty),
        quote_qty: m.quote_str(t.trade.quote_qty),
        symbol: m.cfg.symbol.as_str().to_string(),
        time: t.trade.time,
    }
}

/// `startTime` and `endTime`, checked: in order and at most 24 hours apart.
fn window(p: &Params) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let start = p.parse_optional::<i64>("startTime")?;
    let end = p.parse_optional::<i64>("endTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err(ApiError::optional_params_bad_combo());
        }
        if e - s > MAX_WINDOW_MS {
            return Err(ApiError::lookup_interval_too_big());
        }
    }
    Ok((start, end))
}

fn limit(p: &Params) -> Result<u32, ApiError> {
    match p.parse_optional::<u32>("limit")? {
        None => Ok(500),
        Some(l) if (1..=1000).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid_parameter("limit")),
    }
}

/// The caller's order named by `orderId` or `origClientOrderId` in the
/// history (closed orders included). A miss waits for the projection to
/// reach the engine's last command before it counts.
pub(crate) async fn stored_order(
    state: &TradingState,
    user: UserId,
    m: &MarketInfo,
    p: &Params,
) -> Result<Option<OrderState>, ApiError> {
    let Some(history) = state.history.as_ref() else {
        return Ok(None);
    };
    let market = u64::from(m.cfg.id.0);
    let order_id = p.id("orderId")?;
    let cid = p.optional("origClientOrderId")?;
    let lookup = || async {
        let found = match (order_id, cid) {
            (Some(id), Some(c)) => history
                .store
                .order(user.0, id)
                .await
                .map(|o| o.filter(|o| o.client_order_id.as_deref() == Some(c))),
            (Some(id), None) => history.store.order(user.0, id).await,
            (None, Some(c)) => history.store.order_by_client_id(user.0, market, c).await,
            (None, None) => Ok(None),
        };
        found
            .map(|o| o.filter(|o| o.market_id == market))
            .map_err(store_error)
    };
    // The engine no longer has the order open: whatever closed it is at or
    // below the engine's last seq, so the projection must reach that seq
    // before its row is current (else a just-filled order reads as NEW).
    caught_up(state, history).await?;
    Ok(lookup().await?.as_ref().map(stored_state))
}

/// Waits (at most [`CATCH_UP_WAIT`]) until the projection covers every
/// command the engine has applied so far, so that history reads see the
/// effect of every command already answered.
async fn caught_up(state: &TradingState, history: &History) -> Result<(), ApiError> {
    let last = state.query(|e: &Engine| e.last_seq()).await?;
    if !history.wait_for(last, CATCH_UP_WAIT).await {
        tracing::warn!(
            seq = last,
            projected = history.projected_seq(),
            "the order history is behind the engine; answering from it anyway"
        );
    }
    Ok(())
}

/// `GET /api/v3/allOrders`: the caller's orders of one symbol, any status.
#[utoipa::path(get, path = "/api/v3/allOrders", tag = "trading",
    summary = "All orders (USER_DATA)",
    description = "The caller's orders of a symbol: open, canceled, filled or expired, ascending by id. With `orderId`, the orders from that id on; with `startTime`, the first from that time on; otherwise the most recent. `startTime`..`endTime` may span at most 24 hours. Answered from the order history once it has caught up with every command already answered.",
    params(AllOrdersParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The orders.", body = Vec<QueriedOrder>),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1127 more than 24 hours between startTime and endTime, -1128 endTime before startTime, -1130 invalid parameter (limit outside 1..1000), -1100; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn all_orders(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<Vec<QueriedOrder>>, ApiError> {
    let (_, m) = state.market_of(&p).await?;
    let m = &m;
    let from_id = p.id("orderId")?;
    let (start_time, end_time) = window(&p)?;
    let limit = limit(&p)?;
    let history = state.history()?;
    caught_up(&state, history).await?;
    let q = OrderQuery {
        user_id: who.user_id,
        market_id: Some(u64::from(m.cfg.id.0)),
        from_id,
        start_time,
        end_time,
        statuses: Vec::new(),
        limit,
    };
    let orders = history.store.list_orders(&q).await.map_err(store_error)?;
    let units = units(m);
    Ok(Json(
        orders
            .iter()
            .map(|o| QueriedOrder::new(&units, &stored_state(o)))
            .collect(),
    ))
}

/// `GET /api/v3/myTrades`: the caller's trades of one symbol.
#[utoipa::path(get, path = "/api/v3/myTrades", tag = "trading",
    summary = "Account trade list (USER_DATA)",
    description = "The caller's trades of a symbol, ascending by trade id, one entry per side the caller took (a self-trade appears twice). `orderId` keeps the trades of one order; `fromId` starts at that trade id (not with `startTime`/`endTime`); with `startTime`, the first from that time on; otherwise the most recent. `startTime`..`endTime` may span at most 24 hours. The commission is in the asset received. Answered from the trade history once it has caught up with every command already answered.",
    params(MyTradesParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The trades.", body = Vec<MyTrade>),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1127 more than 24 hours between startTime and endTime, -1128 fromId with startTime or endTime, or endTime before startTime, -1130 invalid parameter (limit outside 1..1000), -1100; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn my_trades(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<Vec<MyTrade>>, ApiError> {
    let (dir, m) = state.market_of(&p).await?;
    let m = &m;
    let order_id = p.id("orderId")?;
    let from_id = p.id("fromId")?;
    let (start_time, end_time) = window(&p)?;
    if from_id.is_some() && (start_time.is_some() || end_time.is_some()) {
        return Err(ApiError::optional_params_bad_combo());
    }
    let limit = limit(&p)?;
    let history = state.history()?;
    caught_up(&state, history).await?;
    let q = TradeQuery {
        user_id: who.user_id,
        market_id: u64::from(m.cfg.id.0),
        order_id,
        from_id,
        start_time,
        end_time,
        limit,
    };
    let trades = history
        .store
        .list_user_trades(&q)
        .await
        .map_err(store_error)?;
    Ok(Json(trades.iter().map(|t| my_trade(&dir, m, t)).collect()))
}
