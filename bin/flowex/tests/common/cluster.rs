//! The distributed mode in processes: one `flowex serve NAME` per service
//! on a fresh PostgreSQL database and a private redis-server, configured
//! through `FLOWEX_*` variables only (what the crash tests restart and kill).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "crash-test-internal-token-0123456789abcdef0123";
pub const SERVICES: [&str; 5] = ["auth", "trading", "market-data", "wallet", "gateway"];

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log (tail) ----\n{}", self.name, self.log_tail());
        }
    }
}

/// The shared configuration of every process.
pub struct Cluster {
    pub env: Vec<(String, String)>,
    pub ports: Vec<(&'static str, u16)>,
    pub dir: PathBuf,
}

impl Cluster {
    /// Settings for every service on free ports; `extra` added (rate limits…).
    pub fn new(dir: &Path, database_url: &str, redis_port: u16, extra: &[(&str, &str)]) -> Cluster {
        let (jwt, jwt_pem) = flowex_auth::JwtKeys::generate().unwrap();
        let ports: Vec<(&'static str, u16)> = SERVICES
            .iter()
            .map(|n| (*n, flowex_testkit::free_port()))
            .collect();
        let mut env: Vec<(String, String)> = vec![
            ("FLOWEX_MODE".into(), "distributed".into()),
            ("FLOWEX_DATABASE_URL".into(), database_url.into()),
            (
                "FLOWEX_REDIS_URL".into(),
                format!("redis://127.0.0.1:{redis_port}/0"),
            ),
            ("FLOWEX_INTERNAL_TOKEN".into(), TOKEN.into()),
            (
                "FLOWEX_DATA_DIR".into(),
                dir.join("data").display().to_string(),
            ),
            ("FLOWEX_JWT_PRIVATE_KEY".into(), jwt_pem.expose().clone()),
            ("FLOWEX_JWT_PUBLIC_KEY".into(), jwt.public_pem().to_string()),
            ("FLOWEX_SECRET_BOX_KEY".into(), "cd".repeat(32)),
        ];
        for (name, port) in &ports {
            let key = name.replace('-', "_").to_uppercase();
            env.push((
                format!("FLOWEX_SERVICES__{key}__URL"),
                format!("http://127.0.0.1:{port}"),
            ));
            env.push((format!("FLOWEX_SERVICES__{key}__PORT"), port.to_string()));
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Cluster {
            env,
            ports,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self, name: &str) -> String {
        let port = self.ports.iter().find(|(n, _)| *n == name).unwrap().1;
        format!("http://127.0.0.1:{port}")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `flowex ARGS` with this cluster's settings only.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowex"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FLOWEX_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn serve(&self, name: &'static str) -> Proc {
        self.spawn(name, &format!("{name}.log"), &[])
    }

    fn spawn(&self, name: &'static str, log: &str, extra: &[(String, String)]) -> Proc {
        let log = self.dir.join(log);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = self
            .command(&["serve", name])
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting flowex serve");
        Proc { name, child, log }
    }

    /// Another replica of `name` listening on `port` (the same settings
    /// otherwise: the other services still reach the first one), started
    /// and ready at `http://127.0.0.1:{port}`.
    #[allow(dead_code)] // not every test that includes this file starts replicas
    pub async fn serve_another(&self, name: &'static str, port: u16) -> Proc {
        let key = name.replace('-', "_").to_uppercase();
        let port_var = (format!("FLOWEX_SERVICES__{key}__PORT"), port.to_string());
        let mut p = self.spawn(name, &format!("{name}-{port}.log"), &[port_var]);
        self.wait_ready_at(&mut p, &format!("http://127.0.0.1:{port}"))
            .await;
        p
    }

    /// The whole stack: an admin `email` made with `flowex admin
    /// create-user --admin`, the five services started and ready, and the
    /// demo listing from `flowex demo seed`.
    pub async fn start_all(&self, email: &str, password: &str) -> Vec<Proc> {
        let output = |args: &[&str]| {
            let out = self.command(args).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "flowex {}: {text}", args.join(" "));
        };
        output(&[
            "admin",
            "create-user",
            "--email",
            email,
            "--password",
            password,
            "--admin",
        ]);
        let mut procs: Vec<Proc> = SERVICES.into_iter().map(|n| self.serve(n)).collect();
        for p in &mut procs {
            self.wait_ready(p).await;
        }
        output(&["demo", "seed"]);
        procs
    }

    /// Waits until `p` answers `/health/ready` with 200.
    pub async fn wait_ready(&self, p: &mut Proc) {
        let base = self.url(p.name);
        self.wait_ready_at(p, &base).await;
    }

    /// Waits until `p` answers `{base}/health/ready` with 200.
    pub async fn wait_ready_at(&self, p: &mut Proc, base: &str) {
        let c = reqwest::Client::new();
        let url = format!("{base}/health/ready");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited with {status}:\n{}", p.name, p.log_tail());
            }
            match c.get(&url).send().await {
                Ok(r) if r.status() == 200 => return,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready:\n{}",
                p.name,
                p.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
