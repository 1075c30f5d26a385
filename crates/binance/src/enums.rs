//! Binance's spellings of the engine's enumerations, one table each.
//!
//! Each wire enum mirrors an engine enum variant for variant (the `From`
//! conversions are exhaustive, so a new engine variant does not compile
//! until it has a spelling) and carries its text in one place: the serde
//! name, which the OpenAPI schema, [`Side::as_str`]-style writers and
//! [`Side::parse`]-style readers all use.

use flowex_types as engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! wire_enum {
    (@common $(#[$meta:meta])* $name:ident { $($variant:ident = $text:tt,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in the order Binance lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The Binance spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value spelled `s`, exactly (Binance is case-sensitive).
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:tt,)* }) => {
        wire_enum!(@common $(#[$meta])* $name { $($variant = $text,)* });
    };
    ($(#[$meta:meta])* $name:ident from $engine:ident { $($variant:ident = $text:tt,)* }) => {
        wire_enum!(@common $(#[$meta])* $name { $($variant = $text,)* });

        impl From<engine::$engine> for $name {
            fn from(v: engine::$engine) -> $name {
                match v {
                    $(engine::$engine::$variant => $name::$variant,)*
                }
            }
        }

        impl From<$name> for engine::$engine {
            fn from(v: $name) -> engine::$engine {
                match v {
                    $($name::$variant => engine::$engine::$variant,)*
                }
            }
        }
    };
}

wire_enum! {
    /// BUY or SELL.
    Side from Side {
        Buy = "BUY",
        Sell = "SELL",
    }
}

wire_enum! {
    /// The order types FlowEx supports.
    OrderType from OrderType {
        Limit = "LIMIT",
        LimitMaker = "LIMIT_MAKER",
        Market = "MARKET",
        StopLoss = "STOP_LOSS",
        StopLossLimit = "STOP_LOSS_LIMIT",
        TakeProfit = "TAKE_PROFIT",
        TakeProfitLimit = "TAKE_PROFIT_LIMIT",
    }
}

wire_enum! {
    /// GTC (good till canceled), IOC (immediate or cancel), FOK (fill or kill).
    TimeInForce from TimeInForce {
        Gtc = "GTC",
        Ioc = "IOC",
        Fok = "FOK",
    }
}

wire_enum! {
    /// An order's state.
    OrderStatus from OrderStatus {
        New = "NEW",
        PartiallyFilled = "PARTIALLY_FILLED",
        Filled = "FILLED",
        Canceled = "CANCELED",
        Expired = "EXPIRED",
        ExpiredInMatch = "EXPIRED_IN_MATCH",
    }
}

wire_enum! {
    /// Self-trade prevention: what happens when the order would match
    /// another order of the same user.
    SelfTradePreventionMode from StpMode {
        None = "NONE",
        ExpireTaker = "EXPIRE_TAKER",
        ExpireMaker = "EXPIRE_MAKER",
        ExpireBoth = "EXPIRE_BOTH",
        Decrement = "DECREMENT",
    }
}

wire_enum! {
    /// A symbol's trading status: `TRADING`, `HALT` (nothing changes the
    /// book) or `BREAK` (cancels only).
    SymbolStatus from MarketStatus {
        Trading = "TRADING",
        Halted = "HALT",
        CancelOnly = "BREAK",
    }
}

wire_enum! {
    /// How much of the new order the answer shows.
    NewOrderRespType {
        Ack = "ACK",
        Result = "RESULT",
        Full = "FULL",
    }
}

wire_enum! {
    /// What a cancel-replace does when its cancel fails.
    CancelReplaceMode {
        StopOnFailure = "STOP_ON_FAILURE",
        AllowFailure = "ALLOW_FAILURE",
    }
}

wire_enum! {
    /// How one half of a cancel-replace went.
    CancelReplaceResult {
        Success = "SUCCESS",
        Failure = "FAILURE",
        NotAttempted = "NOT_ATTEMPTED",
    }
}

wire_enum! {
    /// What happened to an order (`executionReport`'s `x`).
    ExecutionType {
        New = "NEW",
        Canceled = "CANCELED",
        Replaced = "REPLACED",
        Rejected = "REJECTED",
        Trade = "TRADE",
        Expired = "EXPIRED",
        TradePrevention = "TRADE_PREVENTION",
    }
}

wire_enum! {
    /// What a rate limit counts.
    RateLimitType {
        RequestWeight = "REQUEST_WEIGHT",
        Orders = "ORDERS",
    }
}

wire_enum! {
    /// The unit of a rate limit's window.
    RateLimitInterval {
        Second = "SECOND",
        Minute = "MINUTE",
        Day = "DAY",
    }
}

impl OrderType {
    /// The `timeInForce` Binance reports for an order of this type:
    /// market-priced orders (MARKET, STOP_LOSS, TAKE_PROFIT) never rest,
    /// and the engine runs them as IOC, but Binance shows them as `GTC`,
    /// and clients that compare an order's fields with Binance's expect that.
    pub fn reported_tif(self, tif: TimeInForce) -> TimeInForce {
        match self {
            OrderType::Market | OrderType::StopLoss | OrderType::TakeProfit => TimeInForce::Gtc,
            _ => tif,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips_through_text_serde_and_the_engine() {
        for s in Side::ALL {
            assert_eq!(Side::parse(s.as_str()), Some(*s));
            assert_eq!(Side::from(engine::Side::from(*s)), *s);
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for t in OrderType::ALL {
            assert_eq!(OrderType::parse(t.as_str()), Some(*t));
            assert_eq!(OrderType::from(engine::OrderType::from(*t)), *t);
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for m in SelfTradePreventionMode::ALL {
            assert_eq!(SelfTradePreventionMode::parse(m.as_str()), Some(*m));
            let e = engine::StpMode::from(*m);
            assert_eq!(SelfTradePreventionMode::from(e), *m);
        }
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            SymbolStatus::from(engine::MarketStatus::CancelOnly).as_str(),
            "BREAK"
        );
        assert_eq!(TimeInForce::parse("gtc"), None, "case-sensitive");
        assert_eq!(OrderType::parse("LIMIT_MAKER"), Some(OrderType::LimitMaker));
    }

    #[test]
    fn schemas_list_the_binance_spellings() {
        let schema = |s: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(s).unwrap()["enum"].clone()
        };
        use utoipa::PartialSchema;
        assert_eq!(schema(Side::schema()), serde_json::json!(["BUY", "SELL"]));
        assert_eq!(
            schema(SymbolStatus::schema()),
            serde_json::json!(["TRADING", "HALT", "BREAK"])
        );
        assert_eq!(
            schema(OrderType::schema())[6],
            serde_json::json!("TAKE_PROFIT_LIMIT")
        );
    }

    #[test]
    fn market_priced_orders_report_gtc() {
        for t in OrderType::ALL {
            let reported = t.reported_tif(TimeInForce::Ioc);
            let market_priced = !engine::OrderType::from(*t).has_limit_price();
            assert_eq!(reported == TimeInForce::Gtc, market_priced, "{t:?}");
        }
    }
}
