//! The SQL trade history: the start reads the newest trades of the last
//! days projected up to the snapshot's seq (and no others), and
//! `historicalTrades` older than the trades kept in memory reads SQL.

use flowex_bus::wire::{BookSnapshot, MarketSnapshot};
use flowex_market_data::view::MAX_TRADES;
use flowex_market_data::{feed, MarketDataState};
use flowex_store::{Store, TradeRecord};
use flowex_types::MarketConfig;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn market() -> MarketConfig {
    MarketConfig {
        min_notional: 0,
        maker_fee_ppm: 0,
        taker_fee_ppm: 0,
        ..flowex_testkit::btcusdt()
    }
}

fn snapshot(seq: u64) -> MarketSnapshot {
    MarketSnapshot {
        seq,
        assets: vec![flowex_testkit::btc(), flowex_testkit::usdt()],
        markets: vec![BookSnapshot {
            config: market(),
            update_id: 0,
            bids: vec![],
            asks: vec![],
        }],
    }
}

fn trade(id: u64, time: i64, seq: u64) -> TradeRecord {
    TradeRecord {
        market_id: 1,
        id,
        symbol: "BTCUSDT".into(),
        price: 100 + id % 7,
        qty: 1,
        quote_qty: (100 + id % 7) * 10,
        maker_order_id: 1,
        maker_user_id: 1,
        taker_order_id: id,
        taker_user_id: 2,
        buyer_is_maker: id.is_multiple_of(2),
        maker_fee: 0,
        maker_fee_asset_id: 2,
        taker_fee: 0,
        taker_fee_asset_id: 1,
        time,
        seq,
    }
}

async fn get(app: &axum::Router, uri: &str) -> Value {
    let res = app
        .clone()
        .oneshot(
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{uri}");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_start_reads_sql_and_old_ids_come_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let n = MAX_TRADES as u64 + 2_000;
    // Trade 1 is 8 days old; 2..=n recent, projected at seq 5; n + 1 at seq 6.
    let mut tx = store
        .begin_projection("orders", 1..=5)
        .await
        .unwrap()
        .unwrap();
    tx.insert_trade(&trade(1, now - 8 * 86_400_000, 5))
        .await
        .unwrap();
    for id in 2..=n {
        tx.insert_trade(&trade(id, now - 60_000, 5)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store
        .begin_projection("orders", 6..=6)
        .await
        .unwrap()
        .unwrap();
    tx.insert_trade(&trade(n + 1, now - 60_000, 6))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let view = feed::build(&snapshot(5), Some(&store)).await;
    let m = view.market("BTCUSDT").unwrap();
    // The newest MAX_TRADES up to seq 5 in memory; the candles counted every
    // recent one (not the 8-day-old trade, not seq 6).
    assert_eq!(m.oldest_trade().unwrap().id, n - MAX_TRADES as u64 + 1);
    assert_eq!(m.last_trade().unwrap().id, n);
    let (minute, _) = flowex_market_data::interval::Interval::parse("1m").unwrap();
    let counted: u64 = m.candles(minute).iter().map(|c| c.trades).sum();
    assert_eq!(counted, n - 1);

    let state = MarketDataState::with_store(store.clone());
    state.install(view);
    let app = flowex_market_data::router(state);
    let old = get(
        &app,
        "/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1&limit=3",
    )
    .await;
    assert_eq!(ids(&old), [1, 2, 3], "read from SQL");
    assert_eq!(old[1]["price"], "1.02000000");
    assert_eq!(old[1]["isBuyerMaker"], true);
    let kept = get(
        &app,
        &format!(
            "/api/v3/historicalTrades?symbol=BTCUSDT&fromId={}&limit=2",
            n - 1
        ),
    )
    .await;
    assert_eq!(ids(&kept), [n - 1, n]);
    let recent = get(&app, "/api/v3/historicalTrades?symbol=BTCUSDT&limit=1").await;
    assert_eq!(ids(&recent), [n]);
    store.close().await;
}
