//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::path::{Path, PathBuf};

use flowex_journal::{read_from, Durability, Journal, JournalConfig, JournalError, OpenReport};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Deterministic payload of a size that varies with `seq` (0 included).
pub fn payload(seq: u64) -> Vec<u8> {
    let len = (seq * 37 % 61) as usize;
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8)
        .collect()
}

pub fn config(dir: &Path, segment_bytes: u64, durability: Durability) -> JournalConfig {
    let mut cfg = JournalConfig::new(dir);
    cfg.segment_bytes = segment_bytes;
    cfg.durability = durability;
    cfg
}

pub fn open(dir: &Path, segment_bytes: u64) -> Result<(Journal, OpenReport), JournalError> {
    Journal::open(config(dir, segment_bytes, Durability::None))
}

/// Appends records `first..=last` (payload(seq)) in batches of `batch`.
pub fn append_range(
    j: &mut Journal,
    first: u64,
    last: u64,
    batch: u64,
) -> Result<(), JournalError> {
    let mut seq = first;
    while seq <= last {
        let end = (seq + batch - 1).min(last);
        let payloads: Vec<(u64, Vec<u8>)> = (seq..=end).map(|s| (s, payload(s))).collect();
        j.append_batch(payloads.iter().map(|(s, p)| (*s, p.as_slice())))?;
        seq = end + 1;
    }
    Ok(())
}

/// The records `first..=last` as `read_from` should return them.
pub fn expected(first: u64, last: u64) -> Vec<(u64, Vec<u8>)> {
    (first..=last).map(|s| (s, payload(s))).collect()
}

pub fn read_all(dir: &Path, from: u64) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
    read_from(dir, from)?.collect()
}

/// Segment files of `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "seg"));
    v.sort();
    v
}

/// Copies every file of `from` into `to` (flat directories only).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

pub fn flip_byte(path: &Path, offset: usize) -> std::io::Result<()> {
    let mut bytes = fs::read(path)?;
    bytes[offset] ^= 0x5A;
    fs::write(path, bytes)
}

pub fn is_corrupt<T: std::fmt::Debug>(r: &Result<T, JournalError>) -> bool {
    matches!(r, Err(JournalError::Corrupt { .. }))
}

/// Byte offset where each record of a segment holding `first..=last` ends.
pub const SEGMENT_HEADER: u64 = 24;
pub fn frame_ends(first: u64, last: u64) -> Vec<(u64, u64)> {
    let mut off = SEGMENT_HEADER;
    (first..=last)
        .map(|s| {
            off += 16 + payload(s).len() as u64;
            (s, off)
        })
        .collect()
}

/// First seq of a segment, from its file name.
pub fn first_seq_of(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("journal-"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
