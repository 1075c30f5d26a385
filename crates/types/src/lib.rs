//! FlowEx's domain vocabulary, shared by every other crate.
//!
//! Money is integers here: amounts in atomic units, prices in ticks,
//! quantities in lots (see [`market`]). Decimal strings only exist at the
//! edges, converted exactly by [`decimal`].

pub mod codec;
pub mod command;
pub mod decimal;
pub mod event;
pub mod ids;
pub mod market;

pub use codec::{CodecError, Envelope};
pub use command::{
    Command, EngineLimits, NewOrder, OrderQty, OrderRef, OrderType, Side, TimeInForce,
};
pub use decimal::{format_scaled, format_scaled_wide, parse_scaled, DecimalError};
pub use event::{EndReason, Event, OrderInfo, OrderStatus, RejectReason, Trade};
pub use ids::*;
pub use market::{
    fee_ceil, AssetConfig, MarketConfig, MarketScale, MarketStatus, MarketUpdate, StpMode, StpModes,
};
