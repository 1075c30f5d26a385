//! Fixtures shared by the workspace's tests. A dev-dependency only: no
//! library or binary may depend on it.
//!
//! The reference market is BTCUSDT with 8-decimal assets, a 0.01 USDT tick
//! and a 0.00001 BTC lot (one lot at one tick is 10 quote atoms), a 5 USDT
//! minimum notional and 0.1 % fees. A test that needs other values says so
//! with struct update syntax: `MarketConfig { min_notional: 0, ..btcusdt() }`.
//!
//! Also the real services tests run against: [`postgres`] (a fresh
//! database per test on the throwaway server of scripts/test-db.sh) and
//! [`redis`] (a throwaway redis-server per test), and [`free_port`].

pub mod postgres;
pub mod redis;

use flowex_types::{
    AssetCode, AssetConfig, AssetId, Command, MarketConfig, MarketId, MarketStatus, StpMode,
    StpModes, Symbol,
};

/// BTCUSDT, market 1, over [`btc`] (asset 1) and [`usdt`] (asset 2).
pub fn btcusdt() -> MarketConfig {
    MarketConfig {
        id: MarketId(1),
        symbol: Symbol::new("BTCUSDT").unwrap(),
        base: AssetId(1),
        quote: AssetId(2),
        tick_size: 1_000_000,
        lot_size: 1_000,
        min_price: 1,
        max_price: 100_000_000,
        min_qty: 1,
        max_qty: 900_000_000,
        min_notional: 500_000_000,
        max_notional: 0,
        maker_fee_ppm: 1_000,
        taker_fee_ppm: 1_000,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::None,
    }
}

/// An asset with 8 decimals.
pub fn asset(id: u32, code: &str) -> AssetConfig {
    AssetConfig {
        id: AssetId(id),
        code: AssetCode::new(code).unwrap(),
        decimals: 8,
    }
}

/// BTC, asset 1.
pub fn btc() -> AssetConfig {
    asset(1, "BTC")
}

/// USDT, asset 2.
pub fn usdt() -> AssetConfig {
    asset(2, "USDT")
}

/// The commands that list `market` over [`btc`] and [`usdt`]: the two
/// assets, then the market.
pub fn listing(market: MarketConfig) -> Vec<Command> {
    vec![
        Command::CreateAsset(btc()),
        Command::CreateAsset(usdt()),
        Command::CreateMarket(market),
    ]
}

/// A loopback port free right now, for a server a test starts later.
///
/// It is chosen below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), where the kernel never puts the local
/// end of an outgoing connection: a port from the range itself (what
/// binding port 0 gives) can be taken by any connection made before the
/// server binds it, such as another service's first connection to the
/// database, and the server then fails to start. Another test choosing the
/// same port in that moment is the only race left (one in thousands).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let range_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    const LOWEST: u16 = 10_000;
    if range_start > LOWEST + 1_000 {
        let span = u64::from(range_start - LOWEST);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        for _ in 0..200 {
            let draw = DRAWS.fetch_add(1, Ordering::Relaxed);
            // splitmix64: spread, not secrecy.
            let mut x = seed.wrapping_add(draw.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            let port = LOWEST + (x % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

/// Whether the environment variable `var` is `1` (CI's `FLOWEX_REQUIRE_*`).
pub fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}
