//! The file-system calls the journal makes, behind a small trait.
//!
//! Production uses [`StdFs`] (plain `std::fs`, monomorphised: no indirection,
//! no behaviour change). Tests use the fault-injecting in-memory `SimFs` of
//! `crates/sim` to tear writes, drop unsynced data at a crash, fail an
//! fsync, fill the disk or slow it down.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The directory and file operations the journal and the snapshot store use.
pub trait Fs: Clone + Debug + Send + Sync + 'static {
    /// A file open for writing; writes go to its end.
    type File: FsFile;
    /// A file open for reading.
    type Reader: Read + Seek + Debug + Send;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The paths of the entries of `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Creates a file that must not exist yet.
    fn create_new(&self, path: &Path) -> io::Result<Self::File>;
    /// Creates a file, or empties an existing one.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for writing at its end.
    fn open_write(&self, path: &Path) -> io::Result<Self::File>;
    fn open_read(&self, path: &Path) -> io::Result<Self::Reader>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes created, renamed and removed names in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing.
pub trait FsFile: Send {
    /// Writes all of `buf` at the end of the file.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// fdatasync.
    fn sync_data(&mut self) -> io::Result<()>;
    /// fsync.
    fn sync_all(&mut self) -> io::Result<()>;
    /// Truncates or extends the file; later appends go to the new end.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size(&self) -> io::Result<u64>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

/// A `std::fs::File` kept positioned at its end.
#[derive(Debug)]
pub struct StdFile(File);

impl Fs for StdFs {
    type File = StdFile;
    type Reader = File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn create_new(&self, path: &Path) -> io::Result<StdFile> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(StdFile)
    }

    fn create(&self, path: &Path) -> io::Result<StdFile> {
        File::create(path).map(StdFile)
    }

    fn open_write(&self, path: &Path) -> io::Result<StdFile> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(StdFile(file))
    }

    fn open_read(&self, path: &Path) -> io::Result<File> {
        File::open(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir).and_then(|d| d.sync_all())
    }
}

impl FsFile for StdFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.seek(SeekFrom::End(0)).map(|_| ())
    }

    fn size(&self) -> io::Result<u64> {
        self.0.metadata().map(|m| m.len())
    }
}
