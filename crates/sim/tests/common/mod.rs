//! The markets and the seeded workload the sequencer tests and the
//! simulation submit. Every command is unique (client order ids and
//! idempotency keys carry a counter), so a command found in the journal
//! names exactly one submission.
#![allow(dead_code)] // each test binary uses a different subset

use flowex_types::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const BTC: AssetId = AssetId(1);
pub const USD: AssetId = AssetId(2);
pub const BTCUSD: MarketId = MarketId(1);
pub const USERS: u64 = 4;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn idem(text: &str) -> IdemKey {
    IdemKey::new(text).unwrap_or_else(|e| panic!("idempotency key {text}: {e:?}"))
}

pub fn setup_commands() -> Vec<Command> {
    let asset = |id, code: &str, decimals| {
        let code = AssetCode::new(code).unwrap_or_else(|e| panic!("{code}: {e:?}"));
        Command::CreateAsset(AssetConfig { id, code, decimals })
    };
    let symbol = Symbol::new("BTCUSD").unwrap_or_else(|e| panic!("symbol: {e:?}"));
    let mut v = vec![
        asset(BTC, "BTC", 3),
        asset(USD, "USD", 2),
        Command::CreateMarket(MarketConfig {
            id: BTCUSD,
            symbol,
            base: BTC,
            quote: USD,
            tick_size: 100,
            lot_size: 1000,
            min_price: 1,
            max_price: 1_000_000,
            min_qty: 1,
            max_qty: 1_000_000,
            min_notional: 0,
            max_notional: 0,
            maker_fee_ppm: 1000,
            taker_fee_ppm: 2000,
            status: MarketStatus::Trading,
            allowed_stp: StpModes::ALL,
            default_stp: StpMode::None,
        }),
    ];
    for user in 1..=USERS {
        for asset in [BTC, USD] {
            v.push(Command::Deposit {
                key: idem(&format!("seed-{user}-{}", asset.0)),
                user: UserId(user),
                asset,
                amount: 1_000_000_000,
            });
        }
    }
    v
}

/// A seeded stream of orders, cancels, deposits and withdrawals.
pub struct Workload {
    rng: ChaCha8Rng,
    next: u64,
    /// Withdrawal locks requested so far, to release or finalise later.
    locks: Vec<IdemKey>,
}

impl Workload {
    pub fn new(rng: ChaCha8Rng) -> Workload {
        Workload {
            rng,
            next: 0,
            locks: Vec::new(),
        }
    }

    pub fn command(&mut self) -> Command {
        self.next += 1;
        let n = self.next;
        let user = UserId(self.rng.gen_range(1..=USERS));
        let asset = if self.rng.gen_bool(0.5) { BTC } else { USD };
        let amount = self.rng.gen_range(1..=50_000);
        match self.rng.gen_range(0..100) {
            0..=54 => self.order(n, user),
            55..=69 => Command::CancelOrder {
                user,
                market: BTCUSD,
                order: OrderRef::Id(OrderId(self.rng.gen_range(1..=n))),
            },
            70..=79 => Command::Deposit {
                key: idem(&format!("dep-{n}")),
                user,
                asset,
                amount,
            },
            80..=84 => Command::Withdraw {
                key: idem(&format!("wd-{n}")),
                user,
                asset,
                amount,
            },
            85..=91 => {
                let key = idem(&format!("lock-{n}"));
                self.locks.push(key);
                Command::WithdrawLock {
                    key,
                    user,
                    asset,
                    amount,
                }
            }
            _ => self.settle_lock(n),
        }
    }

    fn order(&mut self, n: u64, user: UserId) -> Command {
        let rng = &mut self.rng;
        let client_id = ClientOrderId::new(&format!("o{n}")).ok();
        Command::PlaceOrder(NewOrder {
            user,
            market: BTCUSD,
            side: if rng.gen_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: OrderType::Limit,
            tif: if rng.gen_ratio(1, 5) {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            price: rng.gen_range(95..=105),
            qty: OrderQty::Base(rng.gen_range(1..=10)),
            stop_price: 0,
            client_id,
            stp: None,
        })
    }

    /// Releases or finalises an earlier lock (maybe one already settled:
    /// the engine answers that, which the workload wants too).
    fn settle_lock(&mut self, n: u64) -> Command {
        if self.locks.is_empty() {
            return self.order(n, UserId(1));
        }
        let key = self.locks[self.rng.gen_range(0..self.locks.len())];
        if self.rng.gen_bool(0.5) {
            Command::WithdrawRelease { key }
        } else {
            Command::WithdrawFinalize { key }
        }
    }
}
