//! Market status, deposits and withdrawals, frozen users, refusals that
//! leave nothing half-applied, overflow, explicit limits.

use super::*;
use RejectReason::*;
use Side::{Buy, Sell};

fn cancel_cmd(user: UserId, id: OrderId) -> Command {
    Command::CancelOrder {
        user,
        market: M,
        order: OrderRef::Id(id),
    }
}

fn amend_cmd(user: UserId, id: OrderId, qty: u64) -> Command {
    Command::ReplaceOrder {
        user,
        market: M,
        order: OrderRef::Id(id),
        new_price: None,
        new_qty: Some(qty),
    }
}

#[test]
fn halted_market_refuses_place_cancel_and_amend() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 500, 5);
    let s = h.place_ok(stop(B, Sell, OrderType::StopLoss, 0, 400, 1));
    let ev = h.ok(Command::SetMarketStatus {
        market: M,
        status: MarketStatus::Halted,
    });
    assert_eq!(
        ev,
        vec![Event::MarketStatusChanged {
            market: M,
            status: MarketStatus::Halted
        }]
    );
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 1)), MarketClosed);
    h.reject(Command::PlaceOrder(mkt(B, Sell, 1)), MarketClosed);
    h.reject(cancel_cmd(A, a), MarketClosed);
    h.reject(cancel_cmd(B, s), MarketClosed);
    h.reject(amend_cmd(A, a, 4), MarketClosed);
    h.reject(
        Command::CancelAll {
            user: Some(A),
            market: Some(M),
        },
        MarketClosed,
    );
    h.reject(
        Command::CancelAll {
            user: None,
            market: Some(M),
        },
        MarketClosed,
    );
    // A cancel-all across markets skips the halted one.
    let world = h.world();
    h.ok(Command::CancelAll {
        user: Some(A),
        market: None,
    });
    assert_eq!(h.world(), world);
    h.set_status(MarketStatus::Trading);
    h.ok(cancel_cmd(A, a));
}

#[test]
fn cancel_only_market_allows_only_cancels() {
    let mut h = H::funded();
    let a1 = h.limit(A, Buy, 500, 5);
    let a2 = h.limit(A, Buy, 499, 5);
    let a3 = h.limit(A, Buy, 498, 5);
    let c = h.limit(C, Sell, 600, 5);
    h.set_status(MarketStatus::CancelOnly);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 1)), MarketClosed);
    h.reject(Command::PlaceOrder(mkt(B, Sell, 1)), MarketClosed);
    h.reject(amend_cmd(A, a1, 4), MarketClosed);
    let ev = h.ok(cancel_cmd(A, a1));
    assert_eq!(upd(&ev, a1).status, OrderStatus::Canceled);
    let ev = h.ok(Command::CancelAll {
        user: Some(A),
        market: Some(M),
    });
    assert_eq!(
        updates(&ev),
        vec![
            u(
                a2,
                OrderStatus::Canceled,
                0,
                0,
                Some(EndReason::MassCanceled)
            ),
            u(
                a3,
                OrderStatus::Canceled,
                0,
                0,
                Some(EndReason::MassCanceled)
            ),
        ]
    );
    let ev = h.ok(Command::CancelAll {
        user: None,
        market: Some(M),
    });
    assert_eq!(
        updates(&ev),
        vec![u(
            c,
            OrderStatus::Canceled,
            0,
            0,
            Some(EndReason::MassCanceled)
        )]
    );
    assert_eq!(h.bal(A, USD), (FU, 0));
    h.set_status(MarketStatus::Trading);
    h.limit(A, Buy, 500, 1);
    h.reject(
        Command::SetMarketStatus {
            market: MarketId(9),
            status: MarketStatus::Halted,
        },
        UnknownMarket,
    );
}

#[test]
fn deposits_are_idempotent() {
    let mut h = H::new();
    let ev = h.ok(Command::Deposit {
        key: key("d1"),
        user: A,
        asset: USD,
        amount: 1_000,
    });
    assert_eq!(
        ev,
        vec![
            Event::Deposited {
                key: key("d1"),
                user: A,
                asset: USD,
                amount: 1_000
            },
            Event::BalanceChanged {
                user: A,
                asset: USD,
                available: 1_000,
                locked: 0
            },
        ]
    );
    let ev = h.ok(Command::Deposit {
        key: key("d1"),
        user: A,
        asset: USD,
        amount: 1_000,
    });
    assert_eq!(ev, vec![Event::Duplicate { key: key("d1") }]);
    // The key decides, whatever the retry says.
    let ev = h.ok(Command::Deposit {
        key: key("d1"),
        user: B,
        asset: BTC,
        amount: 5,
    });
    assert_eq!(ev, vec![Event::Duplicate { key: key("d1") }]);
    assert_eq!(h.bal(A, USD), (1_000, 0));
    assert_eq!(h.bal(B, BTC), (0, 0));
    assert_eq!(h.e.supply(USD), Some(1_000));
    h.reject(
        Command::Deposit {
            key: key("d2"),
            user: A,
            asset: USD,
            amount: 0,
        },
        ZeroAmount,
    );
    h.reject(
        Command::Deposit {
            key: key("d2"),
            user: A,
            asset: AssetId(77),
            amount: 1,
        },
        UnknownAsset,
    );
    h.reject(
        Command::Deposit {
            key: key("d2"),
            user: FEE_ACCOUNT,
            asset: USD,
            amount: 1,
        },
        ReservedAccount,
    );
    // A refused deposit does not burn its key.
    h.ok(Command::Deposit {
        key: key("d2"),
        user: A,
        asset: USD,
        amount: 1,
    });
    assert_eq!(h.bal(A, USD), (1_001, 0));
}

#[test]
fn deposit_overflowing_the_supply_is_refused() {
    let mut h = H::new();
    h.ok(Command::Deposit {
        key: key("big"),
        user: A,
        asset: USD,
        amount: u64::MAX - 5,
    });
    h.reject(
        Command::Deposit {
            key: key("more"),
            user: B,
            asset: USD,
            amount: 6,
        },
        Overflow,
    );
    h.ok(Command::Deposit {
        key: key("fits"),
        user: B,
        asset: USD,
        amount: 5,
    });
    assert_eq!(h.e.supply(USD), Some(u64::MAX));
}

#[test]
fn instant_withdrawal() {
    let mut h = H::funded();
    let ev = h.ok(Command::Withdraw {
        key: key("w1"),
        user: A,
        asset: USD,
        amount: 1_234,
    });
    assert_eq!(
        ev[0],
        Event::Withdrawn {
            key: key("w1"),
            user: A,
            asset: USD,
            amount: 1_234
        }
    );
    assert_eq!(h.bal(A, USD), (FU - 1_234, 0));
    assert_eq!(h.e.supply(USD), Some(4 * FU - 1_234));
    let ev = h.ok(Command::Withdraw {
        key: key("w1"),
        user: A,
        asset: USD,
        amount: 1_234,
    });
    assert_eq!(ev, vec![Event::Duplicate { key: key("w1") }]);
    assert_eq!(h.bal(A, USD), (FU - 1_234, 0));
    h.reject(
        Command::Withdraw {
            key: key("w2"),
            user: A,
            asset: USD,
            amount: FU,
        },
        InsufficientFunds,
    );
    h.reject(
        Command::Withdraw {
            key: key("w2"),
            user: A,
            asset: USD,
            amount: 0,
        },
        ZeroAmount,
    );
    h.reject(
        Command::Withdraw {
            key: key("w2"),
            user: UserId(99),
            asset: USD,
            amount: 1,
        },
        InsufficientFunds,
    );
    h.reject(
        Command::Withdraw {
            key: key("w2"),
            user: A,
            asset: AssetId(99),
            amount: 1,
        },
        UnknownAsset,
    );
    // Locked funds cannot be withdrawn.
    h.limit(A, Buy, 1000, 99);
    h.reject(
        Command::Withdraw {
            key: key("w2"),
            user: A,
            asset: USD,
            amount: FU - 1_234 - q(1000, 99) + 1,
        },
        InsufficientFunds,
    );
}

#[test]
fn pending_withdrawal_release() {
    let mut h = H::funded();
    let ev = h.ok(Command::WithdrawLock {
        key: key("p1"),
        user: A,
        asset: BTC,
        amount: 5_000,
    });
    assert_eq!(
        ev[0],
        Event::WithdrawLocked {
            key: key("p1"),
            user: A,
            asset: BTC,
            amount: 5_000
        }
    );
    assert_eq!(h.bal(A, BTC), (FB - 5_000, 5_000));
    // Locked for the withdrawal, so not usable for an order.
    h.reject(
        Command::PlaceOrder(lim(A, Sell, 500, 96)),
        InsufficientFunds,
    );
    let ev = h.ok(Command::WithdrawRelease { key: key("p1") });
    assert_eq!(
        ev[0],
        Event::WithdrawReleased {
            key: key("p1"),
            user: A,
            asset: BTC,
            amount: 5_000
        }
    );
    assert_eq!(h.bal(A, BTC), (FB, 0));
    let ev = h.ok(Command::WithdrawRelease { key: key("p1") });
    assert_eq!(ev, vec![Event::Duplicate { key: key("p1") }]);
    h.reject(
        Command::WithdrawFinalize { key: key("p1") },
        WithdrawalNotPending,
    );
    assert_eq!(h.e.supply(BTC), Some(4 * FB));
    // Re-using the key for a new lock is a duplicate.
    let ev = h.ok(Command::WithdrawLock {
        key: key("p1"),
        user: A,
        asset: BTC,
        amount: 5_000,
    });
    assert_eq!(ev, vec![Event::Duplicate { key: key("p1") }]);
}

#[test]
fn pending_withdrawal_finalize() {
    let mut h = H::funded();
    h.ok(Command::WithdrawLock {
        key: key("p2"),
        user: A,
        asset: USD,
        amount: 7_000,
    });
    let ev = h.ok(Command::WithdrawFinalize { key: key("p2") });
    assert_eq!(
        ev[0],
        Event::WithdrawFinalized {
            key: key("p2"),
            user: A,
            asset: USD,
            amount: 7_000
        }
    );
    assert_eq!(h.bal(A, USD), (FU - 7_000, 0));
    assert_eq!(h.e.supply(USD), Some(4 * FU - 7_000));
    let ev = h.ok(Command::WithdrawFinalize { key: key("p2") });
    assert_eq!(ev, vec![Event::Duplicate { key: key("p2") }]);
    h.reject(
        Command::WithdrawRelease { key: key("p2") },
        WithdrawalNotPending,
    );
    assert_eq!(h.bal(A, USD), (FU - 7_000, 0));
    h.reject(
        Command::WithdrawFinalize { key: key("nope") },
        UnknownWithdrawal,
    );
    h.reject(
        Command::WithdrawRelease { key: key("nope") },
        UnknownWithdrawal,
    );
    h.reject(
        Command::WithdrawLock {
            key: key("p3"),
            user: A,
            asset: USD,
            amount: FU,
        },
        InsufficientFunds,
    );
    h.reject(
        Command::WithdrawLock {
            key: key("p3"),
            user: FEE_ACCOUNT,
            asset: USD,
            amount: 1,
        },
        ReservedAccount,
    );
}

#[test]
fn frozen_user_cannot_order_or_withdraw_but_can_cancel() {
    let mut h = H::funded();
    let a = h.limit(A, Buy, 500, 5);
    let a2 = h.limit(A, Buy, 490, 5);
    h.ok(Command::WithdrawLock {
        key: key("pending"),
        user: A,
        asset: USD,
        amount: 100,
    });
    let ev = h.ok(Command::SetUserFrozen {
        user: A,
        frozen: true,
    });
    assert_eq!(
        ev,
        vec![Event::UserFrozenSet {
            user: A,
            frozen: true
        }]
    );
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 1)), UserFrozen);
    h.reject(Command::PlaceOrder(mkt(A, Sell, 1)), UserFrozen);
    h.reject(
        Command::Withdraw {
            key: key("w"),
            user: A,
            asset: USD,
            amount: 1,
        },
        UserFrozen,
    );
    h.reject(
        Command::WithdrawLock {
            key: key("w"),
            user: A,
            asset: USD,
            amount: 1,
        },
        UserFrozen,
    );
    // Resting orders still trade.
    let ev = h.place(mkt(B, Sell, 1));
    assert_eq!(fills(&ev).len(), 1);
    h.ok(cancel_cmd(A, a));
    h.ok(Command::CancelAll {
        user: Some(A),
        market: None,
    });
    assert!(h.e.order(a2).is_none());
    // A pending withdrawal can still be completed or released by the operator.
    h.ok(Command::WithdrawRelease {
        key: key("pending"),
    });
    // Deposits still arrive.
    h.ok(Command::Deposit {
        key: key("in"),
        user: A,
        asset: USD,
        amount: 1,
    });
    h.ok(Command::SetUserFrozen {
        user: A,
        frozen: false,
    });
    h.limit(A, Buy, 500, 1);
    h.reject(
        Command::SetUserFrozen {
            user: FEE_ACCOUNT,
            frozen: true,
        },
        ReservedAccount,
    );
}

#[test]
fn insufficient_funds_leaves_nothing_half_applied() {
    let mut h = H::new();
    h.fund(A, q(500, 5), b(3));
    h.fund(B, FU, FB);
    h.limit(B, Sell, 600, 5);
    h.limit(B, Buy, 400, 5);
    h.limit(A, Buy, 450, 2);
    h.reject(Command::PlaceOrder(lim(A, Buy, 500, 4)), InsufficientFunds);
    h.reject(Command::PlaceOrder(lim(A, Buy, 600, 5)), InsufficientFunds);
    h.reject(Command::PlaceOrder(lim(A, Sell, 300, 4)), InsufficientFunds);
    h.reject(Command::PlaceOrder(mkt(A, Sell, 4)), InsufficientFunds);
    h.reject(
        Command::PlaceOrder(lim_tif(A, Buy, 600, 5, TimeInForce::Fok)),
        InsufficientFunds,
    );
    h.reject(
        Command::PlaceOrder(stop(A, Sell, OrderType::StopLossLimit, 300, 350, 4)),
        InsufficientFunds,
    );
    h.reject(Command::PlaceOrder(lim(C, Buy, 500, 1)), InsufficientFunds);
    // Exactly what is available is enough.
    h.limit(A, Buy, 320, 5);
    assert_eq!(h.bal(A, USD), (0, q(450, 2) + q(320, 5)));
}

#[test]
fn overflowing_orders_are_refused() {
    let mut h = H::funded();
    h.update_market(MarketUpdate {
        max_price: Some(u64::MAX),
        max_qty: Some(u64::MAX),
        ..Default::default()
    });
    // 10^12 ticks x 10^12 lots x 100 does not fit in u64.
    h.reject(
        Command::PlaceOrder(lim(A, Buy, 1_000_000_000_000, 1_000_000_000_000)),
        Overflow,
    );
    // Base atoms of u64::MAX lots overflow too.
    h.reject(Command::PlaceOrder(lim(A, Sell, 1, u64::MAX)), Overflow);
    h.reject(Command::PlaceOrder(mkt(A, Sell, u64::MAX)), Overflow);
    // Amending into an overflow is refused the same way.
    let a = h.limit(A, Buy, 1, 1);
    h.reject(
        Command::ReplaceOrder {
            user: A,
            market: M,
            order: OrderRef::Id(a),
            new_price: Some(u64::MAX),
            new_qty: Some(u64::MAX),
        },
        Overflow,
    );
    // A price that fits but cannot be paid is just insufficient funds.
    h.reject(
        Command::PlaceOrder(lim(A, Buy, u64::MAX / 100, 1)),
        InsufficientFunds,
    );
}

#[test]
fn fee_account_cannot_trade() {
    let mut h = H::with_fees(1000, 1000);
    h.fund_all();
    h.limit(B, Sell, 500, 1);
    h.place_ok(mkt(A, Buy, 1));
    assert_eq!(h.bal(FEE_ACCOUNT, BTC), (1, 0));
    h.reject(
        Command::PlaceOrder(lim(FEE_ACCOUNT, Sell, 500, 1)),
        ReservedAccount,
    );
    h.reject(
        Command::PlaceOrder(mkt_quote(FEE_ACCOUNT, Buy, 50)),
        ReservedAccount,
    );
}

#[test]
fn unknown_things() {
    let mut h = H::funded();
    h.reject(
        Command::PlaceOrder(NewOrder {
            market: MarketId(5),
            ..lim(A, Buy, 1, 1)
        }),
        UnknownMarket,
    );
    h.reject(
        Command::CancelOrder {
            user: A,
            market: MarketId(5),
            order: OrderRef::Id(OrderId(1)),
        },
        UnknownMarket,
    );
    h.reject(
        Command::CancelAll {
            user: None,
            market: Some(MarketId(5)),
        },
        UnknownMarket,
    );
    h.reject(
        Command::CreateMarket(market_cfg(MarketId(5), "XUSD", AssetId(42), 0, 0)),
        UnknownAsset,
    );
    h.reject(
        Command::CreateMarket(market_cfg(MarketId(5), "BTCUSD", BTC, 0, 0)),
        MarketExists,
    );
    h.reject(
        Command::CreateMarket(market_cfg(M, "OTHER", BTC, 0, 0)),
        MarketExists,
    );
    h.reject(Command::CreateAsset(asset(BTC, "XBT", 8)), AssetExists);
    h.reject(
        Command::CreateAsset(asset(AssetId(9), "BTC", 8)),
        AssetExists,
    );
    h.reject(
        Command::CreateAsset(asset(AssetId(9), "BIG", 19)),
        InvalidConfig,
    );
    // One lot at one tick must be a whole number of quote atoms: 1 x 1 / 10^3 is not.
    let bad = MarketConfig {
        tick_size: 1,
        lot_size: 1,
        ..market_cfg(MarketId(5), "ETHUSD", ETH, 0, 0)
    };
    h.reject(Command::CreateMarket(bad), InvalidConfig);
    h.reject(
        Command::UpdateMarket {
            market: MarketId(5),
            update: MarketUpdate::default(),
        },
        UnknownMarket,
    );
    h.reject(
        Command::UpdateMarket {
            market: M,
            update: MarketUpdate {
                min_price: Some(0),
                ..Default::default()
            },
        },
        InvalidConfig,
    );
}

#[test]
fn explicit_limits() {
    let mut h = H::funded();
    let limits = EngineLimits {
        max_open_orders_per_user: 2,
        max_orders_per_market: 4,
    };
    let ev = h.ok(Command::SetLimits(limits));
    assert_eq!(ev, vec![Event::LimitsSet(limits)]);
    assert_eq!(h.e.limits(), limits);
    h.limit(A, Buy, 400, 1);
    h.place_ok(stop(A, Sell, OrderType::StopLossLimit, 300, 350, 1));
    h.reject(Command::PlaceOrder(lim(A, Buy, 401, 1)), TooManyOrders);
    h.reject(
        Command::PlaceOrder(stop(A, Sell, OrderType::StopLoss, 0, 350, 1)),
        TooManyOrders,
    );
    // An order that cannot rest does not count against the limit.
    let ev = h.place(lim_tif(A, Buy, 401, 1, TimeInForce::Ioc));
    assert_eq!(
        upd(&ev, accepted(&ev).unwrap()).status,
        OrderStatus::Expired
    );
    h.limit(B, Sell, 600, 1);
    h.limit(B, Sell, 601, 1);
    h.reject(Command::PlaceOrder(lim(C, Sell, 602, 1)), BookFull);
    // A resting order that fills frees its place.
    h.place_ok(mkt(C, Buy, 1));
    h.limit(C, Sell, 602, 1);
    h.reject(
        Command::SetLimits(EngineLimits {
            max_open_orders_per_user: 0,
            max_orders_per_market: 1,
        }),
        InvalidConfig,
    );
    h.reject(
        Command::SetLimits(EngineLimits {
            max_open_orders_per_user: 1,
            max_orders_per_market: 0,
        }),
        InvalidConfig,
    );
}
