//! Validating, read-only iteration over the journal (recovery replay, tailing).

use std::path::{Path, PathBuf};

use crate::cursor::{Opened, SegmentCursor, Step};
use crate::format::list_segments;
use crate::fs::{Fs, StdFs};
use crate::JournalError;

/// Reads the records with seq >= `from`, in order.
///
/// Applies the same checks as `Journal::open` (checksums, consecutive seqs,
/// segment continuity, torn tail vs middle damage) but repairs nothing: a
/// torn tail of the last segment simply ends the iteration, damage anywhere
/// else is yielded as a `Corrupt` error and ends it.
///
/// The segment list is taken when this is called; records appended later
/// to the last listed segment are seen, segments created later are not.
/// `from` = 0 means from the start. Asking for records that were pruned is
/// `NotAvailable`; asking past the end yields nothing.
pub fn read_from(dir: &Path, from: u64) -> Result<JournalReader, JournalError> {
    read_from_in(&StdFs, dir, from)
}

/// [`read_from`] in the file system `fs`.
pub fn read_from_in<F: Fs>(
    fs: &F,
    dir: &Path,
    from: u64,
) -> Result<JournalReader<F>, JournalError> {
    let from = from.max(1);
    let mut segments = list_segments(fs, dir)?;
    if let Some((first, _)) = segments.first() {
        if from < *first {
            return Err(JournalError::NotAvailable {
                from,
                first: *first,
            });
        }
    }
    // Start in the last segment that begins at or before `from`.
    let start = segments
        .partition_point(|(s, _)| *s <= from)
        .saturating_sub(1);
    let remaining = segments.split_off(start);
    Ok(JournalReader {
        fs: fs.clone(),
        segments: remaining.into_iter(),
        cursor: None,
        expected: None,
        from,
        scratch: Vec::new(),
        done: false,
    })
}

/// Iterator returned by [`read_from`].
#[derive(Debug)]
pub struct JournalReader<F: Fs = StdFs> {
    fs: F,
    segments: std::vec::IntoIter<(u64, PathBuf)>,
    cursor: Option<SegmentCursor<F::Reader>>,
    /// Seq the next segment must start with (None before the first one).
    expected: Option<u64>,
    from: u64,
    scratch: Vec<u8>,
    done: bool,
}

impl<F: Fs> Iterator for JournalReader<F> {
    type Item = Result<(u64, Vec<u8>), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
            .map(|r| r.map(|(seq, payload)| (seq, payload.to_vec())))
    }
}

impl<F: Fs> JournalReader<F> {
    /// Like `next`, without allocating: the payload borrows the reader's
    /// buffer until the next call (what replay uses).
    pub fn next_record(&mut self) -> Option<Result<(u64, &[u8]), JournalError>> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(seq)) => Some(Ok((seq, &self.scratch))),
            // After the end or an error there is nothing trustworthy to read.
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Reads the next wanted record into `scratch`; returns its seq.
    fn advance(&mut self) -> Result<Option<u64>, JournalError> {
        loop {
            if self.cursor.is_none() {
                match self.open_next()? {
                    Some(cursor) => self.cursor = Some(cursor),
                    None => return Ok(None),
                }
            }
            let Some(cursor) = self.cursor.as_mut() else {
                return Ok(None);
            };
            match cursor.next(&mut self.scratch)? {
                Step::Record { seq } if seq < self.from => {}
                Step::Record { seq } => return Ok(Some(seq)),
                Step::End => {
                    self.expected = Some(cursor.next_seq());
                    self.cursor = None;
                }
                // Only the last segment can be torn; it is the end of the data.
                Step::Torn { .. } => return Ok(None),
            }
        }
    }

    fn open_next(&mut self) -> Result<Option<SegmentCursor<F::Reader>>, JournalError> {
        let Some((first_seq, path)) = self.segments.next() else {
            return Ok(None);
        };
        if let Some(exp) = self.expected.filter(|e| *e != first_seq) {
            let detail = format!("segment starts at seq {first_seq}, expected {exp}");
            return Err(JournalError::corrupt(&path, 0, detail));
        }
        let is_last = self.segments.len() == 0;
        match SegmentCursor::open(&self.fs, &path, first_seq, is_last)? {
            Opened::Ready(cursor) => Ok(Some(cursor)),
            Opened::TornHeader { .. } => Ok(None),
        }
    }
}
