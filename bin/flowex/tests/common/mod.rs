//! What the end-to-end tests of the binary share: the `flowex` command
//! with a clean environment, and a running `flowex up`.
#![allow(dead_code)] // each test file uses its own part

pub mod sessions;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The binary working in `dir` (`--data-dir`), with none of the caller's
/// `FLOWEX_*` variables: they would be settings, and a test script's own
/// (`FLOWEX_TEST_*`) are not the server's business.
pub fn flowex(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowex"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOWEX_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir).arg("--data-dir").arg(dir);
    c
}

/// A running `flowex up`, killed when dropped.
pub struct Up {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory, when the server owns it.
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    /// `flowex up UP_ARGS` on a free port in `dir`, stopping by itself
    /// after five minutes; returns once the banner gave the address.
    pub fn start(dir: &Path, up_args: &[&str]) -> Up {
        Up::start_with(dir, up_args, &[])
    }

    /// [`Up::start`] with settings from `env` (`FLOWEX_…` variables).
    pub fn start_with(dir: &Path, up_args: &[&str], env: &[(&str, &str)]) -> Up {
        Up::start_for(dir, 300, up_args, env)
    }

    /// [`Up::start_with`], stopping by itself after `seconds`.
    pub fn start_for(dir: &Path, seconds: u64, up_args: &[&str], env: &[(&str, &str)]) -> Up {
        let mut child = flowex(dir)
            .envs(env.iter().copied())
            .args(["--port", "0", "up", "--seconds", &seconds.to_string()])
            .args(up_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("flowex up printed its address")
                .unwrap();
            if let Some(rest) = line.strip_prefix("FlowEx is up at ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Up {
            child,
            base,
            _dir: None,
        }
    }

    /// The server's process id (for /proc: memory, open files).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (a graceful stop) and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// [`Up::start`] in a fresh temporary data directory.
    pub fn start_fresh(up_args: &[&str]) -> Up {
        Up::start_fresh_with(up_args, &[])
    }

    /// [`Up::start_with`] in a fresh temporary data directory.
    pub fn start_fresh_with(up_args: &[&str], env: &[(&str, &str)]) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let mut up = Up::start_with(dir.path(), up_args, env);
        up._dir = Some(dir);
        up
    }

    /// The data directory (when the server owns it).
    pub fn data_dir(&self) -> Option<&Path> {
        self._dir.as_ref().map(|d| d.path())
    }
}

/// A finished command's stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
