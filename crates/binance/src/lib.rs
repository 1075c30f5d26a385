//! The Binance Spot API v3 dialect: how FlowEx's engine values are written
//! on the wire, in one place.
//!
//! - [`enums`]: the Binance spelling of every engine enum (`BUY`,
//!   `STOP_LOSS_LIMIT`, `PARTIALLY_FILLED`, `EXPIRE_TAKER`, …), parsed and
//!   written by one table each.
//! - [`Market`]: a market's units, turning ticks, lots and atoms into
//!   Binance's decimal strings (never floating point).
//! - [`order`]: [`OrderState`], an order in engine values, and the one
//!   builder of each report of it: the live reply (`ACK`/`RESULT`/`FULL`),
//!   the query shape (`GET order`, `openOrders`, `allOrders`), the
//!   cancellation; the user data stream's `executionReport` is written from
//!   the same [`OrderState`].
//! - [`account`], [`exchange`], [`market_data`]: the other bodies; [`params`]: the
//!   parameters of each endpoint, as the OpenAPI document shows them.
//!
//! Every body is a struct that derives both `Serialize` and
//! `utoipa::ToSchema`, so the OpenAPI document describes exactly what is
//! sent. Fields are declared in the order of their JSON names sorted by
//! byte: that is the order the API has always sent (its bodies were
//! `serde_json` maps, which sort their keys), and clients that compare
//! bodies byte for byte keep working. The tests check the order of every
//! struct.
//!
//! This crate depends on `flowex-types` alone (and serde, utoipa): the
//! trading and market-data services and the WebSocket streams all use it.

pub mod account;
pub mod enums;
pub mod exchange;
mod market;
pub mod market_data;
pub mod order;
pub mod params;

pub use enums::*;
pub use market::Market;
pub use order::{
    CanceledOrder, Execution, ExecutionFill, ExecutionReport, Fill, NewOrderResponse, OrderState,
    QueriedOrder,
};

use serde::Serialize;
use utoipa::ToSchema;

/// A Binance error (`/api/v3`): a negative code and Binance's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"code": -1121, "msg": "Invalid symbol."}))]
pub struct BinanceError {
    /// Binance's error code (e.g. -1102 mandatory parameter, -1121 invalid
    /// symbol, -2010 new order rejected, -2015 invalid API key).
    pub code: i32,
    /// Binance's message for the code.
    pub msg: String,
}

/// The empty object `{}` (`ping`, `order/test`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Empty {}

#[cfg(test)]
pub(crate) mod tests {
    use serde::Serialize;

    /// `value` serialised, after checking that its object keys come in
    /// sorted order at every level (what `serde_json::Value` would write).
    pub fn sorted_json<T: Serialize>(value: &T) -> String {
        let direct = serde_json::to_string(value).unwrap();
        let via_map = serde_json::to_string(&serde_json::to_value(value).unwrap()).unwrap();
        assert_eq!(direct, via_map, "fields out of sorted order");
        direct
    }

    /// The reference BTCUSDT market with its two assets.
    pub fn btcusdt() -> (
        flowex_types::MarketConfig,
        flowex_types::AssetConfig,
        flowex_types::AssetConfig,
    ) {
        (
            flowex_testkit::btcusdt(),
            flowex_testkit::btc(),
            flowex_testkit::usdt(),
        )
    }
}
