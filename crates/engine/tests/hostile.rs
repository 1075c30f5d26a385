//! Hostile input: commands with arbitrary field values (huge prices and
//! quantities, unknown ids, zero sizes, every enum value) never panic, and
//! the invariants hold after each one. Seeded; the seed is in the message.

mod common;

use common::*;
use flowex_types::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn wild(rng: &mut ChaCha8Rng) -> u64 {
    match rng.gen_range(0..6) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX / rng.gen_range(1..1000),
        3 => rng.gen_range(1..100),
        4 => 1 << rng.gen_range(0..64),
        _ => rng.gen(),
    }
}

/// Half plausible (so orders rest and trade), half wild.
fn price(rng: &mut ChaCha8Rng) -> u64 {
    if rng.gen_bool(0.5) {
        rng.gen_range(990..1010)
    } else {
        wild(rng)
    }
}

fn command(rng: &mut ChaCha8Rng) -> Command {
    let user = UserId(rng.gen_range(0..5));
    let market = MarketId([1, 1, 1, 1, 1, 1, 1, 1, 0, 2][rng.gen_range(0..10)]);
    let asset = AssetId(rng.gen_range(0..4));
    let key = IdemKey::new(&format!("k{}", rng.gen_range(0..50))).unwrap();
    let order = if rng.gen_bool(0.5) {
        OrderRef::Id(OrderId(rng.gen_range(0..200)))
    } else {
        OrderRef::Client(ClientOrderId::new(&format!("c{}", rng.gen_range(0..5))).unwrap())
    };
    let types = [
        OrderType::Limit,
        OrderType::Market,
        OrderType::LimitMaker,
        OrderType::StopLoss,
        OrderType::StopLossLimit,
        OrderType::TakeProfit,
        OrderType::TakeProfitLimit,
    ];
    match rng.gen_range(0..16) {
        0 => Command::Deposit {
            key,
            user,
            asset,
            amount: wild(rng),
        },
        1 => Command::Withdraw {
            key,
            user,
            asset,
            amount: wild(rng),
        },
        2 => Command::WithdrawLock {
            key,
            user,
            asset,
            amount: wild(rng),
        },
        3 => Command::WithdrawRelease { key },
        4 => Command::WithdrawFinalize { key },
        5 => Command::CancelOrder {
            user,
            market,
            order,
        },
        6 => Command::ReplaceOrder {
            user,
            market,
            order,
            new_price: rng.gen_bool(0.5).then(|| wild(rng)),
            new_qty: rng.gen_bool(0.5).then(|| wild(rng)),
        },
        7 => Command::CancelAll {
            user: rng.gen_bool(0.5).then_some(user),
            market: rng.gen_bool(0.5).then_some(market),
        },
        8 => Command::UpdateMarket {
            market,
            update: MarketUpdate {
                min_price: rng
                    .gen_bool(0.2)
                    .then(|| rng.gen_range(0..2).max(wild(rng) % 3)),
                max_qty: rng.gen_bool(0.2).then(|| wild(rng).max(1_000)),
                maker_fee_ppm: rng.gen_bool(0.2).then(|| rng.gen()),
                status: Some(
                    [
                        MarketStatus::Trading,
                        MarketStatus::Trading,
                        MarketStatus::Halted,
                        MarketStatus::CancelOnly,
                    ][rng.gen_range(0..4)],
                )
                .filter(|_| rng.gen_bool(0.3)),
                ..MarketUpdate::default()
            },
        },
        9 => Command::SetUserFees {
            user,
            fees: rng
                .gen_bool(0.7)
                .then(|| (rng.gen_range(0..200_000), rng.gen())),
        },
        _ => Command::PlaceOrder(NewOrder {
            user,
            market,
            side: if rng.gen_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: types[rng.gen_range(0..types.len())],
            tif: [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][rng.gen_range(0..3)],
            price: price(rng),
            qty: match rng.gen_range(0..4) {
                0 => OrderQty::Base(wild(rng)),
                1 => OrderQty::Quote(wild(rng)),
                _ => OrderQty::Base(rng.gen_range(1..50)),
            },
            stop_price: price(rng),
            client_id: rng
                .gen_bool(0.2)
                .then(|| ClientOrderId::new(&format!("c{}", rng.gen_range(0..5))).unwrap()),
            stp: rng.gen_bool(0.3).then(|| StpMode::ALL[rng.gen_range(0..5)]),
        }),
    }
}

#[test]
fn arbitrary_commands_never_panic_or_break_invariants() {
    let seed = 0x0BAD_5EED_u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Driver::with_market(
        (1_000, 2_000),
        StpModes::of(&[StpMode::None, StpMode::ExpireTaker]),
    );
    for user in 1..5 {
        d.deposit(user, BASE, 1 << 40);
        d.deposit(user, QUOTE, 1 << 50);
    }
    let (mut rejected, mut accepted, mut traded) = (0, 0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    for i in 0..50_000 {
        let cmd = command(&mut rng);
        let events = d.run(cmd);
        rejected += usize::from(rejection(events).is_some());
        if let (Command::PlaceOrder(_), Some(r)) = (cmd, rejection(events)) {
            *reasons.entry(format!("{r:?}")).or_insert(0usize) += 1;
        }
        accepted += usize::from(accepted_id(events).is_some());
        traded += trades(events).len();
        if let Err(e) = d.engine.check_invariants() {
            panic!("seed {seed:#x}, command {i} {cmd:?}: {e}");
        }
    }
    assert!(
        rejected > 10_000,
        "hostile input should mostly be refused, was {rejected}"
    );
    assert!(
        accepted > 1_000 && traded > 50,
        "too little got through: {accepted} orders, {traded} trades {reasons:?}"
    );
}
