//! The parameters of each endpoint, for the OpenAPI document. The
//! handlers read them one by one (with Binance's error for each way a
//! parameter can be wrong) rather than deserialise these structs; the enum
//! fields are the same types the handlers parse with.

use utoipa::IntoParams;

/// The cancel half of `POST /api/v3/order/cancelReplace`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct CancelReplaceParams {
    /// `STOP_ON_FAILURE` places nothing when the cancel fails; `ALLOW_FAILURE` places the new order anyway.
    pub cancel_replace_mode: crate::CancelReplaceMode,
    /// The order to cancel, by id ...
    pub cancel_order_id: Option<u64>,
    /// ... or by its client order id.
    pub cancel_orig_client_order_id: Option<String>,
    /// Client id for the cancel itself (generated when absent).
    pub cancel_new_client_order_id: Option<String>,
}

/// The parameters of `POST /api/v3/order` and `/api/v3/order/test`.
/// Decimals are strings: at most 20 integer and 20 fractional digits,
/// no more fractional digits than the asset has (-1111), on the
/// symbol's tick or step grid (-1013).
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct NewOrderParams {
    /// The market, e.g. `BTCUSDT`.
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// BUY or SELL.
    pub side: crate::Side,
    /// The order type.
    #[param(rename = "type")]
    pub order_type: crate::OrderType,
    /// Required for LIMIT, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT; refused for the others.
    pub time_in_force: Option<crate::TimeInForce>,
    /// Base quantity (decimal string).
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,20}(\.[0-9]{1,20})?$", example = "0.00100000")]
    pub quantity: Option<String>,
    /// Quote amount to spend or receive (MARKET, STOP_LOSS, TAKE_PROFIT), instead of `quantity`.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,20}(\.[0-9]{1,20})?$", example = "100.00")]
    pub quote_order_qty: Option<String>,
    /// Limit price (decimal string); required for the LIMIT types, refused for the others.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,20}(\.[0-9]{1,20})?$", example = "64000.01")]
    pub price: Option<String>,
    /// Trigger price (decimal string) of the STOP_LOSS and TAKE_PROFIT types.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,20}(\.[0-9]{1,20})?$")]
    pub stop_price: Option<String>,
    /// Your id for the order, unique among your open orders; generated if absent.
    #[param(pattern = r"^[\.A-Z\:/a-z0-9_-]{1,36}$")]
    pub new_client_order_id: Option<String>,
    /// ACK, RESULT or FULL; default FULL for MARKET and LIMIT, ACK for the others.
    pub new_order_resp_type: Option<crate::NewOrderRespType>,
    /// Default: the symbol's `defaultSelfTradePreventionMode`; must be one of its `allowedSelfTradePreventionModes`.
    pub self_trade_prevention_mode: Option<crate::SelfTradePreventionMode>,
}

/// Which order: `orderId` or `origClientOrderId` (one is required).
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct OrderIdParams {
    /// The market, e.g. `BTCUSDT`.
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// The order's id.
    pub order_id: Option<u64>,
    /// The `clientOrderId` the order was placed with.
    pub orig_client_order_id: Option<String>,
}

/// The extra parameter of a cancellation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct CancelParams {
    /// An id for the cancellation (the answer's `clientOrderId`); generated if absent.
    #[param(pattern = r"^[\.A-Z\:/a-z0-9_-]{1,36}$")]
    pub new_client_order_id: Option<String>,
}

/// An optional `symbol` filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptionalSymbol {
    /// Only this market; all markets if absent.
    #[param(example = "BTCUSDT")]
    pub symbol: Option<String>,
}

/// A required `symbol`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequiredSymbol {
    /// The market.
    #[param(example = "BTCUSDT")]
    pub symbol: String,
}

/// Narrowing `exchangeInfo`: `symbol` or `symbols`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExchangeInfoParams {
    /// One market.
    #[param(example = "BTCUSDT")]
    pub symbol: Option<String>,
    /// Several markets, as a JSON array: `["BTCUSDT","ETHUSDT"]`.
    #[param(example = r#"["BTCUSDT","ETHUSDT"]"#)]
    pub symbols: Option<String>,
}

/// The listenKey of `PUT` and `DELETE /api/v3/userDataStream`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListenKeyParams {
    /// The key `POST /api/v3/userDataStream` returned.
    pub listen_key: String,
}

/// The `account` options.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AccountParams {
    /// `true`: leave out assets with a zero balance.
    pub omit_zero_balances: Option<bool>,
}

/// The `account/commission` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommissionParams {
    /// The market, e.g. `BTCUSDT`.
    pub symbol: String,
}

/// The parameters of `GET /api/v3/allOrders`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AllOrdersParams {
    /// The market, e.g. `BTCUSDT`.
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// Orders with this id or a later one.
    pub order_id: Option<u64>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    pub start_time: Option<i64>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    pub end_time: Option<i64>,
    /// Default 500, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The parameters of `GET /api/v3/myTrades`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct MyTradesParams {
    /// The market, e.g. `BTCUSDT`.
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// Only the trades of this order.
    pub order_id: Option<u64>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    pub start_time: Option<i64>,
    /// Ms since the Unix epoch, inclusive.
    #[param(minimum = 0)]
    pub end_time: Option<i64>,
    /// Trades with this id or a later one (not with startTime/endTime).
    pub from_id: Option<u64>,
    /// Default 500, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------- market data

/// `symbol`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SymbolParam {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
}

/// `depth`'s parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepthParams {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// Levels per side: default 100, at most 5000 (larger is cut).
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// `trades`' parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TradesParams {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// Default 500, at most 1000.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// `historicalTrades`' parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct HistoricalTradesParams {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// Default 500, at most 1000.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
    /// The first trade id to return (default: the newest trades).
    pub fromId: Option<u64>,
}

/// `aggTrades`' parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct AggTradesParams {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// The first aggregate id to return.
    pub fromId: Option<u64>,
    /// Ms since the epoch, inclusive.
    #[param(minimum = 0)]
    pub startTime: Option<i64>,
    /// Ms since the epoch, inclusive; at most an hour after `startTime`.
    #[param(minimum = 0)]
    pub endTime: Option<i64>,
    /// Default 500, at most 1000.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// `klines`' parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct KlinesParams {
    #[param(example = "BTCUSDT")]
    pub symbol: String,
    /// `1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M`.
    #[param(example = "1m")]
    pub interval: String,
    /// Candles opening at or after this ms.
    #[param(minimum = 0)]
    pub startTime: Option<i64>,
    /// Candles opening at or before this ms.
    #[param(minimum = 0)]
    pub endTime: Option<i64>,
    /// Only UTC (`0`) is supported.
    pub timeZone: Option<String>,
    /// Default 500, at most 1000.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// `ticker/24hr`'s parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Ticker24hrParams {
    /// One market (the answer is an object).
    #[param(example = "BTCUSDT")]
    pub symbol: Option<String>,
    /// Several markets as a JSON array, `["BTCUSDT","ETHUSDT"]` (the answer is an array).
    #[param(pattern = r#"^\[.+\]$"#, example = r#"["BTCUSDT","ETHUSDT"]"#)]
    pub symbols: Option<String>,
    /// `FULL` (default) or `MINI`.
    pub r#type: Option<String>,
}

/// `ticker/price` and `ticker/bookTicker` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TickerParams {
    /// One market (the answer is an object).
    #[param(example = "BTCUSDT")]
    pub symbol: Option<String>,
    /// Several markets as a JSON array (the answer is an array).
    #[param(pattern = r#"^\[.+\]$"#, example = r#"["BTCUSDT","ETHUSDT"]"#)]
    pub symbols: Option<String>,
}
