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
    /// More arguments (`--replicaof …`), kept across restarts.
    args: Vec<String>,
    /// A Sentinel's configuration file (it runs `--sentinel`).
    sentinel_conf: Option<PathBuf>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one with its files (and `redis.log`) in `dir`, or `None`
    /// (after a notice) when Redis tests are skipped.
    pub fn start(test: &str, dir: &Path) -> Option<RedisServer> {
        Self::start_with(test, dir, &[])
    }

    /// [`RedisServer::start`] with more command-line arguments (e.g.
    /// `["--replicaof", "127.0.0.1", "6379"]`).
    pub fn start_with(test: &str, dir: &Path, args: &[&str]) -> Option<RedisServer> {
        let mut server = Self::prepare(test, dir)?;
        server.args = args.iter().map(|a| a.to_string()).collect();
        server.restart();
        Some(server)
    }

    /// A Sentinel (`redis-server CONF --sentinel`) watching the primary on
    /// `primary_port` under the name `master` (quorum 1, down after 1 s).
    pub fn sentinel(
        test: &str,
        dir: &Path,
        primary_port: u16,
        master: &str,
    ) -> Option<RedisServer> {
        let mut server = Self::prepare(test, dir)?;
        let conf = dir.join("sentinel.conf");
        let text = format!(
            "sentinel monitor {master} 127.0.0.1 {primary_port} 1\n\
             sentinel down-after-milliseconds {master} 1000\n\
             sentinel failover-timeout {master} 10000\n"
        );
        std::fs::write(&conf, text).expect("sentinel.conf");
        server.sentinel_conf = Some(conf);
        server.restart();
        Some(server)
    }

    fn prepare(test: &str, dir: &Path) -> Option<RedisServer> {
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
        Some(RedisServer {
            bin,
            dir: dir.to_path_buf(),
            port: crate::free_port(),
            args: Vec::new(),
            sentinel_conf: None,
            child: None,
        })
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
        let mut cmd = Command::new(&self.bin);
        match &self.sentinel_conf {
            Some(conf) => cmd.arg(conf).arg("--sentinel"),
            None => cmd.args(["--save", "", "--appendonly", "no"]),
        };
        let child = cmd
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
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
