//! On-disk layout: constants, segment header, record frames, file names.
//!
//! Everything here is pure (no I/O except directory listing) so the
//! byte-level rules can be read in one place.

use std::path::{Path, PathBuf};

use crate::fs::{Fs, StdFs};
use crate::JournalError;

/// Largest payload accepted by `append_batch`. A larger length field on
/// read is treated as damage, which keeps a flipped bit in a length from
/// making us allocate gigabytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Default size after which the writer starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"FLXJRNL1";
pub(crate) const SEGMENT_VERSION: u32 = 1;
/// magic (8) + version (4) + first_seq (8) + crc32c of the previous 20 bytes (4).
pub(crate) const SEGMENT_HEADER_LEN: usize = 24;
/// len (4) + crc32c (4) + seq (8).
pub(crate) const FRAME_HEADER_LEN: usize = 16;

pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"FLXSNAP1";
/// magic (8) + seq (8) + payload len (8) + crc32c of payload (4).
pub(crate) const SNAPSHOT_HEADER_LEN: usize = 28;

const SEGMENT_PREFIX: &str = "journal-";
const SEGMENT_SUFFIX: &str = ".seg";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{first_seq:020}{SEGMENT_SUFFIX}"))
}

pub(crate) fn snapshot_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{SNAPSHOT_PREFIX}{seq:020}{SNAPSHOT_SUFFIX}"))
}

/// Segment files in `dir`, sorted by first sequence number.
pub(crate) fn list_segments<F: Fs>(
    fs: &F,
    dir: &Path,
) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    list_numbered(fs, dir, SEGMENT_PREFIX, SEGMENT_SUFFIX)
}

/// Snapshot files in `dir`, sorted by sequence number (oldest first).
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    list_snapshots_in(&StdFs, dir)
}

/// [`list_snapshots`] in the file system `fs`.
pub fn list_snapshots_in<F: Fs>(fs: &F, dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    list_numbered(fs, dir, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX)
}

fn list_numbered<F: Fs>(
    fs: &F,
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut found = Vec::new();
    for path in fs.list_dir(dir).map_err(JournalError::io("listing", dir))? {
        // Names we did not write (editor backups, temp files) are not ours to judge.
        if let Some(n) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| parse_numbered(n, prefix, suffix))
        {
            found.push((n, path));
        }
    }
    found.sort_unstable_by_key(|(n, _)| *n);
    Ok(found)
}

/// Parses `<prefix><exactly 20 digits><suffix>`.
fn parse_numbered(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header was rejected.
#[derive(Debug)]
pub(crate) enum HeaderProblem {
    /// Short, bad magic or bad checksum: could be a crash while creating
    /// the file, so the caller may treat it as a torn tail.
    Damaged(String),
    /// A checksummed header that disagrees with us (other version, other
    /// first_seq): never repairable, because truncating could destroy data.
    Mismatch(String),
}

pub(crate) fn check_segment_header(h: &[u8], name_seq: u64) -> Result<(), HeaderProblem> {
    if h.len() < SEGMENT_HEADER_LEN {
        return Err(HeaderProblem::Damaged(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_LEN}",
            h.len()
        )));
    }
    if h[0..8] != SEGMENT_MAGIC {
        return Err(HeaderProblem::Damaged("bad segment magic".into()));
    }
    if crc32c::crc32c(&h[0..20]) != le_u32(&h[20..24]) {
        return Err(HeaderProblem::Damaged(
            "segment header checksum mismatch".into(),
        ));
    }
    let version = le_u32(&h[8..12]);
    if version != SEGMENT_VERSION {
        return Err(HeaderProblem::Mismatch(format!(
            "unsupported segment version {version}"
        )));
    }
    let first_seq = le_u64(&h[12..20]);
    if first_seq != name_seq {
        return Err(HeaderProblem::Mismatch(format!(
            "header says first seq {first_seq}, file name says {name_seq}"
        )));
    }
    Ok(())
}

pub(crate) fn frame_crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Appends one frame to `buf`, refusing payloads over [`MAX_RECORD_BYTES`].
pub(crate) fn encode_frame(
    buf: &mut Vec<u8>,
    seq: u64,
    payload: &[u8],
) -> Result<(), JournalError> {
    let too_large = || JournalError::RecordTooLarge {
        seq,
        len: payload.len(),
        max: MAX_RECORD_BYTES,
    };
    if payload.len() > MAX_RECORD_BYTES {
        return Err(too_large());
    }
    let len = u32::try_from(payload.len()).map_err(|_| too_large())?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&frame_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
    Ok(())
}

/// The three fields of a frame header: (payload len, crc, seq).
pub(crate) fn parse_frame_header(h: &[u8; FRAME_HEADER_LEN]) -> (usize, u32, u64) {
    // u32 always fits in usize on the 32/64-bit targets we support.
    let len = usize::try_from(le_u32(&h[0..4])).unwrap_or(usize::MAX);
    (len, le_u32(&h[4..8]), le_u64(&h[8..16]))
}

/// First offset in `buf` where a complete frame with a valid checksum, a
/// plausible length and a seq greater than `after_seq` starts.
///
/// This is how a torn tail is told apart from damage in the middle: a crash
/// can only leave garbage *after* the last good record, so a genuine record
/// further on means the bad bytes are in the middle of acknowledged data.
pub(crate) fn find_frame_after(buf: &[u8], after_seq: u64) -> Option<usize> {
    (0..buf.len()).find(|&off| valid_frame_at(&buf[off..], after_seq))
}

fn valid_frame_at(b: &[u8], after_seq: u64) -> bool {
    let Some(h) = b.first_chunk::<FRAME_HEADER_LEN>() else {
        return false;
    };
    let (len, crc, seq) = parse_frame_header(h);
    // Cheap checks first: this runs at every byte offset of a damaged tail.
    if seq <= after_seq || len > MAX_RECORD_BYTES {
        return false;
    }
    match b.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) {
        Some(payload) => frame_crc(seq, payload) == crc,
        None => false,
    }
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let p = segment_path(Path::new("/x"), 42);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert_eq!(name, "journal-00000000000000000042.seg");
        assert_eq!(
            parse_numbered(name, SEGMENT_PREFIX, SEGMENT_SUFFIX),
            Some(42)
        );
        assert_eq!(
            parse_numbered("journal-42.seg", SEGMENT_PREFIX, SEGMENT_SUFFIX),
            None
        );
        assert_eq!(
            parse_numbered(
                "journal-0000000000000000004x.seg",
                SEGMENT_PREFIX,
                SEGMENT_SUFFIX
            ),
            None
        );
    }

    #[test]
    fn header_checks() {
        let h = encode_segment_header(7);
        assert!(check_segment_header(&h, 7).is_ok());
        assert!(matches!(
            check_segment_header(&h, 8),
            Err(HeaderProblem::Mismatch(_))
        ));
        assert!(matches!(
            check_segment_header(&h[..10], 7),
            Err(HeaderProblem::Damaged(_))
        ));
        let mut bad = h;
        bad[13] ^= 1;
        assert!(matches!(
            check_segment_header(&bad, 7),
            Err(HeaderProblem::Damaged(_))
        ));
    }

    #[test]
    fn forward_scan_finds_only_real_frames() {
        let mut buf = vec![0u8; 37];
        let at = buf.len();
        encode_frame(&mut buf, 9, b"hello").ok();
        assert_eq!(find_frame_after(&buf, 8), Some(at));
        // A frame that is not newer than what we already have is not evidence.
        assert_eq!(find_frame_after(&buf, 9), None);
        assert_eq!(find_frame_after(&buf[..buf.len() - 1], 8), None);
        assert_eq!(find_frame_after(&[0u8; 100], 0), None);
    }
}
