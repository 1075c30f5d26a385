//! Migration 0005: orders stored with Binance's spellings (0002's schema)
//! are converted to the engine's codes, on SQLite and (with
//! `FLOWEX_TEST_POSTGRES_URL`) on PostgreSQL; a spelling it does not know
//! fails the migration and leaves the rows as they were.

use flowex_store::{OrderQuery, Store};
use flowex_types::{EndReason, OrderStatus, OrderType, Side, StpMode, TimeInForce};
use sqlx::Executor;

const INSERT: &str = "INSERT INTO orders (id, user_id, market_id, symbol, client_order_id, \
    side, order_type, time_in_force, price, orig_qty, orig_quote_qty, executed_qty, \
    cum_quote_qty, status, stop_price, stp_mode, time, update_time, working_time, end_reason, seq) \
    VALUES ";

/// The database at `url` migrated up to 0004, with two orders as 0002 stored them.
async fn before_0005(url: &str, rows: &[&str]) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 5)
        .cloned()
        .collect();
    migrator.migrations = older.into();
    migrator.run(&pool).await.unwrap();
    for row in rows {
        pool.execute(format!("{INSERT}{row}").as_str())
            .await
            .unwrap();
    }
    pool
}

const STOP: &str = "(1, 7, 1, 'BTCUSDT', 'a', 'BUY', 'STOP_LOSS_LIMIT', 'GTC', '7000000', \
    '1000', '0', '0', '0', 'NEW', '6900000', 'EXPIRE_MAKER', 10, 10, NULL, NULL, 3)";
const MARKET: &str = "(2, 7, 1, 'BTCUSDT', NULL, 'SELL', 'MARKET', 'IOC', '0', '0', '1000', \
    '5', '300', 'EXPIRED_IN_MATCH', '0', 'DECREMENT', 11, 12, 11, 'SELF_TRADE_PREVENTION', 4)";
const ODD: &str = "(3, 7, 1, 'BTCUSDT', NULL, 'SELL', 'ICEBERG', 'IOC', '0', '0', '0', \
    '0', '0', 'NEW', '0', 'NONE', 11, 12, 11, NULL, 5)";

async fn converts(url: &str) {
    let pool = before_0005(url, &[STOP, MARKET]).await;
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let orders = store
        .list_orders(&OrderQuery {
            user_id: 7,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(orders.len(), 2);
    let (stop, market) = (&orders[0], &orders[1]);
    assert_eq!(
        (
            stop.side,
            stop.order_type,
            stop.time_in_force,
            stop.status,
            stop.stp_mode
        ),
        (
            Side::Buy,
            OrderType::StopLossLimit,
            TimeInForce::Gtc,
            OrderStatus::New,
            StpMode::ExpireMaker
        )
    );
    assert_eq!(
        (stop.end_reason, stop.working_time, stop.stop_price),
        (None, None, 6_900_000)
    );
    assert_eq!(
        (
            market.side,
            market.order_type,
            market.time_in_force,
            market.status,
            market.stp_mode
        ),
        (
            Side::Sell,
            OrderType::Market,
            TimeInForce::Ioc,
            OrderStatus::ExpiredInMatch,
            StpMode::Decrement
        )
    );
    assert_eq!(market.end_reason, Some(EndReason::SelfTradePrevention));
    assert_eq!(
        (
            market.client_order_id.as_deref(),
            market.cum_quote_qty,
            market.seq
        ),
        (None, 300, 4)
    );
    let open = store
        .list_orders(&OrderQuery {
            user_id: 7,
            statuses: vec![OrderStatus::New],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "the status index still filters");
    store.close().await;
    pool.close().await;
}

async fn refuses_unknown_spellings(url: &str) {
    let pool = before_0005(url, &[STOP, ODD]).await;
    let store = Store::connect(url).await.unwrap();
    assert!(store.migrate().await.is_err(), "ICEBERG has no code");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE order_type = 'ICEBERG'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "rolled back: the rows are as they were");
    store.close().await;
    pool.close().await;
}

#[tokio::test]
async fn sqlite_rows_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    converts(&url).await;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    refuses_unknown_spellings(&url).await;
}

#[tokio::test]
async fn postgres_rows_are_converted() {
    use flowex_testkit::postgres::TestDatabase;
    for check in [0, 1] {
        let Some(db) = TestDatabase::create("order_codes").await else {
            return;
        };
        if check == 0 {
            converts(&db.url).await;
        } else {
            refuses_unknown_spellings(&db.url).await;
        }
        db.drop_database().await;
    }
}
