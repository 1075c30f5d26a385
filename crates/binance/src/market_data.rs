//! The public market-data bodies: depth, trades, aggregate trades, klines,
//! average price and tickers. The WebSocket streams send the same payloads.

use serde::Serialize;
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// A price level: `[price, quantity]`, decimal strings.
pub type Level = (String, String);

/// `depth`: the aggregated book, best levels first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"asks": [["4.00000200", "12.00000000"]], "bids": [["4.00000000", "431.00000000"]], "lastUpdateId": 1027024}))]
pub struct Depth {
    /// `[price, quantity]` from the lowest ask up.
    #[schema(value_type = Vec<Vec<String>>)]
    pub asks: Vec<Level>,
    /// `[price, quantity]` from the highest bid down.
    #[schema(value_type = Vec<Vec<String>>)]
    pub bids: Vec<Level>,
    /// The engine's update id of the market's last book change.
    pub last_update_id: u64,
}

/// A public trade (`trades`, `historicalTrades`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicTrade {
    pub id: u64,
    /// Always true.
    pub is_best_match: bool,
    /// The taker sold.
    pub is_buyer_maker: bool,
    #[schema(example = "64000.01000000")]
    pub price: String,
    #[schema(example = "0.00100000")]
    pub qty: String,
    #[schema(example = "64.00001000")]
    pub quote_qty: String,
    /// Ms since the Unix epoch.
    pub time: i64,
}

/// An aggregate trade (`aggTrades`): the fills of one taker order at one price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"M": true, "T": 1498793709153_i64, "a": 26129, "f": 27781, "l": 27781, "m": true, "p": "0.01633102", "q": "4.70443515"}))]
pub struct AggTrade {
    /// `M`: always true.
    #[serde(rename = "M")]
    pub best_match: bool,
    /// `T`: ms since the Unix epoch.
    #[serde(rename = "T")]
    pub time: i64,
    /// `a`: the aggregate's id (its first trade's id).
    #[serde(rename = "a")]
    pub id: u64,
    /// `f`: first trade id.
    #[serde(rename = "f")]
    pub first_id: u64,
    /// `l`: last trade id.
    #[serde(rename = "l")]
    pub last_id: u64,
    /// `m`: the taker sold.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
    /// `p`: price.
    #[serde(rename = "p")]
    pub price: String,
    /// `q`: quantity.
    #[serde(rename = "q")]
    pub qty: String,
}

/// A candle: `[openTime, open, high, low, close, volume, closeTime,
/// quoteVolume, trades, takerBuyBase, takerBuyQuote, "0"]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kline(
    pub i64,
    pub String,
    pub String,
    pub String,
    pub String,
    pub String,
    pub i64,
    pub String,
    pub u64,
    pub String,
    pub String,
    pub &'static str,
);

impl PartialSchema for Kline {
    fn schema() -> RefOr<Schema> {
        let item = OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Integer)))
            .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::String)));
        ArrayBuilder::new()
            .items(item)
            .min_items(Some(12))
            .max_items(Some(12))
            .description(Some(
                "`[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, \
                 takerBuyBase, takerBuyQuote, \"0\"]`: times in ms and the trade count are \
                 numbers, prices and volumes decimal strings.",
            ))
            .examples([serde_json::json!([
                1499040000000_i64,
                "0.01634790",
                "0.80000000",
                "0.01575800",
                "0.01577100",
                "148976.11427815",
                1499644799999_i64,
                "2434.19055334",
                308,
                "1756.87402397",
                "28.46694368",
                "0"
            ])])
            .into()
    }
}

impl ToSchema for Kline {}

/// `avgPrice`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvgPrice {
    /// The last trade's time in the window (ms since the Unix epoch).
    pub close_time: i64,
    /// The window in minutes.
    pub mins: i64,
    #[schema(example = "9.35751834")]
    pub price: String,
}

/// `ticker/price`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TickerPrice {
    #[schema(example = "64000.01000000")]
    pub price: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
}

/// `ticker/bookTicker`: best bid and ask (zeros for an empty side).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookTicker {
    pub ask_price: String,
    pub ask_qty: String,
    pub bid_price: String,
    pub bid_qty: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
}

/// `ticker/24hr?type=MINI`: the rolling window's prices and volumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MiniTicker {
    /// Ms since the Unix epoch.
    pub close_time: i64,
    pub count: u64,
    /// -1 when the window holds no trade.
    pub first_id: i64,
    pub high_price: String,
    /// -1 when the window holds no trade.
    pub last_id: i64,
    pub last_price: String,
    pub low_price: String,
    pub open_price: String,
    /// Ms since the Unix epoch.
    pub open_time: i64,
    pub quote_volume: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    pub volume: String,
}

/// `ticker/24hr` (`type=FULL`, the default): the mini ticker's fields with
/// the change, average, previous close, last quantity and best levels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticker24hr {
    pub ask_price: String,
    pub ask_qty: String,
    pub bid_price: String,
    pub bid_qty: String,
    pub close_time: i64,
    pub count: u64,
    pub first_id: i64,
    pub high_price: String,
    pub last_id: i64,
    pub last_price: String,
    pub last_qty: String,
    pub low_price: String,
    pub open_price: String,
    pub open_time: i64,
    pub prev_close_price: String,
    pub price_change: String,
    /// Percent with 3 decimals.
    #[schema(example = "-95.960")]
    pub price_change_percent: String,
    pub quote_volume: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    pub volume: String,
    pub weighted_avg_price: String,
}

/// The best levels and the change fields a full ticker adds to a mini one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickerExtra {
    pub ask: Level,
    pub bid: Level,
    pub last_qty: String,
    pub prev_close_price: String,
    pub price_change: String,
    pub price_change_percent: String,
    pub weighted_avg_price: String,
}

impl Ticker24hr {
    pub fn new(mini: MiniTicker, extra: TickerExtra) -> Ticker24hr {
        Ticker24hr {
            ask_price: extra.ask.0,
            ask_qty: extra.ask.1,
            bid_price: extra.bid.0,
            bid_qty: extra.bid.1,
            close_time: mini.close_time,
            count: mini.count,
            first_id: mini.first_id,
            high_price: mini.high_price,
            last_id: mini.last_id,
            last_price: mini.last_price,
            last_qty: extra.last_qty,
            low_price: mini.low_price,
            open_price: mini.open_price,
            open_time: mini.open_time,
            prev_close_price: extra.prev_close_price,
            price_change: extra.price_change,
            price_change_percent: extra.price_change_percent,
            quote_volume: mini.quote_volume,
            symbol: mini.symbol,
            volume: mini.volume,
            weighted_avg_price: extra.weighted_avg_price,
        }
    }
}

/// A 24-hour ticker, full or mini.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnyTicker {
    Full(Box<Ticker24hr>),
    Mini(MiniTicker),
}

macro_rules! one_or_many {
    ($(#[$meta:meta])* $name:ident of $item:ty) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(untagged)]
        pub enum $name {
            One($item),
            Many(Vec<$item>),
        }
    };
}

one_or_many! {
    /// One ticker for `symbol`, an array for `symbols` or none.
    Tickers24hr of AnyTicker
}
one_or_many! {
    /// One price for `symbol`, an array for `symbols` or none.
    TickerPrices of TickerPrice
}
one_or_many! {
    /// One book ticker for `symbol`, an array for `symbols` or none.
    BookTickers of BookTicker
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sorted_json;

    #[test]
    fn bodies_are_written_in_sorted_key_order() {
        let depth = Depth {
            asks: vec![],
            bids: vec![("1".into(), "2".into())],
            last_update_id: 1,
        };
        assert_eq!(
            sorted_json(&depth),
            r#"{"asks":[],"bids":[["1","2"]],"lastUpdateId":1}"#
        );
        let agg = AggTrade {
            best_match: true,
            time: 5,
            id: 1,
            first_id: 1,
            last_id: 2,
            buyer_is_maker: false,
            price: "1".into(),
            qty: "2".into(),
        };
        assert_eq!(
            sorted_json(&agg),
            r#"{"M":true,"T":5,"a":1,"f":1,"l":2,"m":false,"p":"1","q":"2"}"#
        );
        let kline = Kline(
            1,
            "o".into(),
            "h".into(),
            "l".into(),
            "c".into(),
            "v".into(),
            2,
            "q".into(),
            3,
            "b".into(),
            "bq".into(),
            "0",
        );
        assert_eq!(
            serde_json::to_string(&kline).unwrap(),
            r#"[1,"o","h","l","c","v",2,"q",3,"b","bq","0"]"#
        );
        let mini = MiniTicker {
            close_time: 2,
            count: 0,
            first_id: -1,
            high_price: "h".into(),
            last_id: -1,
            last_price: "l".into(),
            low_price: "lo".into(),
            open_price: "o".into(),
            open_time: 1,
            quote_volume: "qv".into(),
            symbol: "BTCUSDT".into(),
            volume: "v".into(),
        };
        sorted_json(&mini);
        let extra = TickerExtra {
            ask: ("a".into(), "aq".into()),
            bid: ("b".into(), "bq".into()),
            last_qty: "lq".into(),
            prev_close_price: "p".into(),
            price_change: "c".into(),
            price_change_percent: "0.000".into(),
            weighted_avg_price: "w".into(),
        };
        sorted_json(&Tickers24hr::Many(vec![AnyTicker::Full(Box::new(
            Ticker24hr::new(mini, extra),
        ))]));
        sorted_json(&BookTickers::One(BookTicker {
            ask_price: "1".into(),
            ask_qty: "2".into(),
            bid_price: "3".into(),
            bid_qty: "4".into(),
            symbol: "S".into(),
        }));
        sorted_json(&TickerPrices::One(TickerPrice {
            price: "1".into(),
            symbol: "S".into(),
        }));
        sorted_json(&AvgPrice {
            close_time: 1,
            mins: 5,
            price: "1".into(),
        });
        sorted_json(&PublicTrade {
            id: 1,
            is_best_match: true,
            is_buyer_maker: false,
            price: "1".into(),
            qty: "1".into(),
            quote_qty: "1".into(),
            time: 1,
        });
    }

    #[test]
    fn a_kline_is_documented_as_a_12_element_array() {
        let doc = serde_json::to_value(Kline::schema()).unwrap();
        assert_eq!(
            (doc["minItems"].as_u64(), doc["maxItems"].as_u64()),
            (Some(12), Some(12)),
            "{doc}"
        );
    }
}
