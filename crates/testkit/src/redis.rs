//! A throwaway `redis-server` per test, on a free loopback port, without
//! persistence; killed when dropped. The binary is `FLOWEX_TEST_REDIS_SERVER`
//! or `redis-server` on the PATH; without one a test is skipped with a
//! notice, unless `FLOWEX_REQUIRE_REDIS=1` (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The redis-server binary, if there is one.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLOWEX_TEST_REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    })
}

/// A running redis-server.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one with its files (and `redis.log`) in `dir`, or `None`
    /// (after a notice) when Redis tests are skipped.
    pub fn start(test: &str, dir: &Path) -> Option<RedisServer> {
        let Some(bin) = binary() else {
            assert!(
                !crate::required("FLOWEX_REQUIRE_REDIS"),
                "{test}: FLOWEX_REQUIRE_REDIS=1 but there is no redis-server on the PATH"
            );
            eprintln!(
                "notice: {test}: SKIPPED (no redis-server on the PATH; scripts/test installs it)"
            );
            return None;
        };
        let mut server = RedisServer {
            bin,
            dir: dir.to_path_buf(),
            port: crate::free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL); its data is gone, as after a crash of a
    /// server without persistence.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it if running, then starts it again on the same port and
    /// waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .expect("redis.log");
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
