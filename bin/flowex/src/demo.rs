//! Demo assets and markets, seeded on a fresh data directory, and a small
//! seeded order flow so a newcomer sees the core trade. The platform issue
//! replaces the flow with the market-making bot behind the public API.

use flowex_engine::Engine;
use flowex_sequencer::SequencerHandle;
use flowex_types::*;

pub const DEMO_USERS: [UserId; 3] = [UserId(1), UserId(2), UserId(3)];

struct DemoMarket {
    id: u32,
    symbol: &'static str,
    base: u32,
    quote: u32,
    /// Decimal strings, converted exactly with the assets' decimals.
    tick: &'static str,
    lot: &'static str,
    reference_price: &'static str,
}

const ASSETS: [(u32, &str); 4] = [(1, "BTC"), (2, "ETH"), (3, "SOL"), (4, "USDT")];
const DECIMALS: u8 = 8;

const MARKETS: [DemoMarket; 4] = [
    DemoMarket {
        id: 1,
        symbol: "BTCUSDT",
        base: 1,
        quote: 4,
        tick: "0.01",
        lot: "0.00001",
        reference_price: "64000",
    },
    DemoMarket {
        id: 2,
        symbol: "ETHUSDT",
        base: 2,
        quote: 4,
        tick: "0.01",
        lot: "0.0001",
        reference_price: "3200",
    },
    DemoMarket {
        id: 3,
        symbol: "ETHBTC",
        base: 2,
        quote: 1,
        tick: "0.00001",
        lot: "0.001",
        reference_price: "0.05",
    },
    DemoMarket {
        id: 4,
        symbol: "SOLUSDT",
        base: 3,
        quote: 4,
        tick: "0.01",
        lot: "0.001",
        reference_price: "150",
    },
];

fn atoms(s: &str) -> u64 {
    parse_scaled(s, DECIMALS).expect("demo constants are valid decimals")
}

fn market_config(m: &DemoMarket) -> MarketConfig {
    let tick = atoms(m.tick);
    let quote_unit = atoms("1");
    MarketConfig {
        id: MarketId(m.id),
        symbol: Symbol::new(m.symbol).expect("demo symbol"),
        base: AssetId(m.base),
        quote: AssetId(m.quote),
        tick_size: tick,
        lot_size: atoms(m.lot),
        min_price: 1,
        max_price: atoms("1000000") / tick,
        min_qty: 1,
        max_qty: atoms("9000") / atoms(m.lot),
        // Binance's usual minimum order value: 5 units of the quote asset (0.0001 BTC for ETHBTC).
        min_notional: if m.quote == 1 {
            atoms("0.0001")
        } else {
            5 * quote_unit
        },
        max_notional: 0,
        maker_fee_ppm: 1_000,
        taker_fee_ppm: 1_000,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::ExpireMaker,
    }
}

/// The commands that turn an empty engine into the demo exchange.
pub fn seed_commands() -> Vec<Command> {
    let mut v: Vec<Command> = ASSETS
        .iter()
        .map(|&(id, code)| {
            Command::CreateAsset(AssetConfig {
                id: AssetId(id),
                code: AssetCode::new(code).expect("code"),
                decimals: DECIMALS,
            })
        })
        .collect();
    v.extend(
        MARKETS
            .iter()
            .map(|m| Command::CreateMarket(market_config(m))),
    );
    for user in DEMO_USERS {
        for (asset, amount) in [(1, "10"), (2, "200"), (3, "5000"), (4, "1000000")] {
            let key = IdemKey::new(&format!("demo-seed-{}-{asset}", user.0)).expect("key");
            v.push(Command::Deposit {
                key,
                user,
                asset: AssetId(asset),
                amount: atoms(amount),
            });
        }
    }
    v
}

pub fn needs_seed(engine: &Engine) -> bool {
    engine.markets().is_empty()
}

/// One demo order: a small limit order around the market's reference price,
/// sometimes crossing the spread so trades happen.
pub fn demo_order(step: u64) -> Command {
    // A fixed-seed LCG keeps the demo flow reproducible without a rand dependency here.
    let r = step
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 11;
    let m = &MARKETS[(r % 4) as usize];
    let cfg = market_config(m);
    let reference = atoms(m.reference_price) / cfg.tick_size;
    let side = if (r >> 3).is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    };
    let offset = reference * ((r >> 5) % 40) / 10_000; // up to 0.4% away
    let cross = (r >> 11).is_multiple_of(4);
    let price = match (side, cross) {
        (Side::Buy, false) | (Side::Sell, true) => reference.saturating_sub(offset),
        (Side::Sell, false) | (Side::Buy, true) => reference + offset,
    }
    .max(1);
    let value_in_quote = if m.quote == 1 {
        atoms("0.002")
    } else {
        atoms("50")
    };
    let quote_per_base = u128::from(price) * u128::from(cfg.tick_size);
    let base_atoms = u128::from(value_in_quote) * u128::from(atoms("1")) / quote_per_base;
    let lots = (base_atoms / u128::from(cfg.lot_size)).max(1) as u64;
    Command::PlaceOrder(NewOrder {
        user: DEMO_USERS[((r >> 13) % 3) as usize],
        market: cfg.id,
        side,
        order_type: OrderType::Limit,
        tif: if cross {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        },
        price,
        qty: OrderQty::Base(lots),
        stop_price: 0,
        client_id: None,
        stp: None,
    })
}

/// Cancels everything once a user has many open orders, keeping books small.
pub fn tidy(handle: &SequencerHandle, user: UserId) {
    let open = handle
        .query_blocking(move |e: &Engine| e.open_orders(user, None).len())
        .unwrap_or(0);
    if open > 200 {
        let _ = handle.submit_blocking(Command::CancelAll {
            user: Some(user),
            market: None,
        });
    }
}
