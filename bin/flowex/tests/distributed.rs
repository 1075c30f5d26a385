//! The distributed mode end to end: five `flowex serve NAME` processes on
//! PostgreSQL and Redis, driven through the gateway only — an admin made
//! with `flowex admin create-user --admin`, two users registered and logged
//! in, the demo listing only from `flowex demo seed` (idempotent), admin
//! deposits (idempotent), a trade, balances exact to the atomic
//! unit (0.1 % fee on each side, buyer's in base, seller's in quote); the
//! events reach market-data and the wallet over the Redis stream without a
//! gap, and a restarted wallet resumes from its stored offset; the diff
//! depth stream, through the gateway from the restarted market data and
//! from a second instance, starts right after REST depth's
//! `lastUpdateId` on both and has no gap; an admin
//! lists an asset and a market through the gateway, which trade at once
//! and stop when halted; a service
//! port refuses calls without the internal token, a client's identity
//! header is ignored, and a stopped trading service gives a fast 503; a
//! listenKey made through the gateway streams the seller's
//! `executionReport`s from trading through the gateway.
//!
//! Needs `FLOWEX_TEST_POSTGRES_URL` (scripts/test starts a throwaway
//! server) and `redis-server` on the PATH (or `FLOWEX_TEST_REDIS_SERVER`);
//! without them it is skipped with a notice, unless
//! `FLOWEX_REQUIRE_POSTGRES=1` / `FLOWEX_REQUIRE_REDIS=1` (scripts/test sets
//! both), then it fails.

mod common;

use flowex_testkit::free_port;
use flowex_testkit::postgres::TestDatabase;
use flowex_testkit::redis::RedisServer;
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "distributed-test-internal-token-0123456789abcdef";
const PASSWORD: &str = "a long enough passphrase";

/// A child process killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- {} log (tail) ----\n{}", self.name, self.log_tail());
        }
    }
}

/// The shared configuration of every process, as `FLOWEX_*` variables.
struct Cluster {
    env: Vec<(String, String)>,
    ports: [(&'static str, u16); 5],
    dir: PathBuf,
}

impl Cluster {
    fn port(&self, name: &str) -> u16 {
        self.ports.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(name))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowex"));
        // Only this cluster's settings: the harness's own FLOWEX_* variables
        // (FLOWEX_TEST_POSTGRES_URL, …) are not configuration.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FLOWEX_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        // A failed start's error, not a backtrace, in the log's last lines.
        cmd.env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0");
        cmd
    }

    fn serve(&self, name: &'static str) -> Proc {
        let log = self.dir.join(format!("{name}.log"));
        let child = self
            .command(&["serve", name])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting flowex serve");
        Proc { name, child, log }
    }

    /// One more instance of `name` on `port` (the same configuration else).
    fn serve_another(&self, name: &'static str, port: u16) -> Proc {
        let key = name.replace('-', "_").to_uppercase();
        let log = self.dir.join(format!("{name}-{port}.log"));
        let child = self
            .command(&["serve", name])
            .env(format!("FLOWEX_SERVICES__{key}__PORT"), port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting flowex serve");
        Proc { name, child, log }
    }
}

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn wait_ready(c: &reqwest::Client, procs: &mut [Proc], cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(90);
    for p in procs.iter_mut() {
        let url = format!("{}/health/ready", cluster.url(p.name));
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited with {status}:\n{}", p.name, p.log_tail());
            }
            let last = match c.get(&url).send().await {
                Ok(r) if r.status() == 200 => break,
                Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "{} not ready: {last}\n{}",
                p.name,
                p.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn register_and_login(c: &reqwest::Client, gw: &str, email: &str) -> (u64, String) {
    let creds = json!({ "email": email, "password": PASSWORD });
    let (s, v) = call(c, c.post(format!("{gw}/api/v1/auth/register")).json(&creds)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["user"]["id"].as_u64().unwrap();
    (id, login(c, gw, email).await)
}

async fn login(c: &reqwest::Client, gw: &str, email: &str) -> String {
    login_as(c, gw, email, PASSWORD).await
}

async fn login_as(c: &reqwest::Client, gw: &str, email: &str, password: &str) -> String {
    let creds = json!({ "email": email, "password": password });
    let (s, v) = call(c, c.post(format!("{gw}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

/// `flowex serve` lists nothing; `flowex demo seed` lists the demo markets
/// and funds the demo accounts, and a second run changes nothing.
async fn demo_seed(c: &reqwest::Client, cluster: &Cluster) {
    let gw = cluster.url("gateway");
    let symbols = || async {
        let (s, v) = call(c, c.get(format!("{gw}/api/v3/exchangeInfo"))).await;
        assert_eq!(s, 200, "{v}");
        let list = v["symbols"].as_array().unwrap().iter();
        list.map(|m| m["symbol"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        symbols().await,
        Vec::<String>::new(),
        "flowex serve listed markets"
    );
    let seed = || {
        let out = cluster.command(&["demo", "seed"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "demo seed: {stdout}{stderr}");
        stdout
    };
    let first = seed();
    assert!(
        first.contains("listed demo markets BTCUSDT, ETHUSDT, ETHBTC, SOLUSDT"),
        "{first}"
    );
    let password = first
        .split("demo account: demo@flowex.local  password: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no demo login in {first}"))
        .to_string();
    let second = seed();
    assert!(
        second.contains("the demo markets were listed already"),
        "{second}"
    );
    assert!(
        second.contains(&format!("password: {password}")),
        "{second}"
    );
    assert_eq!(symbols().await, ["BTCUSDT", "ETHBTC", "ETHUSDT", "SOLUSDT"]);
    // Funded once, whatever the number of runs.
    let demo = login_as(c, &gw, "demo@flowex.local", &password).await;
    let (s, v) = call(
        c,
        c.get(format!("{gw}/api/v1/wallet/balances"))
            .bearer_auth(&demo),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        balance(&v["balances"], "BTC"),
        ("10.00000000".into(), "0.00000000".into())
    );
}

fn balance(list: &Value, asset: &str) -> (String, String) {
    let b = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == asset)
        .unwrap_or_else(|| panic!("no {asset} in {list}"));
    (
        b["free"].as_str().unwrap().to_string(),
        b["locked"].as_str().unwrap().to_string(),
    )
}

use common::ws::{request, Ws};

/// The next `executionReport` of a listenKey stream (unwrapped) with
/// execution type `x`.
async fn execution_report(ws: &mut Ws, x: &str) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a user event within 20 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["e"] == "executionReport" && v["x"] == x {
                return v;
            }
        }
    }
}

/// The `U`..`u` of `ws`'s `depthUpdate`s until one reaches `last`.
async fn diff_ids_until(ws: &mut Ws, last: u64) -> Vec<(u64, u64)> {
    use futures_util::StreamExt;
    let mut ids = Vec::new();
    while ids.last().is_none_or(|(_, u)| *u < last) {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a depth update within 20 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["e"], "depthUpdate", "{v}");
            ids.push((v["U"].as_u64().unwrap(), v["u"].as_u64().unwrap()));
        }
    }
    ids
}

/// The diff stream of the restarted market data (through the gateway) and
/// of a second instance fed by the same Redis stream: both start right
/// after REST depth's `lastUpdateId`, which both report, and go on without
/// a gap while an order rests and is cancelled.
async fn depth_streams_line_up(c: &reqwest::Client, cluster: &Cluster, buyer: &str) {
    let port = free_port();
    let mut second = cluster.serve_another("market-data", port);
    let second_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !matches!(c.get(format!("{second_url}/health/ready")).send().await, Ok(r) if r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "second market data not ready:\n{}",
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gw = cluster.url("gateway");
    // The second instance is reached directly, as the gateway reaches a
    // service: with the internal token.
    let mut streams = Vec::new();
    for base in [&gw, &second_url] {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/ws/ethusdt@depth@100ms", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("x-flowex-internal-token", TOKEN.parse().unwrap());
        streams.push(tokio_tungstenite::connect_async(req).await.unwrap().0);
    }
    let snapshot = |base: String| async move {
        let req = c.get(format!("{base}/api/v3/depth?symbol=ETHUSDT"));
        let (s, d) = call(c, req.header("x-flowex-internal-token", TOKEN)).await;
        assert_eq!(s, 200, "{d}");
        d["lastUpdateId"].as_u64().unwrap()
    };
    let last = snapshot(gw.clone()).await;
    assert_eq!(snapshot(second_url.clone()).await, last);
    let form = "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.2&price=100";
    let req = c.post(format!("{gw}/api/v3/order")).bearer_auth(buyer);
    let (s, v) = call(
        c,
        req.header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let cancel = format!("{gw}/api/v3/order?symbol=ETHUSDT&orderId={}", v["orderId"]);
    let (s, v) = call(c, c.delete(cancel).bearer_auth(buyer)).await;
    assert_eq!(s, 200, "{v}");
    // Resting, then cancelled: two book updates after the snapshot.
    for ws in &mut streams {
        let ids = diff_ids_until(ws, last + 2).await;
        assert_eq!(ids[0].0, last + 1, "{ids:?}");
        for pair in ids.windows(2) {
            assert_eq!(pair[1].0, pair[0].1 + 1, "{ids:?}");
        }
        assert_eq!(ids.last().unwrap().1, last + 2, "{ids:?}");
    }
    assert_eq!(snapshot(second_url).await, last + 2);
    second.stop();
}

/// The WebSocket API through the gateway to trading: a logon with the
/// access token (checked by the auth service), a market data method
/// answered by market data over the internal channel, the same weight
/// counters as REST (shared through Redis), an order placed and cancelled.
async fn ws_api_through_the_gateway(c: &reqwest::Client, gw: &str, buyer: &str) {
    let url = format!("{}/ws-api/v3", gw.replacen("http", "ws", 1));
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let logon = json!({"id": 1, "method": "session.logon", "params": {"accessToken": buyer}});
    let r = request(&mut ws, logon).await;
    assert_eq!(r["status"], 200, "{r}");
    let depth = json!({"id": 2, "method": "depth", "params": {"symbol": "ETHUSDT"}});
    let r = request(&mut ws, depth).await;
    let (s, want) = call(c, c.get(format!("{gw}/api/v3/depth?symbol=ETHUSDT"))).await;
    assert_eq!((s, &r["result"]), (200, &want), "{r}");
    let weight = |r: &Value| {
        let limits = r["rateLimits"].as_array().unwrap();
        let w = limits
            .iter()
            .find(|l| l["rateLimitType"] == "REQUEST_WEIGHT");
        w.and_then(|l| l["count"].as_u64()).unwrap()
    };
    for attempt in 0.. {
        assert!(attempt < 3, "three minute boundaries in a row");
        let minute = now_ms() / 60_000;
        let before = weight(&request(&mut ws, json!({"id": 3, "method": "ping"})).await);
        let res = c
            .get(format!("{gw}/api/v3/depth?symbol=ETHUSDT&limit=5000"))
            .send()
            .await
            .unwrap();
        let used: u64 = res.headers()["x-mbx-used-weight-1m"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let after = weight(&request(&mut ws, json!({"id": 4, "method": "ping"})).await);
        if now_ms() / 60_000 != minute {
            continue;
        }
        assert_eq!(
            (used, after),
            (before + 250, before + 251),
            "one budget for both"
        );
        break;
    }
    let place = json!({"id": 5, "method": "order.place", "params": {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.2", "price": "100"}});
    let r = request(&mut ws, place).await;
    assert_eq!(
        (&r["status"], &r["result"]["status"]),
        (&json!(200), &json!("NEW")),
        "{r}"
    );
    assert_eq!(r["rateLimits"][0]["rateLimitType"], "ORDERS", "{r}");
    let id = r["result"]["orderId"].clone();
    let cancel =
        json!({"id": 6, "method": "order.cancel", "params": {"symbol": "ETHUSDT", "orderId": id}});
    let r = request(&mut ws, cancel).await;
    assert_eq!(r["result"]["status"], "CANCELED", "{r}");
}

fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_processes_trade_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = RedisServer::start("distributed", dir.path()) else {
        return;
    };
    let redis_port = redis.port();
    // A fresh database for this run.
    let Some(db) = TestDatabase::create("distributed").await else {
        return;
    };
    let database_url = db.url.clone();
    let (jwt, jwt_pem) = flowex_auth::JwtKeys::generate().unwrap();
    let ports = [
        ("gateway", free_port()),
        ("auth", free_port()),
        ("trading", free_port()),
        ("market-data", free_port()),
        ("wallet", free_port()),
    ];
    let mut env: Vec<(String, String)> = vec![
        ("FLOWEX_MODE".into(), "distributed".into()),
        ("FLOWEX_DATABASE_URL".into(), database_url.clone()),
        (
            "FLOWEX_REDIS_URL".into(),
            format!("redis://127.0.0.1:{redis_port}/0"),
        ),
        ("FLOWEX_INTERNAL_TOKEN".into(), TOKEN.into()),
        (
            "FLOWEX_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        ),
        ("FLOWEX_JWT_PRIVATE_KEY".into(), jwt_pem.expose().clone()),
        ("FLOWEX_JWT_PUBLIC_KEY".into(), jwt.public_pem().to_string()),
        ("FLOWEX_SECRET_BOX_KEY".into(), "ab".repeat(32)),
    ];
    for (name, port) in ports {
        let key = name.replace('-', "_").to_uppercase();
        env.push((
            format!("FLOWEX_SERVICES__{key}__URL"),
            format!("http://127.0.0.1:{port}"),
        ));
        env.push((format!("FLOWEX_SERVICES__{key}__PORT"), port.to_string()));
    }
    let cluster = Cluster {
        env,
        ports,
        dir: dir.path().to_path_buf(),
    };

    // The first admin, straight into the database.
    let out = cluster
        .command(&[
            "admin",
            "create-user",
            "--email",
            "root@example.com",
            "--password",
            PASSWORD,
            "--admin",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-user: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("role admin"));

    let mut procs: Vec<Proc> = ["auth", "trading", "market-data", "wallet", "gateway"]
        .into_iter()
        .map(|n| cluster.serve(n))
        .collect();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    wait_ready(&c, &mut procs, &cluster).await;
    let gw = cluster.url("gateway");

    // Market data answers through the gateway.
    let (s, v) = call(&c, c.get(format!("{gw}/api/v3/ping"))).await;
    assert_eq!((s, v), (200, json!({})));
    let (s, v) = call(&c, c.get(format!("{gw}/api/v3/time"))).await;
    assert_eq!(s, 200);
    assert!(v["serverTime"].as_u64().unwrap() > 1_600_000_000_000);
    demo_seed(&c, &cluster).await;
    let (s, v) = call(
        &c,
        c.get(format!("{gw}/api/v3/exchangeInfo?symbol=BTCUSDT")),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let root = login(&c, &gw, "root@example.com").await;
    let (seller_id, seller) = register_and_login(&c, &gw, "seller@example.com").await;
    let (buyer_id, buyer) = register_and_login(&c, &gw, "buyer@example.com").await;

    // Admin deposits: admin only, idempotent.
    let deposit = |token: &String, body: Value| {
        c.post(format!("{gw}/api/v1/admin/deposits"))
            .bearer_auth(token)
            .json(&body)
    };
    let to_seller =
        json!({"user_id": seller_id, "asset": "BTC", "amount": "1", "idempotency_key": "dist-1"});
    let to_buyer = json!({"user_id": buyer_id, "asset": "USDT", "amount": "10000.5", "idempotency_key": "dist-2"});
    let (s, v) = call(&c, deposit(&seller, to_seller.clone())).await;
    assert_eq!(s, 403, "a user cannot deposit: {v}");
    let (s, first) = call(&c, deposit(&root, to_seller.clone())).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["deposit"]["state"], "credited");
    assert_eq!(first["deposit"]["amount"], "1.00000000");
    let (s, again) = call(&c, deposit(&root, to_seller.clone())).await;
    assert_eq!(
        (s, &again),
        (200, &first),
        "the same key gives the same deposit"
    );
    let (s, v) = call(&c, deposit(&root, json!({"user_id": seller_id, "asset": "BTC", "amount": "2", "idempotency_key": "dist-1"}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{v}"
    );
    let (s, v) = call(&c, deposit(&root, json!({"user_id": seller_id, "asset": "BTC", "amount": "0.000000001", "idempotency_key": "dist-3"}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_amount")),
        "{v}"
    );
    let (s, v) = call(&c, deposit(&root, to_buyer)).await;
    assert_eq!(s, 200, "{v}");
    let last_deposit_seq = v["deposit"]["seq"].as_u64().unwrap();
    let (s, v) = call(
        &c,
        c.get(format!("{gw}/api/v1/wallet/balances"))
            .bearer_auth(&seller),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        balance(&v["balances"], "BTC"),
        ("1.00000000".into(), "0.00000000".into())
    );

    // The seller's listenKey stream, through the gateway to trading (the
    // key in PostgreSQL): it sees the resting order and its fill.
    let (s, v) = call(
        &c,
        c.post(format!("{gw}/api/v3/userDataStream"))
            .bearer_auth(&seller),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let listen_key = v["listenKey"].as_str().unwrap().to_string();
    let (mut user_stream, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/{listen_key}",
        gw.replacen("http", "ws", 1)
    ))
    .await
    .expect("the listenKey stream through the gateway");

    // A trade: the seller rests, the buyer takes.
    let order = |token: &String, form: &str| {
        c.post(format!("{gw}/api/v3/order"))
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
    };
    let (s, v) = call(
        &c,
        order(
            &seller,
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000",
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(&c, order(&buyer, "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000&newOrderRespType=FULL")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "FILLED", "{v}");
    let new = execution_report(&mut user_stream, "NEW").await;
    assert_eq!(
        (&new["S"], &new["X"]),
        (&json!("SELL"), &json!("NEW")),
        "{new}"
    );
    let fill = execution_report(&mut user_stream, "TRADE").await;
    assert_eq!(fill["X"], "FILLED", "{fill}");
    drop(user_stream);

    // 0.01 BTC at 60000 = 600 USDT. Buyer pays 0.1 % in BTC (0.00001),
    // seller 0.1 % in USDT (0.6).
    let account = |token: &String| c.get(format!("{gw}/api/v3/account")).bearer_auth(token);
    let (s, a) = call(&c, account(&seller)).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["uid"], seller_id);
    assert_eq!(
        balance(&a["balances"], "BTC"),
        ("0.99000000".into(), "0.00000000".into())
    );
    assert_eq!(
        balance(&a["balances"], "USDT"),
        ("599.40000000".into(), "0.00000000".into())
    );
    let (s, b) = call(&c, account(&buyer)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        balance(&b["balances"], "BTC"),
        ("0.00999000".into(), "0.00000000".into())
    );
    assert_eq!(
        balance(&b["balances"], "USDT"),
        ("9400.50000000".into(), "0.00000000".into())
    );
    // The wallet reads the same balances from trading.
    let (s, w) = call(
        &c,
        c.get(format!("{gw}/api/v1/wallet/balances"))
            .bearer_auth(&buyer),
    )
    .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(
        balance(&w["balances"], "BTC"),
        ("0.00999000".into(), "0.00000000".into())
    );
    assert_eq!(
        balance(&w["balances"], "USDT"),
        ("9400.50000000".into(), "0.00000000".into())
    );

    // Market-data followed the stream through both orders, without a gap.
    let events = format!("{}/health/events", cluster.url("market-data"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, e) = call(&c, c.get(&events)).await;
        if e["last_seq"].as_u64().unwrap_or(0) >= last_deposit_seq + 2 {
            assert_eq!(e["gaps"], 0, "{e}");
            assert_eq!(e["connected"], true, "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "market-data is behind: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Its public market data shows the trade through the gateway; restarted,
    // it has the same trades and candles (from SQL) and book (from trading).
    let market_view = || async {
        let deadline = Instant::now() + Duration::from_secs(30);
        let trades = loop {
            let (s, t) = call(&c, c.get(format!("{gw}/api/v3/trades?symbol=BTCUSDT"))).await;
            if s == 200 && t.as_array().is_some_and(|a| a.len() == 1) {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "no trade in market data: {s} {t}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            (
                &trades[0]["price"],
                &trades[0]["qty"],
                &trades[0]["quoteQty"],
                &trades[0]["isBuyerMaker"]
            ),
            (
                &json!("60000.00000000"),
                &json!("0.01000000"),
                &json!("600.00000000"),
                &json!(false)
            ),
            "{trades}"
        );
        let (s, d) = call(&c, c.get(format!("{gw}/api/v3/depth?symbol=BTCUSDT"))).await;
        assert_eq!(s, 200, "{d}");
        // The seller's order rested (update 1) and was taken (update 2).
        assert_eq!(d, json!({"lastUpdateId": 2, "bids": [], "asks": []}));
        let (s, k) = call(
            &c,
            c.get(format!(
                "{gw}/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=0&limit=1"
            )),
        )
        .await;
        assert_eq!(s, 200, "{k}");
        assert_eq!(k.as_array().map(Vec::len), Some(1), "{k}");
        assert_eq!(
            (&k[0][4], &k[0][5], &k[0][8]),
            (&json!("60000.00000000"), &json!("0.01000000"), &json!(1)),
            "{k}"
        );
        let (s, t) = call(&c, c.get(format!("{gw}/api/v3/ticker/24hr?symbol=BTCUSDT"))).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(
            (&t["lastPrice"], &t["volume"], &t["count"]),
            (&json!("60000.00000000"), &json!("0.01000000"), &json!(1)),
            "{t}"
        );
        trades
    };
    let before = market_view().await;
    let market_data = procs.iter_mut().find(|p| p.name == "market-data").unwrap();
    market_data.stop();
    *market_data = cluster.serve("market-data");
    wait_ready(&c, std::slice::from_mut(market_data), &cluster).await;
    assert_eq!(market_view().await, before);

    // So did the wallet, storing its offset with each record; restarted, it
    // resumes after that offset without applying anything twice.
    let trade_seq = last_deposit_seq + 2;
    let wallet_events = format!("{}/health/events", cluster.url("wallet"));
    let wallet_feed = |min_seq: u64| {
        let (c, url) = (&c, &wallet_events);
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (_, e) = call(c, c.get(url)).await;
                if e["last_seq"].as_u64().unwrap_or(0) >= min_seq {
                    assert_eq!(
                        (&e["gaps"], &e["connected"]),
                        (&json!(0), &json!(true)),
                        "{e}"
                    );
                    return e;
                }
                assert!(Instant::now() < deadline, "the wallet is behind: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let e = wallet_feed(trade_seq).await;
    assert_eq!(e["last_seq"], trade_seq, "{e}");
    assert_eq!(e["records"], trade_seq, "every record from seq 1: {e}");
    assert_eq!(
        e["events"],
        // Three demo accounts with four assets each, then the two admin deposits.
        json!({"deposited": 12 + 2, "withdrawn": 0, "trades": 1}),
        "{e}"
    );
    let stored_offset = || async {
        let mut conn = sqlx::AnyConnection::connect(&database_url).await.unwrap();
        let row = sqlx::query("SELECT last_seq FROM projector_offsets WHERE name = 'wallet'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        sqlx::Row::get::<i64, _>(&row, 0) as u64
    };
    assert_eq!(stored_offset().await, trade_seq);
    let wallet = procs.iter_mut().find(|p| p.name == "wallet").unwrap();
    wallet.stop();
    *wallet = cluster.serve("wallet");
    wait_ready(&c, std::slice::from_mut(wallet), &cluster).await;
    let e = wallet_feed(trade_seq).await;
    assert_eq!(
        (&e["last_seq"], &e["records"]),
        (&json!(trade_seq), &json!(0)),
        "resumed from the stored offset, nothing applied again: {e}"
    );
    let (s, v) = call(&c, deposit(&root, json!({"user_id": buyer_id, "asset": "USDT", "amount": "1", "idempotency_key": "dist-4"}))).await;
    assert_eq!(s, 200, "{v}");
    let next_seq = v["deposit"]["seq"].as_u64().unwrap();
    assert_eq!(next_seq, trade_seq + 1);
    let e = wallet_feed(next_seq).await;
    assert_eq!(
        (&e["last_seq"], &e["records"]),
        (&json!(next_seq), &json!(1)),
        "{e}"
    );
    assert_eq!(e["events"]["deposited"], 1, "{e}");
    assert_eq!(stored_offset().await, next_seq);
    depth_streams_line_up(&c, &cluster, &buyer).await;
    ws_api_through_the_gateway(&c, &gw, &buyer).await;

    // The ledger it kept: the buyer's entries over the gateway, and
    // `flowex admin reconcile` finds it, the SQL balances and the engine
    // (trading's internal API) in agreement.
    let (s, v) = call(
        &c,
        c.get(format!("{gw}/api/v1/wallet/ledger?cause=fee"))
            .bearer_auth(&buyer),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["entries"].as_array().map(Vec::len),
        Some(1),
        "the buyer paid one fee: {v}"
    );
    let out = cluster.command(&["admin", "reconcile"]).output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("OK: the ledger, the balances and the engine agree"),
        "{report}"
    );

    // An admin lists an asset and a market through the gateway (routed to
    // trading); it trades at once, and a halt stops it.
    let admin_call = |token: &String, method: &str, path: &str, body: Value| {
        c.request(method.parse().unwrap(), format!("{gw}/api/v1/admin/{path}"))
            .bearer_auth(token)
            .json(&body)
    };
    let doge = json!({"code": "DOGE", "decimals": 8});
    let (s, v) = call(&c, admin_call(&seller, "POST", "assets", doge.clone())).await;
    assert_eq!(s, 403, "a user cannot list an asset: {v}");
    let (s, v) = call(&c, admin_call(&root, "POST", "assets", doge)).await;
    assert_eq!(s, 201, "{v}");
    let market = json!({"symbol": "DOGEUSDT", "base_asset": "DOGE", "quote_asset": "USDT",
        "tick_size": "0.0001", "step_size": "1", "max_price": "1000", "max_qty": "1000000"});
    let (s, v) = call(&c, admin_call(&root, "POST", "markets", market)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(&c, deposit(&root, json!({"user_id": seller_id, "asset": "DOGE", "amount": "500", "idempotency_key": "dist-5"}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        &c,
        order(
            &seller,
            "symbol=DOGEUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=100&price=0.25",
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        &c,
        order(&buyer, "symbol=DOGEUSDT&side=BUY&type=MARKET&quantity=100"),
    )
    .await;
    assert_eq!((s, &v["status"]), (200, &json!("FILLED")), "{v}");
    let (_, b) = call(&c, account(&buyer)).await;
    assert_eq!(
        balance(&b["balances"], "DOGE"),
        ("99.90000000".into(), "0.00000000".into())
    );
    let (s, v) = call(
        &c,
        admin_call(
            &root,
            "PATCH",
            "markets/DOGEUSDT",
            json!({"taker_fee": "0.002"}),
        ),
    )
    .await;
    assert_eq!(
        (s, &v["market"]["taker_fee"]),
        (200, &json!("0.002000")),
        "{v}"
    );
    let (s, v) = call(
        &c,
        admin_call(
            &root,
            "POST",
            "markets/DOGEUSDT/status",
            json!({"status": "HALTED"}),
        ),
    )
    .await;
    assert_eq!((s, &v["market"]["status"]), (200, &json!("HALTED")), "{v}");
    let (s, v) = call(
        &c,
        c.get(format!("{gw}/api/v3/exchangeInfo?symbol=DOGEUSDT")),
    )
    .await;
    assert_eq!(
        (s, &v["symbols"][0]["status"]),
        (200, &json!("HALT")),
        "{v}"
    );
    let (s, v) = call(
        &c,
        order(&buyer, "symbol=DOGEUSDT&side=BUY&type=MARKET&quantity=1"),
    )
    .await;
    assert_eq!((s, &v["msg"]), (400, &json!("Market is closed.")), "{v}");

    // Service ports refuse anyone without the internal token, whatever
    // identity they claim.
    let forged = format!("user={seller_id};role=admin;session=forged");
    for (service, method, path, body) in [
        ("trading", "GET", "/api/v3/account", None),
        (
            "trading",
            "POST",
            "/internal/commands",
            Some(
                json!({"Deposit": {"key": "forged-1", "user": buyer_id, "asset": 1, "amount": 100_000_000u64}}),
            ),
        ),
        ("trading", "GET", "/internal/assets", None),
        (
            "wallet",
            "POST",
            "/api/v1/admin/deposits",
            Some(to_seller.clone()),
        ),
        ("auth", "GET", "/api/v1/auth/me", None),
        ("market-data", "GET", "/api/v3/ping", None),
    ] {
        let url = format!("{}{path}", cluster.url(service));
        let mut req = c
            .request(method.parse().unwrap(), &url)
            .header("x-flowex-identity", &forged);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (s, v) = call(&c, req).await;
        assert_eq!(s, 401, "{service} {path} without the token: {v}");
        let (s, _) = call(
            &c,
            c.get(&url).header(
                "x-flowex-internal-token",
                "wrong-token-wrong-token-wrong-token",
            ),
        )
        .await;
        assert_eq!(s, 401, "{service} {path} with a wrong token");
    }

    // Through the gateway a client's identity header is dropped: alone it
    // authenticates nobody, next to a token it does not change who you are.
    let (s, _) = call(
        &c,
        c.get(format!("{gw}/api/v3/account"))
            .header("x-flowex-identity", &forged),
    )
    .await;
    assert_eq!(s, 401);
    let (s, v) = call(
        &c,
        account(&buyer)
            .header("x-flowex-identity", &forged)
            .header("x-flowex-internal-token", TOKEN),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["uid"], buyer_id, "the forged identity was ignored");
    // …and the internal API is not reachable through the gateway at all.
    let (s, v) = call(
        &c,
        c.get(format!("{gw}/internal/assets")).bearer_auth(&root),
    )
    .await;
    assert!(v.get("assets").is_none(), "{s} {v}");
    // Nothing above moved money.
    let (_, b) = call(&c, account(&buyer)).await;
    assert_eq!(
        balance(&b["balances"], "BTC"),
        ("0.00999000".into(), "0.00000000".into())
    );

    // Logout, revocation and a password change end a session on every
    // route within the gateway's session cache TTL (5 s).
    let edge = common::sessions::Edge::new(&gw);
    let bound = Duration::from_secs(5 + 2);
    tokio::join!(
        edge.revocation_ends_every_route("seller@example.com", PASSWORD, false, bound),
        edge.revocation_ends_every_route("root@example.com", PASSWORD, true, bound),
    );

    // Trading stops: the gateway answers 503 at once, and keeps doing so
    // without waiting on the dead service once its breaker is open.
    let trading = procs.iter_mut().find(|p| p.name == "trading").unwrap();
    trading.stop();
    for i in 0..8 {
        let started = Instant::now();
        let (s, v) = call(&c, account(&buyer)).await;
        let took = started.elapsed();
        assert_eq!(s, 503, "attempt {i}: {v}");
        assert!(took < Duration::from_secs(2), "attempt {i} took {took:?}");
        if i >= 6 {
            assert!(
                took < Duration::from_millis(200),
                "breaker open, yet {took:?}"
            );
        }
    }
    // Other services keep serving.
    let (s, _) = call(&c, c.get(format!("{gw}/api/v3/ping"))).await;
    assert_eq!(s, 200);

    drop(procs);
    drop(redis);
    db.drop_database().await;
}
