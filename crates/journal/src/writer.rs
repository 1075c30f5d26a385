//! The journal writer: open + recovery, and group-committed appends.

use std::path::{Path, PathBuf};

use crate::cursor::{Opened, SegmentCursor, Step};
use crate::format::{
    encode_frame, encode_segment_header, list_segments, segment_path, DEFAULT_SEGMENT_BYTES,
    SEGMENT_HEADER_LEN,
};
use crate::fs::{Fs, FsFile, StdFs};
use crate::JournalError;

/// Whether `append_batch` waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync once per batch: an appended batch survives a crash or power loss.
    Fsync,
    /// No syncs at all. UNSAFE: a crash can lose acknowledged commands.
    /// For benchmarks and tests only.
    None,
}

/// Where and how the journal is written.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Directory holding segments (and usually snapshots). Created if missing.
    pub dir: PathBuf,
    /// A new segment is started by the first batch after the current one
    /// reached this size. A segment can exceed it by up to one batch.
    pub segment_bytes: u64,
    pub durability: Durability,
}

impl JournalConfig {
    /// Durable defaults: 64 MiB segments, fsync per batch.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            durability: Durability::Fsync,
        }
    }
}

/// What `Journal::open` found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// Valid records found across all segments.
    pub records: u64,
    /// Seq of the first record kept on disk (`None` when there is none).
    pub first_seq: Option<u64>,
    /// Seq of the last valid record, 0 when the journal is empty.
    pub last_seq: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Bytes cut from the torn tail of the last segment.
    pub truncated_bytes: u64,
    /// The segment and offset where the tail was cut, if a repair happened.
    pub truncated_at: Option<(PathBuf, u64)>,
}

/// Counters of what the writer did since it was opened (metrics, tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalStats {
    pub batches: u64,
    pub records: u64,
    /// Frame bytes written (segment headers excluded).
    pub bytes: u64,
    /// fdatasync calls made for batches: one per non-empty batch under `Durability::Fsync`.
    pub data_syncs: u64,
    pub segments_created: u64,
    /// Batches whose write or sync failed (the writer was poisoned).
    pub failures: u64,
    /// Successful [`Journal::recover`] calls after a failure.
    pub recoveries: u64,
}

/// The open segment the writer appends to.
struct Segment<W> {
    file: W,
    path: PathBuf,
    len: u64,
    /// Length up to which every byte was made durable by a successful sync
    /// (or written, under `Durability::None`): where a failed batch is cut.
    synced_len: u64,
}

impl<W> Segment<W> {
    /// Rolling only once the segment holds a record keeps us from creating
    /// empty segments when `segment_bytes` is tiny.
    fn is_full(&self, limit: u64) -> bool {
        self.len >= limit && self.len > SEGMENT_HEADER_LEN as u64
    }
}

/// Buffers bigger than this are released after a batch, so one huge batch
/// does not pin memory forever.
const RETAINED_BUFFER_BYTES: usize = 8 << 20;

/// The single writer of a journal directory. Only one `Journal` may have a
/// directory open at a time; nothing enforces this.
pub struct Journal<F: Fs = StdFs> {
    fs: F,
    dir: PathBuf,
    segment_bytes: u64,
    durability: Durability,
    current: Option<Segment<F::File>>,
    last_seq: u64,
    /// Reused frame buffer so a batch becomes one `write` call.
    buf: Vec<u8>,
    poisoned: bool,
    /// A segment whose creation is under way: if it fails, the file holds
    /// no durable record.
    failed_create: Option<PathBuf>,
    /// After a failure: the segment to cut back and the length to keep.
    cut: Option<(PathBuf, u64)>,
    stats: JournalStats,
}

impl<F: Fs> std::fmt::Debug for Journal<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("last_seq", &self.last_seq)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the directory (creating it), validates every segment, repairs a
    /// torn tail of the last one and positions the writer after the last
    /// valid record. Damage anywhere else is a `Corrupt` error.
    pub fn open(cfg: JournalConfig) -> Result<(Journal, OpenReport), JournalError> {
        Journal::open_in(StdFs, cfg)
    }
}

impl<F: Fs> Journal<F> {
    /// [`Journal::open`] in the file system `fs`.
    pub fn open_in(fs: F, cfg: JournalConfig) -> Result<(Journal<F>, OpenReport), JournalError> {
        fs.create_dir_all(&cfg.dir)
            .map_err(JournalError::io("creating", &cfg.dir))?;
        let (report, last) = scan_dir(&fs, &cfg.dir)?;
        let current = match last {
            Some(path) => Some(open_for_append(&fs, &path)?),
            None => None,
        };
        let journal = Journal {
            fs,
            dir: cfg.dir,
            segment_bytes: cfg.segment_bytes,
            durability: cfg.durability,
            current,
            last_seq: report.last_seq,
            buf: Vec::new(),
            poisoned: false,
            failed_create: None,
            cut: None,
            stats: JournalStats::default(),
        };
        Ok((journal, report))
    }

    /// Seq of the last record written, 0 when the journal is empty.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file system the journal writes to.
    pub fn fs(&self) -> &F {
        &self.fs
    }

    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    /// Whether an earlier write or sync failed and [`Self::recover`] has
    /// not yet put the journal back in order.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Appends records that must continue from `last_seq() + 1` with no gap.
    ///
    /// The whole batch is validated and framed before anything is written,
    /// so a bad record rejects the batch without touching the disk. Then it
    /// is written with one `write` and made durable with one fdatasync
    /// (group commit). When this returns `Ok`, the batch survives a crash
    /// (under `Durability::Fsync`). After an I/O error the writer is
    /// poisoned and the batch is not part of the journal: call
    /// [`Self::recover`] (or reopen) before appending again.
    pub fn append_batch<'a, I>(&mut self, records: I) -> Result<(), JournalError>
    where
        I: IntoIterator<Item = (u64, &'a [u8])>,
    {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let count = self.encode_batch(records)?;
        if count == 0 {
            return Ok(());
        }
        if let Err(e) = self.write_batch(self.last_seq + 1) {
            self.poisoned = true;
            self.stats.failures += 1;
            // Dropping the segment closes the failed descriptor at once:
            // it is never synced again (see `recover`).
            self.cut = match self.current.take() {
                Some(segment) => Some((segment.path, segment.synced_len)),
                None => self.failed_create.take().map(|path| (path, 0)),
            };
            return Err(e);
        }
        self.last_seq += count;
        self.stats.batches += 1;
        self.stats.records += count;
        self.stats.bytes += self.buf.len() as u64;
        if self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Puts a poisoned journal back to exactly the records that were
    /// durable before the failed batch, so appending can resume.
    ///
    /// The failed file descriptor is closed and never synced again: after a
    /// failed fsync Linux may have dropped the dirty pages and marked them
    /// clean, so a second fsync on it could report success for data that is
    /// not on disk. Instead the segment is cut back, through a new
    /// descriptor, to the length its last successful sync covered, that
    /// cut is synced, the segment is read back and must end exactly at
    /// [`Self::last_seq`], and the next batch starts a fresh segment file
    /// (a segment created for the failed batch gets a fresh header and
    /// takes the next batch: see `cut_back`). An error here leaves the
    /// journal poisoned; calling again later (the disk has space again, the
    /// device came back) is safe.
    pub fn recover(&mut self) -> Result<(), JournalError> {
        if !self.poisoned {
            return Ok(());
        }
        if let Some((path, keep)) = self.cut.clone() {
            self.cut_back(&path, keep)?;
            self.cut = None;
        }
        self.poisoned = false;
        self.stats.recoveries += 1;
        tracing::warn!(dir = %self.dir.display(), last_seq = self.last_seq,
            "journal: recovered from a failed write; the failed batch was dropped");
        Ok(())
    }

    /// Cuts `path` back to `keep` bytes durably and checks what is left
    /// ends at `last_seq`.
    ///
    /// A segment created for the failed batch (nothing durable past its
    /// header) is kept, with a fresh synced header, and appended to next:
    /// once snapshots have pruned the older segments its name is the only
    /// record of where the journal ends, so removing it would make the
    /// next start see an empty journal behind a newer snapshot.
    fn cut_back(&mut self, path: &Path, keep: u64) -> Result<(), JournalError> {
        let created_for_batch = keep <= SEGMENT_HEADER_LEN as u64;
        let mut file = self
            .fs
            .open_write(path)
            .map_err(JournalError::io("opening", path))?;
        if created_for_batch {
            file.set_len(0)
                .and_then(|()| file.append(&encode_segment_header(self.last_seq + 1)))
                .map_err(JournalError::io("rewriting the header of", path))?;
        } else {
            file.set_len(keep)
                .map_err(JournalError::io("truncating", path))?;
        }
        file.sync_all().map_err(JournalError::io("syncing", path))?;
        drop(file);
        if created_for_batch {
            sync_dir(&self.fs, &self.dir)?;
        }
        self.verify_segment_ends_at_last_seq(path)?;
        if created_for_batch {
            self.current = Some(open_for_append(&self.fs, path)?);
        }
        Ok(())
    }

    fn verify_segment_ends_at_last_seq(&self, path: &Path) -> Result<(), JournalError> {
        let first_seq = list_segments(&self.fs, &self.dir)?
            .into_iter()
            .find(|(_, p)| p == path)
            .map(|(s, _)| s)
            .ok_or_else(|| JournalError::corrupt(path, 0, "segment vanished during recovery"))?;
        let mut cursor = match SegmentCursor::open(&self.fs, path, first_seq, false)? {
            Opened::Ready(cursor) => cursor,
            Opened::TornHeader { detail } => return Err(JournalError::corrupt(path, 0, detail)),
        };
        let mut payload = Vec::new();
        loop {
            match cursor.next(&mut payload)? {
                Step::Record { .. } => {}
                Step::End if cursor.next_seq() == self.last_seq + 1 => return Ok(()),
                other => {
                    let detail = format!(
                        "after cutting back, the segment ends at seq {} ({other:?}), expected {}",
                        cursor.next_seq() - 1,
                        self.last_seq
                    );
                    return Err(JournalError::corrupt(path, 0, detail));
                }
            }
        }
    }

    /// Frames the batch into `self.buf`; returns the number of records.
    fn encode_batch<'a, I>(&mut self, records: I) -> Result<u64, JournalError>
    where
        I: IntoIterator<Item = (u64, &'a [u8])>,
    {
        self.buf.clear();
        let mut expected = self.last_seq + 1;
        for (seq, payload) in records {
            let framed = if seq == expected {
                encode_frame(&mut self.buf, seq, payload)
            } else {
                Err(JournalError::NonConsecutive { expected, got: seq })
            };
            // u64::MAX is reserved so that "the seq after" always exists.
            let next = expected.checked_add(1).ok_or(JournalError::InvalidArgument(
                "sequence number u64::MAX is reserved",
            ));
            match framed.and(next) {
                Ok(next) => expected = next,
                Err(e) => {
                    self.buf.clear();
                    return Err(e);
                }
            }
        }
        Ok(expected - self.last_seq - 1)
    }

    /// Writes `self.buf` (whose first record is `first_seq`) and syncs it.
    fn write_batch(&mut self, first_seq: u64) -> Result<(), JournalError> {
        let segment = match self.current.take() {
            Some(seg) if !seg.is_full(self.segment_bytes) => seg,
            // The old segment was synced batch by batch; dropping closes it.
            _ => self.create_segment(first_seq)?,
        };
        let segment = self.current.insert(segment);
        segment
            .file
            .append(&self.buf)
            .map_err(JournalError::io("appending to", &segment.path))?;
        segment.len += self.buf.len() as u64;
        if self.durability == Durability::Fsync {
            segment
                .file
                .sync_data()
                .map_err(JournalError::io("syncing", &segment.path))?;
            self.stats.data_syncs += 1;
        }
        segment.synced_len = segment.len;
        Ok(())
    }

    /// Creates `journal-<first_seq>.seg` with its header, durably.
    fn create_segment(&mut self, first_seq: u64) -> Result<Segment<F::File>, JournalError> {
        let path = segment_path(&self.dir, first_seq);
        // create_new: an existing file with this name would mean two writers
        // or a bug; never overwrite journal data.
        let mut file = self
            .fs
            .create_new(&path)
            .map_err(JournalError::io("creating", &path))?;
        self.failed_create = Some(path.clone());
        file.append(&encode_segment_header(first_seq))
            .map_err(JournalError::io("writing", &path))?;
        if self.durability == Durability::Fsync {
            file.sync_all()
                .map_err(JournalError::io("syncing", &path))?;
            // The new name must survive a crash too, not just the bytes.
            sync_dir(&self.fs, &self.dir)?;
        }
        self.failed_create = None;
        self.stats.segments_created += 1;
        Ok(Segment {
            file,
            path,
            len: SEGMENT_HEADER_LEN as u64,
            synced_len: SEGMENT_HEADER_LEN as u64,
        })
    }
}

fn open_for_append<F: Fs>(fs: &F, path: &Path) -> Result<Segment<F::File>, JournalError> {
    let file = fs
        .open_write(path)
        .map_err(JournalError::io("opening", path))?;
    let len = file.size().map_err(JournalError::io("inspecting", path))?;
    Ok(Segment {
        file,
        path: path.to_path_buf(),
        len,
        synced_len: len,
    })
}

/// fsyncs a directory so that created, renamed or removed names are durable.
pub(crate) fn sync_dir<F: Fs>(fs: &F, dir: &Path) -> Result<(), JournalError> {
    fs.sync_dir(dir)
        .map_err(JournalError::io("syncing directory", dir))
}

/// Validates all segments in order and repairs the last one's torn tail.
/// Returns the report and the path of the last segment, if any.
fn scan_dir<F: Fs>(fs: &F, dir: &Path) -> Result<(OpenReport, Option<PathBuf>), JournalError> {
    let segments = list_segments(fs, dir)?;
    let mut report = OpenReport {
        segments: segments.len(),
        ..OpenReport::default()
    };
    let mut expected: Option<u64> = None;
    for (i, (first_seq, path)) in segments.iter().enumerate() {
        if let Some(exp) = expected.filter(|e| e != first_seq) {
            let detail = format!("segment starts at seq {first_seq}, expected {exp}");
            return Err(JournalError::corrupt(path, 0, detail));
        }
        let is_last = i + 1 == segments.len();
        let next = scan_segment(fs, path, *first_seq, is_last, &mut report)?;
        expected = Some(next);
    }
    if let Some(next) = expected {
        report.last_seq = next - 1;
        if report.records > 0 {
            report.first_seq = segments.first().map(|(s, _)| *s);
        }
    }
    Ok((report, segments.last().map(|(_, p)| p.clone())))
}

/// Validates one segment; returns the seq that must follow it.
fn scan_segment<F: Fs>(
    fs: &F,
    path: &Path,
    first_seq: u64,
    is_last: bool,
    report: &mut OpenReport,
) -> Result<u64, JournalError> {
    let mut cursor = match SegmentCursor::open(fs, path, first_seq, is_last)? {
        Opened::Ready(cursor) => cursor,
        Opened::TornHeader { detail } => {
            rewrite_header(fs, path, first_seq, &detail, report)?;
            return Ok(first_seq);
        }
    };
    let mut payload = Vec::new();
    loop {
        match cursor.next(&mut payload)? {
            Step::Record { .. } => report.records += 1,
            Step::End => return Ok(cursor.next_seq()),
            Step::Torn { offset, detail } => {
                truncate_tail(fs, cursor.path(), offset, &detail, report)?;
                return Ok(cursor.next_seq());
            }
        }
    }
}

/// Cuts the last segment back to `offset`, the end of its last good record.
fn truncate_tail<F: Fs>(
    fs: &F,
    path: &Path,
    offset: u64,
    detail: &str,
    report: &mut OpenReport,
) -> Result<(), JournalError> {
    let mut file = fs
        .open_write(path)
        .map_err(JournalError::io("opening", path))?;
    let len = file.size().map_err(JournalError::io("inspecting", path))?;
    tracing::warn!(
        path = %path.display(), offset, cut = len - offset, detail,
        "journal: truncating torn tail of the last segment"
    );
    file.set_len(offset)
        .map_err(JournalError::io("truncating", path))?;
    // Always synced, even under Durability::None: a repair that is undone
    // by a crash would be found again, but half-done is worse than either.
    file.sync_all().map_err(JournalError::io("syncing", path))?;
    report.truncated_bytes += len - offset;
    report.truncated_at = Some((path.to_path_buf(), offset));
    Ok(())
}

/// The last segment was being created when we crashed: empty it and write
/// a fresh header so its name (and so the next seq) is kept.
fn rewrite_header<F: Fs>(
    fs: &F,
    path: &Path,
    first_seq: u64,
    detail: &str,
    report: &mut OpenReport,
) -> Result<(), JournalError> {
    let mut file = fs
        .open_write(path)
        .map_err(JournalError::io("opening", path))?;
    let len = file.size().map_err(JournalError::io("inspecting", path))?;
    tracing::warn!(
        path = %path.display(), cut = len, detail,
        "journal: last segment has a torn header and no records; rewriting it"
    );
    file.set_len(0)
        .map_err(JournalError::io("truncating", path))?;
    file.append(&encode_segment_header(first_seq))
        .map_err(JournalError::io("writing", path))?;
    file.sync_all().map_err(JournalError::io("syncing", path))?;
    report.truncated_bytes += len;
    report.truncated_at = Some((path.to_path_buf(), 0));
    Ok(())
}
