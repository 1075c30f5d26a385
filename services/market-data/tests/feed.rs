//! The in-process feed against a real sequencer: a view started before the
//! orders and one started half-way through (from a snapshot) both end with
//! exactly the engine's book and update id, and the same trades.

use flowex_engine::Engine;
use flowex_market_data::{feed, MarketDataState};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_types::{
    AssetId, Command, IdemKey, MarketConfig, MarketId, NewOrder, OrderQty, OrderType, Side,
    StpMode, TimeInForce, UserId,
};
use std::time::{Duration, Instant};

const SEED: u64 = 0x5eed_0004;

fn setup_commands() -> Vec<Command> {
    let mut v = flowex_testkit::listing(MarketConfig {
        min_notional: 0,
        ..flowex_testkit::btcusdt()
    });
    for user in 1..=4u64 {
        for asset in [1u32, 2] {
            v.push(Command::Deposit {
                key: IdemKey::new(&format!("d-{user}-{asset}")).unwrap(),
                user: UserId(user),
                asset: AssetId(asset),
                amount: 1_000_000_000_000_000,
            });
        }
    }
    v
}

/// A seeded stream of crossing and resting limit orders.
fn orders(n: usize) -> Vec<Command> {
    let mut x = SEED;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..n)
        .map(|_| {
            let side = if next() % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            Command::PlaceOrder(NewOrder {
                user: UserId(1 + next() % 4),
                market: MarketId(1),
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

async fn submit_all(handle: &SequencerHandle, cmds: Vec<Command>) {
    for c in cmds {
        let applied = handle.submit(c).await.unwrap();
        assert!(
            applied.rejection().is_none(),
            "{c:?}: {:?}",
            applied.events()
        );
    }
}

async fn caught_up(state: &MarketDataState, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while state.feed().last_seq() < seq {
        assert!(
            Instant::now() < deadline,
            "the view is stuck at {}",
            state.feed().last_seq()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_match_the_engine_whenever_they_start() {
    println!("seed {SEED:#x}");
    let dir = tempfile::tempdir().unwrap();
    let (sequencer, _) = Sequencer::start(SequencerConfig::new(JournalConfig::new(
        dir.path().join("j"),
    )))
    .unwrap();
    let handle = sequencer.handle();
    let early = MarketDataState::new();
    let early_feed = tokio::spawn(feed::follow_sequencer(handle.clone(), None, early.clone()));
    submit_all(&handle, setup_commands()).await;
    submit_all(&handle, orders(200)).await;
    let late = MarketDataState::new();
    let late_feed = tokio::spawn(feed::follow_sequencer(handle.clone(), None, late.clone()));
    submit_all(&handle, orders(200)).await;

    let (seq, depth, last_price) = handle
        .query(|e: &Engine| {
            (
                e.last_seq(),
                e.depth(MarketId(1), usize::MAX).unwrap(),
                e.last_price(MarketId(1)),
            )
        })
        .await
        .unwrap();
    assert!(depth.update_id > 200, "the orders moved the book");
    for (name, state) in [("early", &early), ("late", &late)] {
        caught_up(state, seq).await;
        let view = state.read();
        let m = view.market("BTCUSDT").unwrap();
        assert_eq!(m.update_id(), depth.update_id, "{name}");
        assert_eq!(
            m.depth(usize::MAX),
            (depth.bids.clone(), depth.asks.clone()),
            "{name}"
        );
        assert_eq!(m.last_trade().map(|t| t.price), last_price, "{name}");
        assert_eq!(state.feed().gaps(), 0, "{name}");
    }
    {
        // The early view saw every trade; the late one those after its start.
        let (early_view, late_view) = (early.read(), late.read());
        let all = early_view
            .market("BTCUSDT")
            .unwrap()
            .recent_trades(usize::MAX);
        let after = late_view
            .market("BTCUSDT")
            .unwrap()
            .recent_trades(usize::MAX);
        assert!(!all.is_empty() && !after.is_empty());
        assert_eq!(all.first().unwrap().id, 1);
        assert_eq!(&all[all.len() - after.len()..], &after[..]);
        assert!(
            all.windows(2).all(|w| w[1].id == w[0].id + 1),
            "gap-free trade ids"
        );
    }

    drop(handle);
    early_feed.abort();
    late_feed.abort();
    tokio::task::spawn_blocking(move || sequencer.shutdown())
        .await
        .unwrap()
        .unwrap();
}

/// A follower that falls behind is dropped by the sequencer; it starts over
/// from a fresh snapshot and ends exact again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_view_starts_over_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (sequencer, _) = Sequencer::start(SequencerConfig::new(JournalConfig::new(
        dir.path().join("j"),
    )))
    .unwrap();
    let handle = sequencer.handle();
    submit_all(&handle, setup_commands()).await;
    let state = MarketDataState::new();
    let follower = tokio::spawn(feed::follow_sequencer_with(
        handle.clone(),
        None,
        state.clone(),
        1,
    ));
    let seq = handle.query(|e: &Engine| e.last_seq()).await.unwrap();
    caught_up(&state, seq).await;
    // Hold the view so the follower cannot apply, while batches pile up.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let _view = state.read();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
    };
    tokio::task::spawn_blocking(move || held_rx.recv().unwrap())
        .await
        .unwrap();
    submit_all(&handle, orders(20)).await;
    release_tx.send(()).unwrap();
    holder.await.unwrap();
    submit_all(&handle, orders(20)).await;

    let (seq, depth) = handle
        .query(|e: &Engine| (e.last_seq(), e.depth(MarketId(1), usize::MAX).unwrap()))
        .await
        .unwrap();
    caught_up(&state, seq).await;
    assert!(state.feed().restarts() >= 1, "{}", state.feed().to_json());
    {
        let view = state.read();
        let m = view.market("BTCUSDT").unwrap();
        assert_eq!(m.update_id(), depth.update_id);
        assert_eq!(m.depth(usize::MAX), (depth.bids, depth.asks));
    }
    drop(handle);
    follower.abort();
    tokio::task::spawn_blocking(move || sequencer.shutdown())
        .await
        .unwrap()
        .unwrap();
}
