//! JSON bodies of the trading service's internal API (distributed mode),
//! shared by the trading service (server) and its callers (the wallet).
//!
//! Only reachable over the internal channel (the shared internal token);
//! the gateway never routes `/internal/*` to a service.
//!
//! | request | answer |
//! |---|---|
//! | `POST /internal/commands` with a JSON [`flowex_types::Command`] | 200 [`crate::EventRecord`] once durable |
//! | `GET /internal/assets` | 200 [`Assets`] |
//! | `GET /internal/balances/{user_id}` | 200 [`Balances`] |
//! | `GET /internal/markets` | 200 [`Markets`] |
//! | `GET /internal/balances` | 200 [`AllBalances`] (every account, for reconciliation) |
//! | `GET /internal/market-snapshot` | 200 [`MarketSnapshot`] |
//!
//! Amounts are integers in atomic units (JSON numbers up to `u64::MAX`,
//! exact in Rust's `serde_json`; never read them as floating point).

use flowex_engine::Engine;
use flowex_types::{AssetConfig, AssetId, MarketConfig};
use serde::{Deserialize, Serialize};

/// Path of the command endpoint.
pub const COMMANDS_PATH: &str = "/internal/commands";
/// Path of the asset list.
pub const ASSETS_PATH: &str = "/internal/assets";

/// Path of the market list.
pub const MARKETS_PATH: &str = "/internal/markets";
/// Path of every account's balances.
pub const ALL_BALANCES_PATH: &str = "/internal/balances";
/// Path of the market-data snapshot.
pub const MARKET_SNAPSHOT_PATH: &str = "/internal/market-snapshot";

/// Path of one user's balances.
pub fn balances_path(user_id: u64) -> String {
    format!("/internal/balances/{user_id}")
}

/// Every asset the engine knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assets {
    /// In id order.
    pub assets: Vec<AssetConfig>,
}

/// One user's balance in one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceEntry {
    /// The asset.
    pub asset: AssetId,
    /// Free to use, in atomic units.
    pub available: u64,
    /// Held by open orders and pending withdrawals.
    pub locked: u64,
}

/// A user's balances (assets they never held are absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    /// The user.
    pub user_id: u64,
    /// Per asset.
    pub balances: Vec<BalanceEntry>,
}

/// Every market the engine knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markets {
    /// In id order.
    pub markets: Vec<MarketConfig>,
}

/// One account's balance in one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    /// The user (0: the engine's fee account).
    pub user_id: u64,
    pub asset: AssetId,
    pub available: u64,
    pub locked: u64,
}

/// Every non-zero balance of every account, read at one seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllBalances {
    /// The engine's last applied seq when read.
    pub seq: u64,
    /// By user, then asset.
    pub balances: Vec<AccountBalance>,
}

/// What market-data starts from: every asset and market with its whole
/// aggregated book, exactly as of journal seq `seq` (one engine query), so
/// the event records after `seq` continue it without gap or overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// The last seq the engine had applied.
    pub seq: u64,
    /// In id order.
    pub assets: Vec<AssetConfig>,
    /// In id order.
    pub markets: Vec<BookSnapshot>,
}

/// One market's configuration and aggregated book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// The market (its status included).
    pub config: MarketConfig,
    /// The `update_id` of the market's last `BookChanged` (0: none yet).
    pub update_id: u64,
    /// `(price ticks, lots)`, best (highest) first.
    pub bids: Vec<(u64, u64)>,
    /// `(price ticks, lots)`, best (lowest) first.
    pub asks: Vec<(u64, u64)>,
}

impl MarketSnapshot {
    /// Reads the snapshot from the engine (run it as one query on the
    /// engine thread, so it is one consistent state).
    pub fn of(engine: &Engine) -> MarketSnapshot {
        let markets = engine
            .markets()
            .into_iter()
            .map(|config| {
                let depth = engine.depth(config.id, usize::MAX).unwrap_or_default();
                BookSnapshot {
                    config,
                    update_id: depth.update_id,
                    bids: depth.bids,
                    asks: depth.asks,
                }
            })
            .collect();
        MarketSnapshot {
            seq: engine.last_seq(),
            assets: engine.assets(),
            markets,
        }
    }
}
