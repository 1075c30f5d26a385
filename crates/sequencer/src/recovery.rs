//! Rebuilding the engine from disk: newest valid snapshot, then the journal
//! records after it. Used at start-up and by `flowex replay`.

use crate::SequencerError;
use flowex_engine::Engine;
use flowex_journal::{latest_snapshot_in, read_from_in, Fs, Journal, JournalConfig, StdFs};
use flowex_types::Envelope;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Sequence number covered by the snapshot recovery started from.
    pub snapshot_seq: Option<u64>,
    /// Journal records applied on top of the snapshot.
    pub replayed: u64,
    pub last_seq: u64,
    /// Bytes of torn journal tail cut off when the journal was opened.
    pub truncated_bytes: u64,
    pub elapsed: Duration,
    pub state_hash: u64,
}

/// Opens (and repairs) the journal, restores the newest snapshot and replays
/// the rest. The engine comes back exactly as it was after the last durable command.
pub fn recover(cfg: JournalConfig) -> Result<(Engine, Journal, RecoveryReport), SequencerError> {
    recover_in(StdFs, cfg)
}

/// [`recover`] in the file system `fs`.
pub fn recover_in<F: Fs>(
    fs: F,
    cfg: JournalConfig,
) -> Result<(Engine, Journal<F>, RecoveryReport), SequencerError> {
    let started = Instant::now();
    let (journal, open) = Journal::open_in(fs, cfg)?;
    let dir = journal.dir().to_path_buf();
    let (engine, snapshot_seq, replayed) = rebuild_in(journal.fs(), &dir, journal.last_seq())?;
    let report = RecoveryReport {
        snapshot_seq,
        replayed,
        last_seq: engine.last_seq(),
        truncated_bytes: open.truncated_bytes,
        elapsed: started.elapsed(),
        state_hash: engine.state_hash(),
    };
    Ok((engine, journal, report))
}

/// The engine after record `last_seq`: the newest snapshot plus the
/// journal records after it. Returns the engine, the snapshot's seq and
/// the number of records replayed.
pub(crate) fn rebuild_in<F: Fs>(
    fs: &F,
    dir: &Path,
    last_seq: u64,
) -> Result<(Engine, Option<u64>, u64), SequencerError> {
    let (mut engine, snapshot_seq) = match latest_snapshot_in(fs, dir)? {
        Some(s) => (
            Engine::restore(&s.bytes).map_err(|e| SequencerError::Snapshot(e.to_string()))?,
            Some(s.seq),
        ),
        None => (Engine::new(), None),
    };
    if engine.last_seq() > last_seq {
        return Err(SequencerError::Recovery(format!(
            "snapshot covers seq {} but the journal ends at {last_seq}",
            engine.last_seq(),
        )));
    }
    let replayed = replay_into_in(fs, &mut engine, dir, last_seq)?;
    if engine.last_seq() != last_seq {
        return Err(SequencerError::Recovery(format!(
            "replay ended at seq {}, the journal at {last_seq}",
            engine.last_seq()
        )));
    }
    Ok((engine, snapshot_seq, replayed))
}

/// Applies journal records after the engine's last seq, up to and including `until`.
pub fn replay_into(engine: &mut Engine, dir: &Path, until: u64) -> Result<u64, SequencerError> {
    replay_into_in(&StdFs, engine, dir, until)
}

/// [`replay_into`] in the file system `fs`.
pub fn replay_into_in<F: Fs>(
    fs: &F,
    engine: &mut Engine,
    dir: &Path,
    until: u64,
) -> Result<u64, SequencerError> {
    let mut events = Vec::with_capacity(64);
    let mut applied = 0;
    if engine.last_seq() >= until {
        return Ok(0);
    }
    let mut reader = read_from_in(fs, dir, engine.last_seq() + 1)?;
    while let Some(record) = reader.next_record() {
        let (seq, bytes) = record?;
        let env = Envelope::decode(bytes)
            .map_err(|e| SequencerError::Recovery(format!("record {seq}: {e}")))?;
        if env.seq != seq {
            return Err(SequencerError::Recovery(format!(
                "record {seq} carries seq {}",
                env.seq
            )));
        }
        engine.apply(&env, &mut events).map_err(|e| {
            SequencerError::Recovery(format!("record {seq}: expected seq {}", e.expected))
        })?;
        events.clear();
        applied += 1;
        if seq == until {
            break;
        }
    }
    Ok(applied)
}
