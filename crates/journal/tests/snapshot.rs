//! Snapshots: atomic write, newest valid lookup, pruning, background writer.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use flowex_journal::{
    latest_snapshot, prune, read_from, write_snapshot, JournalError, SnapshotWriter,
};

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

#[test]
fn background_writer_writes_and_reports() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("snaps");
    let writer = SnapshotWriter::spawn(&dir)?;
    assert!(writer.wait().is_none(), "nothing submitted yet");
    for seq in [5, 9] {
        writer.submit(seq, state(seq))?;
        let outcome = writer.wait().ok_or("no outcome")?;
        assert_eq!(outcome.seq, seq);
        assert!(outcome.result.is_ok());
        assert!(!writer.is_busy());
    }
    assert!(
        writer.take_result().is_none(),
        "the outcome was taken by wait"
    );
    let latest = latest_snapshot(&dir)?.ok_or("no snapshot")?;
    assert_eq!((latest.seq, latest.bytes), (9, state(9)));

    // Submitting back to back: the second is either accepted after the first
    // finished or refused as Busy, never queued without bound.
    let first = writer.submit(11, vec![1u8; 8 << 20]);
    let second = writer.submit(12, state(12));
    assert!(first.is_ok());
    if let Err(busy) = second {
        assert_eq!(busy.in_flight_seq, 11);
    }
    drop(writer); // waits for the snapshot in flight
    assert!(latest_snapshot(&dir)?.is_some_and(|s| s.seq >= 11));
    Ok(())
}

#[test]
fn background_writer_reports_errors() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("not-a-directory");
    fs::write(&file, b"x")?;
    let writer = SnapshotWriter::spawn(&file)?;
    writer.submit(1, state(1))?;
    let outcome = writer.wait().ok_or("no outcome")?;
    assert!(matches!(outcome.result, Err(JournalError::Io { .. })));
    Ok(())
}
