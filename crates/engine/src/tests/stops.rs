//! STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT: trigger
//! direction per side, immediate-trigger refusal, reservation, cascades.

use super::*;
use EndReason as R;
use OrderStatus::{Expired, Filled};
use OrderType::{StopLoss, StopLossLimit, TakeProfit, TakeProfitLimit};
use Side::{Buy, Sell};

/// Makes `price` the last trade price with a one-lot trade between C and D.
fn trade_at(h: &mut H, price: u64) {
    h.limit(C, Sell, price, 1);
    let ev = h.place(lim_tif(D, Buy, price, 1, TimeInForce::Ioc));
    assert_eq!(trades(&ev).len(), 1);
    assert_eq!(h.e.last_price(M), Some(price));
}

/// Index of the first event matching `f`.
fn pos(ev: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    ev.iter().position(f).expect("event present")
}

#[test]
fn stop_loss_sell_triggers_when_price_falls_to_stop() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    use RejectReason::StopWouldTriggerImmediately as Now;
    h.reject(Command::PlaceOrder(stop(B, Sell, StopLoss, 0, 500, 2)), Now);
    h.reject(Command::PlaceOrder(stop(B, Sell, StopLoss, 0, 510, 2)), Now);
    h.reject(
        Command::PlaceOrder(stop(B, Sell, StopLoss, 0, 0, 2)),
        RejectReason::InvalidStopPrice,
    );
    let s = h.place_ok(stop(B, Sell, StopLoss, 0, 480, 2));
    let v = h.e.order(s).unwrap();
    assert!(v.pending_stop);
    assert_eq!((v.locked, v.stop_price, v.price), (b(2), 480, 0));
    assert_eq!(h.bal(B, BTC), (FB - b(2), b(2)));
    assert_eq!(
        h.depth(),
        (vec![], vec![]),
        "a pending stop is not in the book"
    );

    let c1 = h.limit(C, Buy, 490, 1);
    let d1 = h.limit(D, Buy, 470, 5);
    // A trade at 490 does not reach 480.
    let ev = h.place(mkt(A, Sell, 1));
    let a1 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(490, 1, c1, a1)]);
    assert!(triggered(&ev).is_empty());
    assert!(h.e.order(s).unwrap().pending_stop);
    // A trade at 470 does; the stop sells at once, in the same command.
    let ev = h.place(mkt(A, Sell, 1));
    let a2 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(470, 1, d1, a2), (470, 2, d1, s)]);
    assert_eq!(triggered(&ev), vec![s]);
    let t = pos(&ev, |e| matches!(e, Event::StopTriggered { .. }));
    assert_eq!(
        ev[t],
        Event::StopTriggered {
            order: s,
            user: B,
            market: M,
            last_price: 470
        }
    );
    assert!(pos(&ev, |e| matches!(e, Event::Trade(x) if x.taker_order == a2)) < t);
    assert!(pos(&ev, |e| matches!(e, Event::Trade(x) if x.taker_order == s)) > t);
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(B, BTC), (FB - b(2), 0));
    assert_eq!(h.bal(B, USD), (FU + q(470, 2), 0));
    assert_eq!(h.depth(), (vec![(470, 2)], vec![]));
    assert!(h.open_ids(B).is_empty());
}

#[test]
fn stop_loss_buy_triggers_when_price_rises_and_reserves_on_trigger() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    use RejectReason::StopWouldTriggerImmediately as Now;
    h.reject(Command::PlaceOrder(stop(A, Buy, StopLoss, 0, 500, 2)), Now);
    h.reject(Command::PlaceOrder(stop(A, Buy, StopLoss, 0, 490, 2)), Now);
    let s = h.place_ok(stop(A, Buy, StopLoss, 0, 520, 2));
    // A MARKET buy by base reserves what is available when it triggers, not before.
    assert_eq!(h.bal(A, USD), (FU, 0));
    let c = h.limit(C, Sell, 520, 1);
    let d = h.limit(D, Sell, 530, 3);
    let ev = h.place(mkt(B, Buy, 1));
    let b1 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(520, 1, c, b1), (530, 2, d, s)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(530, 2), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(2), 0));
}

#[test]
fn take_profit_sell_triggers_when_price_rises() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    use RejectReason::StopWouldTriggerImmediately as Now;
    h.reject(
        Command::PlaceOrder(stop(B, Sell, TakeProfit, 0, 500, 2)),
        Now,
    );
    h.reject(
        Command::PlaceOrder(stop(B, Sell, TakeProfit, 0, 490, 2)),
        Now,
    );
    let s = h.place_ok(stop(B, Sell, TakeProfit, 0, 520, 2));
    assert_eq!(h.bal(B, BTC), (FB - b(2), b(2)));
    let c = h.limit(C, Sell, 520, 1);
    let d = h.limit(D, Buy, 510, 5);
    let ev = h.place(mkt(A, Buy, 1));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(520, 1, c, a), (510, 2, d, s)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(h.bal(B, USD), (FU + q(510, 2), 0));
    assert_eq!(h.bal(B, BTC), (FB - b(2), 0));
}

#[test]
fn take_profit_buy_triggers_when_price_falls() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    use RejectReason::StopWouldTriggerImmediately as Now;
    h.reject(
        Command::PlaceOrder(stop(A, Buy, TakeProfit, 0, 500, 2)),
        Now,
    );
    h.reject(
        Command::PlaceOrder(stop(A, Buy, TakeProfit, 0, 510, 2)),
        Now,
    );
    let s = h.place_ok(stop(A, Buy, TakeProfit, 0, 480, 2));
    let c = h.limit(C, Buy, 480, 1);
    let d = h.limit(D, Sell, 490, 5);
    let ev = h.place(mkt(B, Sell, 1));
    let b1 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(480, 1, c, b1), (490, 2, d, s)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(h.bal(A, USD), (FU - q(490, 2), 0));
    assert_eq!(h.bal(A, BTC), (FB + b(2), 0));
}

#[test]
fn stop_loss_limit_rests_after_trigger_behind_orders_already_resting() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    // Sell 3 at 495 once the price falls to 490.
    let s = h.place_ok(stop(B, Sell, StopLossLimit, 495, 490, 3));
    assert_eq!(h.bal(B, BTC), (FB - b(3), b(3)));
    let d = h.limit(D, Sell, 495, 2);
    let c = h.limit(C, Buy, 490, 1);
    let ev = h.place(mkt(A, Sell, 1));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(490, 1, c, a)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(upd(&ev, s), u(s, OrderStatus::New, 0, 3, None));
    let v = h.e.order(s).unwrap();
    assert!(!v.pending_stop);
    assert_eq!((v.price, v.remaining, v.locked), (495, 3, b(3)));
    assert_eq!(h.depth(), (vec![], vec![(495, 5)]));
    // It queues behind D, which was resting before the trigger.
    let ev = h.place(lim(A, Buy, 495, 3));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(495, 2, d, a), (495, 1, s, a)]);
    assert_eq!(upd(&ev, s), u(s, OrderStatus::PartiallyFilled, 1, 2, None));
}

#[test]
fn stop_limit_buy_fills_at_once_with_price_improvement() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    // STOP_LOSS_LIMIT buy: trigger 520, limit 530, reserves 2 lots at 530 now.
    let s = h.place_ok(stop(A, Buy, StopLossLimit, 530, 520, 2));
    assert_eq!(h.bal(A, USD), (FU - q(530, 2), q(530, 2)));
    let c = h.limit(C, Sell, 520, 1);
    let d = h.limit(D, Sell, 525, 5);
    let ev = h.place(mkt(B, Buy, 1));
    let b1 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(520, 1, c, b1), (525, 2, d, s)]);
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - q(525, 2), 0));
}

#[test]
fn take_profit_limit_buy_rests_after_trigger() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    h.reject(
        Command::PlaceOrder(stop(A, Buy, TakeProfitLimit, 485, 500, 2)),
        RejectReason::StopWouldTriggerImmediately,
    );
    let s = h.place_ok(stop(A, Buy, TakeProfitLimit, 485, 480, 2));
    h.limit(D, Sell, 490, 5);
    let c = h.limit(C, Buy, 480, 1);
    let ev = h.place(mkt(B, Sell, 1));
    let b1 = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(480, 1, c, b1)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(h.depth(), (vec![(485, 2)], vec![(490, 5)]));
    assert_eq!(h.bal(A, USD), (FU - q(485, 2), q(485, 2)));
}

#[test]
fn take_profit_limit_sell_fok_after_trigger_is_all_or_nothing() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    let s = h.place_ok(NewOrder {
        tif: TimeInForce::Fok,
        ..stop(B, Sell, TakeProfitLimit, 505, 520, 3)
    });
    let c = h.limit(C, Sell, 520, 1);
    h.limit(D, Buy, 510, 2);
    let ev = h.place(mkt(A, Buy, 1));
    let a = accepted(&ev).unwrap();
    assert_eq!(fills(&ev), vec![(520, 1, c, a)]);
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(upd(&ev, s), u(s, Expired, 0, 0, Some(R::NoLiquidity)));
    assert_eq!(h.bal(B, BTC), (FB, 0));
    assert_eq!(h.depth(), (vec![(510, 2)], vec![]));
}

#[test]
fn stops_cascade_within_one_command_in_trigger_order() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    let s1 = h.place_ok(stop(B, Sell, StopLoss, 0, 490, 2));
    let s2 = h.place_ok(stop(C, Sell, StopLoss, 0, 480, 3));
    let s3 = h.place_ok(stop(C, Sell, StopLoss, 0, 400, 1));
    let d490 = h.limit(D, Buy, 490, 1);
    let d480 = h.limit(D, Buy, 480, 2);
    let d475 = h.limit(D, Buy, 475, 1);
    let d460 = h.limit(D, Buy, 460, 5);
    let ev = h.place(mkt(A, Sell, 1));
    let a = accepted(&ev).unwrap();
    // A's trade at 490 triggers s1; s1's trades at 480 trigger s2; s2 stops at 460, above s3.
    assert_eq!(
        fills(&ev),
        vec![
            (490, 1, d490, a),
            (480, 2, d480, s1),
            (475, 1, d475, s2),
            (460, 2, d460, s2)
        ]
    );
    assert_eq!(triggered(&ev), vec![s1, s2]);
    let t1 = pos(
        &ev,
        |e| matches!(e, Event::StopTriggered { order, .. } if *order == s1),
    );
    let t2 = pos(
        &ev,
        |e| matches!(e, Event::StopTriggered { order, .. } if *order == s2),
    );
    assert!(t1 < pos(&ev, |e| matches!(e, Event::Trade(x) if x.taker_order == s1)));
    assert!(pos(&ev, |e| matches!(e, Event::Trade(x) if x.taker_order == s1)) < t2);
    assert_eq!(
        ev[t2],
        Event::StopTriggered {
            order: s2,
            user: C,
            market: M,
            last_price: 480
        }
    );
    assert_eq!(upd(&ev, s1), u(s1, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(upd(&ev, s2), u(s2, Filled, 3, 0, Some(R::Filled)));
    assert!(h.e.order(s3).unwrap().pending_stop);
    assert_eq!(h.e.last_price(M), Some(460));
    assert_eq!(h.depth(), (vec![(460, 3)], vec![]));
}

#[test]
fn stops_triggered_together_run_highest_falling_stop_first_then_by_id() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    let sa = h.place_ok(stop(A, Sell, StopLoss, 0, 480, 1));
    let sb = h.place_ok(stop(B, Sell, StopLoss, 0, 490, 1));
    let sc = h.place_ok(stop(C, Sell, StopLoss, 0, 490, 1));
    // Rising stops trigger lowest first.
    let ra = h.place_ok(stop(A, Buy, StopLoss, 0, 530, 1));
    let rb = h.place_ok(stop(B, Buy, StopLoss, 0, 520, 1));
    let d = h.limit(D, Buy, 470, 20);
    let ev = h.place(mkt(D, Sell, 1));
    // D sells into its own bid (STP NONE): the trade at 470 triggers all three sells.
    assert_eq!(triggered(&ev), vec![sb, sc, sa]);
    let takers: Vec<OrderId> = trades(&ev).iter().map(|t| t.taker_order).collect();
    assert_eq!(takers[1..], [sb, sc, sa]);
    assert!(trades(&ev)
        .iter()
        .all(|t| t.maker_order == d && t.price == 470));
    h.limit(D, Sell, 540, 20);
    let ev = h.place(mkt(D, Buy, 1));
    assert_eq!(triggered(&ev), vec![rb, ra]);
}

#[test]
fn stop_market_buy_by_quote_reserves_at_placement() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    let o = NewOrder {
        stop_price: 520,
        ..order(
            A,
            Buy,
            StopLoss,
            TimeInForce::Gtc,
            0,
            OrderQty::Quote(106_000),
        )
    };
    let s = h.place_ok(o);
    assert_eq!(h.bal(A, USD), (FU - 106_000, 106_000));
    h.limit(C, Sell, 520, 1);
    let d = h.limit(D, Sell, 530, 5);
    let ev = h.place(mkt(B, Buy, 1));
    assert_eq!(
        trades(&ev)
            .last()
            .map(|t| (t.price, t.qty, t.maker_order, t.taker_order)),
        Some((530, 2, d, s))
    );
    assert_eq!(upd(&ev, s), u(s, Filled, 2, 0, Some(R::Filled)));
    assert_eq!(h.bal(A, USD), (FU - 106_000, 0));
}

#[test]
fn stop_market_buy_without_funds_at_trigger_expires() {
    let mut h = H::funded();
    trade_at(&mut h, 500);
    let s = h.place_ok(stop(A, Buy, StopLoss, 0, 520, 2));
    h.ok(Command::Withdraw {
        key: key("all"),
        user: A,
        asset: USD,
        amount: FU,
    });
    h.limit(C, Sell, 520, 1);
    h.limit(D, Sell, 530, 3);
    let ev = h.place(mkt(B, Buy, 1));
    assert_eq!(triggered(&ev), vec![s]);
    assert_eq!(upd(&ev, s), u(s, Expired, 0, 0, Some(R::InsufficientFunds)));
    assert_eq!(trades(&ev).len(), 1);
    assert!(h.open_ids(A).is_empty());
    assert_eq!(h.depth(), (vec![], vec![(530, 3)]));
}

#[test]
fn stops_without_a_last_price_are_accepted_and_cancel_releases_them() {
    let mut h = H::funded();
    let s1 = h.place_ok(stop(B, Sell, StopLossLimit, 400, 450, 2));
    let s2 = h.place_ok(stop(A, Buy, TakeProfitLimit, 600, 650, 1));
    assert_eq!(h.bal(B, BTC), (FB - b(2), b(2)));
    assert_eq!(h.bal(A, USD), (FU - q(600, 1), q(600, 1)));
    let ev = h.cancel(B, s1);
    assert_eq!(
        updates(&ev),
        vec![u(s1, OrderStatus::Canceled, 0, 0, Some(R::Canceled))]
    );
    assert_eq!(h.bal(B, BTC), (FB, 0));
    // Stops cannot be amended.
    let ev = h.amend(A, s2, Some(610), None);
    assert_eq!(rejected(&ev), Some(RejectReason::InvalidAmend));
}
