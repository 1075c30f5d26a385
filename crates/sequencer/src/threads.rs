//! The two threads behind the sequencer: the engine thread (sequence, apply)
//! and the journal thread (write, fsync, reply, publish, snapshot).
//!
//! Their loops are also driven by hand, one step at a time, by
//! [`crate::Stepper`] (the deterministic simulation in crates/sim).

use crate::recovery::rebuild_in;
use crate::{
    Applied, Batch, Entry, Queued, Reply, Request, SequencerConfig, SequencerError, Shared,
};
use flowex_engine::Engine;
use flowex_journal::{prune_in, write_snapshot_in, Fs, Journal};
use flowex_types::{Command, Envelope};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where the engine thread reads the time it stamps on commands (ns).
pub type Clock = Box<dyn Fn() -> u64 + Send>;

/// An applied batch on its way to the disk.
pub struct Stage {
    /// Encoded records, back to back; `bounds[i]` is the end of record i.
    records: Vec<u8>,
    bounds: Vec<usize>,
    batch: Arc<Batch>,
    replies: Vec<Reply>,
    /// A copy of the engine right after this batch, to encode and write once the batch is durable.
    snapshot: Option<(u64, Box<Engine>)>,
}

impl Stage {
    /// The commands of the batch, as sequenced and applied.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }
}

/// What the engine thread sends the journal thread, in order.
pub(crate) enum ToJournal {
    Stage(Stage),
    /// After a failed write: put the journal back to its durable records
    /// (every stage sent before this one has been refused) and answer
    /// with the last durable seq.
    Rewind(SyncSender<Result<u64, String>>),
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, SequencerError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| SequencerError::Failed(format!("cannot start {name}: {e}")))
}

pub(crate) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(crate) fn spawn_engine_thread<F: Fs>(
    engine: EngineLoop<F>,
    rx: Receiver<Queued>,
    stage_tx: SyncSender<ToJournal>,
) -> Result<JoinHandle<Engine>, SequencerError> {
    spawn("flowex-engine", move || engine.run(rx, stage_tx))
}

pub(crate) struct EngineLoop<F: Fs> {
    engine: Engine,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
    /// The journal's file system and directory, to rebuild the engine from
    /// after a failed write.
    fs: F,
    dir: PathBuf,
    clock: Clock,
    last_ts: u64,
    since_snapshot: u64,
    /// The journal failure (`Shared::journal_epoch`) the engine was last
    /// rebuilt after, and the failure the engine thread saw last with when.
    rewound_epoch: u64,
    fault_seen: Option<(u64, Instant)>,
}

impl<F: Fs> EngineLoop<F> {
    pub(crate) fn new(
        engine: Engine,
        shared: Arc<Shared>,
        cfg: Arc<SequencerConfig>,
        fs: F,
        clock: Clock,
    ) -> Self {
        let last_ts = engine.now_ns();
        EngineLoop {
            engine,
            dir: cfg.journal.dir.clone(),
            shared,
            cfg,
            fs,
            clock,
            last_ts,
            since_snapshot: 0,
            rewound_epoch: 0,
            fault_seen: None,
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The journal failed since the engine was last rebuilt from the disk.
    pub(crate) fn needs_rewind(&self) -> bool {
        self.shared.journal_down()
            && self.rewound_epoch != self.shared.journal_epoch.load(Ordering::Acquire)
    }

    /// Takes a request out of the queue: its depth and wait go to `Stats`.
    fn dequeued(&self, q: Queued) -> Request {
        let s = &self.shared;
        let waited = u64::try_from(q.at.elapsed().as_nanos()).unwrap_or(u64::MAX);
        s.queued.fetch_sub(1, Ordering::Relaxed);
        s.dequeued.fetch_add(1, Ordering::Relaxed);
        s.queue_wait_ns.fetch_add(waited, Ordering::Relaxed);
        q.req
    }

    fn run(mut self, rx: Receiver<Queued>, stage_tx: SyncSender<ToJournal>) -> Engine {
        let mut pending: Vec<(Command, Reply)> = Vec::with_capacity(self.cfg.max_batch);
        while let Some(first) = self.next_request(&rx, &stage_tx) {
            let mut next = Some(first);
            let mut barrier = None;
            while let Some(req) = next.take() {
                match req {
                    Request::Command(c, r) => pending.push((c, r)),
                    other => {
                        barrier = Some(other);
                        break;
                    }
                }
                if pending.len() >= self.cfg.max_batch {
                    break;
                }
                next = rx.try_recv().ok().map(|q| self.dequeued(q));
            }
            if !pending.is_empty() && !self.refuse(&mut pending) {
                if let Some(stage) = self.timed_apply_batch(&mut pending) {
                    if stage_tx.send(ToJournal::Stage(stage)).is_err() {
                        self.shared.fail("journal thread is gone".into());
                    }
                }
            }
            match barrier {
                Some(Request::Query(f)) => f(&self.engine),
                Some(Request::Shutdown) => {
                    self.final_snapshot(&stage_tx);
                    break;
                }
                _ => {}
            }
        }
        self.engine
    }

    /// The next request. While the journal cannot write, this also rolls
    /// the engine back to the disk and, once `journal_retry` has passed
    /// since the failure, lets commands in again: the next write probes.
    fn next_request(
        &mut self,
        rx: &Receiver<Queued>,
        stage_tx: &SyncSender<ToJournal>,
    ) -> Option<Request> {
        loop {
            if !self.shared.journal_down() {
                let req = self.dequeued(rx.recv().ok()?);
                // The journal may have failed while we waited: nothing,
                // not even a query, may see the engine ahead of the disk
                // any longer than that.
                if self.needs_rewind() {
                    self.rewind(|| request_rewind(stage_tx));
                }
                return Some(req);
            }
            let epoch = self.shared.journal_epoch.load(Ordering::Acquire);
            let since = match self.fault_seen {
                Some((e, at)) if e == epoch => at,
                _ => self.fault_seen.insert((epoch, Instant::now())).1,
            };
            if self.rewound_epoch != epoch {
                self.rewind(|| request_rewind(stage_tx));
            }
            let wait = self.cfg.journal_retry.saturating_sub(since.elapsed());
            if wait.is_zero() {
                if self.rewound_epoch == epoch {
                    self.shared.journal_resumed();
                } else {
                    // The rewind failed: try it again after another interval.
                    self.fault_seen = Some((epoch, Instant::now()));
                }
                continue;
            }
            match rx.recv_timeout(wait) {
                Ok(q) => return Some(self.dequeued(q)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Rebuilds the engine from the disk after a failed write: the journal
    /// half (`journal_rewind`) cuts the journal back to what was durable,
    /// then the engine is the newest snapshot plus a replay. Until then the
    /// engine holds commands that were never acknowledged.
    pub(crate) fn rewind(&mut self, journal_rewind: impl FnOnce() -> Result<u64, String>) -> bool {
        let epoch = self.shared.journal_epoch.load(Ordering::Acquire);
        let last_seq = match journal_rewind() {
            Ok(seq) => seq,
            Err(why) => {
                tracing::warn!(%why, "the journal still cannot write; commands stay refused");
                return false;
            }
        };
        match rebuild_in(&self.fs, &self.dir, last_seq) {
            Ok((engine, snapshot_seq, replayed)) => {
                tracing::warn!(
                    last_seq,
                    ?snapshot_seq,
                    replayed,
                    "engine rolled back to the journal after a failed write"
                );
                self.engine = engine;
                self.last_ts = self.last_ts.max(self.engine.now_ns());
                self.rewound_epoch = epoch;
                true
            }
            Err(e) => {
                self.shared.fail(format!(
                    "rebuilding the engine after a journal failure: {e}"
                ));
                false
            }
        }
    }

    /// Answers every pending command with an error if commands cannot be
    /// applied now (journal down, sequencer failed); true if it did.
    pub(crate) fn refuse(&self, pending: &mut Vec<(Command, Reply)>) -> bool {
        let Some(err) = self.shared.refusal() else {
            return false;
        };
        if matches!(err, SequencerError::JournalUnavailable { .. }) {
            self.shared
                .journal_refused
                .fetch_add(pending.len() as u64, Ordering::Relaxed);
        }
        for (_, reply) in pending.drain(..) {
            reply.send(Err(self
                .shared
                .refusal()
                .unwrap_or(SequencerError::Stopped)));
        }
        true
    }

    /// [`Self::apply_batch`], its time added to `Stats::apply_ns` (one clock
    /// read per batch, not per command).
    pub(crate) fn timed_apply_batch(
        &mut self,
        pending: &mut Vec<(Command, Reply)>,
    ) -> Option<Stage> {
        let started = Instant::now();
        let stage = self.apply_batch(pending);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared.apply_ns.fetch_add(ns, Ordering::Relaxed);
        stage
    }

    /// Sequences, encodes and applies a batch; the replies wait for the disk.
    fn apply_batch(&mut self, pending: &mut Vec<(Command, Reply)>) -> Option<Stage> {
        let n = pending.len();
        let mut batch = Batch {
            entries: Vec::with_capacity(n),
            events: Vec::with_capacity(n * 4),
        };
        let mut records = Vec::with_capacity(n * 48);
        let mut bounds = Vec::with_capacity(n);
        let mut replies = Vec::with_capacity(n);
        self.last_ts = self.last_ts.max((self.clock)());
        for (command, reply) in pending.drain(..) {
            let env = Envelope {
                seq: self.engine.last_seq() + 1,
                timestamp_ns: self.last_ts,
                command,
            };
            env.encode_into(&mut records);
            bounds.push(records.len());
            let start = batch.events.len();
            // The seq is ours to give, so it always follows the engine's. A
            // refusal means the sequencer and the engine disagree on history:
            // journaling on would write a record the engine never applied.
            let applied = self.engine.apply(&env, &mut batch.events);
            assert!(
                applied.is_ok(),
                "the engine refused the sequencer's seq {}: {applied:?}",
                env.seq
            );
            batch.entries.push(Entry {
                seq: env.seq,
                timestamp_ns: env.timestamp_ns,
                command,
                events: start..batch.events.len(),
            });
            replies.push(reply);
        }
        assert_eq!(
            bounds.len(),
            batch.entries.len(),
            "one journal record per entry"
        );
        assert_eq!(
            batch.entries.last().map(|e| e.seq),
            Some(self.engine.last_seq()),
            "a batch ends at the engine's seq"
        );
        self.since_snapshot += n as u64;
        let snapshot = self.maybe_snapshot();
        Some(Stage {
            records,
            bounds,
            batch: Arc::new(batch),
            replies,
            snapshot,
        })
    }

    /// On a clean stop, snapshot whatever the last snapshot does not cover,
    /// so the next start replays nothing.
    fn final_snapshot(&mut self, stage_tx: &SyncSender<ToJournal>) {
        if self.cfg.snapshot_every == 0
            || self.since_snapshot == 0
            || self.shared.refusal().is_some()
        {
            return;
        }
        self.since_snapshot = self.cfg.snapshot_every;
        let snapshot = self.maybe_snapshot();
        let stage = Stage {
            records: Vec::new(),
            bounds: Vec::new(),
            batch: Arc::default(),
            replies: Vec::new(),
            snapshot,
        };
        let _ = stage_tx.send(ToJournal::Stage(stage));
    }

    /// Copies the engine (the only pause the engine thread takes for a
    /// snapshot); encoding and writing happen on the snapshot thread.
    fn maybe_snapshot(&mut self) -> Option<(u64, Box<Engine>)> {
        if self.cfg.snapshot_every == 0 || self.since_snapshot < self.cfg.snapshot_every {
            return None;
        }
        self.since_snapshot = 0;
        let started = Instant::now();
        let copy = Box::new(self.engine.clone());
        let pause = started.elapsed().as_nanos() as u64;
        self.shared
            .last_snapshot_pause_ns
            .store(pause, Ordering::Relaxed);
        self.shared
            .max_snapshot_pause_ns
            .fetch_max(pause, Ordering::Relaxed);
        Some((self.engine.last_seq(), copy))
    }
}

/// Asks the journal thread to rewind and waits for its answer.
fn request_rewind(stage_tx: &SyncSender<ToJournal>) -> Result<u64, String> {
    let gone = || "the journal thread is gone".to_string();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    stage_tx.send(ToJournal::Rewind(tx)).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?
}

pub(crate) fn spawn_journal_thread<F: Fs>(
    journal: Journal<F>,
    rx: Receiver<ToJournal>,
    wake: SyncSender<Queued>,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
) -> Result<JoinHandle<()>, SequencerError> {
    // A rendezvous channel: a snapshot is handed over only when the snapshot
    // thread is idle, so at most one is ever in flight.
    let (snap_tx, snap_rx) = std::sync::mpsc::sync_channel(0);
    let (fs, dir, keep, stats) = (
        journal.fs().clone(),
        journal.dir().to_path_buf(),
        cfg.keep_snapshots.max(1),
        shared.clone(),
    );
    let snapshot_thread = spawn("flowex-snapshot", move || {
        while let Ok((seq, engine)) = snap_rx.recv() {
            write_one_snapshot(&fs, &dir, keep, &stats, seq, engine);
        }
    })?;
    spawn("flowex-journal", move || {
        JournalLoop::new(journal, snap_tx, shared, Some(wake)).run(rx);
        let _ = snapshot_thread.join();
    })
}

/// Encodes and writes an engine copy, then prunes what the new snapshot
/// covers; true if the snapshot was written.
pub(crate) fn write_one_snapshot<F: Fs>(
    fs: &F,
    dir: &Path,
    keep: usize,
    shared: &Shared,
    seq: u64,
    engine: Box<Engine>,
) -> bool {
    let bytes = engine.snapshot();
    drop(engine);
    match write_snapshot_in(fs, dir, seq, &bytes) {
        Ok(path) => {
            shared.snapshots.fetch_add(1, Ordering::Relaxed);
            tracing::info!(seq, path = %path.display(), bytes = bytes.len(), "snapshot written");
            if let Err(e) = prune_in(fs, dir, keep) {
                tracing::warn!(error = %e, "pruning old snapshots and segments failed");
            }
            true
        }
        Err(e) => {
            tracing::error!(seq, error = %e, "snapshot failed");
            false
        }
    }
}

pub(crate) struct JournalLoop<F: Fs> {
    journal: Journal<F>,
    snapshots: SyncSender<(u64, Box<Engine>)>,
    shared: Arc<Shared>,
    /// The engine thread's queue, to wake it after a failed write.
    wake: Option<SyncSender<Queued>>,
}

impl<F: Fs> JournalLoop<F> {
    pub(crate) fn new(
        journal: Journal<F>,
        snapshots: SyncSender<(u64, Box<Engine>)>,
        shared: Arc<Shared>,
        wake: Option<SyncSender<Queued>>,
    ) -> Self {
        JournalLoop {
            journal,
            snapshots,
            shared,
            wake,
        }
    }

    fn run(mut self, rx: Receiver<ToJournal>) {
        let mut next = None;
        while let Some(msg) = next.take().or_else(|| rx.recv().ok()) {
            match msg {
                ToJournal::Stage(stage) => {
                    // Group commit across the pipeline: every stage already
                    // waiting goes to the disk with this one's fsync. A
                    // rewind waits until they are done, as it did in order.
                    let mut stages = vec![stage];
                    while let Ok(more) = rx.try_recv() {
                        match more {
                            ToJournal::Stage(s) => stages.push(s),
                            other => {
                                next = Some(other);
                                break;
                            }
                        }
                    }
                    self.commit_all(stages);
                }
                ToJournal::Rewind(reply) => {
                    let _ = reply.send(self.rewind());
                }
            }
        }
    }

    /// Cuts the journal back to its durable records; returns the last one.
    pub(crate) fn rewind(&mut self) -> Result<u64, String> {
        self.journal.recover().map_err(|e| e.to_string())?;
        Ok(self.journal.last_seq())
    }

    pub(crate) fn journal(&self) -> &Journal<F> {
        &self.journal
    }

    /// Hands a final snapshot over even if the snapshot thread is busy.
    fn submit_snapshot(&self, seq: u64, engine: Box<Engine>, wait: bool) {
        let sent = if wait {
            self.snapshots.send((seq, engine)).is_ok()
        } else {
            self.snapshots.try_send((seq, engine)).is_ok()
        };
        if !sent {
            tracing::warn!(
                seq,
                "previous snapshot still being written; skipping this one"
            );
        }
    }

    /// Makes the stage durable, then answers its callers and publishes it.
    /// While the journal is down, or if this write fails, no caller of the
    /// stage is acknowledged and nothing of it is published.
    pub(crate) fn commit(&mut self, stage: Stage) {
        self.commit_all(vec![stage]);
    }

    /// [`Self::commit`] of consecutive stages with one write and one fsync:
    /// all of them are acknowledged, or (the write failed, the journal is
    /// down) none.
    pub(crate) fn commit_all(&mut self, stages: Vec<Stage>) {
        if self.shared.refusal().is_none() && stages.iter().any(|s| !s.batch.is_empty()) {
            self.make_durable(&stages);
        }
        if self.shared.refusal().is_some() {
            for reply in stages.into_iter().flat_map(|s| s.replies) {
                reply.send(Err(self
                    .shared
                    .refusal()
                    .unwrap_or(SequencerError::Stopped)));
            }
            return;
        }
        let mut snapshot = None;
        for stage in stages {
            for (index, reply) in stage.replies.into_iter().enumerate() {
                reply.send(Ok(Applied {
                    batch: stage.batch.clone(),
                    index,
                }));
            }
            if !stage.batch.is_empty() {
                self.publish(&stage.batch);
            }
            if let Some(s) = stage.snapshot {
                // The newest one covers the older ones. The final snapshot
                // of a clean stop comes with an empty batch; wait for it.
                snapshot = Some((s, stage.batch.is_empty()));
            }
        }
        if let Some(((seq, engine), wait)) = snapshot {
            self.submit_snapshot(seq, engine, wait);
        }
    }

    /// Appends the stages' records with one write and one fsync. On failure
    /// the engine is ahead of the disk: the journal is marked down, so
    /// nothing is acknowledged until the engine has been rebuilt from the disk.
    fn make_durable(&mut self, stages: &[Stage]) {
        let records = stages.iter().flat_map(|stage| {
            let mut start = 0;
            stage
                .bounds
                .iter()
                .zip(stage.batch.entries.iter())
                .map(move |(&end, e)| {
                    let r = (e.seq, &stage.records[start..end]);
                    start = end;
                    r
                })
        });
        let (first, last) = (
            stages.iter().find(|s| !s.batch.is_empty()),
            stages.iter().rev().find(|s| !s.batch.is_empty()),
        );
        let (Some(first), Some(last)) = (
            first.map(|s| s.batch.first_seq()),
            last.map(|s| s.batch.last_seq()),
        ) else {
            return;
        };
        let started = Instant::now();
        if let Err(e) = self.journal.append_batch(records) {
            self.shared.journal_failed(&e);
            if let Some(wake) = &self.wake {
                // A full queue means the engine thread is busy and will look.
                self.shared.queued.fetch_add(1, Ordering::Relaxed);
                let woken = wake.try_send(Queued {
                    at: Instant::now(),
                    req: Request::Wake,
                });
                if woken.is_err() {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                }
            }
            return;
        }
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared
            .journal_write_ns
            .fetch_add(ns, Ordering::Relaxed);
        let n = stages.iter().map(|s| s.batch.len() as u64).sum::<u64>();
        let durable = self.shared.durable_seq.load(Ordering::Acquire);
        // Batches reach the disk in order and without a hole: the durable
        // seq every subscriber and reply relies on moves by exactly `n`.
        assert_eq!(
            (first, last),
            (durable + 1, durable + n),
            "batches {first}..={last} after durable seq {durable}"
        );
        self.shared.commands.fetch_add(n, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.largest_batch.fetch_max(n, Ordering::Relaxed);
        self.shared.durable_seq.store(last, Ordering::Release);
    }

    fn publish(&self, batch: &Arc<Batch>) {
        let mut subs = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| match s.tx.try_send(batch.clone()) {
            Ok(()) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                s.lagged.store(true, Ordering::Release);
                self.shared.lagged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("dropping a subscriber that fell behind");
                false
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}
