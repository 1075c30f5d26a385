//! Order endpoints: new (and test), query, cancel, open orders.

use crate::markets::{units, Directory, MarketInfo};
use crate::TradingState;
use axum::extract::State;
use axum::Json;
use flowex_binance::order::{
    CancelOutcome, CancelReplaceError, CancelReplaceResponse, NewOrderOutcome,
};
use flowex_binance::params::{
    CancelParams, CancelReplaceParams, NewOrderParams, OptionalSymbol, OrderIdParams,
    RequiredSymbol,
};
use flowex_binance::{
    BinanceError, CancelReplaceMode, CancelReplaceResult, CanceledOrder, Fill, NewOrderRespType,
    NewOrderResponse, OrderState, QueriedOrder,
};
use flowex_engine::{Engine, OrderView};
use flowex_http::error::reject;
use flowex_http::openapi::SignedParams;
use flowex_http::{ApiError, Identity, Params};
use flowex_types::*;
use rand::Rng;

fn side(s: &str) -> Result<Side, ApiError> {
    flowex_binance::Side::parse(s)
        .map(Side::from)
        .ok_or_else(ApiError::invalid_side)
}

fn order_type(s: &str) -> Result<OrderType, ApiError> {
    flowex_binance::OrderType::parse(s)
        .map(OrderType::from)
        .ok_or_else(ApiError::invalid_order_type)
}

fn tif(s: &str) -> Result<TimeInForce, ApiError> {
    flowex_binance::TimeInForce::parse(s)
        .map(TimeInForce::from)
        .ok_or_else(ApiError::invalid_tif)
}

fn stp(s: &str) -> Result<StpMode, ApiError> {
    flowex_binance::SelfTradePreventionMode::parse(s)
        .map(StpMode::from)
        .ok_or_else(|| ApiError::invalid_parameter("selfTradePreventionMode"))
}

/// An open order as the engine holds it (it keeps no update time: the
/// report shows its placement time).
pub(crate) fn open_state(o: &OrderView) -> OrderState {
    let time = o.time_ns / 1_000_000;
    OrderState {
        id: o.id.0,
        client_order_id: o
            .client_id
            .map_or(String::new(), |c| c.as_str().to_string()),
        side: o.side,
        order_type: o.order_type,
        tif: o.tif,
        price: o.price,
        orig_qty: o.orig_qty,
        orig_quote_qty: o.quote_qty,
        executed_qty: o.executed,
        cum_quote_qty: o.cum_quote,
        status: o.status,
        stop_price: o.stop_price,
        stp: o.stp,
        time,
        update_time: time,
        working_time: (!o.pending_stop).then_some(time),
    }
}

/// A client order id: the caller's, checked, or a fresh one like Binance's.
fn client_id(params: &Params, name: &str) -> Result<ClientOrderId, ApiError> {
    match params.get(name) {
        Some("") => Err(ApiError::empty_new_client_order_id()),
        Some(s) => ClientOrderId::new(s)
            .map_err(|_| ApiError::illegal_chars_in(name, "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")),
        None => Ok(fresh_client_id()),
    }
}

fn fresh_client_id() -> ClientOrderId {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    ClientOrderId::new(&s).expect("alphabet is legal")
}

/// Which parameters each order type needs (Binance's table).
fn check_shape(t: OrderType, p: &Params) -> Result<(), ApiError> {
    let needs_price = t.has_limit_price();
    let needs_tif = matches!(
        t,
        OrderType::Limit | OrderType::StopLossLimit | OrderType::TakeProfitLimit
    );
    if needs_price && p.get("price").is_none() {
        return Err(ApiError::mandatory_param("price"));
    }
    if !needs_price && p.get("price").is_some() {
        return Err(ApiError::param_not_required("price"));
    }
    if needs_tif && p.get("timeInForce").is_none() {
        return Err(ApiError::mandatory_param("timeInForce"));
    }
    if !needs_tif && p.get("timeInForce").is_some() {
        return Err(ApiError::tif_not_required());
    }
    if t.is_stop() && p.get("stopPrice").is_none() {
        return Err(ApiError::mandatory_param("stopPrice"));
    }
    if !t.is_stop() && p.get("stopPrice").is_some() {
        return Err(ApiError::param_not_required("stopPrice"));
    }
    let by_quote_allowed = matches!(
        t,
        OrderType::Market | OrderType::StopLoss | OrderType::TakeProfit
    );
    match (p.get("quantity"), p.get("quoteOrderQty")) {
        (None, None) if by_quote_allowed => {
            Err(ApiError::mandatory_one_of("quantity", "quoteOrderQty"))
        }
        (None, _) if !by_quote_allowed => Err(ApiError::mandatory_param("quantity")),
        (Some(_), Some(_)) => Err(ApiError::optional_params_bad_combo()),
        _ => Ok(()),
    }
}

/// Binance's legal range for a decimal parameter.
const DECIMAL_RANGE: &str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$";
/// Binance's legal range for an integer (LONG) parameter.
const INTEGER_RANGE: &str = "^[0-9]{1,20}$";

fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "1"));
    let digits = |d: &str| (1..=20).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

fn is_integer(s: &str) -> bool {
    s.parse::<u64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A parameter's name, its well-formedness test and the legal range named
/// when it fails.
type FormCheck = (&'static str, fn(&str) -> bool, &'static str);

/// Parameters of features FlowEx does not offer are refused, never dropped
/// (an order placed without the iceberg or trailing stop its sender asked
/// for is a different order): malformed values with -1100, well-formed
/// iceberg and trailing-stop requests with Binance's -2010 texts. The
/// strategy tags are checked and otherwise ignored.
fn refuse_unsupported(p: &Params) -> Result<(), ApiError> {
    let checks: [FormCheck; 4] = [
        ("icebergQty", is_decimal, DECIMAL_RANGE),
        ("trailingDelta", is_integer, INTEGER_RANGE),
        ("strategyId", is_integer, INTEGER_RANGE),
        ("strategyType", is_integer, INTEGER_RANGE),
    ];
    for (name, well_formed, range) in checks {
        if let Some(v) = p.get(name) {
            if !well_formed(v) {
                return Err(ApiError::illegal_chars_in(name, range));
            }
        }
    }
    let nonzero = |v: &str| v.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if p.get("icebergQty").is_some_and(nonzero) {
        return Err(ApiError::new_order_rejected(reject::ICEBERG_NOT_SUPPORTED));
    }
    if p.get("trailingDelta").is_some() {
        return Err(ApiError::new_order_rejected(reject::TRAILING_NOT_SUPPORTED));
    }
    Ok(())
}

/// Parses a new-order request into the engine's command.
fn parse_new_order(
    p: &Params,
    m: &MarketInfo,
    user: UserId,
) -> Result<(NewOrder, ClientOrderId), ApiError> {
    let side = side(p.required("side")?)?;
    let t = order_type(p.required("type")?)?;
    check_shape(t, p)?;
    refuse_unsupported(p)?;
    let qty = match (p.get("quantity"), p.get("quoteOrderQty")) {
        (Some(q), _) => OrderQty::Base(m.qty("quantity", q)?),
        (None, Some(q)) => OrderQty::Quote(m.quote_amount("quoteOrderQty", q)?),
        (None, None) => unreachable!("check_shape requires one"),
    };
    let cid = client_id(p, "newClientOrderId")?;
    let order = NewOrder {
        user,
        market: m.cfg.id,
        side,
        order_type: t,
        tif: p
            .get("timeInForce")
            .map(tif)
            .transpose()?
            .unwrap_or(TimeInForce::Gtc),
        price: p
            .get("price")
            .map(|s| m.price("price", s))
            .transpose()?
            .unwrap_or(0),
        qty,
        stop_price: p
            .get("stopPrice")
            .map(|s| m.price("stopPrice", s))
            .transpose()?
            .unwrap_or(0),
        client_id: Some(cid),
        stp: p.get("selfTradePreventionMode").map(stp).transpose()?,
    };
    Ok((order, cid))
}

/// The Binance error for an engine rejection of a new order.
pub fn rejection(reason: RejectReason) -> ApiError {
    use RejectReason::*;
    match reason {
        UnknownMarket => ApiError::invalid_symbol(),
        InvalidPrice | InvalidStopPrice => ApiError::filter_failure("PRICE_FILTER"),
        InvalidQty => ApiError::filter_failure("LOT_SIZE"),
        InvalidNotional | Overflow => ApiError::filter_failure("NOTIONAL"),
        TooManyOrders | BookFull => ApiError::filter_failure("MAX_NUM_ORDERS"),
        InsufficientFunds => ApiError::new_order_rejected(reject::INSUFFICIENT_BALANCE),
        WouldTakeLiquidity => ApiError::new_order_rejected(reject::WOULD_MATCH_AND_TAKE),
        StopWouldTriggerImmediately => {
            ApiError::new_order_rejected(reject::WOULD_TRIGGER_IMMEDIATELY)
        }
        MarketClosed => ApiError::new_order_rejected(reject::MARKET_CLOSED),
        DuplicateClientOrderId => ApiError::new_order_rejected(reject::DUPLICATE_ORDER),
        UserFrozen | ReservedAccount => ApiError::new_order_rejected(reject::ACCOUNT_CANNOT_TRADE),
        StpModeNotAllowed => ApiError::invalid_parameter("selfTradePreventionMode"),
        UnknownOrder => ApiError::cancel_rejected(reject::UNKNOWN_ORDER),
        InvalidOrder | InvalidAmend => {
            ApiError::new_order_rejected(reject::UNSUPPORTED_ORDER_COMBINATION)
        }
        _ => ApiError::invalid_data(),
    }
}

/// `POST /api/v3/order/test`: validates like a new order, places nothing.
#[utoipa::path(post, path = "/api/v3/order/test", tag = "trading",
    summary = "Test new order (TRADE)",
    description = "Checks the parameters exactly as `POST /api/v3/order` does (symbol, shape by type, precision, tick and lot grids) without sending the order to the engine. Parameters go in the query string or an `application/x-www-form-urlencoded` body.",
    params(NewOrderParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The order would be accepted for matching.", body = flowex_binance::Empty),
        (status = 400, description = "Invalid order: -1100 illegal characters, -1102 mandatory parameter missing, -1106 parameter not required, -1111 too many decimals, -1013 filter failure (PRICE_FILTER, LOT_SIZE), -1115 invalid timeInForce, -1116 invalid orderType, -1117 invalid side, -1121 invalid symbol, -1128 bad parameter combination, -1130 invalid parameter; signed requests: -1021, -1022, -1102, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn test_order(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<flowex_binance::Empty>, ApiError> {
    let (_, m) = state.market_of(&p).await?;
    parse_new_order(&p, &m, UserId(who.user_id))?;
    Ok(Json(flowex_binance::Empty {}))
}

/// `POST /api/v3/order`: a new order, answered once it is on disk.
#[utoipa::path(post, path = "/api/v3/order", tag = "trading",
    summary = "New order (TRADE)",
    description = "Sends an order to the engine; the answer comes once the order is durable (journaled). Required by type: LIMIT: timeInForce, quantity, price. MARKET: quantity or quoteOrderQty. STOP_LOSS / TAKE_PROFIT: quantity or quoteOrderQty, stopPrice. STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT: timeInForce, quantity, price, stopPrice. LIMIT_MAKER: quantity, price. Parameters go in the query string or an `application/x-www-form-urlencoded` body. Counts toward `X-MBX-ORDER-COUNT-10S` / `-1D`.",
    params(NewOrderParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "Accepted (ACK), with its state (RESULT), and with its fills (FULL).", body = NewOrderResponse),
        (status = 400, description = "-2010 new order rejected (insufficient balance, would match and take, would trigger immediately, market closed, duplicate order, account may not trade), -1013 filter failure (PRICE_FILTER, LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS), -1100, -1102, -1106, -1111, -1115, -1116, -1117, -1121 invalid symbol, -1128, -1130 invalid parameter; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn new_order(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<NewOrderResponse>, ApiError> {
    let (dir, m) = state.market_of(&p).await?;
    let m = &m;
    let (order, cid) = parse_new_order(&p, m, UserId(who.user_id))?;
    let resp_type = response_type(&p, &order)?;
    place(&state, &dir, m, order, cid, resp_type)
        .await
        .map(Json)
}

/// `newOrderRespType`: MARKET and LIMIT default to FULL, the rest to ACK.
fn response_type(p: &Params, order: &NewOrder) -> Result<NewOrderRespType, ApiError> {
    match p.optional("newOrderRespType")? {
        None if matches!(order.order_type, OrderType::Market | OrderType::Limit) => {
            Ok(NewOrderRespType::Full)
        }
        None => Ok(NewOrderRespType::Ack),
        Some(t) => NewOrderRespType::parse(t)
            .ok_or_else(|| ApiError::invalid_parameter("newOrderRespType")),
    }
}

/// Submits a parsed order and answers in the requested shape once it is durable.
async fn place(
    state: &TradingState,
    dir: &Directory,
    m: &MarketInfo,
    order: NewOrder,
    cid: ClientOrderId,
    resp_type: NewOrderRespType,
) -> Result<NewOrderResponse, ApiError> {
    let (started, order_type) = (std::time::Instant::now(), order.order_type);
    let applied = state.submit(Command::PlaceOrder(order)).await?;
    let (symbol, refused) = (m.cfg.symbol.as_str(), applied.rejection());
    flowex_metrics::order_placed(
        symbol,
        order_type,
        refused,
        applied.events(),
        started.elapsed(),
    );
    if let Some(reason) = refused {
        return Err(rejection(reason));
    }
    let events = applied.events();
    let info = events
        .iter()
        .find_map(|e| match e {
            Event::OrderAccepted(i) => Some(*i),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("accepted order without OrderAccepted"))?;
    let transact = applied.timestamp_ns() / 1_000_000;
    let units = units(m);
    if resp_type == NewOrderRespType::Ack {
        return Ok(NewOrderResponse::ack(
            &units,
            info.id.0,
            cid.as_str(),
            transact,
        ));
    }
    let placed = placed_state(&info, events, transact);
    Ok(match resp_type {
        NewOrderRespType::Full => {
            NewOrderResponse::full(&units, &placed, transact, fills(dir, m, &info, events))
        }
        _ => NewOrderResponse::result(&units, &placed, transact),
    })
}

/// A new order as its command left it: accepted at `transact`, then filled,
/// expired or resting as its last update says.
fn placed_state(info: &OrderInfo, events: &[Event], transact: u64) -> OrderState {
    let (status, executed, cum_quote) = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::OrderUpdate {
                order,
                status,
                executed,
                cum_quote,
                ..
            } if *order == info.id => Some((*status, *executed, *cum_quote)),
            _ => None,
        })
        .unwrap_or((OrderStatus::New, 0, 0));
    OrderState {
        id: info.id.0,
        client_order_id: info
            .client_id
            .map_or(String::new(), |c| c.as_str().to_string()),
        side: info.side,
        order_type: info.order_type,
        tif: info.tif,
        price: info.price,
        orig_qty: info.qty,
        orig_quote_qty: info.quote_qty,
        executed_qty: executed,
        cum_quote_qty: cum_quote,
        status,
        stop_price: info.stop_price,
        stp: info.stp,
        time: transact,
        update_time: transact,
        working_time: (!info.order_type.is_stop()).then_some(transact),
    }
}

/// This order's fills as taker, with the fee in the asset it received.
fn fills(dir: &Directory, m: &MarketInfo, o: &OrderInfo, events: &[Event]) -> Vec<Fill> {
    let fee_asset = if o.side == Side::Buy { m.base } else { m.quote };
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) if t.taker_order == o.id => Some(Fill {
                commission: dir.asset_str(fee_asset.id, t.taker_fee),
                commission_asset: fee_asset.code.as_str().to_string(),
                price: m.price_str(t.price),
                qty: m.qty_str(t.qty),
                trade_id: t.id.0,
            }),
            _ => None,
        })
        .collect()
}

/// The caller's open order named by `orderId` or `origClientOrderId`.
/// The parameter names that name the order to act on.
pub(crate) struct OrderNames {
    pub id: &'static str,
    pub client: &'static str,
    pub new_client: &'static str,
}

/// `GET`/`DELETE /api/v3/order`.
pub(crate) const ORDER: OrderNames = OrderNames {
    id: "orderId",
    client: "origClientOrderId",
    new_client: "newClientOrderId",
};
/// The cancel half of `POST /api/v3/order/cancelReplace`.
const CANCEL_REPLACE: OrderNames = OrderNames {
    id: "cancelOrderId",
    client: "cancelOrigClientOrderId",
    new_client: "cancelNewClientOrderId",
};

async fn find_order(
    state: &TradingState,
    user: UserId,
    m: &MarketInfo,
    p: &Params,
    names: &OrderNames,
) -> Result<Option<OrderView>, ApiError> {
    let market = m.cfg.id;
    let view = match (p.id(names.id)?, p.optional(names.client)?) {
        // Both names given: they must name the same order (Binance answers
        // an unknown order when they disagree).
        (Some(id), Some(c)) => state
            .query(move |e: &Engine| e.order(OrderId(id)))
            .await?
            .filter(|o| o.client_id.is_some_and(|own| own.as_str() == c)),
        (Some(id), None) => state.query(move |e: &Engine| e.order(OrderId(id))).await?,
        (None, Some("")) => return Err(ApiError::empty_orig_client_order_id()),
        (None, Some(c)) => {
            let Ok(cid) = ClientOrderId::new(c) else {
                return Ok(None);
            };
            state
                .query(move |e: &Engine| e.order_by_client_id(user, cid))
                .await?
        }
        (None, None) => return Err(ApiError::mandatory_one_of(names.id, names.client)),
    };
    // Someone else's order, or another market's, does not exist for this caller.
    Ok(view.filter(|o| o.user == user && o.market == market))
}

/// `GET /api/v3/order`: one of the caller's open orders.
#[utoipa::path(get, path = "/api/v3/order", tag = "trading",
    summary = "Query order (USER_DATA)",
    description = "Either `orderId` or `origClientOrderId` must be sent. Open orders come from the engine (visible as soon as `POST /api/v3/order` answered); closed ones (filled, canceled, expired) from the order history, which this call waits for to catch up with the engine before it answers -2013.",
    params(OrderIdParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The order.", body = QueriedOrder),
        (status = 400, description = "-2013 order does not exist, -1102 mandatory parameter (symbol, or one of orderId / origClientOrderId), -1121 invalid symbol, -1100, -1130; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn query_order(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<QueriedOrder>, ApiError> {
    let (_, m) = state.market_of(&p).await?;
    let m = &m;
    let user = UserId(who.user_id);
    if let Some(o) = find_order(&state, user, m, &p, &ORDER).await? {
        return Ok(Json(QueriedOrder::new(&units(m), &open_state(&o))));
    }
    // Not open: a closed order comes from the history.
    let o = crate::history::stored_order(&state, user, m, &p)
        .await?
        .ok_or_else(ApiError::no_such_order)?;
    Ok(Json(QueriedOrder::new(&units(m), &o)))
}

/// `DELETE /api/v3/order`: cancels one of the caller's open orders.
#[utoipa::path(delete, path = "/api/v3/order", tag = "trading",
    summary = "Cancel order (TRADE)",
    description = "Either `orderId` or `origClientOrderId` must be sent; `newClientOrderId` names the cancellation (generated if absent).",
    params(OrderIdParams, CancelParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "Canceled.", body = CanceledOrder),
        (status = 400, description = "-2011 cancel rejected (unknown order, market closed), -1102, -1121 invalid symbol, -1100, -1130; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn cancel_order(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<CanceledOrder>, ApiError> {
    let (_, m) = state.market_of(&p).await?;
    let m = &m;
    cancel(&state, UserId(who.user_id), m, &p, &ORDER)
        .await
        .map(Json)
}

/// Cancels the caller's open order named by `names`; the Binance cancel answer.
async fn cancel(
    state: &TradingState,
    user: UserId,
    m: &MarketInfo,
    p: &Params,
    names: &OrderNames,
) -> Result<CanceledOrder, ApiError> {
    let o = find_order(state, user, m, p, names)
        .await?
        .ok_or_else(|| ApiError::cancel_rejected(reject::UNKNOWN_ORDER))?;
    let new_cid = client_id(p, names.new_client)?;
    let cmd = Command::CancelOrder {
        user,
        market: m.cfg.id,
        order: OrderRef::Id(o.id),
    };
    let applied = state.submit(cmd).await?;
    match applied.rejection() {
        Some(RejectReason::UnknownOrder) => {
            return Err(ApiError::cancel_rejected(reject::UNKNOWN_ORDER))
        }
        Some(RejectReason::MarketClosed) => {
            return Err(ApiError::cancel_rejected(reject::MARKET_CLOSED))
        }
        Some(other) => return Err(rejection(other)),
        None => {}
    }
    Ok(CanceledOrder::new(
        &units(m),
        &open_state(&o),
        new_cid.as_str(),
        applied.timestamp_ns() / 1_000_000,
    ))
}

/// `POST /api/v3/order/cancelReplace`: cancels an open order and places a new one.
#[utoipa::path(post, path = "/api/v3/order/cancelReplace", tag = "trading",
    summary = "Cancel an existing order and send a new order (TRADE)",
    description = "The new order's parameters are checked first (an invalid one changes nothing), then the order named by `cancelOrderId` or `cancelOrigClientOrderId` is canceled and the new order placed, each once durable (two commands: another order may come in between, as on Binance). `cancelReplaceMode`: `STOP_ON_FAILURE` places nothing when the cancel fails; `ALLOW_FAILURE` places the new order anyway. A half success is 409 `-2021`, a failure 400 `-2022`, both with `data` holding each half's result (`SUCCESS`, `FAILURE`, `NOT_ATTEMPTED`) and answer or error. Takes every parameter of `POST /api/v3/order` too.",
    params(CancelReplaceParams, NewOrderParams, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "Both halves succeeded.", body = flowex_binance::order::CancelReplaceResponse),
        (status = 400, description = "-2022 cancel-replace failed (`data` as in the 200 answer, with error bodies); invalid new order or parameters: the codes of `POST /api/v3/order`; -1102 mandatory `cancelReplaceMode` or one of `cancelOrderId` / `cancelOrigClientOrderId`; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
        (status = 409, description = "-2021 cancel-replace partially failed (`data` says which half).", body = BinanceError),
    ))]
pub async fn cancel_replace(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Replaced, ApiError> {
    cancel_replace_inner(&state, &who, &p).await
}

/// What a cancel-replace answers: both halves on success, else an error
/// (-2021 when one half succeeded, -2022 when neither did) carrying them.
pub enum Replaced {
    Both(CancelReplaceResponse),
    Failed(axum::http::StatusCode, CancelReplaceError),
}

impl axum::response::IntoResponse for Replaced {
    fn into_response(self) -> axum::response::Response {
        match self {
            Replaced::Both(data) => Json(data).into_response(),
            Replaced::Failed(status, error) => (status, Json(error)).into_response(),
        }
    }
}

async fn cancel_replace_inner(
    state: &TradingState,
    who: &Identity,
    p: &Params,
) -> Result<Replaced, ApiError> {
    use axum::http::StatusCode;
    let (dir, m) = state.market_of(p).await?;
    let m = &m;
    let mode = CancelReplaceMode::parse(p.required("cancelReplaceMode")?)
        .ok_or_else(|| ApiError::invalid_parameter("cancelReplaceMode"))?;
    let user = UserId(who.user_id);
    let (order, cid) = parse_new_order(p, m, user)?;
    let resp_type = response_type(p, &order)?;
    let canceled = cancel(state, user, m, p, &CANCEL_REPLACE).await;
    let placed = if canceled.is_err() && mode == CancelReplaceMode::StopOnFailure {
        None
    } else {
        Some(place(state, &dir, m, order, cid, resp_type).await)
    };
    let result = |ok: bool| {
        if ok {
            CancelReplaceResult::Success
        } else {
            CancelReplaceResult::Failure
        }
    };
    let data = CancelReplaceResponse {
        cancel_result: result(canceled.is_ok()),
        cancel_response: match canceled {
            Ok(c) => CancelOutcome::Canceled(c),
            Err(e) => CancelOutcome::Failed(error_body(&e)),
        },
        new_order_result: placed
            .as_ref()
            .map_or(CancelReplaceResult::NotAttempted, |r| result(r.is_ok())),
        new_order_response: placed.map(|r| match r {
            Ok(o) => NewOrderOutcome::Placed(Box::new(o)),
            Err(e) => NewOrderOutcome::Failed(error_body(&e)),
        }),
    };
    let succeeded = [data.cancel_result, data.new_order_result]
        .iter()
        .filter(|r| **r == CancelReplaceResult::Success)
        .count();
    let (status, code, msg) = match succeeded {
        2 => return Ok(Replaced::Both(data)),
        1 => (
            StatusCode::CONFLICT,
            -2021,
            "Order cancel-replace partially failed.",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            -2022,
            "Order cancel-replace failed.",
        ),
    };
    let msg = msg.to_string();
    Ok(Replaced::Failed(
        status,
        CancelReplaceError { code, data, msg },
    ))
}

fn error_body(e: &ApiError) -> BinanceError {
    BinanceError {
        code: e.binance_code(),
        msg: e.binance_msg().to_string(),
    }
}

/// `GET /api/v3/openOrders`: the caller's open orders.
#[utoipa::path(get, path = "/api/v3/openOrders", tag = "trading",
    summary = "Current open orders (USER_DATA)",
    params(OptionalSymbol, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "Open orders, of one symbol or all.", body = Vec<QueriedOrder>),
        (status = 400, description = "-1121 invalid symbol, -1100, -1130; signed requests: -1021, -1022, -1102, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn open_orders(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<Vec<QueriedOrder>>, ApiError> {
    let symbol = p.optional("symbol")?;
    let dir = state.directory_for(symbol).await?;
    let market = symbol
        .map(|s| dir.market(s).map(|m| m.cfg.id))
        .transpose()?;
    let user = UserId(who.user_id);
    let open = state
        .query(move |e: &Engine| e.open_orders(user, market))
        .await?;
    let list = open
        .iter()
        .filter_map(|o| {
            dir.by_id(o.market)
                .map(|m| QueriedOrder::new(&units(m), &open_state(o)))
        })
        .collect();
    Ok(Json(list))
}

/// `DELETE /api/v3/openOrders`: cancels every open order of the caller on a symbol.
#[utoipa::path(delete, path = "/api/v3/openOrders", tag = "trading",
    summary = "Cancel all open orders on a symbol (TRADE)",
    params(RequiredSymbol, SignedParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The canceled orders.", body = Vec<CanceledOrder>),
        (status = 400, description = "-2011 cancel rejected (no open order), -1102 symbol missing, -1121 invalid symbol, -1100, -1130; signed requests: -1021, -1022, -1131.", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key, IP or permission (also: no credentials).", body = BinanceError),
    ))]
pub async fn cancel_open_orders(
    State(state): State<TradingState>,
    who: Identity,
    p: Params,
) -> Result<Json<Vec<CanceledOrder>>, ApiError> {
    let (_, m) = state.market_of(&p).await?;
    let m = &m;
    let (user, market) = (UserId(who.user_id), m.cfg.id);
    let open = state
        .query(move |e: &Engine| e.open_orders(user, Some(market)))
        .await?;
    if open.is_empty() {
        return Err(ApiError::cancel_rejected(reject::UNKNOWN_ORDER));
    }
    let applied = state
        .submit(Command::CancelAll {
            user: Some(user),
            market: Some(market),
        })
        .await?;
    if let Some(reason) = applied.rejection() {
        return Err(rejection(reason));
    }
    let canceled: Vec<OrderId> = applied
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::OrderUpdate {
                order,
                status: OrderStatus::Canceled,
                ..
            } => Some(*order),
            _ => None,
        })
        .collect();
    let transact = applied.timestamp_ns() / 1_000_000;
    let units = units(m);
    let list = open
        .iter()
        .filter(|o| canceled.contains(&o.id))
        .map(|o| CanceledOrder::new(&units, &open_state(o), fresh_client_id().as_str(), transact))
        .collect();
    Ok(Json(list))
}
