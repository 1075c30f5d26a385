//! The user data events, projected from the engine's durable events.
//!
//! [`UserEvents`] is one more projection on the one follower
//! (`flowex_bus::Follower`, fed by the sequencer's durable batches, in
//! `flowex up` and in `flowex serve trading` alike): it starts from a
//! snapshot of the open orders exact at a seq and follows the records after
//! it, keeping each open order's state so every `executionReport` carries
//! the whole order (built by `flowex_binance::ExecutionReport`, the one
//! order builder). Per record it sends, to the owner's subscriptions:
//!
//! - `executionReport`: `NEW` on acceptance (and when a stop triggers),
//!   `TRADE` per fill of either side, `CANCELED`, `EXPIRED`,
//!   `TRADE_PREVENTION` (expired by self-trade prevention), `REPLACED` on
//!   an amend;
//! - `outboundAccountPosition`: every balance of the user the command
//!   changed, once per command;
//! - `balanceUpdate`: deposits (+), withdrawals and withdrawal holds (−),
//!   released holds (+).

use super::hub::Hub;
use flowex_binance::{Execution, ExecutionFill, ExecutionReport, ExecutionType, OrderState};
use flowex_bus::{Catalog, EventRecord, Projection, Start, StartContext};
use flowex_engine::Engine;
use flowex_types::{
    format_scaled, AssetId, Event, MarketId, OrderInfo, OrderStatus, Side, Trade, UserId,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Why the projection could not start.
#[derive(Debug, thiserror::Error)]
pub enum UserEventsError {
    #[error("the user data streams follow the in-process sequencer only")]
    NoSequencer,
    #[error("sequencer: {0}")]
    Sequencer(#[from] flowex_sequencer::SequencerError),
}

/// An open order and whose it is.
#[derive(Clone, Debug)]
struct Tracked {
    user: UserId,
    market: MarketId,
    state: OrderState,
}

/// The projection: open orders, the configuration, and the hub it sends to.
pub struct UserEvents {
    hub: Arc<Hub>,
    catalog: Catalog,
    orders: HashMap<u64, Tracked>,
}

impl UserEvents {
    pub fn new(hub: Arc<Hub>) -> UserEvents {
        UserEvents {
            hub,
            catalog: Catalog::default(),
            orders: HashMap::new(),
        }
    }
}

fn snapshot(e: &Engine) -> (u64, Catalog, Vec<Tracked>) {
    let mut users: Vec<UserId> = e.all_balances().into_iter().map(|(u, _, _)| u).collect();
    users.dedup();
    let orders = users
        .into_iter()
        .flat_map(|u| e.open_orders(u, None))
        .map(|o| Tracked {
            user: o.user,
            market: o.market,
            state: crate::orders::open_state(&o),
        })
        .collect();
    (e.last_seq(), Catalog::of_engine(e), orders)
}

impl Projection for UserEvents {
    type Error = UserEventsError;

    async fn start(&mut self, ctx: &StartContext) -> Result<Start, UserEventsError> {
        let seq = ctx.sequencer().ok_or(UserEventsError::NoSequencer)?;
        let (at, catalog, orders) = seq.query(snapshot).await?;
        self.catalog = catalog;
        self.orders = orders.into_iter().map(|t| (t.state.id, t)).collect();
        Ok(Start::Snapshot(at))
    }

    async fn apply(&mut self, batch: &[EventRecord]) -> Result<(), UserEventsError> {
        for record in batch {
            let mut out = Outbox::default();
            self.catalog.apply(&record.events);
            let time = record.timestamp_ns / 1_000_000;
            let mut step = Step {
                catalog: &self.catalog,
                orders: &mut self.orders,
                out: &mut out,
                time,
                fills: HashMap::new(),
            };
            for event in &record.events {
                step.event(event);
            }
            step.flush_fills();
            out.balances(&self.catalog, time);
            for (user, payload) in out.sent {
                self.hub.deliver(user.0, &payload);
            }
        }
        Ok(())
    }
}

/// What one record sends, in order, and the balances it changed.
#[derive(Default)]
struct Outbox {
    sent: Vec<(UserId, String)>,
    balances: BTreeMap<UserId, BTreeMap<AssetId, (u64, u64)>>,
}

impl Outbox {
    /// One `outboundAccountPosition` per user whose balances changed.
    fn balances(&mut self, catalog: &Catalog, time: u64) {
        for (user, assets) in std::mem::take(&mut self.balances) {
            let b: Vec<_> = assets
                .iter()
                .filter_map(|(a, (free, locked))| {
                    let cfg = catalog.asset(*a)?;
                    Some(json!({
                        "a": cfg.code.as_str(),
                        "f": format_scaled(*free, cfg.decimals),
                        "l": format_scaled(*locked, cfg.decimals),
                    }))
                })
                .collect();
            let body = json!({"B": b, "E": time, "e": "outboundAccountPosition", "u": time});
            self.sent.push((user, body.to_string()));
        }
    }
}

/// One record being turned into user events.
struct Step<'a> {
    catalog: &'a Catalog,
    orders: &'a mut HashMap<u64, Tracked>,
    out: &'a mut Outbox,
    time: u64,
    /// Fills of each order seen in this record and not yet reported
    /// (reported at the order's next update, which carries its status).
    fills: HashMap<u64, Vec<ExecutionFill>>,
}

impl Step<'_> {
    fn event(&mut self, event: &Event) {
        match event {
            Event::OrderAccepted(info) => self.accepted(info),
            Event::StopTriggered { order, .. } => {
                if let Some(t) = self.orders.get_mut(&order.0) {
                    t.state.working_time = Some(self.time);
                    t.state.update_time = self.time;
                }
                self.report(order.0, ExecutionType::New, None);
            }
            Event::Trade(t) => self.trade(t),
            Event::OrderUpdate {
                order,
                status,
                executed,
                cum_quote,
                ..
            } => self.updated(order.0, *status, *executed, *cum_quote),
            Event::OrderAmended {
                order,
                price,
                remaining,
                ..
            } => self.amended(order.0, *price, *remaining),
            Event::BalanceChanged {
                user,
                asset,
                available,
                locked,
            } => {
                let user_assets = self.out.balances.entry(*user).or_default();
                user_assets.insert(*asset, (*available, *locked));
            }
            Event::Deposited {
                user,
                asset,
                amount,
                ..
            }
            | Event::WithdrawReleased {
                user,
                asset,
                amount,
                ..
            } => self.balance_update(*user, *asset, *amount, ""),
            Event::Withdrawn {
                user,
                asset,
                amount,
                ..
            }
            | Event::WithdrawLocked {
                user,
                asset,
                amount,
                ..
            } => self.balance_update(*user, *asset, *amount, "-"),
            _ => {}
        }
    }

    fn accepted(&mut self, info: &OrderInfo) {
        let state = OrderState {
            id: info.id.0,
            client_order_id: info
                .client_id
                .map_or(String::new(), |c| c.as_str().to_string()),
            side: info.side,
            order_type: info.order_type,
            tif: info.tif,
            price: info.price,
            orig_qty: info.qty,
            orig_quote_qty: info.quote_qty,
            executed_qty: 0,
            cum_quote_qty: 0,
            status: OrderStatus::New,
            stop_price: info.stop_price,
            stp: info.stp,
            time: self.time,
            update_time: self.time,
            working_time: (!info.order_type.is_stop()).then_some(self.time),
        };
        let tracked = Tracked {
            user: info.user,
            market: info.market,
            state,
        };
        self.orders.insert(info.id.0, tracked);
        self.report(info.id.0, ExecutionType::New, None);
    }

    fn trade(&mut self, t: &Trade) {
        let maker_side = match t.taker_side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        };
        let sides = [
            (t.maker_order.0, maker_side, t.maker_fee, true),
            (t.taker_order.0, t.taker_side, t.taker_fee, false),
        ];
        for (order, side, fee, maker) in sides {
            let Some(assets) = self.catalog.market_assets(t.market) else {
                continue;
            };
            // The fee is in the asset received: base for a buyer, quote for a seller.
            let fee_asset = if side == Side::Buy {
                assets.base
            } else {
                assets.quote
            };
            self.fills.entry(order).or_default().push(ExecutionFill {
                trade_id: t.id.0,
                price: t.price,
                qty: t.qty,
                quote_qty: t.quote_qty,
                commission: format_scaled(fee, fee_asset.decimals),
                commission_asset: fee_asset.code.as_str().to_string(),
                maker,
            });
        }
    }

    /// An order's new state: its pending fills as `TRADE`s (the last with
    /// this status when it is a fill's), then its end if it ended otherwise.
    fn updated(&mut self, order: u64, status: OrderStatus, executed: u64, cum_quote: u64) {
        let fills = self.fills.remove(&order).unwrap_or_default();
        let filled = matches!(status, OrderStatus::Filled | OrderStatus::PartiallyFilled);
        let n = fills.len();
        for (i, fill) in fills.into_iter().enumerate() {
            if let Some(t) = self.orders.get_mut(&order) {
                let s = &mut t.state;
                s.executed_qty += fill.qty;
                s.cum_quote_qty += fill.quote_qty;
                s.update_time = self.time;
                s.status = if i + 1 == n && filled {
                    status
                } else {
                    OrderStatus::PartiallyFilled
                };
            }
            self.report(order, ExecutionType::Trade, Some(fill));
        }
        let Some(t) = self.orders.get_mut(&order) else {
            return;
        };
        let s = &mut t.state;
        (s.executed_qty, s.cum_quote_qty) = (executed, cum_quote);
        let changed = s.status != status;
        s.status = status;
        s.update_time = self.time;
        let kind = match status {
            OrderStatus::Canceled => Some(ExecutionType::Canceled),
            OrderStatus::Expired => Some(ExecutionType::Expired),
            OrderStatus::ExpiredInMatch => Some(ExecutionType::TradePrevention),
            _ => None,
        };
        if let Some(kind) = kind.filter(|_| changed) {
            self.report(order, kind, None);
        }
        if status.is_final() {
            self.orders.remove(&order);
        }
    }

    fn amended(&mut self, order: u64, price: u64, remaining: u64) {
        if let Some(t) = self.orders.get_mut(&order) {
            let s = &mut t.state;
            s.price = price;
            s.orig_qty = s.executed_qty + remaining;
            s.update_time = self.time;
        }
        self.report(order, ExecutionType::Replaced, None);
    }

    /// Fills no update followed (not expected from the engine): reported
    /// with the state they leave.
    fn flush_fills(&mut self) {
        let orders: Vec<u64> = self.fills.keys().copied().collect();
        for order in orders {
            let status = self
                .orders
                .get(&order)
                .map_or(OrderStatus::PartiallyFilled, |t| t.state.status);
            let (executed, cum) = self.orders.get(&order).map_or((0, 0), |t| {
                let pending: (u64, u64) = self.fills[&order]
                    .iter()
                    .fold((0, 0), |a, f| (a.0 + f.qty, a.1 + f.quote_qty));
                (
                    t.state.executed_qty + pending.0,
                    t.state.cum_quote_qty + pending.1,
                )
            });
            self.updated(order, status, executed, cum);
        }
    }

    fn report(&mut self, order: u64, kind: ExecutionType, fill: Option<ExecutionFill>) {
        let Some(t) = self.orders.get(&order) else {
            return;
        };
        let Some(assets) = self.catalog.market_assets(t.market) else {
            return;
        };
        let m = flowex_binance::Market::new(assets.config, assets.base, assets.quote);
        let x = Execution {
            kind,
            time: self.time,
            fill,
            orig_client_order_id: String::new(),
        };
        let body = ExecutionReport::new(&m, &t.state, &x);
        let payload = serde_json::to_string(&body).unwrap_or_default();
        self.out.sent.push((t.user, payload));
    }

    fn balance_update(&mut self, user: UserId, asset: AssetId, amount: u64, sign: &str) {
        let Some(cfg) = self.catalog.asset(asset) else {
            return;
        };
        let delta = format!("{sign}{}", format_scaled(amount, cfg.decimals));
        let body = json!({
            "E": self.time, "T": self.time, "a": cfg.code.as_str(), "d": delta, "e": "balanceUpdate",
        });
        self.out.sent.push((user, body.to_string()));
    }
}
