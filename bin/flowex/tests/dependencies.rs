//! Dependencies failing in distributed mode, with nothing acknowledged
//! lost and no manual step:
//!
//! - Redis killed (no persistence: its event stream and rate-limit
//!   counters are gone) while users trade. Orders are still taken and
//!   acknowledged (the journal is the record; the stream is a copy), and
//!   once Redis is back, market data and the wallet catch up with every
//!   trade made meanwhile: REST trades gap-free, and the admin reconcile
//!   (the wallet's ledger = SQL balances = the engine, to the atom) passes.
//! - The gateway killed and started again: the same access tokens work
//!   (they are verified, not stored in the gateway).
//! - Market data killed and started again: its book and trades are the
//!   engine's again.
//! - PostgreSQL stopped as in a crash and started again (a private
//!   server, `scripts/test-db.sh`): every service reconnects by itself,
//!   orders are taken again, and the projections and the wallet catch up.
//!
//! Needs `FLOWEX_TEST_POSTGRES_URL` and `redis-server`, as the other
//! distributed tests (skipped with a notice without them, unless
//! `FLOWEX_REQUIRE_POSTGRES`/`_REDIS`).

#[allow(dead_code)]
#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/crashload.rs"]
mod crashload;

use cluster::{Cluster, Proc};
use crashload::{call, login, Funding};
use flowex_testkit::postgres::TestDatabase;
use flowex_testkit::redis::RedisServer;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const ADMIN: &str = "deps-admin@example.com";
const ENV: [(&str, &str); 3] = [
    ("FLOWEX_RATE_LIMITS__IP_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__USER_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "1000000"),
];

struct Stack {
    cluster: Cluster,
    procs: Vec<Proc>,
    gw: String,
    http: reqwest::Client,
    admin: String,
    /// Bearer tokens of the seller and the buyer.
    seller: String,
    buyer: String,
}

impl Stack {
    async fn start(dir: &std::path::Path, database_url: &str, redis: &RedisServer) -> Stack {
        let cluster = Cluster::new(dir, database_url, redis.port(), &ENV);
        let procs = cluster.start_all(ADMIN, crashload::PASSWORD).await;
        let gw = cluster.url("gateway");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (admin, _) = login(&http, &gw, ADMIN).await;
        let funding = Funding::Admin(admin.clone());
        let accounts = crashload::provision(&gw, 2, "deps", &funding).await;
        let (seller, _) = login(&http, &gw, &accounts[0].email).await;
        let (buyer, _) = login(&http, &gw, &accounts[1].email).await;
        Stack {
            cluster,
            procs,
            gw,
            http,
            admin,
            seller,
            buyer,
        }
    }

    fn index(&self, name: &str) -> usize {
        self.procs.iter().position(|p| p.name == name).unwrap()
    }

    /// Kills `name` (SIGKILL), starts it again and waits until it is ready.
    async fn restart(&mut self, name: &'static str) {
        let i = self.index(name);
        drop(self.procs.remove(i));
        let mut p = self.cluster.serve(name);
        self.cluster.wait_ready(&mut p).await;
        self.procs.insert(i, p);
    }

    /// A limit order through the gateway; its acknowledgement.
    async fn order(&self, token: &str, side: &str, price: &str) -> Value {
        let body = format!(
            "symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&price={price}&quantity=0.00100000"
        );
        let req = self
            .http
            .post(format!("{}/api/v3/order", self.gw))
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let (s, v) = call(req).await.unwrap();
        assert_eq!(s, 200, "order {side} at {price}: {v}");
        v
    }

    /// One trade at `price`: a resting sell, then a buy that fills it.
    async fn trade(&self, price: &str) {
        self.order(&self.seller, "SELL", price).await;
        let buy = self.order(&self.buyer, "BUY", price).await;
        assert_eq!(buy["status"], "FILLED", "{buy}");
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.gw));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        call(req).await.unwrap_or((0, Value::Null))
    }

    /// The ids of BTCUSDT's trades as market data serves them.
    async fn trade_ids(&self) -> Vec<u64> {
        let (_, v) = self
            .get("/api/v3/trades?symbol=BTCUSDT&limit=1000", None)
            .await;
        let rows = v.as_array().cloned().unwrap_or_default();
        rows.iter().filter_map(|t| t["id"].as_u64()).collect()
    }

    /// `GET /api/v1/admin/reconcile`: the wallet's ledger, the SQL
    /// balances and the engine agree (it waits up to 5 s for the ledger).
    async fn reconciled(&self) -> (bool, Value) {
        let (status, v) = self.get("/api/v1/admin/reconcile", Some(&self.admin)).await;
        (status == 200 && v["ok"] == true, v)
    }
}

/// Waits (90 s at most) until market data serves `n` trades, numbered
/// 1..=n without a gap, and the admin reconcile passes.
async fn caught_up(s: &Stack, n: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut ids = s.trade_ids().await;
        ids.sort_unstable();
        let gap_free = ids == (1..=n).collect::<Vec<_>>();
        let (ok, report) = s.reconciled().await;
        if gap_free && ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: market data has trades {ids:?} (want 1..={n}); reconcile: {report}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gateway_and_market_data_fail_and_come_back_with_nothing_lost() {
    let Some(db) = TestDatabase::create("dependencies").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(mut redis) = RedisServer::start("dependencies", dir.path()) else {
        return;
    };
    let mut s = Stack::start(dir.path(), &db.url, &redis).await;
    s.trade("50000.00").await;
    caught_up(&s, 1, "before any failure").await;

    // Redis goes away: orders are still acknowledged.
    redis.kill();
    s.trade("50001.00").await;
    s.trade("50002.00").await;
    // Back, empty: the stream is rebuilt from the journal and every
    // follower catches up.
    redis.restart();
    caught_up(&s, 3, "after Redis came back").await;
    s.trade("50003.00").await;
    caught_up(&s, 4, "a trade after Redis came back").await;

    // The gateway: the tokens issued before still work.
    s.restart("gateway").await;
    let (status, me) = s.get("/api/v1/account/sessions", Some(&s.buyer)).await;
    assert_eq!(status, 200, "{me}");
    s.trade("50004.00").await;
    caught_up(&s, 5, "after the gateway restarted").await;

    // Market data: rebuilt from trading's snapshot and the stream.
    s.restart("market-data").await;
    caught_up(&s, 5, "after market data restarted").await;
    s.trade("50005.00").await;
    caught_up(&s, 6, "a trade after market data restarted").await;
}

/// A PostgreSQL server of this test's own (`scripts/test-db.sh start`),
/// so it can be restarted without disturbing other tests; stopped and
/// removed when dropped.
struct PrivatePostgres {
    dir: String,
    url: String,
}

fn test_db_script() -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-db.sh");
    let mut cmd = Command::new("bash");
    // The caller's server (scripts/test exports its directory) is not this one.
    cmd.arg(script).env_remove("FLOWEX_TEST_PG_DIR");
    cmd
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let bin = std::env::var("FLOWEX_TEST_PG_BIN")
            .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
        if !std::path::Path::new(&bin).join("postgres").exists() {
            assert!(
                !flowex_testkit::required("FLOWEX_REQUIRE_POSTGRES"),
                "FLOWEX_REQUIRE_POSTGRES=1 but there is no PostgreSQL server in {bin}"
            );
            eprintln!("notice: postgres restart: SKIPPED (no PostgreSQL server in {bin})");
            return None;
        }
        let out = test_db_script().arg("start").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "test-db.sh start: {}",
            common::text(&out)
        );
        let field = |prefix: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no '{prefix}' in {stdout}"))
        };
        let url = field("export FLOWEX_TEST_POSTGRES_URL=");
        let stop_line = field("# stop with: ");
        let dir = stop_line.rsplit(' ').next().unwrap().to_string();
        Some(PrivatePostgres { dir, url })
    }

    /// Stops it as a crash would (`-m immediate`) and starts it again on
    /// the same port.
    fn restart(&self) {
        let out = test_db_script()
            .args(["restart", &self.dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "test-db.sh restart: {}",
            common::text(&out)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = test_db_script().args(["stop", &self.dir]).output();
    }
}

/// Places orders until one is acknowledged again (60 s at most): while
/// the database is away, refusals (503) are expected, never a hang.
async fn trade_when_back(s: &Stack, price: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = format!(
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price={price}&quantity=0.00100000"
        );
        let req = s
            .http
            .post(format!("{}/api/v3/order", s.gw))
            .bearer_auth(&s.seller)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        match call(req).await {
            Ok((200, _)) => break,
            Ok((status, v)) => assert!(status >= 500 || status == 401, "{status} {v}"),
            Err(e) => eprintln!("order while the database restarts: {e}"),
        }
        assert!(Instant::now() < deadline, "orders not taken again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let buy = s.order(&s.buyer, "BUY", price).await;
    assert_eq!(buy["status"], "FILLED", "{buy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_every_service_reconnects_and_catches_up() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = RedisServer::start("dependencies", dir.path()) else {
        return;
    };
    let mut s = Stack::start(dir.path(), &pg.url, &redis).await;
    s.trade("50000.00").await;
    caught_up(&s, 1, "before the restart").await;
    pg.restart();
    trade_when_back(&s, "50001.00").await;
    caught_up(&s, 2, "after PostgreSQL restarted").await;
    for p in &mut s.procs {
        let exited = p.child.try_wait().unwrap();
        assert!(exited.is_none(), "{} exited after the restart", p.name);
    }
}
