//! Every order type: LIMIT GTC/IOC/FOK, MARKET by base and by quote, LIMIT_MAKER.

use super::*;
use EndReason as R;
use OrderStatus::{Canceled, Expired, Filled, PartiallyFilled};
use Side::{Buy, Sell};
use TimeInForce::{Fok, Gtc, Ioc};

#[test]
fn limit_gtc_rests_locks_exact_notional_and_cancel_releases_it() {
    let mut h = H::funded();
    let ev = h.place(lim(A, Buy, 500, 10));
    let id = accepted(&ev).unwrap();
    assert_eq!(updates(&ev), vec![u(id, OrderStatus::New, 0, 10, None)]);
    assert_eq!(h.bal(A, USD), (FU - 500_000, 500_000));
    assert_eq!(h.depth(), (vec![(500, 10)], vec![]));
    let o = h.e.order(id).unwrap();
    assert_eq!(
        (o.locked, o.remaining, o.pending_stop, o.status),
        (500_000, 10, false, OrderStatus::New)
    );

    let ev = h.cancel(A, id);
    assert_eq!(updates(&ev), vec![u(id, Canceled, 0, 0, Some(R::Canceled))]);
    assert_eq!(h.bal(A, USD), (FU, 0));
    assert_eq!(h.depth(), (vec![], vec![]));
    assert!(h.e.order(id).is_none());
    // A closed order cannot be canceled again.
    h.reject(
        Command::CancelOrder {
            user: A,
            market: M,
            order: OrderRef::Id(id),
        },
        RejectReason::UnknownOrder,
    );
}

#[test]
fn limit_sell_locks_base() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 7);
    assert_eq!(h.bal(B, BTC), (FB - b(7), b(7)));
    assert_eq!(h.bal(B, USD), (FU, 0));
    assert_eq!(h.depth(), (vec![], vec![(500, 7)]));
}

#[test]
fn limit_gtc_partial_fill_rests_remainder_and_releases_price_improvement() {
    let mut h = H::funded();
    let s = h.limit(B, Sell, 500, 4);
    let ev = h.place(lim(A, Buy, 510, 10));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 4, s, a)]);
    let t = trades(&ev)[0];
    assert_eq!(
        (
            t.quote_qty,
            t.taker_side,
            t.maker_user,
            t.taker_user,
            t.maker_fee,
            t.taker_fee
        ),
        (200_000, Buy, B, A, 0, 0)
    );
    assert_eq!(upd(&ev, s), u(s, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(upd(&ev, a), u(a, PartiallyFilled, 4, 6, None));
    // Paid 4 lots at 500, not at 510; 6 lots stay reserved at 510.
    assert_eq!(h.bal(A, USD), (FU - q(500, 4) - q(510, 6), q(510, 6)));
    assert_eq!(h.bal(A, BTC), (FB + b(4), 0));
    assert_eq!(h.bal(B, USD), (FU + q(500, 4), 0));
    assert_eq!(h.bal(B, BTC), (FB - b(4), 0));
    assert_eq!(h.depth(), (vec![(510, 6)], vec![]));
    let o = h.e.order(a).unwrap();
    assert_eq!(
        (o.executed, o.cum_quote, o.remaining, o.locked, o.status),
        (4, 200_000, 6, q(510, 6), PartiallyFilled)
    );
    assert_eq!(h.e.last_price(M), Some(500));
}

#[test]
fn limit_ioc_fills_what_crosses_and_expires_the_rest() {
    let mut h = H::funded();
    let s1 = h.limit(B, Sell, 500, 3);
    h.limit(B, Sell, 520, 3);
    let ev = h.place(lim_tif(A, Buy, 510, 5, Ioc));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 3, s1, a)]);
    assert_eq!(upd(&ev, a), u(a, Expired, 3, 0, Some(R::NoLiquidity)));
    assert_eq!(h.bal(A, USD), (FU - q(500, 3), 0));
    assert_eq!(h.depth(), (vec![], vec![(520, 3)]));
    assert!(h.open_ids(A).is_empty());

    // An IOC that crosses nothing expires with no trade and no lasting lock.
    let ev = h.place(lim_tif(C, Sell, 530, 2, Ioc));
    let c = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(
        updates(&ev),
        vec![u(c, Expired, 0, 0, Some(R::NoLiquidity))]
    );
    assert_eq!(h.bal(C, BTC), (FB, 0));
}

#[test]
fn fok_is_all_or_nothing() {
    let mut h = H::funded();
    let s1 = h.limit(B, Sell, 500, 2);
    let s2 = h.limit(C, Sell, 505, 2);
    h.limit(D, Sell, 520, 5);
    let world = h.world();
    // 5 lots at <= 510: only 4 available, so nothing trades.
    let ev = h.place(lim_tif(A, Buy, 510, 5, Fok));
    let a = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(
        updates(&ev),
        vec![u(a, Expired, 0, 0, Some(R::NoLiquidity))]
    );
    assert_eq!(h.world(), world, "a FOK that cannot fill leaves no trace");
    assert!(!h
        .last
        .iter()
        .any(|e| matches!(e, Event::BookChanged { .. })));

    // 4 lots fill completely across two levels.
    let ev = h.place(lim_tif(A, Buy, 510, 4, Fok));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 2, s1, a), (505, 2, s2, a)]);
    assert_eq!(upd(&ev, a), u(a, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(500, 2) - q(505, 2), 0));
    assert_eq!(h.depth(), (vec![], vec![(520, 5)]));

    // Sell side FOK against bids.
    let b1 = h.limit(B, Buy, 480, 3);
    h.limit(B, Buy, 470, 3);
    let world = h.world();
    let ev = h.place(lim_tif(C, Sell, 475, 4, Fok));
    assert!(trades(&ev).is_empty());
    assert_eq!(h.world(), world);
    let ev = h.place(lim_tif(C, Sell, 475, 3, Fok));
    let c = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(480, 3, b1, c)]);
}

#[test]
fn market_buy_by_base_walks_the_book() {
    let mut h = H::funded();
    let s1 = h.limit(B, Sell, 500, 2);
    let s2 = h.limit(C, Sell, 510, 3);
    let ev = h.place(mkt(A, Buy, 4));
    let a = accepted(&ev).unwrap();
    let Some(Event::OrderAccepted(info)) = ev.first() else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (info.price, info.qty, info.quote_qty, info.tif),
        (0, 4, 0, Ioc)
    );
    assert_eq!(fills(&ev), vec![(500, 2, s1, a), (510, 2, s2, a)]);
    assert_eq!(upd(&ev, a), u(a, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(500, 2) - q(510, 2), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(4), 0));
    assert_eq!(h.bal(C, USD), (FU + q(510, 2), 0));
    assert_eq!(h.bal(C, BTC), (FB - b(3), b(1)));
    assert_eq!(h.depth(), (vec![], vec![(510, 1)]));
    assert_eq!(upd(&ev, s2), u(s2, PartiallyFilled, 2, 1, None));
}

#[test]
fn market_buy_by_base_is_limited_by_available_quote() {
    let mut h = H::new();
    h.fund(B, 0, FB);
    h.fund(C, 0, FB);
    h.deposit(A, USD, 150_000);
    let s1 = h.limit(B, Sell, 500, 2);
    h.limit(C, Sell, 510, 3);
    let ev = h.place(mkt(A, Buy, 5));
    let a = accepted(&ev).unwrap();
    // 2 lots at 500 cost 100,000; the 50,000 left cannot pay one lot at 510 (51,000).
    assert_eq!(fills(&ev), vec![(500, 2, s1, a)]);
    assert_eq!(upd(&ev, a), u(a, Expired, 2, 0, Some(R::InsufficientFunds)));
    assert_eq!(h.bal(A, USD), (50_000, 0));
    assert_eq!(h.bal(A, BTC), (b(2), 0));
    assert_eq!(h.depth(), (vec![], vec![(510, 3)]));

    // With no quote at all it is refused up front.
    h.ok(Command::Withdraw {
        key: key("w-all"),
        user: A,
        asset: USD,
        amount: 50_000,
    });
    h.reject(
        Command::PlaceOrder(mkt(A, Buy, 1)),
        RejectReason::InsufficientFunds,
    );
}

#[test]
fn market_buy_by_quote_spends_at_most_the_amount() {
    let mut h = H::funded();
    let s1 = h.limit(B, Sell, 500, 2);
    let s2 = h.limit(C, Sell, 510, 3);
    let ev = h.place(mkt_quote(A, Buy, 151_000));
    let a = accepted(&ev).unwrap();
    let Some(Event::OrderAccepted(info)) = ev.first() else {
        panic!("{ev:?}")
    };
    assert_eq!((info.qty, info.quote_qty), (0, 151_000));
    assert_eq!(fills(&ev), vec![(500, 2, s1, a), (510, 1, s2, a)]);
    assert_eq!(upd(&ev, a), u(a, Filled, 3, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - 151_000, 0));
    assert_eq!(h.bal(A, BTC), (FB + b(3), 0));

    // 80,000 buys one whole lot at 510; the 29,000 left over is not spent.
    let ev = h.place(mkt_quote(A, Buy, 80_000));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(510, 1, s2, a)]);
    assert!(matches!(
        ev.iter()
            .find(|e| matches!(e, Event::OrderUpdate { order, .. } if *order == a)),
        Some(Event::OrderUpdate {
            status: Filled,
            executed: 1,
            cum_quote: 51_000,
            ..
        })
    ));
    assert_eq!(h.bal(A, USD), (FU - 151_000 - 51_000, 0));
    assert_eq!(h.depth(), (vec![], vec![(510, 1)]));

    // More than available is refused.
    h.reject(
        Command::PlaceOrder(mkt_quote(A, Buy, FU)),
        RejectReason::InsufficientFunds,
    );
}

#[test]
fn market_buy_by_quote_below_one_lot_expires_without_trading() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 2);
    let world = h.world();
    let ev = h.place(mkt_quote(A, Buy, 49_999));
    let a = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    // The engine reports the unspendable quote amount as InsufficientFunds.
    assert_eq!(
        updates(&ev),
        vec![u(a, Expired, 0, 0, Some(R::InsufficientFunds))]
    );
    assert_eq!(h.world(), world);
}

#[test]
fn market_sell_by_base_hits_highest_bids_first() {
    let mut h = H::funded();
    let b2 = h.limit(D, Buy, 490, 2);
    let b1 = h.limit(C, Buy, 500, 3);
    let ev = h.place(mkt(B, Sell, 4));
    let s = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 3, b1, s), (490, 1, b2, s)]);
    assert_eq!(upd(&ev, s), u(s, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(h.bal(B, USD), (FU + q(500, 3) + q(490, 1), 0));
    assert_eq!(h.bal(B, BTC), (FB - b(4), 0));
    assert_eq!(h.bal(C, USD), (FU - q(500, 3), 0));
    assert_eq!(h.bal(C, BTC), (FB + b(3), 0));
    assert_eq!(h.bal(D, USD), (FU - q(490, 2), q(490, 1)));
    assert_eq!(h.bal(D, BTC), (FB + b(1), 0));
    assert_eq!(h.depth(), (vec![(490, 1)], vec![]));
}

#[test]
fn market_sell_by_quote_receives_at_most_the_amount() {
    let mut h = H::funded();
    let b1 = h.limit(C, Buy, 500, 3);
    let b2 = h.limit(D, Buy, 490, 2);
    let ev = h.place(mkt_quote(B, Sell, 199_000));
    let s = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 3, b1, s), (490, 1, b2, s)]);
    assert_eq!(upd(&ev, s), u(s, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(h.bal(B, USD), (FU + 199_000, 0));
    assert_eq!(h.bal(B, BTC), (FB - b(4), 0));

    // 40,000 cannot buy one lot at 490 (49,000): nothing trades.
    let ev = h.place(mkt_quote(B, Sell, 40_000));
    let s = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(
        updates(&ev),
        vec![u(s, Expired, 0, 0, Some(R::NoLiquidity))]
    );
    assert_eq!(h.bal(B, BTC), (FB - b(4), 0));

    // 100,000 at 490 is 2.04 lots: one lot (all that rests) then the book is empty.
    let ev = h.place(mkt_quote(B, Sell, 100_000));
    let s = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(490, 1, b2, s)]);
    assert_eq!(upd(&ev, s), u(s, Expired, 1, 0, Some(R::NoLiquidity)));
}

#[test]
fn market_sell_by_quote_is_limited_by_available_base() {
    let mut h = H::new();
    h.fund(C, FU, 0);
    h.deposit(B, BTC, b(2));
    let c = h.limit(C, Buy, 500, 5);
    let ev = h.place(mkt_quote(B, Sell, 400_000));
    let s = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 2, c, s)]);
    assert_eq!(upd(&ev, s), u(s, Expired, 2, 0, Some(R::InsufficientFunds)));
    assert_eq!(h.bal(B, BTC), (0, 0));
    assert_eq!(h.bal(B, USD), (q(500, 2), 0));
    h.reject(
        Command::PlaceOrder(mkt_quote(B, Sell, 1_000)),
        RejectReason::InsufficientFunds,
    );
}

#[test]
fn market_on_an_empty_book_expires() {
    let mut h = H::funded();
    for side in [Buy, Sell] {
        let ev = h.place(mkt(A, side, 1));
        let a = accepted(&ev).unwrap();
        assert_eq!(
            updates(&ev),
            vec![u(a, Expired, 0, 0, Some(R::NoLiquidity))]
        );
    }
    assert_eq!(h.bal(A, USD), (FU, 0));
    assert_eq!(h.bal(A, BTC), (FB, 0));
    assert!(h.open_ids(A).is_empty());
}

#[test]
fn quote_quantity_only_for_market_orders() {
    let mut h = H::funded();
    let o = order(A, Buy, OrderType::Limit, Gtc, 500, OrderQty::Quote(50_000));
    h.reject(Command::PlaceOrder(o), RejectReason::InvalidOrder);
    h.reject(
        Command::PlaceOrder(mkt_quote(A, Buy, 0)),
        RejectReason::InvalidQty,
    );
}

#[test]
fn limit_maker_is_rejected_when_crossing_and_rests_otherwise() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 2);
    let maker = |user, side, price| {
        order(
            user,
            side,
            OrderType::LimitMaker,
            Ioc,
            price,
            OrderQty::Base(1),
        )
    };
    h.reject(
        Command::PlaceOrder(maker(A, Buy, 500)),
        RejectReason::WouldTakeLiquidity,
    );
    h.reject(
        Command::PlaceOrder(maker(A, Buy, 510)),
        RejectReason::WouldTakeLiquidity,
    );
    let ev = h.place(maker(A, Buy, 499));
    let a = accepted(&ev).unwrap();
    let Some(Event::OrderAccepted(info)) = ev.first() else {
        panic!()
    };
    assert_eq!(info.tif, Gtc, "LIMIT_MAKER is always GTC");
    assert_eq!(updates(&ev), vec![u(a, OrderStatus::New, 0, 1, None)]);
    h.reject(
        Command::PlaceOrder(maker(C, Sell, 499)),
        RejectReason::WouldTakeLiquidity,
    );
    h.reject(
        Command::PlaceOrder(maker(C, Sell, 400)),
        RejectReason::WouldTakeLiquidity,
    );
    h.place_ok(maker(C, Sell, 500));
    assert_eq!(h.depth(), (vec![(499, 1)], vec![(500, 3)]));
    // On an empty side it always rests.
    let mut h = H::funded();
    h.place_ok(maker(A, Sell, 1));
    assert_eq!(h.depth(), (vec![], vec![(1, 1)]));
}

#[test]
fn price_and_quantity_filters() {
    let mut h = H::funded();
    h.update_market(MarketUpdate {
        min_qty: Some(2),
        max_qty: Some(100),
        max_price: Some(1000),
        min_notional: Some(100_000),
        max_notional: Some(1_000_000),
        ..Default::default()
    });
    use RejectReason::*;
    h.reject(Command::PlaceOrder(lim(A, Buy, 0, 5)), InvalidPrice);
    h.reject(Command::PlaceOrder(lim(A, Buy, 1001, 5)), InvalidPrice);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 0)), InvalidQty);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 1)), InvalidQty);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 101)), InvalidQty);
    // 2 lots at 400 = 80,000 < min notional 100,000; 30 at 500 = 1,500,000 > max.
    h.reject(Command::PlaceOrder(lim(A, Buy, 400, 2)), InvalidNotional);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 30)), InvalidNotional);
    h.limit(A, Buy, 500, 2);
    h.reject(
        Command::PlaceOrder(mkt_quote(A, Buy, 99_999)),
        InvalidNotional,
    );
    h.reject(
        Command::PlaceOrder(NewOrder {
            market: MarketId(9),
            ..lim(A, Buy, 500, 2)
        }),
        UnknownMarket,
    );
}
