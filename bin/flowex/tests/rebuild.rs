//! Rebuild equality: every projection rebuilt from the journal alone, at
//! several seqs, equals the live one that followed the sequencer — the
//! order history and the wallet ledger row for row (and the configuration
//! each stored with its offset equals the engine's at that seq), market
//! data's view exactly. The stream updates a market, halts and reopens it,
//! lists a second market and sets a user's fee tier half way, so a
//! projection that read today's configuration instead of the one of the
//! time would differ.

use flowex_bus::{Catalog, Ended, FollowStatus, Follower, Source};
use flowex_market_data::{feed, view::View, MarketDataState};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_store::Store;
use flowex_trading::projector::OrderHistory;
use flowex_types::{
    AssetId, Command, IdemKey, MarketConfig, MarketId, MarketStatus, MarketUpdate, NewOrder,
    OrderQty, OrderType, Side, StpMode, Symbol, TimeInForce, UserId,
};
use flowex_wallet::ledger::Ledger;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SEED: u64 = 0x5eed_0008;

fn asset(id: u32, code: &str) -> Command {
    Command::CreateAsset(flowex_testkit::asset(id, code))
}

fn new_market(id: u32, symbol: &str, base: u32, quote: u32) -> Command {
    Command::CreateMarket(MarketConfig {
        id: MarketId(id),
        symbol: Symbol::new(symbol).unwrap(),
        base: AssetId(base),
        quote: AssetId(quote),
        min_notional: 0,
        taker_fee_ppm: 2000,
        ..flowex_testkit::btcusdt()
    })
}

fn deposits(assets: &[u32], tag: &str) -> Vec<Command> {
    let mut v = Vec::new();
    for user in 1..=4u64 {
        for &asset in assets {
            v.push(Command::Deposit {
                key: IdemKey::new(&format!("{tag}-{user}-{asset}")).unwrap(),
                user: UserId(user),
                asset: AssetId(asset),
                amount: 1_000_000_000_000_000,
            });
        }
    }
    v
}

/// A seeded stream of crossing and resting limit orders in `markets`.
fn orders(rng: &mut u64, markets: &[u32], n: usize) -> Vec<Command> {
    let mut next = || {
        *rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *rng >> 33
    };
    (0..n)
        .map(|_| {
            let side = [Side::Buy, Side::Sell][(next() % 2) as usize];
            Command::PlaceOrder(NewOrder {
                user: UserId(1 + next() % 4),
                market: MarketId(markets[(next() % markets.len() as u64) as usize]),
                side,
                order_type: OrderType::Limit,
                tif: TimeInForce::Gtc,
                price: 5_000 + next() % 40,
                qty: OrderQty::Base(1 + next() % 50),
                stop_price: 0,
                client_id: None,
                stp: Some(StpMode::None),
            })
        })
        .collect()
}

async fn submit_all(handle: &SequencerHandle, cmds: Vec<Command>) -> u64 {
    let mut last = 0;
    for c in cmds {
        let applied = handle.submit(c).await.unwrap();
        assert!(
            applied.rejection().is_none(),
            "{c:?}: {:?}",
            applied.events()
        );
        last = applied.seq();
    }
    last
}

async fn open_store(path: &Path) -> Store {
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Every row a projection writes, as text, in key order.
async fn dump(store_path: &Path) -> Vec<(String, Vec<String>)> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", store_path.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut out = Vec::new();
    for table in [
        "orders",
        "trades",
        "ledger_entries",
        "balances",
        "deposits",
        "projector_offsets",
    ] {
        let cols: Vec<String> = sqlx::query(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        assert!(!cols.is_empty(), "table {table}");
        let row = cols
            .iter()
            .map(|c| format!("quote({c})"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows = sqlx::query(&format!("SELECT {row} FROM {table} ORDER BY 1"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        out.push((table.to_string(), rows));
    }
    conn.close().await.unwrap();
    out
}

/// The order history and the ledger rebuilt into `path` from the journal
/// alone, up to `to` (resuming from what `path` already holds).
async fn rebuild_sql(journal: &Path, path: &Path, to: u64) {
    let store = open_store(path).await;
    let source = || Source::Journal {
        dir: journal.to_path_buf(),
        to,
    };
    let status = Arc::new(FollowStatus::new("orders", 0));
    let mut history = Follower::new(source(), OrderHistory::new(store.clone()), status);
    assert_eq!(history.run().await, Ended::Done);
    let status = Arc::new(FollowStatus::new("wallet", 0));
    let mut ledger = Follower::new(source(), Ledger::new(store.clone()), status);
    assert_eq!(ledger.run().await, Ended::Done);
    store.close().await;
}

/// Market data's view rebuilt from the engine at `from` (journal snapshot +
/// replay) and the journal's records after it up to `to`, with the SQL
/// trade history of `store` as a start does.
async fn rebuild_view(journal: &Path, from: u64, to: u64, store: &Store) -> View {
    let dir = journal.to_path_buf();
    let (snap, records) = tokio::task::spawn_blocking(move || {
        let engine = flowex_bus::engine_at(&dir, from).unwrap();
        let snap = flowex_bus::wire::MarketSnapshot::of(&engine);
        let mut records = Vec::new();
        flowex_bus::regenerate(&dir, from + 1, to, |r| {
            records.push(r);
            true
        })
        .unwrap();
        (snap, records)
    })
    .await
    .unwrap();
    let mut view = feed::build(&snap, Some(store)).await;
    for r in &records {
        view.apply(r);
    }
    view
}

/// The catalog a projection stored with its offset.
async fn stored_catalog(store: &Store, name: &str) -> (u64, Catalog) {
    let (seq, json) = store.projector_state(name).await.unwrap();
    (
        seq,
        Catalog::from_json(&json.expect("a stored catalog")).unwrap(),
    )
}

async fn engine_catalog(journal: &Path, seq: u64) -> Catalog {
    let dir = journal.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Catalog::of_engine(&flowex_bus::engine_at(&dir, seq).unwrap())
    })
    .await
    .unwrap()
}

struct Live {
    handle: SequencerHandle,
    journal: PathBuf,
    db: PathBuf,
    store: Store,
    statuses: Vec<Arc<FollowStatus>>,
    market: MarketDataState,
}

impl Live {
    /// Waits until every live projection is at `seq`.
    async fn settled(&self, seq: u64) {
        for s in &self.statuses {
            assert!(
                s.wait_for(seq, Duration::from_secs(60)).await,
                "{}",
                s.to_json()
            );
        }
        assert!(
            self.market
                .feed()
                .wait_for(seq, Duration::from_secs(60))
                .await,
            "{}",
            self.market.feed().to_json()
        );
    }

    /// Rebuilds everything at `seq` and compares it with the live state.
    async fn check_at(&self, seq: u64, scratch: &Path, resumed: &Path, view_from: u64) {
        self.settled(seq).await;
        let live = dump(&self.db).await;
        for (table, rows) in &live[..4] {
            assert!(!rows.is_empty(), "the live {table} is empty");
        }
        // From nothing, and resuming a rebuild left at an earlier seq.
        rebuild_sql(&self.journal, scratch, seq).await;
        rebuild_sql(&self.journal, resumed, seq).await;
        assert_eq!(dump(scratch).await, live, "rebuilt from seq 0 to {seq}");
        assert_eq!(dump(resumed).await, live, "rebuild resumed up to {seq}");
        // The configuration each stored is the engine's at that seq.
        let engine = engine_catalog(&self.journal, seq).await;
        for name in ["orders", "wallet"] {
            assert_eq!(
                stored_catalog(&self.store, name).await,
                (seq, engine.clone())
            );
        }
        // Market data, from the start and from a snapshot part way.
        let live_view = self.market.read().canonical();
        for from in [0, view_from] {
            let view = rebuild_view(&self.journal, from, seq, &self.store).await;
            assert_eq!(view.canonical(), live_view, "view from {from} to {seq}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_rebuilt_from_the_journal_equal_the_live_ones() {
    println!("seed {SEED:#x}");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut seq_cfg = SequencerConfig::new(JournalConfig::new(journal.clone()));
    // Snapshots along the way, so rebuilds start from one.
    seq_cfg.snapshot_every = 50;
    let (sequencer, _) = Sequencer::start(seq_cfg).unwrap();
    let handle = sequencer.handle();
    let db = dir.path().join("live.db");
    let store = open_store(&db).await;
    let mut statuses = Vec::new();
    for name in ["orders", "wallet"] {
        let status = Arc::new(FollowStatus::new(name, 0));
        statuses.push(status.clone());
        let source = Source::sequencer(handle.clone(), journal.clone());
        let store = store.clone();
        tokio::spawn(async move {
            if name == "orders" {
                Follower::new(source, OrderHistory::new(store), status)
                    .run()
                    .await
            } else {
                Follower::new(source, Ledger::new(store), status)
                    .run()
                    .await
            }
        });
    }
    let market = MarketDataState::new();
    tokio::spawn(feed::follow_sequencer(handle.clone(), None, market.clone()));
    let live = Live {
        handle,
        journal,
        db,
        store,
        statuses,
        market,
    };
    let (scratch, resumed) = (dir.path().join("scratch"), dir.path().join("resumed.db"));
    let mut rng = SEED;

    // 1. Two assets, one market, money, trades.
    let mut cmds = vec![
        asset(1, "BTC"),
        asset(2, "USDT"),
        new_market(1, "BTCUSDT", 1, 2),
    ];
    cmds.extend(deposits(&[1, 2], "a"));
    cmds.extend(orders(&mut rng, &[1], 120));
    let s1 = submit_all(&live.handle, cmds).await;
    live.check_at(s1, &scratch.with_extension("1.db"), &resumed, s1 / 2)
        .await;

    // 2. The market is updated (fees, filters), halted and reopened; a
    // second market is listed; trading goes on in both.
    let update = MarketUpdate {
        maker_fee_ppm: Some(0),
        taker_fee_ppm: Some(5000),
        max_qty: Some(800_000_000),
        ..MarketUpdate::default()
    };
    let mut cmds = vec![
        Command::UpdateMarket {
            market: MarketId(1),
            update,
        },
        Command::SetMarketStatus {
            market: MarketId(1),
            status: MarketStatus::Halted,
        },
        Command::SetMarketStatus {
            market: MarketId(1),
            status: MarketStatus::Trading,
        },
        asset(3, "ETH"),
        new_market(2, "ETHUSDT", 3, 2),
        Command::SetUserFees {
            user: UserId(2),
            fees: Some((100, 200)),
        },
    ];
    cmds.extend(deposits(&[3], "b"));
    cmds.extend(orders(&mut rng, &[1, 2], 120));
    let s2 = submit_all(&live.handle, cmds).await;
    live.check_at(s2, &scratch.with_extension("2.db"), &resumed, s1 + 3)
        .await;

    // 3. The fee tier goes, the second market halts, more trades.
    let mut cmds = vec![
        Command::SetUserFees {
            user: UserId(2),
            fees: None,
        },
        Command::SetMarketStatus {
            market: MarketId(2),
            status: MarketStatus::Halted,
        },
    ];
    cmds.extend(orders(&mut rng, &[1], 80));
    let s3 = submit_all(&live.handle, cmds).await;
    live.check_at(s3, &scratch.with_extension("3.db"), &resumed, s2 + 1)
        .await;
    // The configuration moved between the checks: each one was of its seq.
    let (c1, c3) = (
        engine_catalog(&live.journal, s1).await,
        engine_catalog(&live.journal, s3).await,
    );
    assert_eq!(c1.market(MarketId(1)).unwrap().taker_fee_ppm, 2000);
    assert_eq!(c3.market(MarketId(1)).unwrap().taker_fee_ppm, 5000);
    assert_eq!(c3.market(MarketId(2)).unwrap().status, MarketStatus::Halted);
    drop(live);
    sequencer.shutdown().unwrap();
}

/// Projection throughput, not part of the suite (timings are no test):
/// `cargo test -p flowex --test rebuild -- --ignored --nocapture`. Builds a
/// journal of `FLOWEX_BENCH_COMMANDS` commands (default 20 000), then
/// rebuilds each SQL projection from it into a fresh SQLite file, one
/// transaction per seq or per batch of up to 1 024 records, with commits
/// that wait for the disk or not; one JSON object per run on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn projection_throughput() {
    let n: usize = std::env::var("FLOWEX_BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let (sequencer, _) =
        Sequencer::start(SequencerConfig::new(JournalConfig::new(journal.clone()))).unwrap();
    let handle = sequencer.handle();
    let mut cmds = vec![
        asset(1, "BTC"),
        asset(2, "USDT"),
        new_market(1, "BTCUSDT", 1, 2),
    ];
    cmds.extend(deposits(&[1, 2], "a"));
    submit_all(&handle, cmds).await;
    let mut rng = SEED;
    for chunk in orders(&mut rng, &[1], n).chunks(512) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|&c| {
                let h = handle.clone();
                tokio::spawn(async move { h.submit(c).await })
            })
            .collect();
        for p in pending {
            p.await.unwrap().unwrap();
        }
    }
    let last = handle.stats().durable_seq;
    drop(handle);
    sequencer.shutdown().unwrap();
    for (batch, durable) in [(1, true), (1, false), (1024, true), (1024, false)] {
        for projection in ["orders", "wallet"] {
            let path = dir
                .path()
                .join(format!("{projection}-{batch}-{durable}.db"));
            let options = flowex_store::StoreOptions {
                durable_projections: durable,
                ..Default::default()
            };
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let store = Store::connect_with(&url, options).await.unwrap();
            store.migrate().await.unwrap();
            let source = Source::Journal {
                dir: journal.clone(),
                to: last,
            };
            let status = Arc::new(FollowStatus::new(projection, 0));
            let started = std::time::Instant::now();
            let ended = if projection == "orders" {
                let p = OrderHistory::new(store.clone());
                Follower::new(source, p, status.clone())
                    .with_max_batch(batch)
                    .run()
                    .await
            } else {
                let p = Ledger::new(store.clone());
                Follower::new(source, p, status.clone())
                    .with_max_batch(batch)
                    .run()
                    .await
            };
            let elapsed = started.elapsed();
            assert_eq!(ended, Ended::Done);
            assert_eq!(status.last_seq(), last);
            let report = serde_json::json!({
                "projection": projection,
                "max_batch": batch,
                "commits_wait_for_disk": durable,
                "records": last,
                "transactions": status.report().batches,
                "elapsed_ms": elapsed.as_millis() as u64,
                "records_per_sec": u128::from(last) * 1_000_000_000 / elapsed.as_nanos().max(1),
            });
            println!("{report}");
            store.close().await;
        }
    }
}
