//! Market-data's own picture of the markets, built only from the engine's
//! events: per market the aggregated book (with the engine's update id),
//! the recent trades and the candles of every kline interval; plus the
//! assets and market configurations. Everything is integers (ticks, lots,
//! atoms; `u128` for sums) and every structure is bounded:
//!
//! - trades: the newest [`MAX_TRADES`] per market (older ones are in SQL);
//! - candles: the newest [`MAX_CANDLES`] per interval per market (1 500
//!   minutes covers the 24 h ticker window);
//! - the book: as large as the engine's (which bounds its orders per book).
//!
//! The view starts from a [`MarketSnapshot`] (exact at its seq) and the
//! trade history read from SQL, then [`View::apply`] each event record
//! after that seq, in order.

use crate::interval::{self, Interval};
use flowex_bus::wire::MarketSnapshot;
use flowex_bus::EventRecord;
use flowex_http::markets::MarketInfo;
use flowex_types::{AssetConfig, Event, MarketConfig, MarketId, MarketStatus, Side, Trade};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Trades kept in memory per market.
pub const MAX_TRADES: usize = 10_000;
/// Candles kept in memory per interval per market.
pub const MAX_CANDLES: usize = 1_500;
/// One day, the 24 h ticker's window.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A price level: (price in ticks, lots).
pub type Level = (u64, u64);

/// One fill, as the public trade lists show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRow {
    /// Per market, gap-free.
    pub id: u64,
    /// Ticks.
    pub price: u64,
    /// Lots.
    pub qty: u64,
    /// Quote atoms.
    pub quote_qty: u64,
    /// Ms since the epoch (the sequencer's stamp of the command).
    pub time: i64,
    /// The taker sold.
    pub buyer_is_maker: bool,
    /// The taker's order (fills of one taker order at one price aggregate).
    pub taker_order: u64,
}

impl TradeRow {
    /// A trade event of a record stamped `time_ms`.
    pub fn of(t: &Trade, time_ms: i64) -> TradeRow {
        TradeRow {
            id: t.id.0,
            price: t.price,
            qty: t.qty,
            quote_qty: t.quote_qty,
            time: time_ms,
            buyer_is_maker: t.taker_side == Side::Sell,
            taker_order: t.taker_order.0,
        }
    }
}

impl From<&flowex_store::TradeRecord> for TradeRow {
    fn from(t: &flowex_store::TradeRecord) -> TradeRow {
        TradeRow {
            id: t.id,
            price: t.price,
            qty: t.qty,
            quote_qty: t.quote_qty,
            time: t.time,
            buyer_is_maker: t.buyer_is_maker,
            taker_order: t.taker_order_id,
        }
    }
}

/// Consecutive fills of one taker order at one price (Binance's aggTrade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggTrade {
    /// The aggregate's id: its first trade's id (stable across restarts).
    pub id: u64,
    pub price: u64,
    /// Lots (a sum of `u64`s of one order: fits, the order's quantity does).
    pub qty: u64,
    pub first_id: u64,
    pub last_id: u64,
    pub time: i64,
    pub buyer_is_maker: bool,
}

/// One kline bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    pub open_time: i64,
    /// Ticks.
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    /// Lots.
    pub volume: u128,
    /// Quote atoms.
    pub quote_volume: u128,
    pub trades: u64,
    /// Lots and quote atoms of the trades whose taker bought.
    pub taker_buy_volume: u128,
    pub taker_buy_quote: u128,
    pub first_id: u64,
    pub last_id: u64,
}

impl Candle {
    fn new(open_time: i64, t: &TradeRow) -> Candle {
        let mut c = Candle {
            open_time,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: 0,
            quote_volume: 0,
            trades: 0,
            taker_buy_volume: 0,
            taker_buy_quote: 0,
            first_id: t.id,
            last_id: t.id,
        };
        c.add(t);
        c
    }

    fn add(&mut self, t: &TradeRow) {
        if t.id < self.first_id {
            // A trade older than the first one of the bucket (a clock that
            // stepped back): it opens the bucket.
            self.first_id = t.id;
            self.open = t.price;
        }
        if t.id >= self.last_id {
            self.last_id = t.id;
            self.close = t.price;
        }
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.volume += u128::from(t.qty);
        self.quote_volume += u128::from(t.quote_qty);
        self.trades += 1;
        if !t.buyer_is_maker {
            self.taker_buy_volume += u128::from(t.qty);
            self.taker_buy_quote += u128::from(t.quote_qty);
        }
    }

    /// An empty bucket after a close at `price` (Binance shows one for
    /// every interval, flat at the previous close).
    pub fn flat(open_time: i64, price: u64) -> Candle {
        Candle {
            open_time,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: 0,
            quote_volume: 0,
            trades: 0,
            taker_buy_volume: 0,
            taker_buy_quote: 0,
            first_id: 0,
            last_id: 0,
        }
    }
}

/// One market's book, trades and candles.
#[derive(Clone, Debug)]
pub struct MarketView {
    pub info: MarketInfo,
    /// Price → lots, each side.
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
    update_id: u64,
    trades: VecDeque<TradeRow>,
    candles: Vec<VecDeque<Candle>>,
}

/// The rolling 24 h statistics of a market (Binance's FULL ticker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub last: u64,
    pub last_qty: u64,
    /// Close before the window (0: none).
    pub prev_close: u64,
    pub volume: u128,
    pub quote_volume: u128,
    /// `None` when the window holds no trade.
    pub first_last_id: Option<(u64, u64)>,
    pub count: u64,
}

impl MarketView {
    fn new(info: MarketInfo) -> MarketView {
        MarketView {
            info,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            update_id: 0,
            trades: VecDeque::new(),
            candles: vec![VecDeque::new(); interval::ALL.len()],
        }
    }

    /// The engine's update id of the last book change applied.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Up to `levels` levels per side, best first: (bids, asks).
    pub fn depth(&self, levels: usize) -> (Vec<Level>, Vec<Level>) {
        let bids = self
            .bids
            .iter()
            .rev()
            .take(levels)
            .map(|(p, q)| (*p, *q))
            .collect();
        let asks = self
            .asks
            .iter()
            .take(levels)
            .map(|(p, q)| (*p, *q))
            .collect();
        (bids, asks)
    }

    /// Best bid and best ask (price, lots).
    pub fn best(&self) -> (Option<Level>, Option<Level>) {
        (
            self.bids.iter().next_back().map(|(p, q)| (*p, *q)),
            self.asks.iter().next().map(|(p, q)| (*p, *q)),
        )
    }

    fn book_changed(&mut self, side: Side, price: u64, qty: u64, update_id: u64) {
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if qty == 0 {
            book.remove(&price);
        } else {
            book.insert(price, qty);
        }
        if update_id != self.update_id + 1 {
            tracing::warn!(
                symbol = self.info.cfg.symbol.as_str(),
                expected = self.update_id + 1,
                got = update_id,
                "book update ids are not consecutive"
            );
        }
        self.update_id = update_id;
    }

    /// Adds a trade (ignored if its id is not after the newest kept one).
    pub fn add_trade(&mut self, t: TradeRow) {
        if self.trades.back().is_some_and(|last| t.id <= last.id) {
            return;
        }
        if self.trades.len() == MAX_TRADES {
            self.trades.pop_front();
        }
        self.trades.push_back(t);
        for (i, (_, iv)) in interval::ALL.iter().enumerate() {
            add_to_candles(&mut self.candles[i], *iv, &t);
        }
    }

    /// The newest trade.
    pub fn last_trade(&self) -> Option<&TradeRow> {
        self.trades.back()
    }

    /// The oldest trade kept in memory.
    pub fn oldest_trade(&self) -> Option<&TradeRow> {
        self.trades.front()
    }

    /// The newest `limit` trades, oldest first.
    pub fn recent_trades(&self, limit: usize) -> Vec<TradeRow> {
        let skip = self.trades.len().saturating_sub(limit);
        self.trades.iter().skip(skip).copied().collect()
    }

    /// Up to `limit` trades from id `from_id` on (those kept in memory).
    pub fn trades_from(&self, from_id: u64, limit: usize) -> Vec<TradeRow> {
        let start = self.trades.partition_point(|t| t.id < from_id);
        self.trades.range(start..).take(limit).copied().collect()
    }

    /// The kept trades grouped into aggregates, oldest first.
    pub fn agg_trades(&self) -> Vec<AggTrade> {
        let mut out: Vec<AggTrade> = Vec::new();
        let mut last_taker = None;
        for t in &self.trades {
            match out.last_mut() {
                Some(a)
                    if last_taker == Some(t.taker_order)
                        && a.price == t.price
                        && a.last_id + 1 == t.id =>
                {
                    a.qty = a.qty.saturating_add(t.qty);
                    a.last_id = t.id;
                }
                _ => out.push(AggTrade {
                    id: t.id,
                    price: t.price,
                    qty: t.qty,
                    first_id: t.id,
                    last_id: t.id,
                    time: t.time,
                    buyer_is_maker: t.buyer_is_maker,
                }),
            }
            last_taker = Some(t.taker_order);
        }
        out
    }

    /// The kept candles of interval number `idx` (see [`interval::ALL`]), oldest first.
    pub fn candles(&self, idx: usize) -> &VecDeque<Candle> {
        &self.candles[idx]
    }

    /// Klines of interval number `idx` like Binance: one per bucket from
    /// the oldest candle kept to the bucket holding `now`, buckets without
    /// trades flat at the previous close; those opening in `start..=end`;
    /// from `start` on, else the newest; at most `limit`, oldest first.
    pub fn klines(
        &self,
        idx: usize,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
        now: i64,
    ) -> Vec<Candle> {
        let (_, iv) = interval::ALL[idx];
        let candles = &self.candles[idx];
        let Some(first) = candles.front() else {
            return Vec::new();
        };
        let lo = start.map_or(first.open_time, |s| {
            iv.open_at_or_after(s).max(first.open_time)
        });
        // Up to the current bucket (or a newer candle, should this clock lag
        // the sequencer's), and not past `end`.
        let newest = candles.back().map_or(first.open_time, |c| c.open_time);
        let hi = iv.open_time(now.max(newest).min(end.unwrap_or(i64::MAX)));
        if lo > hi {
            return Vec::new();
        }
        let mut opens = Vec::with_capacity(limit.min(1024));
        if start.is_some() {
            let mut open = lo;
            while open <= hi && opens.len() < limit {
                opens.push(open);
                open = iv.next_open(open);
            }
        } else {
            let mut open = hi;
            while open >= lo && opens.len() < limit {
                opens.push(open);
                open = iv.prev_open(open);
            }
            opens.reverse();
        }
        opens
            .into_iter()
            .map(|open| {
                let i = candles.partition_point(|c| c.open_time < open);
                match candles.get(i) {
                    Some(c) if c.open_time == open => *c,
                    // i > 0: `open` is at or after the first candle.
                    _ => Candle::flat(open, candles[i.saturating_sub(1)].close),
                }
            })
            .collect()
    }

    /// The rolling 24 h statistics at `now` (ms), from the 1-minute
    /// candles: the window is the minutes from the one holding `now -
    /// 24h` to the current one, so it may be up to a minute wider than 24 h
    /// (like Binance's rolling windows).
    pub fn stats(&self, now: i64) -> Stats {
        let minutes = &self.candles[interval::ONE_MINUTE];
        let (_, one_minute) = interval::ALL[interval::ONE_MINUTE];
        let window_start = one_minute.open_time(now - DAY_MS);
        let first = minutes.partition_point(|c| c.open_time < window_start);
        let last = self.trades.back();
        let last_price = last.map_or(0, |t| t.price);
        let mut s = Stats {
            last: last_price,
            last_qty: last.map_or(0, |t| t.qty),
            prev_close: first.checked_sub(1).map_or(0, |i| minutes[i].close),
            ..Stats::default()
        };
        let window: Vec<&Candle> = minutes
            .range(first..)
            .filter(|c| c.open_time <= now)
            .collect();
        let (Some(head), Some(tail)) = (window.first(), window.last()) else {
            // No trade in the window: flat at the last price.
            (s.open, s.high, s.low) = (last_price, last_price, last_price);
            return s;
        };
        s.open = head.open;
        s.last = tail.close;
        s.high = window.iter().map(|c| c.high).max().unwrap_or(0);
        s.low = window.iter().map(|c| c.low).min().unwrap_or(0);
        s.volume = window.iter().map(|c| c.volume).sum();
        s.quote_volume = window.iter().map(|c| c.quote_volume).sum();
        s.count = window.iter().map(|c| c.trades).sum();
        s.first_last_id = Some((head.first_id, tail.last_id));
        s
    }

    /// Quote volume and volume (lots) of the trades in `[from, to]` ms,
    /// with the last such trade's time, from the kept trades.
    pub fn volume_between(&self, from: i64, to: i64) -> (u128, u128, Option<i64>) {
        let start = self.trades.partition_point(|t| t.time < from);
        let mut quote = 0u128;
        let mut lots = 0u128;
        let mut last = None;
        for t in self.trades.range(start..).filter(|t| t.time <= to) {
            quote += u128::from(t.quote_qty);
            lots += u128::from(t.qty);
            last = Some(t.time);
        }
        (quote, lots, last)
    }

    /// A price in quote atoms per whole base unit from quote atoms and
    /// lots (a weighted average), truncated to the quote asset's unit.
    pub fn average_price(&self, quote_atoms: u128, lots: u128) -> u64 {
        let base_atoms = lots.saturating_mul(u128::from(self.info.cfg.lot_size));
        if base_atoms == 0 {
            return 0;
        }
        let unit = 10u128.pow(u32::from(self.info.base.decimals));
        u64::try_from(quote_atoms.saturating_mul(unit) / base_atoms).unwrap_or(u64::MAX)
    }
}

/// Adds `t` to the candle deque of one interval, keeping it bounded and
/// in open-time order (a trade stamped earlier than the newest candle,
/// after a clock step, goes into its own bucket).
fn add_to_candles(candles: &mut VecDeque<Candle>, iv: Interval, t: &TradeRow) {
    let open = iv.open_time(t.time);
    match candles.back_mut() {
        Some(c) if c.open_time == open => return c.add(t),
        Some(c) if c.open_time > open => {
            let i = candles.partition_point(|c| c.open_time < open);
            let full = candles.len() == MAX_CANDLES;
            match candles.get_mut(i) {
                Some(c) if c.open_time == open => c.add(t),
                _ if i == 0 && full => {} // older than every bucket kept
                _ => candles.insert(i, Candle::new(open, t)),
            }
        }
        _ => candles.push_back(Candle::new(open, t)),
    }
    if candles.len() > MAX_CANDLES {
        candles.pop_front();
    }
}

/// All markets, by symbol, and the seq the view is exact at.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Built from a snapshot (an empty default view answers nothing).
    started: bool,
    seq: u64,
    assets: BTreeMap<u32, AssetConfig>,
    markets: BTreeMap<String, MarketView>,
    by_id: HashMap<MarketId, String>,
}

impl View {
    /// Everything the view answers from, as one canonical text (in id and
    /// symbol order): equal texts, equal answers. A view rebuilt from the
    /// journal is compared with the live one by it.
    pub fn canonical(&self) -> String {
        format!(
            "started={} seq={}\nassets={:?}\nmarkets={:#?}",
            self.started, self.seq, self.assets, self.markets
        )
    }

    /// The view of a snapshot (books, configs, assets), with no trades yet.
    pub fn from_snapshot(snap: &MarketSnapshot) -> View {
        let mut view = View {
            started: true,
            seq: snap.seq,
            assets: snap.assets.iter().map(|a| (a.id.0, *a)).collect(),
            ..View::default()
        };
        for b in &snap.markets {
            view.upsert_market(b.config);
            if let Some(m) = view.market_by_id_mut(b.config.id) {
                m.bids = b.bids.iter().copied().collect();
                m.asks = b.asks.iter().copied().collect();
                m.update_id = b.update_id;
            }
        }
        view
    }

    /// Whether the view was built from a snapshot (the service is still
    /// starting if not).
    pub fn started(&self) -> bool {
        self.started
    }

    /// The last seq applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A market by symbol.
    pub fn market(&self, symbol: &str) -> Option<&MarketView> {
        self.markets.get(symbol)
    }

    /// Every market, by symbol.
    pub fn markets(&self) -> impl Iterator<Item = &MarketView> {
        self.markets.values()
    }

    /// A market by id.
    pub fn market_by_id(&self, id: MarketId) -> Option<&MarketView> {
        self.markets.get(self.by_id.get(&id)?)
    }

    /// A market by id, to change.
    pub fn market_by_id_mut(&mut self, id: MarketId) -> Option<&mut MarketView> {
        let symbol = self.by_id.get(&id)?;
        self.markets.get_mut(symbol)
    }

    fn upsert_market(&mut self, cfg: MarketConfig) {
        let (Some(base), Some(quote)) = (
            self.assets.get(&cfg.base.0).copied(),
            self.assets.get(&cfg.quote.0).copied(),
        ) else {
            tracing::warn!(symbol = cfg.symbol.as_str(), "market with an unknown asset");
            return;
        };
        let symbol = cfg.symbol.as_str().to_string();
        let info = MarketInfo { cfg, base, quote };
        match self.markets.get_mut(&symbol) {
            Some(m) => m.info = info,
            None => {
                self.by_id.insert(cfg.id, symbol.clone());
                self.markets.insert(symbol, MarketView::new(info));
            }
        }
    }

    /// Applies one event record. Records at or before [`seq`](Self::seq)
    /// are skipped; the caller checks for gaps (`record.seq == seq + 1`).
    pub fn apply(&mut self, record: &EventRecord) {
        if record.seq <= self.seq {
            return;
        }
        self.seq = record.seq;
        let time_ms = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
        for event in &record.events {
            match event {
                Event::AssetCreated(a) => {
                    self.assets.insert(a.id.0, *a);
                }
                Event::MarketCreated(cfg) | Event::MarketUpdated(cfg) => self.upsert_market(*cfg),
                Event::MarketStatusChanged { market, status } => self.set_status(*market, *status),
                Event::BookChanged {
                    market,
                    side,
                    price,
                    qty,
                    update_id,
                } => {
                    if let Some(m) = self.market_by_id_mut(*market) {
                        m.book_changed(*side, *price, *qty, *update_id);
                    }
                }
                Event::Trade(t) => {
                    if let Some(m) = self.market_by_id_mut(t.market) {
                        m.add_trade(TradeRow::of(t, time_ms));
                    }
                }
                _ => {}
            }
        }
    }

    fn set_status(&mut self, market: MarketId, status: MarketStatus) {
        if let Some(m) = self.market_by_id_mut(market) {
            m.info.cfg.status = status;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
