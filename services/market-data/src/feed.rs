//! How the view starts and keeps up, gap-free.
//!
//! Start (and restart after any gap or lag): take a [`MarketSnapshot`]
//! (books with their update ids, configs, assets, exact at seq `S`), add the
//! trade history from SQL (trades of the last [`HISTORY_DAYS`] days, at
//! most [`HISTORY_ROWS`] per market, projected from seqs up to `S`: the
//! start waits, up to [`PROJECTOR_WAIT`], for the order projector to reach
//! `S`), then apply every event record after `S`, in order.
//!
//! - In one process ([`follow_sequencer`]): subscribe to the sequencer
//!   first, then query the snapshot on the engine thread, so every batch
//!   after `S` is in the subscription; records up to `S` are skipped. A
//!   subscription dropped for lagging starts over.
//! - Distributed ([`follow_stream`]): the snapshot comes from trading's
//!   `GET /internal/market-snapshot`, the records from the Redis stream
//!   after `S` ([`Consumer`]); a gap in the stream starts over.

use crate::view::View;
use crate::MarketDataState;
use flowex_bus::wire::{self, MarketSnapshot};
use flowex_bus::{BusConfig, Consumer, EventRecord};
use flowex_http::InternalToken;
use flowex_sequencer::{SequencerHandle, SubscriptionEnded};
use flowex_store::Store;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Days of trade history read from SQL at start.
pub const HISTORY_DAYS: i64 = 7;
/// Most trades per market read from SQL at start (the newest).
pub const HISTORY_ROWS: u32 = 200_000;
/// How long the start waits for the order projector to reach the snapshot.
pub const PROJECTOR_WAIT: Duration = Duration::from_secs(30);
/// Batches of room in the sequencer subscription.
const SUBSCRIPTION_CAPACITY: usize = 4096;
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Applies `record` if it is the next one; `false` on a gap (start over).
fn apply_next(state: &MarketDataState, record: &EventRecord) -> bool {
    let mut view = state.write();
    if record.seq <= view.seq() {
        return true;
    }
    if record.seq != view.seq() + 1 {
        tracing::warn!(
            expected = view.seq() + 1,
            found = record.seq,
            "market-data: gap in the events; starting over from a snapshot"
        );
        state.feed().gaps.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    view.apply(record);
    drop(view);
    let feed = state.feed();
    feed.last_seq.store(record.seq, Ordering::Release);
    feed.records.fetch_add(1, Ordering::Relaxed);
    true
}

fn installed(state: &MarketDataState, view: View) {
    let seq = view.seq();
    let first = !std::mem::replace(&mut *state.write(), view).started();
    if !first {
        state.feed().restarts.fetch_add(1, Ordering::Relaxed);
    }
    state.feed().last_seq.store(seq, Ordering::Release);
    metrics::gauge!("flowex_market_data_last_seq").set(seq as f64);
    tracing::info!(seq, "market-data: view started from a snapshot");
}

/// `flowex up`: follows the sequencer in process until it stops.
pub async fn follow_sequencer(
    handle: SequencerHandle,
    store: Option<Store>,
    state: MarketDataState,
) {
    follow_sequencer_with(handle, store, state, SUBSCRIPTION_CAPACITY).await
}

/// [`follow_sequencer`] with a subscription of `capacity` batches (tests
/// make it lag with a small one).
pub async fn follow_sequencer_with(
    handle: SequencerHandle,
    store: Option<Store>,
    state: MarketDataState,
    capacity: usize,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // Subscribe first: every batch after the snapshot is then in the subscription.
        let subscribed = handle.subscribe_with_capacity(capacity);
        let snapshot = match subscribed {
            Ok(sub) => handle.query(MarketSnapshot::of).await.map(|s| (sub, s)),
            Err(e) => Err(e),
        };
        let (mut sub, snap) = match snapshot {
            Ok(x) => x,
            Err(flowex_sequencer::SequencerError::Stopped) => return,
            Err(e) => {
                tracing::warn!(error = %e, "market-data: cannot start from the engine");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        installed(&state, build(&snap, store.as_ref()).await);
        state.feed().connected.store(true, Ordering::Release);
        backoff = Duration::from_millis(100);
        'follow: loop {
            match sub.recv().await {
                Ok(batch) => {
                    for record in EventRecord::from_batch(&batch) {
                        if !apply_next(&state, &record) {
                            break 'follow;
                        }
                    }
                    metrics::gauge!("flowex_market_data_last_seq")
                        .set(state.feed().last_seq() as f64);
                }
                Err(SubscriptionEnded::Lagged) => {
                    tracing::warn!("market-data: fell behind the sequencer; starting over");
                    break 'follow;
                }
                Err(SubscriptionEnded::Stopped) => {
                    state.feed().connected.store(false, Ordering::Release);
                    return;
                }
            }
        }
        state.feed().connected.store(false, Ordering::Release);
    }
}

/// Where the distributed follower gets its snapshot.
#[derive(Clone)]
pub struct SnapshotSource {
    base: String,
    token: InternalToken,
    client: reqwest::Client,
}

impl SnapshotSource {
    /// Trading's internal API at `base_url`, called with the internal token.
    pub fn new(base_url: &str, token: InternalToken, timeout: Duration) -> SnapshotSource {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .unwrap_or_default();
        SnapshotSource {
            base: base_url.trim_end_matches('/').to_string(),
            token,
            client,
        }
    }

    async fn fetch(&self) -> Result<MarketSnapshot, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        self.token.stamp(&mut headers, None);
        let res = self
            .client
            .get(format!("{}{}", self.base, wire::MARKET_SNAPSHOT_PATH))
            .headers(headers)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("undecodable snapshot: {e}"))
    }
}

/// `flowex serve market-data`: a snapshot from trading, then the Redis
/// stream from the next seq, for ever; starts over at a gap.
pub async fn follow_stream(
    source: SnapshotSource,
    bus: BusConfig,
    store: Option<Store>,
    state: MarketDataState,
) {
    let mut backoff = Duration::from_millis(100);
    let mut retry = |why: String| {
        tracing::warn!(error = %why, "market-data feed");
        state.feed().connected.store(false, Ordering::Release);
        let wait = backoff;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        tokio::time::sleep(wait)
    };
    loop {
        let snap = match source.fetch().await {
            Ok(s) => s,
            Err(e) => {
                retry(format!("fetching the market snapshot: {e}")).await;
                continue;
            }
        };
        installed(&state, build(&snap, store.as_ref()).await);
        // Reconnects resume after the last record applied; a gap starts over.
        'stream: loop {
            let after = state.read().seq();
            let mut consumer = match Consumer::connect(&bus, after, Duration::from_secs(1)).await {
                Ok(c) => c,
                Err(e) => {
                    retry(format!("cannot reach Redis: {e}")).await;
                    continue 'stream;
                }
            };
            loop {
                match consumer.poll().await {
                    Ok(polled) => {
                        state.feed().connected.store(true, Ordering::Release);
                        for record in &polled.records {
                            if !apply_next(&state, record) {
                                break 'stream;
                            }
                        }
                        metrics::gauge!("flowex_market_data_last_seq")
                            .set(state.feed().last_seq() as f64);
                    }
                    Err(e) => {
                        retry(format!("reading the stream: {e}")).await;
                        continue 'stream;
                    }
                }
            }
        }
        state.feed().connected.store(false, Ordering::Release);
    }
}
