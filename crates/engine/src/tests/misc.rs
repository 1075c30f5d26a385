//! Client order ids, cancel-all, book events, snapshots, sequencing.

use super::*;
use Side::{Buy, Sell};

#[test]
fn client_order_ids_are_unique_among_open_orders_of_a_user() {
    let mut h = H::funded();
    let a = h.place_ok(with_cid(lim(A, Buy, 500, 1), "x-1"));
    h.reject(
        Command::PlaceOrder(with_cid(lim(A, Buy, 499, 1), "x-1")),
        RejectReason::DuplicateClientOrderId,
    );
    h.reject(
        Command::PlaceOrder(with_cid(
            stop(A, Sell, OrderType::StopLoss, 0, 400, 1),
            "x-1",
        )),
        RejectReason::DuplicateClientOrderId,
    );
    // Another user may use the same id.
    let c = h.place_ok(with_cid(lim(C, Buy, 490, 1), "x-1"));
    // Someone else's client id is unknown to me.
    h.reject(
        Command::CancelOrder {
            user: B,
            market: M,
            order: OrderRef::Client(cid("x-1")),
        },
        RejectReason::UnknownOrder,
    );
    assert_eq!(h.e.order_by_client_id(A, cid("x-1")).unwrap().id, a);
    assert_eq!(h.e.order_by_client_id(C, cid("x-1")).unwrap().id, c);
    // Cancel by client id, then the id is free again.
    let ev = h.ok(Command::CancelOrder {
        user: A,
        market: M,
        order: OrderRef::Client(cid("x-1")),
    });
    assert_eq!(upd(&ev, a).status, OrderStatus::Canceled);
    assert!(h.e.order_by_client_id(A, cid("x-1")).is_none());
    let a2 = h.place_ok(with_cid(lim(A, Sell, 600, 1), "x-1"));
    // Filled orders free their id too.
    h.place_ok(mkt(B, Buy, 1));
    assert!(h.e.order(a2).is_none());
    let a3 = h.place_ok(with_cid(lim(A, Buy, 480, 1), "x-1"));
    assert_eq!(h.e.order_by_client_id(A, cid("x-1")).unwrap().id, a3);
    // An IOC never rests, so its id can be reused at once.
    h.place_ok(with_cid(lim_tif(B, Buy, 1, 1, TimeInForce::Ioc), "io"));
    h.place_ok(with_cid(lim_tif(B, Buy, 1, 1, TimeInForce::Ioc), "io"));
    // Cancel by unknown client id.
    h.reject(
        Command::CancelOrder {
            user: A,
            market: M,
            order: OrderRef::Client(cid("nope")),
        },
        RejectReason::UnknownOrder,
    );
    // The right order in the wrong market is unknown.
    h.add_eth_market();
    h.reject(
        Command::CancelOrder {
            user: A,
            market: M2,
            order: OrderRef::Id(a3),
        },
        RejectReason::UnknownOrder,
    );
}

#[test]
fn cancel_all_per_user_per_market_and_per_market() {
    let mut h = H::funded();
    h.add_eth_market();
    h.deposit(A, ETH, 50_000);
    h.deposit(C, ETH, 50_000);
    let a1 = h.limit(A, Buy, 500, 1);
    let a2 = h.place_ok(NewOrder {
        market: M2,
        ..lim(A, Sell, 900, 2)
    });
    let a3 = h.place_ok(stop(A, Sell, OrderType::StopLoss, 0, 400, 1));
    let a4 = h.limit(A, Sell, 700, 1);
    let c1 = h.limit(C, Buy, 501, 1);
    let c2 = h.place_ok(NewOrder {
        market: M2,
        ..lim(C, Sell, 901, 2)
    });
    // User A in BTCUSD only.
    let ev = h.ok(Command::CancelAll {
        user: Some(A),
        market: Some(M),
    });
    let mass = |id| {
        u(
            id,
            OrderStatus::Canceled,
            0,
            0,
            Some(EndReason::MassCanceled),
        )
    };
    assert_eq!(updates(&ev), vec![mass(a1), mass(a3), mass(a4)]);
    assert_eq!(h.open_ids(A), vec![a2]);
    assert_eq!(h.bal(A, USD), (FU, 0));
    assert_eq!(h.bal(A, BTC), (FB, 0));
    assert_eq!(h.bal(A, ETH), (50_000 - b(2), b(2)));
    // User A everywhere.
    let a5 = h.limit(A, Buy, 450, 1);
    let ev = h.ok(Command::CancelAll {
        user: Some(A),
        market: None,
    });
    assert_eq!(updates(&ev), vec![mass(a2), mass(a5)]);
    assert!(h.open_ids(A).is_empty());
    assert_eq!(h.bal(A, ETH), (50_000, 0));
    // Everyone in one market.
    let d1 = h.limit(D, Sell, 800, 3);
    let ev = h.ok(Command::CancelAll {
        user: None,
        market: Some(M),
    });
    assert_eq!(updates(&ev), vec![mass(c1), mass(d1)]);
    assert_eq!(h.depth(), (vec![], vec![]));
    assert_eq!(h.open_ids(C), vec![c2]);
    // Everyone everywhere; nothing to cancel is not an error.
    let ev = h.ok(Command::CancelAll {
        user: None,
        market: None,
    });
    assert_eq!(updates(&ev), vec![mass(c2)]);
    assert_eq!(h.e.open_order_count(), 0);
    let ev = h.ok(Command::CancelAll {
        user: Some(UserId(42)),
        market: None,
    });
    assert!(ev.is_empty());
}

#[test]
fn book_changes_are_coalesced_per_level_with_gap_free_ids() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 1);
    h.limit(C, Sell, 500, 2);
    h.limit(D, Sell, 510, 4);
    h.limit(D, Buy, 400, 1);
    let before = h.e.depth(M, 10).unwrap().update_id;
    assert_eq!(before, 4);
    let ev = h.place(lim(A, Buy, 510, 5));
    let book: Vec<(Side, u64, u64, u64)> = ev
        .iter()
        .filter_map(|e| match *e {
            Event::BookChanged {
                side,
                price,
                qty,
                update_id,
                ..
            } => Some((side, price, qty, update_id)),
            _ => None,
        })
        .collect();
    // Three makers at 500 gone, 510 down to 2: one event per level, final values.
    assert_eq!(book, vec![(Sell, 500, 0, 5), (Sell, 510, 2, 6)]);
    assert_eq!(
        h.e.depth(M, 10).unwrap(),
        crate::Depth {
            bids: vec![(400, 1)],
            asks: vec![(510, 2)],
            update_id: 6
        }
    );
    assert_eq!(h.e.depth(M, 0).unwrap().bids, vec![]);
    // A rejected command moves no update id.
    h.reject(
        Command::PlaceOrder(lim(A, Buy, 0, 1)),
        RejectReason::InvalidPrice,
    );
    assert_eq!(h.e.depth(M, 10).unwrap().update_id, 6);
    // A resting order that rests and is canceled in separate commands: two ids.
    let a = h.limit(A, Buy, 450, 1);
    h.cancel(A, a);
    assert_eq!(h.e.depth(M, 10).unwrap().update_id, 8);
    assert_eq!(
        h.last
            .iter()
            .filter(|e| matches!(
                e,
                Event::BookChanged {
                    price: 450,
                    qty: 0,
                    ..
                }
            ))
            .count(),
        1
    );
}

#[test]
fn balance_changes_are_coalesced_and_final() {
    let mut h = H::with_fees(1000, 1000);
    h.fund_all();
    h.limit(B, Sell, 500, 1);
    h.limit(B, Sell, 501, 1);
    let ev = h.place(mkt(A, Buy, 2));
    let bal: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, Event::BalanceChanged { .. }))
        .copied()
        .collect();
    // A: USD and BTC; B: USD (BTC was locked before and is spent); fee account: BTC and USD.
    assert_eq!(bal.len(), 6, "{bal:?}");
    assert!(bal.contains(&Event::BalanceChanged {
        user: A,
        asset: USD,
        available: FU - q(500, 1) - q(501, 1),
        locked: 0
    }));
    assert!(bal.contains(&Event::BalanceChanged {
        user: A,
        asset: BTC,
        available: FB + 2000 - 2,
        locked: 0
    }));
}

#[test]
fn snapshot_round_trip_behaves_identically() {
    let mut h = H::with_fees(1000, 2000);
    h.fund_all();
    h.add_eth_market();
    h.deposit(C, ETH, 90_000);
    h.ok(Command::SetUserFees {
        user: B,
        fees: Some((0, 100)),
    });
    h.ok(Command::SetUserFrozen {
        user: D,
        frozen: true,
    });
    h.ok(Command::SetLimits(EngineLimits {
        max_open_orders_per_user: 50,
        max_orders_per_market: 500,
    }));
    h.ok(Command::WithdrawLock {
        key: key("pend"),
        user: A,
        asset: USD,
        amount: 1_000,
    });
    h.ok(Command::WithdrawLock {
        key: key("done"),
        user: A,
        asset: USD,
        amount: 2_000,
    });
    h.ok(Command::WithdrawFinalize { key: key("done") });
    h.limit(B, Sell, 500, 1);
    h.place_ok(mkt(A, Buy, 1));
    h.place_ok(with_cid(lim(A, Buy, 480, 3), "keep"));
    h.limit(C, Buy, 480, 2);
    h.limit(B, Buy, 490, 1);
    h.limit(B, Sell, 520, 4);
    h.limit(C, Sell, 520, 1);
    h.place_ok(stop(C, Sell, OrderType::StopLoss, 0, 485, 2));
    h.place_ok(stop(B, Sell, OrderType::StopLossLimit, 470, 484, 1));
    h.place_ok(stop(A, Buy, OrderType::TakeProfit, 0, 470, 1));
    h.place_ok(NewOrder {
        market: M2,
        ..lim(C, Sell, 700, 3)
    });

    let bytes = h.e.snapshot();
    let mut r = Engine::restore(&bytes).unwrap();
    assert_eq!(r.state_hash(), h.e.state_hash());
    assert_eq!(r.snapshot(), bytes);
    assert_eq!(r.last_seq(), h.seq);
    assert!(r.check_invariants().is_ok());
    for user in USERS {
        assert_eq!(r.open_orders(user, None), h.e.open_orders(user, None));
        assert_eq!(r.balances(user), h.e.balances(user));
    }
    assert_eq!(r.depth(M, 100), h.e.depth(M, 100));
    assert_eq!(r.limits(), h.e.limits());

    let next = [
        Command::PlaceOrder(mkt(D, Sell, 1)),
        Command::PlaceOrder(mkt(B, Sell, 4)),
        Command::PlaceOrder(with_cid(lim(A, Buy, 480, 1), "keep")),
        Command::ReplaceOrder {
            user: A,
            market: M,
            order: OrderRef::Client(cid("keep")),
            new_price: Some(530),
            new_qty: None,
        },
        Command::Deposit {
            key: key("pend"),
            user: A,
            asset: USD,
            amount: 5,
        },
        Command::WithdrawFinalize { key: key("pend") },
        Command::WithdrawRelease { key: key("done") },
        Command::PlaceOrder(NewOrder {
            market: M2,
            ..mkt(A, Buy, 1)
        }),
        Command::CancelAll {
            user: None,
            market: None,
        },
    ];
    let mut triggered_any = false;
    for c in next {
        let mut theirs = Vec::new();
        let env = Envelope {
            seq: h.seq + 1,
            timestamp_ns: h.now + 1_000,
            command: c,
        };
        r.apply(&env, &mut theirs).unwrap();
        let ours = h.cmd(c);
        assert_eq!(theirs, ours, "{c:?}");
        triggered_any |= !triggered(&ours).is_empty();
        assert_eq!(r.state_hash(), h.e.state_hash());
    }
    assert!(triggered_any, "the restored stops took part");
}

#[test]
fn corrupt_snapshots_are_refused() {
    let h = H::funded();
    let bytes = h.e.snapshot();
    assert!(matches!(
        Engine::restore(&bytes[..bytes.len() / 2]),
        Err(crate::SnapshotError::Decode(_))
    ));
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(matches!(
        Engine::restore(&v2),
        Err(crate::SnapshotError::Version(2))
    ));
}

#[test]
fn out_of_sequence_commands_change_nothing() {
    let mut h = H::funded();
    h.limit(A, Buy, 500, 1);
    let hash = h.e.state_hash();
    let c = Command::PlaceOrder(mkt(B, Sell, 1));
    for seq in [0, h.seq, h.seq + 2, u64::MAX] {
        let mut out = vec![Event::Duplicate {
            key: key("sentinel"),
        }];
        let err =
            h.e.apply(
                &Envelope {
                    seq,
                    timestamp_ns: h.now + 5,
                    command: c,
                },
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            err,
            crate::SequenceError {
                expected: h.seq + 1,
                got: seq
            }
        );
        assert_eq!(
            out,
            vec![Event::Duplicate {
                key: key("sentinel")
            }]
        );
        assert_eq!(h.e.state_hash(), hash);
        assert_eq!(h.e.last_seq(), h.seq);
    }
    // The right one still applies.
    let ev = h.place(mkt(B, Sell, 1));
    assert_eq!(trades(&ev).len(), 1);
}

#[test]
fn same_commands_same_events_same_hash() {
    let run = || {
        let mut h = H::with_fees(1000, 2000);
        h.fund_all();
        let mut all = Vec::new();
        for i in 0..30u64 {
            let user = [A, B, C, D][(i % 4) as usize];
            let side = if i % 3 == 0 { Buy } else { Sell };
            let ev = h.place(lim(user, side, 495 + (i * 7) % 11, 1 + i % 4));
            all.extend(ev);
        }
        all.extend(h.place(mkt(A, Buy, 10)));
        (all, h.e.state_hash())
    };
    assert_eq!(run(), run());
}
