//! FlowEx engine benchmark harness.
//!
//! Method (exchange-core's): a command stream is generated from a fixed seed
//! before anything is timed ([`gen`]); a fresh engine is brought to the same
//! starting state (assets, market, funded accounts, a pre-filled book) by
//! untimed setup commands; then the measured commands run either closed loop
//! (throughput) or open loop at fixed rates (latency with coordinated
//! omission accounted for, recorded in an HdrHistogram) ([`measure`]).
//!
//! [`run_engine`] runs FlowEx's own modes and is what `flowex bench engine`
//! calls. Peer order books are compared in the `engine` bench target
//! (`cargo bench -p flowex-bench --bench engine`), which reuses
//! [`run_subject`] with adapters of its own.
//!
//! Modes: [`Mode::Engine`] (the engine alone), [`Mode::Durable`] (the
//! sequencer and journal with fsync group commit, see [`durable`]) and
//! [`Mode::Replay`] (replay from a journal). A new mode is a [`Subject`] (plus [`Finish`])
//! wrapping the component, and a branch in [`run_mode`].

pub mod durable;
pub mod gen;
pub mod measure;

pub use gen::{generate, GenOpts, Mix, MixCounts, PeerOp, Workload};
pub use measure::{closed_loop, new_histogram, open_loop, Subject};

use flowex_engine::Engine;
use flowex_types::{Envelope, Event};
use std::fmt::{self, Write as _};
use std::time::Duration;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `Engine::apply` alone, events produced into a reused buffer.
    Engine,
    /// Sequencer + journal (fsync group commit) + engine; a command is done
    /// when its reply (after the fsync) arrives.
    Durable,
    /// Rebuild from a journal: read, checksum, decode, apply. Closed loop only.
    Replay,
    /// The engine-thread pause of a snapshot (a copy of the engine; encoding
    /// happens on another thread) of the state the measured stream leaves.
    Snapshot,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Durable => "durable",
            Mode::Replay => "replay",
            Mode::Snapshot => "snapshot",
        }
    }

    pub const ALL: [Mode; 4] = [Mode::Engine, Mode::Durable, Mode::Replay, Mode::Snapshot];

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Options of a benchmark run. `Default` is the real run; tests shrink it.
#[derive(Clone, Debug)]
pub struct BenchOpts {
    pub seed: u64,
    /// Measured commands per mix (closed loop).
    pub commands: usize,
    /// Funded accounts.
    pub accounts: u32,
    /// Resting orders in the pre-filled book.
    pub orders: usize,
    pub mixes: Vec<Mix>,
    pub modes: Vec<Mode>,
    /// Open-loop rates in commands per second; empty = throughput only.
    pub rates: Vec<u64>,
    /// Each open-loop run lasts at most this long (it runs
    /// `min(commands, rate * latency_millis / 1000)` commands).
    pub latency_millis: u64,
    /// Closed-loop repetitions; the median is reported.
    pub runs: usize,
}

impl Default for BenchOpts {
    fn default() -> Self {
        BenchOpts {
            seed: 1,
            commands: 3_000_000,
            accounts: 1_000,
            orders: 1_000,
            mixes: Mix::ALL.to_vec(),
            modes: Mode::ALL.to_vec(),
            rates: vec![100_000, 1_000_000, 3_000_000],
            latency_millis: 2_000,
            runs: 3,
        }
    }
}

impl BenchOpts {
    pub fn gen_opts(&self, mix: Mix) -> GenOpts {
        GenOpts {
            seed: self.seed,
            commands: self.commands,
            accounts: self.accounts,
            orders: self.orders,
            mix,
            ..GenOpts::default()
        }
    }

    /// Commands in the open-loop run at `rate`.
    pub fn open_loop_commands(&self, rate: u64) -> usize {
        let by_time = u128::from(rate) * u128::from(self.latency_millis) / 1000;
        usize::try_from(by_time)
            .unwrap_or(usize::MAX)
            .min(self.commands)
            .max(1)
    }
}

/// One measured line: a subject, a mode, a mix, a load.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// `flowex` or a peer's crate name.
    pub name: String,
    pub mode: String,
    pub mix: String,
    /// `None` = closed loop; `Some(rate)` = open loop at that many commands/s.
    pub rate: Option<u64>,
    pub commands: usize,
    pub elapsed: Duration,
    /// Achieved commands per second (reporting only).
    pub ops_per_sec: f64,
    /// Latency percentiles in ns, open loop only.
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub p999_ns: Option<u64>,
    pub p9999_ns: Option<u64>,
    pub max_ns: Option<u64>,
    /// `Engine::state_hash` at the end; `None` for peers.
    pub state_hash: Option<u64>,
    /// Hash of the aggregated book levels at the end, comparable across
    /// implementations (see [`gen::book_hash`]).
    pub book_hash: Option<u64>,
}

impl BenchResult {
    pub fn load(&self) -> String {
        match self.rate {
            None => "closed".to_string(),
            Some(r) => format!("open@{}", human_rate(r)),
        }
    }

    /// One JSON object, one line.
    pub fn to_json(&self) -> String {
        let hex = |h: Option<u64>| h.map(|h| format!("{h:016x}"));
        serde_json::json!({
            "name": self.name,
            "mode": self.mode,
            "mix": self.mix,
            "load": self.load(),
            "rate": self.rate,
            "commands": self.commands,
            "elapsed_ns": u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX),
            "ops_per_sec": self.ops_per_sec.round(),
            "p50_ns": self.p50_ns,
            "p99_ns": self.p99_ns,
            "p999_ns": self.p999_ns,
            "p9999_ns": self.p9999_ns,
            "max_ns": self.max_ns,
            "state_hash": hex(self.state_hash),
            "book_hash": hex(self.book_hash),
        })
        .to_string()
    }
}

fn human_rate(r: u64) -> String {
    if r >= 1_000_000 && r.is_multiple_of(1_000_000) {
        format!("{}M", r / 1_000_000)
    } else if r >= 1_000 && r.is_multiple_of(1_000) {
        format!("{}k", r / 1_000)
    } else {
        r.to_string()
    }
}

fn human_ns(ns: Option<u64>) -> String {
    match ns {
        None => "-".to_string(),
        Some(n) if n < 10_000 => format!("{n} ns"),
        Some(n) if n < 10_000_000 => format!("{:.1} µs", n as f64 / 1e3),
        Some(n) => format!("{:.1} ms", n as f64 / 1e6),
    }
}

/// A fixed-width table of results.
pub fn format_table(results: &[BenchResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<13} {:<7} {:<13} {:<9} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<16} {:<16}",
        "name",
        "mode",
        "mix",
        "load",
        "commands",
        "ops/s",
        "p50",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "state_hash",
        "book_hash"
    );
    for r in results {
        let hex = |h: Option<u64>| h.map_or("-".to_string(), |h| format!("{h:016x}"));
        let _ = writeln!(
            s,
            "{:<13} {:<7} {:<13} {:<9} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<16} {:<16}",
            r.name,
            r.mode,
            r.mix,
            r.load(),
            r.commands,
            format!("{:.2}M", r.ops_per_sec / 1e6),
            human_ns(r.p50_ns),
            human_ns(r.p99_ns),
            human_ns(r.p999_ns),
            human_ns(r.p9999_ns),
            human_ns(r.max_ns),
            hex(r.state_hash),
            hex(r.book_hash),
        );
    }
    s
}

/// A one-paragraph description of a generated workload.
pub fn describe_workload(w: &Workload) -> String {
    let c = &w.counts;
    let pct = |n: usize| 100.0 * n as f64 / c.total().max(1) as f64;
    format!(
        "mix {}: seed {}, {} accounts, setup {} commands, book after setup {} orders on {} levels, at end {} orders on {} levels; \
         measured {} commands: place {:.1}%, ioc {:.1}%, cancel {:.1}%, reduce {:.1}%, move {:.1}%; {} trades, {} rejected",
        w.opts.mix,
        w.opts.seed,
        w.opts.accounts,
        w.setup.len(),
        w.book_after_setup.0,
        w.book_after_setup.1,
        w.book_at_end.0,
        w.book_at_end.1,
        c.total(),
        pct(c.place),
        pct(c.ioc),
        pct(c.cancel),
        pct(c.reduce),
        pct(c.r#move),
        c.trades,
        c.rejected,
    )
}

/// Why a run could not produce results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchError {
    /// The mode has no implementation yet.
    ModeUnavailable(Mode),
    /// A run ended in another state than the generator's (non-determinism).
    Diverged {
        name: String,
        expected: u64,
        got: u64,
    },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::ModeUnavailable(m) => {
                write!(f, "bench mode `{}` is not implemented yet", m.name())
            }
            BenchError::Diverged {
                name,
                expected,
                got,
            } => {
                write!(f, "{name}: final state hash {got:016x} differs from the generator's {expected:016x}")
            }
        }
    }
}

impl std::error::Error for BenchError {}

/// Something measured, with what it reports at the end.
pub trait Finish {
    fn state_hash(&self) -> Option<u64> {
        None
    }
    fn book_hash(&self) -> Option<u64> {
        None
    }
}

/// FlowEx's engine, brought to the workload's starting state.
pub struct EngineSubject<'a> {
    pub engine: Engine,
    cmds: &'a [Envelope],
    out: Vec<Event>,
}

impl<'a> EngineSubject<'a> {
    pub fn new(w: &'a Workload) -> Self {
        let mut engine = Engine::new();
        let mut out = Vec::with_capacity(1024);
        for env in &w.setup {
            engine.apply(env, &mut out).expect("setup is in sequence");
            out.clear();
        }
        EngineSubject {
            engine,
            cmds: &w.measured,
            out,
        }
    }
}

impl Subject for EngineSubject<'_> {
    #[inline]
    fn step(&mut self, i: usize) {
        if self.engine.apply(&self.cmds[i], &mut self.out).is_err() {
            panic!("command {i} out of sequence");
        }
        // The events are the engine's output; a pipeline would hand them on here.
        self.out.clear();
    }
}

impl Finish for EngineSubject<'_> {
    fn state_hash(&self) -> Option<u64> {
        Some(self.engine.state_hash())
    }
    fn book_hash(&self) -> Option<u64> {
        Some(gen::engine_book_hash(&self.engine))
    }
}

/// Measures one subject on one workload: `runs` closed-loop runs (median
/// reported), then one open-loop run per rate. `make` builds a fresh subject
/// in the workload's starting state (untimed) for every run.
pub fn run_subject<S, F>(
    name: &str,
    mode: Mode,
    w: &Workload,
    opts: &BenchOpts,
    mut make: F,
) -> Vec<BenchResult>
where
    S: Subject + Finish,
    F: FnMut() -> S,
{
    let mut results = Vec::new();
    let n = w.measured.len();
    let base = |rate: Option<u64>, commands: usize, elapsed: Duration| BenchResult {
        name: name.to_string(),
        mode: mode.name().to_string(),
        mix: w.opts.mix.name().to_string(),
        rate,
        commands,
        elapsed,
        ops_per_sec: commands as f64 / elapsed.as_secs_f64().max(1e-12),
        p50_ns: None,
        p99_ns: None,
        p999_ns: None,
        p9999_ns: None,
        max_ns: None,
        state_hash: None,
        book_hash: None,
    };
    let mut closed = Vec::new();
    for _ in 0..opts.runs.max(1) {
        let mut s = make();
        let elapsed = closed_loop(&mut s, n);
        let mut r = base(None, n, elapsed);
        r.state_hash = s.state_hash();
        r.book_hash = s.book_hash();
        closed.push(r);
    }
    closed.sort_by_key(|r| r.elapsed);
    results.push(closed.swap_remove(closed.len() / 2));
    for &rate in &opts.rates {
        let n = opts.open_loop_commands(rate).min(n);
        let mut s = make();
        let mut hist = new_histogram();
        let elapsed = open_loop(&mut s, n, rate, &mut hist);
        let mut r = base(Some(rate), n, elapsed);
        r.p50_ns = Some(hist.value_at_quantile(0.50));
        r.p99_ns = Some(hist.value_at_quantile(0.99));
        r.p999_ns = Some(hist.value_at_quantile(0.999));
        r.p9999_ns = Some(hist.value_at_quantile(0.9999));
        r.max_ns = Some(hist.max());
        r.state_hash = s.state_hash();
        r.book_hash = s.book_hash();
        results.push(r);
    }
    results
}

/// Runs FlowEx's own modes for every mix in `opts`. This is what
/// `flowex bench engine` calls. Generation happens first, untimed, and is
/// described on stderr.
pub fn run_engine(opts: &BenchOpts) -> Result<Vec<BenchResult>, BenchError> {
    let mut results = Vec::new();
    for &mix in &opts.mixes {
        let w = generate(&opts.gen_opts(mix));
        eprintln!("{}", describe_workload(&w));
        for &mode in &opts.modes {
            results.extend(run_mode(mode, &w, opts)?);
        }
    }
    Ok(results)
}

/// Applies the whole stream, then measures what a snapshot costs the engine
/// thread: the sequencer pauses only to copy the engine (`Engine::clone`),
/// and encodes the copy on its snapshot thread. `p50_ns`/`max_ns` are the
/// median and worst copy pause over `runs`, `commands` the open orders in
/// the state, `ops_per_sec` orders copied per second. Encoding, size and
/// restore times go to stderr.
pub fn run_snapshot(w: &Workload, opts: &BenchOpts) -> BenchResult {
    let mut s = EngineSubject::new(w);
    for i in 0..w.measured.len() {
        s.step(i);
    }
    let orders = s.engine.open_order_count();
    let mut pauses = Vec::new();
    let mut copy = None;
    for _ in 0..opts.runs.max(1) {
        drop(copy.take());
        let t = std::time::Instant::now();
        copy = Some(s.engine.clone());
        pauses.push(t.elapsed());
    }
    pauses.sort();
    let t = std::time::Instant::now();
    let bytes = copy.expect("at least one run").snapshot();
    let encode = t.elapsed();
    let t = std::time::Instant::now();
    let restored = Engine::restore(&bytes).expect("a snapshot restores");
    let restore = t.elapsed();
    assert_eq!(
        restored.state_hash(),
        s.engine.state_hash(),
        "the copy and the restore reproduce the state"
    );
    let median = pauses[pauses.len() / 2];
    eprintln!(
        "snapshot: {orders} open orders; engine-thread pause (copy) {median:?}; encoded off-thread in {encode:?} to {} bytes; restore {restore:?}",
        bytes.len()
    );
    BenchResult {
        name: "flowex".into(),
        mode: Mode::Snapshot.name().into(),
        mix: w.opts.mix.name().into(),
        rate: None,
        commands: orders,
        elapsed: median,
        ops_per_sec: orders as f64 / median.as_secs_f64().max(1e-12),
        p50_ns: Some(median.as_nanos() as u64),
        p99_ns: None,
        p999_ns: None,
        p9999_ns: None,
        max_ns: pauses.last().map(|d| d.as_nanos() as u64),
        state_hash: Some(s.engine.state_hash()),
        book_hash: None,
    }
}

/// Runs one of FlowEx's modes on a generated workload, and checks that the
/// closed-loop run ended in the generator's state (engine and replay modes;
/// in durable mode the sequencer stamps its own times, which are part of the
/// state, so only the book is compared).
pub fn run_mode(
    mode: Mode,
    w: &Workload,
    opts: &BenchOpts,
) -> Result<Vec<BenchResult>, BenchError> {
    let results = match mode {
        Mode::Engine => run_subject("flowex", mode, w, opts, || EngineSubject::new(w)),
        Mode::Durable => run_subject("flowex", mode, w, opts, || durable::DurableSubject::new(w)),
        Mode::Replay => vec![durable::run_replay(w, opts)],
        Mode::Snapshot => return Ok(vec![run_snapshot(w, opts)]),
    };
    let closed = &results[0];
    let (expected, got) = match mode {
        Mode::Durable => (w.expected_book_hash, closed.book_hash),
        Mode::Engine | Mode::Replay | Mode::Snapshot => (w.expected_state_hash, closed.state_hash),
    };
    if let Some(got) = got.filter(|h| *h != expected) {
        return Err(BenchError::Diverged {
            name: format!("flowex {}", mode.name()),
            expected,
            got,
        });
    }
    Ok(results)
}
