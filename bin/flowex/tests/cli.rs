//! The `flowex` binary end to end: run the core, stop it, replay and verify
//! the data directory, refuse a damaged journal with a clear error, and
//! keep the data directory readable by its owner only.

use std::path::Path;
use std::process::{Command, Output};

fn flowex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowex"))
        .args(args)
        .output()
        .expect("flowex runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn up(dir: &Path) -> String {
    let out = flowex(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "--port",
        "0",
        "up",
        "--seconds",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

fn field<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' in {out}"))
        .trim()
}

#[test]
fn up_then_replay_verifies_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let first = up(dir.path());
    assert!(first.contains("seeded demo markets"), "{first}");
    assert!(
        first.contains("FlowEx is up at http://127.0.0.1:"),
        "{first}"
    );
    let login = field(&first, "demo account: ");
    let second = up(dir.path());
    assert!(
        !second.contains("seeded demo markets"),
        "seeded twice: {second}"
    );
    assert_eq!(
        field(&second, "demo account: "),
        login,
        "the demo login survives a restart"
    );
    let stopped = field(&second, "stopped at seq ");
    let journal = dir.path().join("journal");
    let out = flowex(&[
        "replay",
        "--data-dir",
        journal.to_str().unwrap(),
        "--verify",
    ]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("verified:         state matches"),
        "{report}"
    );
    let (seq, hash) = stopped.split_once(", state hash ").unwrap();
    assert_eq!(field(&report, "last seq:"), seq);
    assert_eq!(field(&report, "state hash:"), hash);
}

#[test]
fn replay_refuses_a_journal_damaged_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    up(dir.path());
    let journal = dir.path().join("journal");
    let segment = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let out = flowex(&["replay", "--data-dir", journal.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("corrupt"), "{}", text(&out));
}

#[test]
fn replay_of_a_missing_directory_is_a_clear_error() {
    let out = flowex(&["replay", "--data-dir", "/nonexistent/flowex"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is not a data directory"),
        "{}",
        text(&out)
    );
}

/// Every path under `dir` whose mode lets its group or others in.
fn readable_by_others(dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push((p.clone(), mode));
        }
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    open
}

#[test]
fn the_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    // As an older version left it: 0755, with a world-readable file.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let old = dir.join("notes.txt");
    std::fs::write(&old, "old").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    up(&dir);
    for name in ["flowex.db", "journal", "secrets"] {
        assert!(dir.join(name).exists(), "{name} missing");
    }
    assert_eq!(readable_by_others(&dir), Vec::new());
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn a_closed_stdout_does_not_bring_the_server_down() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowex"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--port", "0", "up", "--seconds", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then go away: every later status line meets a
    // closed pipe (as when a supervisor or `| head` stops reading).
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{first}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
