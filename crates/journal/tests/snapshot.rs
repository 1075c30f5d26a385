//! Snapshots: atomic write, newest valid lookup, pruning, background writer.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use flowex_journal::{latest_snapshot, prune, read_from, write_snapshot, JournalError};

fn state(seq: u64) -> Vec<u8> {
    format!("engine state after {seq}").into_bytes()
}

#[test]
fn latest_picks_the_newest_and_falls_back_past_damage() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    assert_eq!(latest_snapshot(dir)?, None);
    for seq in [10, 30, 20] {
        write_snapshot(dir, seq, &state(seq))?;
    }
    let newest = latest_snapshot(dir)?.ok_or("no snapshot")?;
    assert_eq!((newest.seq, newest.bytes.clone()), (30, state(30)));

    // A flipped payload byte in the newest: fall back to 20.
    let len = fs::metadata(&newest.path)?.len() as usize;
    flip_byte(&newest.path, len - 1)?;
    assert_eq!(latest_snapshot(dir)?.map(|s| s.seq), Some(20));

    // A truncated 20 and a renamed file whose header disagrees: fall back to 10.
    let twenty = dir.join(format!("snapshot-{:020}.snap", 20));
    let bytes = fs::read(&twenty)?;
    fs::write(&twenty, &bytes[..bytes.len() - 3])?;
    fs::copy(
        dir.join(format!("snapshot-{:020}.snap", 10)),
        dir.join(format!("snapshot-{:020}.snap", 25)),
    )?;
    let got = latest_snapshot(dir)?.ok_or("no snapshot")?;
    assert_eq!((got.seq, got.bytes), (10, state(10)));
    Ok(())
}

#[test]
fn an_empty_snapshot_round_trips() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let path = write_snapshot(tmp.path(), 0, &[])?;
    let got = latest_snapshot(tmp.path())?.ok_or("no snapshot")?;
    assert_eq!((got.seq, got.bytes.len(), got.path), (0, 0, path));
    Ok(())
}

/// Journal of 100 records in segments of exactly 10 (a 1-byte limit rolls every batch).
fn journal_with_snapshots(dir: &Path) -> TestResult {
    let (mut j, _) = open(dir, 1)?;
    append_range(&mut j, 1, 100, 10)?;
    assert_eq!(segments(dir).len(), 10);
    for seq in [15, 35, 55, 75] {
        write_snapshot(dir, seq, &state(seq))?;
    }
    Ok(())
}

#[test]
fn prune_keeps_newest_snapshots_and_the_segments_they_need() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    journal_with_snapshots(dir)?;
    let report = prune(dir, 2)?;
    assert_eq!(report.kept_snapshots, vec![75, 55]);
    assert_eq!(report.removed_snapshots.len(), 2);
    assert!(report.corrupt_snapshots.is_empty());
    // Segments 1..=50 are covered by snapshot 55; 51..=60 is still needed.
    assert_eq!(report.removed_segments.len(), 5);
    assert_eq!(first_seq_of(&segments(dir)[0]), 51);

    assert_eq!(read_all(dir, 56)?, expected(56, 100));
    let r = read_from(dir, 1);
    assert!(matches!(
        r,
        Err(JournalError::NotAvailable { from: 1, first: 51 })
    ));
    let (mut j, report) = open(dir, 1)?;
    assert_eq!(
        (report.first_seq, report.last_seq, report.records),
        (Some(51), 100, 50)
    );
    append_range(&mut j, 101, 105, 5)?;

    // Pruning again changes nothing.
    let again = prune(dir, 2)?;
    assert!(again.removed_snapshots.is_empty() && again.removed_segments.is_empty());
    Ok(())
}

#[test]
fn prune_never_counts_a_damaged_snapshot_as_kept() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    journal_with_snapshots(dir)?;
    let newest = dir.join(format!("snapshot-{:020}.snap", 75));
    flip_byte(&newest, 30)?;
    let report = prune(dir, 2)?;
    assert_eq!(report.kept_snapshots, vec![55, 35]);
    assert_eq!(report.corrupt_snapshots, vec![newest]);
    assert_eq!(report.removed_snapshots.len(), 1);
    assert_eq!(first_seq_of(&segments(dir)[0]), 31);
    assert_eq!(latest_snapshot(dir)?.map(|s| s.seq), Some(55));
    Ok(())
}

#[test]
fn prune_never_removes_the_last_segment_or_keeps_zero() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    journal_with_snapshots(dir)?;
    write_snapshot(dir, 100, &state(100))?;
    let report = prune(dir, 1)?;
    assert_eq!(report.removed_segments.len(), 9);
    assert_eq!(read_all(dir, 101)?, vec![]);
    let (_, open_report) = open(dir, 1)?;
    assert_eq!(open_report.last_seq, 100);
    assert!(matches!(
        prune(dir, 0),
        Err(JournalError::InvalidArgument(_))
    ));
    Ok(())
}
