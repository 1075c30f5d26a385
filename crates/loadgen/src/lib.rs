//! `flowex loadgen`: drives a running FlowEx (embedded or distributed) over
//! real HTTP with many simulated traders, the way its users' programs do.
//!
//! - **Traders** ([`provision`]): each a fresh account with its own API key
//!   (READ, TRADE), registered, logged in and funded through the public API
//!   (faucet in embedded mode, an admin deposit in distributed mode).
//! - **Requests** ([`mix`]): a weighted mix of limit orders, cancels,
//!   cancel-replaces, market orders and queries (open orders, account,
//!   depth, ticker), priced from a random walk that keeps every book
//!   two-sided with trades flowing; every private request signed as
//!   Binance clients sign it ([`client`]: fresh timestamp, HMAC-SHA256 over
//!   the exact bytes sent).
//! - **Schedule** ([`schedule`]): open loop at a target rate (constant,
//!   ramp, spike, soak): requests leave on schedule whether or not earlier
//!   ones returned, and latency is measured from the planned send time, so
//!   a stall is charged to every request it delays (no coordinated
//!   omission). A closed loop (rate 0) measures the most a connection count
//!   gets through.
//! - **Report** ([`stats`], [`plot`]): per phase and operation, sent,
//!   succeeded, failed by error code, throughput, p50/p95/p99/p99.9/max, as
//!   a table or JSON lines with the engine benchmark's keys; an SVG of
//!   latency percentiles against offered rate.
//!
//! It is a client only: it never serves, and it needs nothing of the
//! server but its public API.

pub mod client;
pub mod mix;
pub mod plot;
pub mod provision;
pub mod run;
pub mod schedule;
pub mod stats;

pub use client::Credentials;
pub use mix::{Market, Mix, Op, Trader};
pub use provision::{Funding, Provisioning};
pub use run::{run, RunOptions};
pub use schedule::{Phase, Profile};
pub use stats::{format_table, Row};
