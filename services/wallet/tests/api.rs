//! The wallet routes over real HTTP on loopback, against a real sequencer
//! and journal and a real store (SQLite and PostgreSQL), with the ledger
//! projection running. A small test layer plays the gateway: it turns
//! `x-test-user` (and `x-test-role: admin`, `x-test-perms: READ,TRADE` for
//! an API key) into the `Identity` the handlers read.

#[path = "../../../crates/store/tests/common/mod.rs"]
mod common;

use axum::extract::Request;
use axum::middleware::Next;
use flowex_http::{Identity, Via};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_store::{LedgerAccount, Store};
use flowex_types::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const ALICE: u64 = 1;
const BOB: u64 = 2;

/// 1 BTC and 1 USDT in atoms (both 8 decimals).
const BTC: u64 = 100_000_000;
const USDT: u64 = 100_000_000;

async fn as_user(mut req: Request, next: Next) -> axum::response::Response {
    let (user, admin, perms) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            header("x-test-user").and_then(|v| v.parse::<u64>().ok()),
            header("x-test-role").as_deref() == Some("admin"),
            header("x-test-perms"),
        )
    };
    if let Some(user_id) = user {
        let via = match perms {
            Some(p) => Via::ApiKey {
                key_id: 77,
                permissions: p.parse().unwrap(),
            },
            None => Via::Session {
                session_id: "test".into(),
            },
        };
        let role = if admin {
            flowex_auth::Role::Admin
        } else {
            flowex_auth::Role::User
        };
        req.extensions_mut().insert(Identity { user_id, role, via });
    }
    next.run(req).await
}

fn setup() -> Vec<Command> {
    let asset = |id, code: &str| {
        Command::CreateAsset(AssetConfig {
            id: AssetId(id),
            code: AssetCode::new(code).unwrap(),
            decimals: 8,
        })
    };
    vec![
        asset(1, "BTC"),
        asset(2, "USDT"),
        Command::CreateMarket(MarketConfig {
            id: MarketId(1),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            base: AssetId(1),
            quote: AssetId(2),
            tick_size: 1_000_000,
            lot_size: 1_000,
            min_price: 1,
            max_price: 100_000_000,
            min_qty: 1,
            max_qty: 900_000_000,
            min_notional: 500_000_000,
            max_notional: 0,
            maker_fee_ppm: 1_000,
            taker_fee_ppm: 1_000,
            status: MarketStatus::Trading,
            allowed_stp: StpModes::ALL,
            default_stp: StpMode::None,
        }),
    ]
}

pub struct Env {
    pub base: String,
    client: reqwest::Client,
    pub seq: Sequencer,
    pub store: Store,
    projection: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start(store: Store) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (seq, _) = Sequencer::start(SequencerConfig::new(JournalConfig::new(
            dir.path().join("journal"),
        )))
        .unwrap();
        for cmd in setup() {
            assert!(seq
                .handle()
                .submit(cmd)
                .await
                .unwrap()
                .rejection()
                .is_none());
        }
        let projection = flowex_wallet::ledger::start_local(
            seq.handle(),
            store.clone(),
            dir.path().join("journal"),
        );
        let state = flowex_wallet::WalletState::new(seq.handle(), store.clone(), None);
        let app = flowex_wallet::router(state).layer(axum::middleware::from_fn(as_user));
        let app = flowex_http::stack(app, &flowex_http::HttpConfig::default(), None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(flowex_http::serve(
            listener,
            app,
            64,
            std::future::pending(),
        ));
        Env {
            base,
            client: reqwest::Client::new(),
            seq,
            store,
            projection,
            _dir: dir,
        }
    }

    fn handle(&self) -> SequencerHandle {
        self.seq.handle()
    }

    async fn submit(&self, cmd: Command) -> Vec<Event> {
        let applied = self.handle().submit(cmd).await.unwrap();
        assert!(applied.rejection().is_none(), "{:?}", applied.events());
        applied.events().to_vec()
    }

    async fn deposit(&self, user: u64, asset: u32, amount: u64, key: &str) {
        self.submit(Command::Deposit {
            key: IdemKey::new(key).unwrap(),
            user: UserId(user),
            asset: AssetId(asset),
            amount,
        })
        .await;
    }

    async fn order(&self, user: u64, side: Side, price_usdt: u64, lots: u64) -> Vec<Event> {
        self.submit(Command::PlaceOrder(NewOrder {
            user: UserId(user),
            market: MarketId(1),
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price: price_usdt * 100,
            qty: OrderQty::Base(lots),
            stop_price: 0,
            client_id: None,
            stp: None,
        }))
        .await
    }

    /// Waits until the ledger covers every durable command.
    async fn projected(&self) {
        let durable = self.handle().stats().durable_seq;
        for _ in 0..1000 {
            let at = self
                .store
                .projector_offset(flowex_wallet::ledger::PROJECTOR)
                .await
                .unwrap();
            if at >= durable {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the ledger did not reach seq {durable}");
    }

    async fn call(
        &self,
        method: &str,
        user: Option<u64>,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_as(method, user, &[], path, body).await
    }

    async fn call_as(
        &self,
        method: &str,
        user: Option<u64>,
        headers: &[(&str, &str)],
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.raw(method, user, headers, path, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: &str,
        user: Option<u64>,
        headers: &[(&str, &str)],
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method.parse().unwrap(), &url)
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        if let Some(u) = user {
            req = req.header("x-test-user", u.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Engine totals (available + locked) of every account, by (user, asset).
    async fn engine_totals(&self) -> BTreeMap<(u64, u64), u128> {
        let all = self
            .handle()
            .query(|e: &flowex_engine::Engine| e.all_balances())
            .await
            .unwrap();
        all.into_iter()
            .map(|(u, a, b)| {
                (
                    (u.0, u64::from(a.0)),
                    u128::from(b.available) + u128::from(b.locked),
                )
            })
            .collect()
    }

    async fn stop(self) {
        self.projection.abort();
        self.store.close().await;
    }
}

fn err_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Alice buys 1 BTC at 50 000 USDT from Bob (maker); both pay 0.1 %.
async fn trade_one_btc(env: &Env) {
    env.deposit(ALICE, 2, 100_000 * USDT, "dep-alice").await;
    env.deposit(BOB, 1, 2 * BTC, "dep-bob").await;
    env.order(BOB, Side::Sell, 50_000, 100_000).await;
    let events = env.order(ALICE, Side::Buy, 50_000, 100_000).await;
    assert!(events.iter().any(|e| matches!(e, Event::Trade(_))));
}

/// Per asset, the whole ledger sums to zero; per (user, asset) it equals
/// the engine's total and the `balances` row; the fees account equals the
/// engine's fee account plus the fees of completed withdrawals.
async fn assert_books_agree(env: &Env) {
    env.projected().await;
    let totals = env.store.ledger_totals().await.unwrap();
    let mut per_asset: BTreeMap<u64, i128> = BTreeMap::new();
    for ((_, asset), amount) in &totals {
        *per_asset.entry(*asset).or_default() += amount;
    }
    assert!(per_asset.values().all(|s| *s == 0), "{per_asset:?}");
    let engine = env.engine_totals().await;
    let withdrawal_fees = env.store.completed_withdrawal_fees().await.unwrap();
    for ((user, asset), total) in &engine {
        let acct = if *user == 0 {
            LedgerAccount::Fees
        } else {
            LedgerAccount::User(*user)
        };
        let mut ledger = totals.get(&(acct, *asset)).copied().unwrap_or(0);
        if *user == 0 {
            ledger -= withdrawal_fees.get(asset).copied().unwrap_or(0) as i128;
        }
        assert_eq!(ledger, *total as i128, "user {user} asset {asset}");
    }
    for b in env.store.all_balances().await.unwrap() {
        let engine_total = engine.get(&(b.user_id, b.asset_id)).copied().unwrap_or(0);
        assert_eq!(
            u128::from(b.available) + u128::from(b.locked),
            engine_total,
            "balances row of user {} asset {}",
            b.user_id,
            b.asset_id
        );
    }
}

async fn ledger_books_trades_fees_and_deposits(store: Store) {
    let env = Env::start(store).await;
    trade_one_btc(&env).await;
    env.projected().await;
    let (s, v) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/ledger", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let rows: Vec<(String, String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["asset"].as_str().unwrap().to_string(),
                e["amount"].as_str().unwrap().to_string(),
                e["cause"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = |a: &str, m: &str, c: &str| (a.to_string(), m.to_string(), c.to_string());
    assert_eq!(
        rows,
        vec![
            want("USDT", "100000.00000000", "deposit"),
            want("BTC", "1.00000000", "trade"),
            want("USDT", "-50000.00000000", "trade"),
            want("BTC", "-0.00100000", "fee"),
        ],
        "{v}"
    );
    assert_eq!(v["entries"][1]["reference"], "trade:BTCUSDT:1");
    assert_eq!(v["next_cursor"], Value::Null);
    // Bob, the maker, pays his fee in the USDT he receives.
    let (_, v) = env
        .call("GET", Some(BOB), "/api/v1/wallet/ledger?cause=fee", None)
        .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["entries"][0]["asset"], "USDT");
    assert_eq!(v["entries"][0]["amount"], "-50.00000000");
    assert_books_agree(&env).await;
    env.stop().await;
}

async fn ledger_filters_pages_and_refuses_bad_input(store: Store) {
    let env = Env::start(store).await;
    trade_one_btc(&env).await;
    env.projected().await;
    // Pages of one, followed by cursor, give the same entries as one page.
    let (_, all) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/ledger", None)
        .await;
    let mut paged = Vec::new();
    let mut path = "/api/v1/wallet/ledger?limit=1".to_string();
    loop {
        let (s, v) = env.call("GET", Some(ALICE), &path, None).await;
        assert_eq!(s, 200, "{v}");
        paged.extend(v["entries"].as_array().unwrap().clone());
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/wallet/ledger?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), all["entries"]);
    let (_, v) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/ledger?asset=BTC", None)
        .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 2, "{v}");
    let t = all["entries"][1]["time"].as_i64().unwrap();
    let (_, v) = env
        .call(
            "GET",
            Some(ALICE),
            &format!("/api/v1/wallet/ledger?startTime={}", t + 60_000),
            None,
        )
        .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = env
        .call(
            "GET",
            Some(ALICE),
            &format!("/api/v1/wallet/ledger?startTime=0&endTime={t}"),
            None,
        )
        .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 4, "{v}");
    for (query, status, code) in [
        ("asset=DOGE", 400, "unknown_asset"),
        ("cause=gift", 400, "invalid_cause"),
        ("limit=0", 400, "invalid_limit"),
        ("limit=1001", 400, "invalid_limit"),
        ("limit=abc", 400, "invalid_parameter"),
        ("startTime=5&endTime=4", 400, "invalid_time_range"),
        ("cursor=xyz", 400, "invalid_cursor"),
    ] {
        let (s, v) = env
            .call(
                "GET",
                Some(ALICE),
                &format!("/api/v1/wallet/ledger?{query}"),
                None,
            )
            .await;
        assert_eq!((s, err_code(&v)), (status, code), "{query}: {v}");
    }
    // No identity: 401.
    let (s, v) = env.call("GET", None, "/api/v1/wallet/ledger", None).await;
    assert_eq!((s, err_code(&v)), (401, "unauthorized"), "{v}");
    // BOLA: a user id in the query is not a filter; Bob sees only his own.
    let (_, v) = env
        .call(
            "GET",
            Some(BOB),
            "/api/v1/wallet/ledger?user_id=1&userId=1",
            None,
        )
        .await;
    let bob_assets: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reference"].as_str().unwrap_or(""))
        .collect();
    assert!(!bob_assets.contains(&"deposit:dep-alice"), "{v}");
    assert!(bob_assets.contains(&"deposit:dep-bob"), "{v}");
    env.stop().await;
}

async fn ledger_csv_exports_the_same_entries(store: Store) {
    let env = Env::start(store).await;
    trade_one_btc(&env).await;
    env.projected().await;
    let (s, text) = env
        .raw("GET", Some(ALICE), &[], "/api/v1/wallet/ledger.csv", None)
        .await;
    assert_eq!(s, 200, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time,seq,idx,asset,amount,cause,reference");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1].ends_with(",USDT,100000.00000000,deposit,deposit:dep-alice"),
        "{text}"
    );
    assert!(
        lines[4].contains(",BTC,-0.00100000,fee,trade:BTCUSDT:1"),
        "{text}"
    );
    // Bounded: limit=2 gives two rows and where to go on.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/wallet/ledger.csv?limit=2", env.base))
        .header("x-test-user", ALICE.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let next = resp.headers()["x-next-cursor"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.text().await.unwrap().lines().count(), 3);
    let (_, rest) = env
        .raw(
            "GET",
            Some(ALICE),
            &[],
            &format!("/api/v1/wallet/ledger.csv?cursor={next}"),
            None,
        )
        .await;
    assert_eq!(rest.lines().count(), 3, "{rest}");
    let (s, v) = env
        .call(
            "GET",
            Some(ALICE),
            "/api/v1/wallet/ledger.csv?limit=10001",
            None,
        )
        .await;
    assert_eq!((s, err_code(&v)), (400, "invalid_limit"), "{v}");
    env.stop().await;
}

async fn deposits_list_is_the_callers(store: Store) {
    let env = Env::start(store).await;
    trade_one_btc(&env).await;
    env.projected().await;
    let (s, v) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/deposits", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["deposits"],
        json!([{
            "key": "dep-alice", "asset": "USDT", "amount": "100000.00000000",
            "state": "credited", "source": "engine",
            "created_at": v["deposits"][0]["created_at"], "credited_at": v["deposits"][0]["credited_at"],
        }])
    );
    let (s, v) = env
        .call(
            "GET",
            Some(ALICE),
            "/api/v1/wallet/deposits?limit=5000",
            None,
        )
        .await;
    assert_eq!((s, err_code(&v)), (400, "invalid_limit"), "{v}");
    env.stop().await;
}

/// A restart of the projection (its task aborted mid-stream, the store
/// kept) resumes from the offset: no gap, no duplicate.
async fn projection_restarts_without_gap_or_duplicate(store: Store) {
    let env = Env::start(store).await;
    env.deposit(ALICE, 2, 100_000 * USDT, "dep-alice").await;
    env.projected().await;
    env.projection.abort();
    env.deposit(BOB, 1, 2 * BTC, "dep-bob").await;
    env.order(BOB, Side::Sell, 50_000, 100_000).await;
    env.order(ALICE, Side::Buy, 50_000, 50_000).await;
    let journal = env._dir.path().join("journal");
    let again = flowex_wallet::ledger::start_local(env.handle(), env.store.clone(), journal);
    let env = Env {
        projection: again,
        ..env
    };
    env.projected().await;
    let totals = env.store.ledger_totals().await.unwrap();
    assert_eq!(
        totals[&(LedgerAccount::User(ALICE), 1)],
        (BTC / 2 - BTC / 2000) as i128
    );
    assert_books_agree(&env).await;
    env.stop().await;
}

both_backends!(
    ledger_books_trades_fees_and_deposits,
    ledger_filters_pages_and_refuses_bad_input,
    ledger_csv_exports_the_same_entries,
    deposits_list_is_the_callers,
    projection_restarts_without_gap_or_duplicate,
);
