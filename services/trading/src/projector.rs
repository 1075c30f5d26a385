//! The order and trade history: the SQL projection of the event stream.
//!
//! [`start`] runs a task that turns the engine's events into the `orders` and `trades`
//! rows. Each journal command (seq) is applied in its own projection
//! transaction ([`Store::begin_projection`] of [`PROJECTOR`]) that also
//! advances the stored offset, so a replay is idempotent: a seq at or below
//! the offset is skipped by the store, never applied twice.
//!
//! Catch-up and the live feed are [`flowex_bus::follow_sequencer`]'s (shared
//! with the wallet's ledger): the commands after the stored offset are
//! recomputed from the journal, then the live batches follow; a restart —
//! or a subscription dropped for lagging — resumes right after the last
//! committed seq, with no gap and no duplicate.
//!
//! The projected seq is published on a watch channel ([`History`]), so a
//! reader that needs a command's effect (a closed order just after it
//! closed) waits for the projector to reach that seq.

use crate::markets::Directory;
use crate::TradingState;
use flowex_bus::EventRecord;
use flowex_store::{OrderRecord, OrderUpdate, ProjectionTx, Store, StoreError, TradeRecord};
use flowex_types::{EndReason, Event, OrderInfo, Side};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The projector's name in `projector_offsets`.
pub const PROJECTOR: &str = "orders";

/// Batches of room in the projector's subscription.
const SUBSCRIPTION_CAPACITY: usize = 4096;

/// The history store and how far the projection got.
#[derive(Clone)]
pub struct History {
    pub(crate) store: Store,
    projected: watch::Receiver<u64>,
}

impl History {
    /// The last seq projected into the store.
    pub fn projected_seq(&self) -> u64 {
        *self.projected.borrow()
    }

    /// Waits until the projection covers `seq`, at most `timeout`; whether it does.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.projected.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Starts the projector of `state`'s sequencer into `store` (its journal
/// in `journal_dir`) and returns the state with the history endpoints
/// enabled. The task ends when the sequencer stops.
pub async fn start(
    state: TradingState,
    store: Store,
    journal_dir: PathBuf,
) -> Result<TradingState, StoreError> {
    Ok(spawn(state, store, journal_dir).await?.0)
}

/// [`start`], also handing back the projector's task (aborting it is
/// safe: an unfinished transaction rolls back, and the next start resumes
/// from the stored offset).
pub async fn spawn(
    state: TradingState,
    store: Store,
    journal_dir: PathBuf,
) -> Result<(TradingState, tokio::task::JoinHandle<()>), StoreError> {
    let offset = store.projector_offset(PROJECTOR).await?;
    let (tx, rx) = watch::channel(offset);
    let history = History {
        store: store.clone(),
        projected: rx,
    };
    let projector = Projector {
        state: state.clone(),
        store,
        projected: Arc::new(tx),
    };
    let follow = flowex_bus::FollowConfig {
        name: PROJECTOR,
        journal_dir,
        capacity: SUBSCRIPTION_CAPACITY,
    };
    let handle = state.sequencer().clone();
    let task = tokio::spawn(flowex_bus::follow_sequencer(handle, follow, projector));
    Ok((state.with_history(history), task))
}

struct Projector {
    state: TradingState,
    store: Store,
    projected: Arc<watch::Sender<u64>>,
}

impl flowex_bus::Projection for Projector {
    async fn offset(&self) -> Result<u64, String> {
        let last = self
            .store
            .projector_offset(PROJECTOR)
            .await
            .map_err(|e| e.to_string())?;
        self.projected.send_replace(last);
        Ok(last)
    }

    async fn apply(&self, record: &EventRecord) -> Result<(), String> {
        Projector::apply(self, record)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Projector {
    /// One command, once: its rows and the offset in one transaction.
    async fn apply(&self, record: &EventRecord) -> Result<(), StoreError> {
        let dir = self.directory_for(&record.events).await;
        project(&self.store, &dir, record).await?;
        // Applied now or before: the projection covers this seq.
        self.projected.send_if_modified(|s| {
            let newer = record.seq > *s;
            *s = (*s).max(record.seq);
            newer
        });
        Ok(())
    }

    /// The market directory, re-read if an event names a market it lacks.
    async fn directory_for(&self, events: &[Event]) -> Arc<Directory> {
        let dir = self.state.directory.read().await.clone();
        let missing = events
            .iter()
            .any(|e| market_of(e).is_some_and(|m| dir.by_id(m).is_none()));
        if missing {
            if let Ok(d) = self.state.refresh_markets().await {
                return d;
            }
        }
        dir
    }
}

fn market_of(e: &Event) -> Option<flowex_types::MarketId> {
    match e {
        Event::OrderAccepted(o) => Some(o.market),
        Event::Trade(t) => Some(t.market),
        _ => None,
    }
}

fn end_reason_str(r: EndReason) -> &'static str {
    match r {
        EndReason::Filled => "FILLED",
        EndReason::Canceled => "CANCELED",
        EndReason::NoLiquidity => "NO_LIQUIDITY",
        EndReason::InsufficientFunds => "INSUFFICIENT_FUNDS",
        EndReason::SelfTradePrevention => "SELF_TRADE_PREVENTION",
        EndReason::MassCanceled => "MASS_CANCELED",
    }
}

fn accepted(o: &OrderInfo, dir: &Directory, time: i64, seq: u64) -> OrderRecord {
    let symbol = dir
        .by_id(o.market)
        .map_or_else(String::new, |m| m.cfg.symbol.as_str().to_string());
    OrderRecord {
        id: o.id.0,
        user_id: o.user.0,
        market_id: u64::from(o.market.0),
        symbol,
        client_order_id: o.client_id.map(|c| c.as_str().to_string()),
        side: flowex_binance::Side::from(o.side).as_str().into(),
        order_type: flowex_binance::OrderType::from(o.order_type)
            .as_str()
            .into(),
        time_in_force: flowex_binance::TimeInForce::from(o.tif).as_str().into(),
        price: o.price,
        orig_qty: o.qty,
        orig_quote_qty: o.quote_qty,
        executed_qty: 0,
        cum_quote_qty: 0,
        status: "NEW".into(),
        stop_price: o.stop_price,
        stp_mode: flowex_binance::SelfTradePreventionMode::from(o.stp)
            .as_str()
            .into(),
        time,
        update_time: time,
        working_time: (!o.order_type.is_stop()).then_some(time),
        end_reason: None,
        seq,
    }
}

/// Carries an order's current state into an [`OrderUpdate`].
fn unchanged(o: &OrderRecord, time: i64, seq: u64) -> OrderUpdate {
    OrderUpdate {
        id: o.id,
        status: o.status.clone(),
        executed_qty: o.executed_qty,
        cum_quote_qty: o.cum_quote_qty,
        orig_qty: None,
        price: None,
        update_time: time,
        working_time: None,
        end_reason: None,
        seq,
    }
}

/// Applies one command's rows and advances the offset in one transaction;
/// `false` (and nothing written) if the offset already covers it. Markets
/// are looked up in `dir`.
pub async fn project(
    store: &Store,
    dir: &Directory,
    record: &EventRecord,
) -> Result<bool, StoreError> {
    let Some(mut tx) = store
        .begin_projection(PROJECTOR, record.seq..=record.seq)
        .await?
    else {
        return Ok(false);
    };
    apply_record(&mut tx, dir, record).await?;
    tx.commit().await?;
    Ok(true)
}

/// The rows of one command, written through its projection transaction.
async fn apply_record(
    tx: &mut ProjectionTx,
    dir: &Directory,
    record: &EventRecord,
) -> Result<(), StoreError> {
    let time = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
    let seq = record.seq;
    for e in &record.events {
        match e {
            Event::OrderAccepted(o) => tx.insert_order(&accepted(o, dir, time, seq)).await?,
            Event::OrderUpdate {
                order,
                status,
                executed,
                cum_quote,
                reason,
                ..
            } => {
                tx.update_order(&OrderUpdate {
                    id: order.0,
                    status: flowex_binance::OrderStatus::from(*status).as_str().into(),
                    executed_qty: *executed,
                    cum_quote_qty: *cum_quote,
                    orig_qty: None,
                    price: None,
                    update_time: time,
                    working_time: None,
                    end_reason: reason.map(|r| end_reason_str(r).into()),
                    seq,
                })
                .await?
            }
            Event::StopTriggered { order, .. } => {
                let Some(o) = tx.order_for_update(order.0).await? else {
                    return Err(StoreError::NotFound { entity: "order" });
                };
                let mut u = unchanged(&o, time, seq);
                u.working_time = Some(time);
                tx.update_order(&u).await?
            }
            Event::OrderAmended {
                order,
                price,
                remaining,
                ..
            } => {
                let Some(o) = tx.order_for_update(order.0).await? else {
                    return Err(StoreError::NotFound { entity: "order" });
                };
                let mut u = unchanged(&o, time, seq);
                u.price = Some(*price);
                u.orig_qty = Some(o.executed_qty.saturating_add(*remaining));
                tx.update_order(&u).await?
            }
            Event::Trade(t) => {
                let m = dir.by_id(t.market);
                let (base, quote) = m.map_or((0, 0), |m| (m.base.id.0, m.quote.id.0));
                // Each side pays its fee in the asset it receives: the
                // buyer in base, the seller in quote.
                let taker_buys = t.taker_side == Side::Buy;
                let (maker_asset, taker_asset) = if taker_buys {
                    (quote, base)
                } else {
                    (base, quote)
                };
                tx.insert_trade(&TradeRecord {
                    market_id: u64::from(t.market.0),
                    id: t.id.0,
                    symbol: m.map_or_else(String::new, |m| m.cfg.symbol.as_str().to_string()),
                    price: t.price,
                    qty: t.qty,
                    quote_qty: t.quote_qty,
                    maker_order_id: t.maker_order.0,
                    maker_user_id: t.maker_user.0,
                    taker_order_id: t.taker_order.0,
                    taker_user_id: t.taker_user.0,
                    buyer_is_maker: !taker_buys,
                    maker_fee: t.maker_fee,
                    maker_fee_asset_id: u64::from(maker_asset),
                    taker_fee: t.taker_fee,
                    taker_fee_asset_id: u64::from(taker_asset),
                    time,
                    seq,
                })
                .await?
            }
            _ => {}
        }
    }
    Ok(())
}
