//! One status of a follower, for `/health/events`, readiness checks and
//! read-your-writes waits.

use crate::EventRecord;
use flowex_types::Event;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// How far a follower got. Shared (`Arc`) between the follower, which
/// writes it, and the service's probes and handlers, which read it.
#[derive(Debug)]
pub struct FollowStatus {
    name: &'static str,
    last_seq: watch::Sender<u64>,
    records: AtomicU64,
    batches: AtomicU64,
    gaps: AtomicU64,
    lags: AtomicU64,
    starts: AtomicU64,
    connected: AtomicBool,
    deposited: AtomicU64,
    withdrawn: AtomicU64,
    trades: AtomicU64,
    /// Why the follower stopped for good (a gap it may not skip).
    halted: Mutex<Option<String>>,
    /// The last transient failure (cleared by the next success).
    error: Mutex<Option<String>>,
}

/// The `/health/events` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowReport {
    /// The projection's name.
    pub projection: &'static str,
    /// The last seq applied (0: none yet).
    pub last_seq: u64,
    /// Records applied since this process started.
    pub records: u64,
    /// Batches (transactions, for SQL projections) they were applied in.
    pub batches: u64,
    /// Gaps seen in the event stream.
    pub gaps: u64,
    /// Times the in-process subscription fell behind and was dropped.
    pub lags: u64,
    /// Times the follower started over (a gap, a lag, a failure), the
    /// first start not counted.
    pub restarts: u64,
    /// Started and the last read of the events succeeded.
    pub connected: bool,
    /// Money movements and fills among the records applied since start.
    pub events: EventTally,
    /// Why it stopped for good, if it did.
    pub halted: Option<String>,
    /// The last transient failure, if the follower has not recovered yet.
    pub error: Option<String>,
}

/// Deposits, withdrawals and trades among the records a follower applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventTally {
    pub deposited: u64,
    pub withdrawn: u64,
    pub trades: u64,
}

impl EventTally {
    /// Counts the events of `records`.
    pub fn of(records: &[EventRecord]) -> EventTally {
        let mut t = EventTally::default();
        for e in records.iter().flat_map(|r| &r.events) {
            match e {
                Event::Deposited { .. } => t.deposited += 1,
                Event::Withdrawn { .. } | Event::WithdrawFinalized { .. } => t.withdrawn += 1,
                Event::Trade(_) => t.trades += 1,
                _ => {}
            }
        }
        t
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FollowStatus {
    /// A status at seq `at` (a projection's stored offset, or 0).
    pub fn new(name: &'static str, at: u64) -> FollowStatus {
        FollowStatus {
            name,
            last_seq: watch::channel(at).0,
            records: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            lags: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            deposited: AtomicU64::new(0),
            withdrawn: AtomicU64::new(0),
            trades: AtomicU64::new(0),
            halted: Mutex::new(None),
            error: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The last seq applied (and, for SQL projections, committed).
    pub fn last_seq(&self) -> u64 {
        *self.last_seq.borrow()
    }

    /// Records applied since start.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Gaps seen since start.
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }

    /// Times the follower started over, the first start not counted.
    pub fn restarts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Whether the projection has started (at least once).
    pub fn started(&self) -> bool {
        self.starts.load(Ordering::Relaxed) > 0
    }

    /// Started and the last read of the events succeeded.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Why the follower stopped for good, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// Waits until the projection covers `seq`, at most `timeout`; whether it does.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.last_seq.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The readiness verdict: connected and not stopped at a gap.
    pub fn ready(&self) -> Result<(), String> {
        if let Some(why) = self.halted() {
            return Err(why);
        }
        if !self.connected() {
            let error = lock(&self.error).clone();
            return Err(error.unwrap_or_else(|| format!("the {} feed is not connected", self.name)));
        }
        Ok(())
    }

    pub fn report(&self) -> FollowReport {
        FollowReport {
            projection: self.name,
            last_seq: self.last_seq(),
            records: self.records(),
            batches: self.batches.load(Ordering::Relaxed),
            gaps: self.gaps(),
            lags: self.lags.load(Ordering::Relaxed),
            restarts: self.restarts(),
            connected: self.connected(),
            events: EventTally {
                deposited: self.deposited.load(Ordering::Relaxed),
                withdrawn: self.withdrawn.load(Ordering::Relaxed),
                trades: self.trades.load(Ordering::Relaxed),
            },
            halted: self.halted(),
            error: lock(&self.error).clone(),
        }
    }

    /// [`report`](Self::report) as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.report()).unwrap_or_default()
    }

    pub(crate) fn started_at(&self, seq: u64) {
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.last_seq.send_replace(seq);
        metrics::gauge!("flowex_projection_last_seq", "projection" => self.name).set(seq as f64);
    }

    pub(crate) fn applied(&self, batch: &[EventRecord]) {
        let Some(last) = batch.last().map(|r| r.seq) else {
            return;
        };
        let tally = EventTally::of(batch);
        self.deposited.fetch_add(tally.deposited, Ordering::Relaxed);
        self.withdrawn.fetch_add(tally.withdrawn, Ordering::Relaxed);
        self.trades.fetch_add(tally.trades, Ordering::Relaxed);
        self.records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.last_seq.send_replace(last);
        metrics::gauge!("flowex_projection_last_seq", "projection" => self.name).set(last as f64);
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Release);
        if up {
            *lock(&self.error) = None;
        }
    }

    pub(crate) fn failed(&self, why: String) {
        self.connected.store(false, Ordering::Release);
        *lock(&self.error) = Some(why);
    }

    pub(crate) fn gap(&self) {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("flowex_projection_gaps_total", "projection" => self.name).increment(1);
    }

    pub(crate) fn lagged(&self) {
        self.lags.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn halt(&self, why: String) {
        self.connected.store(false, Ordering::Release);
        *lock(&self.halted) = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_and_waits() {
        let s = FollowStatus::new("t", 3);
        assert_eq!(s.last_seq(), 3);
        assert!(!s.started() && s.ready().is_err());
        s.started_at(3);
        s.set_connected(true);
        assert!(s.ready().is_ok());
        assert!(s.wait_for(3, Duration::ZERO).await);
        assert!(!s.wait_for(4, Duration::from_millis(1)).await);
        let record = |seq| EventRecord {
            seq,
            timestamp_ns: 0,
            events: vec![],
        };
        s.applied(&[record(4), record(5)]);
        assert!(s.wait_for(5, Duration::ZERO).await);
        s.started_at(5);
        let r = s.report();
        assert_eq!((r.last_seq, r.records, r.batches, r.restarts), (5, 2, 1, 1));
        s.halt("gap".into());
        assert_eq!(s.ready().unwrap_err(), "gap");
    }
}
