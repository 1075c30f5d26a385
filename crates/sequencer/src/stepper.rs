//! The sequencer's engine and journal halves, stepped by hand on one
//! thread: the same code as [`crate::Sequencer`]'s threads, with every
//! interleaving chosen by the caller. The deterministic simulation
//! (crates/sim) drives it from one seed; production never does.

use crate::threads::{write_one_snapshot, Clock, EngineLoop, JournalLoop, Stage};
use crate::{recover_in, RecoveryReport, Reply, SequencerConfig, SequencerError, Shared, Stats};
use flowex_engine::Engine;
use flowex_journal::{Fs, Journal};
use flowex_types::Command;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// One sequencer, no threads: [`Self::apply`] is a step of the engine
/// thread, [`Self::commit`] one of the journal thread, [`Self::write_snapshot`]
/// one of the snapshot thread, [`Self::rewind`] and [`Self::resume`] what
/// the engine thread does after a failed write.
pub struct Stepper<F: Fs> {
    engine: EngineLoop<F>,
    journal: JournalLoop<F>,
    snapshots: Receiver<(u64, Box<Engine>)>,
    shared: Arc<Shared>,
    fs: F,
    dir: PathBuf,
    keep: usize,
}

impl<F: Fs> Stepper<F> {
    /// Recovers from the journal in `fs`, as [`crate::Sequencer::start_in`]
    /// does; commands are stamped with `clock`.
    pub fn recover(
        fs: F,
        cfg: SequencerConfig,
        clock: Clock,
    ) -> Result<(Stepper<F>, RecoveryReport), SequencerError> {
        let (engine, journal, report) = recover_in(fs.clone(), cfg.journal.clone())?;
        let shared = Arc::new(Shared::default());
        shared
            .durable_seq
            .store(engine.last_seq(), Ordering::Relaxed);
        let (dir, keep) = (cfg.journal.dir.clone(), cfg.keep_snapshots.max(1));
        let cfg = Arc::new(cfg);
        // Room for one snapshot: the next is skipped until this one is written,
        // as with the snapshot thread.
        let (snap_tx, snapshots) = std::sync::mpsc::sync_channel(1);
        let stepper = Stepper {
            engine: EngineLoop::new(engine, shared.clone(), cfg, fs.clone(), clock),
            journal: JournalLoop::new(journal, snap_tx, shared.clone(), None),
            snapshots,
            shared,
            fs,
            dir,
            keep,
        };
        Ok((stepper, report))
    }

    /// Sequences and applies `commands` as one batch; `None` when commands
    /// are refused now (each reply already has its error).
    pub fn apply(&mut self, mut commands: Vec<(Command, Reply)>) -> Option<Stage> {
        if commands.is_empty() || self.engine.refuse(&mut commands) {
            return None;
        }
        self.engine.timed_apply_batch(&mut commands)
    }

    /// Writes and syncs a stage, then answers its callers (or refuses them).
    pub fn commit(&mut self, stage: Stage) {
        self.journal.commit(stage);
    }

    /// Writes the snapshot a commit handed over; `None` if there was none.
    pub fn write_snapshot(&mut self) -> Option<bool> {
        let (seq, engine) = self.snapshots.try_recv().ok()?;
        Some(write_one_snapshot(
            &self.fs,
            &self.dir,
            self.keep,
            &self.shared,
            seq,
            engine,
        ))
    }

    /// Whether a journal failure awaits [`Self::rewind`].
    pub fn needs_rewind(&self) -> bool {
        self.engine.needs_rewind()
    }

    /// Whether commands are refused because the journal cannot write.
    pub fn journal_down(&self) -> bool {
        self.shared.journal_down()
    }

    /// After a failed write, once every stage applied before it has been
    /// committed (and so refused): cuts the journal back and rebuilds the
    /// engine from the disk. False if the journal still cannot be put right.
    pub fn rewind(&mut self) -> bool {
        let journal = &mut self.journal;
        self.engine.rewind(|| journal.rewind())
    }

    /// Lets commands in again, as the engine thread does once
    /// `journal_retry` has passed after a successful rewind.
    pub fn resume(&mut self) {
        if !self.engine.needs_rewind() {
            self.shared.journal_resumed();
        }
    }

    /// Why commands are refused now, if they are.
    pub fn refusal(&self) -> Option<SequencerError> {
        self.shared.refusal()
    }

    pub fn engine(&self) -> &Engine {
        self.engine.engine()
    }

    pub fn journal(&self) -> &Journal<F> {
        self.journal.journal()
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}
