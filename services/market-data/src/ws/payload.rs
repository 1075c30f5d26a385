//! The stream payloads, field for field and in Binance's order (structs,
//! so the keys come out as declared): decimal strings from integers only.

use crate::interval;
use crate::view::{AggTrade, Candle, Level, MarketView, Stats, TradeRow, DAY_MS};
use flowex_binance::Market;
use serde::Serialize;

/// A market's number formats.
pub fn units(m: &MarketView) -> Market {
    Market::new(&m.info.cfg, &m.info.base, &m.info.quote)
}

fn levels(u: &Market, side: &[Level]) -> Vec<[String; 2]> {
    side.iter().map(|(p, q)| [u.price(*p), u.qty(*q)]).collect()
}

/// `<s>@trade`.
#[derive(Serialize)]
pub struct TradeEvent {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    t: u64,
    p: String,
    q: String,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

pub fn trade(u: &Market, t: &TradeRow, now: i64) -> TradeEvent {
    TradeEvent {
        e: "trade",
        event_time: now,
        s: u.symbol(),
        t: t.id,
        p: u.price(t.price),
        q: u.qty(t.qty),
        trade_time: t.time,
        m: t.buyer_is_maker,
        best_match: true,
    }
}

/// `<s>@aggTrade`.
#[derive(Serialize)]
pub struct AggTradeEvent {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    a: u64,
    p: String,
    q: String,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

pub fn agg_trade(u: &Market, a: &AggTrade, now: i64) -> AggTradeEvent {
    AggTradeEvent {
        e: "aggTrade",
        event_time: now,
        s: u.symbol(),
        a: a.id,
        p: u.price(a.price),
        q: u.qty(a.qty),
        f: a.first_id,
        l: a.last_id,
        trade_time: a.time,
        m: a.buyer_is_maker,
        best_match: true,
    }
}

/// The `k` of a kline event.
#[derive(Serialize)]
pub struct KlineBody {
    t: i64,
    #[serde(rename = "T")]
    close_time: i64,
    s: String,
    i: &'static str,
    f: i64,
    #[serde(rename = "L")]
    last_id: i64,
    o: String,
    c: String,
    h: String,
    l: String,
    v: String,
    n: u64,
    x: bool,
    q: String,
    #[serde(rename = "V")]
    taker_volume: String,
    #[serde(rename = "Q")]
    taker_quote: String,
    #[serde(rename = "B")]
    ignore: &'static str,
}

/// `<s>@kline_<i>`.
#[derive(Serialize)]
pub struct KlineEvent {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    k: KlineBody,
}

/// A kline event of interval number `idx`; `closed` once its bucket has ended.
pub fn kline(u: &Market, idx: usize, c: &Candle, closed: bool, now: i64) -> KlineEvent {
    let (name, iv) = interval::ALL[idx];
    // A bucket without trades has no trade ids: -1, like the ticker's.
    let (f, l) = if c.trades == 0 {
        (-1, -1)
    } else {
        (c.first_id as i64, c.last_id as i64)
    };
    KlineEvent {
        e: "kline",
        event_time: now,
        s: u.symbol(),
        k: KlineBody {
            t: c.open_time,
            close_time: iv.close_time(c.open_time),
            s: u.symbol(),
            i: name,
            f,
            last_id: l,
            o: u.price(c.open),
            c: u.price(c.close),
            h: u.price(c.high),
            l: u.price(c.low),
            v: u.qty_sum(c.volume),
            n: c.trades,
            x: closed,
            q: u.quote_sum(c.quote_volume),
            taker_volume: u.qty_sum(c.taker_buy_volume),
            taker_quote: u.quote_sum(c.taker_buy_quote),
            ignore: "0",
        },
    }
}

/// `<s>@miniTicker` and the items of `!miniTicker@arr`.
#[derive(Serialize)]
pub struct MiniTicker {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    c: String,
    o: String,
    h: String,
    l: String,
    v: String,
    q: String,
}

pub fn mini_ticker(u: &Market, s: &Stats, now: i64) -> MiniTicker {
    MiniTicker {
        e: "24hrMiniTicker",
        event_time: now,
        s: u.symbol(),
        c: u.price(s.last),
        o: u.price(s.open),
        h: u.price(s.high),
        l: u.price(s.low),
        v: u.qty_sum(s.volume),
        q: u.quote_sum(s.quote_volume),
    }
}

/// `<s>@ticker` and the items of `!ticker@arr`.
#[derive(Serialize)]
pub struct Ticker {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    p: String,
    #[serde(rename = "P")]
    percent: String,
    w: String,
    x: String,
    c: String,
    #[serde(rename = "Q")]
    last_qty: String,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
    o: String,
    h: String,
    l: String,
    v: String,
    q: String,
    #[serde(rename = "O")]
    open_time: i64,
    #[serde(rename = "C")]
    close_time: i64,
    #[serde(rename = "F")]
    first_id: i64,
    #[serde(rename = "L")]
    last_id: i64,
    n: u64,
}

pub fn ticker(m: &MarketView, s: &Stats, now: i64) -> Ticker {
    let u = units(m);
    let change = i128::from(s.last) - i128::from(s.open);
    let magnitude = u.price(u64::try_from(change.unsigned_abs()).unwrap_or(u64::MAX));
    let avg = if s.volume == 0 {
        s.last.saturating_mul(m.info.cfg.tick_size)
    } else {
        m.average_price(s.quote_volume, s.volume)
    };
    let (bid, ask) = m.best();
    let (first, last) = s
        .first_last_id
        .map_or((-1, -1), |(f, l)| (f as i64, l as i64));
    Ticker {
        e: "24hrTicker",
        event_time: now,
        s: u.symbol(),
        p: if change < 0 {
            format!("-{magnitude}")
        } else {
            magnitude
        },
        percent: crate::api::percent(change, s.open),
        w: u.quote(avg),
        x: u.price(s.prev_close),
        c: u.price(s.last),
        last_qty: u.qty(s.last_qty),
        b: u.price(bid.map_or(0, |b| b.0)),
        bid_qty: u.qty(bid.map_or(0, |b| b.1)),
        a: u.price(ask.map_or(0, |a| a.0)),
        ask_qty: u.qty(ask.map_or(0, |a| a.1)),
        o: u.price(s.open),
        h: u.price(s.high),
        l: u.price(s.low),
        v: u.qty_sum(s.volume),
        q: u.quote_sum(s.quote_volume),
        open_time: now - DAY_MS,
        close_time: now,
        first_id: first,
        last_id: last,
        n: s.count,
    }
}

/// `<s>@bookTicker`.
#[derive(Serialize)]
pub struct BookTicker {
    u: u64,
    s: String,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
}

pub fn book_ticker(m: &MarketView) -> BookTicker {
    let u = units(m);
    let (bid, ask) = m.best();
    BookTicker {
        u: m.update_id(),
        s: u.symbol(),
        b: u.price(bid.map_or(0, |b| b.0)),
        bid_qty: u.qty(bid.map_or(0, |b| b.1)),
        a: u.price(ask.map_or(0, |a| a.0)),
        ask_qty: u.qty(ask.map_or(0, |a| a.1)),
    }
}

/// `<s>@avgPrice`.
#[derive(Serialize)]
pub struct AvgPrice {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    i: &'static str,
    w: String,
    #[serde(rename = "T")]
    trade_time: i64,
}

pub fn avg_price(m: &MarketView, now: i64) -> AvgPrice {
    // The REST body's numbers, so both always agree.
    let rest = crate::api::avg_price_json(m, now);
    AvgPrice {
        e: "avgPrice",
        event_time: now,
        s: units(m).symbol(),
        i: "5m",
        w: rest.price,
        trade_time: rest.close_time,
    }
}

/// `<s>@depth<N>`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Partial {
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

pub fn partial(m: &MarketView, n: usize) -> Partial {
    let u = units(m);
    let (bids, asks) = m.depth(n);
    Partial {
        last_update_id: m.update_id(),
        bids: levels(&u, &bids),
        asks: levels(&u, &asks),
    }
}

/// `<s>@depth`: the levels that changed between update ids `U` and `u`.
#[derive(Serialize)]
pub struct DepthUpdate {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    s: String,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    b: Vec<[String; 2]>,
    a: Vec<[String; 2]>,
}

pub fn depth_update(
    u: &Market,
    (first, last): (u64, u64),
    bids: &[Level],
    asks: &[Level],
    now: i64,
) -> DepthUpdate {
    DepthUpdate {
        e: "depthUpdate",
        event_time: now,
        s: u.symbol(),
        first,
        u: last,
        b: levels(u, bids),
        a: levels(u, asks),
    }
}
