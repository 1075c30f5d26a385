//! Price-time priority on both sides of the book.

use super::*;
use Side::{Buy, Sell};

#[test]
fn buy_taker_takes_lowest_ask_first_then_oldest() {
    let mut h = H::funded();
    let b510 = h.limit(B, Sell, 510, 1);
    let c500 = h.limit(C, Sell, 500, 1);
    let d500 = h.limit(D, Sell, 500, 1);
    let b505 = h.limit(B, Sell, 505, 1);
    let c500b = h.limit(C, Sell, 500, 1);
    assert_eq!(h.depth().1, vec![(500, 3), (505, 1), (510, 1)]);
    let ev = h.place(mkt(A, Buy, 5));
    let a = accepted(&ev).unwrap();
    assert_eq!(
        fills(&ev),
        vec![
            (500, 1, c500, a),
            (500, 1, d500, a),
            (500, 1, c500b, a),
            (505, 1, b505, a),
            (510, 1, b510, a)
        ]
    );
}

#[test]
fn sell_taker_takes_highest_bid_first_then_oldest() {
    let mut h = H::funded();
    let b490 = h.limit(B, Buy, 490, 1);
    let c500 = h.limit(C, Buy, 500, 1);
    let d500 = h.limit(D, Buy, 500, 1);
    let b495 = h.limit(B, Buy, 495, 1);
    let c500b = h.limit(C, Buy, 500, 1);
    assert_eq!(h.depth().0, vec![(500, 3), (495, 1), (490, 1)]);
    let ev = h.place(mkt(A, Sell, 5));
    let a = accepted(&ev).unwrap();
    assert_eq!(
        fills(&ev),
        vec![
            (500, 1, c500, a),
            (500, 1, d500, a),
            (500, 1, c500b, a),
            (495, 1, b495, a),
            (490, 1, b490, a)
        ]
    );
    // Each maker paid its own price.
    assert_eq!(h.bal(A, USD), (FU + q(500, 3) + q(495, 1) + q(490, 1), 0));
}

#[test]
fn sell_limit_stops_at_its_price_and_rests_the_rest() {
    let mut h = H::funded();
    let b490 = h.limit(B, Buy, 490, 2);
    let c500 = h.limit(C, Buy, 500, 1);
    let d500 = h.limit(D, Buy, 500, 1);
    let b495 = h.limit(B, Buy, 495, 1);
    let ev = h.place(lim(A, Sell, 495, 5));
    let a = accepted(&ev).unwrap();
    // Trades at each maker's price (500, 500, 495), never at the taker's limit.
    assert_eq!(
        fills(&ev),
        vec![(500, 1, c500, a), (500, 1, d500, a), (495, 1, b495, a)]
    );
    assert_eq!(upd(&ev, a), u(a, OrderStatus::PartiallyFilled, 3, 2, None));
    assert_eq!(h.depth(), (vec![(490, 2)], vec![(495, 2)]));
    assert_eq!(h.bal(A, BTC), (FB - b(5), b(2)));
    assert_eq!(h.bal(A, USD), (FU + q(500, 2) + q(495, 1), 0));
    assert!(h.e.order(b490).is_some());
}

#[test]
fn partially_filled_maker_keeps_its_place() {
    for side in [Buy, Sell] {
        let mut h = H::funded();
        let c = h.limit(C, side, 500, 5);
        let d = h.limit(D, side, 500, 5);
        let ev = h.place(mkt(A, side.opposite(), 2));
        let a1 = accepted(&ev).unwrap();
        assert_eq!(fills(&ev), vec![(500, 2, c, a1)]);
        let ev = h.place(mkt(A, side.opposite(), 4));
        let a2 = accepted(&ev).unwrap();
        assert_eq!(fills(&ev), vec![(500, 3, c, a2), (500, 1, d, a2)]);
        let book = if side == Buy {
            h.depth().0
        } else {
            h.depth().1
        };
        assert_eq!(book, vec![(500, 4)]);
    }
}

#[test]
fn buy_limit_below_its_price_releases_the_improvement_exactly() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 2);
    h.limit(C, Sell, 510, 3);
    let ev = h.place(lim(A, Buy, 520, 5));
    let a = accepted(&ev).unwrap();
    assert_eq!(
        upd(&ev, a),
        u(a, OrderStatus::Filled, 5, 0, Some(EndReason::Filled))
    );
    // Reserved 5 x 520 = 260,000; paid 100,000 + 153,000.
    assert_eq!(h.bal(A, USD), (FU - 253_000, 0));
    assert_eq!(h.bal(A, BTC), (FB + b(5), 0));
}

#[test]
fn limit_prices_bound_the_match_on_both_sides() {
    let mut h = H::funded();
    h.limit(B, Sell, 501, 1);
    h.limit(C, Buy, 499, 1);
    let a = h.limit(A, Buy, 500, 1);
    let d = h.limit(D, Sell, 500, 1);
    // D's sell at 500 crosses A's bid at 500 (not C's 499).
    assert_eq!(fills(&h.last), vec![(500, 1, a, d)]);
    assert_eq!(h.depth(), (vec![(499, 1)], vec![(501, 1)]));
    assert_eq!(h.e.best_bid_ask(M), Some((Some((499, 1)), Some((501, 1)))));
}
