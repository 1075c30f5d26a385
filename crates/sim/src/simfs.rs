//! A deterministic, in-memory, fault-injecting file system for the
//! journal's [`Fs`] trait (tests and the simulation only).
//!
//! It keeps, for every file, what a reader sees (the page cache) apart from
//! what would survive a power cut (what the last successful sync wrote), and
//! for the directory the names made durable by a directory sync apart from
//! the changes since. On top of that it injects, when told to:
//!
//! - **a crash** ([`SimFs::crash_after`], [`SimFs::crash`]) at any operation:
//!   every later call fails until [`SimFs::restart`], which keeps what was
//!   durable plus, for a file appended since its last sync, a seeded random
//!   prefix of the unsynced bytes (a torn write, cut at any byte), sometimes
//!   followed by zeros or garbage (the file system had extended the file),
//!   and a random prefix, in order, of the unsynced name changes;
//! - **a failed fsync** ([`SimFs::fail_syncs`]) the way Linux fails one: EIO,
//!   the dirty data stays readable but is marked clean, so it never reaches
//!   the disk, not even when a later fsync of the same file succeeds;
//! - **a full disk** ([`SimFs::set_capacity`]): a write that does not fit
//!   writes what fits and fails with ENOSPC (`ErrorKind::StorageFull`);
//! - **a failed write** ([`SimFs::fail_writes`]): part of the buffer written, then EIO;
//! - **a slow disk** ([`SimFs::set_sync_latency`]: every sync sleeps) and a
//!   stopped one ([`SimFs::hold_syncs`]: syncs block until released), to
//!   show what the caller does while its fsync has not returned;
//! - **media damage** ([`SimFs::flip_bit`]).
//!
//! Directories always exist once created (their creation is not simulated).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Cursor};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use flowex_journal::{Fs, FsFile};

/// ENOSPC on Linux.
const ENOSPC: i32 = 28;
/// EIO on Linux.
const EIO: i32 = 5;

/// Counters of what the file system did and injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Mutating operations (writes, syncs, truncations, name changes).
    pub ops: u64,
    pub syncs: u64,
    pub failed_syncs: u64,
    pub failed_writes: u64,
    pub no_space: u64,
    pub crashes: u64,
    /// Unsynced bytes a restart kept (torn writes that reached the disk).
    pub torn_bytes_kept: u64,
    /// Unsynced bytes a restart dropped.
    pub unsynced_bytes_dropped: u64,
    /// Syncs currently blocked by [`SimFs::hold_syncs`].
    pub held_syncs: u64,
}

#[derive(Debug, Default)]
struct Inode {
    /// What reads see.
    live: Vec<u8>,
    /// What a power cut keeps.
    durable: Vec<u8>,
    /// Bytes whose write-back failed: readable, never made durable (the
    /// pages were marked clean), until a truncation removes them.
    lost: Vec<Range<usize>>,
}

#[derive(Debug)]
enum DirOp {
    Link(PathBuf, usize),
    Unlink(PathBuf),
    Rename(PathBuf, PathBuf, usize),
}

impl DirOp {
    fn in_dir(&self, dir: &Path) -> bool {
        let path = match self {
            DirOp::Link(p, _) | DirOp::Unlink(p) | DirOp::Rename(_, p, _) => p,
        };
        path.parent() == Some(dir)
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, usize>) {
        match self {
            DirOp::Link(p, ino) => {
                names.insert(p.clone(), *ino);
            }
            DirOp::Unlink(p) => {
                names.remove(p);
            }
            DirOp::Rename(from, to, ino) => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
        }
    }
}

struct Disk {
    inodes: Vec<Inode>,
    live: BTreeMap<PathBuf, usize>,
    durable: BTreeMap<PathBuf, usize>,
    /// Name changes since the last sync of their directory, in order.
    dir_log: Vec<DirOp>,
    dirs: BTreeSet<PathBuf>,
    /// Bumped by a restart: handles from before it are dead.
    generation: u64,
    crashed: bool,
    crash_countdown: Option<u64>,
    capacity: Option<u64>,
    fail_syncs: u64,
    fail_writes: u64,
    hold_syncs: bool,
    sync_latency: Duration,
    /// Unsynced bytes a restart keeps of each file, instead of a random number.
    torn_keep: Option<usize>,
    rng: ChaCha8Rng,
    stats: SimStats,
}

/// The simulated file system; clones share one disk.
#[derive(Clone)]
pub struct SimFs {
    disk: Arc<Mutex<Disk>>,
    syncs_released: Arc<Condvar>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFs")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: the machine is down")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Disk {
    /// Counts a mutating operation and fires a scheduled crash.
    fn tick(&mut self) -> io::Result<()> {
        self.alive()?;
        self.stats.ops += 1;
        match self.crash_countdown {
            Some(0) => {
                self.crash();
                Err(crashed_error())
            }
            Some(n) => {
                self.crash_countdown = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn alive(&self) -> io::Result<()> {
        if self.crashed {
            Err(crashed_error())
        } else {
            Ok(())
        }
    }

    fn crash(&mut self) {
        if !self.crashed {
            self.crashed = true;
            self.stats.crashes += 1;
        }
    }

    fn handle_alive(&self, generation: u64) -> io::Result<()> {
        self.alive()?;
        if generation != self.generation {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn used(&self) -> u64 {
        let linked: BTreeSet<usize> = self.live.values().copied().collect();
        linked
            .iter()
            .map(|&i| self.inodes[i].live.len() as u64)
            .sum()
    }

    fn lookup(&self, path: &Path) -> io::Result<usize> {
        self.live.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(dir) if self.dirs.contains(dir) => Ok(()),
            _ => Err(not_found(path)),
        }
    }

    fn link_new(&mut self, path: &Path) -> usize {
        self.inodes.push(Inode::default());
        let ino = self.inodes.len() - 1;
        self.live.insert(path.to_path_buf(), ino);
        self.dir_log.push(DirOp::Link(path.to_path_buf(), ino));
        ino
    }

    fn append(&mut self, ino: usize, buf: &[u8]) -> io::Result<()> {
        let room = match self.capacity {
            Some(cap) => cap.saturating_sub(self.used()),
            None => u64::MAX,
        };
        if (buf.len() as u64) > room {
            let fits = usize::try_from(room).unwrap_or(usize::MAX);
            self.inodes[ino].live.extend_from_slice(&buf[..fits]);
            self.stats.no_space += 1;
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            self.stats.failed_writes += 1;
            let part = self.rng.gen_range(0..=buf.len());
            self.inodes[ino].live.extend_from_slice(&buf[..part]);
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.inodes[ino].live.extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self, ino: usize) -> io::Result<()> {
        self.stats.syncs += 1;
        let inode = &mut self.inodes[ino];
        if self.fail_syncs > 0 {
            self.fail_syncs -= 1;
            self.stats.failed_syncs += 1;
            // Linux: the dirty pages are marked clean; their data is lost to
            // the disk but still served from the cache.
            let first_dirty = inode
                .live
                .iter()
                .zip(inode.durable.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(inode.durable.len().min(inode.live.len()));
            if first_dirty < inode.live.len() {
                inode.lost.push(first_dirty..inode.live.len());
            }
            return Err(io::Error::from_raw_os_error(EIO));
        }
        // Pages whose write-back failed stay clean, so they stay lost (until
        // truncated away): the disk keeps what it had there.
        let mut durable = inode.live.clone();
        let len = durable.len();
        for range in &inode.lost {
            for i in range.clone().filter(|&i| i < len) {
                durable[i] = inode.durable.get(i).copied().unwrap_or(0);
            }
        }
        inode.durable = durable;
        Ok(())
    }

    fn set_len(&mut self, ino: usize, len: u64) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let inode = &mut self.inodes[ino];
        inode.live.resize(len, 0);
        inode.lost.retain_mut(|r| {
            r.end = r.end.min(len);
            r.start < r.end
        });
    }

    /// What a file holds after the power cut.
    fn surviving_content(&mut self, ino: usize) -> Vec<u8> {
        let inode = &self.inodes[ino];
        let appended = inode.live.len() > inode.durable.len()
            && inode.live.starts_with(&inode.durable)
            && inode.lost.is_empty();
        let mut content = inode.durable.clone();
        if appended {
            let extra = inode.live.len() - inode.durable.len();
            let keep = match self.torn_keep {
                Some(k) => k.min(extra),
                None => self.rng.gen_range(0..=extra),
            };
            content.extend_from_slice(&inode.live[inode.durable.len()..][..keep]);
            self.stats.torn_bytes_kept += keep as u64;
            self.stats.unsynced_bytes_dropped += (extra - keep) as u64;
            // Sometimes the file system had already extended the file.
            if keep < extra && self.torn_keep.is_none() && self.rng.gen_ratio(1, 4) {
                let junk = self.rng.gen_range(1..=(extra - keep).min(64));
                let zeros = self.rng.gen_bool(0.5);
                for _ in 0..junk {
                    content.push(if zeros { 0 } else { self.rng.gen() });
                }
            }
        } else if inode.live != inode.durable && inode.lost.is_empty() && self.rng.gen_bool(0.5) {
            // A rewrite or truncation that happened to reach the disk whole.
            content = inode.live.clone();
        }
        content
    }
}

impl SimFs {
    /// An empty disk; `seed` drives every random choice it makes.
    pub fn new(seed: u64) -> SimFs {
        let disk = Disk {
            inodes: Vec::new(),
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            dir_log: Vec::new(),
            dirs: BTreeSet::new(),
            generation: 0,
            crashed: false,
            crash_countdown: None,
            capacity: None,
            fail_syncs: 0,
            fail_writes: 0,
            hold_syncs: false,
            sync_latency: Duration::ZERO,
            torn_keep: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: SimStats::default(),
        };
        SimFs {
            disk: Arc::new(Mutex::new(disk)),
            syncs_released: Arc::new(Condvar::new()),
        }
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> SimStats {
        self.disk().stats
    }

    /// The machine stops now: every later call fails until [`Self::restart`].
    pub fn crash(&self) {
        self.disk().crash();
    }

    /// The machine stops at the `ops`-th mutating operation from now
    /// (0: the next one), which fails.
    pub fn crash_after(&self, ops: u64) {
        self.disk().crash_countdown = Some(ops);
    }

    pub fn is_crashed(&self) -> bool {
        self.disk().crashed
    }

    /// Boots again after a crash (or a clean stop): what survives is the
    /// durable state plus seeded random parts of what was not synced.
    /// Handles opened before are dead. Injected faults are cleared; the
    /// capacity stays.
    pub fn restart(&self) {
        let mut d = self.disk();
        d.crash();
        let log = std::mem::take(&mut d.dir_log);
        let applied = d.rng.gen_range(0..=log.len());
        let mut names = d.durable.clone();
        log.iter().take(applied).for_each(|op| op.apply(&mut names));
        for ino in 0..d.inodes.len() {
            let content = d.surviving_content(ino);
            let inode = &mut d.inodes[ino];
            inode.live = content.clone();
            inode.durable = content;
            inode.lost.clear();
        }
        d.live = names.clone();
        d.durable = names;
        d.generation += 1;
        d.crashed = false;
        d.crash_countdown = None;
        d.fail_syncs = 0;
        d.fail_writes = 0;
    }

    /// From now on a restart keeps exactly `bytes` unsynced bytes of each
    /// file appended since its last sync (`None`: a seeded random number),
    /// and no garbage after them: a torn write cut where the test says.
    pub fn set_torn_keep(&self, bytes: Option<usize>) {
        self.disk().torn_keep = bytes;
    }

    /// Writes beyond `bytes` in total (over all files) fail with ENOSPC;
    /// `None` removes the limit (space returns).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.disk().capacity = bytes;
    }

    /// Bytes held by all files, as the page cache sees them.
    pub fn used_bytes(&self) -> u64 {
        self.disk().used()
    }

    /// The next `n` syncs fail with EIO, Linux style (see the module doc).
    pub fn fail_syncs(&self, n: u64) {
        self.disk().fail_syncs = n;
    }

    /// The next `n` appends write a random part of their buffer, then fail with EIO.
    pub fn fail_writes(&self, n: u64) {
        self.disk().fail_writes = n;
    }

    /// Every sync sleeps this long first (a slow disk).
    pub fn set_sync_latency(&self, latency: Duration) {
        self.disk().sync_latency = latency;
    }

    /// Syncs block until [`Self::release_syncs`].
    pub fn hold_syncs(&self) {
        self.disk().hold_syncs = true;
    }

    pub fn release_syncs(&self) {
        self.disk().hold_syncs = false;
        self.syncs_released.notify_all();
    }

    /// Blocks until at least `n` syncs are waiting in [`Self::hold_syncs`].
    pub fn wait_for_held_syncs(&self, n: u64) {
        let mut d = self.disk();
        while d.stats.held_syncs < n {
            d = self
                .syncs_released
                .wait(d)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Flips one bit of a file, in the cache and on the disk (media damage).
    pub fn flip_bit(&self, path: &Path, offset: usize, bit: u8) -> io::Result<()> {
        let mut d = self.disk();
        let ino = d.lookup(path)?;
        let inode = &mut d.inodes[ino];
        for bytes in [&mut inode.live, &mut inode.durable] {
            if let Some(b) = bytes.get_mut(offset) {
                *b ^= 1 << (bit % 8);
            }
        }
        Ok(())
    }

    /// Removes a file durably at once (what a prune that completed does).
    pub fn remove_file_now(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk();
        d.lookup(path)?;
        d.live.remove(path);
        d.durable.remove(path);
        Ok(())
    }

    /// A file's length as readers see it.
    pub fn len_of(&self, path: &Path) -> Option<u64> {
        let d = self.disk();
        let ino = d.live.get(path)?;
        Some(d.inodes[*ino].live.len() as u64)
    }

    fn handle(&self, ino: usize, path: &Path, generation: u64) -> SimFile {
        SimFile {
            fs: self.clone(),
            ino,
            path: path.to_path_buf(),
            generation,
        }
    }

    fn wait_while_held<'a>(&self, mut d: MutexGuard<'a, Disk>) -> MutexGuard<'a, Disk> {
        if !d.hold_syncs {
            return d;
        }
        d.stats.held_syncs += 1;
        self.syncs_released.notify_all();
        while d.hold_syncs {
            d = self
                .syncs_released
                .wait(d)
                .unwrap_or_else(|p| p.into_inner());
        }
        d.stats.held_syncs -= 1;
        d
    }
}

/// A handle on a [`SimFs`] file.
#[derive(Debug)]
pub struct SimFile {
    fs: SimFs,
    ino: usize,
    path: PathBuf,
    generation: u64,
}

impl SimFile {
    fn sync(&mut self) -> io::Result<()> {
        let latency = self.fs.disk().sync_latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let d = self.fs.disk();
        let mut d = self.fs.wait_while_held(d);
        d.handle_alive(self.generation)?;
        d.tick()?;
        d.sync(self.ino)
    }
}

impl FsFile for SimFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut d = self.fs.disk();
        d.handle_alive(self.generation)?;
        d.tick()?;
        d.append(self.ino, buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut d = self.fs.disk();
        d.handle_alive(self.generation)?;
        d.tick()?;
        d.set_len(self.ino, len);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let d = self.fs.disk();
        d.handle_alive(self.generation)?;
        let _ = &self.path;
        Ok(d.inodes[self.ino].live.len() as u64)
    }
}

impl Fs for SimFs {
    type File = SimFile;
    type Reader = Cursor<Vec<u8>>;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut d = self.disk();
        d.alive()?;
        for ancestor in dir.ancestors() {
            d.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let d = self.disk();
        d.alive()?;
        if !d.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(d.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }

    fn create_new(&self, path: &Path) -> io::Result<SimFile> {
        let mut d = self.disk();
        d.tick()?;
        d.check_parent(path)?;
        if d.live.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists", path.display()),
            ));
        }
        let ino = d.link_new(path);
        Ok(self.handle(ino, path, d.generation))
    }

    fn create(&self, path: &Path) -> io::Result<SimFile> {
        let mut d = self.disk();
        d.tick()?;
        d.check_parent(path)?;
        let ino = match d.live.get(path) {
            Some(&ino) => {
                d.set_len(ino, 0);
                ino
            }
            None => d.link_new(path),
        };
        Ok(self.handle(ino, path, d.generation))
    }

    fn open_write(&self, path: &Path) -> io::Result<SimFile> {
        let d = self.disk();
        d.alive()?;
        let ino = d.lookup(path)?;
        Ok(self.handle(ino, path, d.generation))
    }

    fn open_read(&self, path: &Path) -> io::Result<Cursor<Vec<u8>>> {
        self.read(path).map(Cursor::new)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let d = self.disk();
        d.alive()?;
        let ino = d.lookup(path)?;
        Ok(d.inodes[ino].live.clone())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut d = self.disk();
        d.tick()?;
        let ino = d.lookup(from)?;
        d.check_parent(to)?;
        d.live.remove(from);
        d.live.insert(to.to_path_buf(), ino);
        d.dir_log
            .push(DirOp::Rename(from.to_path_buf(), to.to_path_buf(), ino));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut d = self.disk();
        d.tick()?;
        d.lookup(path)?;
        d.live.remove(path);
        d.dir_log.push(DirOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut d = self.disk();
        d.tick()?;
        let (now, later): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut d.dir_log)
            .into_iter()
            .partition(|op| op.in_dir(dir));
        let mut names = std::mem::take(&mut d.durable);
        now.iter().for_each(|op| op.apply(&mut names));
        d.durable = names;
        d.dir_log = later;
        Ok(())
    }
}
