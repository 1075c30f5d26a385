//! The order and trade history: the SQL projection of the event stream.
//!
//! [`OrderHistory`] is one [`Projection`] on the one follower
//! ([`flowex_bus::Follower`]): [`start`] runs it on the in-process
//! sequencer (catch-up from the journal after its stored offset, then the
//! live batches; a lag starts over from the offset). Each batch of journal
//! records is written in one projection transaction
//! ([`Store::begin_projection`] of [`PROJECTOR`]) that also advances the
//! stored offset, so a replay is idempotent.
//!
//! The markets (symbols, base and quote assets) come from the events and
//! from the [`Catalog`] stored with the offset, never from the live engine:
//! a history rebuilt from the journal names the markets as they were.
//!
//! The projected seq is in the follower's status ([`History`]), so a reader
//! that needs a command's effect (a closed order just after it closed)
//! waits for the projector to reach that seq.

use crate::TradingState;
use flowex_bus::{
    Catalog, CatalogError, EventRecord, FollowStatus, Follower, Projection, Source, Start,
    StartContext,
};
use flowex_store::{OrderRecord, OrderUpdate, ProjectionTx, Store, StoreError, TradeRecord};
use flowex_types::{Event, OrderInfo, OrderStatus, Side};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The projector's name in `projector_offsets`.
pub const PROJECTOR: &str = "orders";

/// The history store and how far the projection got.
#[derive(Clone)]
pub struct History {
    pub(crate) store: Store,
    status: Arc<FollowStatus>,
}

impl History {
    /// The last seq projected into the store.
    pub fn projected_seq(&self) -> u64 {
        self.status.last_seq()
    }

    /// Waits until the projection covers `seq`, at most `timeout`; whether it does.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        self.status.wait_for(seq, timeout).await
    }

    /// The follower's status (`/health/events`).
    pub fn status(&self) -> &Arc<FollowStatus> {
        &self.status
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
    let status = Arc::new(FollowStatus::new(PROJECTOR, offset));
    let history = History {
        store: store.clone(),
        status: status.clone(),
    };
    let source = Source::sequencer(state.sequencer().clone(), journal_dir);
    let mut follower = Follower::new(source, OrderHistory::new(store), status);
    let task = tokio::spawn(async move {
        follower.run().await;
    });
    Ok((state.with_history(history), task))
}

/// What can stop the projection of a batch.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The order and trade history as a [`Projection`].
pub struct OrderHistory {
    store: Store,
    catalog: Catalog,
}

impl OrderHistory {
    pub fn new(store: Store) -> OrderHistory {
        OrderHistory {
            store,
            catalog: Catalog::default(),
        }
    }

    /// The configuration as of the last seq applied.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

impl Projection for OrderHistory {
    type Error = ProjectorError;

    async fn start(&mut self, ctx: &StartContext) -> Result<Start, ProjectorError> {
        let (offset, stored) = self.store.projector_state(PROJECTOR).await?;
        self.catalog = Catalog::resume(PROJECTOR, offset, stored.as_deref(), ctx).await?;
        Ok(Start::Offset(offset))
    }

    async fn apply(&mut self, batch: &[EventRecord]) -> Result<(), ProjectorError> {
        project(&self.store, &mut self.catalog, batch).await?;
        Ok(())
    }
}

fn market_of(e: &Event) -> Option<flowex_types::MarketId> {
    match e {
        Event::OrderAccepted(o) => Some(o.market),
        Event::Trade(t) => Some(t.market),
        _ => None,
    }
}

/// The row of a newly accepted order.
pub fn accepted(o: &OrderInfo, catalog: &Catalog, time: i64, seq: u64) -> OrderRecord {
    let symbol = catalog
        .market(o.market)
        .map_or_else(String::new, |m| m.symbol.as_str().to_string());
    OrderRecord {
        id: o.id.0,
        user_id: o.user.0,
        market_id: u64::from(o.market.0),
        symbol,
        client_order_id: o.client_id.map(|c| c.as_str().to_string()),
        side: o.side,
        order_type: o.order_type,
        time_in_force: o.tif,
        price: o.price,
        orig_qty: o.qty,
        orig_quote_qty: o.quote_qty,
        executed_qty: 0,
        cum_quote_qty: 0,
        status: OrderStatus::New,
        stop_price: o.stop_price,
        stp_mode: o.stp,
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
        status: o.status,
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

/// Applies a batch of consecutive records (their rows and the new offset,
/// and the catalog if the batch changed it) in one transaction; `false`
/// (and nothing written) if the offset already covers it. `catalog` is the
/// configuration before the batch and learns the batch's changes.
pub async fn project(
    store: &Store,
    catalog: &mut Catalog,
    batch: &[EventRecord],
) -> Result<bool, ProjectorError> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(false);
    };
    let mut next = catalog.clone();
    let Some(mut tx) = store
        .begin_projection(PROJECTOR, first.seq..=last.seq)
        .await?
    else {
        // Applied already (by another instance): learn its configuration.
        for r in batch {
            catalog.apply(&r.events);
        }
        return Ok(false);
    };
    let mut changed = false;
    for record in batch {
        changed |= next.apply(&record.events);
        if let Some(m) = record.events.iter().find_map(market_of) {
            if next.market(m).is_none() {
                return Err(CatalogError::UnknownMarket {
                    seq: record.seq,
                    market: m,
                }
                .into());
            }
        }
        apply_record(&mut tx, &next, record).await?;
    }
    if changed {
        tx.set_state(next.to_json());
    }
    tx.commit().await?;
    *catalog = next;
    Ok(true)
}

/// The rows of one command, written through its projection transaction.
/// An order the command accepted is inserted once, with what the same
/// command did to it afterwards folded in (an IOC that expired at once, a
/// taker's fill): one statement where an insert and an update were.
async fn apply_record(
    tx: &mut ProjectionTx,
    catalog: &Catalog,
    record: &EventRecord,
) -> Result<(), StoreError> {
    let time = i64::try_from(record.timestamp_ns / 1_000_000).unwrap_or(i64::MAX);
    let seq = record.seq;
    let mut fresh: Option<OrderRecord> = None;
    for e in &record.events {
        if let (Some(o), Event::OrderUpdate { order, .. }) = (fresh.as_mut(), e) {
            if o.id == order.0 {
                fold_update(o, e, time, seq);
                continue;
            }
        }
        if touches_orders(e) {
            if let Some(o) = fresh.take() {
                tx.insert_order(&o).await?;
            }
        }
        match e {
            Event::OrderAccepted(o) => fresh = Some(accepted(o, catalog, time, seq)),
            other => apply_event(tx, catalog, other, time, seq).await?,
        }
    }
    if let Some(o) = fresh {
        tx.insert_order(&o).await?;
    }
    Ok(())
}

/// Events that read or write the order and trade rows.
fn touches_orders(e: &Event) -> bool {
    matches!(
        e,
        Event::OrderAccepted(_)
            | Event::OrderUpdate { .. }
            | Event::StopTriggered { .. }
            | Event::OrderAmended { .. }
            | Event::Trade(_)
    )
}

/// What `update_order` would do to the row of `o`, done to `o` itself.
fn fold_update(o: &mut OrderRecord, e: &Event, time: i64, seq: u64) {
    if let Event::OrderUpdate {
        status,
        executed,
        cum_quote,
        reason,
        ..
    } = e
    {
        o.status = *status;
        o.executed_qty = *executed;
        o.cum_quote_qty = *cum_quote;
        o.update_time = time;
        o.end_reason = reason.or(o.end_reason);
        o.seq = seq;
    }
}

/// The rows of one event of a command (an accepted order aside).
async fn apply_event(
    tx: &mut ProjectionTx,
    catalog: &Catalog,
    e: &Event,
    time: i64,
    seq: u64,
) -> Result<(), StoreError> {
    match e {
        Event::OrderAccepted(o) => tx.insert_order(&accepted(o, catalog, time, seq)).await?,
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
                status: *status,
                executed_qty: *executed,
                cum_quote_qty: *cum_quote,
                orig_qty: None,
                price: None,
                update_time: time,
                working_time: None,
                end_reason: *reason,
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
        Event::Trade(t) => tx.insert_trade(&trade_row(t, catalog, time, seq)).await?,
        _ => {}
    }
    Ok(())
}

/// The row of one fill.
pub fn trade_row(t: &flowex_types::Trade, catalog: &Catalog, time: i64, seq: u64) -> TradeRecord {
    let m = catalog.market(t.market);
    let (base, quote) = m.map_or((0, 0), |m| (m.base.0, m.quote.0));
    // Each side pays its fee in the asset it receives: the buyer in base,
    // the seller in quote.
    let taker_buys = t.taker_side == Side::Buy;
    let (maker_asset, taker_asset) = if taker_buys {
        (quote, base)
    } else {
        (base, quote)
    };
    TradeRecord {
        market_id: u64::from(t.market.0),
        id: t.id.0,
        symbol: m.map_or_else(String::new, |m| m.symbol.as_str().to_string()),
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
    }
}
