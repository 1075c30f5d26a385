//! The sequencer against a real journal on disk: durability before replies,
//! read-your-writes, backpressure, slow subscribers, snapshots and recovery.

use flowex_engine::Engine;
use flowex_sequencer::*;
use flowex_types::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

const BTC: AssetId = AssetId(1);
const USD: AssetId = AssetId(2);
const BTCUSD: MarketId = MarketId(1);

fn setup_commands() -> Vec<Command> {
    let mut v = vec![
        Command::CreateAsset(AssetConfig {
            id: BTC,
            code: AssetCode::new("BTC").unwrap(),
            decimals: 3,
        }),
        Command::CreateAsset(AssetConfig {
            id: USD,
            code: AssetCode::new("USD").unwrap(),
            decimals: 2,
        }),
        Command::CreateMarket(MarketConfig {
            id: BTCUSD,
            symbol: Symbol::new("BTCUSD").unwrap(),
            base: BTC,
            quote: USD,
            tick_size: 100,
            lot_size: 1000,
            min_price: 1,
            max_price: 1_000_000,
            min_qty: 1,
            max_qty: 1_000_000,
            min_notional: 0,
            max_notional: 0,
            maker_fee_ppm: 1000,
            taker_fee_ppm: 2000,
            status: MarketStatus::Trading,
            allowed_stp: StpModes::ALL,
            default_stp: StpMode::None,
        }),
    ];
    for user in 1..=5 {
        for asset in [BTC, USD] {
            let key = IdemKey::new(&format!("seed-{user}-{}", asset.0)).unwrap();
            v.push(Command::Deposit {
                key,
                user: UserId(user),
                asset,
                amount: 1_000_000_000,
            });
        }
    }
    v
}

/// A seeded stream of limit orders and cancels (cancels name ids that may or may not be open).
fn random_commands(seed: u64, n: usize) -> Vec<Command> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let user = UserId(rng.gen_range(1..=5));
            if rng.gen_ratio(1, 4) && i > 0 {
                let order = OrderRef::Id(OrderId(rng.gen_range(1..=i as u64)));
                Command::CancelOrder {
                    user,
                    market: BTCUSD,
                    order,
                }
            } else {
                Command::PlaceOrder(NewOrder {
                    user,
                    market: BTCUSD,
                    side: if rng.gen_bool(0.5) {
                        Side::Buy
                    } else {
                        Side::Sell
                    },
                    order_type: OrderType::Limit,
                    tif: if rng.gen_ratio(1, 5) {
                        TimeInForce::Ioc
                    } else {
                        TimeInForce::Gtc
                    },
                    price: rng.gen_range(95..=105),
                    qty: OrderQty::Base(rng.gen_range(1..=10)),
                    stop_price: 0,
                    client_id: None,
                    stp: None,
                })
            }
        })
        .collect()
}

fn config(dir: &Path) -> SequencerConfig {
    let mut cfg = SequencerConfig::new(JournalConfig::new(dir));
    cfg.snapshot_every = 0;
    cfg
}

#[test]
fn replies_come_after_durability_and_restart_recovers_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (seq, report) = Sequencer::start(config(dir.path())).unwrap();
    assert_eq!(report.last_seq, 0);
    let h = seq.handle();
    let mut last = 0;
    for cmd in setup_commands().into_iter().chain(random_commands(7, 300)) {
        let applied = h.submit_blocking(cmd).unwrap();
        assert_eq!(applied.seq(), last + 1);
        // Acknowledged means durable: the journal already holds it.
        assert!(h.stats().durable_seq >= applied.seq());
        last = applied.seq();
    }
    let engine = seq.shutdown().unwrap();
    engine.check_invariants().unwrap();
    let (again, report) = Sequencer::start(config(dir.path())).unwrap();
    assert_eq!(report.last_seq, last);
    assert_eq!(report.replayed, last);
    assert_eq!(report.state_hash, engine.state_hash());
    assert_eq!(again.shutdown().unwrap().state_hash(), engine.state_hash());
}

#[tokio::test]
async fn read_your_writes_through_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (seq, _) = Sequencer::start(config(dir.path())).unwrap();
    let h = seq.handle();
    for cmd in setup_commands() {
        h.submit(cmd).await.unwrap();
    }
    let place = random_commands(1, 1).pop().unwrap();
    let applied = h.submit(place).await.unwrap();
    let Some(Event::OrderAccepted(info)) = applied.events().first().copied() else {
        panic!("{:?}", applied.events())
    };
    let open = h
        .query(move |e: &Engine| e.open_orders(info.user, None))
        .await
        .unwrap();
    assert_eq!(open.iter().map(|o| o.id).collect::<Vec<_>>(), vec![info.id]);
    drop(h);
    seq.shutdown().unwrap();
}

#[test]
fn a_full_queue_is_an_explicit_overload() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.queue_capacity = 8;
    let (seq, _) = Sequencer::start(cfg).unwrap();
    let h = seq.handle();
    // Park the engine thread inside a query so nothing drains the queue.
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let q = h.clone();
    let waiter = std::thread::spawn(move || {
        q.query_blocking(move |_| {
            parked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    parked_rx.recv().unwrap();
    let cmd = setup_commands()[0];
    let results: Vec<_> = (0..20).map(|_| h.submit_with(cmd, Reply::None)).collect();
    assert!(results[..8].iter().all(|r| r.is_ok()), "{results:?}");
    assert!(
        results[8..]
            .iter()
            .all(|r| matches!(r, Err(SequencerError::Overloaded))),
        "{results:?}"
    );
    assert_eq!(h.stats().overloaded, 12);
    // The depth counts what waits, not what was refused; the parked query is out.
    assert_eq!(h.stats().queue_depth, 8);
    let before = h.stats();
    release_tx.send(()).unwrap();
    waiter.join().unwrap().unwrap();
    // The queue drains and the sequencer takes commands again.
    h.submit_blocking(setup_commands()[1]).unwrap();
    let after = h.stats();
    assert_eq!(after.queue_depth, 0);
    assert_eq!(after.dequeued, before.dequeued + 9);
    // The eight waited at least as long as the engine was parked after them.
    assert!(after.queue_wait_ns > before.queue_wait_ns);
    drop(h);
    seq.shutdown().unwrap();
}

#[test]
fn a_slow_subscriber_is_dropped_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.subscriber_capacity = 2;
    cfg.journal.durability = Durability::None;
    let (seq, _) = Sequencer::start(cfg).unwrap();
    let h = seq.handle();
    let mut slow = h.subscribe().unwrap();
    // The reader thread may be descheduled for a while on a busy machine:
    // room for every batch keeps "fast" from lagging for reasons of its own.
    let mut fast = h.subscribe_with_capacity(1_000).unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = 0;
        while let Ok(b) = fast.blocking_recv() {
            seen += b.len();
        }
        seen
    });
    let commands: Vec<_> = setup_commands()
        .into_iter()
        .chain(random_commands(3, 200))
        .collect();
    for cmd in &commands {
        h.submit_blocking(*cmd).unwrap();
    }
    // Two batches were buffered for the slow one, then it was dropped and told why.
    assert!(slow.blocking_recv().is_ok());
    assert!(slow.blocking_recv().is_ok());
    assert_eq!(slow.blocking_recv().unwrap_err(), SubscriptionEnded::Lagged);
    assert_eq!(h.stats().lagged_subscribers, 1);
    drop(h);
    seq.shutdown().unwrap();
    assert_eq!(
        reader.join().unwrap(),
        commands.len(),
        "the fast subscriber saw every command"
    );
}

#[test]
fn snapshots_are_written_and_recovery_starts_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.snapshot_every = 50;
    cfg.max_batch = 16;
    cfg.journal.segment_bytes = 4096;
    let (seq, _) = Sequencer::start(cfg.clone()).unwrap();
    let h = seq.handle();
    for cmd in setup_commands().into_iter().chain(random_commands(11, 600)) {
        h.submit_blocking(cmd).unwrap();
    }
    let stats = h.stats();
    drop(h);
    let engine = seq.shutdown().unwrap();
    assert!(stats.snapshots >= 2, "{stats:?}");
    assert!(stats.max_snapshot_pause_ns > 0);
    let (again, report) = Sequencer::start(cfg).unwrap();
    let from = report.snapshot_seq.expect("recovered from a snapshot");
    assert_eq!(report.replayed, report.last_seq - from);
    assert_eq!(report.state_hash, engine.state_hash());
    again.shutdown().unwrap();
}

/// Cut the only journal segment at every byte offset: recovery must give
/// exactly the state after the last complete record, never a panic.
#[test]
fn recovery_after_a_torn_write_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let commands: Vec<_> = setup_commands()
        .into_iter()
        .chain(random_commands(5, 40))
        .collect();
    let mut expected = vec![Engine::new().state_hash()];
    let mut reference = Engine::new();
    let mut events = Vec::new();
    let (seq, _) = Sequencer::start(config(dir.path())).unwrap();
    let h = seq.handle();
    for cmd in &commands {
        let applied = h.submit_blocking(*cmd).unwrap();
        let env = Envelope {
            seq: applied.seq(),
            timestamp_ns: applied.timestamp_ns(),
            command: *cmd,
        };
        reference.apply(&env, &mut events).unwrap();
        expected.push(reference.state_hash());
    }
    drop(h);
    seq.shutdown().unwrap();
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let mut last_seen = 0;
    for cut in 0..=bytes.len() {
        let torn = tempfile::tempdir().unwrap();
        std::fs::write(
            torn.path().join(segment.file_name().unwrap()),
            &bytes[..cut],
        )
        .unwrap();
        let (engine, _, report) = recover(JournalConfig::new(torn.path())).unwrap();
        let k = report.last_seq as usize;
        assert!(
            k >= last_seen,
            "cut {cut}: recovered {k} records after {last_seen}"
        );
        last_seen = k;
        assert_eq!(
            engine.state_hash(),
            expected[k],
            "cut at byte {cut}: state differs from after record {k}"
        );
    }
    assert_eq!(last_seen, commands.len());
}
