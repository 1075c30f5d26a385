//! Every Binance report of an order, written from one [`OrderState`].
//!
//! The reports differ in which fields they carry, never in how a field is
//! written: each field is built once, in [`Fields`], and the live reply
//! ([`NewOrderResponse`]), the query shape ([`QueriedOrder`]: `GET order`,
//! `openOrders`, `allOrders`) and the cancellation ([`CanceledOrder`]) take
//! what they need from it. The user data stream's `executionReport` will be
//! one more report of the same [`OrderState`] (its `s,c,S,o,f,q,p,P,X,i,z,
//! Z,O,W,Q,V` are these fields under one-letter names; the execution's own
//! `x,l,L,n,N,t,m,T` come with the event).

use crate::enums::{OrderStatus, OrderType, SelfTradePreventionMode, Side, TimeInForce};
use crate::Market;
use flowex_types as engine;
use serde::Serialize;
use utoipa::ToSchema;

/// An order in the engine's values: what every report of it is written from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderState {
    pub id: u64,
    /// Empty when the order has none.
    pub client_order_id: String,
    pub side: engine::Side,
    pub order_type: engine::OrderType,
    pub tif: engine::TimeInForce,
    /// Ticks (0 for market-priced orders).
    pub price: u64,
    /// Lots (0 for an order sized in quote).
    pub orig_qty: u64,
    /// Quote atoms of an order sized in quote (`quoteOrderQty`), else 0.
    pub orig_quote_qty: u64,
    /// Lots.
    pub executed_qty: u64,
    /// Quote atoms.
    pub cum_quote_qty: u64,
    pub status: engine::OrderStatus,
    /// Ticks (0 unless a stop type).
    pub stop_price: u64,
    pub stp: engine::StpMode,
    /// Ms since the Unix epoch.
    pub time: u64,
    /// Ms since the Unix epoch.
    pub update_time: u64,
    /// When it started working on the book; `None` while a stop waits.
    pub working_time: Option<u64>,
}

impl OrderState {
    /// The `origQty` Binance reports: an order sized in the quote asset
    /// (`quoteOrderQty`) has no base quantity of its own, and Binance shows
    /// the quantity it executed, so `origQty - executedQty` stays the
    /// remainder clients compute.
    fn reported_orig_qty(&self) -> u64 {
        if self.orig_qty == 0 && self.orig_quote_qty > 0 {
            self.executed_qty
        } else {
            self.orig_qty
        }
    }

    /// Each field as Binance writes it.
    fn fields(&self, m: &Market) -> Fields {
        let order_type = OrderType::from(self.order_type);
        Fields {
            symbol: m.symbol(),
            order_id: self.id,
            client_order_id: self.client_order_id.clone(),
            price: m.price(self.price),
            orig_qty: m.qty(self.reported_orig_qty()),
            executed_qty: m.qty(self.executed_qty),
            orig_quote_order_qty: m.quote(self.orig_quote_qty),
            cummulative_quote_qty: m.quote(self.cum_quote_qty),
            status: self.status.into(),
            time_in_force: order_type.reported_tif(self.tif.into()),
            order_type,
            side: self.side.into(),
            stop_price: m.price(self.stop_price),
            self_trade_prevention_mode: self.stp.into(),
        }
    }
}

/// The fields every report shares, written once.
struct Fields {
    symbol: String,
    order_id: u64,
    client_order_id: String,
    price: String,
    orig_qty: String,
    executed_qty: String,
    orig_quote_order_qty: String,
    cummulative_quote_qty: String,
    status: OrderStatus,
    time_in_force: TimeInForce,
    order_type: OrderType,
    side: Side,
    stop_price: String,
    self_trade_prevention_mode: SelfTradePreventionMode,
}

/// Order lists are not supported: every order's `orderListId` is -1.
const NO_ORDER_LIST: i64 = -1;

/// An order (`GET order`, `openOrders`, `allOrders`). Decimals are strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueriedOrder {
    pub client_order_id: String,
    pub cummulative_quote_qty: String,
    pub executed_qty: String,
    /// Always 0 (no iceberg orders).
    pub iceberg_qty: String,
    /// False for a stop order not yet triggered.
    pub is_working: bool,
    pub order_id: u64,
    /// Always -1.
    pub order_list_id: i64,
    pub orig_qty: String,
    pub orig_quote_order_qty: String,
    pub price: String,
    pub self_trade_prevention_mode: SelfTradePreventionMode,
    pub side: Side,
    pub status: OrderStatus,
    pub stop_price: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    /// Ms since the Unix epoch.
    pub time: u64,
    pub time_in_force: TimeInForce,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Ms since the Unix epoch.
    pub update_time: u64,
    /// Ms since the Unix epoch; -1 while a stop order waits.
    pub working_time: i64,
}

impl QueriedOrder {
    pub fn new(m: &Market, o: &OrderState) -> QueriedOrder {
        let f = o.fields(m);
        QueriedOrder {
            client_order_id: f.client_order_id,
            cummulative_quote_qty: f.cummulative_quote_qty,
            executed_qty: f.executed_qty,
            iceberg_qty: m.qty(0),
            is_working: o.working_time.is_some(),
            order_id: f.order_id,
            order_list_id: NO_ORDER_LIST,
            orig_qty: f.orig_qty,
            orig_quote_order_qty: f.orig_quote_order_qty,
            price: f.price,
            self_trade_prevention_mode: f.self_trade_prevention_mode,
            side: f.side,
            status: f.status,
            stop_price: f.stop_price,
            symbol: f.symbol,
            time: o.time,
            time_in_force: f.time_in_force,
            order_type: f.order_type,
            update_time: o.update_time,
            working_time: o
                .working_time
                .map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)),
        }
    }
}

/// One fill of a new order, as taker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    /// The fee (decimal string), in the asset received.
    pub commission: String,
    /// The asset of the fee.
    pub commission_asset: String,
    /// Decimal string.
    #[schema(example = "64000.01000000")]
    pub price: String,
    /// Decimal string.
    #[schema(example = "0.00100000")]
    pub qty: String,
    /// The trade's id (per symbol).
    pub trade_id: u64,
}

/// The answer to a new order. ACK has `symbol`, `orderId`, `orderListId`,
/// `clientOrderId` and `transactTime`; RESULT adds the order's state; FULL
/// adds `fills`. Decimals are strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderResponse {
    pub client_order_id: String,
    /// RESULT, FULL: quote amount traded (Binance's spelling).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cummulative_quote_qty: Option<String>,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub executed_qty: Option<String>,
    /// FULL: the order's fills as taker.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fills: Option<Vec<Fill>>,
    pub order_id: u64,
    /// Always -1 (no order lists).
    pub order_list_id: i64,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub orig_qty: Option<String>,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub orig_quote_order_qty: Option<String>,
    /// RESULT, FULL: limit price (0 for market-priced orders).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub price: Option<String>,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub self_trade_prevention_mode: Option<SelfTradePreventionMode>,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub side: Option<Side>,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<OrderStatus>,
    /// RESULT, FULL: stop types only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub stop_price: Option<String>,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    /// RESULT, FULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub time_in_force: Option<TimeInForce>,
    /// Ms since the Unix epoch.
    pub transact_time: u64,
    /// RESULT, FULL.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order_type: Option<OrderType>,
    /// RESULT, FULL: ms since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub working_time: Option<u64>,
}

impl NewOrderResponse {
    /// `ACK`: which order, and when.
    pub fn ack(m: &Market, order_id: u64, client_order_id: &str, transact_time: u64) -> Self {
        NewOrderResponse {
            client_order_id: client_order_id.to_string(),
            cummulative_quote_qty: None,
            executed_qty: None,
            fills: None,
            order_id,
            order_list_id: NO_ORDER_LIST,
            orig_qty: None,
            orig_quote_order_qty: None,
            price: None,
            self_trade_prevention_mode: None,
            side: None,
            status: None,
            stop_price: None,
            symbol: m.symbol(),
            time_in_force: None,
            transact_time,
            order_type: None,
            working_time: None,
        }
    }

    /// `RESULT`: the order's state once its command applied at `transact_time`.
    pub fn result(m: &Market, o: &OrderState, transact_time: u64) -> Self {
        let f = o.fields(m);
        let is_stop = o.order_type.is_stop();
        NewOrderResponse {
            cummulative_quote_qty: Some(f.cummulative_quote_qty),
            executed_qty: Some(f.executed_qty),
            orig_qty: Some(f.orig_qty),
            orig_quote_order_qty: Some(f.orig_quote_order_qty),
            price: Some(f.price),
            self_trade_prevention_mode: Some(f.self_trade_prevention_mode),
            side: Some(f.side),
            status: Some(f.status),
            stop_price: is_stop.then_some(f.stop_price),
            time_in_force: Some(f.time_in_force),
            order_type: Some(f.order_type),
            working_time: Some(transact_time),
            ..NewOrderResponse::ack(m, o.id, &o.client_order_id, transact_time)
        }
    }

    /// `FULL`: the `RESULT` with the order's fills as taker.
    pub fn full(m: &Market, o: &OrderState, transact_time: u64, fills: Vec<Fill>) -> Self {
        NewOrderResponse {
            fills: Some(fills),
            ..NewOrderResponse::result(m, o, transact_time)
        }
    }
}

/// A canceled order. Decimals are strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanceledOrder {
    /// The cancellation's id (`newClientOrderId`).
    pub client_order_id: String,
    pub cummulative_quote_qty: String,
    pub executed_qty: String,
    pub order_id: u64,
    /// Always -1.
    pub order_list_id: i64,
    /// The order's `clientOrderId`.
    pub orig_client_order_id: String,
    pub orig_qty: String,
    pub price: String,
    pub self_trade_prevention_mode: SelfTradePreventionMode,
    pub side: Side,
    /// CANCELED.
    pub status: OrderStatus,
    pub stop_price: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    pub time_in_force: TimeInForce,
    /// Ms since the Unix epoch.
    pub transact_time: u64,
    #[serde(rename = "type")]
    pub order_type: OrderType,
}

impl CanceledOrder {
    /// The order `o` as it was when canceled, by the cancellation
    /// `cancel_id`, at `transact_time`.
    pub fn new(m: &Market, o: &OrderState, cancel_id: &str, transact_time: u64) -> Self {
        let f = o.fields(m);
        CanceledOrder {
            client_order_id: cancel_id.to_string(),
            cummulative_quote_qty: f.cummulative_quote_qty,
            executed_qty: f.executed_qty,
            order_id: f.order_id,
            order_list_id: NO_ORDER_LIST,
            orig_client_order_id: f.client_order_id,
            orig_qty: f.orig_qty,
            price: f.price,
            self_trade_prevention_mode: f.self_trade_prevention_mode,
            side: f.side,
            status: OrderStatus::Canceled,
            stop_price: f.stop_price,
            symbol: f.symbol,
            time_in_force: f.time_in_force,
            transact_time,
            order_type: f.order_type,
        }
    }
}

/// One half of a cancel-replace: its answer, or its error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CancelOutcome {
    Canceled(CanceledOrder),
    Failed(crate::BinanceError),
}

/// The new-order half of a cancel-replace: its answer, or its error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum NewOrderOutcome {
    Placed(Box<NewOrderResponse>),
    Failed(crate::BinanceError),
}

/// Both halves of a cancel-replace; on failure this object is the `data`
/// of the error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelReplaceResponse {
    /// The cancel's answer (as `DELETE /api/v3/order`) or its error.
    pub cancel_response: CancelOutcome,
    pub cancel_result: crate::CancelReplaceResult,
    /// The new order's answer (as `POST /api/v3/order`) or its error;
    /// null when not attempted.
    #[schema(required = true)]
    pub new_order_response: Option<NewOrderOutcome>,
    pub new_order_result: crate::CancelReplaceResult,
}

/// A cancel-replace that failed in part (-2021) or whole (-2022).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CancelReplaceError {
    pub code: i32,
    pub data: CancelReplaceResponse,
    pub msg: String,
}

/// What one `executionReport` reports besides the order itself: the kind
/// of execution and, for a fill, the trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub kind: crate::ExecutionType,
    /// Ms since the Unix epoch (the command's time).
    pub time: u64,
    /// The fill, for `TRADE`.
    pub fill: Option<ExecutionFill>,
    /// `C`: the order's own id when a cancel names it, else empty.
    pub orig_client_order_id: String,
}

/// One fill of the order, in engine values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionFill {
    pub trade_id: u64,
    /// Ticks.
    pub price: u64,
    /// Lots.
    pub qty: u64,
    /// Quote atoms.
    pub quote_qty: u64,
    /// The fee, already written in its asset's decimals.
    pub commission: String,
    pub commission_asset: String,
    pub maker: bool,
}

/// The user data stream's `executionReport`, every field Binance sends.
/// Keys in byte order (upper case first), as every body of this crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecutionReport {
    /// The cancelled order's client id on a cancel, else "".
    #[serde(rename = "C")]
    pub orig_client_order_id: String,
    #[serde(rename = "E")]
    pub event_time: u64,
    /// Iceberg quantity (always 0).
    #[serde(rename = "F")]
    pub iceberg_qty: String,
    /// Ignore (Binance sends a number).
    #[serde(rename = "I")]
    pub ignore_i: u64,
    /// Last executed price.
    #[serde(rename = "L")]
    pub last_price: String,
    /// Ignore.
    #[serde(rename = "M")]
    pub ignore_m: bool,
    /// Commission asset, null without a fill.
    #[serde(rename = "N")]
    pub commission_asset: Option<String>,
    /// Order creation time.
    #[serde(rename = "O")]
    pub creation_time: u64,
    #[serde(rename = "P")]
    pub stop_price: String,
    #[serde(rename = "Q")]
    pub quote_order_qty: String,
    #[serde(rename = "S")]
    pub side: Side,
    /// Transaction time.
    #[serde(rename = "T")]
    pub transaction_time: u64,
    #[serde(rename = "V")]
    pub self_trade_prevention_mode: SelfTradePreventionMode,
    /// Working time (-1 while a stop waits).
    #[serde(rename = "W")]
    pub working_time: i64,
    #[serde(rename = "X")]
    pub status: OrderStatus,
    /// Last quote quantity.
    #[serde(rename = "Y")]
    pub last_quote_qty: String,
    /// Cumulative quote quantity.
    #[serde(rename = "Z")]
    pub cummulative_quote_qty: String,
    #[serde(rename = "c")]
    pub client_order_id: String,
    #[serde(rename = "e")]
    pub event: &'static str,
    #[serde(rename = "f")]
    pub time_in_force: TimeInForce,
    /// Order list id (always -1).
    #[serde(rename = "g")]
    pub order_list_id: i64,
    #[serde(rename = "i")]
    pub order_id: u64,
    /// Last executed quantity.
    #[serde(rename = "l")]
    pub last_qty: String,
    /// Whether this fill was the maker side.
    #[serde(rename = "m")]
    pub maker: bool,
    /// Commission of this fill.
    #[serde(rename = "n")]
    pub commission: String,
    #[serde(rename = "o")]
    pub order_type: OrderType,
    #[serde(rename = "p")]
    pub price: String,
    #[serde(rename = "q")]
    pub orig_qty: String,
    /// Reject reason (always NONE: rejected orders are never accepted).
    #[serde(rename = "r")]
    pub reject_reason: &'static str,
    #[serde(rename = "s")]
    pub symbol: String,
    /// Trade id (-1 without a fill).
    #[serde(rename = "t")]
    pub trade_id: i64,
    /// Whether the order is on the book.
    #[serde(rename = "w")]
    pub is_working: bool,
    #[serde(rename = "x")]
    pub execution_type: crate::ExecutionType,
    /// Cumulative filled quantity.
    #[serde(rename = "z")]
    pub executed_qty: String,
}

impl ExecutionReport {
    /// The report of `o` (its state after the execution) for `x`.
    pub fn new(m: &Market, o: &OrderState, x: &Execution) -> ExecutionReport {
        let f = o.fields(m);
        let fill = x.fill.as_ref();
        let on_book = !o.status.is_final() && o.working_time.is_some();
        ExecutionReport {
            orig_client_order_id: x.orig_client_order_id.clone(),
            event_time: x.time,
            iceberg_qty: m.qty(0),
            ignore_i: 0,
            last_price: m.price(fill.map_or(0, |t| t.price)),
            ignore_m: false,
            commission_asset: fill.map(|t| t.commission_asset.clone()),
            creation_time: o.time,
            stop_price: f.stop_price,
            quote_order_qty: f.orig_quote_order_qty,
            side: f.side,
            transaction_time: x.time,
            self_trade_prevention_mode: f.self_trade_prevention_mode,
            working_time: o
                .working_time
                .map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)),
            status: f.status,
            last_quote_qty: m.quote(fill.map_or(0, |t| t.quote_qty)),
            cummulative_quote_qty: f.cummulative_quote_qty,
            client_order_id: f.client_order_id,
            event: "executionReport",
            time_in_force: f.time_in_force,
            order_list_id: NO_ORDER_LIST,
            order_id: f.order_id,
            last_qty: m.qty(fill.map_or(0, |t| t.qty)),
            maker: fill.is_some_and(|t| t.maker),
            commission: fill.map_or_else(|| m.quote(0), |t| t.commission.clone()),
            order_type: f.order_type,
            price: f.price,
            orig_qty: f.orig_qty,
            reject_reason: "NONE",
            symbol: f.symbol,
            trade_id: fill.map_or(-1, |t| i64::try_from(t.trade_id).unwrap_or(i64::MAX)),
            is_working: on_book,
            execution_type: x.kind,
            executed_qty: f.executed_qty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sorted_json;
    use flowex_types::Symbol;

    fn market() -> Market {
        Market {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            tick_size: 1_000_000,
            lot_size: 1_000,
            base_decimals: 8,
            quote_decimals: 8,
        }
    }

    fn stop_order() -> OrderState {
        OrderState {
            id: 3,
            client_order_id: "a3".into(),
            side: engine::Side::Buy,
            order_type: engine::OrderType::StopLossLimit,
            tif: engine::TimeInForce::Gtc,
            price: 7_000_000,
            orig_qty: 1_000,
            orig_quote_qty: 0,
            executed_qty: 0,
            cum_quote_qty: 0,
            status: engine::OrderStatus::New,
            stop_price: 6_900_000,
            stp: engine::StpMode::None,
            time: 1_700_000_000_000,
            update_time: 1_700_000_000_001,
            working_time: None,
        }
    }

    #[test]
    fn reports_are_written_in_sorted_key_order_with_exact_decimals() {
        let m = market();
        let o = stop_order();
        assert_eq!(
            sorted_json(&QueriedOrder::new(&m, &o)),
            r#"{"clientOrderId":"a3","cummulativeQuoteQty":"0.00000000","executedQty":"0.00000000","icebergQty":"0.00000000","isWorking":false,"orderId":3,"orderListId":-1,"origQty":"0.01000000","origQuoteOrderQty":"0.00000000","price":"70000.00000000","selfTradePreventionMode":"NONE","side":"BUY","status":"NEW","stopPrice":"69000.00000000","symbol":"BTCUSDT","time":1700000000000,"timeInForce":"GTC","type":"STOP_LOSS_LIMIT","updateTime":1700000000001,"workingTime":-1}"#
        );
        assert_eq!(
            sorted_json(&NewOrderResponse::ack(&m, 3, "a3", 5)),
            r#"{"clientOrderId":"a3","orderId":3,"orderListId":-1,"symbol":"BTCUSDT","transactTime":5}"#
        );
        assert_eq!(
            sorted_json(&NewOrderResponse::result(&m, &o, 5)),
            r#"{"clientOrderId":"a3","cummulativeQuoteQty":"0.00000000","executedQty":"0.00000000","orderId":3,"orderListId":-1,"origQty":"0.01000000","origQuoteOrderQty":"0.00000000","price":"70000.00000000","selfTradePreventionMode":"NONE","side":"BUY","status":"NEW","stopPrice":"69000.00000000","symbol":"BTCUSDT","timeInForce":"GTC","transactTime":5,"type":"STOP_LOSS_LIMIT","workingTime":5}"#
        );
        let fill = Fill {
            commission: "0.1".into(),
            commission_asset: "BTC".into(),
            price: "1".into(),
            qty: "2".into(),
            trade_id: 9,
        };
        let full = NewOrderResponse::full(&m, &o, 5, vec![fill.clone()]);
        assert!(sorted_json(&full).contains(r#""fills":[{"commission":"0.1","commissionAsset":"BTC","price":"1","qty":"2","tradeId":9}]"#));
        assert_eq!(
            sorted_json(&CanceledOrder::new(&m, &o, "c3", 6)),
            r#"{"clientOrderId":"c3","cummulativeQuoteQty":"0.00000000","executedQty":"0.00000000","orderId":3,"orderListId":-1,"origClientOrderId":"a3","origQty":"0.01000000","price":"70000.00000000","selfTradePreventionMode":"NONE","side":"BUY","status":"CANCELED","stopPrice":"69000.00000000","symbol":"BTCUSDT","timeInForce":"GTC","transactTime":6,"type":"STOP_LOSS_LIMIT"}"#
        );
        let data = CancelReplaceResponse {
            cancel_response: CancelOutcome::Failed(crate::BinanceError {
                code: -2011,
                msg: "Unknown order sent.".into(),
            }),
            cancel_result: crate::CancelReplaceResult::Failure,
            new_order_response: None,
            new_order_result: crate::CancelReplaceResult::NotAttempted,
        };
        assert_eq!(
            sorted_json(&CancelReplaceError {
                code: -2022,
                data,
                msg: "Order cancel-replace failed.".into()
            }),
            r#"{"code":-2022,"data":{"cancelResponse":{"code":-2011,"msg":"Unknown order sent."},"cancelResult":"FAILURE","newOrderResponse":null,"newOrderResult":"NOT_ATTEMPTED"},"msg":"Order cancel-replace failed."}"#
        );
    }

    #[test]
    fn optional_fields_are_left_out_not_null() {
        use utoipa::PartialSchema;
        let doc = serde_json::to_value(NewOrderResponse::schema()).unwrap();
        assert_eq!(doc["properties"]["fills"]["type"], "array", "{doc}");
        assert_eq!(doc["properties"]["price"]["type"], "string", "{doc}");
        let required = doc["required"].as_array().unwrap();
        assert!(!required.contains(&serde_json::json!("price")));
        let doc = serde_json::to_value(CancelReplaceResponse::schema()).unwrap();
        let required = doc["required"].as_array().unwrap();
        assert!(
            required.contains(&serde_json::json!("newOrderResponse")),
            "{doc}"
        );
    }

    #[test]
    fn quote_sized_market_orders_report_what_they_executed_as_orig_qty_and_gtc() {
        let m = market();
        let o = OrderState {
            order_type: engine::OrderType::Market,
            tif: engine::TimeInForce::Ioc,
            price: 0,
            orig_qty: 0,
            orig_quote_qty: 10_00000000,
            executed_qty: 15,
            stop_price: 0,
            working_time: Some(1),
            ..stop_order()
        };
        let q = QueriedOrder::new(&m, &o);
        assert_eq!(q.orig_qty, "0.00015000");
        assert_eq!(q.time_in_force, TimeInForce::Gtc);
        assert!(q.is_working);
        assert_eq!(NewOrderResponse::result(&m, &o, 1).stop_price, None);
    }

    #[test]
    fn execution_reports_carry_every_binance_field_in_sorted_order() {
        let m = market();
        let o = OrderState {
            status: engine::OrderStatus::PartiallyFilled,
            executed_qty: 500,
            cum_quote_qty: 35_000_000_000,
            working_time: Some(1_700_000_000_000),
            ..stop_order()
        };
        let x = Execution {
            kind: crate::ExecutionType::Trade,
            time: 1_700_000_000_009,
            fill: Some(ExecutionFill {
                trade_id: 12,
                price: 7_000_000,
                qty: 500,
                quote_qty: 35_000_000_000,
                commission: "0.00000500".into(),
                commission_asset: "BTC".into(),
                maker: true,
            }),
            orig_client_order_id: String::new(),
        };
        assert_eq!(
            sorted_json(&ExecutionReport::new(&m, &o, &x)),
            r#"{"C":"","E":1700000000009,"F":"0.00000000","I":0,"L":"70000.00000000","M":false,"N":"BTC","O":1700000000000,"P":"69000.00000000","Q":"0.00000000","S":"BUY","T":1700000000009,"V":"NONE","W":1700000000000,"X":"PARTIALLY_FILLED","Y":"350.00000000","Z":"350.00000000","c":"a3","e":"executionReport","f":"GTC","g":-1,"i":3,"l":"0.00500000","m":true,"n":"0.00000500","o":"STOP_LOSS_LIMIT","p":"70000.00000000","q":"0.01000000","r":"NONE","s":"BTCUSDT","t":12,"w":true,"x":"TRADE","z":"0.00500000"}"#
        );
        let new = Execution {
            kind: crate::ExecutionType::New,
            fill: None,
            ..x
        };
        let json = sorted_json(&ExecutionReport::new(&m, &stop_order(), &new));
        assert!(
            json.contains(r#""N":null"#)
                && json.contains(r#""t":-1"#)
                && json.contains(r#""W":-1"#),
            "{json}"
        );
    }
}
