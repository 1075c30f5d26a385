//! Differential test: the same seeded random stream through the engine and
//! through the reference book must give the same decisions, order ids,
//! trades and L2 book. Funds are unlimited here (balances are the property
//! tests' business); the stream covers every order type, time in force,
//! STP mode, cancel and amend.
//!
//! `FLOWEX_DIFF_COMMANDS=5000000 cargo test --release -p flowex-engine --test differential -- --ignored`
//! runs the long version.

mod common;

use common::*;
use flowex_engine::reference::{RefBook, RefNew, RefTrade};
use flowex_types::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const USERS: u64 = 6;

struct Stream {
    rng: ChaCha8Rng,
    mid: i64,
    /// Ticks per price step: 1 keeps the book dense; a large step spreads it
    /// wider than the engine's dense price window.
    step: i64,
}

enum Step {
    Place(RefNew),
    Cancel {
        user: u64,
        id: u64,
    },
    Amend {
        user: u64,
        id: u64,
        price: Option<u64>,
        qty: Option<u64>,
    },
}

impl Stream {
    fn price(&mut self, spread: i64) -> u64 {
        (self.mid + self.rng.gen_range(-spread..=spread) * self.step).max(1) as u64
    }

    /// Mostly behind the mid on the order's own side, sometimes across it.
    fn passive_price(&mut self, side: Side) -> u64 {
        let offset = self.rng.gen_range(-4..40) * self.step;
        let p = match side {
            Side::Buy => self.mid - offset,
            Side::Sell => self.mid + offset,
        };
        p.max(1) as u64
    }

    fn next(&mut self, book: &RefBook) -> Step {
        if self.rng.gen_ratio(1, 50) {
            let drift = self.rng.gen_range(-3..=3) * self.step;
            self.mid = (self.mid + drift).clamp(200 * self.step, 1600 * self.step);
        }
        let roll = self.rng.gen_range(0..100);
        let open = book.open_orders();
        if roll < 15 && !open.is_empty() {
            let (id, owner) = open[self.rng.gen_range(0..open.len())];
            let user = if self.rng.gen_ratio(1, 20) {
                (owner + 1) % USERS + 1
            } else {
                owner
            };
            return Step::Cancel { user, id };
        }
        let resting = book.resting();
        if roll < 30 && !resting.is_empty() {
            let (id, user, price, qty) = resting[self.rng.gen_range(0..resting.len())];
            let (new_price, new_qty) = match self.rng.gen_range(0..4) {
                0 => (None, Some(self.rng.gen_range(1..=qty.max(2)))),
                1 => (Some(self.price(15)), None),
                2 => (None, Some(qty + self.rng.gen_range(1..5))),
                _ => (Some(price), Some(qty)),
            };
            return Step::Amend {
                user,
                id,
                price: new_price,
                qty: new_qty,
            };
        }
        Step::Place(self.new_order())
    }

    fn new_order(&mut self) -> RefNew {
        let side = if self.rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let order_type = match self.rng.gen_range(0..100) {
            0..=59 => OrderType::Limit,
            60..=67 => OrderType::LimitMaker,
            68..=77 => OrderType::Market,
            78..=82 => OrderType::StopLoss,
            83..=87 => OrderType::StopLossLimit,
            88..=92 => OrderType::TakeProfit,
            _ => OrderType::TakeProfitLimit,
        };
        let tif = match self.rng.gen_range(0..10) {
            0..=6 => TimeInForce::Gtc,
            7..=8 => TimeInForce::Ioc,
            _ => TimeInForce::Fok,
        };
        let stp = StpMode::ALL[self.rng.gen_range(0..5)];
        let stp = if self.rng.gen_bool(0.5) {
            StpMode::None
        } else {
            stp
        };
        RefNew {
            user: self.rng.gen_range(1..=USERS),
            side,
            order_type,
            tif,
            price: self.passive_price(side),
            stop_price: self.price(20),
            qty: self.rng.gen_range(1..=20),
            stp,
        }
    }
}

fn engine_order(n: &RefNew) -> NewOrder {
    NewOrder {
        user: UserId(n.user),
        market: MARKET,
        side: n.side,
        order_type: n.order_type,
        tif: n.tif,
        price: n.price,
        qty: OrderQty::Base(n.qty),
        stop_price: n.stop_price,
        client_id: None,
        stp: Some(n.stp),
    }
}

fn engine_trades(events: &[Event]) -> Vec<RefTrade> {
    trades(events)
        .iter()
        .map(|t| RefTrade {
            maker: t.maker_order.0,
            taker: t.taker_order.0,
            price: t.price,
            qty: t.qty,
        })
        .collect()
}

fn run(seed: u64, commands: usize, step: i64) {
    let mut d = Driver::with_market((0, 0), StpModes::ALL);
    for user in 1..=USERS {
        d.deposit(user, BASE, u64::MAX / 16);
        d.deposit(user, QUOTE, u64::MAX / 16);
    }
    let mut book = RefBook::new();
    let mut stream = Stream {
        rng: ChaCha8Rng::seed_from_u64(seed),
        mid: 1000 * step,
        step,
    };
    let mut trade_count = 0usize;
    let (mut triggered, mut stp_expired, mut max_depth) = (0usize, 0usize, 0usize);
    for i in 0..commands {
        let context = || format!("seed {seed:#x}, command {i}");
        match stream.next(&book) {
            Step::Place(n) => {
                let events = d.run(Command::PlaceOrder(engine_order(&n))).to_vec();
                let expected = book.place(n);
                assert_eq!(
                    accepted_id(&events).map(|o| o.0),
                    expected,
                    "{}: {n:?} -> {events:?}",
                    context()
                );
            }
            Step::Cancel { user, id } => {
                let cmd = Command::CancelOrder {
                    user: UserId(user),
                    market: MARKET,
                    order: OrderRef::Id(OrderId(id)),
                };
                let ok = rejection(d.run(cmd)).is_none();
                assert_eq!(
                    ok,
                    book.cancel(user, id),
                    "{}: cancel {id} by {user}",
                    context()
                );
            }
            Step::Amend {
                user,
                id,
                price,
                qty,
            } => {
                let cmd = Command::ReplaceOrder {
                    user: UserId(user),
                    market: MARKET,
                    order: OrderRef::Id(OrderId(id)),
                    new_price: price,
                    new_qty: qty,
                };
                let events = d.run(cmd).to_vec();
                let ok = rejection(&events).is_none();
                assert_eq!(
                    ok,
                    book.amend(user, id, price, qty),
                    "{}: amend {id} {price:?} {qty:?}: {events:?}",
                    context()
                );
            }
        }
        let got = engine_trades(&d.events);
        assert_eq!(got, book.trades, "{}: trades differ", context());
        trade_count += got.len();
        triggered += d
            .events
            .iter()
            .filter(|e| matches!(e, Event::StopTriggered { .. }))
            .count();
        stp_expired += d
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::OrderUpdate {
                        status: OrderStatus::ExpiredInMatch,
                        ..
                    }
                )
            })
            .count();
        let depth = d.engine.depth(MARKET, usize::MAX).expect("market");
        assert_eq!(depth.bids, book.l2(Side::Buy), "{}: bids differ", context());
        assert_eq!(
            depth.asks,
            book.l2(Side::Sell),
            "{}: asks differ",
            context()
        );
        max_depth = max_depth.max(depth.bids.len() + depth.asks.len());
        if i % 1000 == 0 {
            d.engine
                .check_invariants()
                .unwrap_or_else(|e| panic!("{}: {e}", context()));
        }
    }
    d.engine
        .check_invariants()
        .unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
    // The stream must actually exercise what it claims to.
    assert!(
        trade_count > commands / 10,
        "stream too tame: {trade_count} trades"
    );
    assert!(
        triggered > commands / 200,
        "only {triggered} stops triggered"
    );
    assert!(
        stp_expired > commands / 200,
        "only {stp_expired} STP expiries"
    );
    assert!(max_depth > 20, "book never deeper than {max_depth} levels");
}

#[test]
fn engine_agrees_with_reference_book() {
    for (k, seed) in [0xF10E_u64, 0xBEEF, 0x5EED, 0xC0FFEE]
        .into_iter()
        .enumerate()
    {
        run(seed, if k == 0 { 110_000 } else { 30_000 }, 1);
    }
    // A book spread over ~50,000 ticks: levels on both sides of the dense window.
    run(0x1DE, 40_000, 600);
}

#[test]
#[ignore = "long run: millions of commands"]
fn engine_agrees_with_reference_book_long() {
    let n = std::env::var("FLOWEX_DIFF_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    run(0xD1FF, n, 1);
    run(0xD1FE, n / 4, 600);
}
