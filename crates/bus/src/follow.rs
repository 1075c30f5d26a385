//! The one follower every projection runs on: trading's order history,
//! the wallet's ledger, market data's view (and, next, the user data
//! streams).
//!
//! A [`Follower`] reads the event records of one [`Source`] — the
//! in-process sequencer (with its journal for catch-up), the Redis stream,
//! or the journal alone up to a seq (rebuilds) — and hands them, in seq
//! order and in batches of consecutive records, to one [`Projection`]:
//!
//! 1. *Start.* The follower asks the projection where it stands
//!    ([`Projection::start`]): after its stored offset ([`Start::Offset`],
//!    SQL projections) or at the seq of a snapshot it has just installed
//!    ([`Start::Snapshot`], in-memory views). In one process it subscribes
//!    to the sequencer first, so every batch durable after the start is in
//!    the subscription; what lies between the start and the durable seq is
//!    recomputed from the journal ([`crate::regenerate`]: snapshot +
//!    replay; the engine is deterministic, so these are the events the
//!    live engine produced).
//! 2. *Follow.* Records at or below the projection's seq are skipped; each
//!    batch handed over starts right after it ([`Projection::apply`]
//!    stores the batch with its offset, in one transaction for SQL).
//! 3. *Gaps and lags, in this one place.* A seq that does not follow the
//!    previous one (the stream was trimmed past the projection, the journal
//!    pruned) is a gap; a subscription dropped for falling behind is a lag. Both
//!    end the cycle and the follower starts over at step 1 — except that a
//!    projection resuming from an offset cannot be rebuilt by starting
//!    over at a gap: the follower then stops before the gap and reports it
//!    ([`FollowStatus::halted`]) instead of moving past it. Any other
//!    failure (Redis, the database) starts over after a backoff.
//!
//! [`FollowStatus`] is the one status of a follower: `/health/events`,
//! readiness, and read-your-writes waits ([`FollowStatus::wait_for`]).

mod status;

pub use status::{EventTally, FollowReport, FollowStatus};

use crate::{BusConfig, BusError, Consumer, EventRecord, Gap};
use flowex_engine::Engine;
use flowex_sequencer::{SequencerError, SequencerHandle, SubscriptionEnded};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Most records handed to one [`Projection::apply`].
pub const MAX_BATCH: usize = 1024;
/// Batches of room in an in-process subscription, by default.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;
/// How long one read of the Redis stream waits for news.
const STREAM_BLOCK: Duration = Duration::from_secs(1);

/// Where a projection stands when it (re)starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// After its stored offset (0: nothing yet). A gap after it halts.
    Offset(u64),
    /// At the seq of a snapshot it has just installed. A gap starts over
    /// from a new snapshot.
    Snapshot(u64),
}

impl Start {
    pub fn seq(self) -> u64 {
        match self {
            Start::Offset(s) | Start::Snapshot(s) => s,
        }
    }
}

/// What a projection may start from, depending on the source.
#[derive(Clone)]
pub struct StartContext {
    sequencer: Option<SequencerHandle>,
    journal: Option<PathBuf>,
}

impl StartContext {
    /// The in-process sequencer (one consistent engine query is a snapshot
    /// exact at a seq, since the follower has already subscribed).
    pub fn sequencer(&self) -> Option<&SequencerHandle> {
        self.sequencer.as_ref()
    }

    /// The engine exactly after `seq`, rebuilt from the journal (snapshot +
    /// replay) when the source has one; `None` when it has not (the Redis
    /// stream).
    pub async fn engine_at(&self, seq: u64) -> Option<Result<Engine, BusError>> {
        let dir = self.journal.clone()?;
        let rebuilt = tokio::task::spawn_blocking(move || crate::engine_at(&dir, seq)).await;
        Some(rebuilt.unwrap_or_else(|e| Err(BusError::Regenerate(e.to_string()))))
    }
}

/// What a projection does with the event stream: one implementation per
/// projection, on the one [`Follower`].
pub trait Projection: Send + 'static {
    /// What can go wrong applying (the store's error, for SQL).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Where the projection stands, read (or installed) anew at every
    /// (re)start: its stored offset, or a snapshot it takes now.
    fn start(
        &mut self,
        ctx: &StartContext,
    ) -> impl Future<Output = Result<Start, Self::Error>> + Send;

    /// Applies `batch` — consecutive records, the first one right after
    /// the projection's seq — once; a SQL projection writes them and the
    /// new offset (the last record's seq) in one transaction.
    fn apply(
        &mut self,
        batch: &[EventRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Where the records come from.
#[derive(Clone)]
pub enum Source {
    /// The sequencer in this process; catch-up reads its journal.
    Sequencer {
        handle: SequencerHandle,
        journal_dir: PathBuf,
        /// Batches of room in the subscription ([`SUBSCRIPTION_CAPACITY`]).
        capacity: usize,
    },
    /// The Redis stream (distributed mode).
    Stream(BusConfig),
    /// The journal alone, up to seq `to` (rebuilding a projection); the
    /// follower ends there.
    Journal { dir: PathBuf, to: u64 },
}

impl Source {
    /// The in-process sequencer with its journal and the default capacity.
    pub fn sequencer(handle: SequencerHandle, journal_dir: PathBuf) -> Source {
        Source::Sequencer {
            handle,
            journal_dir,
            capacity: SUBSCRIPTION_CAPACITY,
        }
    }
}

/// Why [`Follower::run`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The sequencer stopped.
    Stopped,
    /// A [`Source::Journal`] follower reached its last seq.
    Done,
    /// Stopped before a gap it may not skip (reported in the status).
    Halted(String),
}

/// Why one cycle of the follower ended early.
#[derive(Debug, thiserror::Error)]
pub enum FollowError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Projection(E),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("sequencer: {0}")]
    Sequencer(#[from] SequencerError),
    #[error("the subscription fell behind the sequencer")]
    Lagged,
    #[error("gap in the events: seqs {}..{} are missing", .0.expected, .0.found)]
    Gap(Gap),
}

/// How a cycle ended when nothing failed.
enum CycleEnd {
    Stopped,
    Done,
}

/// One projection on one source, with its status.
pub struct Follower<P: Projection> {
    source: Source,
    projection: P,
    status: Arc<FollowStatus>,
    /// How the projection last started (decides what a gap does).
    start: Start,
    /// Most records per [`Projection::apply`].
    max_batch: usize,
}

impl<P: Projection> Follower<P> {
    pub fn new(source: Source, projection: P, status: Arc<FollowStatus>) -> Follower<P> {
        Follower {
            source,
            projection,
            status,
            start: Start::Offset(0),
            max_batch: MAX_BATCH,
        }
    }

    /// Hands the projection at most `n` records at a time (1: one
    /// transaction per seq, as the benchmark's baseline does).
    pub fn with_max_batch(mut self, n: usize) -> Follower<P> {
        assert!(n > 0, "a batch holds at least one record");
        self.max_batch = n;
        self
    }

    pub fn status(&self) -> &Arc<FollowStatus> {
        &self.status
    }

    /// The projection (tests read it after a [`Source::Journal`] run).
    pub fn into_projection(self) -> P {
        self.projection
    }

    /// Follows until the sequencer stops, a journal source is done, or a
    /// gap halts it; starts over (with backoff after failures) otherwise.
    pub async fn run(&mut self) -> Ended {
        let name = self.status.name();
        let mut backoff = Duration::from_millis(100);
        loop {
            let before = self.status.records();
            let failure = match self.cycle().await {
                Ok(CycleEnd::Stopped) => {
                    self.status.set_connected(false);
                    tracing::info!(projection = name, "the sequencer stopped; follower done");
                    return Ended::Stopped;
                }
                Ok(CycleEnd::Done) => return Ended::Done,
                Err(e) => e,
            };
            if let FollowError::Gap(gap) = &failure {
                self.status.gap();
                if let Start::Offset(_) = self.start {
                    let why = halt_message(name, gap);
                    tracing::error!(projection = name, %why, "follower stopped at a gap");
                    self.status.halt(why.clone());
                    return Ended::Halted(why);
                }
            }
            if let FollowError::Lagged = failure {
                self.status.lagged();
            }
            if let FollowError::Bus(BusError::Redis(_)) = failure {
                metrics::counter!("flowex_redis_errors_total", "component" => "event_consumer")
                    .increment(1);
            }
            tracing::warn!(projection = name, error = %failure, "follower: starting over");
            self.status.failed(failure.to_string());
            if self.status.records() > before {
                backoff = Duration::from_millis(100);
            }
            if !matches!(failure, FollowError::Gap(_) | FollowError::Lagged) {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }

    async fn cycle(&mut self) -> Result<CycleEnd, FollowError<P::Error>> {
        match self.source.clone() {
            Source::Sequencer {
                handle,
                journal_dir,
                capacity,
            } => self.follow_sequencer(handle, journal_dir, capacity).await,
            Source::Stream(bus) => self.follow_stream(&bus).await,
            Source::Journal { dir, to } => {
                let ctx = StartContext {
                    sequencer: None,
                    journal: Some(dir.clone()),
                };
                let last = self.start(&ctx).await?;
                if last < to {
                    self.catch_up(dir, last + 1, to).await?;
                }
                Ok(CycleEnd::Done)
            }
        }
    }

    async fn start(&mut self, ctx: &StartContext) -> Result<u64, FollowError<P::Error>> {
        let start = self
            .projection
            .start(ctx)
            .await
            .map_err(FollowError::Projection)?;
        self.start = start;
        self.status.started_at(start.seq());
        Ok(start.seq())
    }

    async fn follow_sequencer(
        &mut self,
        handle: SequencerHandle,
        journal_dir: PathBuf,
        capacity: usize,
    ) -> Result<CycleEnd, FollowError<P::Error>> {
        // Subscribe first: every batch durable after this arrives here,
        // every one before it is at or below `durable`, read right after.
        let mut sub = match handle.subscribe_with_capacity(capacity) {
            Ok(s) => s,
            Err(SequencerError::Stopped) => return Ok(CycleEnd::Stopped),
            Err(e) => return Err(e.into()),
        };
        let durable = handle.stats().durable_seq;
        let ctx = StartContext {
            sequencer: Some(handle.clone()),
            journal: Some(journal_dir.clone()),
        };
        // A snapshot taken now is at or past `durable`: only a stored
        // offset can be behind it.
        let last = self.start(&ctx).await?;
        if last < durable {
            tracing::info!(
                projection = self.status.name(),
                from = last + 1,
                to = durable,
                "catching up from the journal"
            );
            self.catch_up(journal_dir, last + 1, durable).await?;
        }
        self.status.set_connected(true);
        loop {
            let batch = match sub.recv().await {
                Ok(b) => b,
                Err(SubscriptionEnded::Stopped) => return Ok(CycleEnd::Stopped),
                Err(SubscriptionEnded::Lagged) => return Err(FollowError::Lagged),
            };
            // Every batch already waiting goes into the same apply: under
            // load a projection writes one transaction for many of the
            // sequencer's (small) batches instead of one each.
            let mut records: Vec<EventRecord> = EventRecord::from_batch(&batch).collect();
            while records.len() < self.max_batch {
                let Some(more) = sub.try_recv() else { break };
                records.extend(EventRecord::from_batch(&more));
            }
            self.deliver(&records).await?;
        }
    }

    async fn follow_stream(&mut self, bus: &BusConfig) -> Result<CycleEnd, FollowError<P::Error>> {
        let ctx = StartContext {
            sequencer: None,
            journal: None,
        };
        let last = self.start(&ctx).await?;
        let mut consumer = Consumer::connect(bus, last, STREAM_BLOCK).await?;
        tracing::info!(
            projection = self.status.name(),
            after_seq = last,
            "following the event stream"
        );
        loop {
            let polled = consumer.poll().await?;
            self.status.set_connected(true);
            self.deliver(&polled.records).await?;
        }
    }

    /// Recomputes the records `from..=to` from the journal and applies them.
    async fn catch_up(
        &mut self,
        dir: PathBuf,
        from: u64,
        to: u64,
    ) -> Result<(), FollowError<P::Error>> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<EventRecord>(MAX_BATCH);
        let producer = tokio::task::spawn_blocking(move || {
            crate::regenerate(&dir, from, to, |r| tx.blocking_send(r).is_ok())
        });
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.deliver(&batch).await {
                drop(rx);
                let _ = producer.await;
                return Err(e);
            }
            batch.clear();
        }
        let regenerated = producer
            .await
            .unwrap_or_else(|e| Err(BusError::Regenerate(e.to_string())));
        regenerated?;
        let last = self.status.last_seq();
        if last < to {
            return Err(BusError::Regenerate(format!(
                "catch-up stopped at seq {last} before {to}"
            ))
            .into());
        }
        Ok(())
    }

    /// Hands the records after the projection's seq to it, in batches of
    /// consecutive seqs; a gap ends it (after the records before the gap).
    async fn deliver(&mut self, records: &[EventRecord]) -> Result<(), FollowError<P::Error>> {
        let mut last = self.status.last_seq();
        let fresh_from = records.partition_point(|r| r.seq <= last);
        let fresh = &records[fresh_from..];
        // The run of consecutive seqs right after `last`.
        let run = fresh
            .iter()
            .enumerate()
            .take_while(|(i, r)| r.seq == last + 1 + *i as u64)
            .count();
        for chunk in fresh[..run].chunks(self.max_batch) {
            self.projection
                .apply(chunk)
                .await
                .map_err(FollowError::Projection)?;
            last = chunk[chunk.len() - 1].seq;
            self.status.applied(chunk);
        }
        match fresh.get(run) {
            Some(next) => Err(FollowError::Gap(Gap {
                expected: last + 1,
                found: next.seq,
            })),
            None => Ok(()),
        }
    }
}

fn halt_message(name: &str, gap: &Gap) -> String {
    format!(
        "gap in the event stream: seqs {}..{} are missing; the {name} projection stopped after \
         seq {} (rebuild it from the journal)",
        gap.expected,
        gap.found,
        gap.expected - 1
    )
}
