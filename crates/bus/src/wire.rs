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
//!
//! Amounts are integers in atomic units (JSON numbers up to `u64::MAX`,
//! exact in Rust's `serde_json`; never read them as floating point).

use flowex_types::{AssetConfig, AssetId};
use serde::{Deserialize, Serialize};

/// Path of the command endpoint.
pub const COMMANDS_PATH: &str = "/internal/commands";
/// Path of the asset list.
pub const ASSETS_PATH: &str = "/internal/assets";

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
