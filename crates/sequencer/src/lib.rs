//! The sequencer: the one thread that owns the engine.
//!
//! ```text
//! callers ──try_send──► bounded queue ──► engine thread ──► pipeline ──► journal thread
//!   ▲                                      stamp seq+time     (bounded)    write + fsync once
//!   │                                      apply, events                   then reply and
//!   └──────────────────── reply (only after the batch is durable) ◄─────── publish to subscribers
//! ```
//!
//! The engine thread drains up to `max_batch` requests, stamps each command
//! with the next sequence number and a non-decreasing time, encodes it for
//! the journal and applies it. The batch then goes to the journal thread,
//! which appends it with one write and one fsync (group commit) and only then
//! answers callers and publishes the events. While one batch is being synced
//! the engine thread already applies the next, so throughput is not bounded
//! by fsync latency; the journal thread then writes every batch that has
//! come in meanwhile with one write and one fsync (`Stats::batches` counts
//! these fsyncs, `largest_batch` the most commands in one). What leaves the
//! process (replies, events, snapshots) never runs ahead of the disk.
//!
//! Every queue is bounded: a full request queue is an explicit
//! [`SequencerError::Overloaded`]; a full pipeline makes the engine thread
//! wait for the disk; a subscriber that falls `subscriber_capacity` batches
//! behind is dropped and told so ([`SubscriptionEnded::Lagged`]), never
//! allowed to stall the engine.
//!
//! Queries ([`SequencerHandle::query`]) run on the engine thread between
//! batches, in queue order, so a caller sees the effect of every command it
//! was answered for (read-your-writes). They may also see a batch whose
//! fsync is still in flight.
//!
//! # When the journal cannot write
//!
//! A failed write or fsync (a full disk, an I/O error) fails its batch: no
//! caller of it, nor of any batch applied after it, is acknowledged, and
//! nothing of them is published. The journal is then *down*: commands are
//! refused at once with [`SequencerError::JournalUnavailable`] (counted in
//! [`Stats::journal_refused`]), queries keep working. The journal is cut
//! back to its durable records through a fresh file descriptor (the failed
//! one is never fsynced again: Linux may have dropped its dirty pages) and
//! the next batch goes to a new segment file ([`flowex_journal::Journal::recover`]);
//! the engine is rebuilt from the newest snapshot and the journal, so it
//! holds exactly the durable commands again. After
//! [`SequencerConfig::journal_retry`] commands are let in again; if the
//! disk is still full, the first batch fails the same way and the cycle
//! repeats, so the sequencer resumes by itself once space returns.

mod recovery;
mod stepper;
mod threads;

pub use flowex_journal::{Durability, Fs, JournalConfig, StdFs};
pub use recovery::{recover, recover_in, replay_into, replay_into_in, RecoveryReport};
pub use stepper::Stepper;
pub use threads::{Clock, Stage};

use flowex_engine::Engine;
use flowex_types::{Command, Event, RejectReason};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Largest buffer one subscriber may ask for, in batches.
pub const MAX_SUBSCRIBER_CAPACITY: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct SequencerConfig {
    pub journal: JournalConfig,
    /// Requests waiting for the engine thread; beyond this, `Overloaded`.
    pub queue_capacity: usize,
    /// Commands per group commit, at most.
    pub max_batch: usize,
    /// Applied batches waiting for their fsync, at most.
    pub pipeline_depth: usize,
    /// Batches a subscriber may fall behind before it is dropped.
    pub subscriber_capacity: usize,
    pub max_subscribers: usize,
    /// Commands between snapshots (0 = no snapshots).
    pub snapshot_every: u64,
    pub keep_snapshots: usize,
    /// After a failed journal write, how long commands are refused before
    /// the sequencer lets them in again to try the disk.
    pub journal_retry: Duration,
}

impl SequencerConfig {
    pub fn new(journal: JournalConfig) -> Self {
        SequencerConfig {
            journal,
            queue_capacity: 65_536,
            max_batch: 8_192,
            pipeline_depth: 4,
            subscriber_capacity: 4_096,
            max_subscribers: 64,
            snapshot_every: 1_000_000,
            keep_snapshots: 2,
            journal_retry: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error("the sequencer queue is full; retry later")]
    Overloaded,
    #[error("the sequencer has stopped")]
    Stopped,
    #[error("the journal failed; the sequencer refuses further commands: {0}")]
    Failed(String),
    /// The journal could not write (a full disk when `no_space`, else an
    /// I/O error): the command was not applied. Transient: the sequencer
    /// tries the disk again by itself.
    #[error("the journal cannot write ({detail}); state changes are refused until it can")]
    JournalUnavailable { no_space: bool, detail: String },
    #[error("too many subscribers")]
    TooManySubscribers,
    #[error(transparent)]
    Journal(#[from] flowex_journal::JournalError),
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error("recovery: {0}")]
    Recovery(String),
}

/// One command as sequenced, with the range of its events in the batch.
#[derive(Clone, Debug)]
pub struct Entry {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub command: Command,
    events: Range<usize>,
}

/// Commands made durable together, with all their events.
#[derive(Debug, Default)]
pub struct Batch {
    entries: Vec<Entry>,
    events: Vec<Event>,
}

impl Batch {
    pub fn entries(&self) -> impl Iterator<Item = (&Entry, &[Event])> {
        self.entries
            .iter()
            .map(|e| (e, &self.events[e.events.clone()]))
    }

    pub fn first_seq(&self) -> u64 {
        self.entries.first().map_or(0, |e| e.seq)
    }

    pub fn last_seq(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The durable outcome of one submitted command.
#[derive(Clone, Debug)]
pub struct Applied {
    batch: Arc<Batch>,
    index: usize,
}

impl Applied {
    pub fn seq(&self) -> u64 {
        self.batch.entries[self.index].seq
    }

    pub fn timestamp_ns(&self) -> u64 {
        self.batch.entries[self.index].timestamp_ns
    }

    pub fn events(&self) -> &[Event] {
        &self.batch.events[self.batch.entries[self.index].events.clone()]
    }

    pub fn rejection(&self) -> Option<RejectReason> {
        self.events().iter().find_map(|e| {
            if let Event::Rejected { reason } = e {
                Some(*reason)
            } else {
                None
            }
        })
    }
}

pub type ReplyFn = Box<dyn FnOnce(Result<Applied, SequencerError>) + Send>;

/// How the caller wants to hear about its command.
pub enum Reply {
    /// Fire and forget (the events still reach subscribers).
    None,
    Async(oneshot::Sender<Result<Applied, SequencerError>>),
    /// Called on the journal thread once the command is durable; keep it short.
    Callback(ReplyFn),
}

impl Reply {
    fn send(self, result: Result<Applied, SequencerError>) {
        match self {
            Reply::None => {}
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Callback(f) => f(result),
        }
    }
}

pub(crate) type QueryFn = Box<dyn FnOnce(&Engine) + Send>;

pub(crate) enum Request {
    Command(Command, Reply),
    Query(QueryFn),
    Shutdown,
    /// From the journal thread after a failed write: the engine thread must
    /// roll back now, even if no request comes (commands are refused
    /// before they reach it).
    Wake,
}

/// A request in the queue, with when it went in (for `Stats::queue_wait_ns`).
pub(crate) struct Queued {
    pub at: Instant,
    pub req: Request,
}

/// Counters for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    pub batches: u64,
    pub durable_seq: u64,
    pub overloaded: u64,
    pub largest_batch: u64,
    pub snapshots: u64,
    /// How long the engine thread stood still to copy its state for the last snapshot.
    pub last_snapshot_pause_ns: u64,
    pub max_snapshot_pause_ns: u64,
    pub lagged_subscribers: u64,
    /// Time the engine thread spent sequencing and applying batches, in total.
    pub apply_ns: u64,
    /// Time the journal thread spent writing and fsyncing batches, in total.
    pub journal_write_ns: u64,
    /// Requests (commands and queries) in the queue now.
    pub queue_depth: u64,
    /// The queue's bound (`SequencerConfig::queue_capacity`).
    pub queue_capacity: u64,
    /// Requests the engine thread took from the queue, in total.
    pub dequeued: u64,
    /// Time those requests waited in the queue, in total.
    pub queue_wait_ns: u64,
    /// Journal writes or fsyncs that failed (each fails its batch).
    pub journal_failures: u64,
    /// Commands refused because the journal could not write.
    pub journal_refused: u64,
    /// False from a failed journal write until commands are let in again.
    pub journal_writable: bool,
}

/// Why the journal is down.
#[derive(Clone, Debug)]
pub(crate) struct JournalFault {
    no_space: bool,
    detail: String,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub failed: Mutex<Option<String>>,
    pub is_failed: AtomicBool,
    pub subscribers: Mutex<Vec<Subscriber>>,
    pub commands: AtomicU64,
    pub batches: AtomicU64,
    pub durable_seq: AtomicU64,
    pub overloaded: AtomicU64,
    pub largest_batch: AtomicU64,
    pub snapshots: AtomicU64,
    pub last_snapshot_pause_ns: AtomicU64,
    pub max_snapshot_pause_ns: AtomicU64,
    pub lagged: AtomicU64,
    pub apply_ns: AtomicU64,
    pub journal_write_ns: AtomicU64,
    pub queued: AtomicU64,
    pub dequeued: AtomicU64,
    pub queue_wait_ns: AtomicU64,
    pub queue_capacity: AtomicU64,
    pub journal_fault: Mutex<Option<JournalFault>>,
    pub journal_is_down: AtomicBool,
    /// Bumped by every journal failure.
    pub journal_epoch: AtomicU64,
    pub journal_refused: AtomicU64,
}

impl Shared {
    /// A write or sync failed: refuse commands until the engine has been
    /// rebuilt from the disk and `journal_retry` has passed.
    pub fn journal_failed(&self, e: &flowex_journal::JournalError) {
        let no_space = matches!(e, flowex_journal::JournalError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull);
        tracing::error!(error = %e, no_space, "journal write failed; refusing commands until it can write again");
        *self.journal_fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(JournalFault {
            no_space,
            detail: e.to_string(),
        });
        self.journal_epoch.fetch_add(1, Ordering::AcqRel);
        self.journal_is_down.store(true, Ordering::Release);
    }

    pub fn journal_resumed(&self) {
        tracing::warn!("journal: letting commands in again");
        self.journal_is_down.store(false, Ordering::Release);
    }

    pub fn journal_down(&self) -> bool {
        self.journal_is_down.load(Ordering::Acquire)
    }

    pub fn journal_refusal(&self) -> Option<SequencerError> {
        if !self.journal_down() {
            return None;
        }
        let fault = self
            .journal_fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(SequencerError::JournalUnavailable {
            no_space: fault.no_space,
            detail: fault.detail,
        })
    }

    /// Why commands cannot be applied now, if they cannot.
    pub fn refusal(&self) -> Option<SequencerError> {
        self.failure().or_else(|| self.journal_refusal())
    }

    pub fn stats(&self) -> Stats {
        let s = self;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            commands: get(&s.commands),
            batches: get(&s.batches),
            durable_seq: get(&s.durable_seq),
            overloaded: get(&s.overloaded),
            largest_batch: get(&s.largest_batch),
            snapshots: get(&s.snapshots),
            last_snapshot_pause_ns: get(&s.last_snapshot_pause_ns),
            max_snapshot_pause_ns: get(&s.max_snapshot_pause_ns),
            lagged_subscribers: get(&s.lagged),
            apply_ns: get(&s.apply_ns),
            journal_write_ns: get(&s.journal_write_ns),
            queue_depth: get(&s.queued),
            queue_capacity: get(&s.queue_capacity),
            dequeued: get(&s.dequeued),
            queue_wait_ns: get(&s.queue_wait_ns),
            journal_failures: get(&s.journal_epoch),
            journal_refused: get(&s.journal_refused),
            journal_writable: !s.journal_down(),
        }
    }

    pub fn fail(&self, why: String) {
        tracing::error!(%why, "sequencer stopped accepting commands");
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.is_failed.store(true, Ordering::Release);
    }

    pub fn failure(&self) -> Option<SequencerError> {
        if !self.is_failed.load(Ordering::Acquire) {
            return None;
        }
        let why = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Some(SequencerError::Failed(why.unwrap_or_default()))
    }
}

pub(crate) struct Subscriber {
    pub tx: mpsc::Sender<Arc<Batch>>,
    pub lagged: Arc<AtomicBool>,
}

/// Why a subscription ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionEnded {
    #[error("fell too far behind and was dropped; resume from the journal")]
    Lagged,
    #[error("the sequencer stopped")]
    Stopped,
}

/// A live feed of durable batches, from the next batch on.
pub struct Subscription {
    rx: mpsc::Receiver<Arc<Batch>>,
    lagged: Arc<AtomicBool>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<Batch>, SubscriptionEnded> {
        let b = self.rx.recv().await;
        self.outcome(b)
    }

    pub fn blocking_recv(&mut self) -> Result<Arc<Batch>, SubscriptionEnded> {
        let b = self.rx.blocking_recv();
        self.outcome(b)
    }

    /// A batch that is already waiting, without waiting for one. `None`
    /// when none is queued, and also when the subscription has ended: the
    /// next [`recv`](Self::recv) says why.
    pub fn try_recv(&mut self) -> Option<Arc<Batch>> {
        self.rx.try_recv().ok()
    }

    fn outcome(&self, b: Option<Arc<Batch>>) -> Result<Arc<Batch>, SubscriptionEnded> {
        match b {
            Some(b) => Ok(b),
            None if self.lagged.load(Ordering::Acquire) => Err(SubscriptionEnded::Lagged),
            None => Err(SubscriptionEnded::Stopped),
        }
    }
}

/// A cheap, cloneable way to talk to the sequencer.
#[derive(Clone)]
pub struct SequencerHandle {
    tx: SyncSender<Queued>,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
}

impl SequencerHandle {
    fn enqueue(&self, req: Request) -> Result<(), SequencerError> {
        if let Some(e) = self.shared.failure() {
            return Err(e);
        }
        // Queries still run while the journal cannot write; commands not.
        if matches!(req, Request::Command(..)) {
            if let Some(e) = self.shared.journal_refusal() {
                self.shared.journal_refused.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        // Counted before it goes in, so the engine thread's decrement never
        // comes first.
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let queued = Queued {
            at: Instant::now(),
            req,
        };
        self.tx.try_send(queued).map_err(|e| {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => {
                    self.shared.overloaded.fetch_add(1, Ordering::Relaxed);
                    SequencerError::Overloaded
                }
                TrySendError::Disconnected(_) => SequencerError::Stopped,
            }
        })
    }

    /// Submits a command; `reply` hears about it once it is durable.
    pub fn submit_with(&self, command: Command, reply: Reply) -> Result<(), SequencerError> {
        self.enqueue(Request::Command(command, reply))
    }

    /// Submits a command and waits until it is durable and applied.
    pub async fn submit(&self, command: Command) -> Result<Applied, SequencerError> {
        let (tx, rx) = oneshot::channel();
        self.submit_with(command, Reply::Async(tx))?;
        rx.await.map_err(|_| SequencerError::Stopped)?
    }

    /// Like [`submit`](Self::submit), for threads outside an async runtime.
    pub fn submit_blocking(&self, command: Command) -> Result<Applied, SequencerError> {
        let (tx, rx) = oneshot::channel();
        self.submit_with(command, Reply::Async(tx))?;
        rx.blocking_recv().map_err(|_| SequencerError::Stopped)?
    }

    /// Runs `f` on the engine thread after every command queued before it.
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, SequencerError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Request::Query(Box::new(move |e| {
            let _ = tx.send(f(e));
        })))?;
        rx.await.map_err(|_| SequencerError::Stopped)
    }

    pub fn query_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, SequencerError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Request::Query(Box::new(move |e| {
            let _ = tx.send(f(e));
        })))?;
        rx.blocking_recv().map_err(|_| SequencerError::Stopped)
    }

    /// Subscribes to durable batches from the next one on.
    pub fn subscribe(&self) -> Result<Subscription, SequencerError> {
        self.subscribe_with_capacity(self.cfg.subscriber_capacity)
    }

    /// Like [`subscribe`](Self::subscribe), with its own buffer of
    /// `batches` (at most [`MAX_SUBSCRIBER_CAPACITY`]): a consumer that
    /// must not lag behind bursts asks for more room.
    pub fn subscribe_with_capacity(&self, batches: usize) -> Result<Subscription, SequencerError> {
        let mut subs = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !s.tx.is_closed());
        if subs.len() >= self.cfg.max_subscribers {
            return Err(SequencerError::TooManySubscribers);
        }
        let (tx, rx) = mpsc::channel(batches.clamp(1, MAX_SUBSCRIBER_CAPACITY));
        let lagged = Arc::new(AtomicBool::new(false));
        subs.push(Subscriber {
            tx,
            lagged: lagged.clone(),
        });
        Ok(Subscription { rx, lagged })
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

/// Owns the engine and journal threads.
pub struct Sequencer {
    handle: SequencerHandle,
    engine_thread: Option<JoinHandle<Engine>>,
    journal_thread: Option<JoinHandle<()>>,
}

impl Sequencer {
    /// Recovers the engine from the journal directory and starts the threads.
    pub fn start(cfg: SequencerConfig) -> Result<(Sequencer, RecoveryReport), SequencerError> {
        Sequencer::start_in(StdFs, cfg)
    }

    /// [`Sequencer::start`] with the journal in the file system `fs`.
    pub fn start_in<F: Fs>(
        fs: F,
        cfg: SequencerConfig,
    ) -> Result<(Sequencer, RecoveryReport), SequencerError> {
        let (engine, journal, report) = recover_in(fs.clone(), cfg.journal.clone())?;
        tracing::info!(?report, "engine recovered");
        let cfg = Arc::new(cfg);
        let shared = Arc::new(Shared::default());
        shared
            .durable_seq
            .store(engine.last_seq(), Ordering::Relaxed);
        shared
            .queue_capacity
            .store(cfg.queue_capacity as u64, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue_capacity);
        let (stage_tx, stage_rx) = std::sync::mpsc::sync_channel(cfg.pipeline_depth);
        let journal_thread = threads::spawn_journal_thread(
            journal,
            stage_rx,
            tx.clone(),
            shared.clone(),
            cfg.clone(),
        )?;
        let clock: Clock = Box::new(threads::wall_clock_ns);
        let engine = threads::EngineLoop::new(engine, shared.clone(), cfg.clone(), fs, clock);
        let engine_thread = threads::spawn_engine_thread(engine, rx, stage_tx)?;
        let handle = SequencerHandle { tx, shared, cfg };
        Ok((
            Sequencer {
                handle,
                engine_thread: Some(engine_thread),
                journal_thread: Some(journal_thread),
            },
            report,
        ))
    }

    pub fn handle(&self) -> SequencerHandle {
        self.handle.clone()
    }

    /// Finishes queued work, stops both threads and hands back the engine.
    pub fn shutdown(mut self) -> Result<Engine, SequencerError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Engine, SequencerError> {
        // A blocking send: shutdown waits its turn behind queued commands.
        let _ = self.handle.tx.send(Queued {
            at: Instant::now(),
            req: Request::Shutdown,
        });
        let engine = self
            .engine_thread
            .take()
            .ok_or(SequencerError::Stopped)?
            .join();
        if let Some(j) = self.journal_thread.take() {
            let _ = j.join();
        }
        let engine = engine.map_err(|_| SequencerError::Failed("engine thread panicked".into()))?;
        match self.handle.shared.failure() {
            Some(e) => Err(e),
            None => Ok(engine),
        }
    }
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        if self.engine_thread.is_some() {
            let _ = self.stop();
        }
    }
}
