//! Amend (ReplaceOrder): `new_qty` is the new remaining quantity. Lowering it
//! keeps time priority; a new price or a larger quantity loses it.

use super::*;
use Side::{Buy, Sell};

fn amended(ev: &[Event]) -> Option<(OrderId, u64, u64, bool)> {
    ev.iter().find_map(|e| match *e {
        Event::OrderAmended {
            order,
            price,
            remaining,
            kept_priority,
            ..
        } => Some((order, price, remaining, kept_priority)),
        _ => None,
    })
}

#[test]
fn lowering_quantity_keeps_priority_and_releases_funds() {
    for side in [Buy, Sell] {
        let mut h = H::funded();
        let a = h.limit(A, side, 500, 5);
        let c = h.limit(C, side, 500, 5);
        let ev = h.amend(A, a, None, Some(3));
        assert_eq!(
            ev[0],
            Event::OrderAmended {
                order: a,
                user: A,
                market: M,
                price: 500,
                remaining: 3,
                kept_priority: true
            }
        );
        match side {
            Buy => assert_eq!(h.bal(A, USD), (FU - q(500, 3), q(500, 3))),
            Sell => assert_eq!(h.bal(A, BTC), (FB - b(3), b(3))),
        }
        let book = if side == Buy {
            h.depth().0
        } else {
            h.depth().1
        };
        assert_eq!(book, vec![(500, 8)]);
        let ev = h.place(mkt(B, side.opposite(), 4));
        let x = accepted(&ev).unwrap();
        assert_eq!(fills(&ev), vec![(500, 3, a, x), (500, 1, c, x)]);
    }
}

#[test]
fn raising_quantity_loses_priority() {
    for side in [Buy, Sell] {
        let mut h = H::funded();
        let a = h.limit(A, side, 500, 5);
        let c = h.limit(C, side, 500, 5);
        let ev = h.amend(A, a, None, Some(6));
        assert_eq!(amended(&ev), Some((a, 500, 6, false)));
        match side {
            Buy => assert_eq!(h.bal(A, USD), (FU - q(500, 6), q(500, 6))),
            Sell => assert_eq!(h.bal(A, BTC), (FB - b(6), b(6))),
        }
        let ev = h.place(mkt(B, side.opposite(), 6));
        let x = accepted(&ev).unwrap();
        assert_eq!(fills(&ev), vec![(500, 5, c, x), (500, 1, a, x)]);
        assert_eq!(h.e.order(a).unwrap().remaining, 5);
    }
}

#[test]
fn changing_price_loses_priority() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 500, 2);
    let c = h.limit(C, Buy, 500, 2);
    let d = h.limit(D, Buy, 500, 2);
    let ev = h.amend(A, a, Some(499), None);
    assert_eq!(amended(&ev), Some((a, 499, 2, false)));
    assert_eq!(h.depth().0, vec![(500, 4), (499, 2)]);
    assert_eq!(h.bal(A, USD), (FU - q(499, 2), q(499, 2)));
    let ev = h.amend(A, a, Some(500), None);
    assert_eq!(amended(&ev), Some((a, 500, 2, false)));
    let ev = h.place(mkt(B, Sell, 5));
    let x = accepted(&ev).unwrap();
    assert_eq!(
        fills(&ev),
        vec![(500, 2, c, x), (500, 2, d, x), (500, 1, a, x)]
    );
}

#[test]
fn amend_to_a_crossing_price_trades_at_once() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 490, 5);
    let s = h.limit(B, Sell, 500, 3);
    let ev = h.amend(A, a, Some(505), None);
    assert_eq!(amended(&ev), Some((a, 505, 5, false)));
    assert_eq!(fills(&ev), vec![(500, 3, s, a)]);
    assert_eq!(upd(&ev, a), u(a, OrderStatus::PartiallyFilled, 3, 2, None));
    assert_eq!(h.bal(A, USD), (FU - q(500, 3) - q(505, 2), q(505, 2)));
    assert_eq!(h.bal(A, BTC), (FB + b(3), 0));
    assert_eq!(h.depth(), (vec![(505, 2)], vec![]));

    // A sell amended down through the bid fills completely.
    let c = h.limit(C, Sell, 520, 2);
    let ev = h.amend(C, c, Some(505), None);
    assert_eq!(fills(&ev), vec![(505, 2, a, c)]);
    assert_eq!(
        upd(&ev, c),
        u(c, OrderStatus::Filled, 2, 0, Some(EndReason::Filled))
    );
    assert_eq!(
        upd(&ev, a),
        u(a, OrderStatus::Filled, 5, 0, Some(EndReason::Filled))
    );
    assert_eq!(h.bal(A, USD), (FU - q(500, 3) - q(505, 2), 0));
    assert_eq!(h.depth(), (vec![], vec![]));
}

#[test]
fn amend_needing_more_funds_than_available_changes_nothing() {
    let mut h = H::new();
    h.deposit(A, USD, q(500, 5));
    h.deposit(B, BTC, b(5));
    let a = h.limit(A, Buy, 500, 5);
    let s = h.limit(B, Sell, 600, 5);
    let r = |order, price, qty| Command::ReplaceOrder {
        user: A,
        market: M,
        order: OrderRef::Id(order),
        new_price: price,
        new_qty: qty,
    };
    h.reject(r(a, None, Some(6)), RejectReason::InsufficientFunds);
    h.reject(r(a, Some(501), None), RejectReason::InsufficientFunds);
    h.reject(
        Command::ReplaceOrder {
            user: B,
            market: M,
            order: OrderRef::Id(s),
            new_price: None,
            new_qty: Some(6),
        },
        RejectReason::InsufficientFunds,
    );
    // A lower price needs less.
    let ev = h.amend(A, a, Some(499), Some(4));
    assert_eq!(amended(&ev), Some((a, 499, 4, false)));
    assert_eq!(h.bal(A, USD), (q(500, 5) - q(499, 4), q(499, 4)));
}

#[test]
fn amend_validation() {
    let mut h = H::funded();
    let a = h.place_ok(with_cid(lim(A, Buy, 500, 5), "mine"));
    let s = h.limit(B, Sell, 600, 1);
    let r = |user, order, price, qty| Command::ReplaceOrder {
        user,
        market: M,
        order,
        new_price: price,
        new_qty: qty,
    };
    use RejectReason::*;
    h.reject(r(A, OrderRef::Id(a), Some(500), Some(5)), InvalidAmend);
    h.reject(r(A, OrderRef::Id(a), None, None), InvalidAmend);
    h.reject(r(A, OrderRef::Id(a), None, Some(0)), InvalidQty);
    h.reject(r(A, OrderRef::Id(a), Some(0), None), InvalidPrice);
    h.reject(r(A, OrderRef::Id(a), Some(1_000_001), None), InvalidPrice);
    // Someone else's order, by id or by their client id, is unknown.
    h.reject(r(B, OrderRef::Id(a), None, Some(1)), UnknownOrder);
    h.reject(
        r(B, OrderRef::Client(cid("mine")), None, Some(1)),
        UnknownOrder,
    );
    h.reject(r(A, OrderRef::Id(s), None, Some(1)), UnknownOrder);
    h.reject(
        r(A, OrderRef::Id(OrderId(999)), None, Some(1)),
        UnknownOrder,
    );
    h.reject(
        Command::ReplaceOrder {
            user: A,
            market: MarketId(7),
            order: OrderRef::Id(a),
            new_price: None,
            new_qty: Some(1),
        },
        UnknownMarket,
    );
    // By client id it works, and the order keeps its id and client id.
    let ev = h.cmd(r(A, OrderRef::Client(cid("mine")), Some(501), None));
    assert_eq!(amended(&ev), Some((a, 501, 5, false)));
    assert_eq!(
        h.e.order_by_client_id(A, cid("mine"))
            .map(|o| (o.id, o.price)),
        Some((a, 501))
    );
}

#[test]
fn amend_of_a_partially_filled_order() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 500, 5);
    h.place_ok(mkt(B, Sell, 2));
    let ev = h.amend(A, a, None, Some(1));
    assert_eq!(amended(&ev), Some((a, 500, 1, true)));
    let v = h.e.order(a).unwrap();
    assert_eq!((v.executed, v.remaining, v.locked), (2, 1, q(500, 1)));
    // The original quantity follows: executed + open.
    assert_eq!(v.orig_qty, 3);
    assert_eq!(h.bal(A, USD), (FU - q(500, 3), q(500, 1)));
    h.amend(A, a, Some(499), Some(4));
    let v = h.e.order(a).unwrap();
    assert_eq!((v.orig_qty, v.executed, v.remaining), (6, 2, 4));
}

#[test]
fn limit_maker_amend_may_not_cross() {
    let mut h = H::funded();
    h.limit(B, Sell, 510, 1);
    let a = h.place_ok(order(
        A,
        Buy,
        OrderType::LimitMaker,
        TimeInForce::Gtc,
        500,
        OrderQty::Base(1),
    ));
    h.reject(
        Command::ReplaceOrder {
            user: A,
            market: M,
            order: OrderRef::Id(a),
            new_price: Some(510),
            new_qty: None,
        },
        RejectReason::WouldTakeLiquidity,
    );
    let ev = h.amend(A, a, Some(509), None);
    assert_eq!(amended(&ev), Some((a, 509, 1, false)));
}
