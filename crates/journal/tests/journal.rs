//! Appending, reopening and reading back.

mod common;

use common::*;
use flowex_journal::{read_from, Durability, Journal, JournalError, MAX_RECORD_BYTES};

#[test]
fn append_reopen_and_read_back() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("journal");
    let (mut j, report) = open(&dir, 1 << 20)?;
    assert_eq!(
        (report.records, report.last_seq, report.segments),
        (0, 0, 0)
    );
    assert_eq!(j.last_seq(), 0);
    append_range(&mut j, 1, 3, 3)?;
    append_range(&mut j, 4, 4, 1)?;
    append_range(&mut j, 5, 10, 6)?;
    assert_eq!(j.last_seq(), 10);
    drop(j);

    let (mut j, report) = open(&dir, 1 << 20)?;
    assert_eq!(report.records, 10);
    assert_eq!(report.first_seq, Some(1));
    assert_eq!(report.last_seq, 10);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.truncated_at, None);
    assert_eq!(read_all(&dir, 1)?, expected(1, 10));
    assert_eq!(read_all(&dir, 0)?, expected(1, 10));
    assert_eq!(read_all(&dir, 7)?, expected(7, 10));
    assert_eq!(read_all(&dir, 11)?, vec![]);
    assert_eq!(read_all(&dir, 500)?, vec![]);

    append_range(&mut j, 11, 12, 2)?;
    assert_eq!(read_all(&dir, 1)?, expected(1, 12));
    Ok(())
}

#[test]
fn empty_batch_is_a_no_op() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut j, _) = Journal::open(config(tmp.path(), 1 << 20, Durability::Fsync))?;
    j.append_batch(std::iter::empty())?;
    assert_eq!(j.last_seq(), 0);
    assert_eq!(j.stats().data_syncs, 0);
    assert!(
        segments(tmp.path()).is_empty(),
        "no segment before the first record"
    );
    Ok(())
}

#[test]
fn fsync_once_per_batch() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut j, _) = Journal::open(config(tmp.path(), 1 << 20, Durability::Fsync))?;
    append_range(&mut j, 1, 100, 25)?; // 4 batches
    let stats = j.stats();
    assert_eq!(stats.batches, 4);
    assert_eq!(stats.records, 100);
    assert_eq!(stats.data_syncs, 4);
    assert_eq!(stats.segments_created, 1);

    let (mut j, _) = open(&tmp.path().join("nosync"), 1 << 20)?;
    append_range(&mut j, 1, 100, 25)?;
    assert_eq!(j.stats().data_syncs, 0, "Durability::None never syncs");
    Ok(())
}

#[test]
fn segments_roll_over_and_read_across() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let (mut j, _) = Journal::open(config(dir, 200, Durability::Fsync))?;
    append_range(&mut j, 1, 120, 3)?;
    let segs = segments(dir);
    assert!(
        segs.len() > 10,
        "expected many segments, got {}",
        segs.len()
    );
    assert_eq!(j.stats().segments_created as usize, segs.len());
    drop(j);

    let (mut j, report) = open(dir, 200)?;
    assert_eq!(report.segments, segs.len());
    assert_eq!((report.records, report.last_seq), (120, 120));
    assert_eq!(read_all(dir, 1)?, expected(1, 120));
    // Start inside a middle segment, and exactly at a segment's first record.
    assert_eq!(read_all(dir, 58)?, expected(58, 120));
    let boundary = first_seq_of(&segs[5]);
    assert_eq!(read_all(dir, boundary)?, expected(boundary, 120));

    append_range(&mut j, 121, 130, 4)?;
    assert_eq!(read_all(dir, 100)?, expected(100, 130));
    Ok(())
}

#[test]
fn batch_never_split_across_segments() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let (mut j, _) = open(dir, 100)?;
    append_range(&mut j, 1, 10, 10)?; // one batch far larger than a segment
    append_range(&mut j, 11, 11, 1)?;
    let segs = segments(dir);
    assert_eq!(segs.len(), 2);
    assert_eq!(first_seq_of(&segs[1]), 11);
    Ok(())
}

#[test]
fn non_consecutive_seq_is_refused_and_nothing_is_written() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let (mut j, _) = open(dir, 1 << 20)?;
    let r = j.append_batch([(2, &b"x"[..])]);
    assert!(matches!(
        r,
        Err(JournalError::NonConsecutive {
            expected: 1,
            got: 2
        })
    ));
    append_range(&mut j, 1, 2, 2)?;
    let r = j.append_batch([(2, &b"repeat"[..])]);
    assert!(matches!(
        r,
        Err(JournalError::NonConsecutive {
            expected: 3,
            got: 2
        })
    ));
    // A bad record late in a batch rejects the whole batch.
    let r = j.append_batch([(3, &b"a"[..]), (4, &b"b"[..]), (6, &b"gap"[..])]);
    assert!(matches!(
        r,
        Err(JournalError::NonConsecutive {
            expected: 5,
            got: 6
        })
    ));
    assert_eq!(j.last_seq(), 2);
    append_range(&mut j, 3, 4, 2)?;
    drop(j);
    assert_eq!(read_all(dir, 1)?, expected(1, 4));
    Ok(())
}

#[test]
fn oversize_record_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let (mut j, _) = open(dir, 1 << 20)?;
    let big = vec![7u8; MAX_RECORD_BYTES + 1];
    let r = j.append_batch([(1, &b"ok"[..]), (2, big.as_slice())]);
    assert!(matches!(
        r,
        Err(JournalError::RecordTooLarge { seq: 2, .. })
    ));
    assert_eq!(j.last_seq(), 0);
    let max = vec![9u8; MAX_RECORD_BYTES];
    j.append_batch([(1, max.as_slice())])?;
    drop(j);
    let got = read_all(dir, 1)?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, max);
    Ok(())
}

#[test]
fn reading_a_missing_directory_is_an_error() {
    let r = read_from(std::path::Path::new("/nonexistent/flowex/journal"), 1);
    assert!(matches!(r, Err(JournalError::Io { .. })));
}

#[test]
fn reader_sees_records_appended_to_the_last_segment_while_open() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let (mut j, _) = open(dir, 1 << 20)?;
    append_range(&mut j, 1, 5, 5)?;
    let mut reader = read_from(dir, 1)?;
    let first: Vec<_> = reader.by_ref().take(5).collect::<Result<_, _>>()?;
    assert_eq!(first, expected(1, 5));
    append_range(&mut j, 6, 8, 3)?;
    let rest: Vec<_> = reader.collect::<Result<_, _>>()?;
    assert_eq!(rest, expected(6, 8));
    Ok(())
}
