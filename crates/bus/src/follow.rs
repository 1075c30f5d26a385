//! Following the sequencer in the same process, exactly once per seq: the
//! loop that every in-process projection (trading's order history, the
//! wallet's ledger) shares.
//!
//! [`follow_sequencer`] runs cycles until the sequencer stops. Every cycle
//! subscribes to the sequencer first, then reads the projection's stored
//! offset and the durable seq; the commands in between are recomputed from
//! the journal by [`crate::regenerate`] (nearest snapshot + replay through
//! a scratch engine: the engine is deterministic, so these are exactly the
//! events the live engine produced), then the live batches follow, skipping
//! what catch-up already covered. A restart — or a subscription dropped for
//! lagging — therefore resumes right after the last committed seq, with no
//! gap and no duplicate, provided [`Projection::apply`] stores each seq
//! together with its offset (e.g. `flowex_store::Store::begin_projection`).

use crate::EventRecord;
use flowex_sequencer::{SequencerError, SequencerHandle, SubscriptionEnded};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// What a projection does with the event stream.
pub trait Projection: Send + Sync + 'static {
    /// The last seq applied and stored (0: none).
    fn offset(&self) -> impl Future<Output = Result<u64, String>> + Send;

    /// Applies one command's events once (a seq at or below the stored
    /// offset must be a no-op).
    fn apply(&self, record: &EventRecord) -> impl Future<Output = Result<(), String>> + Send;
}

/// Where and how to follow.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// For the logs.
    pub name: &'static str,
    /// The sequencer's journal directory (catch-up reads it).
    pub journal_dir: PathBuf,
    /// Batches of room in the subscription.
    pub capacity: usize,
}

enum Stop {
    Stopped,
    Retry(String),
}

/// Follows `handle` into `projection` until the sequencer stops; retries
/// with backoff (from the stored offset) after any failure.
pub async fn follow_sequencer<P: Projection>(
    handle: SequencerHandle,
    cfg: FollowConfig,
    projection: P,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match cycle(&handle, &cfg, &projection).await {
            Stop::Stopped => {
                tracing::info!(
                    projection = cfg.name,
                    "the sequencer stopped; projection done"
                );
                return;
            }
            Stop::Retry(why) => {
                tracing::warn!(projection = cfg.name, error = %why, "projection: retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn cycle<P: Projection>(handle: &SequencerHandle, cfg: &FollowConfig, p: &P) -> Stop {
    // Subscribe first: every batch durable after this arrives here,
    // every one before it is at or below `durable`.
    let mut sub = match handle.subscribe_with_capacity(cfg.capacity) {
        Ok(s) => s,
        Err(SequencerError::Stopped) => return Stop::Stopped,
        Err(e) => return Stop::Retry(format!("subscribing: {e}")),
    };
    let mut last = match p.offset().await {
        Ok(o) => o,
        Err(e) => return Stop::Retry(format!("reading the offset: {e}")),
    };
    let durable = handle.stats().durable_seq;
    if last < durable {
        tracing::info!(
            projection = cfg.name,
            from = last + 1,
            to = durable,
            "catching up from the journal"
        );
        match catch_up(cfg, p, last + 1, durable).await {
            Ok(l) => last = l,
            Err(e) => return Stop::Retry(e),
        }
    }
    loop {
        let batch = match sub.recv().await {
            Ok(b) => b,
            Err(SubscriptionEnded::Stopped) => return Stop::Stopped,
            Err(SubscriptionEnded::Lagged) => {
                return Stop::Retry("the subscription lagged; catching up".into())
            }
        };
        for record in EventRecord::from_batch(&batch) {
            if record.seq <= last {
                continue;
            }
            if let Err(e) = p.apply(&record).await {
                return Stop::Retry(format!("seq {}: {e}", record.seq));
            }
            last = record.seq;
        }
    }
}

/// Recomputes and applies the records `from..=to`; returns the last seq applied.
async fn catch_up<P: Projection>(
    cfg: &FollowConfig,
    p: &P,
    from: u64,
    to: u64,
) -> Result<u64, String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<EventRecord>(1024);
    let dir = cfg.journal_dir.clone();
    let producer = tokio::task::spawn_blocking(move || {
        crate::regenerate(&dir, from, to, |r| tx.blocking_send(r).is_ok())
    });
    let mut last = from - 1;
    while let Some(record) = rx.recv().await {
        if let Err(e) = p.apply(&record).await {
            drop(rx);
            let _ = producer.await;
            return Err(format!("seq {}: {e}", record.seq));
        }
        last = record.seq;
    }
    match producer.await {
        Ok(Ok(_)) if last == to => Ok(last),
        Ok(Ok(_)) => Err(format!("catch-up stopped at seq {last} before {to}")),
        Ok(Err(e)) => Err(format!("regenerating events: {e}")),
        Err(e) => Err(format!("regenerating events: {e}")),
    }
}
