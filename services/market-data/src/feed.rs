//! How the view starts and keeps up, gap-free: [`ViewProjection`], one
//! projection on the one follower ([`flowex_bus::Follower`]).
//!
//! Start (and restart after any gap or lag, which the follower handles):
//! take a [`MarketSnapshot`] (books with their update ids, configs,
//! assets, exact at seq `S`), add the trade history from SQL (trades of the
//! last [`HISTORY_DAYS`] days, at most [`HISTORY_ROWS`] per market,
//! projected from seqs up to `S`: the start waits, up to
//! [`PROJECTOR_WAIT`], for the order projector to reach `S`), then apply
//! every event record after `S`, in order.
//!
//! - In one process ([`follow_sequencer`]): the follower subscribes to the
//!   sequencer first, then the snapshot is one query on the engine thread,
//!   so every batch after `S` is in the subscription.
//! - Distributed ([`follow_stream`]): the snapshot comes from trading's
//!   `GET /internal/market-snapshot`, the records from the Redis stream
//!   after `S`.

use crate::view::View;
use crate::MarketDataState;
use flowex_bus::wire::MarketSnapshot;
use flowex_bus::{BusConfig, EventRecord, Follower, Projection, Source, Start, StartContext};
use flowex_sequencer::{SequencerError, SequencerHandle};
use flowex_service::EngineClient;
use flowex_store::Store;
use std::time::{Duration, Instant};

/// Days of trade history read from SQL at start.
pub const HISTORY_DAYS: i64 = 7;
/// Most trades per market read from SQL at start (the newest).
pub const HISTORY_ROWS: u32 = 200_000;
/// How long the start waits for the order projector to reach the snapshot.
pub const PROJECTOR_WAIT: Duration = Duration::from_secs(30);
/// The order projector's name in `projector_offsets` (trading writes the trades).
const TRADE_PROJECTOR: &str = "orders";

/// Builds the view of `snap` with the SQL trade history up to its seq.
pub async fn build(snap: &MarketSnapshot, store: Option<&Store>) -> View {
    let mut view = View::from_snapshot(snap);
    let Some(store) = store else {
        return view;
    };
    wait_for_projector(store, snap.seq).await;
    let since = now_ms() - HISTORY_DAYS * crate::view::DAY_MS;
    for b in &snap.markets {
        let id = u64::from(b.config.id.0);
        match store
            .recent_market_trades(id, since, snap.seq, HISTORY_ROWS)
            .await
        {
            Ok(rows) => {
                if let Some(m) = view.market_by_id_mut(b.config.id) {
                    for t in &rows {
                        m.add_trade(t.into());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(market = id, error = %e, "market-data: reading the trade history failed")
            }
        }
    }
    view
}

async fn wait_for_projector(store: &Store, seq: u64) {
    let deadline = Instant::now() + PROJECTOR_WAIT;
    loop {
        match store.projector_offset(TRADE_PROJECTOR).await {
            Ok(at) if at >= seq => return,
            Ok(_) | Err(_) if Instant::now() >= deadline => {
                tracing::warn!(
                    seq,
                    "market-data: the trade history has not reached the snapshot; trades before it may be missing"
                );
                return;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

use flowex_http::clock::now_ms_i64 as now_ms;

fn installed(state: &MarketDataState, view: View) {
    let seq = view.seq();
    state.install(view);
    metrics::gauge!("flowex_market_data_last_seq").set(seq as f64);
    tracing::info!(seq, "market-data: view started from a snapshot");
}

/// Why the view could not start or follow.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("reading the snapshot from the engine: {0}")]
    Engine(#[from] SequencerError),
    #[error("fetching the market snapshot from trading: {0}")]
    Remote(String),
    #[error("the source has no engine to take a snapshot from")]
    NoSnapshot,
}

/// Where the view's snapshot comes from.
#[derive(Clone)]
enum Snapshots {
    /// The in-process engine (one query, after the follower subscribed).
    Engine,
    /// Trading's internal API.
    Remote(EngineClient),
}

/// Market data's view as a [`Projection`]: starts from a snapshot, then
/// applies the records after it.
pub struct ViewProjection {
    state: MarketDataState,
    store: Option<Store>,
    snapshots: Snapshots,
}

impl Projection for ViewProjection {
    type Error = FeedError;

    async fn start(&mut self, ctx: &StartContext) -> Result<Start, FeedError> {
        let snap = match &self.snapshots {
            Snapshots::Engine => {
                let handle = ctx.sequencer().ok_or(FeedError::NoSnapshot)?;
                handle.query(MarketSnapshot::of).await?
            }
            Snapshots::Remote(engine) => engine
                .market_snapshot()
                .await
                .map_err(|e| FeedError::Remote(e.message().to_string()))?,
        };
        let view = build(&snap, self.store.as_ref()).await;
        installed(&self.state, view);
        Ok(Start::Snapshot(snap.seq))
    }

    async fn apply(&mut self, batch: &[EventRecord]) -> Result<(), FeedError> {
        let mut view = self.state.write();
        for record in batch {
            view.apply(record);
            self.state.live().on_record(&view, record);
        }
        drop(view);
        metrics::gauge!("flowex_market_data_last_seq").set(self.state.feed().last_seq() as f64);
        Ok(())
    }
}

async fn run(source: Source, store: Option<Store>, state: MarketDataState, snapshots: Snapshots) {
    let status = state.feed().clone();
    let projection = ViewProjection {
        state,
        store,
        snapshots,
    };
    Follower::new(source, projection, status).run().await;
}

/// `flowex up`: follows the sequencer in process until it stops.
pub async fn follow_sequencer(
    handle: SequencerHandle,
    store: Option<Store>,
    state: MarketDataState,
) {
    follow_sequencer_with(
        handle,
        store,
        state,
        flowex_bus::follow::SUBSCRIPTION_CAPACITY,
    )
    .await
}

/// [`follow_sequencer`] with a subscription of `capacity` batches (tests
/// make it lag with a small one).
pub async fn follow_sequencer_with(
    handle: SequencerHandle,
    store: Option<Store>,
    state: MarketDataState,
    capacity: usize,
) {
    // The view starts from snapshots, never from the journal: catch-up
    // has nothing to do, the directory is only for the source's shape.
    let journal_dir = std::path::PathBuf::new();
    let source = Source::Sequencer {
        handle,
        journal_dir,
        capacity,
    };
    run(source, store, state, Snapshots::Engine).await
}

/// `flowex serve market-data`: a snapshot from trading, then the Redis
/// stream from the next seq, for ever; starts over at a gap.
pub async fn follow_stream(
    engine: EngineClient,
    bus: BusConfig,
    store: Option<Store>,
    state: MarketDataState,
) {
    run(Source::Stream(bus), store, state, Snapshots::Remote(engine)).await
}
