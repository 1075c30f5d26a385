use super::*;
use crate::interval::ALL;
use flowex_types::{MarketConfig, OrderId, TradeId, UserId};

/// 2024-02-29 13:45:30.123 UTC (a Thursday).
pub const T0: i64 = 1_709_214_330_123;

pub fn btcusdt() -> MarketConfig {
    MarketConfig {
        min_notional: 0,
        ..flowex_testkit::btcusdt()
    }
}

use flowex_testkit::asset;

/// A started view with BTCUSDT listed, at seq 3.
pub fn listed() -> View {
    View::from_snapshot(&MarketSnapshot {
        seq: 3,
        assets: vec![asset(1, "BTC"), asset(2, "USDT")],
        markets: vec![flowex_bus::wire::BookSnapshot {
            config: btcusdt(),
            update_id: 0,
            bids: vec![],
            asks: vec![],
        }],
    })
}

#[test]
fn markets_and_assets_come_from_events_too() {
    let mut v = View::default();
    assert!(!v.started());
    for (seq, e) in [
        Event::AssetCreated(asset(1, "BTC")),
        Event::AssetCreated(asset(2, "USDT")),
        Event::MarketCreated(btcusdt()),
    ]
    .into_iter()
    .enumerate()
    {
        v.apply(&record(seq as u64 + 1, 0, vec![e]));
    }
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(
        (m.info.base.code.as_str(), m.info.quote.code.as_str()),
        ("BTC", "USDT")
    );
    let mut cfg = btcusdt();
    cfg.min_qty = 7;
    v.apply(&record(4, 0, vec![Event::MarketUpdated(cfg)]));
    assert_eq!(v.market("BTCUSDT").unwrap().info.cfg.min_qty, 7);
    assert_eq!(v.markets().count(), 1);
}

pub fn record(seq: u64, time_ms: i64, events: Vec<Event>) -> EventRecord {
    EventRecord {
        seq,
        timestamp_ns: time_ms as u64 * 1_000_000,
        events,
    }
}

/// A trade of `lots` at `ticks` by taker order `taker` (who sells when `sell`).
pub fn trade(id: u64, ticks: u64, lots: u64, taker: u64, sell: bool) -> Event {
    Event::Trade(Trade {
        market: MarketId(1),
        id: TradeId(id),
        price: ticks,
        qty: lots,
        quote_qty: ticks * lots * 10,
        taker_side: if sell { Side::Sell } else { Side::Buy },
        maker_order: OrderId(1),
        maker_user: UserId(1),
        taker_order: OrderId(taker),
        taker_user: UserId(2),
        maker_fee: 0,
        taker_fee: 0,
    })
}

fn book(side: Side, price: u64, qty: u64, update_id: u64) -> Event {
    Event::BookChanged {
        market: MarketId(1),
        side,
        price,
        qty,
        update_id,
    }
}

fn candle_of(v: &View, name: &str) -> Vec<Candle> {
    let (idx, _) = crate::interval::Interval::parse(name).unwrap();
    v.market("BTCUSDT")
        .unwrap()
        .candles(idx)
        .iter()
        .copied()
        .collect()
}

#[test]
fn book_follows_book_changes_with_the_update_id() {
    let mut v = listed();
    v.apply(&record(
        4,
        T0,
        vec![
            book(Side::Buy, 100, 5, 1),
            book(Side::Buy, 101, 7, 2),
            book(Side::Sell, 103, 2, 3),
            book(Side::Sell, 105, 9, 4),
        ],
    ));
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(m.update_id(), 4);
    assert_eq!(
        m.depth(10),
        (vec![(101, 7), (100, 5)], vec![(103, 2), (105, 9)])
    );
    assert_eq!(m.depth(1), (vec![(101, 7)], vec![(103, 2)]));
    assert_eq!(m.best(), (Some((101, 7)), Some((103, 2))));
    // A level at 0 is gone; a later record changes a level in place.
    v.apply(&record(
        5,
        T0,
        vec![book(Side::Buy, 101, 0, 5), book(Side::Sell, 105, 1, 6)],
    ));
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(m.update_id(), 6);
    assert_eq!(m.depth(10), (vec![(100, 5)], vec![(103, 2), (105, 1)]));
    // Records at or before the view's seq change nothing.
    v.apply(&record(5, T0, vec![book(Side::Buy, 100, 0, 7)]));
    assert_eq!(v.seq(), 5);
    assert_eq!(v.market("BTCUSDT").unwrap().update_id(), 6);
}

#[test]
fn snapshot_starts_the_view() {
    let snap = MarketSnapshot {
        seq: 40,
        assets: vec![asset(1, "BTC"), asset(2, "USDT")],
        markets: vec![flowex_bus::wire::BookSnapshot {
            config: btcusdt(),
            update_id: 17,
            bids: vec![(99, 3), (98, 1)],
            asks: vec![(101, 4)],
        }],
    };
    let mut v = View::from_snapshot(&snap);
    assert_eq!(v.seq(), 40);
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(m.update_id(), 17);
    assert_eq!(m.depth(5), (vec![(99, 3), (98, 1)], vec![(101, 4)]));
    v.apply(&record(41, T0, vec![book(Side::Sell, 100, 2, 18)]));
    assert_eq!(v.market("BTCUSDT").unwrap().best().1, Some((100, 2)));
    // Status changes reach the market's config.
    v.apply(&record(
        42,
        T0,
        vec![Event::MarketStatusChanged {
            market: MarketId(1),
            status: MarketStatus::Halted,
        }],
    ));
    assert_eq!(
        v.market("BTCUSDT").unwrap().info.cfg.status,
        MarketStatus::Halted
    );
}

#[test]
fn fills_of_one_taker_at_one_price_aggregate() {
    let mut v = listed();
    v.apply(&record(
        4,
        T0,
        vec![
            trade(1, 100, 2, 10, false),
            trade(2, 100, 3, 10, false),
            trade(3, 101, 1, 10, false),
        ],
    ));
    v.apply(&record(5, T0 + 5, vec![trade(4, 101, 4, 11, true)]));
    v.apply(&record(6, T0 + 6, vec![trade(5, 101, 1, 11, true)]));
    let m = v.market("BTCUSDT").unwrap();
    let aggs = m.agg_trades();
    let summary: Vec<_> = aggs
        .iter()
        .map(|a| {
            (
                a.id,
                a.price,
                a.qty,
                a.first_id,
                a.last_id,
                a.buyer_is_maker,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 100, 5, 1, 2, false),
            (3, 101, 1, 3, 3, false),
            // The same taker order in two commands (an amend would not, but a
            // later fill at the same price continues the aggregate).
            (4, 101, 5, 4, 5, true),
        ]
    );
    assert_eq!(aggs[0].time, T0);
    assert_eq!(
        m.recent_trades(2).iter().map(|t| t.id).collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(
        m.trades_from(2, 2).iter().map(|t| t.id).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(m.last_trade().unwrap().buyer_is_maker);
    // A trade id already seen is not counted twice.
    let mut again = m.clone();
    again.add_trade(TradeRow::of(
        match &trade(5, 101, 1, 11, true) {
            Event::Trade(t) => t,
            _ => unreachable!(),
        },
        T0,
    ));
    assert_eq!(again.recent_trades(100).len(), 5);
}

#[test]
fn every_interval_buckets_at_its_boundary() {
    for (name, iv) in ALL {
        let mut v = listed();
        let open = iv.open_time(T0);
        let next = iv.next_open(open);
        // The bucket's first ms, its last ms, and the next bucket's first ms.
        v.apply(&record(4, open, vec![trade(1, 100, 1, 1, false)]));
        v.apply(&record(5, next - 1, vec![trade(2, 120, 2, 2, true)]));
        v.apply(&record(6, next, vec![trade(3, 90, 3, 3, false)]));
        let c = candle_of(&v, name);
        assert_eq!(c.len(), 2, "{name}");
        assert_eq!(c[0].open_time, open, "{name}");
        assert_eq!(
            (c[0].open, c[0].high, c[0].low, c[0].close),
            (100, 120, 100, 120),
            "{name}"
        );
        assert_eq!((c[0].volume, c[0].trades), (3, 2), "{name}");
        assert_eq!(c[0].quote_volume, 100 * 10 + 120 * 2 * 10, "{name}");
        // Only the first trade's taker bought.
        assert_eq!(
            (c[0].taker_buy_volume, c[0].taker_buy_quote),
            (1, 1000),
            "{name}"
        );
        assert_eq!((c[0].first_id, c[0].last_id), (1, 2), "{name}");
        assert_eq!(c[1].open_time, next, "{name}");
        assert_eq!((c[1].open, c[1].close, c[1].volume), (90, 90, 3), "{name}");
    }
}

#[test]
fn week_and_month_buckets_follow_the_calendar() {
    let mut v = listed();
    // Sunday 2024-03-31 23:59:59.999 and Monday 2024-04-01 00:00 (a new week and month).
    v.apply(&record(
        4,
        1_711_929_599_999,
        vec![trade(1, 100, 1, 1, false)],
    ));
    v.apply(&record(
        5,
        1_711_929_600_000,
        vec![trade(2, 101, 1, 2, false)],
    ));
    let weeks: Vec<i64> = candle_of(&v, "1w").iter().map(|c| c.open_time).collect();
    assert_eq!(weeks, [1_711_324_800_000, 1_711_929_600_000]); // Mondays 03-25 and 04-01
    let months: Vec<i64> = candle_of(&v, "1M").iter().map(|c| c.open_time).collect();
    assert_eq!(months, [1_709_251_200_000, 1_711_929_600_000]); // 03-01 and 04-01
    let days: Vec<i64> = candle_of(&v, "1d").iter().map(|c| c.open_time).collect();
    assert_eq!(days, [1_711_843_200_000, 1_711_929_600_000]);
}

#[test]
fn candles_are_bounded_and_ordered() {
    let mut v = listed();
    let n = MAX_CANDLES as u64 + 10;
    for i in 0..n {
        v.apply(&record(
            4 + i,
            T0 + i as i64 * 1000,
            vec![trade(i + 1, 100, 1, i, false)],
        ));
    }
    let secs = candle_of(&v, "1s");
    assert_eq!(secs.len(), MAX_CANDLES);
    assert_eq!(secs[0].first_id, 11);
    // A trade stamped earlier than the newest bucket (clock step) lands in its own bucket.
    v.apply(&record(
        4 + n,
        T0 + 2 * 60_000 + 500,
        vec![trade(n + 1, 50, 1, 0, false)],
    ));
    let minutes = candle_of(&v, "1m");
    assert!(minutes.windows(2).all(|w| w[0].open_time < w[1].open_time));
    let hit = minutes
        .iter()
        .find(|c| c.open_time == crate::interval::Interval::Fixed(60_000).open_time(T0 + 120_500))
        .unwrap();
    assert_eq!(hit.low, 50);
    assert_eq!(hit.close, 50, "the highest id closes the bucket");
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(m.recent_trades(usize::MAX).len(), n as usize + 1);
}

#[test]
fn trades_are_bounded() {
    let mut v = listed();
    let n = MAX_TRADES as u64 + 5;
    let events: Vec<Event> = (1..=n).map(|i| trade(i, 100, 1, i, false)).collect();
    v.apply(&record(4, T0, events));
    let m = v.market("BTCUSDT").unwrap();
    assert_eq!(m.recent_trades(usize::MAX).len(), MAX_TRADES);
    assert_eq!(m.oldest_trade().unwrap().id, 6);
    // The candles still counted every trade.
    assert_eq!(candle_of(&v, "1m")[0].trades, n);
}

#[test]
fn rolling_day_statistics() {
    let mut v = listed();
    let now = T0;
    // Outside the window (25 h ago): the previous close.
    v.apply(&record(
        4,
        now - 25 * 3_600_000,
        vec![trade(1, 90, 1, 1, false)],
    ));
    v.apply(&record(
        5,
        now - 23 * 3_600_000,
        vec![trade(2, 100, 2, 2, false), trade(3, 110, 1, 2, false)],
    ));
    v.apply(&record(6, now - 1000, vec![trade(4, 95, 3, 3, true)]));
    let m = v.market("BTCUSDT").unwrap();
    let s = m.stats(now);
    assert_eq!((s.open, s.high, s.low, s.last), (100, 110, 95, 95));
    assert_eq!((s.prev_close, s.last_qty), (90, 3));
    assert_eq!((s.volume, s.count, s.first_last_id), (6, 3, Some((2, 4))));
    assert_eq!(s.quote_volume, (200 + 110 + 285) * 10);
    // 5950 quote atoms for 6 lots = 0.00006 BTC: 0.99166666 USDT per BTC, truncated.
    assert_eq!(m.average_price(s.quote_volume, s.volume), 99_166_666);
    // A day later nothing is in the window: flat at the last price.
    let later = m.stats(now + DAY_MS + 120_000);
    assert_eq!(
        (later.open, later.high, later.low, later.last),
        (95, 95, 95, 95)
    );
    assert_eq!(
        (later.count, later.first_last_id, later.volume),
        (0, None, 0)
    );
    assert_eq!(later.prev_close, 95);
    // No trade ever.
    let empty = listed();
    assert_eq!(
        empty.market("BTCUSDT").unwrap().stats(now),
        Stats::default()
    );
}

#[test]
fn five_minute_average_price() {
    let mut v = listed();
    let now = T0;
    v.apply(&record(
        4,
        now - 6 * 60_000,
        vec![trade(1, 200, 1, 1, false)],
    ));
    let m = v.market("BTCUSDT").unwrap();
    // No trade in 5 minutes: the last price and its time.
    let body = serde_json::to_value(crate::api::avg_price_json(m, now)).unwrap();
    assert_eq!(body["mins"], 5);
    assert_eq!(body["price"], "2.00000000");
    assert_eq!(body["closeTime"], now - 6 * 60_000);
    v.apply(&record(
        5,
        now - 60_000,
        vec![trade(2, 100, 1, 2, false), trade(3, 103, 2, 2, false)],
    ));
    let m = v.market("BTCUSDT").unwrap();
    let body = serde_json::to_value(crate::api::avg_price_json(m, now)).unwrap();
    // (100 + 206) x 10 atoms for 3 lots: 1.02 USDT per BTC.
    assert_eq!(body["price"], "1.02000000");
    assert_eq!(body["closeTime"], now - 60_000);
}

#[test]
fn klines_cover_every_bucket_flat_where_nothing_traded() {
    let mut v = listed();
    let minute = 60_000;
    let m0 = crate::interval::Interval::Fixed(minute).open_time(T0);
    v.apply(&record(4, m0 + 5, vec![trade(1, 100, 1, 1, false)]));
    v.apply(&record(
        5,
        m0 + 3 * minute + 7,
        vec![trade(2, 130, 2, 2, false)],
    ));
    let m = v.market("BTCUSDT").unwrap();
    let now = m0 + 5 * minute + 10_000;
    let one_m = crate::interval::ONE_MINUTE;
    let summary = |rows: Vec<Candle>| -> Vec<(i64, u64, u64, u128)> {
        rows.iter()
            .map(|c| ((c.open_time - m0) / minute, c.open, c.close, c.volume))
            .collect()
    };
    // The newest: every minute up to the current one, flat at the last close.
    assert_eq!(
        summary(m.klines(one_m, None, None, 500, now)),
        vec![
            (0, 100, 100, 1),
            (1, 100, 100, 0),
            (2, 100, 100, 0),
            (3, 130, 130, 2),
            (4, 130, 130, 0),
            (5, 130, 130, 0)
        ]
    );
    assert_eq!(
        summary(m.klines(one_m, None, None, 2, now)),
        vec![(4, 130, 130, 0), (5, 130, 130, 0)]
    );
    // From a start (a mid-bucket start begins at the next bucket), with a limit.
    assert_eq!(
        summary(m.klines(one_m, Some(m0 + minute + 1), None, 2, now)),
        vec![(2, 100, 100, 0), (3, 130, 130, 2)]
    );
    // Up to an end: the newest before it.
    assert_eq!(
        summary(m.klines(one_m, None, Some(m0 + 3 * minute), 2, now)),
        vec![(2, 100, 100, 0), (3, 130, 130, 2)]
    );
    // Both, and a range before the first trade or after now.
    assert_eq!(
        summary(m.klines(one_m, Some(m0 - 10 * minute), Some(m0 + minute), 10, now)),
        vec![(0, 100, 100, 1), (1, 100, 100, 0)]
    );
    assert!(m.klines(one_m, None, Some(m0 - 1), 10, now).is_empty());
    assert!(m
        .klines(one_m, Some(now + minute), None, 10, now)
        .is_empty());
    // Months: January and April trades, February and March flat.
    let mut v = listed();
    let jan = 1_704_067_200_000; // 2024-01-01
    let apr = 1_711_929_600_000; // 2024-04-01
    v.apply(&record(4, jan + 1, vec![trade(1, 100, 1, 1, false)]));
    v.apply(&record(5, apr + 1, vec![trade(2, 90, 1, 2, false)]));
    let (month, iv) = crate::interval::Interval::parse("1M").unwrap();
    let rows = v
        .market("BTCUSDT")
        .unwrap()
        .klines(month, None, None, 10, apr + 5);
    let opens: Vec<i64> = rows.iter().map(|c| c.open_time).collect();
    assert_eq!(opens, [jan, iv.next_open(jan), 1_709_251_200_000, apr]);
    assert_eq!((rows[1].close, rows[2].volume, rows[3].close), (100, 0, 90));
    // No trade yet: no kline.
    assert!(listed()
        .market("BTCUSDT")
        .unwrap()
        .klines(one_m, None, None, 10, now)
        .is_empty());
}
