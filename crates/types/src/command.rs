//! Commands: the journal's input. Every state change of the trading core is
//! one of these, with its sequence number and time in the envelope.

use crate::ids::{AssetId, ClientOrderId, IdemKey, MarketId, OrderId, UserId};
use crate::market::{AssetConfig, MarketConfig, MarketStatus, MarketUpdate, StpMode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    Limit,
    Market,
    /// Post-only: rejected if it would take liquidity.
    LimitMaker,
    /// Market order once the last trade price reaches `stop_price` against the holder.
    StopLoss,
    StopLossLimit,
    /// Market order once the last trade price reaches `stop_price` in the holder's favour.
    TakeProfit,
    TakeProfitLimit,
}

impl OrderType {
    pub fn is_stop(self) -> bool {
        matches!(
            self,
            Self::StopLoss | Self::StopLossLimit | Self::TakeProfit | Self::TakeProfitLimit
        )
    }

    /// Whether the order carries a limit price (LIMIT, LIMIT_MAKER, *_LIMIT).
    pub fn has_limit_price(self) -> bool {
        matches!(
            self,
            Self::Limit | Self::LimitMaker | Self::StopLossLimit | Self::TakeProfitLimit
        )
    }

    /// The order type a stop becomes when it triggers.
    pub fn triggered(self) -> OrderType {
        match self {
            Self::StopLoss | Self::TakeProfit => Self::Market,
            Self::StopLossLimit | Self::TakeProfitLimit => Self::Limit,
            other => other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
}

/// How much a new order is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderQty {
    /// A quantity of base, in lots.
    Base(u64),
    /// A MARKET (or market stop) order for an amount of quote, in quote atoms (`quoteOrderQty`).
    Quote(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub user: UserId,
    pub market: MarketId,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Limit price in ticks; ignored (0) for MARKET, STOP_LOSS and TAKE_PROFIT.
    pub price: u64,
    pub qty: OrderQty,
    /// Trigger price in ticks for stop types, else 0.
    pub stop_price: u64,
    pub client_id: Option<ClientOrderId>,
    /// `None` takes the market's default.
    pub stp: Option<StpMode>,
}

/// Names an order either by the engine's id or by the owner's client id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderRef {
    Id(OrderId),
    Client(ClientOrderId),
}

/// Explicit bounds on engine state. Journaled like any command, so a replay
/// applies exactly the limits that held when each order arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineLimits {
    /// Open orders (resting and pending stops) one user may hold across all markets.
    pub max_open_orders_per_user: u32,
    /// Orders (resting and pending stops) one market may hold.
    pub max_orders_per_market: u32,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_open_orders_per_user: 1_000,
            max_orders_per_market: 1_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    SetLimits(EngineLimits),
    CreateAsset(AssetConfig),
    CreateMarket(MarketConfig),
    UpdateMarket {
        market: MarketId,
        update: MarketUpdate,
    },
    SetMarketStatus {
        market: MarketId,
        status: MarketStatus,
    },
    /// Per-user fee tier; `None` returns the user to the market's rates.
    SetUserFees {
        user: UserId,
        fees: Option<(u32, u32)>,
    },
    /// A frozen user can place no order and request no withdrawal; cancels still work.
    SetUserFrozen {
        user: UserId,
        frozen: bool,
    },
    Deposit {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    /// Debits available funds at once (an operator adjustment or an instant withdrawal).
    Withdraw {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    /// Moves funds from available to locked for a pending withdrawal named `key`.
    WithdrawLock {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    /// Returns a pending withdrawal's funds to available (rejected or canceled).
    WithdrawRelease {
        key: IdemKey,
    },
    /// Completes a pending withdrawal: its locked funds leave the exchange.
    WithdrawFinalize {
        key: IdemKey,
    },
    PlaceOrder(NewOrder),
    CancelOrder {
        user: UserId,
        market: MarketId,
        order: OrderRef,
    },
    /// Cancels every open order (and pending stop) of `user`, or of everyone
    /// when `user` is `None`, optionally only in `market`.
    CancelAll {
        user: Option<UserId>,
        market: Option<MarketId>,
    },
    /// Amends price and/or remaining quantity, keeping the order id. Lowering
    /// the quantity keeps time priority; a new price or a larger quantity loses it.
    /// `new_qty` is the new *open* quantity in lots; the order's original
    /// quantity becomes executed + `new_qty` (Binance's amend takes the new
    /// total, `newQty`, which the API converts).
    ReplaceOrder {
        user: UserId,
        market: MarketId,
        order: OrderRef,
        new_price: Option<u64>,
        new_qty: Option<u64>,
    },
}

impl Command {
    /// A short stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::SetLimits(_) => "set_limits",
            Command::CreateAsset(_) => "create_asset",
            Command::CreateMarket(_) => "create_market",
            Command::UpdateMarket { .. } => "update_market",
            Command::SetMarketStatus { .. } => "set_market_status",
            Command::SetUserFees { .. } => "set_user_fees",
            Command::SetUserFrozen { .. } => "set_user_frozen",
            Command::Deposit { .. } => "deposit",
            Command::Withdraw { .. } => "withdraw",
            Command::WithdrawLock { .. } => "withdraw_lock",
            Command::WithdrawRelease { .. } => "withdraw_release",
            Command::WithdrawFinalize { .. } => "withdraw_finalize",
            Command::PlaceOrder(_) => "place_order",
            Command::CancelOrder { .. } => "cancel_order",
            Command::CancelAll { .. } => "cancel_all",
            Command::ReplaceOrder { .. } => "replace_order",
        }
    }
}
