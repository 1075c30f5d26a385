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
//! - The auth service killed (SIGKILL) while one user trades with an API
//!   key and another with a Bearer token, then started again: the cached
//!   API key keeps trading, Bearer orders are taken or refused with 503
//!   (the gateway checks a session with auth at most every 5 s), logins
//!   and registrations are refused at once with a plain 503, never a
//!   hang or an internal detail; once auth is back logins, registrations
//!   and both ways of trading work, every acknowledged order is there,
//!   and everything reconciles.
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
use std::collections::BTreeMap;
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
    /// The seller and the buyer, with their API keys (READ, TRADE).
    accounts: Vec<std::sync::Arc<crashload::Account>>,
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
            accounts,
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

/// What a request got while the auth service was killed, away, or back.
#[derive(Debug)]
struct Sample {
    what: &'static str,
    /// [`BEFORE`]… when it was sent, and when its answer came.
    phase: (u8, u8),
    /// 0: no answer within [`HANG`].
    status: u16,
    body: String,
    retry_after: Option<String>,
}

const BEFORE: u8 = 0;
const DOWN: u8 = 1;
/// Started again, before a login has worked.
const STARTING: u8 = 2;
const BACK: u8 = 3;
/// Logins and registrations tried while auth is away, 0.5 s apart.
const DOWN_ATTEMPTS: usize = 12;
/// A request unanswered this long hangs.
const HANG: Duration = Duration::from_secs(10);

struct Recorder {
    http: reqwest::Client,
    phase: std::sync::atomic::AtomicU8,
    samples: std::sync::Mutex<Vec<Sample>>,
}

impl Recorder {
    fn phase(&self) -> u8 {
        self.phase.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set(&self, phase: u8) {
        self.phase.store(phase, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends `req`, records and returns its answer.
    async fn send(&self, what: &'static str, req: reqwest::RequestBuilder) -> (u16, String) {
        let start = self.phase();
        let (status, body, retry_after) = match req.timeout(HANG).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (status, resp.text().await.unwrap_or_default(), retry_after)
            }
            Err(e) => (0, e.to_string(), None),
        };
        self.samples.lock().unwrap().push(Sample {
            what,
            phase: (start, self.phase()),
            status,
            body: body.clone(),
            retry_after,
        });
        (status, body)
    }

    /// The answers to `what` sent and answered within `phase`, by status.
    fn count(&self, what: &str, phase: u8) -> BTreeMap<u16, usize> {
        let mut by = BTreeMap::new();
        for s in self.samples.lock().unwrap().iter() {
            if s.what == what && s.phase == (phase, phase) {
                *by.entry(s.status).or_default() += 1;
            }
        }
        by
    }
}

/// `params` signed with `account`'s API key (Binance's SIGNED form body).
fn signed_form(account: &crashload::Account, params: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let params = format!("{params}&recvWindow=60000&timestamp={now}");
    let signature = flowex_auth::sign(&account.trader.creds.secret, params.as_bytes());
    format!("{params}&signature={signature}")
}

/// An order acknowledged during the run: who, its id, its answer.
type Acked = (usize, Value);

/// One trader's closed loop until `stop`: the seller (0) sells with its API
/// key, the buyer (1) buys with its Bearer token, both at 50000, so most
/// orders trade. Every answer is recorded, every acknowledgement kept.
async fn trade_loop(
    s: std::sync::Arc<(String, Vec<std::sync::Arc<crashload::Account>>, String)>,
    who: usize,
    rec: std::sync::Arc<Recorder>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Acked> {
    let (gw, accounts, buyer_token) = &*s;
    let mut acked = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let form = "symbol=BTCUSDT&type=LIMIT&timeInForce=GTC&price=50000.00&quantity=0.00100";
        let req = rec
            .http
            .post(format!("{gw}/api/v3/order"))
            .header("content-type", "application/x-www-form-urlencoded");
        let (what, req) = if who == 0 {
            let body = signed_form(&accounts[0], &format!("{form}&side=SELL"));
            let req = req.header("X-MBX-APIKEY", &accounts[0].trader.creds.api_key);
            ("order with an API key", req.body(body))
        } else {
            let req = req.bearer_auth(buyer_token);
            (
                "order with a Bearer token",
                req.body(format!("{form}&side=BUY")),
            )
        };
        let (status, body) = rec.send(what, req).await;
        if status == 200 {
            acked.push((who, serde_json::from_str(&body).unwrap()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acked
}

/// A login of `email`, recorded as `login`.
async fn try_login(s: &Stack, rec: &Recorder, email: &str) -> u16 {
    let body = serde_json::json!({ "email": email, "password": crashload::PASSWORD });
    let req = rec
        .http
        .post(format!("{}/api/v1/auth/login", s.gw))
        .json(&body);
    rec.send("login", req).await.0
}

async fn try_register(s: &Stack, rec: &Recorder, email: &str) -> u16 {
    let body = serde_json::json!({ "email": email, "password": crashload::PASSWORD });
    let req = rec
        .http
        .post(format!("{}/api/v1/auth/register", s.gw))
        .json(&body);
    rec.send("registration", req).await.0
}

/// The order now, against its acknowledgement: there, with the
/// acknowledged outcome or a later one.
async fn check_acked(s: &Stack, (who, ack): &Acked) {
    let id = ack["orderId"].as_u64().unwrap();
    let params = format!("symbol=BTCUSDT&orderId={id}");
    let req = s
        .http
        .get(format!(
            "{}/api/v3/order?{}",
            s.gw,
            signed_form(&s.accounts[*who], &params)
        ))
        .header("X-MBX-APIKEY", &s.accounts[*who].trader.creds.api_key);
    let (status, now) = call(req).await.unwrap();
    assert_eq!(status, 200, "acknowledged order {id}: {now}");
    let executed = |v: &Value| crashload::lots(v["executedQty"].as_str().unwrap());
    let later: &[&str] = match ack["status"].as_str().unwrap() {
        "NEW" | "PARTIALLY_FILLED" => &["NEW", "PARTIALLY_FILLED", "FILLED"],
        other => &[other][..],
    };
    assert!(
        later.contains(&now["status"].as_str().unwrap()) && executed(&now) >= executed(ack),
        "order {id} acknowledged {ack}, now {now}"
    );
}

/// The gateway's 503 for a service it cannot reach, on `/api/v3` and on
/// `/api/v1` (`flowex_gateway::proxy::service_unavailable`).
const BINANCE_UNAVAILABLE: &str =
    r#"{"code":-1008,"msg":"Service unavailable. Please try again later."}"#;
const NATIVE_UNAVAILABLE: &str = r#"{"error":{"code":"service_unavailable","message":"The service is temporarily unavailable; try again shortly."}}"#;

/// Five things a 503 must not show a client: where the auth service is and
/// why the gateway could not reach it.
fn leaks(body: &str) -> bool {
    [
        "127.0.0.1",
        "auth service",
        "session lookup",
        "connect",
        "refused",
    ]
    .iter()
    .any(|w| body.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_killed_under_load_cached_credentials_trade_logins_fail_fast() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some(db) = TestDatabase::create("dependencies").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = RedisServer::start("dependencies", dir.path()) else {
        return;
    };
    let mut s = Stack::start(dir.path(), &db.url, &redis).await;
    s.trade("50000.00").await;
    caught_up(&s, 1, "before the auth service is killed").await;
    let rec = Arc::new(Recorder {
        http: reqwest::Client::new(),
        phase: BEFORE.into(),
        samples: Default::default(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new((s.gw.clone(), s.accounts.clone(), s.buyer.clone()));
    let traders: Vec<_> = (0..2)
        .map(|who| tokio::spawn(trade_loop(shared.clone(), who, rec.clone(), stop.clone())))
        .collect();
    // Trading for a second: the API key and both sessions are in the
    // gateway's caches (looked up now: 30 s and 5 s to go).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let auth = s.index("auth");
    drop(s.procs.remove(auth));
    rec.set(DOWN);
    // About 6 s away: longer than a session is cached (5 s), far shorter
    // than a key (30 s).
    let seller_email = s.accounts[0].email.clone();
    for n in 0..DOWN_ATTEMPTS {
        try_login(&s, &rec, &seller_email).await;
        try_register(&s, &rec, &format!("deps-while-down-{n}@example.com")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let mut p = s.cluster.serve("auth");
    rec.set(STARTING);
    s.cluster.wait_ready(&mut p).await;
    s.procs.insert(auth, p);
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_login(&s, &rec, &seller_email).await != 200 {
        assert!(Instant::now() < deadline, "logins do not work again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    rec.set(BACK);
    assert_eq!(
        try_register(&s, &rec, "deps-after@example.com").await,
        201,
        "a registration once auth is back"
    );
    assert_eq!(try_login(&s, &rec, "deps-after@example.com").await, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for t in traders {
        acked.extend(t.await.unwrap());
    }

    let samples = std::mem::take(&mut *rec.samples.lock().unwrap());
    let mut kinds: BTreeMap<(&str, u16, String), usize> = BTreeMap::new();
    for x in &samples {
        assert_ne!(x.status, 0, "no answer within {HANG:?}: {x:?}");
        assert!(
            x.status < 500 || (x.status == 503 && !leaks(&x.body)),
            "a 5xx other than a plain 503: {x:?}"
        );
        if x.status == 503 {
            // The same answer as any service the gateway cannot reach,
            // in the path's shape, with when to try again.
            let shape = if x.what.starts_with("order") {
                BINANCE_UNAVAILABLE
            } else {
                NATIVE_UNAVAILABLE
            };
            assert_eq!(x.body, shape, "{x:?}");
            assert!(x.retry_after.is_some(), "no Retry-After: {x:?}");
        }
        if x.status != 200 && x.status != 201 {
            *kinds.entry((x.what, x.status, x.body.clone())).or_default() += 1;
        }
    }
    for ((what, status, body), n) in &kinds {
        eprintln!("auth killed: {n} x {what}: {status} {body}");
    }
    samples
        .into_iter()
        .for_each(|x| rec.samples.lock().unwrap().push(x));
    let count = |what, phase| rec.count(what, phase);
    for phase in [BEFORE, DOWN, STARTING, BACK] {
        eprintln!(
            "auth killed, phase {phase}: API key {:?}, Bearer {:?}, login {:?}, registration {:?}",
            count("order with an API key", phase),
            count("order with a Bearer token", phase),
            count("login", phase),
            count("registration", phase)
        );
    }
    // While auth is away: the cached API key keeps trading; a Bearer
    // order is taken while its session is cached, refused with 503 after;
    // logins and registrations are refused at once with 503.
    let keyed = count("order with an API key", DOWN);
    assert!(
        keyed.keys().eq([&200]),
        "API key orders while auth is away: {keyed:?}"
    );
    let bearer = count("order with a Bearer token", DOWN);
    assert!(
        bearer.keys().all(|s| *s == 200 || *s == 503),
        "Bearer orders while auth is away: {bearer:?}"
    );
    for what in ["login", "registration"] {
        let c = count(what, DOWN);
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            [&503],
            "{what} while auth is away"
        );
        assert_eq!(c[&503], DOWN_ATTEMPTS, "{what} while auth is away");
    }
    // Back: both ways of trading work again.
    for what in ["order with an API key", "order with a Bearer token"] {
        let c = count(what, BACK);
        assert!(
            c.get(&200).is_some_and(|n| *n > 0),
            "{what} once back: {c:?}"
        );
    }

    // Nothing acknowledged is lost, every trade is there, and it reconciles.
    for a in &acked {
        check_acked(&s, a).await;
    }
    let trades: usize = acked
        .iter()
        .map(|(_, v)| v["fills"].as_array().map_or(0, Vec::len))
        .sum();
    eprintln!(
        "auth killed: {} orders acknowledged, {trades} trades, none lost",
        acked.len()
    );
    caught_up(&s, 1 + trades as u64, "after the auth service came back").await;
}
