//! Who listens to what, and the one place payloads are built: once per
//! stream, then queued to each subscriber without waiting. A subscriber
//! whose queue is full is kicked (its connection closes with a reason);
//! the feed and the other subscribers never wait for it.
//!
//! - Event streams (`@trade`, `@aggTrade`, `@bookTicker`) are built by
//!   [`Hub::on_record`], which the feed calls right after applying each
//!   record to the view (under the view's write lock, so a payload shows
//!   the view exactly after that record).
//! - `@depth` diffs are gathered there too, then flushed every 100 ms or
//!   1 s by [`Hub::tick`]: `U`..`u` of one event are consecutive engine
//!   update ids, every update id after a stream's creation is in exactly
//!   one event, and a jump in the engine's ids (a view restarted from a
//!   snapshot) ends the event early, so the client sees the gap.
//! - Periodic streams (tickers, klines, partial depth, `avgPrice`) are
//!   built by [`Hub::tick`] from the view, at Binance's update speeds.

use super::payload;
use super::stream::{Kind, Speed, Stream};
use super::WsConfig;
use crate::interval;
use crate::view::{AggTrade, Level, MarketView, TradeRow, View};
use flowex_bus::EventRecord;
use flowex_types::{Event, Side};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::sync::{mpsc, watch, Notify};

/// One message for a subscriber: the stream's name and its payload.
#[derive(Debug)]
pub struct Frame {
    pub stream: Arc<str>,
    pub data: String,
}

/// How the hub tells a connection it must go.
#[derive(Debug, Default)]
pub struct Kick {
    pub notify: Notify,
    pub slow: AtomicBool,
}

#[derive(Clone)]
struct Subscriber {
    tx: mpsc::Sender<Arc<Frame>>,
    kick: Arc<Kick>,
}

/// A pending `depthUpdate`: changed levels (lots 0: removed) and the
/// update ids they span (`first == 0`: nothing yet).
#[derive(Default)]
struct Diff {
    first: u64,
    last: u64,
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

/// A flushed diff: its update ids (`U`, `u`), bids, asks.
type Flushed = ((u64, u64), Vec<Level>, Vec<Level>);

impl Diff {
    fn take(&mut self) -> Option<Flushed> {
        if self.first == 0 {
            return None;
        }
        let d = std::mem::take(self);
        Some((
            (d.first, d.last),
            d.bids.into_iter().rev().collect(),
            d.asks.into_iter().collect(),
        ))
    }
}

/// What a stream remembers between pushes.
enum Memory {
    None,
    Diff(Diff),
    /// The open time of the kline bucket of the last push.
    Kline(Option<i64>),
    /// The best bid and ask last pushed.
    Best(Option<(Option<Level>, Option<Level>)>),
    /// Per market, the newest trade id last pushed (`!…@arr`: only the
    /// tickers that changed).
    Seen(HashMap<String, u64>),
}

struct Entry {
    name: Arc<str>,
    /// The stream's kind, the `stream` label of the message counters.
    kind: &'static str,
    subscribers: HashMap<u64, Subscriber>,
    memory: Mutex<Memory>,
}

impl Entry {
    fn new(stream: &Stream) -> Entry {
        let memory = match stream {
            Stream::Market { kind, .. } => match kind {
                Kind::Diff(_) => Memory::Diff(Diff::default()),
                Kind::Kline(_) => Memory::Kline(None),
                Kind::BookTicker => Memory::Best(None),
                _ => Memory::None,
            },
            Stream::AllMini | Stream::AllTickers => Memory::Seen(HashMap::new()),
        };
        Entry {
            name: stream.to_string().into(),
            kind: stream.metric_kind(),
            subscribers: HashMap::new(),
            memory: Mutex::new(memory),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `data` to every subscriber; a full queue kicks its owner.
    fn publish(&self, data: String) {
        let frame = Arc::new(Frame {
            stream: self.name.clone(),
            data,
        });
        let (mut sent, mut dropped) = (0, 0);
        for s in self.subscribers.values() {
            match s.tx.try_send(frame.clone()) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    if !s.kick.slow.swap(true, Ordering::AcqRel) {
                        s.kick.notify.notify_one();
                    }
                }
                // The connection is ending: it leaves the stream itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        flowex_metrics::ws_published(self.kind, sent, dropped);
    }

    fn publish_json<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_string(value) {
            Ok(data) => self.publish(data),
            Err(e) => tracing::error!(stream = &*self.name, error = %e, "unserialisable payload"),
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    PerIp(usize),
    Total(usize),
}

#[derive(Default)]
struct Connections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The streams of every connection of this process.
pub struct Hub {
    cfg: WsConfig,
    entries: RwLock<HashMap<Stream, Entry>>,
    connections: Mutex<Connections>,
    next_id: AtomicU64,
    shutdown: watch::Sender<bool>,
    ticking: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(WsConfig::default())
    }
}

/// A held connection slot, given back when dropped.
pub struct Slot {
    hub: Arc<Hub>,
    ip: IpAddr,
    pub id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.hub.connections();
        c.total = c.total.saturating_sub(1);
        flowex_metrics::ws_connections("streams", c.total);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// A connection's handle on the hub: its queue and its kick.
pub struct Listener {
    pub id: u64,
    pub tx: mpsc::Sender<Arc<Frame>>,
    pub kick: Arc<Kick>,
}

impl Hub {
    pub fn new(cfg: WsConfig) -> Hub {
        Hub {
            cfg,
            entries: RwLock::default(),
            connections: Mutex::default(),
            next_id: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
            ticking: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> &WsConfig {
        &self.cfg
    }

    fn connections(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a connection slot for `ip`, within the per-IP and total limits.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut c = self.connections();
        if c.total >= self.cfg.max_connections || *self.shutdown.borrow() {
            flowex_metrics::ws_refused("total");
            return Err(Refused::Total(self.cfg.max_connections));
        }
        let n = c.per_ip.entry(ip).or_default();
        if *n >= self.cfg.max_connections_per_ip {
            flowex_metrics::ws_refused("per_ip");
            return Err(Refused::PerIp(self.cfg.max_connections_per_ip));
        }
        *n += 1;
        c.total += 1;
        flowex_metrics::ws_connections("streams", c.total);
        Ok(Slot {
            hub: self.clone(),
            ip,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Connections held now.
    pub fn connection_count(&self) -> usize {
        self.connections().total
    }

    /// Resolves once [`Hub::shut_down`] was called.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every connection the server is stopping (`serverShutdown`).
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether the periodic task still has to be started (true once).
    pub(crate) fn claim_ticking(&self) -> bool {
        !self.ticking.swap(true, Ordering::AcqRel)
    }

    fn entries_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Stream, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn entries_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Stream, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `who` to `stream` (from the next record on).
    pub fn subscribe(&self, stream: &Stream, who: &Listener) {
        let mut entries = self.entries_write();
        let entry = entries
            .entry(stream.clone())
            .or_insert_with(|| Entry::new(stream));
        entry.subscribers.insert(
            who.id,
            Subscriber {
                tx: who.tx.clone(),
                kick: who.kick.clone(),
            },
        );
    }

    /// Removes connection `id` from `stream`; the stream goes when empty.
    pub fn unsubscribe(&self, stream: &Stream, id: u64) {
        let mut entries = self.entries_write();
        if let Some(e) = entries.get_mut(stream) {
            e.subscribers.remove(&id);
            if e.subscribers.is_empty() {
                entries.remove(stream);
            }
        }
    }

    /// Builds the event streams of `record`, just applied to `view`.
    pub fn on_record(&self, view: &View, record: &EventRecord) {
        let entries = self.entries_read();
        if entries.is_empty() {
            return;
        }
        let now = now_ms();
        let time = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
        let mut touched: Vec<&MarketView> = Vec::new();
        let mut trades: Vec<(&MarketView, TradeRow)> = Vec::new();
        for event in &record.events {
            match event {
                Event::Trade(t) => {
                    if let Some(m) = view.market_by_id(t.market) {
                        trades.push((m, TradeRow::of(t, time)));
                    }
                }
                Event::BookChanged {
                    market,
                    side,
                    price,
                    qty,
                    update_id,
                } => {
                    let Some(m) = view.market_by_id(*market) else {
                        continue;
                    };
                    if !touched.iter().any(|t| std::ptr::eq(*t, m)) {
                        touched.push(m);
                    }
                    for speed in [Speed::Second, Speed::SecondNamed, Speed::Fast] {
                        let key = market_stream(m, Kind::Diff(speed));
                        if let Some(e) = entries.get(&key) {
                            add_change(e, m, (*side, *price, *qty, *update_id), now);
                        }
                    }
                }
                _ => {}
            }
        }
        publish_trades(&entries, &trades, now);
        for m in touched {
            publish_best(&entries, m);
        }
    }

    /// The periodic pushes of tick number `n` (one tick every 100 ms).
    pub fn tick(&self, view: &View, n: u64) {
        self.tick_at(view, n, now_ms());
    }

    fn tick_at(&self, view: &View, n: u64, now: i64) {
        let entries = self.entries_read();
        let second = n.is_multiple_of(10);
        let two_seconds = n.is_multiple_of(20);
        for (stream, entry) in entries.iter() {
            let (symbol, kind) = match stream {
                Stream::Market { symbol, kind } => (symbol, *kind),
                Stream::AllMini | Stream::AllTickers if second => {
                    push_all(entry, view, stream == &Stream::AllTickers, now);
                    continue;
                }
                _ => continue,
            };
            let Some(m) = view.market(symbol) else {
                continue;
            };
            match kind {
                Kind::Diff(speed) if second || speed == Speed::Fast => flush_diff(entry, m, now),
                Kind::Partial(levels, speed) if second || speed == Speed::Fast => {
                    entry.publish_json(&payload::partial(m, levels))
                }
                Kind::Ticker if second => {
                    entry.publish_json(&payload::ticker(m, &m.stats(now), now))
                }
                Kind::MiniTicker if second => entry.publish_json(&payload::mini_ticker(
                    &payload::units(m),
                    &m.stats(now),
                    now,
                )),
                Kind::AvgPrice if second => entry.publish_json(&payload::avg_price(m, now)),
                Kind::Kline(idx) if two_seconds || (second && idx == 0) => {
                    push_kline(entry, m, idx, now)
                }
                _ => {}
            }
        }
    }
}

fn market_stream(m: &MarketView, kind: Kind) -> Stream {
    Stream::Market {
        symbol: m.info.cfg.symbol.as_str().to_string(),
        kind,
    }
}

fn add_change(
    entry: &Entry,
    m: &MarketView,
    (side, price, qty, update_id): (Side, u64, u64, u64),
    now: i64,
) {
    let mut memory = entry.memory();
    let Memory::Diff(diff) = &mut *memory else {
        return;
    };
    if diff.first != 0 && update_id != diff.last + 1 {
        // The engine's ids jumped: end this event here, so the next one
        // starts at the new id and the client sees the gap.
        if let Some((ids, bids, asks)) = diff.take() {
            let u = payload::units(m);
            entry.publish_json(&payload::depth_update(&u, ids, &bids, &asks, now));
        }
    }
    if diff.first == 0 {
        diff.first = update_id;
    }
    diff.last = update_id;
    match side {
        Side::Buy => diff.bids.insert(price, qty),
        Side::Sell => diff.asks.insert(price, qty),
    };
}

fn flush_diff(entry: &Entry, m: &MarketView, now: i64) {
    let taken = match &mut *entry.memory() {
        Memory::Diff(diff) => diff.take(),
        _ => None,
    };
    if let Some((ids, bids, asks)) = taken {
        let u = payload::units(m);
        entry.publish_json(&payload::depth_update(&u, ids, &bids, &asks, now));
    }
}

/// `@trade` per fill and `@aggTrade` per run of fills of one taker order
/// at one price (the REST `aggTrades` grouping).
fn publish_trades(entries: &HashMap<Stream, Entry>, trades: &[(&MarketView, TradeRow)], now: i64) {
    let mut aggs: Vec<(&MarketView, AggTrade, u64)> = Vec::new();
    for (m, t) in trades {
        if let Some(e) = entries.get(&market_stream(m, Kind::Trade)) {
            e.publish_json(&payload::trade(&payload::units(m), t, now));
        }
        match aggs.last_mut() {
            Some((am, a, taker))
                if std::ptr::eq(*am, *m)
                    && *taker == t.taker_order
                    && a.price == t.price
                    && a.last_id + 1 == t.id =>
            {
                a.qty = a.qty.saturating_add(t.qty);
                a.last_id = t.id;
            }
            _ => aggs.push((
                m,
                AggTrade {
                    id: t.id,
                    price: t.price,
                    qty: t.qty,
                    first_id: t.id,
                    last_id: t.id,
                    time: t.time,
                    buyer_is_maker: t.buyer_is_maker,
                },
                t.taker_order,
            )),
        }
    }
    for (m, a, _) in &aggs {
        if let Some(e) = entries.get(&market_stream(m, Kind::AggTrade)) {
            e.publish_json(&payload::agg_trade(&payload::units(m), a, now));
        }
    }
}

fn publish_best(entries: &HashMap<Stream, Entry>, m: &MarketView) {
    let Some(entry) = entries.get(&market_stream(m, Kind::BookTicker)) else {
        return;
    };
    let best = m.best();
    let mut memory = entry.memory();
    if let Memory::Best(last) = &mut *memory {
        if *last != Some(best) {
            *last = Some(best);
            entry.publish_json(&payload::book_ticker(m));
        }
    }
}

fn push_kline(entry: &Entry, m: &MarketView, idx: usize, now: i64) {
    let (_, iv) = interval::ALL[idx];
    let current = m.klines(idx, None, None, 1, now);
    // The bucket this push is in (a newer candle, should this clock lag the
    // sequencer's): remembered even before the first trade, so a bucket
    // whose trades all came after the last push still ends with a closed
    // candle once time moves on.
    let bucket = current.last().map_or(iv.open_time(now), |c| c.open_time);
    let u = payload::units(m);
    let mut memory = entry.memory();
    let Memory::Kline(last_open) = &mut *memory else {
        return;
    };
    if let Some(prev) = last_open.filter(|open| *open < bucket) {
        // The bucket last pushed has ended: its final state, closed; and
        // the one just before this, should pushes have skipped it.
        let just_ended = iv.prev_open(bucket);
        let ended = if just_ended > prev {
            vec![prev, just_ended]
        } else {
            vec![prev]
        };
        for open in ended {
            if let Some(done) = m.klines(idx, Some(open), Some(open), 1, now).first() {
                entry.publish_json(&payload::kline(&u, idx, done, true, now));
            }
        }
    }
    *last_open = Some(bucket);
    if let Some(c) = current.last() {
        entry.publish_json(&payload::kline(&u, idx, c, false, now));
    }
}

/// `!ticker@arr` / `!miniTicker@arr`: the markets whose ticker changed
/// (a new trade) since the last push.
fn push_all(entry: &Entry, view: &View, full: bool, now: i64) {
    let mut memory = entry.memory();
    let Memory::Seen(seen) = &mut *memory else {
        return;
    };
    let mut changed = Vec::new();
    for m in view.markets() {
        let Some(last) = m.last_trade().map(|t| t.id) else {
            continue;
        };
        let symbol = m.info.cfg.symbol.as_str();
        if seen.get(symbol) != Some(&last) {
            seen.insert(symbol.to_string(), last);
            changed.push(m);
        }
    }
    if changed.is_empty() {
        return;
    }
    if full {
        let items: Vec<_> = changed
            .iter()
            .map(|m| payload::ticker(m, &m.stats(now), now))
            .collect();
        entry.publish_json(&items);
    } else {
        let items: Vec<_> = changed
            .iter()
            .map(|m| payload::mini_ticker(&payload::units(m), &m.stats(now), now))
            .collect();
        entry.publish_json(&items);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(hub: &Hub, queue: usize) -> (Listener, mpsc::Receiver<Arc<Frame>>) {
        let (tx, rx) = mpsc::channel(queue);
        let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
        let kick = Arc::new(Kick::default());
        (Listener { id, tx, kick }, rx)
    }

    #[tokio::test]
    async fn a_full_queue_kicks_only_its_owner() {
        let hub = Hub::default();
        let stream = Stream::parse("btcusdt@trade").unwrap();
        let (slow, _never_read) = listener(&hub, 2);
        let (fast, mut rx) = listener(&hub, 16);
        hub.subscribe(&stream, &slow);
        hub.subscribe(&stream, &fast);
        for i in 0..3 {
            hub.entries_read()[&stream].publish(format!("{i}"));
        }
        assert!(slow.kick.slow.load(Ordering::Acquire));
        // The kick is waiting for the connection's loop.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            slow.kick.notify.notified(),
        )
        .await
        .unwrap();
        assert!(!fast.kick.slow.load(Ordering::Acquire));
        for i in 0..3 {
            let f = rx.recv().await.unwrap();
            assert_eq!(
                (&*f.stream, f.data.as_str()),
                ("btcusdt@trade", &*format!("{i}"))
            );
        }
        hub.unsubscribe(&stream, slow.id);
        hub.unsubscribe(&stream, fast.id);
        assert!(hub.entries_read().is_empty(), "an empty stream goes");
    }

    #[test]
    fn a_bucket_that_traded_after_the_last_push_still_closes() {
        use crate::view::tests::{listed, record, trade, T0};
        let hub = Hub::default();
        let stream = Stream::parse("btcusdt@kline_1m").unwrap();
        let (who, mut rx) = listener(&hub, 16);
        hub.subscribe(&stream, &who);
        let mut view = listed();
        hub.tick_at(&view, 0, T0);
        assert!(rx.try_recv().is_err(), "no candle before the first trade");
        // Two fills in T0's minute, after that push; the next push is in
        // the minute after.
        let fills = vec![trade(1, 100, 2, 9, false), trade(2, 100, 3, 9, false)];
        view.apply(&record(4, T0 + 1_000, fills));
        let minute = T0 - T0.rem_euclid(60_000);
        hub.tick_at(&view, 20, minute + 60_000);
        let mut pushed = Vec::new();
        while let Ok(f) = rx.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&f.data).unwrap();
            pushed.push((
                v["k"]["t"].clone(),
                v["k"]["n"].clone(),
                v["k"]["x"].clone(),
            ));
        }
        use serde_json::json;
        assert_eq!(
            pushed,
            [
                (json!(minute), json!(2), json!(true)),
                (json!(minute + 60_000), json!(0), json!(false))
            ]
        );
        hub.unsubscribe(&stream, who.id);
    }

    #[test]
    fn connection_limits_per_ip_and_in_total() {
        let hub = Arc::new(Hub::new(WsConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..WsConfig::default()
        }));
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let a1 = hub.admit(a).unwrap();
        let _a2 = hub.admit(a).unwrap();
        assert_eq!(hub.admit(a).err(), Some(Refused::PerIp(2)));
        let _b1 = hub.admit(b).unwrap();
        assert_eq!(hub.admit(b).err(), Some(Refused::Total(3)));
        drop(a1);
        assert_eq!(hub.connection_count(), 2);
        let _a3 = hub.admit(a).unwrap();
        hub.shut_down();
        drop(_b1);
        assert_eq!(
            hub.admit(b).err(),
            Some(Refused::Total(3)),
            "none while stopping"
        );
    }
}
