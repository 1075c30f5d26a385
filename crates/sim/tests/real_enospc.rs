//! A real full disk: the sequencer with the real file system (`StdFs`) on a
//! 4 MiB tmpfs, filled up by another file. Mounting needs root (CI runs as
//! root); elsewhere the test says it skipped, unless
//! `FLOWEX_REQUIRE_TMPFS=1` makes that a failure. The fault-injecting
//! file system (`sequencer_faults.rs`) covers the same path everywhere.

mod common;

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use common::*;
use flowex_sequencer::*;
use flowex_types::*;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let status = Process::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "flowex-enospc-test"])
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg(self.dir.path()).status();
    }
}

/// Writes a file until the file system refuses with ENOSPC.
fn fill(path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::StorageFull => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn config(dir: PathBuf) -> SequencerConfig {
    let mut cfg = SequencerConfig::new(JournalConfig::new(dir));
    cfg.snapshot_every = 0;
    cfg.journal_retry = Duration::from_millis(20);
    cfg
}

#[test]
fn a_real_full_tmpfs_refuses_commands_and_resumes_when_space_returns() -> TestResult {
    let Some(tmpfs) = Tmpfs::mount() else {
        assert!(
            std::env::var("FLOWEX_REQUIRE_TMPFS").as_deref() != Ok("1"),
            "FLOWEX_REQUIRE_TMPFS=1 but a tmpfs cannot be mounted here"
        );
        eprintln!("skipped: cannot mount a tmpfs (not root?); the SimFs tests cover this path");
        return Ok(());
    };
    let journal = tmpfs.path().join("journal");
    let (seq, _) = Sequencer::start(config(journal.clone()))?;
    let h = seq.handle();
    for c in setup_commands() {
        h.submit_blocking(c)?;
    }
    let filler = tmpfs.path().join("filler");
    fill(&filler)?;
    let deposit = |key: &str| Command::Deposit {
        key: idem(key),
        user: UserId(2),
        asset: BTC,
        amount: 9,
    };
    let before = h.query_blocking(|e| e.balance(UserId(2), BTC).available)?;
    let mut refusals = 0;
    // The space left after the filler may still take a few records.
    for i in 0..1_000 {
        match h.submit_blocking(deposit(&format!("full-{i}"))) {
            Err(SequencerError::JournalUnavailable { no_space: true, .. }) => {
                refusals += 1;
                if refusals == 5 {
                    break;
                }
            }
            Ok(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refusals, 5, "the journal never hit ENOSPC");
    let stats = h.stats();
    assert!(
        stats.journal_failures >= 1 && !stats.journal_writable,
        "{stats:?}"
    );
    let during = h.query_blocking(|e| e.balance(UserId(2), BTC).available)?;
    std::fs::remove_file(&filler)?;
    let resumed = (0..2_000).find_map(|_| match h.submit_blocking(deposit("after")) {
        Err(SequencerError::JournalUnavailable { .. }) => {
            std::thread::sleep(Duration::from_millis(5));
            None
        }
        other => Some(other),
    });
    assert!(matches!(resumed, Some(Ok(_))), "{resumed:?}");
    let after = h.query_blocking(|e| e.balance(UserId(2), BTC).available)?;
    assert_eq!(after, during + 9);
    assert!(after >= before);
    let engine = seq.shutdown()?;
    engine.check_invariants()?;
    let (_again, report) = Sequencer::start(config(journal))?;
    assert_eq!(report.state_hash, engine.state_hash());
    eprintln!(
        "tmpfs: {refusals} refusals, journal failures {}",
        stats.journal_failures
    );
    Ok(())
}
