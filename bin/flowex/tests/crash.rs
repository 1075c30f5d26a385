//! kill -9 under load: `flowex up`, and the trading service of the
//! distributed mode (`flowex serve trading` on PostgreSQL and Redis, behind
//! the gateway with the other four services), are killed at seeded random
//! moments while many signed users place, cancel, deposit and request
//! withdrawals, and after every restart nothing acknowledged is missing or
//! changed:
//!
//! - every acknowledged order is there with its acknowledged outcome or a
//!   later one (a cancel acknowledged: `CANCELED`; filled quantity never
//!   less than acknowledged);
//! - every acknowledged deposit is credited once; the unanswered ones,
//!   sent again with their key, are credited once too (ETH total =
//!   faucet + deposits, to the atom);
//! - every acknowledged withdrawal request is there, `requested`; no
//!   request is half-applied (locked ETH = the pending withdrawals, before
//!   the unanswered ones are sent again, and after);
//! - the projections catch up with the journal: their offsets reach its
//!   last seq, trade ids are gap-free, no order or trade twice;
//! - `flowex replay --verify` reproduces the snapshots' state from the
//!   journal, and `flowex admin reconcile` passes (conservation: ledger =
//!   SQL balances = engine, custody + users + fees = 0 per asset).
//!
//! Kills: `FLOWEX_CRASH_KILLS` (default 10 for `flowex up`, 5 for
//! trading; the long run is 100). Seed: `FLOWEX_CRASH_SEED` (default: from
//! the clock), printed first. The distributed test needs
//! `FLOWEX_TEST_POSTGRES_URL` and `redis-server` (skipped with a notice
//! without them unless `FLOWEX_REQUIRE_POSTGRES`/`_REDIS`, as scripts/test
//! sets).

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/crashload.rs"]
mod crashload;
#[path = "common/followers.rs"]
mod followers;

use cluster::Cluster;
use common::{flowex, text, Up};
use crashload::{Account, Target};
use flowex_testkit::postgres::TestDatabase;
use flowex_testkit::redis::RedisServer;
use followers::{Base, DepthFollower, UserFollower};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, Row};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "crash-admin@example.com";
const TRADERS: usize = 6;

/// Settings for a load from one address: limits far above it.
const ENV: [(&str, &str); 4] = [
    ("FLOWEX_RATE_LIMITS__IP_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__USER_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "1000000"),
    ("FLOWEX_FAUCET__DAILY_CAP", "1000"),
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
    })
}

fn start(dir: &Path) -> Up {
    Up::start_with(dir, &["--no-bot"], &ENV)
}

/// The two tests load the same two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The number of kills and the seed, printed.
fn settings(what: &str, default_kills: u64) -> (u64, StdRng) {
    let kills = env_u64("FLOWEX_CRASH_KILLS").unwrap_or(default_kills);
    let seed = env_u64("FLOWEX_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!(
        "crash test ({what}): seed {seed} (FLOWEX_CRASH_SEED={seed} reruns it), {kills} kills"
    );
    (kills, StdRng::seed_from_u64(seed))
}

/// BTCUSDT as the load generator prices it, around 64000.
async fn btcusdt(base: &str) -> Arc<flowex_loadgen::Market> {
    let (rules, _) = flowex_loadgen::provision::markets(base, &["BTCUSDT".into()])
        .await
        .unwrap();
    let rules = rules.into_iter().next().unwrap();
    let mid = rules.ticks_of("64000").unwrap();
    Arc::new(flowex_loadgen::Market::new(rules, mid))
}

/// Runs the load for a seeded random 0.3–2.5 s, then `kill` (SIGKILL),
/// then stops the load once every user's request in flight is answered or
/// failed. Returns the acknowledgements so far.
async fn load_then_kill(
    target: Arc<Target>,
    accounts: &[Arc<Account>],
    market: &Arc<flowex_loadgen::Market>,
    rng: &mut StdRng,
    kill: impl FnOnce(),
) -> (Duration, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(crashload::run(
        target,
        accounts.to_vec(),
        market.clone(),
        rng.gen(),
        stop.clone(),
    ));
    let after = Duration::from_millis(rng.gen_range(300..2_500));
    tokio::time::sleep(after).await;
    kill();
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let acks = accounts.iter().map(|a| a.record.lock().unwrap().acks).sum();
    (after, acks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (kills, mut rng) = settings("flowex up", 10);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = flowex(d)
        .args([
            "admin",
            "create-user",
            "--email",
            ADMIN,
            "--password",
            crashload::PASSWORD,
            "--admin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut up = start(d);
    let funding = crashload::Funding::Faucet;
    let accounts = crashload::provision(&up.base, TRADERS, "embedded", &funding).await;
    let market = btcusdt(&up.base).await;
    let base = Base::new(&up.base);
    let clients = Clients::start(&base, &accounts[0]);
    let mut acks = 0;
    for kill in 0..kills {
        let target = Arc::new(Target::connect(&up.base, ADMIN, &accounts).await);
        verify(&Place::Embedded(d), &target, &accounts).await;
        // Every client connected once more than the kills so far: its
        // socket closed at each, it reconnected and resynced.
        clients
            .resynced(&target, &accounts[0], kill, [kill + 1; 2])
            .await;
        let (after, n) =
            load_then_kill(target, &accounts, &market, &mut rng, move || drop(up)).await;
        eprintln!(
            "kill {} after {after:?}: {n} acknowledgements so far",
            kill + 1
        );
        acks = n;
        up = start(d);
        base.set(&up.base);
    }
    let target = Target::connect(&up.base, ADMIN, &accounts).await;
    verify(&Place::Embedded(d), &target, &accounts).await;
    clients
        .resynced(&target, &accounts[0], kills, [kills + 1; 2])
        .await;
    full_order_check(&target, &accounts).await;
    eprintln!("crash test (flowex up): {kills} kills survived, {acks} acknowledgements, none lost");
    eprintln!("crash test (flowex up): {}", clients.report());
    up.terminate();
}

/// The WebSocket clients that live through the kills: a local BTCUSDT
/// book on the diff depth stream, and the listenKey stream of one trader.
struct Clients {
    depth: DepthFollower,
    user: UserFollower,
}

impl Clients {
    fn start(base: &Base, a: &Account) -> Clients {
        Clients {
            depth: DepthFollower::start(base),
            user: UserFollower::start(base, &a.trader.creds.api_key),
        }
    }

    /// After restart `round` (0: before the first kill), with the load
    /// stopped: the user data client has connected `user` times, the depth
    /// client `depth` times and holds a snapshot again. Two new orders of
    /// the client's user, one joining a bid level the book has (its
    /// quantity changes), one at a new level: their `executionReport`s
    /// (NEW) come, and the local book, changed by the stream alone, is
    /// REST depth's exactly; both cancelled: the reports (CANCELED), and
    /// the books equal again.
    async fn resynced(&self, t: &Target, a: &Account, round: u64, [user, depth]: [u64; 2]) {
        let what = format!("after restart {round}");
        self.user.connected(user, &what).await;
        self.depth.synced(depth, &what).await;
        let http = reqwest::Client::new();
        let (_, bids, _) = followers::rest_depth(&http, &t.base)
            .await
            .unwrap_or_else(|| panic!("{what}: no REST depth"));
        let mut prices = vec!["50000.00".to_string()];
        prices.extend(bids.keys().next_back().cloned());
        let mut resting = Vec::new();
        for (n, price) in prices.iter().enumerate() {
            let client_id = format!("resync-{round}-{n}");
            let params = format!(
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price={price}\
                 &quantity=0.00100&newClientOrderId={client_id}"
            );
            let v = ok_json(
                t.signed(a, Method::POST, "/api/v3/order", params).await,
                &what,
            );
            let id = v["orderId"]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: {v}"));
            let status = v["status"].as_str().unwrap().to_string();
            let report = self.user.report_of(id, &status, &what).await;
            assert_eq!(report["c"], client_id.as_str(), "{what}: {report}");
            if status == "NEW" {
                resting.push(id);
            }
        }
        self.depth.agrees_with_rest(&t.base, depth, &what).await;
        for id in resting {
            let params = format!("symbol=BTCUSDT&orderId={id}");
            ok_json(
                t.signed(a, Method::DELETE, "/api/v3/order", params).await,
                &what,
            );
            self.user.report_of(id, "CANCELED", &what).await;
        }
        self.depth.agrees_with_rest(&t.base, depth, &what).await;
    }

    fn report(&self) -> String {
        format!("{}; {}", self.depth.report(), self.user.report())
    }
}

fn ok_json(answer: flowex_loadgen::client::Outcome, what: &str) -> Value {
    match answer {
        flowex_loadgen::client::Outcome::Ok(body) => serde_json::from_slice(&body).unwrap(),
        other => panic!("{what}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_trading_in_distributed_mode_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = RedisServer::start("crash", dir.path()) else {
        return;
    };
    let Some(db) = TestDatabase::create("crash").await else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let (kills, mut rng) = settings("distributed, trading killed", 5);
    let cluster = Cluster::new(dir.path(), &db.url, redis.port(), &ENV);
    let mut procs = cluster.start_all(ADMIN, crashload::PASSWORD).await;
    let gw = cluster.url("gateway");
    let (admin, _) = crashload::login(&reqwest::Client::new(), &gw, ADMIN).await;
    let funding = crashload::Funding::Admin(admin);
    let accounts = crashload::provision(&gw, TRADERS, "distributed", &funding).await;
    let market = btcusdt(&gw).await;
    let place = Place::Distributed(&cluster, db.url.clone());
    let trading = cluster::SERVICES
        .iter()
        .position(|n| *n == "trading")
        .unwrap();
    // Market data is not killed: the depth client stays connected, and
    // its book must still be REST depth's after each restart of trading.
    let clients = Clients::start(&Base::new(&gw), &accounts[0]);
    let mut acks = 0;
    for kill in 0..=kills {
        let target = Arc::new(Target::connect(&gw, ADMIN, &accounts).await);
        trading_answers(&target, &accounts[0]).await;
        verify(&place, &target, &accounts).await;
        clients
            .resynced(&target, &accounts[0], kill, [kill + 1, 1])
            .await;
        if kill == kills {
            full_order_check(&target, &accounts).await;
            break;
        }
        let victim = procs.remove(trading);
        let (after, n) =
            load_then_kill(target, &accounts, &market, &mut rng, move || drop(victim)).await;
        eprintln!(
            "kill {} of trading after {after:?}: {n} acknowledgements so far",
            kill + 1
        );
        acks = n;
        let mut restarted = cluster.serve("trading");
        cluster.wait_ready(&mut restarted).await;
        procs.insert(trading, restarted);
    }
    eprintln!("crash test (distributed): {kills} kills of trading survived, {acks} acknowledgements, none lost");
    eprintln!("crash test (distributed): {}", clients.report());
}

/// Through the gateway, trading answers a signed request again (its
/// circuit breaker closes once the restarted service is seen).
async fn trading_answers(t: &Target, a: &Account) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = t
            .signed(a, Method::GET, "/api/v3/account", String::new())
            .await;
        if matches!(answer, flowex_loadgen::client::Outcome::Ok(_)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trading not back: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the offline checks look: `flowex up`'s data directory, or a
/// cluster (its settings, trading's data directory and PostgreSQL).
enum Place<'a> {
    Embedded(&'a Path),
    Distributed(&'a cluster::Cluster, String),
}

impl Place<'_> {
    /// `flowex ARGS` on this deployment's data and settings.
    fn flowex(&self, args: &[&str]) -> std::process::Command {
        match self {
            Place::Embedded(dir) => {
                let mut c = flowex(dir);
                c.args(args);
                c
            }
            Place::Distributed(cluster, _) => {
                let data = cluster.data_dir().display().to_string();
                cluster.command(&[&["--data-dir", data.as_str()], args].concat())
            }
        }
    }

    fn db_url(&self) -> String {
        match self {
            Place::Embedded(dir) => format!("sqlite://{}?mode=ro", dir.join("flowex.db").display()),
            Place::Distributed(_, url) => url.clone(),
        }
    }
}

async fn verify(place: &Place<'_>, t: &Target, accounts: &[Arc<Account>]) {
    for a in accounts {
        let fresh = std::mem::take(&mut a.record.lock().unwrap().fresh_orders);
        for id in fresh {
            check_order(t, a, id).await;
        }
    }
    for (i, a) in accounts.iter().enumerate() {
        resend_deposits(t, a).await;
        check_withdrawals(t, a, "before resending the unanswered").await;
        resend_withdrawals(t, i, a).await;
        check_withdrawals(t, a, "after resending the unanswered").await;
        let deposits = a.record.lock().unwrap().deposits.len() as u128;
        let (free, locked) = engine_eth(t, a).await;
        assert_eq!(
            free + locked,
            crashload::FAUCET_ETH_ATOMS + deposits * crashload::DEPOSIT_ATOMS,
            "{}: ETH total is not faucet + {deposits} deposits",
            a.email
        );
    }
    let last_seq = replay_verify(place);
    check_projections(place, last_seq, accounts).await;
    let out = place.flowex(&["admin", "reconcile"]).output().unwrap();
    assert!(out.status.success(), "reconcile: {}", text(&out));
}

/// The order as the server has it now, against its acknowledgement.
async fn check_order(t: &Target, a: &Account, id: u64) {
    let acked = a.record.lock().unwrap().orders[&id].clone();
    let params = format!("symbol=BTCUSDT&orderId={id}");
    let body = match t.signed(a, Method::GET, "/api/v3/order", params).await {
        flowex_loadgen::client::Outcome::Ok(b) => b,
        other => panic!("acknowledged order {id} of {}: {other:?}", a.email),
    };
    let v: Value = serde_json::from_slice(&body).unwrap();
    let status = v["status"].as_str().unwrap().to_string();
    let executed = crashload::lots(v["executedQty"].as_str().unwrap());
    let allowed: &[&str] = match acked.status.as_str() {
        // Resting: filled, cancelled, or expired by self-trade prevention since.
        "NEW" | "PARTIALLY_FILLED" | "ACK" => &[
            "NEW",
            "PARTIALLY_FILLED",
            "FILLED",
            "CANCELED",
            "EXPIRED",
            "EXPIRED_IN_MATCH",
        ],
        s => &[s][..],
    };
    assert!(
        allowed.contains(&status.as_str()) && executed >= acked.executed_lots,
        "order {id} of {} acknowledged {acked:?}, now {v}",
        a.email
    );
    if acked.status == "NEW" && status == "NEW" {
        assert_eq!(executed, 0, "order {id}: {v}");
    }
    a.record.lock().unwrap().orders.insert(
        id,
        crashload::AckedOrder {
            status: if status == "NEW" || status == "PARTIALLY_FILLED" {
                acked.status
            } else {
                status
            },
            executed_lots: executed,
        },
    );
}

/// Every check of every order acknowledged during the run (the per-restart
/// checks look at the newest only).
async fn full_order_check(t: &Target, accounts: &[Arc<Account>]) {
    for a in accounts {
        let ids: Vec<u64> = a.record.lock().unwrap().orders.keys().copied().collect();
        for id in ids {
            check_order(t, a, id).await;
        }
    }
}

/// The unanswered deposits again, same key: each credits once.
async fn resend_deposits(t: &Target, a: &Account) {
    let pending: Vec<String> = {
        let r = a.record.lock().unwrap();
        r.deposits
            .iter()
            .filter(|(_, acked)| !**acked)
            .map(|(k, _)| k.clone())
            .collect()
    };
    for k in pending {
        let s = crashload::deposit_call(t, a, &k).await;
        assert_eq!(s, Some(200), "deposit {k} sent again");
        a.record.lock().unwrap().deposits.insert(k, true);
    }
}

async fn resend_withdrawals(t: &Target, i: usize, a: &Account) {
    let pending: Vec<String> = {
        let r = a.record.lock().unwrap();
        r.withdrawals
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(k, _)| k.clone())
            .collect()
    };
    for k in pending {
        let (s, id) = crashload::withdraw_call(t, i, &k).await.expect("an answer");
        assert!(s == 200 || s == 201, "withdrawal {k} sent again: {s}");
        a.record.lock().unwrap().withdrawals.insert(k, id);
    }
}

/// Acknowledged withdrawals are `requested`, and the engine locks exactly
/// what the pending ones hold (nothing half-applied). A request the engine
/// did not answer is locked again by the wallet until it does: polled.
async fn check_withdrawals(t: &Target, a: &Account, when: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match withdrawals_locked(t, a).await {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("{} ({when}): {e}", a.email)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn withdrawals_locked(t: &Target, a: &Account) -> Result<(), String> {
    let token = t.tokens[account_index(t, a)].clone();
    let req = t
        .http
        .get(format!("{}/api/v1/wallet/withdrawals?limit=1000", t.base))
        .bearer_auth(&token);
    let (s, v) = crashload::call(req).await?;
    if s != 200 {
        return Err(format!("withdrawals: {s} {v}"));
    }
    let list = v["withdrawals"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(list.len() < 1000, "more withdrawals than one page");
    let mut pending = 0u128;
    for w in list {
        assert_eq!(w["state"], "requested", "{w}");
        pending += crashload::atoms(w["amount"].as_str().unwrap(), 8)
            + crashload::atoms(w["fee"].as_str().unwrap(), 8);
    }
    let acked: Vec<u64> = a
        .record
        .lock()
        .unwrap()
        .withdrawals
        .values()
        .flatten()
        .copied()
        .collect();
    for id in acked {
        assert!(
            list.iter().any(|w| w["id"] == id),
            "{}: acknowledged withdrawal {id} is missing",
            a.email
        );
    }
    let (_, locked) = engine_eth(t, a).await;
    if locked != pending {
        return Err(format!(
            "locked ETH {locked} != pending withdrawals {pending}: {v}"
        ));
    }
    Ok(())
}

/// The position of `a` in the accounts (its e-mail ends in it).
fn account_index(_t: &Target, a: &Account) -> usize {
    a.email
        .rsplit('-')
        .next()
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The engine's ETH (free, locked) of `a`, in atoms.
async fn engine_eth(t: &Target, a: &Account) -> (u128, u128) {
    let body = match t
        .signed(a, Method::GET, "/api/v3/account", String::new())
        .await
    {
        flowex_loadgen::client::Outcome::Ok(b) => b,
        other => panic!("account of {}: {other:?}", a.email),
    };
    let v: Value = serde_json::from_slice(&body).unwrap();
    let b = v["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "ETH")
        .unwrap_or_else(|| panic!("no ETH in {v}"))
        .clone();
    (
        crashload::atoms(b["free"].as_str().unwrap(), 8),
        crashload::atoms(b["locked"].as_str().unwrap(), 8),
    )
}

/// `flowex replay --verify`: the journal reproduces every snapshot; its last seq.
fn replay_verify(place: &Place<'_>) -> u64 {
    let out = place.flowex(&["replay", "--verify"]).output().unwrap();
    let s = text(&out);
    assert!(out.status.success(), "replay --verify: {s}");
    s.lines()
        .find_map(|l| l.strip_prefix("last seq:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no last seq in {s}"))
}

/// The SQL projections reach the journal's last seq (polled: they follow
/// it asynchronously), and hold every acknowledged order once, trades
/// gap-free.
async fn check_projections(place: &Place<'_>, last_seq: u64, accounts: &[Arc<Account>]) {
    sqlx::any::install_default_drivers();
    let url = place.db_url();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = sqlx::query("SELECT name, last_seq FROM projector_offsets")
            .fetch_all(&mut db)
            .await
            .unwrap();
        let behind: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r.get::<String, _>("name"), r.get::<i64, _>("last_seq")))
            .filter(|(_, s)| *s as u64 != last_seq)
            .collect();
        if behind.is_empty() && rows.len() >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "projections not at the journal's seq {last_seq}: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d, COALESCE(MAX(id), 0) AS top, \
         COALESCE(MIN(id), 1) AS low FROM trades",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let (n, d, top, low): (i64, i64, i64, i64) =
        (r.get("n"), r.get("d"), r.get("top"), r.get("low"));
    assert_eq!((n, low), (d, 1), "a duplicate trade or a gap at the start");
    assert_eq!(top, n, "trade ids 1..={top} with only {n} rows: a gap");
    for a in accounts {
        let ids: Vec<u64> = a.record.lock().unwrap().orders.keys().copied().collect();
        for id in ids {
            let r = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE id = $1")
                .bind(id as i64)
                .fetch_one(&mut db)
                .await
                .unwrap();
            assert_eq!(r.get::<i64, _>("n"), 1, "order {id} not projected once");
        }
    }
    db.close().await.ok();
}
