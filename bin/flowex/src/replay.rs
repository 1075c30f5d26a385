//! `flowex replay`: rebuild the engine from a data directory without
//! changing it, report count, rate and state hash, and with `--verify`
//! check that replaying the journal reproduces the snapshots' state.

use anyhow::{bail, Context, Result};
use flowex_engine::Engine;
use flowex_journal::{list_snapshots, load_snapshot, read_from, JournalError};
use flowex_types::Envelope;
use std::path::Path;
use std::time::Instant;

/// The journal of a data directory (`<dir>/journal`), or `dir` itself when it holds the segments.
pub fn journal_dir(dir: &Path) -> std::path::PathBuf {
    let nested = dir.join("journal");
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

pub struct ReplayReport {
    pub started_from: Option<u64>,
    pub records: u64,
    pub seconds: f64,
    pub last_seq: u64,
    pub state_hash: u64,
    /// Snapshots whose state the replay reproduced, by seq.
    pub verified: Vec<u64>,
}

/// Replays from the oldest point the journal still covers: the genesis if
/// its first record is there, else the oldest readable snapshot.
pub fn replay(dir: &Path, verify: bool) -> Result<ReplayReport> {
    if !dir.is_dir() {
        bail!("{} is not a data directory", dir.display());
    }
    let snapshots = list_snapshots(dir)?;
    let (mut engine, started_from) = match read_from(dir, 1) {
        Ok(_) => (Engine::new(), None),
        Err(JournalError::NotAvailable { .. }) => {
            let (seq, path) = snapshots
                .first()
                .context("journal was pruned and no snapshot is left")?;
            let snap = load_snapshot(path, *seq)?;
            (
                Engine::restore(&snap.bytes).context("restoring the oldest snapshot")?,
                Some(*seq),
            )
        }
        Err(e) => return Err(e.into()),
    };
    let mut checkpoints: Vec<(u64, std::path::PathBuf)> = snapshots
        .into_iter()
        .filter(|(seq, _)| Some(*seq) != started_from)
        .collect();
    checkpoints.reverse();
    let mut verified = Vec::new();
    let mut events = Vec::with_capacity(64);
    let (mut records, clock) = (0u64, Instant::now());
    for record in read_from(dir, engine.last_seq() + 1)? {
        let (seq, bytes) = record?;
        let env = Envelope::decode(&bytes).with_context(|| format!("record {seq}"))?;
        if engine.apply(&env, &mut events).is_err() {
            bail!(
                "record {seq} is out of sequence after {}",
                engine.last_seq()
            );
        }
        events.clear();
        records += 1;
        while verify && checkpoints.last().is_some_and(|(s, _)| *s == seq) {
            let (s, path) = checkpoints.pop().expect("checked");
            let snap = Engine::restore(&load_snapshot(&path, s)?.bytes)
                .context("snapshot does not restore")?;
            if snap.state_hash() != engine.state_hash() {
                bail!(
                    "replay diverges from snapshot {s}: {:016x} != {:016x}",
                    engine.state_hash(),
                    snap.state_hash()
                );
            }
            verified.push(s);
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    if verify {
        if let Some((s, _)) = checkpoints.last() {
            bail!(
                "the journal ends at {} before snapshot {s}",
                engine.last_seq()
            );
        }
    }
    Ok(ReplayReport {
        started_from,
        records,
        seconds,
        last_seq: engine.last_seq(),
        state_hash: engine.state_hash(),
        verified,
    })
}

pub fn print(r: &ReplayReport, verify: bool) {
    match r.started_from {
        Some(s) => println!("started from snapshot at seq {s}"),
        None => println!("started from the first journal record"),
    }
    let rate = if r.seconds > 0.0 {
        r.records as f64 / r.seconds
    } else {
        0.0
    };
    println!("records replayed: {}", r.records);
    println!("elapsed:          {:.3} s ({rate:.0} records/s)", r.seconds);
    println!("last seq:         {}", r.last_seq);
    println!("state hash:       {:016x}", r.state_hash);
    if verify {
        match r.verified.last() {
            Some(s) => println!(
                "verified:         state matches {} snapshot(s), latest at seq {s}",
                r.verified.len()
            ),
            None => println!("verified:         no snapshot to compare against"),
        }
    }
}
