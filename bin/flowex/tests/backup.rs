//! scripts/backup.sh and scripts/restore.sh for real.
//!
//! Distributed: five `flowex serve` processes on PostgreSQL and Redis;
//! users trade through the gateway (a fill and a resting order); an online
//! backup; everything destroyed (processes, Redis, data directory, the
//! database); a restore into a second, fresh PostgreSQL server and a new
//! data directory; the journal replays (`flowex replay --verify`) to the
//! state hash the old one had; the five processes start again on a new,
//! empty Redis, and every balance, open order, order and trade reads the
//! same through the gateway; `flowex admin reconcile` agrees. A damaged
//! backup and a non-empty target are refused.
//!
//! Embedded: `flowex up` with its market maker trading, an online backup
//! (SQLite online backup + journal + generated secrets), a restore into a
//! new directory that replays to the backup's hash, reconciles, and serves.
//!
//! Needs what bin/flowex/tests/distributed.rs needs
//! (`FLOWEX_TEST_POSTGRES_URL`, `redis-server`; skipped with a notice
//! unless `FLOWEX_REQUIRE_POSTGRES=1` / `FLOWEX_REQUIRE_REDIS=1`), plus
//! scripts/test-db.sh for the second server.

mod common;

use flowex_testkit::postgres::with_database;
use flowex_testkit::redis::RedisServer;
use flowex_testkit::{free_port, required};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "backup-test-internal-token-0123456789abcdef";
const PASSWORD: &str = "a long enough passphrase";
const SERVICES: [&str; 5] = ["auth", "trading", "market-data", "wallet", "gateway"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed when dropped; its log printed if the test fails.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("---- {} log (tail) ----\n{tail}", self.name);
        }
    }
}

/// A throwaway redis-server with its files in a directory of its own.
fn start_redis(dir: &Path) -> (RedisServer, u16) {
    let dir = dir.join(format!("redis-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = RedisServer::start("backup", &dir).expect("redis-server (checked above)");
    let port = redis.port();
    (redis, port)
}

async fn sql(url: &str, statement: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    conn.execute(statement).await.unwrap();
    conn.close().await.ok();
}

/// A second PostgreSQL server from scripts/test-db.sh, stopped when dropped.
struct SecondServer {
    url: String,
    dir: String,
}

impl SecondServer {
    fn start() -> SecondServer {
        let out = Command::new("bash")
            .arg(repo().join("scripts/test-db.sh"))
            .arg("start")
            .env_remove("FLOWEX_TEST_PG_DIR")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
                .trim()
                .to_string()
        };
        let url = field("export FLOWEX_TEST_POSTGRES_URL=");
        let dir = field("# stop with: ")
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string();
        SecondServer { url, dir }
    }
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/test-db.sh"))
            .args(["stop", &self.dir])
            .status();
    }
}

/// One distributed installation: its settings and its five processes.
struct Cluster {
    env: Vec<(String, String)>,
    gateway: String,
    dir: PathBuf,
    procs: Vec<Proc>,
}

impl Cluster {
    fn new(database_url: &str, redis_port: u16, data: &Path, jwt_pem: &str, dir: &Path) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("FLOWEX_MODE".into(), "distributed".into()),
            ("FLOWEX_DATABASE_URL".into(), database_url.into()),
            (
                "FLOWEX_REDIS_URL".into(),
                format!("redis://127.0.0.1:{redis_port}/0"),
            ),
            ("FLOWEX_INTERNAL_TOKEN".into(), TOKEN.into()),
            ("FLOWEX_DATA_DIR".into(), data.display().to_string()),
            ("FLOWEX_JWT_PRIVATE_KEY".into(), jwt_pem.into()),
            ("FLOWEX_SECRET_BOX_KEY".into(), "cd".repeat(32)),
        ];
        let mut gateway = String::new();
        for name in SERVICES {
            let port = free_port();
            let key = name.replace('-', "_").to_uppercase();
            let url = format!("http://127.0.0.1:{port}");
            if name == "gateway" {
                gateway = url.clone();
            }
            env.push((format!("FLOWEX_SERVICES__{key}__URL"), url));
            env.push((format!("FLOWEX_SERVICES__{key}__PORT"), port.to_string()));
        }
        let dir = dir.to_path_buf();
        Cluster {
            env,
            gateway,
            dir,
            procs: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        // Not common::flowex: its --data-dir would win over FLOWEX_DATA_DIR.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowex"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FLOWEX_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    async fn start(&mut self, c: &reqwest::Client) {
        for name in SERVICES {
            let log = self.dir.join(format!("{name}-{}.log", free_port()));
            let child = self
                .command(&["serve", name])
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            self.procs.push(Proc {
                name: name.into(),
                child,
                log,
            });
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        for (proc, name) in self.procs.iter_mut().zip(SERVICES) {
            let key = name.replace('-', "_").to_uppercase();
            let var = format!("FLOWEX_SERVICES__{key}__URL");
            let base = &self.env.iter().find(|(k, _)| *k == var).unwrap().1;
            loop {
                if let Ok(Some(status)) = proc.child.try_wait() {
                    panic!("{name} exited with {status}");
                }
                match c.get(format!("{base}/health/ready")).send().await {
                    Ok(r) if r.status() == 200 => break,
                    _ => assert!(Instant::now() < deadline, "{name} not ready"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn stop(&mut self) {
        // SIGTERM: each process stops cleanly (trading after its last batch).
        for p in &mut self.procs {
            let _ = Command::new("kill").arg(p.child.id().to_string()).status();
            let _ = p.child.wait();
        }
        self.procs.clear();
    }
}

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn login(c: &reqwest::Client, gw: &str, email: &str) -> String {
    let creds = json!({ "email": email, "password": PASSWORD });
    let (s, v) = call(c, c.post(format!("{gw}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{:?}: {}", cmd, common::text(&out));
    out
}

fn script(name: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts").join(name));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOWEX_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("FLOWEX_BIN", env!("CARGO_BIN_EXE_flowex"));
    cmd
}

/// `last seq` and `state hash` of `flowex replay --verify` on a data dir.
fn replay(dir: &Path) -> (String, String) {
    let out = run(common::flowex(dir).args(["replay", "--verify"]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_string()
    };
    (field("last seq:"), field("state hash:"))
}

/// What a user sees through the gateway: balances, open orders, every
/// order and trade of BTCUSDT.
async fn user_state(c: &reqwest::Client, gw: &str, token: &str) -> Value {
    let mut state = serde_json::Map::new();
    for path in [
        "account",
        "openOrders",
        "allOrders?symbol=BTCUSDT",
        "myTrades?symbol=BTCUSDT",
    ] {
        let (s, v) = call(c, c.get(format!("{gw}/api/v3/{path}")).bearer_auth(token)).await;
        assert_eq!(s, 200, "{path}: {v}");
        let v = if path == "account" {
            v["balances"].clone()
        } else {
            v
        };
        state.insert(path.into(), v);
    }
    Value::Object(state)
}

async fn trade(c: &reqwest::Client, gw: &str, root: &str) -> Vec<(String, String)> {
    let mut users = Vec::new();
    for (email, asset, amount) in [
        ("seller@example.com", "BTC", "1"),
        ("buyer@example.com", "USDT", "10000"),
    ] {
        let creds = json!({ "email": email, "password": PASSWORD });
        let (s, v) = call(c, c.post(format!("{gw}/api/v1/auth/register")).json(&creds)).await;
        assert_eq!(s, 201, "{v}");
        let id = v["user"]["id"].as_u64().unwrap();
        let body = json!({"user_id": id, "asset": asset, "amount": amount, "idempotency_key": format!("backup-{id}")});
        let req = c
            .post(format!("{gw}/api/v1/admin/deposits"))
            .bearer_auth(root)
            .json(&body);
        let (s, v) = call(c, req).await;
        assert_eq!(s, 200, "{v}");
        users.push((email.to_string(), login(c, gw, email).await));
    }
    let (seller, buyer) = (&users[0].1, &users[1].1);
    for (token, form) in [
        (seller, "side=SELL&quantity=0.01&price=60000"),
        (buyer, "side=BUY&quantity=0.01&price=60000"),
        (seller, "side=SELL&quantity=0.02&price=61000"),
        (buyer, "side=BUY&quantity=0.03&price=59000"),
    ] {
        let body = format!("symbol=BTCUSDT&type=LIMIT&timeInForce=GTC&{form}");
        let req = c
            .post(format!("{gw}/api/v3/order"))
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let (s, v) = call(c, req).await;
        assert_eq!(s, 200, "{v}");
    }
    users
}

/// Waits until the wallet's ledger has every journal record (reconcile
/// compares it with the engine).
async fn wallet_caught_up(c: &reqwest::Client, cluster: &Cluster, seq: u64) {
    let var = "FLOWEX_SERVICES__WALLET__URL";
    let base = &cluster.env.iter().find(|(k, _)| k == var).unwrap().1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, e) = call(c, c.get(format!("{base}/health/events"))).await;
        if e["last_seq"].as_u64().unwrap_or(0) >= seq {
            return;
        }
        assert!(Instant::now() < deadline, "wallet behind: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_backup_destroy_restore_same_state() {
    let Ok(admin_url) = std::env::var("FLOWEX_TEST_POSTGRES_URL") else {
        assert!(
            !required("FLOWEX_REQUIRE_POSTGRES"),
            "FLOWEX_TEST_POSTGRES_URL is not set"
        );
        eprintln!("SKIPPED: needs FLOWEX_TEST_POSTGRES_URL (scripts/test sets it)");
        return;
    };
    if flowex_testkit::redis::binary().is_none() {
        assert!(!required("FLOWEX_REQUIRE_REDIS"), "no redis-server");
        eprintln!("SKIPPED: needs redis-server");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("flowex_backup_{}", std::process::id());
    sql(&admin_url, &format!("CREATE DATABASE \"{db}\"")).await;
    let database_url = with_database(&admin_url, &db);
    let (_, jwt_pem) = flowex_auth::JwtKeys::generate().unwrap();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // Before: trade, then look at everything a user can see.
    let data = tmp.path().join("data");
    let (redis, redis_port) = start_redis(tmp.path());
    let mut before = Cluster::new(
        &database_url,
        redis_port,
        &data,
        jwt_pem.expose(),
        tmp.path(),
    );
    run(&mut before.command(&[
        "admin",
        "create-user",
        "--email",
        "root@example.com",
        "--password",
        PASSWORD,
        "--admin",
    ]));
    before.start(&c).await;
    // `flowex serve` lists nothing: BTCUSDT comes from the demo listing.
    run(&mut before.command(&["demo", "seed"]));
    let gw = before.gateway.clone();
    let root = login(&c, &gw, "root@example.com").await;
    let users = trade(&c, &gw, &root).await;
    let mut seen = Vec::new();
    for (_, token) in &users {
        seen.push(user_state(&c, &gw, token).await);
    }
    assert_eq!(
        seen[0]["openOrders"].as_array().map(Vec::len),
        Some(1),
        "{}",
        seen[0]
    );
    assert_eq!(
        seen[1]["myTrades?symbol=BTCUSDT"].as_array().map(Vec::len),
        Some(1)
    );

    // An online backup: the services keep running.
    let backups = tmp.path().join("backups");
    let out = run(script("backup.sh")
        .args(["--database-url", &database_url, "--out"])
        .arg(&backups)
        .arg("--data-dir")
        .arg(&data));
    let backup = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap());
    let manifest = std::fs::read_to_string(backup.join("MANIFEST")).unwrap();

    // Destroy everything.
    before.stop();
    drop(redis);
    let (last_seq, state_hash) = replay(&data);
    assert!(
        manifest.contains(&format!("last_seq: {last_seq}\n")),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("state_hash: {state_hash}\n")),
        "{manifest}"
    );
    std::fs::remove_dir_all(&data).unwrap();
    sql(&admin_url, &format!("DROP DATABASE \"{db}\"")).await;

    // A damaged backup is refused before anything is written.
    let second = SecondServer::start();
    sql(&second.url, "CREATE DATABASE flowex_restored").await;
    let restored_url = with_database(&second.url, "flowex_restored");
    let damaged = tmp.path().join("damaged");
    run(Command::new("cp").arg("-a").arg(&backup).arg(&damaged));
    let segment = std::fs::read_dir(damaged.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let restored = tmp.path().join("restored");
    let refused = script("restore.sh")
        .arg(&damaged)
        .arg("--data-dir")
        .arg(&restored)
        .args(["--database-url", &restored_url])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        common::text(&refused).contains("checksums do not match"),
        "{}",
        common::text(&refused)
    );
    assert!(!restored.exists());

    // Restore into the fresh server and a new directory.
    run(script("restore.sh")
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .args(["--database-url", &restored_url]));
    assert_eq!(replay(&restored), (last_seq.clone(), state_hash.clone()));
    let again = script("restore.sh")
        .arg(&backup)
        .arg("--data-dir")
        .arg(tmp.path().join("elsewhere"))
        .args(["--database-url", &restored_url])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a database with tables is refused");
    assert!(common::text(&again).contains("restore only into an empty database"));

    // Start again on an empty Redis: the same state through the gateway.
    let (_redis, redis_port) = start_redis(tmp.path());
    let mut after = Cluster::new(
        &restored_url,
        redis_port,
        &restored,
        jwt_pem.expose(),
        tmp.path(),
    );
    after.start(&c).await;
    let gw = after.gateway.clone();
    for ((email, _), seen) in users.iter().zip(&seen) {
        let token = login(&c, &gw, email).await;
        assert_eq!(&user_state(&c, &gw, &token).await, seen, "{email}");
    }
    wallet_caught_up(&c, &after, last_seq.parse().unwrap()).await;
    let out = run(&mut after.command(&["admin", "reconcile"]));
    assert!(common::text(&out).contains("OK: the ledger, the balances and the engine agree"));
    after.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backup_while_trading_restores_and_reconciles() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let up = common::Up::start(&data, &[]);
    // The market maker trades from the first seconds.
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, t) = call(
            &c,
            c.get(format!("{}/api/v3/trades?symbol=BTCUSDT", up.base)),
        )
        .await;
        if t.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no trade from the market maker");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let backups = tmp.path().join("backups");
    let out = run(script("backup.sh")
        .arg("--embedded")
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&backups));
    drop(up);
    let backup = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap());
    let manifest = std::fs::read_to_string(backup.join("MANIFEST")).unwrap();
    assert!(manifest.contains("kind: embedded"), "{manifest}");
    assert!(backup.join("secrets").is_dir() && backup.join("flowex.db").is_file());

    let restored = tmp.path().join("restored");
    run(script("restore.sh")
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored));
    let (seq, hash) = replay(&restored);
    assert!(
        manifest.contains(&format!("last_seq: {seq}\nstate_hash: {hash}\n")),
        "{manifest}"
    );
    let out = run(common::flowex(&restored).args(["admin", "reconcile"]));
    assert!(common::text(&out).contains("OK: the ledger, the balances and the engine agree"));
    // And it serves again, with the restored secrets.
    run(common::flowex(&restored).args(["--port", "0", "up", "--no-bot", "--seconds", "2"]));
    run(common::flowex(&restored).args(["admin", "reconcile"]));
}
