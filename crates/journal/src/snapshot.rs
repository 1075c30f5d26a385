//! Snapshot files: atomic write, newest-valid lookup, pruning.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::format::{
    le_u32, le_u64, list_segments, list_snapshots_in, snapshot_path, SNAPSHOT_HEADER_LEN,
    SNAPSHOT_MAGIC,
};
use crate::fs::{Fs, FsFile, StdFs};
use crate::writer::sync_dir;
use crate::JournalError;

/// A verified snapshot: the engine state after applying every record up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub path: PathBuf,
}

/// What [`prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Seqs of the valid snapshots kept, newest first.
    pub kept_snapshots: Vec<u64>,
    pub removed_snapshots: Vec<PathBuf>,
    pub removed_segments: Vec<PathBuf>,
    /// Damaged snapshots newer than the oldest kept one; left in place for
    /// a human to look at, never counted as kept.
    pub corrupt_snapshots: Vec<PathBuf>,
}

/// Writes `<dir>/snapshot-<seq>.snap` atomically: temp file, fsync, rename,
/// fsync of the directory. A crash leaves either the old set of snapshots
/// or the new one, never a half-written file under the final name.
pub fn write_snapshot(dir: &Path, seq: u64, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    write_snapshot_in(&StdFs, dir, seq, bytes)
}

/// [`write_snapshot`] in the file system `fs`.
pub fn write_snapshot_in<F: Fs>(
    fs: &F,
    dir: &Path,
    seq: u64,
    bytes: &[u8],
) -> Result<PathBuf, JournalError> {
    fs.create_dir_all(dir)
        .map_err(JournalError::io("creating", dir))?;
    let path = snapshot_path(dir, seq);
    let tmp = path.with_extension("snap.tmp");
    let mut file = fs
        .create(&tmp)
        .map_err(JournalError::io("creating", &tmp))?;
    file.append(&encode_header(seq, bytes))
        .and_then(|()| file.append(bytes))
        .map_err(JournalError::io("writing", &tmp))?;
    file.sync_all().map_err(JournalError::io("syncing", &tmp))?;
    drop(file);
    fs.rename(&tmp, &path)
        .map_err(JournalError::io("renaming", &tmp))?;
    sync_dir(fs, dir)?;
    Ok(path)
}

fn encode_header(seq: u64, bytes: &[u8]) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut h = [0u8; SNAPSHOT_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    h[24..28].copy_from_slice(&crc32c::crc32c(bytes).to_le_bytes());
    h
}

/// The newest snapshot that verifies. A damaged newer one is logged and
/// skipped: an older snapshot plus a longer replay gives the same state.
/// Real I/O errors (other than a file vanishing under a concurrent prune)
/// are returned, because guessing around them could hide a failing disk.
pub fn latest_snapshot(dir: &Path) -> Result<Option<Snapshot>, JournalError> {
    latest_snapshot_in(&StdFs, dir)
}

/// [`latest_snapshot`] in the file system `fs`.
pub fn latest_snapshot_in<F: Fs>(fs: &F, dir: &Path) -> Result<Option<Snapshot>, JournalError> {
    for (seq, path) in list_snapshots_in(fs, dir)?.into_iter().rev() {
        match load_snapshot_in(fs, &path, seq) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(JournalError::Corrupt { detail, .. }) => {
                tracing::warn!(path = %path.display(), detail, "snapshot: skipping damaged snapshot");
            }
            Err(JournalError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Reads and verifies one snapshot file whose name says `seq`.
pub fn load_snapshot(path: &Path, seq: u64) -> Result<Snapshot, JournalError> {
    load_snapshot_in(&StdFs, path, seq)
}

/// [`load_snapshot`] in the file system `fs`.
pub fn load_snapshot_in<F: Fs>(fs: &F, path: &Path, seq: u64) -> Result<Snapshot, JournalError> {
    let mut data = fs.read(path).map_err(JournalError::io("reading", path))?;
    let corrupt = |detail: String| JournalError::corrupt(path, 0, detail);
    if data.len() < SNAPSHOT_HEADER_LEN {
        return Err(corrupt(format!("snapshot is only {} bytes", data.len())));
    }
    let (h, payload) = data.split_at(SNAPSHOT_HEADER_LEN);
    if h[0..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("bad snapshot magic".into()));
    }
    let header_seq = le_u64(&h[8..16]);
    if header_seq != seq {
        return Err(corrupt(format!(
            "header says seq {header_seq}, file name says {seq}"
        )));
    }
    let len = le_u64(&h[16..24]);
    if len != payload.len() as u64 {
        return Err(corrupt(format!(
            "header says {len} payload bytes, file has {}",
            payload.len()
        )));
    }
    if crc32c::crc32c(payload) != le_u32(&h[24..28]) {
        return Err(corrupt("snapshot checksum mismatch".into()));
    }
    // Drop the header in place instead of copying a possibly huge payload.
    data.drain(..SNAPSHOT_HEADER_LEN);
    Ok(Snapshot {
        seq,
        bytes: data,
        path: path.to_path_buf(),
    })
}

/// Keeps the `keep` newest valid snapshots, deletes older snapshots, and
/// deletes the journal segments whose records are all covered by the oldest
/// kept snapshot (so every kept snapshot can still be replayed forward).
///
/// The last segment is never deleted (the writer appends to it), and a
/// segment's last seq is known from the next segment's name, so no segment
/// has to be read. Every snapshot considered is read and verified.
pub fn prune(dir: &Path, keep: usize) -> Result<PruneReport, JournalError> {
    prune_in(&StdFs, dir, keep)
}

/// [`prune`] in the file system `fs`.
pub fn prune_in<F: Fs>(fs: &F, dir: &Path, keep: usize) -> Result<PruneReport, JournalError> {
    if keep == 0 {
        return Err(JournalError::InvalidArgument(
            "prune must keep at least one snapshot",
        ));
    }
    let mut report = PruneReport::default();
    let mut doomed = Vec::new();
    for (seq, path) in list_snapshots_in(fs, dir)?.into_iter().rev() {
        if report.kept_snapshots.len() == keep {
            doomed.push(path);
            continue;
        }
        match load_snapshot_in(fs, &path, seq) {
            Ok(_) => report.kept_snapshots.push(seq),
            Err(JournalError::Corrupt { .. }) => report.corrupt_snapshots.push(path),
            Err(e) => return Err(e),
        }
    }
    for path in doomed {
        remove(fs, &path)?;
        report.removed_snapshots.push(path);
    }
    if let Some(&cutoff) = report.kept_snapshots.last() {
        report.removed_segments = remove_covered_segments(fs, dir, cutoff)?;
    }
    if !report.removed_snapshots.is_empty() || !report.removed_segments.is_empty() {
        sync_dir(fs, dir)?;
    }
    Ok(report)
}

/// Removes, oldest first, segments whose last seq is <= `cutoff`.
fn remove_covered_segments<F: Fs>(
    fs: &F,
    dir: &Path,
    cutoff: u64,
) -> Result<Vec<PathBuf>, JournalError> {
    let segments = list_segments(fs, dir)?;
    let mut removed = Vec::new();
    for pair in segments.windows(2) {
        let (_, path) = &pair[0];
        let (next_first, _) = &pair[1];
        if next_first.saturating_sub(1) > cutoff {
            break;
        }
        remove(fs, path)?;
        removed.push(path.clone());
    }
    Ok(removed)
}

fn remove<F: Fs>(fs: &F, path: &Path) -> Result<(), JournalError> {
    match fs.remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(JournalError::io("removing", path)(e)),
        _ => Ok(()),
    }
}
