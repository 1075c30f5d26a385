//! Crash recovery: torn tails are repaired, damage in the middle is an error.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use flowex_journal::Journal;
use tempfile::TempDir;

const RECORDS: u64 = 30;
const SEGMENT_BYTES: u64 = 500;

/// A journal of 30 records of varying sizes, in batches of 1–3, over three or more segments.
fn pristine() -> Result<(TempDir, Vec<PathBuf>), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let (mut j, _) = open(tmp.path(), SEGMENT_BYTES)?;
    let mut seq = 1;
    for batch in [1u64, 3, 2].iter().cycle() {
        if seq > RECORDS {
            break;
        }
        let last = (seq + batch - 1).min(RECORDS);
        append_range(&mut j, seq, last, *batch)?;
        seq = last + 1;
    }
    let segs = segments(tmp.path());
    assert!(
        segs.len() >= 3,
        "want at least 3 segments, got {}",
        segs.len()
    );
    Ok((tmp, segs))
}

/// A fresh copy of the pristine journal and the path of segment `index` in it.
fn working_copy(
    from: &Path,
    segs: &[PathBuf],
    index: usize,
) -> Result<(TempDir, PathBuf), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    copy_dir(from, work.path())?;
    let name = segs[index].file_name().ok_or("segment without a name")?;
    let seg = work.path().join(name);
    Ok((work, seg))
}

/// Last seq that is complete when a segment holding `first..` is cut to `cut` bytes.
fn complete_up_to(first: u64, cut: u64) -> (u64, u64) {
    frame_ends(first, RECORDS)
        .into_iter()
        .take_while(|(_, end)| *end <= cut)
        .last()
        .unwrap_or((first - 1, SEGMENT_HEADER))
}

#[test]
fn truncating_the_last_segment_at_every_offset_recovers_the_complete_records() -> TestResult {
    let (base, segs) = pristine()?;
    let last_index = segs.len() - 1;
    let last_first = first_seq_of(&segs[last_index]);
    let bytes = fs::read(&segs[last_index])?;
    for cut in 0..=bytes.len() {
        let (work, seg) = working_copy(base.path(), &segs, last_index)?;
        let dir = work.path();
        fs::write(&seg, &bytes[..cut])?;
        let cut = cut as u64;
        let (complete, good_end) = complete_up_to(last_first, cut);

        // The reader alone already stops at the last complete record, and repairs nothing.
        assert_eq!(
            read_all(dir, 1)?,
            expected(1, complete),
            "cut {cut}: read before open"
        );
        assert_eq!(fs::metadata(&seg)?.len(), cut);

        let (mut j, report) = open(dir, SEGMENT_BYTES).map_err(|e| format!("cut {cut}: {e}"))?;
        assert_eq!(report.last_seq, complete, "cut {cut}");
        if cut < SEGMENT_HEADER {
            assert_eq!(report.truncated_bytes, cut, "cut {cut}");
            assert_eq!(report.truncated_at, Some((seg.clone(), 0)), "cut {cut}");
        } else {
            assert_eq!(report.truncated_bytes, cut - good_end, "cut {cut}");
            let at = (cut != good_end).then(|| (seg.clone(), good_end));
            assert_eq!(report.truncated_at, at, "cut {cut}");
        }
        assert_eq!(read_all(dir, 1)?, expected(1, complete), "cut {cut}");

        append_range(&mut j, complete + 1, complete + 2, 2)?;
        drop(j);
        let (_, again) = open(dir, SEGMENT_BYTES)?;
        assert_eq!(
            (again.last_seq, again.truncated_bytes),
            (complete + 2, 0),
            "cut {cut}"
        );
        assert_eq!(read_all(dir, 1)?, expected(1, complete + 2), "cut {cut}");
    }
    Ok(())
}

#[test]
fn deleting_whole_last_segments_leaves_a_clean_journal() -> TestResult {
    let (base, segs) = pristine()?;
    for keep in 1..segs.len() {
        let work = tempfile::tempdir()?;
        copy_dir(base.path(), work.path())?;
        for seg in &segs[keep..] {
            let name = seg.file_name().ok_or("segment without a name")?;
            fs::remove_file(work.path().join(name))?;
        }
        let last = first_seq_of(&segs[keep]) - 1;
        let (mut j, report) = open(work.path(), SEGMENT_BYTES)?;
        assert_eq!((report.last_seq, report.truncated_bytes), (last, 0));
        append_range(&mut j, last + 1, RECORDS, 2)?;
        drop(j);
        assert_eq!(read_all(work.path(), 1)?, expected(1, RECORDS));
    }
    Ok(())
}

#[test]
fn truncating_a_middle_segment_is_corruption() -> TestResult {
    let (base, segs) = pristine()?;
    let bytes = fs::read(&segs[1])?;
    for cut in 0..bytes.len() {
        let (work, seg) = working_copy(base.path(), &segs, 1)?;
        fs::write(&seg, &bytes[..cut])?;
        assert!(
            is_corrupt(&Journal::open(config(
                work.path(),
                SEGMENT_BYTES,
                flowex_journal::Durability::None
            ))),
            "cut {cut}"
        );
        assert!(is_corrupt(&read_all(work.path(), 1)), "cut {cut}: reader");
    }
    Ok(())
}

#[test]
fn a_missing_middle_segment_is_corruption() -> TestResult {
    let (base, segs) = pristine()?;
    let (work, seg) = working_copy(base.path(), &segs, 1)?;
    fs::remove_file(seg)?;
    assert!(is_corrupt(&open(work.path(), SEGMENT_BYTES)));
    assert!(is_corrupt(&read_all(work.path(), 1)));
    Ok(())
}

/// Flips every byte of the frame of `seq` (held by segment `index`) and
/// checks each damaged copy with `check`.
fn flip_each_byte_of(
    seq: u64,
    index: usize,
    check: impl Fn(&Path, u64) -> TestResult,
) -> TestResult {
    let (base, segs) = pristine()?;
    let first = first_seq_of(&segs[index]);
    let ends = frame_ends(first, RECORDS);
    let start = if seq == first {
        SEGMENT_HEADER
    } else {
        ends[(seq - first - 1) as usize].1
    };
    let end = ends[(seq - first) as usize].1;
    for offset in start..end {
        let (work, seg) = working_copy(base.path(), &segs, index)?;
        flip_byte(&seg, offset as usize)?;
        check(work.path(), offset)?;
    }
    Ok(())
}

fn expect_corrupt(dir: &Path, offset: u64) -> TestResult {
    assert!(is_corrupt(&read_all(dir, 1)), "flip at {offset}: reader");
    assert!(
        is_corrupt(&open(dir, SEGMENT_BYTES)),
        "flip at {offset}: open"
    );
    Ok(())
}

#[test]
fn a_flipped_byte_in_an_earlier_record_of_the_last_segment_is_corruption() -> TestResult {
    let (_, segs) = pristine()?;
    let last = segs.len() - 1;
    let first = first_seq_of(&segs[last]);
    assert!(
        first + 1 < RECORDS,
        "the last segment must hold several records"
    );
    flip_each_byte_of(first, last, expect_corrupt)?;
    flip_each_byte_of(RECORDS - 1, last, expect_corrupt)
}

#[test]
fn a_flipped_byte_in_a_non_last_segment_is_corruption() -> TestResult {
    let (_, segs) = pristine()?;
    let first = first_seq_of(&segs[0]);
    let last_of_first = first_seq_of(&segs[1]) - 1;
    flip_each_byte_of(first + 1, 0, expect_corrupt)?;
    // Its last record: the end of a non-last segment is never a torn tail.
    flip_each_byte_of(last_of_first, 0, expect_corrupt)
}

#[test]
fn a_flipped_byte_in_the_last_record_is_a_torn_tail() -> TestResult {
    let (_, segs) = pristine()?;
    let last = segs.len() - 1;
    flip_each_byte_of(RECORDS, last, |dir, offset| {
        assert_eq!(
            read_all(dir, 1)?,
            expected(1, RECORDS - 1),
            "flip at {offset}: reader"
        );
        let (mut j, report) = open(dir, SEGMENT_BYTES)?;
        assert_eq!(report.last_seq, RECORDS - 1, "flip at {offset}");
        assert!(report.truncated_bytes > 0, "flip at {offset}");
        append_range(&mut j, RECORDS, RECORDS, 1)?;
        drop(j);
        assert_eq!(read_all(dir, 1)?, expected(1, RECORDS), "flip at {offset}");
        Ok(())
    })
}

#[test]
fn a_damaged_segment_header_is_corruption_unless_it_is_a_torn_empty_last_segment() -> TestResult {
    let (base, segs) = pristine()?;
    for index in [0, 1, segs.len() - 1] {
        for offset in 0..SEGMENT_HEADER as usize {
            let (work, seg) = working_copy(base.path(), &segs, index)?;
            flip_byte(&seg, offset)?;
            expect_corrupt(work.path(), offset as u64)?;
        }
    }
    // The last segment holding only a damaged header: a crash while creating it.
    let (work, seg) = working_copy(base.path(), &segs, segs.len() - 1)?;
    let header = fs::read(&seg)?;
    let mut damaged = header[..SEGMENT_HEADER as usize].to_vec();
    damaged[3] ^= 1;
    fs::write(&seg, &damaged)?;
    let last = first_seq_of(&seg) - 1;
    assert_eq!(read_all(work.path(), 1)?, expected(1, last));
    let (_, report) = open(work.path(), SEGMENT_BYTES)?;
    assert_eq!(report.last_seq, last);
    assert_eq!(report.truncated_at, Some((seg.clone(), 0)));
    assert_eq!(
        fs::read(&seg)?,
        header[..SEGMENT_HEADER as usize],
        "a fresh header was written"
    );
    Ok(())
}

#[test]
fn trailing_zeros_or_garbage_after_the_last_record_are_cut() -> TestResult {
    let (base, segs) = pristine()?;
    let last = segs.len() - 1;
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 131 % 251) as u8).collect();
    for tail in [vec![0u8; 4096], garbage] {
        let (work, seg) = working_copy(base.path(), &segs, last)?;
        let mut bytes = fs::read(&seg)?;
        let len = bytes.len() as u64;
        bytes.extend_from_slice(&tail);
        fs::write(&seg, &bytes)?;
        let (_, report) = open(work.path(), SEGMENT_BYTES)?;
        assert_eq!(report.last_seq, RECORDS);
        assert_eq!(report.truncated_bytes, tail.len() as u64);
        assert_eq!(report.truncated_at, Some((seg.clone(), len)));
        assert_eq!(fs::metadata(&seg)?.len(), len);
        assert_eq!(read_all(work.path(), 1)?, expected(1, RECORDS));
    }
    Ok(())
}
