//! The two threads behind the sequencer: the engine thread (sequence, apply)
//! and the journal thread (write, fsync, reply, publish, snapshot).

use crate::{
    Applied, Batch, Entry, Queued, Reply, Request, SequencerConfig, SequencerError, Shared,
};
use flowex_engine::Engine;
use flowex_journal::{prune, write_snapshot, Journal};
use flowex_types::{Command, Envelope};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// An applied batch on its way to the disk.
pub(crate) struct Stage {
    /// Encoded records, back to back; `bounds[i]` is the end of record i.
    records: Vec<u8>,
    bounds: Vec<usize>,
    batch: Arc<Batch>,
    replies: Vec<Reply>,
    /// A copy of the engine right after this batch, to encode and write once the batch is durable.
    snapshot: Option<(u64, Box<Engine>)>,
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

fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(crate) fn spawn_engine_thread(
    engine: Engine,
    rx: Receiver<Queued>,
    stage_tx: SyncSender<Stage>,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
) -> Result<JoinHandle<Engine>, SequencerError> {
    spawn("flowex-engine", move || {
        EngineLoop::new(engine, shared, cfg).run(rx, stage_tx)
    })
}

struct EngineLoop {
    engine: Engine,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
    last_ts: u64,
    since_snapshot: u64,
}

impl EngineLoop {
    fn new(engine: Engine, shared: Arc<Shared>, cfg: Arc<SequencerConfig>) -> Self {
        let last_ts = engine.now_ns();
        EngineLoop {
            engine,
            shared,
            cfg,
            last_ts,
            since_snapshot: 0,
        }
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

    fn run(mut self, rx: Receiver<Queued>, stage_tx: SyncSender<Stage>) -> Engine {
        let mut pending: Vec<(Command, Reply)> = Vec::with_capacity(self.cfg.max_batch);
        while let Ok(first) = rx.recv() {
            let mut next = Some(self.dequeued(first));
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
            if !pending.is_empty() {
                if let Some(err) = self.shared.failure() {
                    let why = err.to_string();
                    pending
                        .drain(..)
                        .for_each(|(_, r)| r.send(Err(SequencerError::Failed(why.clone()))));
                } else if let Some(stage) = self.timed_apply_batch(&mut pending) {
                    if stage_tx.send(stage).is_err() {
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

    /// [`Self::apply_batch`], its time added to `Stats::apply_ns` (one clock
    /// read per batch, not per command).
    fn timed_apply_batch(&mut self, pending: &mut Vec<(Command, Reply)>) -> Option<Stage> {
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
        self.last_ts = self.last_ts.max(wall_clock_ns());
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
    fn final_snapshot(&mut self, stage_tx: &SyncSender<Stage>) {
        if self.cfg.snapshot_every == 0
            || self.since_snapshot == 0
            || self.shared.failure().is_some()
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
        let _ = stage_tx.send(stage);
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

pub(crate) fn spawn_journal_thread(
    journal: Journal,
    rx: Receiver<Stage>,
    shared: Arc<Shared>,
    cfg: Arc<SequencerConfig>,
) -> Result<JoinHandle<()>, SequencerError> {
    // A rendezvous channel: a snapshot is handed over only when the snapshot
    // thread is idle, so at most one is ever in flight.
    let (snap_tx, snap_rx) = std::sync::mpsc::sync_channel(0);
    let (dir, keep, stats) = (
        journal.dir().to_path_buf(),
        cfg.keep_snapshots.max(1),
        shared.clone(),
    );
    let snapshot_thread = spawn("flowex-snapshot", move || {
        snapshot_loop(snap_rx, &dir, keep, &stats)
    })?;
    spawn("flowex-journal", move || {
        JournalLoop {
            journal,
            snapshots: snap_tx,
            shared,
        }
        .run(rx);
        let _ = snapshot_thread.join();
    })
}

/// Encodes and writes engine copies, then prunes what the new snapshot covers.
fn snapshot_loop(
    rx: Receiver<(u64, Box<Engine>)>,
    dir: &std::path::Path,
    keep: usize,
    shared: &Shared,
) {
    while let Ok((seq, engine)) = rx.recv() {
        let bytes = engine.snapshot();
        drop(engine);
        match write_snapshot(dir, seq, &bytes) {
            Ok(path) => {
                shared.snapshots.fetch_add(1, Ordering::Relaxed);
                tracing::info!(seq, path = %path.display(), bytes = bytes.len(), "snapshot written");
                if let Err(e) = prune(dir, keep) {
                    tracing::warn!(error = %e, "pruning old snapshots and segments failed");
                }
            }
            Err(e) => tracing::error!(seq, error = %e, "snapshot failed"),
        }
    }
}

struct JournalLoop {
    journal: Journal,
    snapshots: SyncSender<(u64, Box<Engine>)>,
    shared: Arc<Shared>,
}

impl JournalLoop {
    fn run(mut self, rx: Receiver<Stage>) {
        while let Ok(stage) = rx.recv() {
            self.commit(stage);
        }
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

    fn commit(&mut self, stage: Stage) {
        if self.shared.failure().is_none() && !stage.batch.is_empty() {
            self.make_durable(&stage);
        }
        if let Some(err) = self.shared.failure() {
            let why = err.to_string();
            for reply in stage.replies {
                reply.send(Err(SequencerError::Failed(why.clone())));
            }
            return;
        }
        for (index, reply) in stage.replies.into_iter().enumerate() {
            reply.send(Ok(Applied {
                batch: stage.batch.clone(),
                index,
            }));
        }
        if !stage.batch.is_empty() {
            self.publish(&stage.batch);
        }
        if let Some((seq, engine)) = stage.snapshot {
            // The final snapshot of a clean stop comes with an empty batch; wait for it.
            self.submit_snapshot(seq, engine, stage.batch.is_empty());
        }
    }

    /// Appends the batch with one write and one fsync. On failure the engine
    /// is ahead of the disk, so the sequencer stops acknowledging anything.
    fn make_durable(&mut self, stage: &Stage) {
        let mut start = 0;
        let records = stage
            .bounds
            .iter()
            .zip(stage.batch.entries.iter())
            .map(|(&end, e)| {
                let r = (e.seq, &stage.records[start..end]);
                start = end;
                r
            });
        let started = Instant::now();
        if let Err(e) = self.journal.append_batch(records) {
            self.shared.fail(format!("journal append failed: {e}"));
            return;
        }
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared
            .journal_write_ns
            .fetch_add(ns, Ordering::Relaxed);
        let n = stage.batch.len() as u64;
        let durable = self.shared.durable_seq.load(Ordering::Acquire);
        // Batches reach the disk in order and without a hole: the durable
        // seq every subscriber and reply relies on moves by exactly `n`.
        assert_eq!(
            stage.batch.first_seq(),
            durable + 1,
            "batch {}..={} after durable seq {durable}",
            stage.batch.first_seq(),
            stage.batch.last_seq()
        );
        self.shared.commands.fetch_add(n, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.largest_batch.fetch_max(n, Ordering::Relaxed);
        self.shared
            .durable_seq
            .store(stage.batch.last_seq(), Ordering::Release);
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
