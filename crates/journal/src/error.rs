//! The one error type of the crate.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the journal and the snapshot store.
///
/// Only [`JournalError::Io`] and [`JournalError::Poisoned`] can be transient;
/// [`JournalError::Corrupt`] means the files on disk need a human.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system call failed.
    #[error("I/O error while {op} {}: {source}", path.display())]
    Io {
        /// What we were doing ("opening", "writing", "syncing", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Damage that is not a torn tail: refusing to guess is the only safe
    /// answer, because skipping it would silently drop acknowledged commands.
    #[error("journal corrupt in {} at offset {offset}: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    /// `append_batch` was given a sequence number that does not continue the journal.
    #[error("non-consecutive sequence number: expected {expected}, got {got}")]
    NonConsecutive { expected: u64, got: u64 },
    /// A record is larger than [`crate::MAX_RECORD_BYTES`].
    #[error("record {seq} is {len} bytes, over the {max}-byte limit")]
    RecordTooLarge { seq: u64, len: usize, max: usize },
    /// `read_from` asked for records that were pruned away.
    #[error("records from seq {from} are no longer in the journal, which starts at seq {first}")]
    NotAvailable { from: u64, first: u64 },
    /// An earlier write or fsync failed, so what is on disk is unknown.
    /// The writer refuses further appends; reopening repairs the tail.
    #[error("journal writer is unusable after an earlier write or sync failure; reopen it")]
    Poisoned,
    /// A caller passed an argument that makes no sense (e.g. keeping zero snapshots).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl JournalError {
    /// Builds a closure that wraps an `io::Error` with what we were doing and where.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> JournalError {
        let path = path.to_path_buf();
        move |source| JournalError::Io { op, path, source }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> JournalError {
        JournalError::Corrupt {
            path: path.to_path_buf(),
            offset,
            detail: detail.into(),
        }
    }
}
