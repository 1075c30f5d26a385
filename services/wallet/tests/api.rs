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
const ADMIN: u64 = 3;
const BOX_KEY: [u8; 32] = [42; 32];

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
    flowex_testkit::listing(flowex_testkit::btcusdt())
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
        for (want, email, role) in [
            (ALICE, "alice@example.com", flowex_store::Role::User),
            (BOB, "bob@example.com", flowex_store::Role::User),
            (ADMIN, "root@example.com", flowex_store::Role::Admin),
        ] {
            let u = store
                .create_user(&flowex_store::NewUser {
                    email,
                    password_hash: "x",
                    role,
                    now: 1,
                })
                .await
                .unwrap();
            assert_eq!(u.id, want);
        }
        let projection = flowex_wallet::ledger::start_local(
            seq.handle(),
            store.clone(),
            dir.path().join("journal"),
        );
        let state = flowex_wallet::WalletState::new(
            flowex_wallet::EngineClient::local(seq.handle()),
            store.clone(),
            None,
        )
        .with_totp(flowex_auth::SecretBox::new(BOX_KEY));
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

// ---------------------------------------------------------------- withdrawals

fn admin() -> [(&'static str, &'static str); 1] {
    [("x-test-role", "admin")]
}

async fn settings(env: &Env, min: &str, fee: &str, limit: &str) {
    let (s, v) = env
        .call_as(
            "PUT",
            Some(ADMIN),
            &admin(),
            "/api/v1/admin/assets/BTC/withdrawal-settings",
            Some(json!({"min": min, "fee": fee, "daily_limit": limit})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn withdraw(env: &Env, user: u64, body: Value) -> (u16, Value) {
    env.call("POST", Some(user), "/api/v1/wallet/withdrawals", Some(body))
        .await
}

async fn btc_of(env: &Env, user: u64) -> (u64, u64) {
    let b = env
        .handle()
        .query(move |e: &flowex_engine::Engine| e.balance(UserId(user), AssetId(1)))
        .await
        .unwrap();
    (b.available, b.locked)
}

async fn audit_actions(env: &Env, action: &str) -> Vec<flowex_store::AuditEntry> {
    env.store
        .query_audit(&flowex_store::AuditQuery {
            action: Some(action.into()),
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn withdrawal_flow_is_exact_and_audited(store: Store) {
    let env = Env::start(store).await;
    settings(&env, "0.001", "0.0005", "2").await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let (s, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.1", "address": "bc1qalice"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let w = &v["withdrawal"];
    assert_eq!(
        (&w["state"], &w["amount"], &w["fee"], &w["address"]),
        (
            &json!("requested"),
            &json!("0.10000000"),
            &json!("0.00050000"),
            &json!("bc1qalice")
        )
    );
    assert_eq!(w.get("user_id"), None, "user views do not carry the owner");
    let id = w["id"].as_u64().unwrap();
    assert_eq!(btc_of(&env, ALICE).await, (BTC - 10_050_000, 10_050_000));
    let (s, v) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/withdrawals", None)
        .await;
    assert_eq!(
        (s, v["withdrawals"][0]["id"].as_u64()),
        (200, Some(id)),
        "{v}"
    );
    let (s, v) = env
        .call(
            "GET",
            Some(ALICE),
            &format!("/api/v1/wallet/withdrawals/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (s, &v["withdrawal"]["state"]),
        (200, &json!("requested")),
        "{v}"
    );
    let (s, v) = env
        .call_as(
            "GET",
            Some(ADMIN),
            &admin(),
            "/api/v1/admin/withdrawals?state=requested",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["withdrawals"][0]["user_id"], ALICE);
    let approve = format!("/api/v1/admin/withdrawals/{id}/approve");
    let (s, v) = env
        .call_as("POST", Some(ADMIN), &admin(), &approve, None)
        .await;
    assert_eq!(
        (s, &v["withdrawal"]["state"]),
        (200, &json!("completed")),
        "{v}"
    );
    assert_eq!(v["withdrawal"]["decided_by"], ADMIN);
    assert_eq!(btc_of(&env, ALICE).await, (BTC - 10_050_000, 0));
    // Never twice, whichever way.
    let (s, v) = env
        .call_as("POST", Some(ADMIN), &admin(), &approve, None)
        .await;
    assert_eq!((s, err_code(&v)), (409, "invalid_state"), "{v}");
    let reject = format!("/api/v1/admin/withdrawals/{id}/reject");
    let (s, v) = env
        .call_as("POST", Some(ADMIN), &admin(), &reject, None)
        .await;
    assert_eq!((s, err_code(&v)), (409, "invalid_state"), "{v}");
    let (s, v) = env
        .call(
            "DELETE",
            Some(ALICE),
            &format!("/api/v1/wallet/withdrawals/{id}"),
            None,
        )
        .await;
    assert_eq!((s, err_code(&v)), (409, "invalid_state"), "{v}");
    assert_eq!(btc_of(&env, ALICE).await, (BTC - 10_050_000, 0));
    // The ledger: the amount left custody, the fee stayed as revenue.
    env.projected().await;
    let (_, v) = env
        .call("GET", Some(ALICE), "/api/v1/wallet/ledger?asset=BTC", None)
        .await;
    let rows: Vec<(&str, &str, &str)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["amount"].as_str().unwrap(),
                e["cause"].as_str().unwrap(),
                e["reference"].as_str().unwrap(),
            )
        })
        .collect();
    let wref = format!("withdrawal:{id}");
    assert_eq!(
        rows,
        vec![
            ("1.00000000", "deposit", "deposit:dep-alice"),
            ("-0.10000000", "withdrawal", wref.as_str()),
            ("-0.00050000", "fee", wref.as_str()),
        ]
    );
    let totals = env.store.ledger_totals().await.unwrap();
    assert_eq!(totals[&(LedgerAccount::Fees, 1)], 50_000);
    assert_eq!(
        totals[&(LedgerAccount::Custody, 1)],
        -(BTC as i128) + 10_000_000
    );
    assert_books_agree(&env).await;
    let requests = audit_actions(&env, "wallet.withdrawal.request").await;
    assert_eq!(requests.len(), 1);
    let approvals = audit_actions(&env, "admin.withdrawal.approve").await;
    assert_eq!(
        approvals.len(),
        2,
        "the refused second approval is audited too"
    );
    assert_eq!(
        audit_actions(&env, "admin.withdrawal_settings").await.len(),
        1
    );
    env.stop().await;
}

async fn cancel_and_reject_release_the_funds(store: Store) {
    let env = Env::start(store).await;
    settings(&env, "0", "0.0005", "0").await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let (_, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.5", "address": "a1"}),
    )
    .await;
    let id = v["withdrawal"]["id"].as_u64().unwrap();
    let (s, v) = env
        .call(
            "DELETE",
            Some(ALICE),
            &format!("/api/v1/wallet/withdrawals/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (s, &v["withdrawal"]["state"]),
        (200, &json!("released")),
        "{v}"
    );
    assert_eq!(v["withdrawal"]["note"], "canceled by user");
    assert_eq!(btc_of(&env, ALICE).await, (BTC, 0));
    let (_, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.5", "address": "a1"}),
    )
    .await;
    let id = v["withdrawal"]["id"].as_u64().unwrap();
    let (s, v) = env
        .call_as(
            "POST",
            Some(ADMIN),
            &admin(),
            &format!("/api/v1/admin/withdrawals/{id}/reject"),
            Some(json!({"note": "address on a sanctions list"})),
        )
        .await;
    assert_eq!(
        (s, &v["withdrawal"]["state"]),
        (200, &json!("released")),
        "{v}"
    );
    assert_eq!(v["withdrawal"]["note"], "address on a sanctions list");
    assert_eq!(btc_of(&env, ALICE).await, (BTC, 0));
    let (s, v) = env
        .call(
            "DELETE",
            Some(ALICE),
            &format!("/api/v1/wallet/withdrawals/{id}"),
            None,
        )
        .await;
    assert_eq!((s, err_code(&v)), (409, "invalid_state"), "{v}");
    let (s, v) = env
        .call_as(
            "POST",
            Some(ADMIN),
            &admin(),
            "/api/v1/admin/withdrawals/999999/approve",
            None,
        )
        .await;
    assert_eq!((s, err_code(&v)), (404, "withdrawal_not_found"), "{v}");
    let (s, v) = env
        .call_as(
            "POST",
            Some(ADMIN),
            &admin(),
            &format!("/api/v1/admin/withdrawals/{id}/reject"),
            Some(json!({"note": "x", "state": "completed"})),
        )
        .await;
    assert_eq!((s, err_code(&v)), (400, "invalid_body"), "{v}");
    // A JSON null body is no note (what `flowex admin withdrawals reject` sends).
    let (_, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.5", "address": "a1"}),
    )
    .await;
    let id = v["withdrawal"]["id"].as_u64().unwrap();
    let (s, v) = env
        .call_as(
            "POST",
            Some(ADMIN),
            &admin(),
            &format!("/api/v1/admin/withdrawals/{id}/reject"),
            Some(Value::Null),
        )
        .await;
    assert_eq!(
        (s, &v["withdrawal"]["state"]),
        (200, &json!("released")),
        "{v}"
    );
    assert_eq!(
        audit_actions(&env, "wallet.withdrawal.cancel").await.len(),
        2
    );
    assert_books_agree(&env).await;
    env.stop().await;
}

async fn withdrawals_are_private_to_their_owner(store: Store) {
    let env = Env::start(store).await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let (_, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.5", "address": "a1"}),
    )
    .await;
    let id = v["withdrawal"]["id"].as_u64().unwrap();
    let path = format!("/api/v1/wallet/withdrawals/{id}");
    let (s, v) = env.call("GET", Some(BOB), &path, None).await;
    assert_eq!((s, err_code(&v)), (404, "withdrawal_not_found"), "{v}");
    let (s, v) = env.call("DELETE", Some(BOB), &path, None).await;
    assert_eq!((s, err_code(&v)), (404, "withdrawal_not_found"), "{v}");
    let (s, v) = env
        .call(
            "GET",
            Some(BOB),
            "/api/v1/wallet/withdrawals?user_id=1",
            None,
        )
        .await;
    assert_eq!((s, &v["withdrawals"]), (200, &json!([])), "{v}");
    for (method, p) in [
        ("GET", "/api/v1/admin/withdrawals".to_string()),
        ("POST", format!("/api/v1/admin/withdrawals/{id}/approve")),
        ("POST", format!("/api/v1/admin/withdrawals/{id}/reject")),
    ] {
        let (s, v) = env.call(method, Some(BOB), &p, None).await;
        assert_eq!((s, err_code(&v)), (403, "forbidden"), "{p}: {v}");
        // An admin token of a user who is not (or no longer) an admin in the database.
        let (s, v) = env.call_as(method, Some(BOB), &admin(), &p, None).await;
        assert_eq!((s, err_code(&v)), (403, "forbidden"), "demoted, {p}: {v}");
    }
    let deposit =
        json!({"user_id": BOB, "asset": "BTC", "amount": "1", "idempotency_key": "demoted"});
    let (s, v) = env
        .call_as(
            "POST",
            Some(BOB),
            &admin(),
            "/api/v1/admin/deposits",
            Some(deposit),
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (403, "forbidden"),
        "demoted deposit: {v}"
    );
    let (s, v) = env
        .call(
            "PUT",
            Some(BOB),
            "/api/v1/admin/assets/BTC/withdrawal-settings",
            Some(json!({"min": "0", "fee": "0", "daily_limit": "0"})),
        )
        .await;
    assert_eq!((s, err_code(&v)), (403, "forbidden"), "{v}");
    let (s, _) = env.call("GET", Some(ALICE), &path, None).await;
    assert_eq!(s, 200);
    // Still requested, still locked: nothing Bob did touched it.
    assert_eq!(btc_of(&env, ALICE).await, (BTC / 2, BTC / 2));
    env.stop().await;
}

async fn withdrawal_requests_are_checked(store: Store) {
    let env = Env::start(store).await;
    settings(&env, "0.01", "0.001", "0.5").await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let body = |amount: &str| json!({"asset": "BTC", "amount": amount, "address": "bc1q"});
    for (b, status, code) in [
        (
            json!({"asset": "DOGE", "amount": "1", "address": "x"}),
            400,
            "unknown_asset",
        ),
        (body("0"), 400, "invalid_amount"),
        (body("0.000000001"), 400, "invalid_amount"),
        (body("-1"), 400, "invalid_amount"),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "has space"}),
            400,
            "invalid_address",
        ),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": ""}),
            400,
            "invalid_address",
        ),
        (body("0.009"), 400, "amount_below_minimum"),
        (body("0.6"), 400, "daily_limit_exceeded"),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "x", "idempotency_key": "bad key"}),
            400,
            "invalid_idempotency_key",
        ),
        // Mass assignment: fields naming the owner, the fee or the state are refused.
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "x", "user_id": BOB}),
            400,
            "invalid_body",
        ),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "x", "fee": "0"}),
            400,
            "invalid_body",
        ),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "x", "state": "completed"}),
            400,
            "invalid_body",
        ),
        (
            json!({"asset": "BTC", "amount": "0.1", "address": "x", "role": "admin"}),
            400,
            "invalid_body",
        ),
    ] {
        let (s, v) = withdraw(&env, ALICE, b.clone()).await;
        assert_eq!((s, err_code(&v)), (status, code), "{b}: {v}");
    }
    assert_eq!(btc_of(&env, ALICE).await, (BTC, 0), "nothing was locked");
    // The daily limit counts requested amounts over a rolling 24 hours.
    let (s, v) = withdraw(&env, ALICE, body("0.3")).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = withdraw(&env, ALICE, body("0.2")).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = withdraw(&env, ALICE, body("0.01")).await;
    assert_eq!((s, err_code(&v)), (400, "daily_limit_exceeded"), "{v}");
    // Bob has nothing: the engine refuses the lock.
    let (s, v) = withdraw(&env, BOB, body("0.1")).await;
    assert_eq!((s, err_code(&v)), (400, "insufficient_balance"), "{v}");
    let (_, v) = env
        .call("GET", Some(BOB), "/api/v1/wallet/withdrawals", None)
        .await;
    assert_eq!(
        v["withdrawals"],
        json!([]),
        "a refused lock leaves no withdrawal"
    );
    // An API key needs WITHDRAW.
    env.deposit(BOB, 1, BTC, "dep-bob").await;
    let (s, v) = env
        .call_as(
            "POST",
            Some(BOB),
            &[("x-test-perms", "READ,TRADE")],
            "/api/v1/wallet/withdrawals",
            Some(body("0.1")),
        )
        .await;
    assert_eq!((s, err_code(&v)), (401, "invalid_api_key"), "{v}");
    let (s, v) = env
        .call_as(
            "POST",
            Some(BOB),
            &[("x-test-perms", "READ,WITHDRAW")],
            "/api/v1/wallet/withdrawals",
            Some(
                json!({"asset": "BTC", "amount": "0.1", "address": "x", "idempotency_key": "k-1"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["withdrawal"]["id"].clone();
    // The same key again: the same withdrawal, nothing locked twice.
    let (s, v) = withdraw(
        &env,
        BOB,
        json!({"asset": "BTC", "amount": "0.1", "address": "x", "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!((s, &v["withdrawal"]["id"]), (200, &id), "{v}");
    assert_eq!(btc_of(&env, BOB).await, (BTC - 10_100_000, 10_100_000));
    let (s, v) = withdraw(
        &env,
        BOB,
        json!({"asset": "BTC", "amount": "0.2", "address": "x", "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!((s, err_code(&v)), (409, "idempotency_key_reused"), "{v}");
    // A frozen user cannot withdraw.
    env.submit(Command::SetUserFrozen {
        user: UserId(BOB),
        frozen: true,
    })
    .await;
    let (s, v) = withdraw(&env, BOB, body("0.1")).await;
    assert_eq!((s, err_code(&v)), (403, "account_frozen"), "{v}");
    // Settings are checked too.
    for (b, status, code) in [
        (
            json!({"min": "x", "fee": "0", "daily_limit": "0"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"min": "0", "fee": "0.000000001", "daily_limit": "0"}),
            400,
            "invalid_amount",
        ),
        (json!({"min": "0", "fee": "0"}), 400, "invalid_body"),
    ] {
        let (s, v) = env
            .call_as(
                "PUT",
                Some(ADMIN),
                &admin(),
                "/api/v1/admin/assets/BTC/withdrawal-settings",
                Some(b.clone()),
            )
            .await;
        assert_eq!((s, err_code(&v)), (status, code), "{b}: {v}");
    }
    let (s, v) = env
        .call_as(
            "PUT",
            Some(ADMIN),
            &admin(),
            "/api/v1/admin/assets/DOGE/withdrawal-settings",
            Some(json!({"min": "0", "fee": "0", "daily_limit": "0"})),
        )
        .await;
    assert_eq!((s, err_code(&v)), (400, "unknown_asset"), "{v}");
    env.stop().await;
}

async fn withdrawal_needs_a_fresh_totp_code_with_2fa(store: Store) {
    let env = Env::start(store.clone()).await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let secret = flowex_auth::TotpSecret::generate();
    let sealed =
        flowex_auth::totp_store::seal(&flowex_auth::SecretBox::new(BOX_KEY), ALICE, &secret);
    let slots = flowex_auth::totp_store::Slots {
        active: Some(sealed),
        pending: None,
    };
    store
        .set_totp_secret(ALICE, &slots.encode(), 2)
        .await
        .unwrap();
    store.enable_totp(ALICE, 2).await.unwrap();
    let body = |code: Option<&str>| {
        let mut b = json!({"asset": "BTC", "amount": "0.1", "address": "x"});
        if let Some(c) = code {
            b["totp_code"] = json!(c);
        }
        b
    };
    let (s, v) = withdraw(&env, ALICE, body(None)).await;
    assert_eq!((s, err_code(&v)), (401, "totp_required"), "{v}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = secret.code_at(now);
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (s, v) = withdraw(&env, ALICE, body(Some(&wrong))).await;
    assert_eq!((s, err_code(&v)), (401, "invalid_totp"), "{v}");
    let (s, v) = withdraw(&env, ALICE, body(Some("12ab56"))).await;
    assert_eq!((s, err_code(&v)), (401, "invalid_totp"), "{v}");
    let (s, v) = withdraw(&env, ALICE, body(Some(&good))).await;
    assert_eq!(s, 201, "{v}");
    // The same code a second time: refused (replay).
    let (s, v) = withdraw(&env, ALICE, body(Some(&good))).await;
    assert_eq!((s, err_code(&v)), (401, "invalid_totp"), "{v}");
    assert_eq!(btc_of(&env, ALICE).await, (BTC - 10_000_000, 10_000_000));
    // Bob has no 2FA: no code needed.
    env.deposit(BOB, 1, BTC, "dep-bob").await;
    let (s, v) = withdraw(&env, BOB, body(None)).await;
    assert_eq!(s, 201, "{v}");
    env.stop().await;
}

/// Eight admins approve the same withdrawal at once: exactly one wins, the
/// funds leave once.
async fn concurrent_approvals_complete_once(store: Store) {
    let env = Env::start(store).await;
    settings(&env, "0", "0.0001", "0").await;
    env.deposit(ALICE, 1, BTC, "dep-alice").await;
    let (_, v) = withdraw(
        &env,
        ALICE,
        json!({"asset": "BTC", "amount": "0.25", "address": "x"}),
    )
    .await;
    let id = v["withdrawal"]["id"].as_u64().unwrap();
    let path = format!("/api/v1/admin/withdrawals/{id}/approve");
    let reject = format!("/api/v1/admin/withdrawals/{id}/reject");
    let mut calls = Vec::new();
    for i in 0..8 {
        let p = if i == 3 { reject.clone() } else { path.clone() };
        let (base, client) = (env.base.clone(), env.client.clone());
        calls.push(tokio::spawn(async move {
            let resp = client
                .post(format!("{base}{p}"))
                .header("x-test-user", ADMIN.to_string())
                .header("x-test-role", "admin")
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    let w = env.store.withdrawal(id).await.unwrap().unwrap();
    let (available, locked) = btc_of(&env, ALICE).await;
    match w.state {
        flowex_store::WithdrawalState::Completed => {
            assert_eq!((available, locked), (BTC - 25_010_000, 0))
        }
        flowex_store::WithdrawalState::Released => assert_eq!((available, locked), (BTC, 0)),
        other => panic!("ended {other:?}"),
    }
    assert_books_agree(&env).await;
    env.stop().await;
}

/// `GET /api/v1/admin/reconcile`: admin only; after trading, per asset the
/// engine's total equals the ledger's and nothing disagrees; a deposit the
/// ledger never saw (its projection stopped) is named, by user and asset,
/// with the difference on that asset only.
async fn reconcile_api_agrees_then_names_a_missed_deposit(store: Store) {
    let mut env = Env::start(store).await;
    trade_one_btc(&env).await;
    env.projected().await;
    let path = "/api/v1/admin/reconcile";
    let (s, v) = env.call("GET", None, path, None).await;
    assert_eq!((s, err_code(&v)), (401, "unauthorized"), "{v}");
    let (s, v) = env.call("GET", Some(ALICE), path, None).await;
    assert_eq!((s, err_code(&v)), (403, "forbidden"), "{v}");
    let (s, v) = env.call_as("GET", Some(ADMIN), &admin(), path, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["seq"], env.handle().stats().durable_seq, "{v}");
    assert!(v["checked_at"].as_i64().unwrap() > 0);
    let asset = |v: &Value, code: &str| {
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["asset"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in {v}"))
    };
    let btc = asset(&v, "BTC");
    assert_eq!(
        (btc["engine_total"].as_str(), btc["ledger_total"].as_str()),
        (Some("2.00000000"), Some("2.00000000"))
    );
    assert_eq!(btc["difference"], "0.00000000");
    assert_eq!(btc["ledger_imbalance"], "0.00000000");
    assert_eq!(asset(&v, "USDT")["engine_total"], "100000.00000000");
    assert_eq!(v["disagreements"], json!([]));

    env.projection.abort();
    env.deposit(ALICE, 2, 5 * USDT, "dep-unseen").await;
    let (s, v) = env.call_as("GET", Some(ADMIN), &admin(), path, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    let usdt = asset(&v, "USDT");
    assert_eq!(
        (usdt["ok"].as_bool(), usdt["difference"].as_str()),
        (Some(false), Some("5.00000000")),
        "{v}"
    );
    assert_eq!(asset(&v, "BTC")["ok"], true, "{v}");
    let said: Vec<&str> = v["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        said.iter().any(|d| d.starts_with("the ledger is at seq")),
        "{said:?}"
    );
    assert!(
        said.contains(
            &"user 1 USDT: ledger 50000.00000000, balances 50000.00000000, engine 50005.00000000"
        ),
        "{said:?}"
    );
    env.projection = tokio::spawn(async {});
    env.stop().await;
}

both_backends!(
    withdrawal_flow_is_exact_and_audited,
    cancel_and_reject_release_the_funds,
    withdrawals_are_private_to_their_owner,
    withdrawal_requests_are_checked,
    withdrawal_needs_a_fresh_totp_code_with_2fa,
    concurrent_approvals_complete_once,
);

both_backends!(
    ledger_books_trades_fees_and_deposits,
    ledger_filters_pages_and_refuses_bad_input,
    ledger_csv_exports_the_same_entries,
    deposits_list_is_the_callers,
    projection_restarts_without_gap_or_duplicate,
    reconcile_api_agrees_then_names_a_missed_deposit,
);
