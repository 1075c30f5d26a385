//! Shared set-up for the engine's integration tests: a test market and a
//! driver that stamps commands with sequence numbers and time.

#![allow(dead_code)]

use flowex_engine::Engine;
use flowex_types::*;

pub const BASE: AssetId = AssetId(1);
pub const QUOTE: AssetId = AssetId(2);
pub const MARKET: MarketId = MarketId(1);

pub struct Driver {
    pub engine: Engine,
    pub seq: u64,
    pub events: Vec<Event>,
}

impl Driver {
    pub fn new() -> Self {
        Driver {
            engine: Engine::new(),
            seq: 0,
            events: Vec::new(),
        }
    }

    /// Applies a command and returns its events.
    pub fn run(&mut self, command: Command) -> &[Event] {
        self.seq += 1;
        self.events.clear();
        let env = Envelope {
            seq: self.seq,
            timestamp_ns: self.seq * 1_000,
            command,
        };
        self.engine
            .apply(&env, &mut self.events)
            .expect("in sequence");
        &self.events
    }

    /// BTC (3 decimals) / USD (2 decimals); one lot = 1 BTC, one tick = 1 USD,
    /// so a lot at price P costs P * 100 quote atoms.
    pub fn with_market(fees: (u32, u32), stp: StpModes) -> Self {
        let mut d = Driver::new();
        d.run(Command::SetLimits(EngineLimits {
            max_open_orders_per_user: 1_000_000,
            max_orders_per_market: 10_000_000,
        }));
        for (id, code, decimals) in [(BASE, "BTC", 3), (QUOTE, "USD", 2)] {
            d.run(Command::CreateAsset(AssetConfig {
                id,
                code: AssetCode::new(code).unwrap(),
                decimals,
            }));
        }
        let events = d.run(Command::CreateMarket(MarketConfig {
            id: MARKET,
            symbol: Symbol::new("BTCUSD").unwrap(),
            base: BASE,
            quote: QUOTE,
            tick_size: 100,
            lot_size: 1000,
            min_price: 1,
            max_price: 1_000_000,
            min_qty: 1,
            max_qty: 1_000_000,
            min_notional: 0,
            max_notional: 0,
            maker_fee_ppm: fees.0,
            taker_fee_ppm: fees.1,
            status: MarketStatus::Trading,
            allowed_stp: stp,
            default_stp: StpMode::None,
        }));
        assert!(matches!(events[0], Event::MarketCreated(_)), "{events:?}");
        d
    }

    pub fn deposit(&mut self, user: u64, asset: AssetId, amount: u64) {
        let key = IdemKey::new(&format!("dep-{}-{user}-{}", self.seq, asset.0)).unwrap();
        let events = self.run(Command::Deposit {
            key,
            user: UserId(user),
            asset,
            amount,
        });
        assert!(matches!(events[0], Event::Deposited { .. }), "{events:?}");
    }
}

pub fn trades(events: &[Event]) -> Vec<Trade> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Trade(t) = e {
                Some(*t)
            } else {
                None
            }
        })
        .collect()
}

pub fn accepted_id(events: &[Event]) -> Option<OrderId> {
    events.iter().find_map(|e| {
        if let Event::OrderAccepted(o) = e {
            Some(o.id)
        } else {
            None
        }
    })
}

pub fn rejection(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| {
        if let Event::Rejected { reason } = e {
            Some(*reason)
        } else {
            None
        }
    })
}
