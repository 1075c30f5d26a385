//! The public market-data endpoints of the Binance Spot API v3: `depth`,
//! `trades`, `historicalTrades`, `aggTrades`, `klines`, `uiKlines`,
//! `avgPrice`, `ticker/24hr`, `ticker/price`, `ticker/bookTicker`.
//!
//! Answered from the [`View`](crate::view::View) (the engine's events),
//! except `historicalTrades` from an id older than the trades kept in
//! memory, which reads the SQL trade history. Decimals are strings
//! formatted from integers with the market's units; times are ms numbers.

use crate::interval::Interval;
use crate::view::{Candle, MarketView, Stats, TradeRow, DAY_MS};
use crate::MarketDataState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flowex_binance::market_data::{
    AggTrade, AnyTicker, AvgPrice, BookTicker, BookTickers, Depth, Kline, Level, MiniTicker,
    PublicTrade, Ticker24hr, TickerExtra, TickerPrice, TickerPrices, Tickers24hr,
};
use flowex_binance::params as doc;
use flowex_http::openapi::BinanceError;
use flowex_http::{ApiError, Params};
use flowex_types::format_scaled;

/// Most levels per side `depth` returns (larger limits are cut to it).
pub const MAX_DEPTH: u64 = 5000;
/// Most rows the list endpoints return (larger limits are cut to it).
pub const MAX_ROWS: u64 = 1000;
/// Longest `startTime`..`endTime` span of `aggTrades` (Binance: one hour).
pub const AGG_TRADES_MAX_SPAN_MS: i64 = 60 * 60 * 1000;
/// `avgPrice`'s window in minutes.
pub const AVG_PRICE_MINS: i64 = 5;

const SYMBOL_RANGE: &str = "^[A-Z0-9-_.]{1,20}$";
const SYMBOLS_RANGE: &str = r#"^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$"#;
const NUMBER_RANGE: &str = "^[0-9]{1,20}$";

use flowex_http::clock::now_ms_i64 as now_ms;

// ------------------------------------------------------------ parameters

fn is_symbol(s: &str) -> bool {
    (1..=20).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// The mandatory `symbol`: -1102 missing, -1100 malformed (else the caller
/// looks it up: -1121).
fn symbol_param(p: &Params) -> Result<String, ApiError> {
    let s = p.required("symbol")?;
    if !is_symbol(s) {
        return Err(ApiError::illegal_chars_in("symbol", SYMBOL_RANGE));
    }
    Ok(s.to_string())
}

/// An optional non-negative integer: -1100 for anything but digits,
/// -1130 when it does not fit.
fn number(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(v) = p.optional(name)? else {
        return Ok(None);
    };
    if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::illegal_chars_in(name, NUMBER_RANGE));
    }
    v.parse()
        .map(Some)
        .map_err(|_| ApiError::invalid_parameter(name))
}

/// An id: a number the store's `BIGINT` holds (at most 2^63 − 1), -1130
/// past it, as every id at the edge.
fn id_param(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    match number(p, name)? {
        Some(id) if !flowex_http::ids::in_range(id) => Err(ApiError::invalid_parameter(name)),
        other => Ok(other),
    }
}

/// A time in ms (a number that fits `i64`).
fn time_param(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    number(p, name)?
        .map(|v| i64::try_from(v).map_err(|_| ApiError::invalid_parameter(name)))
        .transpose()
}

/// `limit`: `default` when absent, cut to `max`, 0 is -1130.
fn limit_param(p: &Params, default: u64, max: u64) -> Result<usize, ApiError> {
    match number(p, "limit")? {
        None => Ok(default as usize),
        Some(0) => Err(ApiError::invalid_parameter("limit")),
        Some(l) => Ok(l.min(max) as usize),
    }
}

/// `startTime`/`endTime`, -1023 when the start is after the end.
fn time_range(p: &Params) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let start = time_param(p, "startTime")?;
    let end = time_param(p, "endTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(ApiError::binance(
                StatusCode::BAD_REQUEST,
                -1023,
                "start_after_end",
                "Start time is greater than end time.",
            ));
        }
    }
    Ok((start, end))
}

/// Which markets a ticker asks for: one (`symbol`), a list (`symbols`, a
/// JSON array), or all. Both is -1128; unknown symbols -1121.
enum Wanted {
    One(String),
    Many(Vec<String>),
    All,
}

fn wanted(p: &Params) -> Result<Wanted, ApiError> {
    let symbol = p.optional("symbol")?;
    let symbols = p.optional("symbols")?;
    match (symbol, symbols) {
        (Some(_), Some(_)) => Err(ApiError::binance(
            StatusCode::BAD_REQUEST,
            -1128,
            "invalid_parameter_combination",
            "Combination of optional parameters invalid. Recommendation: 'symbol' and 'symbols' cannot both be sent.",
        )),
        (Some(s), None) if is_symbol(s) => Ok(Wanted::One(s.to_string())),
        (Some(_), None) => Err(ApiError::illegal_chars_in("symbol", SYMBOL_RANGE)),
        (None, Some(list)) => {
            let bad = || ApiError::illegal_chars_in("symbols", SYMBOLS_RANGE);
            let list: Vec<String> = serde_json::from_str(list).map_err(|_| bad())?;
            if !list.iter().all(|s| is_symbol(s)) {
                return Err(bad());
            }
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for s in list {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Ok(Wanted::Many(out))
        }
        (None, None) => Ok(Wanted::All),
    }
}

/// Renders the wanted markets with `row`: one for `symbol`, all of them otherwise.
fn tickers<T>(
    state: &MarketDataState,
    wanted: Wanted,
    row: impl Fn(&MarketView) -> T,
) -> Result<(Option<T>, Vec<T>), ApiError> {
    let view = state.read();
    match wanted {
        Wanted::One(s) => Ok((Some(row(market(&view, &s)?)), Vec::new())),
        Wanted::Many(list) => list
            .iter()
            .map(|s| market(&view, s).map(&row))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| (None, v)),
        Wanted::All => {
            started(&view)?;
            Ok((None, view.markets().map(row).collect()))
        }
    }
}

fn market<'a>(view: &'a crate::view::View, symbol: &str) -> Result<&'a MarketView, ApiError> {
    started(view)?;
    view.market(symbol).ok_or_else(ApiError::invalid_symbol)
}

/// 503 until the view has started (its first snapshot is being read).
fn started(view: &crate::view::View) -> Result<(), ApiError> {
    if view.started() {
        Ok(())
    } else {
        Err(ApiError::unavailable("market data is starting"))
    }
}

// ------------------------------------------------------------ formatting

fn levels(m: &MarketView, side: &[(u64, u64)]) -> Vec<Level> {
    side.iter()
        .map(|(p, q)| (m.info.price_str(*p), m.info.qty_str(*q)))
        .collect()
}

fn public_trade(m: &MarketView, t: &TradeRow) -> PublicTrade {
    PublicTrade {
        id: t.id,
        is_best_match: true,
        is_buyer_maker: t.buyer_is_maker,
        price: m.info.price_str(t.price),
        qty: m.info.qty_str(t.qty),
        quote_qty: m.info.quote_str(t.quote_qty),
        time: t.time,
    }
}

fn trade_list(m: &MarketView, rows: &[TradeRow]) -> Json<Vec<PublicTrade>> {
    Json(rows.iter().map(|t| public_trade(m, t)).collect())
}

fn kline(m: &MarketView, iv: Interval, c: &Candle) -> Kline {
    Kline(
        c.open_time,
        m.info.price_str(c.open),
        m.info.price_str(c.high),
        m.info.price_str(c.low),
        m.info.price_str(c.close),
        m.info.qty_sum_str(c.volume),
        iv.close_time(c.open_time),
        m.info.quote_sum_str(c.quote_volume),
        c.trades,
        m.info.qty_sum_str(c.taker_buy_volume),
        m.info.quote_sum_str(c.taker_buy_quote),
        "0",
    )
}

/// A signed price difference in ticks.
fn signed_price(m: &MarketView, ticks: i128) -> String {
    let abs = m
        .info
        .price_str(u64::try_from(ticks.unsigned_abs()).unwrap_or(u64::MAX));
    if ticks < 0 {
        format!("-{abs}")
    } else {
        abs
    }
}

/// `change / open` in percent with 3 decimals, rounded half away from zero.
pub fn percent(change: i128, open: u64) -> String {
    if open == 0 {
        return "0.000".into();
    }
    let open = i128::from(open);
    // percent x 1000 = change x 100_000 / open
    let scaled =
        (change.unsigned_abs() * 200_000 + open.unsigned_abs()) / (2 * open.unsigned_abs());
    let text = format_scaled(u64::try_from(scaled).unwrap_or(u64::MAX), 3);
    if change < 0 && scaled != 0 {
        format!("-{text}")
    } else {
        text
    }
}

fn mini_ticker(m: &MarketView, s: &Stats, now: i64) -> MiniTicker {
    let (first, last) = s
        .first_last_id
        .map_or((-1, -1), |(f, l)| (f as i64, l as i64));
    MiniTicker {
        close_time: now,
        count: s.count,
        first_id: first,
        high_price: m.info.price_str(s.high),
        last_id: last,
        last_price: m.info.price_str(s.last),
        low_price: m.info.price_str(s.low),
        open_price: m.info.price_str(s.open),
        open_time: now - DAY_MS,
        quote_volume: m.info.quote_sum_str(s.quote_volume),
        symbol: m.info.cfg.symbol.as_str().to_string(),
        volume: m.info.qty_sum_str(s.volume),
    }
}

fn ticker(m: &MarketView, s: &Stats, now: i64, full: bool) -> AnyTicker {
    let mini = mini_ticker(m, s, now);
    if !full {
        return AnyTicker::Mini(mini);
    }
    let change = i128::from(s.last) - i128::from(s.open);
    let avg = if s.volume == 0 {
        s.last
    } else {
        m.average_price(s.quote_volume, s.volume)
    };
    let extra = TickerExtra {
        ask: best_level(m, m.best().1),
        bid: best_level(m, m.best().0),
        last_qty: m.info.qty_str(s.last_qty),
        prev_close_price: m.info.price_str(s.prev_close),
        price_change: signed_price(m, change),
        price_change_percent: percent(change, s.open),
        weighted_avg_price: m.info.quote_str(avg),
    };
    AnyTicker::Full(Box::new(Ticker24hr::new(mini, extra)))
}

/// A best level as `[price, quantity]`, zeros for an empty side.
fn best_level(m: &MarketView, level: Option<(u64, u64)>) -> Level {
    let (price, qty) = level.unwrap_or((0, 0));
    (m.info.price_str(price), m.info.qty_str(qty))
}

// ------------------------------------------------------------ handlers

/// `GET /api/v3/depth`.
#[utoipa::path(get, path = "/api/v3/depth", tag = "market-data",
    summary = "Order book",
    description = "The aggregated book, best levels first. `lastUpdateId` is the engine's update id of the market's last book change: the diff depth stream continues from it.",
    params(doc::DepthParams),
    responses(
        (status = 200, description = "The book.", body = Depth),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1100/-1130 bad limit.", body = BinanceError),
    ))]
pub async fn depth(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Depth>, ApiError> {
    let symbol = symbol_param(&p)?;
    let limit = limit_param(&p, 100, MAX_DEPTH)?;
    let view = state.read();
    let m = market(&view, &symbol)?;
    let (bids, asks) = m.depth(limit);
    Ok(Json(Depth {
        asks: levels(m, &asks),
        bids: levels(m, &bids),
        last_update_id: m.update_id(),
    }))
}

/// `GET /api/v3/trades`.
#[utoipa::path(get, path = "/api/v3/trades", tag = "market-data",
    summary = "Recent trades",
    description = "The newest trades of a symbol, oldest first.",
    params(doc::TradesParams),
    responses(
        (status = 200, description = "Trades.", body = Vec<PublicTrade>),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1100/-1130 bad limit.", body = BinanceError),
    ))]
pub async fn trades(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Vec<PublicTrade>>, ApiError> {
    let symbol = symbol_param(&p)?;
    let limit = limit_param(&p, 500, MAX_ROWS)?;
    let view = state.read();
    let m = market(&view, &symbol)?;
    Ok(trade_list(m, &m.recent_trades(limit)))
}

/// `GET /api/v3/historicalTrades`.
#[utoipa::path(get, path = "/api/v3/historicalTrades", tag = "market-data",
    summary = "Old trade lookup",
    description = "Trades from `fromId` on (or the newest), oldest first. Public in FlowEx (no API key needed). Ids older than the trades kept in memory are read from the trade history.",
    params(doc::HistoricalTradesParams),
    responses(
        (status = 200, description = "Trades.", body = Vec<PublicTrade>),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1100/-1130 bad limit or fromId.", body = BinanceError),
    ))]
pub async fn historical_trades(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Vec<PublicTrade>>, ApiError> {
    let symbol = symbol_param(&p)?;
    let limit = limit_param(&p, 500, MAX_ROWS)?;
    let from_id = id_param(&p, "fromId")?;
    let (market_id, older) = {
        let view = state.read();
        let m = market(&view, &symbol)?;
        let Some(from) = from_id else {
            return Ok(trade_list(m, &m.recent_trades(limit)));
        };
        let kept_from = m.oldest_trade().map_or(u64::MAX, |t| t.id);
        if from >= kept_from || state.store().is_none() {
            return Ok(trade_list(m, &m.trades_from(from, limit)));
        }
        (m.info.cfg.id, from)
    };
    let Some(store) = state.store() else {
        return Ok(Json(Vec::new()));
    };
    let rows = store
        .list_market_trades(u64::from(market_id.0), Some(older), limit as u32)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let rows: Vec<TradeRow> = rows.iter().map(TradeRow::from).collect();
    let view = state.read();
    Ok(trade_list(market(&view, &symbol)?, &rows))
}

/// `GET /api/v3/aggTrades`.
#[utoipa::path(get, path = "/api/v3/aggTrades", tag = "market-data",
    summary = "Compressed/aggregate trades",
    description = "Fills of one taker order at one price, aggregated; `a` is the aggregate's id (its first trade's id). From `fromId`, or within `startTime`..`endTime` (at most one hour apart), or the newest; oldest first. Covers the trades kept in memory.",
    params(doc::AggTradesParams),
    responses(
        (status = 200, description = "Aggregate trades.", body = Vec<AggTrade>),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol, -1023 startTime after endTime, -1127 more than an hour between them, -1100/-1130 bad values.", body = BinanceError),
    ))]
pub async fn agg_trades(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Vec<AggTrade>>, ApiError> {
    let symbol = symbol_param(&p)?;
    let limit = limit_param(&p, 500, MAX_ROWS)?;
    let from_id = id_param(&p, "fromId")?;
    let (start, end) = time_range(&p)?;
    if let (Some(s), Some(e)) = (start, end) {
        if e - s > AGG_TRADES_MAX_SPAN_MS {
            return Err(ApiError::lookup_interval_too_big());
        }
    }
    let view = state.read();
    let m = market(&view, &symbol)?;
    let all = m.agg_trades();
    let selected: Vec<_> = all
        .iter()
        .filter(|a| from_id.is_none_or(|f| a.id >= f))
        .filter(|a| start.is_none_or(|s| a.time >= s))
        .filter(|a| end.is_none_or(|e| a.time <= e))
        .collect();
    let picked: &[_] = if from_id.is_none() && start.is_none() && end.is_none() {
        &selected[selected.len().saturating_sub(limit)..]
    } else if from_id.is_none() && start.is_none() {
        // Only an end: the newest ones up to it.
        &selected[selected.len().saturating_sub(limit)..]
    } else {
        &selected[..selected.len().min(limit)]
    };
    Ok(Json(
        picked
            .iter()
            .map(|a| AggTrade {
                best_match: true,
                time: a.time,
                id: a.id,
                first_id: a.first_id,
                last_id: a.last_id,
                buyer_is_maker: a.buyer_is_maker,
                price: m.info.price_str(a.price),
                qty: m.info.qty_str(a.qty),
            })
            .collect(),
    ))
}

/// `GET /api/v3/klines`.
#[utoipa::path(get, path = "/api/v3/klines", tag = "market-data",
    summary = "Kline/candlestick data",
    description = "Candles of an interval (`1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M`, UTC; weeks start on Monday, months on the 1st), identified by their open time: from `startTime`, up to `endTime`, or the newest; oldest first. Every interval from the oldest candle kept to the current one has a candle: those without trades are flat at the previous close with zero volume.",
    params(doc::KlinesParams),
    responses(
        (status = 200, description = "Candles, oldest first.", body = Vec<Kline>),
        (status = 400, description = "-1102 symbol or interval missing, -1121 invalid symbol, -1120 invalid interval, -1023 startTime after endTime, -1100/-1130 bad values.", body = BinanceError),
    ))]
pub async fn klines(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Vec<Kline>>, ApiError> {
    klines_of(&state, &p)
}

/// `GET /api/v3/uiKlines`.
#[utoipa::path(get, path = "/api/v3/uiKlines", tag = "market-data",
    summary = "UI klines",
    description = "The same candles as `klines` (FlowEx applies no presentation changes).",
    params(doc::KlinesParams),
    responses(
        (status = 200, description = "As `klines`.", body = Vec<Kline>),
        (status = 400, description = "As `klines`.", body = BinanceError),
    ))]
pub async fn ui_klines(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Vec<Kline>>, ApiError> {
    klines_of(&state, &p)
}

fn klines_of(state: &MarketDataState, p: &Params) -> Result<Json<Vec<Kline>>, ApiError> {
    let symbol = symbol_param(p)?;
    let name = p.required("interval")?;
    let (idx, iv) = Interval::parse(name).ok_or_else(ApiError::invalid_interval)?;
    let (start, end) = time_range(p)?;
    let limit = limit_param(p, 500, MAX_ROWS)?;
    match p.optional("timeZone")? {
        None | Some("0") | Some("+0") | Some("-0") | Some("00:00") | Some("+00:00") => {}
        Some(_) => return Err(ApiError::invalid_parameter("timeZone")),
    }
    let view = state.read();
    let m = market(&view, &symbol)?;
    let rows = m.klines(idx, start, end, limit, now_ms());
    Ok(Json(rows.iter().map(|c| kline(m, iv, c)).collect()))
}

/// `GET /api/v3/avgPrice`.
#[utoipa::path(get, path = "/api/v3/avgPrice", tag = "market-data",
    summary = "Current average price",
    description = "Quote volume over base volume of the last 5 minutes of trades; with none, the last price. `closeTime` is the last trade's time.",
    params(doc::SymbolParam),
    responses(
        (status = 200, description = "The average price.", body = AvgPrice),
        (status = 400, description = "-1102 symbol missing, -1121 invalid symbol.", body = BinanceError),
    ))]
pub async fn avg_price(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<AvgPrice>, ApiError> {
    let symbol = symbol_param(&p)?;
    let now = now_ms();
    let view = state.read();
    let m = market(&view, &symbol)?;
    Ok(Json(avg_price_json(m, now)))
}

/// The `avgPrice` body at `now`.
pub fn avg_price_json(m: &MarketView, now: i64) -> AvgPrice {
    let (quote, lots, last_in_window) = m.volume_between(now - AVG_PRICE_MINS * 60_000, now);
    let last = m.last_trade();
    let price = if lots == 0 {
        last.map_or(0, |t| t.price.saturating_mul(m.info.cfg.tick_size))
    } else {
        m.average_price(quote, lots)
    };
    AvgPrice {
        close_time: last_in_window.or(last.map(|t| t.time)).unwrap_or(0),
        mins: AVG_PRICE_MINS,
        price: m.info.quote_str(price),
    }
}

/// `GET /api/v3/ticker/24hr`.
#[utoipa::path(get, path = "/api/v3/ticker/24hr", tag = "market-data",
    summary = "24hr ticker price change statistics",
    description = "Rolling 24-hour statistics (by whole minutes, so the window may be up to a minute wider). `symbol` gives one object; `symbols` or nothing an array. `type=MINI` leaves out the change, average, previous close, last quantity and book fields. `firstId`/`lastId` are -1 when the window holds no trade.",
    params(doc::Ticker24hrParams),
    responses(
        (status = 200, description = "A ticker or an array of them.", body = Tickers24hr),
        (status = 400, description = "-1121 invalid symbol, -1128 symbol and symbols both sent, -1100 malformed symbol(s), -1139 invalid type.", body = BinanceError),
    ))]
pub async fn ticker_24hr(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<Tickers24hr>, ApiError> {
    let wanted = wanted(&p)?;
    let full = match p.optional("type")? {
        None | Some("FULL") => true,
        Some("MINI") => false,
        Some(_) => {
            return Err(ApiError::binance(
                StatusCode::BAD_REQUEST,
                -1139,
                "invalid_ticker_type",
                "Invalid ticker type.",
            ))
        }
    };
    let now = now_ms();
    let (one, many) = tickers(&state, wanted, |m| ticker(m, &m.stats(now), now, full))?;
    Ok(Json(one.map_or(Tickers24hr::Many(many), Tickers24hr::One)))
}

/// `GET /api/v3/ticker/price`.
#[utoipa::path(get, path = "/api/v3/ticker/price", tag = "market-data",
    summary = "Symbol price ticker",
    description = "The last trade price (0 before the first trade): one object for `symbol`, an array for `symbols` or none.",
    params(doc::TickerParams),
    responses(
        (status = 200, description = "A price or an array of them.", body = TickerPrices),
        (status = 400, description = "-1121 invalid symbol, -1128 symbol and symbols both sent, -1100 malformed symbol(s).", body = BinanceError),
    ))]
pub async fn ticker_price(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<TickerPrices>, ApiError> {
    let wanted = wanted(&p)?;
    let (one, many) = tickers(&state, wanted, |m| TickerPrice {
        price: m.info.price_str(m.last_trade().map_or(0, |t| t.price)),
        symbol: m.info.cfg.symbol.as_str().to_string(),
    })?;
    Ok(Json(
        one.map_or(TickerPrices::Many(many), TickerPrices::One),
    ))
}

/// `GET /api/v3/ticker/bookTicker`.
#[utoipa::path(get, path = "/api/v3/ticker/bookTicker", tag = "market-data",
    summary = "Symbol order book ticker",
    description = "Best bid and ask with their quantities (zeros for an empty side): one object for `symbol`, an array for `symbols` or none.",
    params(doc::TickerParams),
    responses(
        (status = 200, description = "A book ticker or an array of them.", body = BookTickers),
        (status = 400, description = "-1121 invalid symbol, -1128 symbol and symbols both sent, -1100 malformed symbol(s).", body = BinanceError),
    ))]
pub async fn book_ticker(
    State(state): State<MarketDataState>,
    p: Params,
) -> Result<Json<BookTickers>, ApiError> {
    let wanted = wanted(&p)?;
    let (one, many) = tickers(&state, wanted, |m| {
        let (bid, ask) = m.best();
        let ((bid_price, bid_qty), (ask_price, ask_qty)) = (best_level(m, bid), best_level(m, ask));
        BookTicker {
            ask_price,
            ask_qty,
            bid_price,
            bid_qty,
            symbol: m.info.cfg.symbol.as_str().to_string(),
        }
    })?;
    Ok(Json(one.map_or(BookTickers::Many(many), BookTickers::One)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::{listed, record, trade, T0};
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    /// The router over a started view with two trades and a book.
    fn app() -> axum::Router {
        let mut view = listed();
        view.apply(&record(
            4,
            T0,
            vec![
                trade(1, 6_000_000, 100, 9, false),
                trade(2, 6_000_001, 50, 9, false),
                flowex_types::Event::BookChanged {
                    market: flowex_types::MarketId(1),
                    side: flowex_types::Side::Buy,
                    price: 5_999_999,
                    qty: 300,
                    update_id: 1,
                },
            ],
        ));
        let state = MarketDataState::new();
        state.install(view);
        shaped(crate::router(state))
    }

    /// With the error-shape layer the service stack has (Binance bodies on /api/v3).
    fn shaped(app: axum::Router) -> axum::Router {
        app.layer(axum::middleware::from_fn(flowex_http::error_shape))
    }

    async fn get(app: &axum::Router, uri: &str) -> (u16, Value) {
        let res = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The bodies byte for byte (key order, decimal strings), with times
    /// that depend on the clock (`openTime`/`closeTime` of tickers) masked.
    #[tokio::test]
    async fn bodies_are_byte_exact() {
        let app = app();
        let cases: &[(&str, &str)] = &[
            (
                "/api/v3/depth?symbol=BTCUSDT",
                r#"{"asks":[],"bids":[["59999.99000000","0.00300000"]],"lastUpdateId":1}"#,
            ),
            (
                "/api/v3/trades?symbol=BTCUSDT",
                r#"[{"id":1,"isBestMatch":true,"isBuyerMaker":false,"price":"60000.00000000","qty":"0.00100000","quoteQty":"60.00000000","time":1709214330123},{"id":2,"isBestMatch":true,"isBuyerMaker":false,"price":"60000.01000000","qty":"0.00050000","quoteQty":"30.00000500","time":1709214330123}]"#,
            ),
            (
                "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=2",
                r#"[{"id":2,"isBestMatch":true,"isBuyerMaker":false,"price":"60000.01000000","qty":"0.00050000","quoteQty":"30.00000500","time":1709214330123}]"#,
            ),
            (
                "/api/v3/aggTrades?symbol=BTCUSDT",
                r#"[{"M":true,"T":1709214330123,"a":1,"f":1,"l":1,"m":false,"p":"60000.00000000","q":"0.00100000"},{"M":true,"T":1709214330123,"a":2,"f":2,"l":2,"m":false,"p":"60000.01000000","q":"0.00050000"}]"#,
            ),
            (
                "/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime=0&limit=1",
                r#"[[1709164800000,"60000.00000000","60000.01000000","60000.00000000","60000.01000000","0.00150000",1709251199999,"90.00000500",2,"0.00150000","90.00000500","0"]]"#,
            ),
            (
                "/api/v3/ticker/price?symbol=BTCUSDT",
                r#"{"price":"60000.01000000","symbol":"BTCUSDT"}"#,
            ),
            (
                "/api/v3/ticker/price",
                r#"[{"price":"60000.01000000","symbol":"BTCUSDT"}]"#,
            ),
            (
                "/api/v3/ticker/bookTicker?symbol=BTCUSDT",
                r#"{"askPrice":"0.00000000","askQty":"0.00000000","bidPrice":"59999.99000000","bidQty":"0.00300000","symbol":"BTCUSDT"}"#,
            ),
        ];
        for (uri, want) in cases {
            let (s, body) = get_raw(&app, uri).await;
            assert_eq!((s, body.as_str()), (200, *want), "{uri}");
        }
        let view = {
            let mut view = listed();
            view.apply(&record(4, T0, vec![trade(1, 6_000_000, 100, 9, true)]));
            view
        };
        let m = view.market("BTCUSDT").unwrap();
        assert_eq!(
            serde_json::to_string(&avg_price_json(m, T0)).unwrap(),
            r#"{"closeTime":1709214330123,"mins":5,"price":"60000.00000000"}"#
        );
        let s = m.stats(T0);
        let ticker = |full| serde_json::to_string(&ticker(m, &s, T0, full)).unwrap();
        assert_eq!(
            ticker(false),
            r#"{"closeTime":1709214330123,"count":1,"firstId":1,"highPrice":"60000.00000000","lastId":1,"lastPrice":"60000.00000000","lowPrice":"60000.00000000","openPrice":"60000.00000000","openTime":1709127930123,"quoteVolume":"60.00000000","symbol":"BTCUSDT","volume":"0.00100000"}"#
        );
        assert_eq!(
            ticker(true),
            r#"{"askPrice":"0.00000000","askQty":"0.00000000","bidPrice":"0.00000000","bidQty":"0.00000000","closeTime":1709214330123,"count":1,"firstId":1,"highPrice":"60000.00000000","lastId":1,"lastPrice":"60000.00000000","lastQty":"0.00100000","lowPrice":"60000.00000000","openPrice":"60000.00000000","openTime":1709127930123,"prevClosePrice":"0.00000000","priceChange":"0.00000000","priceChangePercent":"0.000","quoteVolume":"60.00000000","symbol":"BTCUSDT","volume":"0.00100000","weightedAvgPrice":"60000.00000000"}"#
        );
    }

    async fn get_raw(app: &axum::Router, uri: &str) -> (u16, String) {
        let res = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn answers_in_binance_shapes() {
        let app = app();
        let (s, v) = get(&app, "/api/v3/depth?symbol=BTCUSDT&limit=99999").await;
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"lastUpdateId": 1, "bids": [["59999.99000000", "0.00300000"]], "asks": []})
        );
        let (_, v) = get(&app, "/api/v3/trades?symbol=BTCUSDT&limit=1").await;
        assert_eq!(
            v,
            json!([{"id": 2, "price": "60000.01000000", "qty": "0.00050000", "quoteQty": "30.00000500",
                    "time": T0, "isBuyerMaker": false, "isBestMatch": true}])
        );
        let (_, v) = get(
            &app,
            "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1&limit=1",
        )
        .await;
        assert_eq!(v[0]["id"], 1);
        let (_, v) = get(&app, "/api/v3/aggTrades?symbol=BTCUSDT&fromId=2").await;
        assert_eq!(
            v,
            json!([{"a": 2, "p": "60000.01000000", "q": "0.00050000", "f": 2, "l": 2, "T": T0, "m": false, "M": true}])
        );
        let (_, v) = get(
            &app,
            &format!(
                "/api/v3/aggTrades?symbol=BTCUSDT&startTime={}&endTime={}",
                T0 + 1,
                T0 + 3_600_001
            ),
        )
        .await;
        assert_eq!(v, json!([]));
        let (_, v) = get(
            &app,
            &format!("/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime={T0}&limit=1"),
        )
        .await;
        // The day of the trades opened before startTime: the next one, flat.
        assert_eq!(
            (&v[0][0], &v[0][1], &v[0][5], &v[0][8]),
            (
                &json!(1_709_251_200_000_i64),
                &json!("60000.01000000"),
                &json!("0.00000000"),
                &json!(0)
            ),
            "{v}"
        );
        let (s, v) = get(
            &app,
            "/api/v3/uiKlines?symbol=BTCUSDT&interval=1w&timeZone=0&startTime=0&limit=1",
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v[0].as_array().map(Vec::len), Some(12), "{v}");
        assert_eq!(
            (&v[0][1], &v[0][4], &v[0][5], &v[0][7], &v[0][8], &v[0][11]),
            (
                &json!("60000.00000000"),
                &json!("60000.01000000"),
                &json!("0.00150000"),
                &json!("90.00000500"),
                &json!(2),
                &json!("0")
            )
        );
        let (_, v) = get(&app, "/api/v3/ticker/24hr?symbol=BTCUSDT").await;
        assert!(v.is_object(), "{v}");
        let (_, v) = get(
            &app,
            "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22,%22BTCUSDT%22%5D&type=MINI",
        )
        .await;
        assert_eq!(
            v.as_array().map(Vec::len),
            Some(1),
            "duplicates answered once: {v}"
        );
        assert!(
            v[0].get("priceChange").is_none() && v[0].get("lastPrice").is_some(),
            "{v}"
        );
        let (_, v) = get(&app, "/api/v3/ticker/24hr").await;
        assert_eq!(v.as_array().map(Vec::len), Some(1));
        let (_, v) = get(&app, "/api/v3/ticker/price?symbol=BTCUSDT").await;
        assert_eq!(v, json!({"symbol": "BTCUSDT", "price": "60000.01000000"}));
        let (_, v) = get(&app, "/api/v3/ticker/bookTicker").await;
        assert_eq!(
            v,
            json!([{"symbol": "BTCUSDT", "bidPrice": "59999.99000000", "bidQty": "0.00300000",
                    "askPrice": "0.00000000", "askQty": "0.00000000"}])
        );
    }

    #[tokio::test]
    async fn refuses_with_binance_codes_and_texts() {
        let app = app();
        let cases: &[(&str, i64, &str)] = &[
            ("/api/v3/depth", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
            ("/api/v3/depth?symbol=", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
            ("/api/v3/depth?symbol=btcusdt", -1100, "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."),
            ("/api/v3/depth?symbol=NOPE", -1121, "Invalid symbol."),
            ("/api/v3/trades?symbol=NOPE", -1121, "Invalid symbol."),
            ("/api/v3/avgPrice?symbol=NOPE", -1121, "Invalid symbol."),
            ("/api/v3/depth?symbol=BTCUSDT&limit=ten", -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."),
            ("/api/v3/depth?symbol=BTCUSDT&limit=0", -1130, "Data sent for parameter 'limit' is not valid."),
            ("/api/v3/trades?symbol=BTCUSDT&limit=-1", -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."),
            ("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=99999999999999999999", -1130, "Data sent for parameter 'fromId' is not valid."),
            ("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=9223372036854775808", -1130, "Data sent for parameter 'fromId' is not valid."),
            ("/api/v3/klines?symbol=BTCUSDT", -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."),
            ("/api/v3/klines?symbol=BTCUSDT&interval=2m", -1120, "Invalid interval."),
            ("/api/v3/uiKlines?symbol=BTCUSDT&interval=1H", -1120, "Invalid interval."),
            ("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=2&endTime=1", -1023, "Start time is greater than end time."),
            ("/api/v3/klines?symbol=BTCUSDT&interval=1m&timeZone=8", -1130, "Data sent for parameter 'timeZone' is not valid."),
            ("/api/v3/aggTrades?symbol=BTCUSDT&startTime=0&endTime=3600001", -1127, "Lookup interval is too big."),
            ("/api/v3/ticker/24hr?symbol=BTCUSDT&symbols=%5B%22BTCUSDT%22%5D", -1128, "Combination of optional parameters invalid. Recommendation: 'symbol' and 'symbols' cannot both be sent."),
            ("/api/v3/ticker/price?symbols=BTCUSDT", -1100, r#"Illegal characters found in parameter 'symbols'; legal range is '^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'."#),
            ("/api/v3/ticker/bookTicker?symbols=%5B%22NOPE%22%5D", -1121, "Invalid symbol."),
            ("/api/v3/ticker/24hr?type=HUGE", -1139, "Invalid ticker type."),
        ];
        for (uri, code, msg) in cases {
            let (s, v) = get(&app, uri).await;
            assert_eq!((s, v), (400, json!({"code": code, "msg": msg})), "{uri}");
        }
        // The exact span ccxt sends (one hour) is fine.
        let (s, _) = get(
            &app,
            "/api/v3/aggTrades?symbol=BTCUSDT&startTime=0&endTime=3600000",
        )
        .await;
        assert_eq!(s, 200);
        // Before the first snapshot: 503, not "Invalid symbol.".
        let starting = shaped(crate::router(MarketDataState::new()));
        for uri in ["/api/v3/depth?symbol=BTCUSDT", "/api/v3/ticker/price"] {
            let (s, _) = get(&starting, uri).await;
            assert_eq!(s, 503, "{uri}");
        }
    }

    #[test]
    fn percent_is_exact_and_rounded() {
        assert_eq!(percent(0, 100), "0.000");
        assert_eq!(percent(5, 100), "5.000");
        assert_eq!(percent(-5, 100), "-5.000");
        assert_eq!(percent(1, 3), "33.333");
        assert_eq!(percent(2, 3), "66.667");
        assert_eq!(percent(-2, 3), "-66.667");
        assert_eq!(percent(-9_500, 9_900), "-95.960");
        assert_eq!(percent(1, 100_000_000), "0.000");
        assert_eq!(percent(10, 0), "0.000");
        assert_eq!(percent(100, 1), "10000.000");
    }
}
