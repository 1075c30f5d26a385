//! The load of the crash tests, and its client-side record of every
//! acknowledgement.
//!
//! Each trader runs a closed loop of the load generator's own requests
//! (`flowex_loadgen::mix::Generator`: limit orders resting and crossing,
//! cancels of its oldest resting order, market orders; signed and sent by
//! `flowex_loadgen::client`), with admin deposits and withdrawal requests
//! of ETH mixed in (the load generator has neither; ETH is traded by no
//! market here, so a trader's locked ETH is exactly its pending
//! withdrawals). Every 2xx answer is written down before the next request:
//! after a crash, the server must still know every one of them, with the
//! same outcome.
#![allow(dead_code)] // each test file uses its own part

use flowex_loadgen::client::{build, Call, Conn, Outcome};
use flowex_loadgen::mix::{Generator, Market, Mix, Op, Planned, Trader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every deposit credits this much ETH.
pub const DEPOSIT: &str = "0.01000000";
pub const DEPOSIT_ATOMS: u128 = 1_000_000;
/// Every withdrawal request asks for this much ETH.
pub const WITHDRAWAL: &str = "0.00100000";
pub const PASSWORD: &str = "a long enough crash passphrase";
const ADDRESS: &str = "crash-test-address";

/// An order as its acknowledgement described it.
#[derive(Clone, Debug)]
pub struct AckedOrder {
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `EXPIRED`, or `ACK` (a market
    /// order answered with `newOrderRespType=ACK`: no status given).
    pub status: String,
    pub executed_lots: u64,
}

/// What the server acknowledged to one trader, and what it may or may not
/// have done (sent, but no answer).
#[derive(Default, Debug)]
pub struct Record {
    /// By order id, the newest acknowledged state (a cancel acknowledged
    /// makes it `CANCELED`).
    pub orders: BTreeMap<u64, AckedOrder>,
    /// Orders acknowledged since the last check.
    pub fresh_orders: Vec<u64>,
    /// Deposit keys, acknowledged or not.
    pub deposits: BTreeMap<String, bool>,
    /// Withdrawal keys and the id of those acknowledged.
    pub withdrawals: BTreeMap<String, Option<u64>>,
    pub acks: u64,
    pub unanswered: u64,
}

/// One simulated user: its API key (READ, TRADE), its login, its record.
pub struct Account {
    pub email: String,
    pub user_id: u64,
    pub trader: Trader,
    pub record: Mutex<Record>,
}

/// What the faucet gives of ETH, in atoms (5 ETH, 8 decimals).
pub const FAUCET_ETH_ATOMS: u128 = 500_000_000;

/// The server being loaded: where it is, and a Bearer token per account
/// (made again after every restart: cheap, and never stale).
pub struct Target {
    pub base: String,
    pub addr: SocketAddr,
    pub host: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub tokens: Vec<String>,
}

pub async fn call(req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

pub async fn login(http: &reqwest::Client, base: &str, email: &str) -> (String, u64) {
    let body = json!({ "email": email, "password": PASSWORD });
    let (s, v) = call(http.post(format!("{base}/api/v1/auth/login")).json(&body))
        .await
        .unwrap();
    assert_eq!(s, 200, "login {email}: {v}");
    let id = v["user"]["id"].as_u64().unwrap();
    (v["access_token"].as_str().unwrap().to_string(), id)
}

impl Target {
    pub async fn connect(base: &str, admin_email: &str, accounts: &[Arc<Account>]) -> Target {
        let (addr, host) = flowex_loadgen::run::resolve(base).await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (admin_token, _) = login(&http, base, admin_email).await;
        let mut tokens = Vec::new();
        for a in accounts {
            tokens.push(login(&http, base, &a.email).await.0);
        }
        Target {
            base: base.to_string(),
            addr,
            host,
            http,
            admin_token,
            tokens,
        }
    }

    /// A signed request of `account`, on a connection of its own.
    pub async fn signed(
        &self,
        account: &Account,
        method: Method,
        path: &'static str,
        params: String,
    ) -> Outcome {
        let call = Call {
            method,
            path,
            params,
            signed: true,
        };
        let mut conn = Conn::new(self.addr, &self.host);
        conn.send(
            build(&call, &account.trader.creds, &self.host),
            Duration::from_secs(30),
        )
        .await
    }
}

/// How the traders get their BTC, USDT and ETH.
pub enum Funding {
    /// `flowex up`'s faucet.
    Faucet,
    /// Admin deposits by this admin token (distributed mode has no faucet),
    /// of what the faucet gives.
    Admin(String),
}

const FAUCET_AMOUNTS: [(&str, &str); 3] = [("BTC", "0.5"), ("USDT", "10000"), ("ETH", "5")];

async fn fund(http: &reqwest::Client, base: &str, funding: &Funding, token: &str, user_id: u64) {
    for (asset, amount) in FAUCET_AMOUNTS {
        let req = match funding {
            Funding::Faucet => http
                .post(format!("{base}/api/v1/wallet/faucet"))
                .bearer_auth(token)
                .json(&json!({ "asset": asset })),
            Funding::Admin(admin) => http
                .post(format!("{base}/api/v1/admin/deposits"))
                .bearer_auth(admin)
                .json(
                    &json!({ "user_id": user_id, "asset": asset, "amount": amount,
                               "idempotency_key": format!("crash-fund-{user_id}-{asset}") }),
                ),
        };
        let (s, v) = call(req).await.unwrap();
        assert!((200..300).contains(&s), "funding {asset}: {s} {v}");
    }
}

/// Registers, keys and funds `n` traders.
pub async fn provision(base: &str, n: usize, run: &str, funding: &Funding) -> Vec<Arc<Account>> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("crash-{run}-{i}@example.com");
        let body = json!({ "email": email, "password": PASSWORD });
        let (s, v) = call(
            http.post(format!("{base}/api/v1/auth/register"))
                .json(&body),
        )
        .await
        .unwrap();
        assert_eq!(s, 201, "register: {v}");
        let (token, user_id) = login(&http, base, &email).await;
        let body = json!({ "label": "crash", "permissions": ["READ", "TRADE"] });
        let (s, key) = call(
            http.post(format!("{base}/api/v1/account/api-keys"))
                .bearer_auth(&token)
                .json(&body),
        )
        .await
        .unwrap();
        assert_eq!(s, 201, "api key: {key}");
        fund(&http, base, funding, &token, user_id).await;
        let creds = flowex_loadgen::Credentials {
            api_key: key["api_key"].as_str().unwrap().to_string(),
            secret: key["secret"].as_str().unwrap().to_string(),
        };
        out.push(Arc::new(Account {
            email,
            user_id,
            trader: Trader::new(creds),
            record: Mutex::new(Record::default()),
        }));
    }
    out
}

/// The order mix: the load generator's, without its read-only queries.
pub fn mix() -> Mix {
    Mix::parse("place-limit=60,cancel=25,market=5").unwrap()
}

/// Runs every account's loop until `stop` is set; each stops at its first
/// unanswered request (the server is gone), so nothing is in flight after.
pub async fn run(
    target: Arc<Target>,
    accounts: Vec<Arc<Account>>,
    market: Arc<Market>,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, a) in accounts.into_iter().enumerate() {
        let (target, market, stop) = (target.clone(), market.clone(), stop.clone());
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
            let mut conn = Conn::new(target.addr, &target.host);
            let mix = mix();
            while !stop.load(Ordering::Relaxed) {
                let roll = rng.gen_range(0..100);
                let answered = if roll < 8 {
                    deposit(&target, &a, &mut rng).await
                } else if roll < 16 {
                    withdraw(&target, i, &a, &mut rng).await
                } else {
                    let markets = std::slice::from_ref(&*market);
                    let g = Generator {
                        mix: &mix,
                        markets,
                        max_open: 20,
                    };
                    let planned = g.next(&a.trader, &mut rng);
                    order(&target, &mut conn, &a, &planned).await
                };
                if !answered {
                    a.record.lock().unwrap().unanswered += 1;
                    break;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

fn key(rng: &mut StdRng, kind: &str) -> String {
    format!("crash-{kind}-{:016x}", rng.gen::<u64>())
}

/// An admin deposit; false if there was no answer.
async fn deposit(t: &Target, a: &Account, rng: &mut StdRng) -> bool {
    let k = key(rng, "dep");
    a.record.lock().unwrap().deposits.insert(k.clone(), false);
    match deposit_call(t, a, &k).await {
        Some(200) => {
            let mut r = a.record.lock().unwrap();
            r.deposits.insert(k, true);
            r.acks += 1;
            true
        }
        Some(_) => true,
        None => false,
    }
}

pub async fn deposit_call(t: &Target, a: &Account, key: &str) -> Option<u16> {
    let body =
        json!({ "user_id": a.user_id, "asset": "ETH", "amount": DEPOSIT, "idempotency_key": key });
    let req = t
        .http
        .post(format!("{}/api/v1/admin/deposits", t.base))
        .bearer_auth(&t.admin_token)
        .json(&body);
    call(req).await.ok().map(|(s, _)| s)
}

/// A withdrawal request; false if there was no answer.
async fn withdraw(t: &Target, i: usize, a: &Account, rng: &mut StdRng) -> bool {
    let k = key(rng, "wd");
    a.record.lock().unwrap().withdrawals.insert(k.clone(), None);
    match withdraw_call(t, i, &k).await {
        Some((200 | 201, id)) => {
            let mut r = a.record.lock().unwrap();
            r.withdrawals.insert(k, id);
            r.acks += 1;
            true
        }
        Some(_) => true,
        None => false,
    }
}

pub async fn withdraw_call(t: &Target, i: usize, key: &str) -> Option<(u16, Option<u64>)> {
    let body =
        json!({ "asset": "ETH", "amount": WITHDRAWAL, "address": ADDRESS, "idempotency_key": key });
    let req = t
        .http
        .post(format!("{}/api/v1/wallet/withdrawals", t.base))
        .bearer_auth(&t.tokens[i])
        .json(&body);
    let (s, v) = call(req).await.ok()?;
    Some((s, v["withdrawal"]["id"].as_u64()))
}

/// One request of the load generator's mix; false if there was no answer.
async fn order(t: &Target, conn: &mut Conn, a: &Account, planned: &Planned) -> bool {
    let req = build(&planned.call, &a.trader.creds, &t.host);
    match conn.send(req, Duration::from_secs(30)).await {
        Outcome::Ok(body) => {
            flowex_loadgen::mix::absorb(planned, &body, &a.trader);
            note_order(a, planned, &body);
            true
        }
        Outcome::Refused(_) => true,
        Outcome::Failed(_) => false,
    }
}

fn note_order(a: &Account, planned: &Planned, body: &[u8]) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(id) = v["orderId"].as_u64() else {
        return;
    };
    let status = match planned.op {
        Op::Cancel => "CANCELED".to_string(),
        _ => v["status"].as_str().unwrap_or("ACK").to_string(),
    };
    let executed_lots = v["executedQty"].as_str().map_or(0, lots);
    let mut r = a.record.lock().unwrap();
    r.orders.insert(
        id,
        AckedOrder {
            status,
            executed_lots,
        },
    );
    r.fresh_orders.push(id);
    r.acks += 1;
}

/// A BTCUSDT quantity in lots (step 0.00001).
pub fn lots(q: &str) -> u64 {
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    let frac = format!("{frac:0<5}");
    whole.parse::<u64>().unwrap() * 100_000 + frac[..5].parse::<u64>().unwrap()
}

/// A decimal string in atoms of `decimals`.
pub fn atoms(q: &str, decimals: usize) -> u128 {
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    let frac = format!("{frac:0<decimals$}");
    whole.parse::<u128>().unwrap() * 10u128.pow(decimals as u32)
        + frac[..decimals].parse::<u128>().unwrap_or(0)
}
