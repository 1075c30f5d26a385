//! Projections of the engine's event stream: orders, trades, balances, the
//! double-entry ledger, and mirrors of assets, markets and fee tiers.
//!
//! Writes go through a [`Tx`] (normally the projector's
//! [`crate::ProjectionTx`], so that each journal command is applied exactly
//! once); reads go through the [`Store`]. All quantities are the engine's
//! integers: prices in ticks, quantities in lots, money in asset atoms.
//! An order's enumerations are the engine's too (side, type, time in force,
//! status, STP mode, end reason), stored as small integer codes ([`codes`]);
//! the API writes Binance's spellings at the edge (crate `flowex-binance`).

use crate::codec::{
    amount, get_amount, get_bool, get_i64, get_opt_i64, get_opt_str, get_opt_u64, get_signed,
    get_str, get_u64, id,
};
use crate::error::{unique_as, Result, StoreError};
use crate::{Store, Tx};
use flowex_types::{EndReason, OrderStatus, OrderType, Side, StpMode, TimeInForce};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// The integer code of each engine enumeration in the `orders` table: the
/// variant's position in the engine's declaration (as in the journal), one
/// table per type so that reordering a Rust enum cannot change stored rows.
/// Migration 0005 converted the Binance spellings stored before to these.
pub mod codes {
    use super::*;

    macro_rules! code_table {
        ($ty:ident, $what:literal { $($variant:ident = $code:literal,)* }) => {
            impl Code for $ty {
                const WHAT: &'static str = $what;
                fn code(self) -> i64 {
                    match self {
                        $($ty::$variant => $code,)*
                    }
                }
                fn from_code(code: i64) -> Option<$ty> {
                    match code {
                        $($code => Some($ty::$variant),)*
                        _ => None,
                    }
                }
            }
        };
    }

    /// An engine enumeration stored as an integer code.
    pub trait Code: Sized + Copy {
        /// The column, for errors.
        const WHAT: &'static str;
        fn code(self) -> i64;
        fn from_code(code: i64) -> Option<Self>;
    }

    code_table!(Side, "side" { Buy = 0, Sell = 1, });
    code_table!(OrderType, "order_type" {
        Limit = 0, Market = 1, LimitMaker = 2, StopLoss = 3, StopLossLimit = 4,
        TakeProfit = 5, TakeProfitLimit = 6,
    });
    code_table!(TimeInForce, "time_in_force" { Gtc = 0, Ioc = 1, Fok = 2, });
    code_table!(OrderStatus, "status" {
        New = 0, PartiallyFilled = 1, Filled = 2, Canceled = 3, Expired = 4, ExpiredInMatch = 5,
    });
    code_table!(StpMode, "stp_mode" {
        None = 0, ExpireTaker = 1, ExpireMaker = 2, ExpireBoth = 3, Decrement = 4,
    });
    code_table!(EndReason, "end_reason" {
        Filled = 0, Canceled = 1, NoLiquidity = 2, InsufficientFunds = 3,
        SelfTradePrevention = 4, MassCanceled = 5,
    });
}

use codes::Code;

fn get_code<T: Code>(row: &AnyRow) -> Result<T> {
    let v = get_i64(row, T::WHAT)?;
    T::from_code(v).ok_or_else(|| StoreError::corrupt(T::WHAT, format!("code {v}")))
}

fn get_opt_code<T: Code>(row: &AnyRow) -> Result<Option<T>> {
    match get_opt_i64(row, T::WHAT)? {
        None => Ok(None),
        Some(v) => T::from_code(v)
            .map(Some)
            .ok_or_else(|| StoreError::corrupt(T::WHAT, format!("code {v}"))),
    }
}

// ---------------------------------------------------------------- orders

/// One order: what `GET /api/v3/order` reports, in the engine's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: u64,
    pub user_id: u64,
    pub market_id: u64,
    pub symbol: String,
    pub client_order_id: Option<String>,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Ticks (0 for market orders).
    pub price: u64,
    /// Lots (0 for a MARKET order by quote amount).
    pub orig_qty: u64,
    /// Quote atoms of a MARKET order by quote amount, else 0.
    pub orig_quote_qty: u64,
    pub executed_qty: u64,
    pub cum_quote_qty: u64,
    pub status: OrderStatus,
    pub stop_price: u64,
    pub stp_mode: StpMode,
    pub time: i64,
    pub update_time: i64,
    /// When it started working (None while a stop order waits).
    pub working_time: Option<i64>,
    pub end_reason: Option<EndReason>,
    /// Journal seq of the last command that changed the order.
    pub seq: u64,
}

/// A change of an existing order (fill, cancel, expiry, trigger, amend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    pub id: u64,
    pub status: OrderStatus,
    pub executed_qty: u64,
    pub cum_quote_qty: u64,
    /// New original quantity after an amend, else `None` (unchanged).
    pub orig_qty: Option<u64>,
    /// New limit price after an amend, else `None`.
    pub price: Option<u64>,
    pub update_time: i64,
    /// Set when a stop order triggers; `None` leaves it as it is.
    pub working_time: Option<i64>,
    pub end_reason: Option<EndReason>,
    pub seq: u64,
}

/// Filters of [`Store::list_orders`] (Binance `allOrders`).
#[derive(Clone, Debug, Default)]
pub struct OrderQuery {
    pub user_id: u64,
    pub market_id: Option<u64>,
    /// Orders with `id >= from_id`, ascending.
    pub from_id: Option<u64>,
    /// Inclusive.
    pub start_time: Option<i64>,
    /// Inclusive, as Binance.
    pub end_time: Option<i64>,
    /// Only orders with one of these statuses (e.g. the open ones).
    pub statuses: Vec<OrderStatus>,
    /// Clamped to 1..=1000; 0 means 500 (Binance's default).
    pub limit: u32,
}

const ORDER_COLUMNS: &str = "id, user_id, market_id, symbol, client_order_id, side, order_type, \
    time_in_force, price, orig_qty, orig_quote_qty, executed_qty, cum_quote_qty, status, \
    stop_price, stp_mode, time, update_time, working_time, end_reason, seq";

fn order_from_row(row: &AnyRow) -> Result<OrderRecord> {
    Ok(OrderRecord {
        id: get_u64(row, "id")?,
        user_id: get_u64(row, "user_id")?,
        market_id: get_u64(row, "market_id")?,
        symbol: get_str(row, "symbol")?,
        client_order_id: get_opt_str(row, "client_order_id")?,
        side: get_code(row)?,
        order_type: get_code(row)?,
        time_in_force: get_code(row)?,
        price: get_amount(row, "price")?,
        orig_qty: get_amount(row, "orig_qty")?,
        orig_quote_qty: get_amount(row, "orig_quote_qty")?,
        executed_qty: get_amount(row, "executed_qty")?,
        cum_quote_qty: get_amount(row, "cum_quote_qty")?,
        status: get_code(row)?,
        stop_price: get_amount(row, "stop_price")?,
        stp_mode: get_code(row)?,
        time: get_i64(row, "time")?,
        update_time: get_i64(row, "update_time")?,
        working_time: get_opt_i64(row, "working_time")?,
        end_reason: get_opt_code(row)?,
        seq: get_u64(row, "seq")?,
    })
}

/// `t` seen from `user`: once per side the user took (a self-trade is
/// both), only the side of `order` when one is named.
fn user_sides(t: &TradeRecord, user: u64, order: Option<u64>) -> Vec<UserTrade> {
    let sides = [
        (true, t.maker_user_id, t.maker_order_id),
        (false, t.taker_user_id, t.taker_order_id),
    ];
    sides
        .into_iter()
        .filter(|(_, u, o)| *u == user && order.is_none_or(|want| want == *o))
        .map(|(is_maker, _, order_id)| {
            let (commission, commission_asset_id) = if is_maker {
                (t.maker_fee, t.maker_fee_asset_id)
            } else {
                (t.taker_fee, t.taker_fee_asset_id)
            };
            UserTrade {
                trade: t.clone(),
                order_id,
                is_buyer: is_maker == t.buyer_is_maker,
                is_maker,
                commission,
                commission_asset_id,
            }
        })
        .collect()
}

fn clamp_limit(limit: u32, default: u32) -> i64 {
    i64::from(if limit == 0 { default } else { limit.min(1000) })
}

// ---------------------------------------------------------------- trades

/// One fill between a maker and a taker order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRecord {
    pub market_id: u64,
    /// Per market.
    pub id: u64,
    pub symbol: String,
    pub price: u64,
    pub qty: u64,
    pub quote_qty: u64,
    pub maker_order_id: u64,
    pub maker_user_id: u64,
    pub taker_order_id: u64,
    pub taker_user_id: u64,
    /// Binance's `isBuyerMaker` (true when the taker sold).
    pub buyer_is_maker: bool,
    pub maker_fee: u64,
    pub maker_fee_asset_id: u64,
    pub taker_fee: u64,
    pub taker_fee_asset_id: u64,
    pub time: i64,
    pub seq: u64,
}

/// A trade seen from one of its users (Binance `myTrades`). A self-trade
/// yields two of these, one per side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTrade {
    pub trade: TradeRecord,
    pub order_id: u64,
    pub is_buyer: bool,
    pub is_maker: bool,
    pub commission: u64,
    pub commission_asset_id: u64,
}

/// Filters of [`Store::list_user_trades`].
#[derive(Clone, Debug, Default)]
pub struct TradeQuery {
    pub user_id: u64,
    pub market_id: u64,
    pub order_id: Option<u64>,
    pub from_id: Option<u64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Clamped to 1..=1000; 0 means 500.
    pub limit: u32,
}

const TRADE_COLUMNS: &str = "market_id, id, symbol, price, qty, quote_qty, maker_order_id, \
    maker_user_id, taker_order_id, taker_user_id, buyer_is_maker, maker_fee, maker_fee_asset_id, \
    taker_fee, taker_fee_asset_id, time, seq";

/// [`TRADE_COLUMNS`] for SELECT: the BOOLEAN read through CAST (see the crate docs).
const TRADE_SELECT: &str = "market_id, id, symbol, price, qty, quote_qty, maker_order_id, \
    maker_user_id, taker_order_id, taker_user_id, CAST(buyer_is_maker AS INTEGER) AS buyer_is_maker, \
    maker_fee, maker_fee_asset_id, taker_fee, taker_fee_asset_id, time, seq";

fn trade_from_row(row: &AnyRow) -> Result<TradeRecord> {
    Ok(TradeRecord {
        market_id: get_u64(row, "market_id")?,
        id: get_u64(row, "id")?,
        symbol: get_str(row, "symbol")?,
        price: get_amount(row, "price")?,
        qty: get_amount(row, "qty")?,
        quote_qty: get_amount(row, "quote_qty")?,
        maker_order_id: get_u64(row, "maker_order_id")?,
        maker_user_id: get_u64(row, "maker_user_id")?,
        taker_order_id: get_u64(row, "taker_order_id")?,
        taker_user_id: get_u64(row, "taker_user_id")?,
        buyer_is_maker: get_bool(row, "buyer_is_maker")?,
        maker_fee: get_amount(row, "maker_fee")?,
        maker_fee_asset_id: get_u64(row, "maker_fee_asset_id")?,
        taker_fee: get_amount(row, "taker_fee")?,
        taker_fee_asset_id: get_u64(row, "taker_fee_asset_id")?,
        time: get_i64(row, "time")?,
        seq: get_u64(row, "seq")?,
    })
}

// ---------------------------------------------------------------- ledger

/// A ledger account: a user's liability, or one of the platform's accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LedgerAccount {
    User(u64),
    /// Fee revenue (the engine's fee account).
    Fees,
    /// The platform's holdings of the asset (deposits in, withdrawals out).
    Custody,
}

impl LedgerAccount {
    fn kind(self) -> &'static str {
        match self {
            LedgerAccount::User(_) => "user",
            LedgerAccount::Fees => "fees",
            LedgerAccount::Custody => "custody",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedgerCause {
    Deposit,
    Withdrawal,
    Trade,
    Fee,
    Adjustment,
}

impl LedgerCause {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerCause::Deposit => "deposit",
            LedgerCause::Withdrawal => "withdrawal",
            LedgerCause::Trade => "trade",
            LedgerCause::Fee => "fee",
            LedgerCause::Adjustment => "adjustment",
        }
    }

    pub fn parse(s: &str) -> Option<LedgerCause> {
        Some(match s {
            "deposit" => LedgerCause::Deposit,
            "withdrawal" => LedgerCause::Withdrawal,
            "trade" => LedgerCause::Trade,
            "fee" => LedgerCause::Fee,
            "adjustment" => LedgerCause::Adjustment,
            _ => return None,
        })
    }
}

/// One leg of a double-entry change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Journal seq of the command, and the leg's index within it: together
    /// the key, so re-projecting a command cannot duplicate entries.
    pub seq: u64,
    pub idx: u32,
    pub at: i64,
    pub account: LedgerAccount,
    pub asset_id: u64,
    /// Signed atoms, |amount| <= u64::MAX: credit to the account positive.
    pub amount: i128,
    pub cause: LedgerCause,
    /// e.g. `trade:BTCUSDT:17`, `deposit:<key>`, `withdrawal:7`.
    pub reference: Option<String>,
}

pub(crate) fn ledger_from_row(row: &AnyRow) -> Result<LedgerEntry> {
    let kind = get_str(row, "account_kind")?;
    let account = match kind.as_str() {
        "user" => LedgerAccount::User(
            get_opt_u64(row, "user_id")?
                .ok_or_else(|| StoreError::corrupt("user_id", "user account without user"))?,
        ),
        "fees" => LedgerAccount::Fees,
        "custody" => LedgerAccount::Custody,
        _ => return Err(StoreError::corrupt("account_kind", kind)),
    };
    let cause = get_str(row, "cause")?;
    let idx = get_i64(row, "idx")?;
    Ok(LedgerEntry {
        seq: get_u64(row, "seq")?,
        idx: u32::try_from(idx).map_err(|_| StoreError::corrupt("idx", idx))?,
        at: get_i64(row, "at")?,
        account,
        asset_id: get_u64(row, "asset_id")?,
        amount: get_signed(row, "amount")?,
        cause: LedgerCause::parse(&cause).ok_or_else(|| StoreError::corrupt("cause", cause))?,
        reference: get_opt_str(row, "reference")?,
    })
}

pub(crate) const LEDGER_COLUMNS: &str =
    "seq, idx, at, account_kind, user_id, asset_id, amount, cause, reference";

// ---------------------------------------------------------------- balances, mirrors

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    pub user_id: u64,
    pub asset_id: u64,
    pub available: u64,
    pub locked: u64,
    pub seq: u64,
}

pub(crate) fn balance_from_row(row: &AnyRow) -> Result<BalanceRecord> {
    Ok(BalanceRecord {
        user_id: get_u64(row, "user_id")?,
        asset_id: get_u64(row, "asset_id")?,
        available: get_amount(row, "available")?,
        locked: get_amount(row, "locked")?,
        seq: get_u64(row, "seq")?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetRecord {
    pub id: u64,
    pub code: String,
    pub decimals: u32,
    /// Wallet rules, in atoms (set by the operator, not by the engine).
    pub withdraw_min: u64,
    pub withdraw_fee: u64,
    /// Per user and day; 0 = no limit.
    pub withdraw_daily_limit: u64,
    pub updated_at: i64,
}

fn asset_from_row(row: &AnyRow) -> Result<AssetRecord> {
    let decimals = get_i64(row, "decimals")?;
    Ok(AssetRecord {
        id: get_u64(row, "id")?,
        code: get_str(row, "code")?,
        decimals: u32::try_from(decimals).map_err(|_| StoreError::corrupt("decimals", decimals))?,
        withdraw_min: get_amount(row, "withdraw_min")?,
        withdraw_fee: get_amount(row, "withdraw_fee")?,
        withdraw_daily_limit: get_amount(row, "withdraw_daily_limit")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketRecord {
    pub id: u64,
    pub symbol: String,
    pub base_asset_id: u64,
    pub quote_asset_id: u64,
    /// `TRADING`, `HALTED` or `CANCEL_ONLY`.
    pub status: String,
    /// The full configuration as JSON text.
    pub config: String,
    pub updated_at: i64,
}

fn market_from_row(row: &AnyRow) -> Result<MarketRecord> {
    Ok(MarketRecord {
        id: get_u64(row, "id")?,
        symbol: get_str(row, "symbol")?,
        base_asset_id: get_u64(row, "base_asset_id")?,
        quote_asset_id: get_u64(row, "quote_asset_id")?,
        status: get_str(row, "status")?,
        config: get_str(row, "config")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

/// A per-user fee override (parts per million).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeTier {
    pub user_id: u64,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
    pub updated_at: i64,
    pub updated_by: Option<u64>,
}

fn fee_tier_from_row(row: &AnyRow) -> Result<FeeTier> {
    let ppm = |col| {
        let v = get_i64(row, col)?;
        u32::try_from(v).map_err(|_| StoreError::corrupt(col, v))
    };
    Ok(FeeTier {
        user_id: get_u64(row, "user_id")?,
        maker_fee_ppm: ppm("maker_fee_ppm")?,
        taker_fee_ppm: ppm("taker_fee_ppm")?,
        updated_at: get_i64(row, "updated_at")?,
        updated_by: get_opt_u64(row, "updated_by")?,
    })
}

// ---------------------------------------------------------------- writes

impl Tx {
    pub async fn insert_order(&mut self, o: &OrderRecord) -> Result<()> {
        self.op_start();
        sqlx::query(&format!(
            "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ))
        .bind(id("order id", o.id)?)
        .bind(id("user id", o.user_id)?)
        .bind(id("market id", o.market_id)?)
        .bind(o.symbol.as_str())
        .bind(o.client_order_id.as_deref())
        .bind(o.side.code())
        .bind(o.order_type.code())
        .bind(o.time_in_force.code())
        .bind(amount(o.price))
        .bind(amount(o.orig_qty))
        .bind(amount(o.orig_quote_qty))
        .bind(amount(o.executed_qty))
        .bind(amount(o.cum_quote_qty))
        .bind(o.status.code())
        .bind(amount(o.stop_price))
        .bind(o.stp_mode.code())
        .bind(o.time)
        .bind(o.update_time)
        .bind(o.working_time)
        .bind(o.end_reason.map(Code::code))
        .bind(id("seq", o.seq)?)
        .execute(self.conn())
        .await
        .map_err(|e| unique_as(e, StoreError::Duplicate { entity: "order" }))?;
        self.op_done();
        Ok(())
    }

    /// The order `order_id` as this transaction sees it (the projector reads
    /// it before a change that carries only part of the order's state).
    pub async fn order_for_update(&mut self, order_id: u64) -> Result<Option<OrderRecord>> {
        sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id("order id", order_id)?)
            .fetch_optional(self.conn())
            .await?
            .as_ref()
            .map(order_from_row)
            .transpose()
    }

    pub async fn update_order(&mut self, u: &OrderUpdate) -> Result<()> {
        self.op_start();
        let done = sqlx::query(
            "UPDATE orders SET status = $2, executed_qty = $3, cum_quote_qty = $4, \
             orig_qty = COALESCE($5, orig_qty), price = COALESCE($6, price), update_time = $7, \
             working_time = COALESCE($8, working_time), end_reason = COALESCE($9, end_reason), \
             seq = $10 WHERE id = $1",
        )
        .bind(id("order id", u.id)?)
        .bind(u.status.code())
        .bind(amount(u.executed_qty))
        .bind(amount(u.cum_quote_qty))
        .bind(u.orig_qty.map(amount))
        .bind(u.price.map(amount))
        .bind(u.update_time)
        .bind(u.working_time)
        .bind(u.end_reason.map(Code::code))
        .bind(id("seq", u.seq)?)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "order" });
        }
        self.op_done();
        Ok(())
    }

    pub async fn insert_trade(&mut self, t: &TradeRecord) -> Result<()> {
        self.op_start();
        sqlx::query(&format!(
            "INSERT INTO trades ({TRADE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(id("market id", t.market_id)?)
        .bind(id("trade id", t.id)?)
        .bind(t.symbol.as_str())
        .bind(amount(t.price))
        .bind(amount(t.qty))
        .bind(amount(t.quote_qty))
        .bind(id("order id", t.maker_order_id)?)
        .bind(id("user id", t.maker_user_id)?)
        .bind(id("order id", t.taker_order_id)?)
        .bind(id("user id", t.taker_user_id)?)
        .bind(t.buyer_is_maker)
        .bind(amount(t.maker_fee))
        .bind(id("asset id", t.maker_fee_asset_id)?)
        .bind(amount(t.taker_fee))
        .bind(id("asset id", t.taker_fee_asset_id)?)
        .bind(t.time)
        .bind(id("seq", t.seq)?)
        .execute(self.conn())
        .await
        .map_err(|e| unique_as(e, StoreError::Duplicate { entity: "trade" }))?;
        self.op_done();
        Ok(())
    }

    /// Appends the legs of one or more changes. Refused whole with
    /// [`StoreError::Unbalanced`] unless the amounts sum to zero per asset.
    pub async fn insert_ledger_entries(&mut self, entries: &[LedgerEntry]) -> Result<()> {
        self.op_start();
        let mut sums: BTreeMap<u64, i128> = BTreeMap::new();
        for e in entries {
            if e.amount.unsigned_abs() > u128::from(u64::MAX) {
                return Err(StoreError::OutOfRange {
                    what: "ledger amount",
                    value: e.amount.to_string(),
                });
            }
            *sums.entry(e.asset_id).or_default() += e.amount;
        }
        if let Some((&asset_id, &sum)) = sums.iter().find(|(_, s)| **s != 0) {
            return Err(StoreError::Unbalanced { asset_id, sum });
        }
        for e in entries {
            let user = match e.account {
                LedgerAccount::User(u) => Some(id("user id", u)?),
                _ => None,
            };
            sqlx::query(&format!(
                "INSERT INTO ledger_entries ({LEDGER_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(id("seq", e.seq)?)
            .bind(i64::from(e.idx))
            .bind(e.at)
            .bind(e.account.kind())
            .bind(user)
            .bind(id("asset id", e.asset_id)?)
            .bind(e.amount.to_string())
            .bind(e.cause.as_str())
            .bind(e.reference.as_deref())
            .execute(self.conn())
            .await
            .map_err(|err| {
                unique_as(
                    err,
                    StoreError::Duplicate {
                        entity: "ledger entry",
                    },
                )
            })?;
        }
        self.op_done();
        Ok(())
    }

    /// Sets a user's projected balance of an asset.
    pub async fn upsert_balance(&mut self, b: &BalanceRecord) -> Result<()> {
        self.op_start();
        sqlx::query(
            "INSERT INTO balances (user_id, asset_id, available, locked, seq) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, asset_id) DO UPDATE SET \
             available = excluded.available, locked = excluded.locked, seq = excluded.seq",
        )
        .bind(id("user id", b.user_id)?)
        .bind(id("asset id", b.asset_id)?)
        .bind(amount(b.available))
        .bind(amount(b.locked))
        .bind(id("seq", b.seq)?)
        .execute(self.conn())
        .await?;
        self.op_done();
        Ok(())
    }

    /// Creates or renames an asset; the wallet's withdrawal rules are kept.
    pub async fn upsert_asset(
        &mut self,
        asset_id: u64,
        code: &str,
        decimals: u32,
        at: i64,
    ) -> Result<()> {
        self.op_start();
        sqlx::query(
            "INSERT INTO assets (id, code, decimals, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET code = excluded.code, decimals = excluded.decimals, \
             updated_at = excluded.updated_at",
        )
        .bind(id("asset id", asset_id)?)
        .bind(code)
        .bind(i64::from(decimals))
        .bind(at)
        .execute(self.conn())
        .await
        .map_err(|e| {
            unique_as(
                e,
                StoreError::Duplicate {
                    entity: "asset code",
                },
            )
        })?;
        self.op_done();
        Ok(())
    }

    pub async fn upsert_market(&mut self, m: &MarketRecord) -> Result<()> {
        self.op_start();
        sqlx::query(
            "INSERT INTO markets (id, symbol, base_asset_id, quote_asset_id, status, config, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
             symbol = excluded.symbol, base_asset_id = excluded.base_asset_id, \
             quote_asset_id = excluded.quote_asset_id, status = excluded.status, \
             config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(id("market id", m.id)?)
        .bind(m.symbol.as_str())
        .bind(id("asset id", m.base_asset_id)?)
        .bind(id("asset id", m.quote_asset_id)?)
        .bind(m.status.as_str())
        .bind(m.config.as_str())
        .bind(m.updated_at)
        .execute(self.conn())
        .await
        .map_err(|e| {
            unique_as(
                e,
                StoreError::Duplicate {
                    entity: "market symbol",
                },
            )
        })?;
        self.op_done();
        Ok(())
    }

    /// Sets (`Some`) or removes (`None` in `tier`) a user's fee override.
    pub async fn set_fee_tier(&mut self, user_id: u64, tier: Option<&FeeTier>) -> Result<()> {
        self.op_start();
        match tier {
            None => {
                sqlx::query("DELETE FROM user_fee_tiers WHERE user_id = $1")
                    .bind(id("user id", user_id)?)
                    .execute(self.conn())
                    .await?;
            }
            Some(t) => {
                sqlx::query(
                    "INSERT INTO user_fee_tiers (user_id, maker_fee_ppm, taker_fee_ppm, \
                     updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id) DO UPDATE SET maker_fee_ppm = excluded.maker_fee_ppm, \
                     taker_fee_ppm = excluded.taker_fee_ppm, updated_at = excluded.updated_at, \
                     updated_by = excluded.updated_by",
                )
                .bind(id("user id", user_id)?)
                .bind(i64::from(t.maker_fee_ppm))
                .bind(i64::from(t.taker_fee_ppm))
                .bind(t.updated_at)
                .bind(crate::codec::opt_id("user id", t.updated_by)?)
                .execute(self.conn())
                .await?;
            }
        }
        self.op_done();
        Ok(())
    }
}

// ---------------------------------------------------------------- reads

impl Store {
    /// An order of `user_id` by engine id (`None` if it is someone else's).
    pub async fn order(&self, user_id: u64, order_id: u64) -> Result<Option<OrderRecord>> {
        sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND user_id = $2"
        ))
        .bind(id("order id", order_id)?)
        .bind(id("user id", user_id)?)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(order_from_row)
        .transpose()
    }

    /// The most recent order of `user_id` in a market with this client id.
    pub async fn order_by_client_id(
        &self,
        user_id: u64,
        market_id: u64,
        client_order_id: &str,
    ) -> Result<Option<OrderRecord>> {
        sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND market_id = $2 \
             AND client_order_id = $3 ORDER BY id DESC LIMIT 1"
        ))
        .bind(id("user id", user_id)?)
        .bind(id("market id", market_id)?)
        .bind(client_order_id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(order_from_row)
        .transpose()
    }

    /// Orders of a user, ascending by id. With `from_id` or `start_time`
    /// the first `limit` from there; otherwise the newest `limit`.
    pub async fn list_orders(&self, q: &OrderQuery) -> Result<Vec<OrderRecord>> {
        let mut sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1");
        let mut n = 1;
        let mut p = || {
            n += 1;
            n
        };
        if q.market_id.is_some() {
            sql += &format!(" AND market_id = ${}", p());
        }
        if q.from_id.is_some() {
            sql += &format!(" AND id >= ${}", p());
        }
        if q.start_time.is_some() {
            sql += &format!(" AND time >= ${}", p());
        }
        if q.end_time.is_some() {
            sql += &format!(" AND time <= ${}", p());
        }
        if !q.statuses.is_empty() {
            let list: Vec<String> = q.statuses.iter().map(|_| format!("${}", p())).collect();
            sql += &format!(" AND status IN ({})", list.join(", "));
        }
        let newest = q.from_id.is_none() && q.start_time.is_none();
        sql += if newest {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id ASC"
        };
        sql += &format!(" LIMIT ${}", p());

        let mut query = sqlx::query(&sql).bind(id("user id", q.user_id)?);
        if let Some(m) = q.market_id {
            query = query.bind(id("market id", m)?);
        }
        if let Some(f) = q.from_id {
            query = query.bind(id("order id", f)?);
        }
        if let Some(t) = q.start_time {
            query = query.bind(t);
        }
        if let Some(t) = q.end_time {
            query = query.bind(t);
        }
        for s in &q.statuses {
            query = query.bind(s.code());
        }
        let mut out = query
            .bind(clamp_limit(q.limit, 500))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(order_from_row)
            .collect::<Result<Vec<_>>>()?;
        if newest {
            out.reverse();
        }
        Ok(out)
    }

    /// Trades of a market ascending by id: from `from_id`, or the newest `limit`.
    pub async fn list_market_trades(
        &self,
        market_id: u64,
        from_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<TradeRecord>> {
        let limit = clamp_limit(limit, 500);
        let rows = match from_id {
            Some(f) => {
                sqlx::query(&format!(
                    "SELECT {TRADE_SELECT} FROM trades WHERE market_id = $1 AND id >= $2 \
                     ORDER BY id ASC LIMIT $3"
                ))
                .bind(id("market id", market_id)?)
                .bind(id("trade id", f)?)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {TRADE_SELECT} FROM trades WHERE market_id = $1 \
                     ORDER BY id DESC LIMIT $2"
                ))
                .bind(id("market id", market_id)?)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        let mut out = rows
            .iter()
            .map(trade_from_row)
            .collect::<Result<Vec<_>>>()?;
        if from_id.is_none() {
            out.reverse();
        }
        Ok(out)
    }

    /// The newest `limit` trades of a market stamped at or after `since`
    /// (ms) and projected from journal seqs up to `max_seq`, ascending by
    /// id: what market-data rebuilds its recent trades and candles from.
    pub async fn recent_market_trades(
        &self,
        market_id: u64,
        since: i64,
        max_seq: u64,
        limit: u32,
    ) -> Result<Vec<TradeRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TRADE_SELECT} FROM trades WHERE market_id = $1 AND time >= $2 AND seq <= $3 \
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(id("market id", market_id)?)
        .bind(since)
        .bind(id("seq", max_seq)?)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(trade_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// A user's trades in one market, ascending by trade id (Binance
    /// `myTrades`): from `from_id`/`start_time`, or the newest `limit`.
    pub async fn list_user_trades(&self, q: &TradeQuery) -> Result<Vec<UserTrade>> {
        let mut sql = format!(
            "SELECT {TRADE_SELECT} FROM trades WHERE market_id = $1 \
             AND (maker_user_id = $2 OR taker_user_id = $2)"
        );
        let mut n = 2;
        let mut p = || {
            n += 1;
            n
        };
        if q.order_id.is_some() {
            let k = p();
            sql += &format!(" AND (maker_order_id = ${k} OR taker_order_id = ${k})");
        }
        if q.from_id.is_some() {
            sql += &format!(" AND id >= ${}", p());
        }
        if q.start_time.is_some() {
            sql += &format!(" AND time >= ${}", p());
        }
        if q.end_time.is_some() {
            sql += &format!(" AND time <= ${}", p());
        }
        let newest = q.from_id.is_none() && q.start_time.is_none();
        sql += if newest {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id ASC"
        };
        sql += &format!(" LIMIT ${}", p());
        let mut query = sqlx::query(&sql)
            .bind(id("market id", q.market_id)?)
            .bind(id("user id", q.user_id)?);
        if let Some(o) = q.order_id {
            query = query.bind(id("order id", o)?);
        }
        if let Some(f) = q.from_id {
            query = query.bind(id("trade id", f)?);
        }
        if let Some(t) = q.start_time {
            query = query.bind(t);
        }
        if let Some(t) = q.end_time {
            query = query.bind(t);
        }
        let mut trades = query
            .bind(clamp_limit(q.limit, 500))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(trade_from_row)
            .collect::<Result<Vec<_>>>()?;
        if newest {
            trades.reverse();
        }
        Ok(trades
            .iter()
            .flat_map(|t| user_sides(t, q.user_id, q.order_id))
            .collect())
    }

    /// Ledger entries of a user, ascending by (seq, idx), after the cursor
    /// `after` = (seq, idx) of the last entry already seen.
    pub async fn ledger_for_user(
        &self,
        user_id: u64,
        asset_id: Option<u64>,
        after: Option<(u64, u32)>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        let (seq, idx) = after.unwrap_or((0, 0));
        let (seq, idx) = (
            id("seq", seq)?,
            if after.is_some() { i64::from(idx) } else { -1 },
        );
        let mut sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE user_id = $1 \
             AND (seq > $2 OR (seq = $2 AND idx > $3))"
        );
        if asset_id.is_some() {
            sql += " AND asset_id = $5";
        }
        sql += " ORDER BY seq, idx LIMIT $4";
        let mut query = sqlx::query(&sql)
            .bind(id("user id", user_id)?)
            .bind(seq)
            .bind(idx)
            .bind(clamp_limit(limit, 500));
        if let Some(a) = asset_id {
            query = query.bind(id("asset id", a)?);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(ledger_from_row)
            .collect()
    }

    /// Sum of all ledger entries per (account, asset), computed exactly in
    /// Rust over the whole table in pages (for `flowex admin reconcile`).
    pub async fn ledger_totals(&self) -> Result<BTreeMap<(LedgerAccount, u64), i128>> {
        let mut totals = BTreeMap::new();
        let (mut seq, mut idx) = (-1i64, -1i64);
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {LEDGER_COLUMNS} FROM ledger_entries \
                 WHERE seq > $1 OR (seq = $1 AND idx > $2) ORDER BY seq, idx LIMIT 5000"
            ))
            .bind(seq)
            .bind(idx)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                return Ok(totals);
            }
            for row in &rows {
                let e = ledger_from_row(row)?;
                *totals.entry((e.account, e.asset_id)).or_insert(0i128) += e.amount;
                seq = id("seq", e.seq)?;
                idx = i64::from(e.idx);
            }
        }
    }

    /// Projected balances of a user, by asset id.
    pub async fn balances(&self, user_id: u64) -> Result<Vec<BalanceRecord>> {
        sqlx::query(
            "SELECT user_id, asset_id, available, locked, seq FROM balances \
             WHERE user_id = $1 ORDER BY asset_id",
        )
        .bind(id("user id", user_id)?)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(balance_from_row)
        .collect()
    }

    /// Every projected balance, by user then asset.
    pub async fn all_balances(&self) -> Result<Vec<BalanceRecord>> {
        sqlx::query(
            "SELECT user_id, asset_id, available, locked, seq FROM balances \
             ORDER BY user_id, asset_id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(balance_from_row)
        .collect()
    }

    pub async fn assets(&self) -> Result<Vec<AssetRecord>> {
        sqlx::query(
            "SELECT id, code, decimals, withdraw_min, withdraw_fee, withdraw_daily_limit, \
             updated_at FROM assets ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(asset_from_row)
        .collect()
    }

    /// Sets an asset's withdrawal rules (atoms; daily limit 0 = none).
    pub async fn set_withdraw_rules(
        &self,
        asset_id: u64,
        min: u64,
        fee: u64,
        daily_limit: u64,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE assets SET withdraw_min = $2, withdraw_fee = $3, withdraw_daily_limit = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(id("asset id", asset_id)?)
        .bind(amount(min))
        .bind(amount(fee))
        .bind(amount(daily_limit))
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "asset" });
        }
        Ok(())
    }

    pub async fn markets(&self) -> Result<Vec<MarketRecord>> {
        sqlx::query(
            "SELECT id, symbol, base_asset_id, quote_asset_id, status, config, updated_at \
             FROM markets ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(market_from_row)
        .collect()
    }

    pub async fn fee_tier(&self, user_id: u64) -> Result<Option<FeeTier>> {
        sqlx::query(
            "SELECT user_id, maker_fee_ppm, taker_fee_ppm, updated_at, updated_by \
             FROM user_fee_tiers WHERE user_id = $1",
        )
        .bind(id("user id", user_id)?)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(fee_tier_from_row)
        .transpose()
    }

    pub async fn fee_tiers(&self) -> Result<Vec<FeeTier>> {
        sqlx::query(
            "SELECT user_id, maker_fee_ppm, taker_fee_ppm, updated_at, updated_by \
             FROM user_fee_tiers ORDER BY user_id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(fee_tier_from_row)
        .collect()
    }
}
