//! kill -9 under load: `flowex up` is killed at seeded random moments
//! while many signed users place, cancel, deposit and request withdrawals,
//! and after every restart nothing it acknowledged is missing or changed:
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
//!   last seq, trade ids are gap-free per market, no order or trade twice;
//! - `flowex replay --verify` reproduces the snapshots' state from the
//!   journal, and `flowex admin reconcile` passes (conservation: ledger =
//!   SQL balances = engine, custody + users + fees = 0 per asset).
//!
//! Kills: `FLOWEX_CRASH_KILLS` (default 10; the long run is 100). Seed:
//! `FLOWEX_CRASH_SEED` (default: from the clock), printed first.

mod common;
#[path = "common/crashload.rs"]
mod crashload;

use common::{flowex, text, Up};
use crashload::{Account, Target};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let kills = env_u64("FLOWEX_CRASH_KILLS").unwrap_or(10);
    let seed = env_u64("FLOWEX_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("crash test: seed {seed} (FLOWEX_CRASH_SEED={seed} reruns it), {kills} kills");
    let mut rng = StdRng::seed_from_u64(seed);
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
    let accounts = crashload::provision(&up.base, TRADERS, "embedded").await;
    let (rules, _) = flowex_loadgen::provision::markets(&up.base, &["BTCUSDT".into()])
        .await
        .unwrap();
    let rules = rules.into_iter().next().unwrap();
    let mid = rules.ticks_of("64000").unwrap();
    let market = Arc::new(flowex_loadgen::Market::new(rules, mid));
    let mut total_acks = 0;
    for kill in 0..kills {
        let target = Arc::new(Target::connect(&up.base, ADMIN, &accounts).await);
        verify(d, &target, &accounts).await;
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(crashload::run(
            target.clone(),
            accounts.clone(),
            market.clone(),
            rng.gen(),
            stop.clone(),
        ));
        let after = Duration::from_millis(rng.gen_range(300..2_500));
        tokio::time::sleep(after).await;
        drop(up); // SIGKILL, then wait for the exit
        stop.store(true, Ordering::Relaxed);
        load.await.unwrap();
        let acks: u64 = accounts.iter().map(|a| a.record.lock().unwrap().acks).sum();
        eprintln!(
            "kill {} after {after:?}: {} acknowledgements so far",
            kill + 1,
            acks
        );
        total_acks = acks;
        up = start(d);
    }
    let target = Target::connect(&up.base, ADMIN, &accounts).await;
    verify(d, &target, &accounts).await;
    full_order_check(&target, &accounts).await;
    eprintln!(
        "crash test: seed {seed}: {kills} kills survived, {total_acks} acknowledgements, none lost"
    );
    up.terminate();
}

/// Everything the module's header promises, against the restarted server.
async fn verify(dir: &Path, t: &Target, accounts: &[Arc<Account>]) {
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
    let last_seq = replay_verify(dir);
    check_projections(dir, last_seq, accounts).await;
    let out = flowex(dir).args(["admin", "reconcile"]).output().unwrap();
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
/// what the pending ones hold (nothing half-applied).
async fn check_withdrawals(t: &Target, a: &Account, when: &str) {
    let token = t.tokens[account_index(t, a)].clone();
    let req = t
        .http
        .get(format!("{}/api/v1/wallet/withdrawals?limit=1000", t.base))
        .bearer_auth(&token);
    let (s, v) = crashload::call(req).await.unwrap();
    assert_eq!(s, 200, "{v}");
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
    assert_eq!(
        locked, pending,
        "{}: locked ETH != pending withdrawals ({when}): {v}",
        a.email
    );
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
fn replay_verify(dir: &Path) -> u64 {
    let out = flowex(dir).args(["replay", "--verify"]).output().unwrap();
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
async fn check_projections(dir: &Path, last_seq: u64, accounts: &[Arc<Account>]) {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", dir.join("flowex.db").display());
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
