//! The `durable` and `replay` modes: the engine behind the real sequencer
//! and journal.
//!
//! - `durable`: commands go through [`SequencerHandle::submit_with`]; a
//!   command is complete when its reply arrives, i.e. after its batch was
//!   written and fdatasync'ed (group commit). Latency is measured from the
//!   planned send time to the reply callback on the journal thread.
//! - `replay`: the workload is first written to a journal (untimed); the
//!   timed part is [`flowex_sequencer::replay_into`] (read, checksum,
//!   decode, apply) from the end of the setup to the last command, the path
//!   recovery takes. The journal was just written, so it is read from the
//!   page cache.

use crate::{gen::engine_book_hash, BenchOpts, BenchResult, Finish, Mode, Subject, Workload};
use flowex_engine::Engine;
use flowex_journal::{Durability, Journal, JournalConfig};
use flowex_sequencer::{Reply, Sequencer, SequencerConfig, SequencerError, SequencerHandle};
use flowex_types::{Command, Envelope, Event};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sequencer with its journal in a temporary directory, fsync on.
pub struct DurableSubject<'a> {
    seq: Option<Sequencer>,
    handle: SequencerHandle,
    cmds: &'a [Envelope],
    issued: u64,
    completed: Arc<AtomicU64>,
    hist: Arc<Mutex<Histogram<u64>>>,
    _dir: tempfile::TempDir,
}

fn submit(handle: &SequencerHandle, command: Command, mut reply: impl FnMut() -> Reply) {
    loop {
        match handle.submit_with(command, reply()) {
            Ok(()) => return,
            // The request queue is bounded: back off and retry, as a gateway would.
            Err(SequencerError::Overloaded) => std::thread::yield_now(),
            Err(e) => panic!("sequencer failed during the benchmark: {e}"),
        }
    }
}

impl<'a> DurableSubject<'a> {
    pub fn new(w: &'a Workload) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the journal");
        let mut cfg = SequencerConfig::new(JournalConfig::new(dir.path()));
        // Snapshots are a separate cost; this mode measures the commit path.
        cfg.snapshot_every = 0;
        let (seq, _) = Sequencer::start(cfg).expect("sequencer starts");
        let handle = seq.handle();
        let (last, rest) = w.setup.split_last().expect("setup is never empty");
        for env in rest {
            submit(&handle, env.command, || Reply::None);
        }
        // Replies come in order, so once the last setup command is durable all are.
        handle
            .submit_blocking(last.command)
            .expect("setup is applied");
        DurableSubject {
            seq: Some(seq),
            handle,
            cmds: &w.measured,
            issued: 0,
            completed: Arc::new(AtomicU64::new(0)),
            hist: Arc::new(Mutex::new(crate::new_histogram())),
            _dir: dir,
        }
    }
}

impl Subject for DurableSubject<'_> {
    fn step(&mut self, i: usize) {
        let done = &self.completed;
        submit(&self.handle, self.cmds[i].command, || {
            let done = done.clone();
            Reply::Callback(Box::new(move |_| {
                done.fetch_add(1, Ordering::Release);
            }))
        });
        self.issued += 1;
    }

    fn step_planned(&mut self, i: usize, planned: Instant) -> bool {
        let (done, hist) = (&self.completed, &self.hist);
        submit(&self.handle, self.cmds[i].command, || {
            let (done, hist) = (done.clone(), hist.clone());
            Reply::Callback(Box::new(move |_| {
                let now = Instant::now();
                if let Ok(mut h) = hist.lock() {
                    crate::measure::record_latency(&mut h, planned, now);
                }
                done.fetch_add(1, Ordering::Release);
            }))
        });
        self.issued += 1;
        false
    }

    fn drain(&mut self) {
        while self.completed.load(Ordering::Acquire) < self.issued {
            std::thread::yield_now();
        }
    }

    fn take_latencies(&mut self, hist: &mut Histogram<u64>) {
        if let Ok(mut h) = self.hist.lock() {
            let _ = hist.add(&*h);
            h.reset();
        }
    }
}

impl Finish for DurableSubject<'_> {
    fn state_hash(&self) -> Option<u64> {
        self.handle.query_blocking(|e| e.state_hash()).ok()
    }
    fn book_hash(&self) -> Option<u64> {
        self.handle.query_blocking(engine_book_hash).ok()
    }
}

impl Drop for DurableSubject<'_> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq.take() {
            let _ = seq.shutdown();
        }
    }
}

/// Writes the whole workload to a journal in `dir` (no fsync: untimed setup).
fn write_journal(w: &Workload, dir: &std::path::Path) {
    let mut cfg = JournalConfig::new(dir);
    cfg.durability = Durability::None;
    let (mut journal, _) = Journal::open(cfg).expect("journal opens");
    let mut bufs: Vec<(u64, Vec<u8>)> = Vec::with_capacity(8192);
    for chunk in w.setup.chunks(8192).chain(w.measured.chunks(8192)) {
        bufs.clear();
        bufs.extend(chunk.iter().map(|env| (env.seq, env.encode())));
        journal
            .append_batch(bufs.iter().map(|(s, b)| (*s, b.as_slice())))
            .expect("journal append");
    }
}

/// The `replay` mode: `runs` timed replays of the measured part of a
/// journal onto an engine holding the setup state; the median is reported.
pub fn run_replay(w: &Workload, opts: &BenchOpts) -> BenchResult {
    let dir = tempfile::tempdir().expect("temporary directory for the journal");
    write_journal(w, dir.path());
    let last = w.measured.last().map_or(w.setup.len() as u64, |e| e.seq);
    let mut runs: Vec<(Duration, u64, u64)> = Vec::new();
    for _ in 0..opts.runs.max(1) {
        let mut engine = Engine::new();
        let mut out: Vec<Event> = Vec::with_capacity(1024);
        for env in &w.setup {
            engine.apply(env, &mut out).expect("setup is in sequence");
            out.clear();
        }
        let start = Instant::now();
        let n = flowex_sequencer::replay_into(&mut engine, dir.path(), last).expect("replay");
        let elapsed = start.elapsed();
        assert_eq!(
            n as usize,
            w.measured.len(),
            "replayed every measured command"
        );
        runs.push((elapsed, engine.state_hash(), engine_book_hash(&engine)));
    }
    runs.sort_by_key(|r| r.0);
    let (elapsed, state, book) = runs[runs.len() / 2];
    BenchResult {
        name: "flowex".into(),
        mode: Mode::Replay.name().into(),
        mix: w.opts.mix.name().into(),
        rate: None,
        commands: w.measured.len(),
        elapsed,
        ops_per_sec: w.measured.len() as f64 / elapsed.as_secs_f64().max(1e-12),
        p50_ns: None,
        p99_ns: None,
        p999_ns: None,
        p9999_ns: None,
        max_ns: None,
        state_hash: Some(state),
        book_hash: Some(book),
    }
}
