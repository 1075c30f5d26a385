//! The durable input log of the FlowEx trading core (LMAX style).
//!
//! The sequencer hands [`Journal::append_batch`] a batch of already-encoded
//! command records, each with its sequence number. The batch is framed into
//! one buffer, written with one `write` call and made durable with one
//! fdatasync (group commit); the sequencer answers callers only after that
//! returns. Recovery is the newest valid snapshot ([`latest_snapshot`]) plus
//! a replay of the later records ([`read_from`]). The crate does not know the
//! command format: records are opaque bytes.
//!
//! # On-disk format
//!
//! A journal directory holds segment files `journal-<first seq, 20 digits>.seg`.
//! Each segment starts with a 24-byte header — magic `FLXJRNL1`, version
//! (u32 LE), first seq (u64 LE), crc32c of those 20 bytes — followed by
//! records framed as
//!
//! ```text
//! [len: u32 LE][crc32c: u32 LE over seq bytes + payload][seq: u64 LE][payload: len bytes]
//! ```
//!
//! Sequence numbers start at 1 and are consecutive across the whole journal,
//! segment boundaries included. A payload is at most [`MAX_RECORD_BYTES`];
//! a larger length on disk is damage. A new segment is started by the first
//! batch after the current one reached `segment_bytes`, so a batch is never
//! split and a segment may exceed the limit by up to one batch.
//!
//! Snapshots live in the same directory as `snapshot-<seq, 20 digits>.snap`:
//! magic `FLXSNAP1`, seq (u64 LE), payload length (u64 LE), crc32c of the
//! payload (u32 LE), payload. They are written to a temp file, fsynced,
//! renamed and the directory fsynced, so a snapshot is either whole or absent.
//!
//! # Recovery rules
//!
//! A crash can only damage the *end* of what was being written: the last
//! frames of the last segment (partially written, or garbage / zeros where
//! the file system had extended the file), or the header of a segment that
//! was being created. [`Journal::open`] finds the first bad frame of the last
//! segment and looks further on for any offset where a frame with a valid
//! checksum and a seq above the last good one starts. If there is none, the
//! bad bytes are a torn tail: they are reported in [`OpenReport`], logged
//! with `tracing::warn!`, cut off (`set_len` + fsync), and the writer carries
//! on after the last complete record. Those records were never acknowledged,
//! because their batch's fsync had not returned.
//!
//! Everything else is [`JournalError::Corrupt`] with the file and offset,
//! never a silent skip, because skipping would drop acknowledged commands and
//! the engine state would silently diverge: a bad frame in any segment but
//! the last, a bad frame in the last segment followed by a valid one, a gap
//! or repeat in sequence numbers (inside a segment or between segments), a
//! damaged header on a non-last segment or on a last segment that still
//! holds records, a header with another version or first seq than its name.
//! A last segment whose header is torn and holds no record is rewritten with
//! a fresh header (its name still says which seq comes next).
//!
//! [`read_from`] applies the same checks without repairing anything: a torn
//! tail simply ends the iteration.
//!
//! # What callers must know
//!
//! - One writer per directory; nothing enforces it.
//! - After an I/O error the writer is poisoned ([`JournalError::Poisoned`])
//!   and the failed batch is not acknowledged. Call [`Journal::recover`]:
//!   it closes the failed descriptor without syncing it again (after a
//!   failed fsync Linux may have dropped the dirty pages and marked them
//!   clean, so a second fsync would report success for data that is not on
//!   disk), cuts the segment back to its last synced length through a new
//!   descriptor, syncs and re-reads that, and starts the next batch in a
//!   new segment. Do not simply reopen the directory in the same boot: the
//!   page cache may still serve the failed batch, which would then be
//!   built on and lost at the next power cut.
//! - All file-system calls go through [`Fs`]; [`StdFs`] is the real one.
//!   The `*_in` variants ([`Journal::open_in`], [`read_from_in`], ...) take
//!   another (tests use crates/sim's fault-injecting `SimFs`).
//! - [`Durability::None`] never syncs and can lose acknowledged commands:
//!   benchmarks only.
//! - `open` reads every segment to validate it; [`prune`] keeps that short.

mod cursor;
mod error;
mod format;
pub mod fs;
mod reader;
mod snapshot;
mod writer;

pub use error::JournalError;
pub use format::{list_snapshots, list_snapshots_in, DEFAULT_SEGMENT_BYTES, MAX_RECORD_BYTES};
pub use fs::{Fs, FsFile, StdFs};
pub use reader::{read_from, read_from_in, JournalReader};
pub use snapshot::{
    latest_snapshot, latest_snapshot_in, load_snapshot, load_snapshot_in, prune, prune_in,
    write_snapshot, write_snapshot_in, PruneReport, Snapshot,
};
pub use writer::{Durability, Journal, JournalConfig, JournalStats, OpenReport};
