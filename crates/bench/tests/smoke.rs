//! End-to-end smoke test on a tiny stream. Structural facts only: timings
//! are never asserted.

use flowex_bench::{generate, run_engine, BenchOpts, GenOpts, Mix, Mode, PeerOp};

fn tiny(mix: Mix) -> GenOpts {
    GenOpts {
        seed: 7,
        commands: 20_000,
        mix,
        ..GenOpts::default()
    }
}

#[test]
fn exchange_core_mix_has_the_published_proportions() {
    let w = generate(&tiny(Mix::ExchangeCore));
    let c = w.counts;
    assert_eq!(c.total(), 20_000);
    assert_eq!(w.measured.len(), 20_000);
    assert_eq!(w.peer_measured.len(), 20_000);
    assert_eq!(
        c.rejected, 0,
        "every cancel/reduce/move targets a live order and every place is funded"
    );
    // Among the non-refill commands: 2/40 IOC, 1/40 cancel, 1/40 reduce, 36/40 move.
    let steady = (c.ioc + c.cancel + c.reduce + c.r#move) as f64;
    let share = |n: usize| n as f64 / steady;
    assert!(
        (share(c.ioc) - 2.0 / 40.0).abs() < 0.01,
        "ioc {}",
        share(c.ioc)
    );
    assert!(
        (share(c.cancel) - 1.0 / 40.0).abs() < 0.008,
        "cancel {}",
        share(c.cancel)
    );
    assert!(
        (share(c.reduce) - 1.0 / 40.0).abs() < 0.008,
        "reduce {}",
        share(c.reduce)
    );
    assert!(
        (share(c.r#move) - 36.0 / 40.0).abs() < 0.015,
        "move {}",
        share(c.r#move)
    );
    // Refills only replace what IOCs and cancels took away.
    assert!(c.place < c.ioc * 3 + c.cancel + 100);
    assert!(c.trades > 0);
    // The pre-filled book: 1,000 orders on roughly 750 levels.
    assert_eq!(w.book_after_setup.0, 1_000);
    assert!(
        (650..=850).contains(&w.book_after_setup.1),
        "levels {}",
        w.book_after_setup.1
    );
    assert!(w
        .peer_setup
        .iter()
        .all(|op| matches!(op, PeerOp::Place { ioc: false, .. })));
}

#[test]
fn orderbook_rs_mix_has_its_proportions() {
    let w = generate(&tiny(Mix::OrderbookRs));
    let c = w.counts;
    let share = |n: usize| n as f64 / c.total() as f64;
    assert_eq!(c.rejected, 0);
    assert!(
        (share(c.place) - 0.7).abs() < 0.02,
        "place {}",
        share(c.place)
    );
    assert!(
        (share(c.cancel) - 0.2).abs() < 0.02,
        "cancel {}",
        share(c.cancel)
    );
    assert!(
        (share(c.ioc) - 0.1).abs() < 0.02,
        "aggressive {}",
        share(c.ioc)
    );
    assert_eq!(c.reduce + c.r#move, 0);
}

#[test]
fn generation_is_deterministic() {
    let a = generate(&tiny(Mix::ExchangeCore));
    let b = generate(&tiny(Mix::ExchangeCore));
    assert_eq!(a.measured, b.measured);
    assert_eq!(a.expected_state_hash, b.expected_state_hash);
    let c = generate(&GenOpts {
        seed: 8,
        ..tiny(Mix::ExchangeCore)
    });
    assert_ne!(a.expected_state_hash, c.expected_state_hash);
}

#[test]
fn run_engine_end_to_end() {
    let opts = BenchOpts {
        seed: 7,
        commands: 20_000,
        rates: vec![200_000],
        latency_millis: 20,
        runs: 2,
        modes: vec![Mode::Engine],
        ..BenchOpts::default()
    };
    let first = run_engine(&opts).expect("engine mode runs");
    let second = run_engine(&opts).expect("engine mode runs");
    // Per mix: one closed-loop line and one open-loop line.
    assert_eq!(first.len(), 2 * Mix::ALL.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.name.as_str(), a.mode.as_str()), ("flowex", "engine"));
        assert!(a.state_hash.is_some() && a.book_hash.is_some());
        assert_eq!(a.state_hash, b.state_hash, "same seed, same final state");
        assert_eq!(a.book_hash, b.book_hash);
        assert!(a.ops_per_sec > 0.0 && a.commands > 0);
    }
    let closed = &first[0];
    assert_eq!(closed.rate, None);
    assert_eq!(closed.commands, 20_000);
    assert_eq!(closed.p99_ns, None);
    let open = &first[1];
    assert_eq!(open.rate, Some(200_000));
    assert_eq!(open.commands, 4_000);
    let (p50, p99, max) = (
        open.p50_ns.unwrap(),
        open.p99_ns.unwrap(),
        open.max_ns.unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max);
    let json: serde_json::Value = serde_json::from_str(&open.to_json()).unwrap();
    for key in [
        "name",
        "mode",
        "mix",
        "commands",
        "ops_per_sec",
        "p50_ns",
        "p99_ns",
        "p999_ns",
        "max_ns",
        "state_hash",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert!(flowex_bench::format_table(&first).lines().count() == first.len() + 1);
}

#[test]
fn durable_and_replay_modes_end_in_the_engine_state() {
    let opts = BenchOpts {
        seed: 3,
        commands: 5_000,
        mixes: vec![Mix::ExchangeCore],
        modes: vec![Mode::Engine, Mode::Durable, Mode::Replay, Mode::Snapshot],
        rates: vec![50_000],
        latency_millis: 20,
        runs: 1,
        ..BenchOpts::default()
    };
    // run_engine itself checks each mode's final state against the generator's.
    let results = run_engine(&opts).expect("all modes run");
    let modes: Vec<(&str, Option<u64>)> =
        results.iter().map(|r| (r.mode.as_str(), r.rate)).collect();
    assert_eq!(
        modes,
        [
            ("engine", None),
            ("engine", Some(50_000)),
            ("durable", None),
            ("durable", Some(50_000)),
            ("replay", None),
            ("snapshot", None)
        ]
    );
    let book = results[0].book_hash;
    assert!(results
        .iter()
        .filter(|r| r.rate.is_none() && r.mode != "snapshot")
        .all(|r| r.book_hash == book));
    assert_eq!(
        results[0].state_hash, results[4].state_hash,
        "replay reproduces the engine state"
    );
    let durable_open = &results[3];
    assert!(durable_open.p50_ns.is_some() && durable_open.commands == 1_000);
    let snapshot = &results[5];
    assert_eq!(
        snapshot.state_hash, results[0].state_hash,
        "snapshot of the final state"
    );
    assert!(
        snapshot.p50_ns.is_some() && snapshot.commands > 0,
        "{snapshot:?}"
    );
}
