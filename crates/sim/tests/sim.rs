//! Deterministic simulation of the trading core, in TigerBeetle's VOPR
//! manner: the sequencer's engine, journal and snapshot steps
//! ([`Stepper`], the code the sequencer's threads run) on the simulated
//! disk and a simulated clock, driven by one seed. The seed picks the
//! workload, every interleaving (how many commands per batch, how many
//! batches in flight, when the journal and snapshot steps run) and the
//! faults: torn writes, unsynced data lost at a crash, failed fsyncs,
//! failed writes, a full disk, crashes at any file-system operation.
//!
//! After every crash and restart, after every rollback from a failed write
//! and at the end, the invariants of DESIGN.md are checked
//! (`check_invariants` below). Rerun:
//!
//! ```text
//! cargo test -p flowex-sim --test sim                         # seeds 1..=200
//! FLOWEX_SIM_SEEDS=5000 cargo test -p flowex-sim --test sim   # the long run
//! FLOWEX_SIM_SEED=42 cargo test -p flowex-sim --test sim      # one seed again
//! ```

mod common;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use flowex_engine::Engine;
use flowex_journal::{list_snapshots_in, load_snapshot_in, read_from_in};
use flowex_sequencer::*;
use flowex_sim::{SimFs, SimStats};
use flowex_types::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DEFAULT_SEEDS: u64 = 200;
const STEPS: usize = 400;
const MAX_IN_FLIGHT: usize = 3;

fn dir() -> PathBuf {
    PathBuf::from("/sim/journal")
}

fn config() -> SequencerConfig {
    let mut journal = JournalConfig::new(dir());
    // Small segments and frequent snapshots: rolling and pruning happen
    // many times in a few hundred commands.
    journal.segment_bytes = 2_048;
    let mut cfg = SequencerConfig::new(journal);
    cfg.snapshot_every = 20;
    cfg.keep_snapshots = 2;
    cfg
}

/// What a caller heard: the seq and events of its command, or a refusal.
type Answer = Result<(u64, Vec<Event>), String>;

/// One command a client sent, and its fate.
struct Submitted {
    command: Command,
    /// Refused after being applied (its batch failed to write): absent
    /// from the journal once the journal has been cut back.
    refused_after_apply: bool,
}

#[derive(Default, Debug, Clone, Copy)]
struct Totals {
    seeds: u64,
    steps: u64,
    commands_applied: u64,
    acknowledged: u64,
    refused: u64,
    crashes: u64,
    rewinds: u64,
    snapshots: u64,
    checks: u64,
    fs: SimStats,
}

struct World {
    rng: ChaCha8Rng,
    fs: SimFs,
    clock: Arc<AtomicU64>,
    stepper: Option<Stepper<SimFs>>,
    pipeline: VecDeque<Stage>,
    outbox: VecDeque<u64>,
    workload: Workload,
    submitted: Vec<Submitted>,
    answers: Arc<Mutex<Vec<(u64, Answer)>>>,
    /// Acknowledged commands by seq, with the events their caller got.
    acked: BTreeMap<u64, (u64, Vec<Event>)>,
    /// Every envelope applied, by seq (a later one replaces an earlier one
    /// with the same seq after a rollback or a crash).
    history: BTreeMap<u64, Envelope>,
    /// Refused after apply, not yet known to be cut from the journal.
    refused_unsettled: Vec<u64>,
    /// Refused commands that must never be in the journal.
    refused_final: HashSet<u64>,
    totals: Totals,
}

impl World {
    fn new(seed: u64) -> Result<World, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fs = SimFs::new(rng.gen());
        let workload = Workload::new(ChaCha8Rng::seed_from_u64(rng.gen()));
        let mut world = World {
            rng,
            fs,
            clock: Arc::new(AtomicU64::new(1_700_000_000_000_000_000)),
            stepper: None,
            pipeline: VecDeque::new(),
            outbox: VecDeque::new(),
            workload,
            submitted: Vec::new(),
            answers: Arc::default(),
            acked: BTreeMap::new(),
            history: BTreeMap::new(),
            refused_unsettled: Vec::new(),
            refused_final: HashSet::new(),
            totals: Totals::default(),
        };
        world.boot()?;
        for command in setup_commands() {
            world.submit(command);
        }
        Ok(world)
    }

    fn boot(&mut self) -> Result<(), String> {
        let clock = self.clock.clone();
        let clock: Clock = Box::new(move || clock.load(Ordering::Relaxed));
        let (stepper, _) = Stepper::recover(self.fs.clone(), config(), clock)
            .map_err(|e| format!("recovery failed: {e}"))?;
        self.stepper = Some(stepper);
        Ok(())
    }

    fn stepper(&mut self) -> Result<&mut Stepper<SimFs>, String> {
        self.stepper
            .as_mut()
            .ok_or_else(|| "no sequencer".to_string())
    }

    fn submit(&mut self, command: Command) {
        self.outbox.push_back(self.submitted.len() as u64);
        self.submitted.push(Submitted {
            command,
            refused_after_apply: false,
        });
    }

    fn reply(&self, id: u64) -> Reply {
        let answers = self.answers.clone();
        Reply::Callback(Box::new(move |r: Result<Applied, SequencerError>| {
            let answer = r
                .map(|a| (a.seq(), a.events().to_vec()))
                .map_err(|e| e.to_string());
            answers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((id, answer));
        }))
    }

    /// One step of the world, chosen by the seed.
    fn step(&mut self) -> Result<(), String> {
        self.totals.steps += 1;
        self.clock
            .fetch_add(self.rng.gen_range(0..5_000_000), Ordering::Relaxed);
        match self.rng.gen_range(0..100) {
            0..=29 => {
                for _ in 0..self.rng.gen_range(1..=4) {
                    let command = self.workload.command();
                    self.submit(command);
                }
            }
            30..=59 => self.engine_step()?,
            60..=89 => self.journal_step()?,
            90..=96 => self.snapshot_step()?,
            97..=98 => self.inject_fault(),
            _ => self.fs.crash_after(self.rng.gen_range(0..12)),
        }
        self.collect_answers(false)?;
        if self.fs.is_crashed() {
            self.crash_and_recover()?;
        }
        Ok(())
    }

    /// The engine thread: a rollback after a failed write, letting
    /// commands in again, or one batch.
    fn engine_step(&mut self) -> Result<(), String> {
        let stepper = self.stepper()?;
        let (needs_rewind, down) = (stepper.needs_rewind(), stepper.journal_down());
        if needs_rewind {
            // As on the engine thread: only once every stage sent before the
            // failure has reached the journal step (and been refused).
            if self.pipeline.is_empty() {
                return self.rewind();
            }
            return Ok(());
        }
        if down {
            // `journal_retry` has passed.
            self.stepper()?.resume();
            return Ok(());
        }
        if self.pipeline.len() >= MAX_IN_FLIGHT || self.outbox.is_empty() {
            return Ok(());
        }
        let n = self.rng.gen_range(1..=self.outbox.len().min(16));
        let ids: Vec<u64> = self.outbox.drain(..n).collect();
        let batch: Vec<(Command, Reply)> = ids
            .iter()
            .map(|&id| (self.submitted[id as usize].command, self.reply(id)))
            .collect();
        match self.stepper()?.apply(batch) {
            Some(stage) => {
                for (entry, _) in stage.batch().entries() {
                    let env = Envelope {
                        seq: entry.seq,
                        timestamp_ns: entry.timestamp_ns,
                        command: entry.command,
                    };
                    self.history.insert(entry.seq, env);
                }
                self.totals.commands_applied += ids.len() as u64;
                for id in ids {
                    self.submitted[id as usize].refused_after_apply = true;
                }
                self.pipeline.push_back(stage);
            }
            None => self.collect_answers(true)?,
        }
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), String> {
        if !self.stepper()?.rewind() {
            return Ok(()); // the disk still refuses; the engine thread retries later
        }
        self.totals.rewinds += 1;
        // The journal was cut back: what was refused is gone for good.
        self.refused_final.extend(self.refused_unsettled.drain(..));
        self.check_invariants("after a rollback")
    }

    fn journal_step(&mut self) -> Result<(), String> {
        if let Some(stage) = self.pipeline.pop_front() {
            self.stepper()?.commit(stage);
        }
        Ok(())
    }

    fn snapshot_step(&mut self) -> Result<(), String> {
        if self.stepper()?.write_snapshot() == Some(true) {
            self.totals.snapshots += 1;
        }
        Ok(())
    }

    fn inject_fault(&mut self) {
        match self.rng.gen_range(0..4) {
            0 => self.fs.fail_syncs(1),
            1 => self.fs.fail_writes(1),
            2 => {
                let room = self.rng.gen_range(0..400);
                self.fs.set_capacity(Some(self.fs.used_bytes() + room));
            }
            _ => self.fs.set_capacity(None),
        }
    }

    /// Records what callers heard. `at_apply`: the refusals come from the
    /// engine step, so those commands were never applied.
    fn collect_answers(&mut self, at_apply: bool) -> Result<(), String> {
        let answers = std::mem::take(&mut *self.answers.lock().unwrap_or_else(|p| p.into_inner()));
        for (id, answer) in answers {
            match answer {
                Ok((seq, events)) => {
                    self.totals.acknowledged += 1;
                    if let Some((other, _)) = self.acked.insert(seq, (id, events)) {
                        return Err(format!(
                            "seq {seq} acknowledged twice: commands {other} and {id}"
                        ));
                    }
                    let durable = self.stepper()?.journal().last_seq();
                    if seq > durable {
                        return Err(format!(
                            "seq {seq} acknowledged beyond the journal's {durable}"
                        ));
                    }
                }
                Err(_) => {
                    self.totals.refused += 1;
                    if at_apply || !self.submitted[id as usize].refused_after_apply {
                        self.refused_final.insert(id);
                    } else {
                        self.refused_unsettled.push(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// The machine died: everything in memory is gone; the disk keeps what
    /// it keeps. Then the core starts again from the disk.
    fn crash_and_recover(&mut self) -> Result<(), String> {
        self.totals.crashes += 1;
        self.stepper = None;
        self.pipeline.clear();
        self.outbox.clear();
        // Unsettled refusals may or may not have reached the disk whole.
        self.refused_unsettled.clear();
        self.fs.restart();
        // An operator frees space before starting again, if it was short.
        self.fs.set_capacity(None);
        self.boot()?;
        self.check_invariants("after a crash and restart")
    }

    /// DESIGN.md's invariants against what callers were told.
    fn check_invariants(&mut self, when: &str) -> Result<(), String> {
        self.totals.checks += 1;
        let fail = |what: String| format!("{when}: {what}");
        let stepper = self.stepper.as_ref().ok_or("no sequencer")?;
        let last = stepper.journal().last_seq();
        let engine = stepper.engine();
        if engine.last_seq() != last {
            return Err(fail(format!(
                "engine at seq {}, journal at {last}",
                engine.last_seq()
            )));
        }
        // The journal holds exactly the commands the sim saw applied under
        // those seqs, and a fresh replay of all of them (from the sim's own
        // copy: old segments are pruned) gives the recovered state.
        self.check_journal_matches_history(last).map_err(fail)?;
        let (reference, events) = replay_history(&self.history, last).map_err(fail)?;
        if reference.state_hash() != engine.state_hash() {
            return Err(fail(format!(
                "state hash {:x} after recovery, {:x} by a fresh replay of seqs 1..={last}",
                engine.state_hash(),
                reference.state_hash()
            )));
        }
        engine.check_invariants().map_err(fail)?;
        // Every acknowledged command is there with the outcome its caller got.
        for (&seq, (id, heard)) in &self.acked {
            let Some(env) = (seq <= last).then(|| self.history.get(&seq)).flatten() else {
                return Err(fail(format!(
                    "acknowledged seq {seq} (command {id}) lost; the journal ends at {last}"
                )));
            };
            if env.command != self.submitted[*id as usize].command {
                return Err(fail(format!(
                    "seq {seq} holds another command than the one acknowledged"
                )));
            }
            if events.get(&seq) != Some(heard) {
                return Err(fail(format!(
                    "seq {seq}: the caller heard {heard:?}, replay gives {:?}",
                    events.get(&seq)
                )));
            }
        }
        // Nothing refused is in the journal.
        let present: HashSet<String> = (1..=last)
            .filter_map(|s| self.history.get(&s))
            .map(|env| format!("{:?}", env.command))
            .collect();
        for id in &self.refused_final {
            let command = &self.submitted[*id as usize].command;
            if names_one_submission(command) && present.contains(&format!("{command:?}")) {
                return Err(fail(format!(
                    "command {id} was refused, yet it is in the journal"
                )));
            }
        }
        self.check_every_snapshot(last, reference.state_hash())
            .map_err(fail)
    }

    fn check_journal_matches_history(&self, last: u64) -> Result<(), String> {
        let Some((&first, _)) = self.history.range(..=last).next() else {
            return Ok(());
        };
        let first_kept = list_segment_start(&self.fs).unwrap_or(first);
        let mut reader = read_from_in(&self.fs, &dir(), first_kept).map_err(|e| e.to_string())?;
        let mut next = first_kept;
        while let Some(record) = reader.next_record() {
            let (seq, bytes) = record.map_err(|e| format!("reading the journal: {e}"))?;
            let env = Envelope::decode(bytes).map_err(|e| format!("record {seq}: {e}"))?;
            if seq != next || self.history.get(&seq) != Some(&env) {
                return Err(format!(
                    "journal record {seq} is not the command applied as seq {seq}"
                ));
            }
            next += 1;
        }
        if next != last + 1 {
            return Err(format!(
                "the journal reads to seq {}, ends at {last}",
                next - 1
            ));
        }
        Ok(())
    }

    /// Snapshot + tail = full replay, for every snapshot on disk.
    fn check_every_snapshot(&self, last: u64, want: u64) -> Result<(), String> {
        let snapshots = list_snapshots_in(&self.fs, &dir()).map_err(|e| e.to_string())?;
        for (seq, path) in snapshots {
            let snap = load_snapshot_in(&self.fs, &path, seq)
                .map_err(|e| format!("snapshot {seq}: {e}"))?;
            let mut engine =
                Engine::restore(&snap.bytes).map_err(|e| format!("snapshot {seq}: {e}"))?;
            replay_into_in(&self.fs, &mut engine, &dir(), last)
                .map_err(|e| format!("snapshot {seq} + tail: {e}"))?;
            if engine.state_hash() != want {
                return Err(format!(
                    "snapshot {seq} + tail gives another state than a full replay"
                ));
            }
        }
        Ok(())
    }

    /// Runs the steps, then one last power cut and check.
    fn run(mut self) -> Result<Totals, String> {
        for _ in 0..STEPS {
            self.step()?;
        }
        self.fs.crash();
        self.crash_and_recover()?;
        self.totals.seeds = 1;
        self.totals.fs = self.fs.stats();
        Ok(self.totals)
    }
}

/// Whether a command is unique to one submission (a client order id or an
/// idempotency key made from a counter), so finding it names that one.
fn names_one_submission(command: &Command) -> bool {
    matches!(
        command,
        Command::PlaceOrder(_)
            | Command::Deposit { .. }
            | Command::Withdraw { .. }
            | Command::WithdrawLock { .. }
    )
}

/// First seq of the oldest segment still on disk.
fn list_segment_start(fs: &SimFs) -> Option<u64> {
    use flowex_journal::Fs;
    fs.list_dir(&dir())
        .ok()?
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .strip_prefix("journal-")?
                .strip_suffix(".seg")?
                .parse::<u64>()
                .ok()
        })
        .min()
}

/// A fresh engine fed `history[1..=last]`, and each seq's events.
fn replay_history(
    history: &BTreeMap<u64, Envelope>,
    last: u64,
) -> Result<(Engine, BTreeMap<u64, Vec<Event>>), String> {
    let mut engine = Engine::new();
    let mut events = BTreeMap::new();
    for seq in 1..=last {
        let env = history
            .get(&seq)
            .ok_or(format!("seq {seq} was never applied"))?;
        let mut out = Vec::new();
        engine
            .apply(env, &mut out)
            .map_err(|e| format!("replay of {seq}: {e:?}"))?;
        events.insert(seq, out);
    }
    Ok((engine, events))
}

fn run_seed(seed: u64) -> Result<Totals, String> {
    let outcome = std::panic::catch_unwind(|| World::new(seed)?.run());
    outcome.unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {text}"))
    })
}

fn add(total: &mut Totals, t: &Totals) {
    total.seeds += t.seeds;
    total.steps += t.steps;
    total.commands_applied += t.commands_applied;
    total.acknowledged += t.acknowledged;
    total.refused += t.refused;
    total.crashes += t.crashes;
    total.rewinds += t.rewinds;
    total.snapshots += t.snapshots;
    total.checks += t.checks;
    let (a, b) = (&mut total.fs, &t.fs);
    a.ops += b.ops;
    a.syncs += b.syncs;
    a.failed_syncs += b.failed_syncs;
    a.failed_writes += b.failed_writes;
    a.no_space += b.no_space;
    a.crashes += b.crashes;
    a.torn_bytes_kept += b.torn_bytes_kept;
    a.unsynced_bytes_dropped += b.unsynced_bytes_dropped;
}

#[test]
fn simulation() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match env("FLOWEX_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (1..=env("FLOWEX_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    };
    let mut total = Totals::default();
    let mut failures = Vec::new();
    for seed in seeds {
        match run_seed(seed) {
            Ok(t) => add(&mut total, &t),
            Err(why) => {
                eprintln!(
                    "sim seed {seed} FAILED: {why}\n  reproduce: FLOWEX_SIM_SEED={seed} cargo test -p flowex-sim --test sim -- --nocapture"
                );
                failures.push(seed);
            }
        }
    }
    eprintln!("sim: {total:#?}");
    assert!(
        failures.is_empty(),
        "simulation failed for seeds {failures:?} (each printed with its reproduction command above)"
    );
    // The run must have exercised what it claims to.
    if total.seeds >= 50 {
        let fs = total.fs;
        assert!(
            total.crashes > total.seeds && total.rewinds > 0 && total.snapshots > 0,
            "{total:#?}"
        );
        assert!(
            fs.failed_syncs > 0
                && fs.failed_writes > 0
                && fs.no_space > 0
                && fs.torn_bytes_kept > 0,
            "{total:#?}"
        );
    }
}
