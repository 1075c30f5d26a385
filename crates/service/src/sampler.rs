//! Metrics read by polling, once a second: the sequencer's counters
//! ([`sequencer`], where trading runs), the database pool, a ping and the
//! stored projection offsets ([`database`], started by
//! [`crate::process::open_store`] for every service with a database, and
//! by `flowex up`); the wallet's books are sampled by
//! `flowex_wallet::sampler` on [`every_second`]. Each sampler is a task
//! that ends when its process does; a failed read is logged and retried
//! at the next tick, never fatal.

use flowex_sequencer::SequencerHandle;
use flowex_store::Store;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EVERY: Duration = Duration::from_secs(1);

/// The projections that store their offset: trading's order history and
/// the wallet's ledger (`flowex_trading::projector::PROJECTOR`,
/// `flowex_wallet::ledger::PROJECTOR`; this crate sits below both).
const PROJECTIONS: [&str; 2] = ["orders", "wallet"];

fn now_unix() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The sequencer's `Stats` (trading, `flowex up`).
pub fn sequencer(handle: SequencerHandle) {
    tokio::spawn(async move {
        let mut previous = flowex_metrics::SequencerSample::default();
        loop {
            let s = handle.stats();
            let sample = flowex_metrics::SequencerSample {
                durable_seq: s.durable_seq,
                commands: s.commands,
                batches: s.batches,
                overloaded: s.overloaded,
                snapshots: s.snapshots,
                last_snapshot_pause: Duration::from_nanos(s.last_snapshot_pause_ns),
                lagged_subscribers: s.lagged_subscribers,
                apply: Duration::from_nanos(s.apply_ns),
                journal_write: Duration::from_nanos(s.journal_write_ns),
                queue_depth: s.queue_depth,
                queue_capacity: s.queue_capacity,
                dequeued: s.dequeued,
                queue_wait: Duration::from_nanos(s.queue_wait_ns),
                journal_failures: s.journal_failures,
                journal_refused: s.journal_refused,
                journal_writable: s.journal_writable,
            };
            flowex_metrics::sequencer(&sample, &previous, now_unix().as_secs_f64());
            previous = sample;
            tokio::time::sleep(EVERY).await;
        }
    });
}

/// The database pool, a ping's round trip and the stored projection offsets.
pub fn database(store: Store) {
    every_second(store, |store| async move {
        let started = Instant::now();
        store.ping().await?;
        let (in_use, idle) = store.pool_connections();
        flowex_metrics::db_pool(in_use, idle, Some(started.elapsed()));
        for name in PROJECTIONS {
            flowex_metrics::projection(name, store.projector_offset(name).await?);
        }
        Ok(())
    });
}

/// Runs `sample` once a second in a task of its own; a failed sample is
/// logged and the next one tried.
pub fn every_second<F, Fut>(store: Store, sample: F)
where
    F: Fn(Store) -> Fut + Send + 'static,
    Fut: Future<Output = flowex_store::Result<()>> + Send,
{
    tokio::spawn(async move {
        loop {
            if let Err(e) = sample(store.clone()).await {
                tracing::warn!(error = %e, "metrics sampler: reading the database failed");
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
