//! Background snapshot writing, so the engine thread only pays for
//! serialising its state, not for the file I/O and fsyncs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::snapshot::write_snapshot;
use crate::JournalError;

/// `submit` was refused because a snapshot is still being written.
/// Bounded by design: at most one snapshot is in flight, so a slow disk
/// shows up as `Busy` instead of as unbounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a snapshot (seq {in_flight_seq}) is still being written")]
pub struct Busy {
    pub in_flight_seq: u64,
}

/// How one submitted snapshot ended.
#[derive(Debug)]
pub struct SnapshotOutcome {
    pub seq: u64,
    /// The final path on success.
    pub result: Result<PathBuf, JournalError>,
}

#[derive(Default)]
struct State {
    /// Seq of the snapshot submitted and not yet finished.
    in_flight: Option<u64>,
    /// The job, until the worker picks it up.
    job: Option<(u64, Vec<u8>)>,
    /// Outcome of the most recent finished snapshot, until taken.
    last: Option<SnapshotOutcome>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    /// A panic while holding the lock cannot leave `State` inconsistent
    /// (every update is a plain field store), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A thread that writes snapshots with [`write_snapshot`], one at a time.
///
/// Dropping it waits for the snapshot in flight to finish (snapshots are
/// written atomically, so abandoning one would only waste the work).
pub struct SnapshotWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("in_flight", &self.shared.lock().in_flight)
            .finish_non_exhaustive()
    }
}

impl SnapshotWriter {
    /// Starts the writer thread for snapshots in `dir`.
    pub fn spawn(dir: &Path) -> Result<SnapshotWriter, JournalError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let worker_dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("flowex-snapshot".into())
            .spawn(move || run(&worker, &worker_dir))
            .map_err(JournalError::io("spawning the snapshot thread for", dir))?;
        Ok(SnapshotWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands a serialised state (after applying records up to `seq`) to the
    /// writer thread. Returns at once; `Busy` if a snapshot is in flight.
    pub fn submit(&self, seq: u64, bytes: Vec<u8>) -> Result<(), Busy> {
        let mut state = self.shared.lock();
        if let Some(in_flight_seq) = state.in_flight {
            return Err(Busy { in_flight_seq });
        }
        state.in_flight = Some(seq);
        state.job = Some((seq, bytes));
        self.shared.changed.notify_all();
        Ok(())
    }

    /// True while a submitted snapshot has not finished.
    pub fn is_busy(&self) -> bool {
        self.shared.lock().in_flight.is_some()
    }

    /// Takes the outcome of the most recently finished snapshot, if not yet
    /// taken. Never blocks. Only the latest outcome is kept.
    pub fn take_result(&self) -> Option<SnapshotOutcome> {
        self.shared.lock().last.take()
    }

    /// Waits for the snapshot in flight (if any) and takes the latest outcome.
    pub fn wait(&self) -> Option<SnapshotOutcome> {
        let mut state = self.shared.lock();
        while state.in_flight.is_some() {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        state.last.take()
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // The worker does not panic; if it somehow did, there is nothing
            // useful to do with the payload during drop.
            let _ = thread.join();
        }
    }
}

/// Worker loop: wait for a job, write it, publish the outcome.
fn run(shared: &Shared, dir: &Path) {
    loop {
        let (seq, bytes) = {
            let mut state = shared.lock();
            loop {
                if let Some(job) = state.job.take() {
                    break job;
                }
                if state.shutdown {
                    return;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = write_snapshot(dir, seq, &bytes);
        if let Err(e) = &result {
            tracing::warn!(seq, error = %e, "snapshot: background write failed");
        }
        drop(bytes);
        let mut state = shared.lock();
        state.last = Some(SnapshotOutcome { seq, result });
        state.in_flight = None;
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_submit_while_one_is_in_flight_is_busy() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let writer = SnapshotWriter::spawn(tmp.path())?;
        // Pretend a snapshot is in flight; the worker has no job, so it stays idle.
        writer.shared.lock().in_flight = Some(7);
        assert!(writer.is_busy());
        assert_eq!(writer.submit(8, vec![1]), Err(Busy { in_flight_seq: 7 }));
        writer.shared.lock().in_flight = None;
        writer.submit(8, vec![1])?;
        let outcome = writer.wait().ok_or("no outcome")?;
        assert_eq!(outcome.seq, 8);
        assert!(outcome.result.is_ok());
        Ok(())
    }
}
