//! Recomputing the events of journaled commands.
//!
//! The journal holds commands, not events. The engine is deterministic, so
//! rebuilding it as it was just before a command (newest snapshot at or
//! before that point, plus replay) and applying the command again yields
//! exactly the events the live engine produced.

use crate::{BusError, EventRecord};
use flowex_engine::Engine;
use flowex_journal::{list_snapshots, load_snapshot, read_from};
use flowex_types::Envelope;
use std::path::Path;

/// Calls `emit` with the [`EventRecord`] of every command with a seq in
/// `from..=to`, in order, recomputed from the journal directory `dir`;
/// `emit` returns `false` to stop early. Returns the first seq emitted (or
/// that would have been): `from`, unless the journal no longer holds the
/// commands before it (pruned behind a snapshot), in which case it starts
/// after the oldest snapshot past `from` and logs the gap. Blocking: run it
/// on a blocking thread.
pub fn regenerate(
    dir: &Path,
    from: u64,
    to: u64,
    mut emit: impl FnMut(EventRecord) -> bool,
) -> Result<u64, BusError> {
    let from = from.max(1);
    if from > to {
        return Ok(from);
    }
    let mut engine = match engine_at(dir, from - 1) {
        Ok(e) => e,
        Err(first) => {
            // The history before `from` is gone: start from the oldest
            // snapshot after it, if any, and say what is missing.
            let later = list_snapshots(dir)?
                .into_iter()
                .find(|(s, _)| *s >= from && *s < to);
            let Some((s, _)) = later else {
                return Err(first);
            };
            tracing::error!(
                from,
                resumed_at = s + 1,
                "events {from}..={s} can no longer be regenerated (journal pruned); consumers will see a gap"
            );
            engine_at(dir, s)?
        }
    };
    let first = engine.last_seq() + 1;
    let mut reader = read_from(dir, first)?;
    let mut events = Vec::with_capacity(64);
    let mut next = first;
    while next <= to {
        let Some(record) = reader.next_record() else {
            return Err(BusError::Regenerate(format!(
                "the journal ends at seq {} before {to}",
                next - 1
            )));
        };
        let (seq, bytes) = record?;
        let env = Envelope::decode(bytes).map_err(|e| BusError::Decode(format!("{seq}: {e}")))?;
        if env.seq != seq || seq != next {
            return Err(BusError::Regenerate(format!(
                "journal record {seq} carries seq {} where {next} was expected",
                env.seq
            )));
        }
        engine
            .apply(&env, &mut events)
            .map_err(|e| BusError::Regenerate(format!("record {seq}: {e:?}")))?;
        let record = EventRecord {
            seq,
            timestamp_ns: env.timestamp_ns,
            events: std::mem::take(&mut events),
        };
        if !emit(record) {
            break;
        }
        next += 1;
    }
    Ok(first)
}

/// The engine exactly after command `seq`: the newest snapshot at or before
/// it, plus the journal up to it (read-only: `flowex admin reconcile`
/// compares it with the ledger at the ledger's seq).
pub fn engine_at(dir: &Path, seq: u64) -> Result<Engine, BusError> {
    let base = list_snapshots(dir)?
        .into_iter()
        .rev()
        .find(|(s, _)| *s <= seq);
    let mut engine = match base {
        Some((s, path)) => {
            let snap = load_snapshot(&path, s)?;
            Engine::restore(&snap.bytes).map_err(|e| BusError::Regenerate(e.to_string()))?
        }
        None => Engine::new(),
    };
    flowex_sequencer::replay_into(&mut engine, dir, seq)?;
    if engine.last_seq() != seq {
        return Err(BusError::Regenerate(format!(
            "the journal could only be replayed to seq {}, not {seq}",
            engine.last_seq()
        )));
    }
    Ok(engine)
}
