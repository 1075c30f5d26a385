//! Self-trade prevention: the taker's mode decides.

use super::*;
use EndReason as R;
use OrderStatus::{ExpiredInMatch, Filled, PartiallyFilled};
use Side::{Buy, Sell};
use StpMode::{Decrement, ExpireBoth, ExpireMaker, ExpireTaker};

/// C sells 1@500, A sells 2@500 (its own maker), C sells 2@505; then A buys
/// 4 up to 505 with `mode`. Returns (harness, events, c1, own maker, c2, taker).
fn scene(mode: StpMode) -> (H, Vec<Event>, OrderId, OrderId, OrderId, OrderId) {
    let mut h = H::funded();
    let c1 = h.limit(C, Sell, 500, 1);
    let own = h.limit(A, Sell, 500, 2);
    let c2 = h.limit(C, Sell, 505, 2);
    let ev = h.place(with_stp(lim(A, Buy, 505, 4), mode));
    let t = accepted(&ev).unwrap();
    (h, ev, c1, own, c2, t)
}

#[test]
fn stp_none_trades_with_itself() {
    let (h, ev, c1, own, c2, t) = scene(StpMode::None);
    assert_eq!(
        fills(&ev),
        vec![(500, 1, c1, t), (500, 2, own, t), (505, 1, c2, t)]
    );
    assert_eq!(upd(&ev, own), u(own, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(upd(&ev, t), u(t, Filled, 4, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(500, 1) - q(505, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(2), 0));
}

#[test]
fn stp_expire_taker() {
    let (h, ev, c1, own, _c2, t) = scene(ExpireTaker);
    assert_eq!(fills(&ev), vec![(500, 1, c1, t)]);
    assert_eq!(
        upd(&ev, t),
        u(t, ExpiredInMatch, 1, 0, Some(R::SelfTradePrevention))
    );
    assert!(updates(&ev).iter().all(|x| x.order != own));
    assert_eq!(h.bal(A, USD), (FU - q(500, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB - b(2) + b(1), b(2)));
    assert_eq!(h.depth(), (vec![], vec![(500, 2), (505, 2)]));
}

#[test]
fn stp_expire_maker() {
    let (h, ev, c1, own, c2, t) = scene(ExpireMaker);
    assert_eq!(fills(&ev), vec![(500, 1, c1, t), (505, 2, c2, t)]);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(upd(&ev, t), u(t, PartiallyFilled, 3, 1, None));
    assert_eq!(
        h.bal(A, USD),
        (FU - q(500, 1) - q(505, 2) - q(505, 1), q(505, 1))
    );
    assert_eq!(h.bal(A, BTC), (FB + b(3), 0));
    assert_eq!(h.depth(), (vec![(505, 1)], vec![]));
}

#[test]
fn stp_expire_both() {
    let (h, ev, c1, own, _c2, t) = scene(ExpireBoth);
    assert_eq!(fills(&ev), vec![(500, 1, c1, t)]);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(
        upd(&ev, t),
        u(t, ExpiredInMatch, 1, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(h.bal(A, USD), (FU - q(500, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(1), 0));
    assert_eq!(h.depth(), (vec![], vec![(505, 2)]));
}

#[test]
fn stp_decrement_shrinks_both_without_moving_funds() {
    let (h, ev, c1, own, c2, t) = scene(Decrement);
    // The 2-lot overlap is removed from both orders; the own maker is used up.
    assert_eq!(fills(&ev), vec![(500, 1, c1, t), (505, 1, c2, t)]);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(upd(&ev, t), u(t, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(500, 1) - q(505, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(2), 0));
    assert_eq!(h.depth(), (vec![], vec![(505, 1)]));
}

#[test]
fn stp_decrement_with_a_larger_maker_expires_the_taker() {
    let mut h = H::funded();
    let own = h.limit(A, Sell, 500, 5);
    let ev = h.place(with_stp(lim(A, Buy, 500, 2), Decrement));
    let t = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(upd(&ev, own), u(own, OrderStatus::New, 0, 3, None));
    assert_eq!(
        upd(&ev, t),
        u(t, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(h.bal(A, BTC), (FB - b(3), b(3)));
    assert_eq!(h.bal(A, USD), (FU, 0));
    assert_eq!(h.depth(), (vec![], vec![(500, 3)]));
    assert_eq!(h.e.order(own).unwrap().locked, b(3));
}

#[test]
fn stp_decrement_sell_taker() {
    let mut h = H::funded();
    let own = h.limit(A, Buy, 500, 3);
    let c = h.limit(C, Buy, 500, 2);
    let ev = h.place(with_stp(mkt(A, Sell, 4), Decrement));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 1, c, t)]);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(upd(&ev, t), u(t, Filled, 1, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, BTC), (FB - b(1), 0));
    assert_eq!(h.bal(A, USD), (FU + q(500, 1), 0));
    assert_eq!(h.depth(), (vec![(500, 1)], vec![]));
}

#[test]
fn stp_market_orders() {
    let mut h = H::funded();
    let own = h.limit(A, Sell, 500, 1);
    let c = h.limit(C, Sell, 510, 1);
    let ev = h.place(with_stp(mkt(A, Buy, 2), ExpireTaker));
    let t = accepted(&ev).unwrap();
    assert!(trades(&ev).is_empty());
    assert_eq!(
        upd(&ev, t),
        u(t, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(h.bal(A, USD), (FU, 0));
    let ev = h.place(with_stp(mkt_quote(A, Buy, 100_000), ExpireMaker));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(510, 1, c, t)]);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(h.bal(A, USD), (FU - q(510, 1), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(1), 0));
}

#[test]
fn the_takers_mode_decides() {
    let mut h = H::funded();
    let own = h.place_ok(with_stp(lim(A, Sell, 500, 2), ExpireTaker));
    let ev = h.place(with_stp(lim(A, Buy, 500, 1), StpMode::None));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 1, own, t)]);
    let ev = h.place(with_stp(
        lim_tif(A, Buy, 500, 1, TimeInForce::Ioc),
        ExpireMaker,
    ));
    assert!(trades(&ev).is_empty());
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 1, 0, Some(R::SelfTradePrevention))
    );
    // Another user's orders are never affected.
    let c = h.limit(C, Sell, 500, 1);
    let ev = h.place(with_stp(mkt(D, Buy, 1), ExpireBoth));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 1, c, t)]);
}

#[test]
fn stp_mode_must_be_allowed_and_defaults_to_the_markets() {
    let mut h = H::funded();
    h.update_market(MarketUpdate {
        allowed_stp: Some(StpModes::of(&[StpMode::None, ExpireMaker])),
        default_stp: Some(ExpireMaker),
        ..Default::default()
    });
    h.reject(
        Command::PlaceOrder(with_stp(lim(A, Buy, 500, 1), Decrement)),
        RejectReason::StpModeNotAllowed,
    );
    h.reject(
        Command::PlaceOrder(with_stp(lim(A, Buy, 500, 1), ExpireTaker)),
        RejectReason::StpModeNotAllowed,
    );
    // A default outside the allowed set is an invalid config.
    let ev = h.cmd(Command::UpdateMarket {
        market: M,
        update: MarketUpdate {
            default_stp: Some(Decrement),
            ..Default::default()
        },
    });
    assert_eq!(
        ev,
        vec![Event::Rejected {
            reason: RejectReason::InvalidConfig
        }]
    );
    let own = h.limit(A, Sell, 500, 1);
    let ev = h.place(lim(A, Buy, 500, 1));
    let t = accepted(&ev).unwrap();
    let Some(Event::OrderAccepted(info)) = ev.first() else {
        panic!()
    };
    assert_eq!(info.stp, ExpireMaker);
    assert_eq!(
        upd(&ev, own),
        u(own, ExpiredInMatch, 0, 0, Some(R::SelfTradePrevention))
    );
    assert_eq!(upd(&ev, t), u(t, OrderStatus::New, 0, 1, None));
    assert_eq!(h.depth(), (vec![(500, 1)], vec![]));
}

#[test]
fn fok_with_stp() {
    let mut h = H::funded();
    h.limit(A, Sell, 500, 1);
    let c = h.limit(C, Sell, 500, 1);
    // ExpireMaker skips the own order, so 1 lot is fillable; 2 are not.
    let world = h.world();
    let ev = h.place(with_stp(
        lim_tif(A, Buy, 500, 2, TimeInForce::Fok),
        ExpireMaker,
    ));
    assert!(trades(&ev).is_empty());
    assert_eq!(h.world(), world);
    let ev = h.place(with_stp(
        lim_tif(A, Buy, 500, 2, TimeInForce::Fok),
        ExpireTaker,
    ));
    assert!(trades(&ev).is_empty());
    assert_eq!(h.world(), world);
    let ev = h.place(with_stp(
        lim_tif(A, Buy, 500, 1, TimeInForce::Fok),
        ExpireMaker,
    ));
    let t = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(500, 1, c, t)]);
    assert!(h.open_ids(A).is_empty());
}
