//! Edge cases found while probing the engine.

use super::*;
use EndReason as R;
use OrderStatus::{Expired, Filled};
use Side::{Buy, Sell};

#[test]
fn market_buy_by_quote_that_spends_everything_on_the_last_level_is_filled() {
    let mut h = H::funded();
    let s = h.limit(B, Sell, 500, 2);
    let ev = h.place(mkt_quote(A, Buy, 100_000));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 2, s, a)]);
    assert_eq!(upd(&ev, a), u(a, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - 100_000, 0));
}

#[test]
fn market_sell_by_quote_that_reaches_its_amount_on_the_last_level_is_filled() {
    let mut h = H::funded();
    let c = h.limit(C, Buy, 500, 2);
    let ev = h.place(mkt_quote(B, Sell, 100_000));
    let s = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 2, c, s)]);
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(B, BTC), (FB - b(2), 0));
}

#[test]
fn market_buy_by_quote_with_a_remainder_and_an_empty_book_expires() {
    let mut h = H::funded();
    let s = h.limit(B, Sell, 500, 2);
    let ev = h.place(mkt_quote(A, Buy, 120_000));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 2, s, a)]);
    // 20,000 left could have bought more had there been asks: the book ran out.
    assert_eq!(upd(&ev, a), u(a, Expired, 2, 0, Some(R::NoLiquidity)));
    assert_eq!(h.bal(A, USD), (FU - 100_000, 0));
}

#[test]
fn stop_market_sell_by_quote_reserves_base_on_trigger() {
    let mut h = H::funded();
    h.limit(C, Sell, 500, 1);
    h.place_ok(mkt(D, Buy, 1));
    let o = NewOrder {
        stop_price: 480,
        ..order(
            B,
            Sell,
            OrderType::StopLoss,
            TimeInForce::Gtc,
            0,
            OrderQty::Quote(94_000),
        )
    };
    let s = h.place_ok(o);
    assert_eq!(h.bal(B, BTC), (FB, 0), "reserved only when it triggers");
    let c = h.limit(C, Buy, 480, 1);
    let d = h.limit(D, Buy, 470, 5);
    let ev = h.place(mkt(A, Sell, 1));
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(fills(&ev)[1..], [(470, 2, d, s)]);
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(B, BTC), (FB - b(2), 0));
    assert_eq!(h.bal(B, USD), (FU + 94_000, 0));
    let _ = c;
}

#[test]
fn amend_that_trades_triggers_stops() {
    let mut h = H::funded();
    h.limit(C, Sell, 500, 1);
    h.place_ok(mkt(D, Buy, 1));
    let st = h.place_ok(stop(B, Buy, OrderType::StopLoss, 0, 510, 1));
    let a = h.limit(A, Buy, 490, 1);
    let s = h.limit(C, Sell, 510, 1);
    let d = h.limit(D, Sell, 520, 1);
    let ev = h.amend(A, a, Some(510), None);
    assert_eq!(fills(&ev), vec![(510, 1, s, a), (520, 1, d, st)]);
    assert_eq!(triggered(&ev), vec![st]);
}

#[test]
fn frozen_user_may_only_reduce_orders() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 490, 5);
    h.limit(C, Sell, 500, 5);
    h.ok(Command::SetUserFrozen {
        user: A,
        frozen: true,
    });
    let r = |price, qty| Command::ReplaceOrder {
        user: A,
        market: M,
        order: OrderRef::Id(a),
        new_price: price,
        new_qty: qty,
    };
    h.reject(r(Some(500), None), RejectReason::UserFrozen);
    h.reject(r(None, Some(6)), RejectReason::UserFrozen);
    let ev = h.ok(r(None, Some(4)));
    assert!(trades(&ev).is_empty());
    assert_eq!(h.bal(A, USD), (FU - q(490, 4), q(490, 4)));
}

#[test]
fn decrement_with_quote_sized_market_orders() {
    let mut h = H::funded();
    let own = h.limit(A, Sell, 500, 1);
    let c = h.limit(C, Sell, 500, 1);
    // Buy for 75,000: the own lot (50,000) is decremented from the budget, then 1 lot from C... only 25,000 left.
    let ev = h.place(with_stp(mkt_quote(A, Buy, 75_000), StpMode::Decrement));
    let t = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(
        upd(&ev, own),
        u(
            own,
            OrderStatus::ExpiredInMatch,
            0,
            0,
            Some(R::SelfTradePrevention)
        )
    );
    assert_eq!(upd(&ev, t).status, Expired);
    assert_eq!(h.bal(A, USD), (FU, 0));
    assert_eq!(h.bal(A, BTC), (FB, 0));
    assert!(h.e.order(c).is_some());

    let own = h.limit(A, Buy, 490, 1);
    let d = h.limit(D, Buy, 490, 2);
    let ev = h.place(with_stp(mkt_quote(A, Sell, 98_000), StpMode::Decrement));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(490, 1, d, t)]);
    assert_eq!(
        upd(&ev, own),
        u(
            own,
            OrderStatus::ExpiredInMatch,
            0,
            0,
            Some(R::SelfTradePrevention)
        )
    );
    assert_eq!(upd(&ev, t), u(t, Filled, 1, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU + q(490, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB - b(1), 0));
}

#[test]
fn triggered_stop_limit_keeps_its_client_id_and_can_be_amended_and_canceled() {
    let mut h = H::funded();
    h.limit(C, Sell, 500, 1);
    h.place_ok(mkt(D, Buy, 1));
    let s = h.place_ok(with_cid(
        stop(B, Sell, OrderType::StopLossLimit, 495, 490, 3),
        "sl",
    ));
    h.limit(C, Buy, 490, 1);
    h.place_ok(mkt(A, Sell, 1));
    assert_eq!(
        h.e.order_by_client_id(B, cid("sl"))
            .map(|o| (o.id, o.pending_stop)),
        Some((s, false))
    );
    let ev = h.amend(B, s, None, Some(2));
    assert_eq!(
        ev[0],
        Event::OrderAmended {
            order: s,
            user: B,
            market: M,
            price: 495,
            remaining: 2,
            kept_priority: true
        }
    );
    assert_eq!(h.bal(B, BTC), (FB - b(2), b(2)));
    let ev = h.ok(Command::CancelOrder {
        user: B,
        market: M,
        order: OrderRef::Client(cid("sl")),
    });
    assert_eq!(
        upd(&ev, s),
        u(s, OrderStatus::Canceled, 0, 0, Some(R::Canceled))
    );
    assert_eq!(h.bal(B, BTC), (FB, 0));
    assert_eq!(h.depth(), (vec![], vec![]));
}

#[test]
fn triggered_stop_respects_its_own_stp_mode() {
    let mut h = H::funded();
    h.limit(C, Sell, 500, 1);
    h.place_ok(mkt(D, Buy, 1));
    let s = h.place_ok(with_stp(
        stop(B, Sell, OrderType::StopLoss, 0, 490, 2),
        StpMode::ExpireTaker,
    ));
    h.limit(C, Buy, 490, 1);
    h.limit(B, Buy, 480, 5);
    let ev = h.place(mkt(A, Sell, 1));
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(fills(&ev).len(), 1);
    assert_eq!(
        upd(&ev, s),
        u(
            s,
            OrderStatus::ExpiredInMatch,
            0,
            0,
            Some(R::SelfTradePrevention)
        )
    );
    assert_eq!(h.bal(B, BTC), (FB, 0));
    assert_eq!(h.depth(), (vec![(480, 5)], vec![]));
}

#[test]
fn expire_maker_on_a_partially_filled_own_order() {
    let mut h = H::funded();
    let own = h.limit(A, Sell, 500, 5);
    h.place_ok(mkt(B, Buy, 2));
    let c = h.limit(C, Sell, 500, 1);
    let ev = h.place(with_stp(mkt(A, Buy, 2), StpMode::ExpireMaker));
    let t = accepted(&ev).unwrap();
    assert_eq!(
        upd(&ev, own),
        u(
            own,
            OrderStatus::ExpiredInMatch,
            2,
            0,
            Some(R::SelfTradePrevention)
        )
    );
    assert_eq!(fills(&ev), vec![(500, 1, c, t)]);
    assert_eq!(upd(&ev, t), u(t, Expired, 1, 0, Some(R::NoLiquidity)));
    assert_eq!(h.bal(A, BTC), (FB - b(2) + b(1), 0));
    assert_eq!(h.bal(A, USD), (FU + q(500, 2) - q(500, 1), 0));
}
