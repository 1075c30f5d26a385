//! Streaming, validating reader of one segment file.
//!
//! Shared by `Journal::open` (which repairs what it finds) and `read_from`
//! (which does not), so both apply exactly the same recovery rules.

use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::format::{
    check_segment_header, find_frame_after, frame_crc, parse_frame_header, HeaderProblem,
    FRAME_HEADER_LEN, MAX_RECORD_BYTES, SEGMENT_HEADER_LEN,
};
use crate::fs::Fs;
use crate::JournalError;

/// What the next frame of a segment turned out to be.
#[derive(Debug)]
pub(crate) enum Step {
    /// A good record; its payload is in the caller's buffer.
    Record { seq: u64 },
    /// Clean end of the segment.
    End,
    /// A torn tail of the last segment starts at `offset`: nothing valid follows.
    Torn { offset: u64, detail: String },
}

/// Result of opening a segment.
pub(crate) enum Opened<R> {
    Ready(SegmentCursor<R>),
    /// The last segment's header is damaged and no record follows it:
    /// a crash while the file was being created.
    TornHeader {
        detail: String,
    },
}

#[derive(Debug)]
pub(crate) struct SegmentCursor<R> {
    path: PathBuf,
    reader: BufReader<R>,
    /// File offset of the next frame.
    offset: u64,
    /// Sequence number the next frame must carry.
    next_seq: u64,
    /// Only the last segment may end in a torn tail.
    is_last: bool,
}

impl<R: Read + Seek> SegmentCursor<R> {
    /// Opens `path`, whose name says it starts at `first_seq`, and checks its header.
    pub(crate) fn open<F: Fs<Reader = R>>(
        fs: &F,
        path: &Path,
        first_seq: u64,
        is_last: bool,
    ) -> Result<Opened<R>, JournalError> {
        if first_seq == 0 {
            // Sequence numbers start at 1; a segment named 0 was not written by us.
            return Err(JournalError::corrupt(path, 0, "segment named with seq 0"));
        }
        let file = fs
            .open_read(path)
            .map_err(JournalError::io("opening", path))?;
        let mut reader = BufReader::new(file);
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        let n = read_full(&mut reader, &mut header, path)?;
        let problem = match check_segment_header(&header[..n], first_seq) {
            Ok(()) => {
                return Ok(Opened::Ready(SegmentCursor {
                    path: path.to_path_buf(),
                    reader,
                    offset: SEGMENT_HEADER_LEN as u64,
                    next_seq: first_seq,
                    is_last,
                }))
            }
            Err(HeaderProblem::Mismatch(detail)) => {
                return Err(JournalError::corrupt(path, 0, detail))
            }
            Err(HeaderProblem::Damaged(detail)) => detail,
        };
        if !is_last {
            return Err(JournalError::corrupt(path, 0, problem));
        }
        match find_valid_after(&mut reader, path, 0, first_seq - 1)? {
            Some(at) => Err(JournalError::corrupt(
                path,
                0,
                format!("{problem}, yet a valid record follows at offset {at}"),
            )),
            None => Ok(Opened::TornHeader { detail: problem }),
        }
    }

    /// Sequence number the next record must have (one past the last good one).
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next frame into `payload` and classifies it.
    pub(crate) fn next(&mut self, payload: &mut Vec<u8>) -> Result<Step, JournalError> {
        let mut h = [0u8; FRAME_HEADER_LEN];
        match read_full(&mut self.reader, &mut h, &self.path)? {
            0 => return Ok(Step::End),
            FRAME_HEADER_LEN => {}
            _ => return self.bad_frame("partial frame header"),
        }
        let (len, crc, seq) = parse_frame_header(&h);
        if len > MAX_RECORD_BYTES {
            return self.bad_frame(&format!("frame length {len} exceeds the limit"));
        }
        payload.clear();
        payload.resize(len, 0);
        if read_full(&mut self.reader, payload, &self.path)? < len {
            return self.bad_frame("partial frame");
        }
        if frame_crc(seq, payload) != crc {
            return self.bad_frame("checksum mismatch");
        }
        if seq != self.next_seq {
            // A checksummed record with the wrong number is never a torn write.
            let detail = format!("sequence gap: expected seq {}, found {seq}", self.next_seq);
            return Err(JournalError::corrupt(&self.path, self.offset, detail));
        }
        // u64::MAX is reserved so that "the seq after" always exists.
        let Some(next_seq) = seq.checked_add(1) else {
            return Err(JournalError::corrupt(
                &self.path,
                self.offset,
                "seq u64::MAX",
            ));
        };
        self.offset += (FRAME_HEADER_LEN + len) as u64;
        self.next_seq = next_seq;
        Ok(Step::Record { seq })
    }

    /// Decides whether a bad frame at `self.offset` is a torn tail or damage
    /// in the middle (see `find_frame_after`).
    fn bad_frame(&mut self, detail: &str) -> Result<Step, JournalError> {
        if !self.is_last {
            return Err(JournalError::corrupt(&self.path, self.offset, detail));
        }
        let after = self.next_seq - 1;
        match find_valid_after(&mut self.reader, &self.path, self.offset + 1, after)? {
            Some(at) => Err(JournalError::corrupt(
                &self.path,
                self.offset,
                format!("{detail}, yet a valid record follows at offset {at}"),
            )),
            None => Ok(Step::Torn {
                offset: self.offset,
                detail: detail.to_string(),
            }),
        }
    }
}

/// Loads the file from `start` to its end and looks for a valid frame with
/// seq > `after_seq`; returns its file offset. Memory is bounded by the
/// segment size, and this only runs on a damaged last segment.
fn find_valid_after(
    reader: &mut BufReader<impl Read + Seek>,
    path: &Path,
    start: u64,
    after_seq: u64,
) -> Result<Option<u64>, JournalError> {
    reader
        .seek(SeekFrom::Start(start))
        .map_err(JournalError::io("seeking in", path))?;
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .map_err(JournalError::io("reading", path))?;
    Ok(find_frame_after(&rest, after_seq).map(|rel| start + rel as u64))
}

/// Fills `buf` unless the file ends first; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, JournalError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(JournalError::io("reading", path)(e)),
        }
    }
    Ok(filled)
}
