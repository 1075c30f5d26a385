//! Fees: each side pays in the asset it receives, rounded up, into the fee account.

use super::*;
use Side::{Buy, Sell};

#[test]
fn buy_taker_pays_base_and_sell_maker_pays_quote() {
    let mut h = H::with_fees(1000, 2000);
    h.fund_all();
    let s = h.limit(B, Sell, 500, 3);
    let ev = h.place(mkt(A, Buy, 3));
    let a = accepted(&ev).unwrap();
    let t = trades(&ev)[0];
    assert_eq!((t.maker_order, t.taker_order, t.quote_qty), (s, a, 150_000));
    // Taker A receives 3000 base atoms: 0.2% = 6. Maker B receives 150,000 quote: 0.1% = 150.
    assert_eq!((t.maker_fee, t.taker_fee), (150, 6));
    assert_eq!(h.bal(A, BTC), (FB + 2994, 0));
    assert_eq!(h.bal(A, USD), (FU - 150_000, 0));
    assert_eq!(h.bal(B, USD), (FU + 149_850, 0));
    assert_eq!(h.bal(B, BTC), (FB - 3000, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (6, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, USD), (150, 0));
    assert_eq!(h.e.supply(BTC), Some(4 * FB));
    assert_eq!(h.e.supply(USD), Some(4 * FU));
}

#[test]
fn sell_taker_pays_quote_and_buy_maker_pays_base() {
    let mut h = H::with_fees(1000, 2000);
    h.fund_all();
    let bid = h.limit(A, Buy, 400, 2);
    let ev = h.place(mkt(B, Sell, 2));
    let t = trades(&ev)[0];
    assert_eq!(t.maker_order, bid);
    assert_eq!((t.quote_qty, t.maker_fee, t.taker_fee), (80_000, 2, 160));
    assert_eq!(h.bal(A, BTC), (FB + 1998, 0));
    assert_eq!(h.bal(A, USD), (FU - 80_000, 0));
    assert_eq!(h.bal(B, USD), (FU + 79_840, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, USD), (160, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (2, 0));
}

#[test]
fn fees_round_up_per_trade() {
    let mut h = H::with_fees(1000, 1500);
    h.fund_all();
    let s1 = h.limit(B, Sell, 123, 1);
    let s2 = h.limit(C, Sell, 123, 1);
    let s3 = h.limit(D, Sell, 123, 1);
    let ev = h.place(lim(A, Buy, 123, 3));
    let a = accepted(&ev).unwrap();
    assert_eq!(
        fills(&ev),
        vec![(123, 1, s1, a), (123, 1, s2, a), (123, 1, s3, a)]
    );
    // Each trade: taker 1000 x 0.15% = 1.5 -> 2; maker 12,300 x 0.1% = 12.3 -> 13.
    for t in trades(&ev) {
        assert_eq!((t.quote_qty, t.taker_fee, t.maker_fee), (12_300, 2, 13));
    }
    assert_eq!(h.bal(A, BTC), (FB + 3000 - 6, 0));
    assert_eq!(h.bal(A, USD), (FU - 36_900, 0));
    for user in [B, C, D] {
        assert_eq!(h.bal(user, USD), (FU + 12_300 - 13, 0));
    }
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (6, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, USD), (39, 0));
}

#[test]
fn tiny_trade_still_pays_one_atom() {
    let mut h = H::with_fees(1, 1);
    h.fund_all();
    h.limit(B, Sell, 1, 1);
    let ev = h.place(mkt(A, Buy, 1));
    let t = trades(&ev)[0];
    assert_eq!((t.quote_qty, t.maker_fee, t.taker_fee), (100, 1, 1));
    assert_eq!(h.bal(B, USD), (FU + 99, 0));
    assert_eq!(h.bal(A, BTC), (FB + 999, 0));
}

#[test]
fn zero_fees_touch_no_fee_balance() {
    let mut h = H::funded();
    h.limit(B, Sell, 500, 3);
    let ev = h.place(mkt(A, Buy, 3));
    let t = trades(&ev)[0];
    assert_eq!((t.maker_fee, t.taker_fee), (0, 0));
    assert!(!ev.iter().any(|e| matches!(
        e,
        Event::BalanceChanged {
            user: FEE_ACCOUNT,
            ..
        }
    )));
    assert_eq!(h.e.balances(FEE_ACCOUNT), vec![]);
    assert_eq!(h.bal(A, BTC), (FB + 3000, 0));
    assert_eq!(h.bal(B, USD), (FU + 150_000, 0));
}

#[test]
fn per_user_fee_tier_overrides_the_market() {
    let mut h = H::with_fees(1000, 2000);
    h.fund_all();
    let ev = h.ok(Command::SetUserFees {
        user: A,
        fees: Some((0, 500)),
    });
    assert_eq!(
        ev,
        vec![Event::UserFeesSet {
            user: A,
            fees: Some((0, 500))
        }]
    );
    assert_eq!(h.e.user_settings(A), (Some((0, 500)), false));
    assert_eq!(h.e.user_settings(B), (None, false));
    h.limit(B, Sell, 500, 3);
    let t = trades(&h.place(mkt(A, Buy, 3)))[0];
    // A takes at 0.05%: 3000 x 0.0005 = 1.5 -> 2. B makes at the market's 0.1%.
    assert_eq!((t.taker_fee, t.maker_fee), (2, 150));
    // A makes at 0: B's taker fee is the market's 0.2% of 80,000.
    h.limit(A, Buy, 400, 2);
    let t = trades(&h.place(mkt(B, Sell, 2)))[0];
    assert_eq!((t.maker_fee, t.taker_fee), (0, 160));
    assert_eq!(h.bal(A, BTC), (FB + 2998 + 2000, 0));
    // Back to the market's rates.
    h.ok(Command::SetUserFees {
        user: A,
        fees: None,
    });
    h.limit(B, Sell, 500, 1);
    let t = trades(&h.place(mkt(A, Buy, 1)))[0];
    assert_eq!(t.taker_fee, 2);
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (2 + 2, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, USD), (150 + 160 + 50, 0));

    h.reject(
        Command::SetUserFees {
            user: A,
            fees: Some((100_001, 0)),
        },
        RejectReason::InvalidConfig,
    );
    h.reject(
        Command::SetUserFees {
            user: FEE_ACCOUNT,
            fees: Some((0, 0)),
        },
        RejectReason::ReservedAccount,
    );
}

#[test]
fn fees_with_price_improvement_and_a_resting_remainder() {
    let mut h = H::with_fees(1000, 2000);
    h.fund_all();
    h.limit(B, Sell, 500, 2);
    let ev = h.place(lim(A, Buy, 520, 5));
    let t = trades(&ev)[0];
    assert_eq!((t.taker_fee, t.maker_fee), (4, 100));
    assert_eq!(h.bal(A, USD), (FU - q(500, 2) - q(520, 3), q(520, 3)));
    assert_eq!(h.bal(A, BTC), (FB + 1996, 0));
    // The rest fills later with A as maker (buyer, pays base at 0.1%).
    let ev = h.place(mkt(C, Sell, 3));
    let t = trades(&ev)[0];
    assert_eq!((t.price, t.maker_fee, t.taker_fee), (520, 3, 312));
    assert_eq!(h.bal(A, USD), (FU - q(500, 2) - q(520, 3), 0));
    assert_eq!(h.bal(A, BTC), (FB + 1996 + 2997, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (4 + 3, 0));
    assert_eq!(h.bal(FEE_ACCOUNT, USD), (100 + 312, 0));
}

#[test]
fn market_fee_change_applies_to_later_trades() {
    let mut h = H::with_fees(0, 0);
    h.fund_all();
    h.update_market(MarketUpdate {
        maker_fee_ppm: Some(2000),
        taker_fee_ppm: Some(1000),
        ..Default::default()
    });
    h.limit(B, Buy, 500, 1);
    let t = trades(&h.place(mkt(A, Sell, 1)))[0];
    assert_eq!((t.maker_fee, t.taker_fee), (2, 50));
    let ev = h.cmd(Command::UpdateMarket {
        market: M,
        update: MarketUpdate {
            taker_fee_ppm: Some(100_001),
            ..Default::default()
        },
    });
    assert_eq!(rejected(&ev), Some(RejectReason::InvalidConfig));
}
