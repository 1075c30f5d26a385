//! Events: the engine's output. Everything downstream (replies, market data,
//! the SQL projection, user streams) is built from these.

use crate::command::EngineLimits;
use crate::command::{OrderType, Side, TimeInForce};
use crate::ids::{AssetId, ClientOrderId, IdemKey, MarketId, OrderId, TradeId, UserId};
use crate::market::{AssetConfig, MarketConfig, MarketStatus, StpMode};
use serde::{Deserialize, Serialize};

/// Why a command was refused. Nothing of a refused command is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    UnknownAsset,
    UnknownMarket,
    AssetExists,
    MarketExists,
    InvalidConfig,
    /// The market's status does not allow this command.
    MarketClosed,
    UserFrozen,
    /// Price is zero, off the tick grid or outside the market's range (PRICE_FILTER).
    InvalidPrice,
    /// Quantity is zero or outside the market's range (LOT_SIZE).
    InvalidQty,
    /// Stop price is missing or outside the market's price range.
    InvalidStopPrice,
    /// Order value outside the market's notional range (NOTIONAL).
    InvalidNotional,
    /// The combination of type, time in force and fields is not allowed.
    InvalidOrder,
    StpModeNotAllowed,
    InsufficientFunds,
    DuplicateClientOrderId,
    UnknownOrder,
    /// LIMIT_MAKER would have matched on arrival.
    WouldTakeLiquidity,
    /// A stop whose trigger condition already holds.
    StopWouldTriggerImmediately,
    /// The user has too many open orders.
    TooManyOrders,
    /// The market's book holds its maximum number of orders.
    BookFull,
    /// An amount would overflow a balance or a product.
    Overflow,
    ZeroAmount,
    UnknownWithdrawal,
    /// The withdrawal was already released or finalized.
    WithdrawalNotPending,
    /// An amend that changes nothing, or of an order that is not resting (a pending stop).
    InvalidAmend,
    /// The fee account cannot trade, receive deposits, hold a pending
    /// withdrawal or have a fee tier; the operator takes fees out with `Withdraw`.
    ReservedAccount,
}

/// Order status, Binance's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    /// Expired by self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// Why an order left the book without filling completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    Filled,
    Canceled,
    /// IOC or MARKET remainder, or FOK that could not fill at once.
    NoLiquidity,
    /// A MARKET buy ran out of available quote.
    InsufficientFunds,
    SelfTradePrevention,
    /// Canceled by a cancel-all (user or operator).
    MassCanceled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInfo {
    pub id: OrderId,
    pub user: UserId,
    pub market: MarketId,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub price: u64,
    /// Quantity in lots (0 for a MARKET order by quote amount).
    pub qty: u64,
    /// Quote amount of a MARKET order by quote, else 0.
    pub quote_qty: u64,
    pub stop_price: u64,
    pub client_id: Option<ClientOrderId>,
    pub stp: StpMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub market: MarketId,
    pub id: TradeId,
    /// Price in ticks (always the maker's).
    pub price: u64,
    pub qty: u64,
    /// Quote atoms exchanged.
    pub quote_qty: u64,
    pub taker_side: Side,
    pub maker_order: OrderId,
    pub maker_user: UserId,
    pub taker_order: OrderId,
    pub taker_user: UserId,
    /// Fee in the asset each side receives (buyer: base atoms, seller: quote atoms).
    pub maker_fee: u64,
    pub taker_fee: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    AssetCreated(AssetConfig),
    MarketCreated(MarketConfig),
    MarketUpdated(MarketConfig),
    MarketStatusChanged {
        market: MarketId,
        status: MarketStatus,
    },
    UserFeesSet {
        user: UserId,
        fees: Option<(u32, u32)>,
    },
    UserFrozenSet {
        user: UserId,
        frozen: bool,
    },
    LimitsSet(EngineLimits),
    Deposited {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    Withdrawn {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    WithdrawLocked {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    WithdrawReleased {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    WithdrawFinalized {
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
    },
    /// A repeated idempotency key: nothing happened this time.
    Duplicate {
        key: IdemKey,
    },
    Rejected {
        reason: RejectReason,
    },
    OrderAccepted(OrderInfo),
    /// A stop order's condition held; it now works as its triggered type.
    StopTriggered {
        order: OrderId,
        user: UserId,
        market: MarketId,
        last_price: u64,
    },
    Trade(Trade),
    /// An order's state after a change: fill, cancel, expiry, amend.
    OrderUpdate {
        order: OrderId,
        user: UserId,
        market: MarketId,
        status: OrderStatus,
        /// Cumulative filled lots and quote atoms.
        executed: u64,
        cum_quote: u64,
        /// Remaining open lots (0 once final).
        remaining: u64,
        reason: Option<EndReason>,
    },
    OrderAmended {
        order: OrderId,
        user: UserId,
        market: MarketId,
        price: u64,
        remaining: u64,
        kept_priority: bool,
    },
    /// New available and locked balance of one user in one asset.
    BalanceChanged {
        user: UserId,
        asset: AssetId,
        available: u64,
        locked: u64,
    },
    /// Aggregate quantity at one price level after a change (0 = level gone).
    /// `update_id` is gap-free per market.
    BookChanged {
        market: MarketId,
        side: Side,
        price: u64,
        qty: u64,
        update_id: u64,
    },
}
