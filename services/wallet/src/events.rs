//! The wallet's feed of the trading events (distributed mode): the frame
//! of the ledger projection.
//!
//! [`run_feed`] follows the Redis stream ([`flowex_bus::Consumer`]) from the
//! wallet's stored projector offset ([`Store::projector_offset`] of
//! [`PROJECTOR`]) and applies each record in its own projection transaction
//! ([`Store::begin_projection`]), which also advances the offset: a restart
//! resumes right after the last committed seq, with no gap and no duplicate
//! (a record at or below the offset is skipped by the store, not applied
//! twice). A record's transaction writes its ledger entries and balances
//! ([`crate::ledger::write`]) and the offset; [`FeedStatus`] counts.
//!
//! A gap (the stream was trimmed past the offset, or history was lost) is
//! never skipped: the feed stops before it, reports it at `/health/events`
//! and in the readiness check, and counts it; the offset stays at the last
//! seq applied, for an operator to rebuild from the journal.
//!
//! In `flowex up` the wallet runs in the trading process and follows the
//! sequencer instead ([`crate::ledger::start_local`]).

use crate::ledger::Markets;
use crate::CommandSink;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flowex_bus::{BusConfig, Consumer, EventRecord, Gap};
use flowex_store::{ProjectionTx, Store, StoreError};
use flowex_types::Event;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The wallet's name in `projector_offsets`: the ledger's.
pub const PROJECTOR: &str = crate::ledger::PROJECTOR;

/// How far the wallet's feed got.
#[derive(Debug, Default)]
pub struct FeedStatus {
    last_seq: AtomicU64,
    records: AtomicU64,
    gaps: AtomicU64,
    connected: AtomicBool,
    deposited: AtomicU64,
    withdrawn: AtomicU64,
    trades: AtomicU64,
    /// Why the feed stopped for good (a gap), or the last transient error.
    halted: Mutex<Option<String>>,
    error: Mutex<Option<String>>,
}

impl FeedStatus {
    /// The last seq applied and stored (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Records applied since this process started.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Gaps seen since start.
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }

    /// Whether the last read of the stream succeeded.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Why the feed stopped (a gap), if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// The readiness verdict: connected and not stopped at a gap.
    pub fn ready(&self) -> Result<(), String> {
        if let Some(why) = self.halted() {
            return Err(why);
        }
        if !self.connected() {
            let error = lock(&self.error).clone();
            return Err(error.unwrap_or_else(|| "the event feed is not connected".into()));
        }
        Ok(())
    }

    /// The `/health/events` body.
    pub fn to_json(&self) -> Value {
        json!({
            "last_seq": self.last_seq(),
            "records": self.records(),
            "gaps": self.gaps(),
            "connected": self.connected(),
            "events": {
                "deposited": self.deposited.load(Ordering::Relaxed),
                "withdrawn": self.withdrawn.load(Ordering::Relaxed),
                "trades": self.trades.load(Ordering::Relaxed),
            },
            "halted": self.halted(),
        })
    }

    fn set_error(&self, e: Option<String>) {
        *lock(&self.error) = e;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one record holds, of what the wallet cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub deposited: u64,
    pub withdrawn: u64,
    pub trades: u64,
}

impl Tally {
    /// Counts `events`.
    pub fn of(events: &[Event]) -> Tally {
        let mut t = Tally::default();
        for e in events {
            match e {
                Event::Deposited { .. } => t.deposited += 1,
                Event::Withdrawn { .. } => t.withdrawn += 1,
                Event::Trade(_) => t.trades += 1,
                _ => {}
            }
        }
        t
    }
}

/// `/health/events`: the feed's progress (open, like the other probes).
pub fn events_router(status: Arc<FeedStatus>) -> Router {
    Router::new()
        .route("/health/events", get(events))
        .with_state(status)
}

async fn events(State(status): State<Arc<FeedStatus>>) -> Json<Value> {
    Json(status.to_json())
}

/// The wallet's writes for one record, inside the transaction that also
/// stores the offset `tx.last_seq()`.
async fn apply_record(
    tx: &mut ProjectionTx,
    record: &EventRecord,
    markets: &Markets,
) -> Result<Tally, String> {
    crate::ledger::write(tx, record, markets).await?;
    Ok(Tally::of(&record.events))
}

/// Why one pass of the feed ended.
enum Stop {
    /// For good: a gap, reported.
    Gap(String),
    /// Redis or the database failed: retry from the stored offset.
    Retry(String),
}

/// Follows the stream for ever from the stored offset, applying every
/// record once (see the module documentation); reconnects with backoff,
/// always from the offset in the store. Returns only at a gap.
/// `sink` answers for the markets the ledger needs.
pub async fn run_feed(store: Store, bus: BusConfig, status: Arc<FeedStatus>, sink: CommandSink) {
    let markets = Markets::new(sink);
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow(&store, &bus, &status, &markets, &mut backoff).await {
            Stop::Gap(why) => {
                tracing::error!(%why, "wallet feed stopped at a gap in the event stream");
                status.connected.store(false, Ordering::Release);
                *lock(&status.halted) = Some(why);
                return;
            }
            Stop::Retry(why) => {
                tracing::warn!(error = %why, "wallet feed: retrying");
                status.connected.store(false, Ordering::Release);
                status.set_error(Some(why));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn follow(
    store: &Store,
    bus: &BusConfig,
    status: &FeedStatus,
    markets: &Markets,
    backoff: &mut Duration,
) -> Stop {
    let offset = match store.projector_offset(PROJECTOR).await {
        Ok(o) => o,
        Err(e) => return Stop::Retry(format!("reading the wallet's offset: {e}")),
    };
    status.last_seq.store(offset, Ordering::Release);
    let mut consumer = match Consumer::connect(bus, offset, Duration::from_secs(1)).await {
        Ok(c) => c,
        Err(e) => return Stop::Retry(format!("cannot reach Redis: {e}")),
    };
    tracing::info!(after_seq = offset, "wallet feed following the event stream");
    loop {
        let polled = match consumer.poll().await {
            Ok(p) => p,
            Err(e) => return Stop::Retry(format!("reading the stream: {e}")),
        };
        status.connected.store(true, Ordering::Release);
        status.set_error(None);
        *backoff = Duration::from_millis(100);
        for record in &polled.records {
            if let Some(gap) = polled.gaps.iter().find(|g| g.found == record.seq) {
                status.gaps.fetch_add(1, Ordering::Relaxed);
                return Stop::Gap(gap_message(gap));
            }
            let mut tx = match store
                .begin_projection(PROJECTOR, record.seq..=record.seq)
                .await
            {
                Ok(Some(tx)) => tx,
                // Applied already (another instance, or a re-read): not again.
                Ok(None) => continue,
                Err(StoreError::ProjectorGap {
                    last_applied,
                    first,
                    ..
                }) => {
                    status.gaps.fetch_add(1, Ordering::Relaxed);
                    return Stop::Gap(gap_message(&Gap {
                        expected: last_applied + 1,
                        found: first,
                    }));
                }
                Err(e) => return Stop::Retry(format!("seq {}: {e}", record.seq)),
            };
            let tally = match apply_record(&mut tx, record, markets).await {
                Ok(t) => t,
                Err(e) => return Stop::Retry(format!("seq {}: {e}", record.seq)),
            };
            if let Err(e) = tx.commit().await {
                return Stop::Retry(format!("seq {}: {e}", record.seq));
            }
            status.last_seq.store(record.seq, Ordering::Release);
            status.records.fetch_add(1, Ordering::Relaxed);
            status
                .deposited
                .fetch_add(tally.deposited, Ordering::Relaxed);
            status
                .withdrawn
                .fetch_add(tally.withdrawn, Ordering::Relaxed);
            status.trades.fetch_add(tally.trades, Ordering::Relaxed);
            metrics::gauge!("flowex_wallet_last_seq").set(record.seq as f64);
        }
    }
}

fn gap_message(gap: &Gap) -> String {
    format!(
        "gap in the event stream: seqs {}..{} are missing; the wallet stopped after seq {} \
         (rebuild its projection from the journal)",
        gap.expected,
        gap.found,
        gap.expected - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_types::{AssetId, IdemKey, UserId};

    #[test]
    fn tallies_and_status() {
        let key = IdemKey::new("k").unwrap();
        let events = [
            Event::Deposited {
                key,
                user: UserId(1),
                asset: AssetId(1),
                amount: 5,
            },
            Event::Withdrawn {
                key,
                user: UserId(1),
                asset: AssetId(1),
                amount: 2,
            },
        ];
        assert_eq!(
            Tally::of(&events),
            Tally {
                deposited: 1,
                withdrawn: 1,
                trades: 0
            }
        );
        let status = FeedStatus::default();
        assert!(status.ready().is_err(), "not connected yet");
        status.connected.store(true, Ordering::Release);
        assert!(status.ready().is_ok());
        *lock(&status.halted) = Some(gap_message(&Gap {
            expected: 3,
            found: 7,
        }));
        let why = status.ready().unwrap_err();
        assert!(why.contains("3..7") && why.contains("after seq 2"), "{why}");
        assert_eq!(status.to_json()["last_seq"], 0);
    }
}
