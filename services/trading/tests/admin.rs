//! The admin routes of the trading service over real HTTP on loopback,
//! against a real sequencer, journal and SQLite store; and what they do to
//! the public API: halted and cancel-only markets, frozen users, fee tiers,
//! and mass assignment (fields a caller must not be able to set).
//!
//! A small test layer plays the gateway: `x-test-user` (and `x-test-role:
//! admin`) become the `Identity` the handlers read. The database decides
//! too: user 1 is an admin there, users 2 and 3 are not, user 4 holds an
//! admin token but is a plain user in the database (a demoted admin).

use axum::extract::Request;
use axum::middleware::Next;
use flowex_http::{Identity, Via};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig};
use flowex_store::{AuditQuery, NewUser, Role, Store};
use flowex_trading::{projector, router, TradingState};
use flowex_types::*;
use serde_json::{json, Value};

const ADMIN: u64 = 1;
const ALICE: u64 = 2;
const BOB: u64 = 3;
const DEMOTED: u64 = 4;

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn as_caller(mut req: Request, next: Next) -> axum::response::Response {
    let role = match header(&req, "x-test-role").as_deref() {
        Some("admin") => flowex_auth::Role::Admin,
        _ => flowex_auth::Role::User,
    };
    if let Some(user_id) = header(&req, "x-test-user").and_then(|v| v.parse().ok()) {
        let via = Via::Session {
            session_id: "test".into(),
        };
        req.extensions_mut().insert(Identity { user_id, role, via });
    }
    next.run(req).await
}

fn setup() -> Vec<Command> {
    let mut v = flowex_testkit::listing(flowex_testkit::btcusdt());
    for (user, asset, amount) in [(ALICE, 2, 100_000_000_000_000_u64), (BOB, 1, 1_000_000_000)] {
        v.push(Command::Deposit {
            key: IdemKey::new(&format!("seed-{user}")).unwrap(),
            user: UserId(user),
            asset: AssetId(asset),
            amount,
        });
    }
    v
}

struct Api {
    base: String,
    client: reqwest::Client,
    seq: Sequencer,
    store: Store,
    _projector: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SequencerConfig::new(JournalConfig::new(dir.path().join("journal")));
        let (seq, _) = Sequencer::start(cfg).unwrap();
        for cmd in setup() {
            let applied = seq.handle().submit(cmd).await.unwrap();
            assert!(applied.rejection().is_none(), "{cmd:?}");
        }
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("store.db").display()
        );
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        for (email, role) in [
            ("admin@example.com", Role::Admin),
            ("alice@example.com", Role::User),
            ("bob@example.com", Role::User),
            ("demoted@example.com", Role::User),
        ] {
            let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
            let u = store
                .create_user(&NewUser {
                    email,
                    password_hash: hash,
                    role,
                    now: 1,
                })
                .await
                .unwrap();
            assert!(u.id <= DEMOTED, "users are numbered from 1");
        }
        let state = TradingState::new(seq.handle(), Default::default())
            .await
            .unwrap();
        let (state, projector) = projector::spawn(state, store.clone(), dir.path().join("journal"))
            .await
            .unwrap();
        let app = router(state).layer(axum::middleware::from_fn(as_caller));
        let app = flowex_http::stack(app, &flowex_http::HttpConfig::default(), None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(flowex_http::serve(
            listener,
            app,
            64,
            std::future::pending(),
        ));
        Api {
            base,
            client: reqwest::Client::new(),
            seq,
            store,
            _projector: projector,
            _dir: dir,
        }
    }

    /// An admin-API call with a JSON body (`Value::Null`: none) as `caller`
    /// (`Some((user, admin_token))`).
    async fn admin(
        &self,
        method: &str,
        caller: Option<(u64, bool)>,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !body.is_null() {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some((user, admin)) = caller {
            req = req.header("x-test-user", user.to_string());
            if admin {
                req = req.header("x-test-role", "admin");
            }
        }
        send(req).await
    }

    async fn as_admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.admin(method, Some((ADMIN, true)), path, body).await
    }

    /// A Binance-API call with form parameters.
    async fn v3(&self, method: &str, user: Option<u64>, path: &str, form: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self
                .client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_string()),
            "DELETE" => self.client.delete(format!("{url}?{form}")),
            _ => self.client.get(format!("{url}?{form}")),
        };
        if let Some(u) = user {
            req = req.header("x-test-user", u.to_string());
        }
        send(req).await
    }

    async fn symbol_status(&self, symbol: &str) -> String {
        let (s, v) = self
            .v3(
                "GET",
                None,
                "/api/v3/exchangeInfo",
                &format!("symbol={symbol}"),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["symbols"][0]["status"].as_str().unwrap().to_string()
    }

    /// The newest audit row of `action`.
    async fn last_audit(&self, action: &str) -> flowex_store::AuditEntry {
        let q = AuditQuery {
            action: Some(action.to_string()),
            limit: 1,
            ..AuditQuery::default()
        };
        let rows = self.store.query_audit(&q).await.unwrap();
        rows.into_iter()
            .next()
            .unwrap_or_else(|| panic!("no audit row for {action}"))
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn detail(e: &flowex_store::AuditEntry) -> Value {
    serde_json::from_str(e.detail.as_deref().unwrap_or("null")).unwrap()
}

fn err(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Every admin route, with a body that would succeed for an admin.
fn every_route() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        (
            "admin.asset.create",
            "POST",
            "/api/v1/admin/assets",
            json!({"code": "XRP", "decimals": 6}),
        ),
        (
            "admin.asset.list",
            "GET",
            "/api/v1/admin/assets",
            Value::Null,
        ),
        (
            "admin.market.create",
            "POST",
            "/api/v1/admin/markets",
            doge_market(),
        ),
        (
            "admin.market.list",
            "GET",
            "/api/v1/admin/markets",
            Value::Null,
        ),
        (
            "admin.market.update",
            "PATCH",
            "/api/v1/admin/markets/BTCUSDT",
            json!({"maker_fee": "0"}),
        ),
        (
            "admin.market.status",
            "POST",
            "/api/v1/admin/markets/BTCUSDT/status",
            json!({"status": "HALTED"}),
        ),
        (
            "admin.user.fees.set",
            "PUT",
            "/api/v1/admin/users/2/fees",
            json!({"maker_fee": "0", "taker_fee": "0"}),
        ),
        (
            "admin.user.fees.clear",
            "DELETE",
            "/api/v1/admin/users/2/fees",
            Value::Null,
        ),
        (
            "admin.user.freeze",
            "POST",
            "/api/v1/admin/users/2/freeze",
            Value::Null,
        ),
        (
            "admin.user.unfreeze",
            "POST",
            "/api/v1/admin/users/2/unfreeze",
            Value::Null,
        ),
        ("admin.user.list", "GET", "/api/v1/admin/users", Value::Null),
        (
            "admin.cancel_all",
            "POST",
            "/api/v1/admin/cancel-all",
            json!({"user_id": 2}),
        ),
    ]
}

fn doge_market() -> Value {
    json!({
        "symbol": "BTCDOGE", "base_asset": "BTC", "quote_asset": "USDT",
        "tick_size": "0.01", "step_size": "0.001", "max_price": "1000000", "max_qty": "1000",
    })
}

#[tokio::test]
async fn only_admins_get_through_and_every_refusal_is_audited() {
    let api = Api::start().await;
    let before = api.seq.handle().stats().durable_seq;
    for (action, method, path, body) in every_route() {
        // A plain user, even one who sends a `role` (or `user_id`) field.
        let mut forged = if body.is_null() {
            json!({})
        } else {
            body.clone()
        };
        forged["role"] = json!("admin");
        forged["is_admin"] = json!(true);
        for (caller, body) in [
            (Some((ALICE, false)), body.clone()),
            (Some((ALICE, false)), forged),
            (Some((DEMOTED, true)), body.clone()),
        ] {
            let (s, v) = api.admin(method, caller, path, body).await;
            assert_eq!((s, err(&v)), (403, "forbidden"), "{method} {path}: {v}");
            let row = api.last_audit(action).await;
            assert_eq!(row.result, flowex_store::AuditOutcome::Denied, "{action}");
            assert_eq!(row.user_id, caller.map(|c| c.0), "{action}");
            assert_eq!(detail(&row)["reason"], "not_admin", "{action}");
        }
        let (s, v) = api.admin(method, None, path, body).await;
        assert_eq!((s, err(&v)), (401, "unauthorized"), "{method} {path}: {v}");
    }
    assert_eq!(
        api.seq.handle().stats().durable_seq,
        before,
        "no refused call reached the engine"
    );
    assert_eq!(api.symbol_status("BTCUSDT").await, "TRADING");
}

#[tokio::test]
async fn every_admin_route_succeeds_for_an_admin_and_is_audited() {
    let api = Api::start().await;
    for (action, method, path, body) in every_route() {
        let (s, v) = api.as_admin(method, path, body).await;
        assert!(s == 200 || s == 201, "{method} {path}: {s} {v}");
        let row = api.last_audit(action).await;
        assert_eq!(row.result, flowex_store::AuditOutcome::Ok, "{action}");
        assert_eq!(row.user_id, Some(ADMIN));
        assert!(row.actor_ip.is_some(), "{action}");
    }
}

#[tokio::test]
async fn assets_are_created_once_with_the_next_id_and_listed() {
    let api = Api::start().await;
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/assets",
            json!({"code": "SOL", "decimals": 9}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["asset"], json!({"id": 3, "code": "SOL", "decimals": 9}));
    let row = api.last_audit("admin.asset.create").await;
    assert_eq!(row.target.as_deref(), Some("asset:SOL"));
    assert_eq!(detail(&row)["after"]["decimals"], 9);

    let cases = [
        (json!({"code": "SOL", "decimals": 9}), 409, "asset_exists"),
        (json!({"code": "sol", "decimals": 9}), 400, "invalid_asset"),
        (
            json!({"code": "ABCDEFGHIJKLM", "decimals": 9}),
            400,
            "invalid_asset",
        ),
        (json!({"code": "XRP", "decimals": 19}), 400, "invalid_asset"),
        (json!({"code": "XRP", "decimals": -1}), 400, "invalid_body"),
        (json!({"code": "XRP"}), 400, "invalid_body"),
        (
            json!({"code": "XRP", "decimals": 6, "id": 1}),
            400,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = api
            .as_admin("POST", "/api/v1/admin/assets", body.clone())
            .await;
        assert_eq!((s, err(&v)), (status, code), "{body}: {v}");
    }
    let row = api.last_audit("admin.asset.create").await;
    assert_eq!(row.result, flowex_store::AuditOutcome::Denied);
    assert_eq!(detail(&row)["reason"], "invalid_body");

    // Not JSON, and JSON without its content type.
    let url = format!("{}/api/v1/admin/assets", api.base);
    let admin = |r: reqwest::RequestBuilder| {
        r.header("x-test-user", ADMIN.to_string())
            .header("x-test-role", "admin")
    };
    let (s, v) = send(admin(
        api.client
            .post(&url)
            .header("content-type", "application/json")
            .body("{"),
    ))
    .await;
    assert_eq!((s, err(&v)), (400, "invalid_json"), "{v}");
    let (s, v) = send(admin(
        api.client.post(&url).body(r#"{"code":"X","decimals":1}"#),
    ))
    .await;
    assert_eq!((s, err(&v)), (415, "unsupported_media_type"), "{v}");

    let (s, v) = api
        .as_admin("GET", "/api/v1/admin/assets", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    let codes: Vec<&str> = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["BTC", "USDT", "SOL"]);
}

#[tokio::test]
async fn markets_are_created_exactly_and_show_in_exchange_info_at_once() {
    let api = Api::start().await;
    let (s, _) = api
        .as_admin(
            "POST",
            "/api/v1/admin/assets",
            json!({"code": "DOGE", "decimals": 8}),
        )
        .await;
    assert_eq!(s, 201);
    let body = json!({
        "symbol": "DOGEUSDT", "base_asset": "DOGE", "quote_asset": "USDT",
        "tick_size": "0.00001", "step_size": "1",
        "min_price": "0.0001", "max_price": "1000",
        "max_qty": "10000000", "min_notional": "5", "max_notional": "100000",
        "maker_fee": "0.0005", "taker_fee": "0.00075",
        "allowed_stp_modes": ["NONE", "EXPIRE_TAKER"], "default_stp_mode": "EXPIRE_TAKER",
    });
    let (s, v) = api
        .as_admin("POST", "/api/v1/admin/markets", body.clone())
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["market"],
        json!({
            "id": 2, "symbol": "DOGEUSDT", "base_asset": "DOGE", "quote_asset": "USDT",
            "status": "TRADING", "tick_size": "0.00001000", "step_size": "1.00000000",
            "min_price": "0.00010000", "max_price": "1000.00000000",
            "min_qty": "1.00000000", "max_qty": "10000000.00000000",
            "min_notional": "5.00000000", "max_notional": "100000.00000000",
            "maker_fee": "0.000500", "taker_fee": "0.000750",
            "allowed_stp_modes": ["NONE", "EXPIRE_TAKER"], "default_stp_mode": "EXPIRE_TAKER",
        })
    );
    let row = api.last_audit("admin.market.create").await;
    assert_eq!(row.target.as_deref(), Some("market:DOGEUSDT"));
    // Listed at once (no directory refresh delay), and tradable.
    assert_eq!(api.symbol_status("DOGEUSDT").await, "TRADING");
    let (s, v) = api
        .v3(
            "POST",
            Some(ALICE),
            "/api/v3/order",
            "symbol=DOGEUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1",
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let with = |field: &str, value: Value| {
        let mut b = body.clone();
        b["symbol"] = json!("DOGEBTC");
        b[field] = value;
        b
    };
    let cases = [
        (body.clone(), 409, "market_exists"),
        (with("base_asset", json!("NOPE")), 400, "unknown_asset"),
        (with("quote_asset", json!("DOGE")), 400, "invalid_market"),
        (with("symbol", json!("doge-usdt")), 400, "invalid_market"),
        (with("tick_size", json!("0")), 400, "invalid_market"),
        (
            with("tick_size", json!("0.000000001")),
            400,
            "invalid_market",
        ),
        (with("tick_size", json!("-1")), 400, "invalid_market"),
        (
            with("max_price", json!("1000.000001")),
            400,
            "invalid_market",
        ),
        (with("min_price", json!("2000")), 400, "invalid_market"),
        (with("min_notional", json!("200000")), 400, "invalid_market"),
        (with("maker_fee", json!("0.2")), 400, "invalid_fee"),
        (with("maker_fee", json!("0.0000001")), 400, "invalid_fee"),
        (with("status", json!("HALT")), 400, "invalid_status"),
        (
            with("default_stp_mode", json!("DECREMENT")),
            400,
            "invalid_market",
        ),
        (with("allowed_stp_modes", json!([])), 400, "invalid_market"),
        (
            with("allowed_stp_modes", json!(["SOMETIMES"])),
            400,
            "invalid_market",
        ),
        (with("tick_size", json!(0.01)), 400, "invalid_body"),
        (with("id", json!(9)), 400, "invalid_body"),
    ];
    for (b, status, code) in cases {
        let (s, v) = api
            .as_admin("POST", "/api/v1/admin/markets", b.clone())
            .await;
        assert_eq!((s, err(&v)), (status, code), "{b}: {v}");
    }
    // One lot at one tick must be a whole number of quote atoms.
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/markets",
            json!({"symbol": "DOGEBTC", "base_asset": "DOGE", "quote_asset": "BTC",
                   "tick_size": "0.00000001", "step_size": "0.1",
                   "max_price": "1", "max_qty": "1000"}),
        )
        .await;
    assert_eq!((s, err(&v)), (400, "invalid_market"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{v}"
    );

    let (s, v) = api
        .as_admin("GET", "/api/v1/admin/markets", Value::Null)
        .await;
    assert_eq!(s, 200);
    let symbols: Vec<&str> = v["markets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BTCUSDT", "DOGEUSDT"]);
}

#[tokio::test]
async fn market_updates_change_only_what_is_named_and_record_before_and_after() {
    let api = Api::start().await;
    let path = "/api/v1/admin/markets/BTCUSDT";
    let (s, v) = api
        .as_admin(
            "PATCH",
            path,
            json!({"min_notional": "10", "taker_fee": "0.002"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["market"]["min_notional"], "10.00000000");
    assert_eq!(v["market"]["taker_fee"], "0.002000");
    assert_eq!(v["market"]["maker_fee"], "0.001000");
    let row = api.last_audit("admin.market.update").await;
    assert_eq!(row.target.as_deref(), Some("market:BTCUSDT"));
    let d = detail(&row);
    assert_eq!(d["before"]["min_notional"], "5.00000000");
    assert_eq!(d["after"]["min_notional"], "10.00000000");
    // The public API applies the new limit at once: 9 USDT is under it.
    let (s, v) = api
        .v3(
            "POST",
            Some(ALICE),
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0001&price=90000",
        )
        .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1013)), "{v}");
    assert_eq!(v["msg"], "Filter failure: NOTIONAL");

    let cases = [
        (json!({}), 400, "empty_update"),
        (json!({"min_price": "1000001"}), 400, "invalid_market"),
        (json!({"max_qty": "0.000001"}), 400, "invalid_market"),
        (
            json!({"default_stp_mode": "DECREMENT", "allowed_stp_modes": ["NONE"]}),
            400,
            "invalid_market",
        ),
        (json!({"tick_size": "1"}), 400, "invalid_body"),
        (json!({"symbol": "ETHUSDT"}), 400, "invalid_body"),
    ];
    for (b, status, code) in cases {
        let (s, v) = api.as_admin("PATCH", path, b.clone()).await;
        assert_eq!((s, err(&v)), (status, code), "{b}: {v}");
    }
    let (s, v) = api
        .as_admin(
            "PATCH",
            "/api/v1/admin/markets/NOPE",
            json!({"maker_fee": "0"}),
        )
        .await;
    assert_eq!((s, err(&v)), (404, "market_not_found"), "{v}");
}

#[tokio::test]
async fn halted_markets_refuse_orders_and_cancels_cancel_only_ones_refuse_orders() {
    let api = Api::start().await;
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000";
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");
    let order_id = v["orderId"].as_u64().unwrap();
    let status_path = "/api/v1/admin/markets/BTCUSDT/status";

    let (s, v) = api
        .as_admin("POST", status_path, json!({"status": "HALTED"}))
        .await;
    assert_eq!((s, &v["market"]["status"]), (200, &json!("HALTED")), "{v}");
    let row = api.last_audit("admin.market.status").await;
    assert_eq!(
        detail(&row),
        json!({"before": "TRADING", "after": "HALTED"})
    );
    assert_eq!(api.symbol_status("BTCUSDT").await, "HALT");
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2010)), "{v}");
    assert_eq!(v["msg"], "Market is closed.");
    let cancel = format!("symbol=BTCUSDT&orderId={order_id}");
    let (s, v) = api
        .v3("DELETE", Some(ALICE), "/api/v3/order", &cancel)
        .await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2011)), "{v}");
    assert_eq!(v["msg"], "Market is closed.");
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/cancel-all",
            json!({"symbol": "BTCUSDT"}),
        )
        .await;
    assert_eq!((s, err(&v)), (409, "market_halted"), "{v}");
    // A user's cancel-all everywhere skips the halted market.
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/cancel-all",
            json!({"user_id": ALICE}),
        )
        .await;
    assert_eq!((s, &v["canceled"]), (200, &json!(0)), "{v}");

    let (s, v) = api
        .as_admin("POST", status_path, json!({"status": "CANCEL_ONLY"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(api.symbol_status("BTCUSDT").await, "BREAK");
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2010)), "{v}");
    assert_eq!(v["msg"], "Market is closed.");
    let (s, v) = api
        .v3("DELETE", Some(ALICE), "/api/v3/order", &cancel)
        .await;
    assert_eq!((s, &v["status"]), (200, &json!("CANCELED")), "{v}");

    let (s, _) = api
        .as_admin("POST", status_path, json!({"status": "TRADING"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(api.symbol_status("BTCUSDT").await, "TRADING");
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");

    for (body, status, code) in [
        (json!({"status": "HALT"}), 400, "invalid_status"),
        (json!({"status": "trading"}), 400, "invalid_status"),
        (json!({}), 400, "invalid_body"),
    ] {
        let (s, v) = api.as_admin("POST", status_path, body.clone()).await;
        assert_eq!((s, err(&v)), (status, code), "{body}: {v}");
    }
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/markets/NOPE/status",
            json!({"status": "HALTED"}),
        )
        .await;
    assert_eq!((s, err(&v)), (404, "market_not_found"), "{v}");
}

#[tokio::test]
async fn fee_tiers_apply_to_the_user_and_clear_back_to_the_market_rates() {
    let api = Api::start().await;
    let path = format!("/api/v1/admin/users/{ALICE}/fees");
    let (s, v) = api
        .as_admin(
            "PUT",
            &path,
            json!({"maker_fee": "0.0002", "taker_fee": "0.0004"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"user_id": ALICE, "fees": {"maker_fee": "0.000200", "taker_fee": "0.000400"}})
    );
    let commission = |user| {
        api.v3(
            "GET",
            Some(user),
            "/api/v3/account/commission",
            "symbol=BTCUSDT",
        )
    };
    let (_, c) = commission(ALICE).await;
    assert_eq!(c["standardCommission"]["taker"], "0.00040000", "{c}");
    let (_, c) = commission(BOB).await;
    assert_eq!(c["standardCommission"]["taker"], "0.00100000", "{c}");
    let tier = api.store.fee_tier(ALICE).await.unwrap().unwrap();
    assert_eq!(
        (tier.maker_fee_ppm, tier.taker_fee_ppm, tier.updated_by),
        (200, 400, Some(ADMIN))
    );
    let row = api.last_audit("admin.user.fees.set").await;
    assert_eq!(row.target.as_deref(), Some("user:2"));
    assert_eq!(detail(&row)["before"], Value::Null);
    assert_eq!(detail(&row)["after"]["taker_fee"], "0.000400");

    // A trade charges the tier: Alice takes 0.01 BTC at 60000 and pays 0.04%.
    let (s, v) = api
        .v3(
            "POST",
            Some(BOB),
            "/api/v3/order",
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api
        .v3(
            "POST",
            Some(ALICE),
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["fills"][0]["commission"], "0.00000400", "{v}");

    let (s, v) = api.as_admin("DELETE", &path, Value::Null).await;
    assert_eq!((s, &v["fees"]), (200, &Value::Null), "{v}");
    assert_eq!(api.store.fee_tier(ALICE).await.unwrap(), None);
    let (_, c) = commission(ALICE).await;
    assert_eq!(c["standardCommission"]["taker"], "0.00100000", "{c}");
    let row = api.last_audit("admin.user.fees.clear").await;
    assert_eq!(detail(&row)["before"]["maker_fee"], "0.000200");

    for (p, body, status, code) in [
        (
            "/api/v1/admin/users/99/fees",
            json!({"maker_fee": "0", "taker_fee": "0"}),
            404,
            "user_not_found",
        ),
        (
            "/api/v1/admin/users/abc/fees",
            json!({"maker_fee": "0", "taker_fee": "0"}),
            400,
            "invalid_user_id",
        ),
        (
            path.as_str(),
            json!({"maker_fee": "0.5", "taker_fee": "0"}),
            400,
            "invalid_fee",
        ),
        (
            path.as_str(),
            json!({"maker_fee": "x", "taker_fee": "0"}),
            400,
            "invalid_fee",
        ),
        (
            path.as_str(),
            json!({"maker_fee": "0"}),
            400,
            "invalid_body",
        ),
        (
            path.as_str(),
            json!({"maker_fee": "0", "taker_fee": "0", "user_id": 3}),
            400,
            "invalid_body",
        ),
    ] {
        let (s, v) = api.as_admin("PUT", p, body.clone()).await;
        assert_eq!((s, err(&v)), (status, code), "{p} {body}: {v}");
    }
}

#[tokio::test]
async fn a_frozen_user_cannot_trade_but_can_cancel_and_the_database_agrees() {
    let api = Api::start().await;
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000";
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");
    let order_id = v["orderId"].as_u64().unwrap();

    let (s, v) = api
        .as_admin(
            "POST",
            &format!("/api/v1/admin/users/{ALICE}/freeze"),
            Value::Null,
        )
        .await;
    assert_eq!((s, v), (200, json!({"user_id": ALICE, "frozen": true})));
    assert!(api.store.user_by_id(ALICE).await.unwrap().unwrap().frozen);
    let row = api.last_audit("admin.user.freeze").await;
    assert_eq!(
        detail(&row),
        json!({"before": {"frozen": false}, "after": {"frozen": true}})
    );
    let (_, account) = api.v3("GET", Some(ALICE), "/api/v3/account", "").await;
    assert_eq!(
        (&account["canTrade"], &account["canWithdraw"]),
        (&json!(false), &json!(false))
    );
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2010)), "{v}");
    assert_eq!(v["msg"], "This account may not place or cancel orders.");
    let (s, v) = api
        .v3(
            "DELETE",
            Some(ALICE),
            "/api/v3/order",
            &format!("symbol=BTCUSDT&orderId={order_id}"),
        )
        .await;
    assert_eq!((s, &v["status"]), (200, &json!("CANCELED")), "{v}");
    // Others are not affected.
    let sell = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.001&price=70000";
    let (s, v) = api.v3("POST", Some(BOB), "/api/v3/order", sell).await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = api
        .as_admin(
            "POST",
            &format!("/api/v1/admin/users/{ALICE}/unfreeze"),
            Value::Null,
        )
        .await;
    assert_eq!((s, v), (200, json!({"user_id": ALICE, "frozen": false})));
    assert!(!api.store.user_by_id(ALICE).await.unwrap().unwrap().frozen);
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = api
        .as_admin("POST", "/api/v1/admin/users/99/freeze", Value::Null)
        .await;
    assert_eq!((s, err(&v)), (404, "user_not_found"), "{v}");
    let (s, v) = api
        .as_admin("POST", "/api/v1/admin/users/-1/freeze", Value::Null)
        .await;
    assert_eq!((s, err(&v)), (400, "invalid_user_id"), "{v}");
}

#[tokio::test]
async fn the_user_list_shows_each_users_engine_settings_and_pages_by_id() {
    let api = Api::start().await;
    api.as_admin(
        "POST",
        &format!("/api/v1/admin/users/{ALICE}/freeze"),
        Value::Null,
    )
    .await;
    api.as_admin(
        "PUT",
        &format!("/api/v1/admin/users/{BOB}/fees"),
        json!({"maker_fee": "0.0002", "taker_fee": "0.0004"}),
    )
    .await;
    let (s, v) = api
        .as_admin("GET", "/api/v1/admin/users", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    let users = v["users"].as_array().unwrap();
    let ids: Vec<u64> = users.iter().map(|u| u["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [ADMIN, ALICE, BOB, DEMOTED]);
    assert_eq!(
        users[1],
        json!({"id": ALICE, "email": "alice@example.com", "role": "user", "frozen": true,
               "totp_enabled": false, "created_at": 1, "fees": null})
    );
    assert_eq!(
        (&users[2]["frozen"], &users[2]["fees"]),
        (
            &json!(false),
            &json!({"maker_fee": "0.000200", "taker_fee": "0.000400"})
        )
    );
    assert_eq!(users[0]["role"], "admin");
    assert!(!v.to_string().contains("argon2"), "no password hash: {v}");
    assert_eq!(
        detail(&api.last_audit("admin.user.list").await),
        json!({"returned": 4})
    );

    let (s, v) = api
        .as_admin("GET", "/api/v1/admin/users?after_id=2&limit=1", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
    assert_eq!(v["users"][0]["id"], BOB);

    for bad in [
        "limit=0",
        "limit=501",
        "after_id=-1",
        "after_id=x",
        "limit=1&limit=2",
        "email=a",
    ] {
        let (s, v) = api
            .as_admin("GET", &format!("/api/v1/admin/users?{bad}"), Value::Null)
            .await;
        assert_eq!((s, err(&v)), (400, "invalid_parameter"), "{bad}: {v}");
    }
    let (s, v) = api
        .admin(
            "GET",
            Some((ALICE, false)),
            "/api/v1/admin/users",
            Value::Null,
        )
        .await;
    assert_eq!((s, err(&v)), (403, "forbidden"), "{v}");
}

#[tokio::test]
async fn cancel_all_needs_a_filter_and_cancels_exactly_what_it_names() {
    let api = Api::start().await;
    let mut alice_orders = Vec::new();
    for price in ["60000", "61000"] {
        let form = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={price}"
        );
        let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", &form).await;
        assert_eq!(s, 200, "{v}");
        alice_orders.push(v["orderId"].as_u64().unwrap());
    }
    let sell = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.001&price=70000";
    let (s, v) = api.v3("POST", Some(BOB), "/api/v3/order", sell).await;
    assert_eq!(s, 200, "{v}");
    let bob_order = v["orderId"].as_u64().unwrap();

    for (body, status, code) in [
        (json!({}), 400, "missing_filter"),
        (json!({"user_id": 99}), 404, "user_not_found"),
        (json!({"symbol": "NOPE"}), 404, "market_not_found"),
        (json!({"userId": 2}), 400, "invalid_body"),
    ] {
        let (s, v) = api
            .as_admin("POST", "/api/v1/admin/cancel-all", body.clone())
            .await;
        assert_eq!((s, err(&v)), (status, code), "{body}: {v}");
    }
    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/cancel-all",
            json!({"user_id": ALICE, "symbol": "BTCUSDT"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"canceled": 2, "order_ids": alice_orders}));
    let row = api.last_audit("admin.cancel_all").await;
    assert_eq!(row.target.as_deref(), Some("user:2 market:BTCUSDT"));
    assert_eq!(detail(&row)["canceled"], 2);
    let (_, open) = api.v3("GET", Some(BOB), "/api/v3/openOrders", "").await;
    assert_eq!(
        open.as_array().unwrap().len(),
        1,
        "Bob's order stays: {open}"
    );

    let (s, v) = api
        .as_admin(
            "POST",
            "/api/v1/admin/cancel-all",
            json!({"symbol": "BTCUSDT"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"canceled": 1, "order_ids": [bob_order]}));
    let (_, o) = api
        .v3(
            "GET",
            Some(BOB),
            "/api/v3/order",
            &format!("symbol=BTCUSDT&orderId={bob_order}"),
        )
        .await;
    assert_eq!(o["status"], "CANCELED", "{o}");
}

#[tokio::test]
async fn order_fields_a_caller_must_not_set_are_ignored() {
    let api = Api::start().await;
    // Binance ignores parameters it does not know; none of these may change
    // who owns the order, what it pays, or its state.
    let form = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000\
                &userId=3&user_id=3&uid=3&fee=0&commission=0&makerFee=0&takerFee=0\
                &status=FILLED&executedQty=0.01&cummulativeQuoteQty=1&orderId=1&role=admin\
                &isAdmin=true&origQty=100&transactTime=1";
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", form).await;
    assert_eq!(s, 200, "{v}");
    let id = v["orderId"].as_u64().unwrap();
    assert_eq!(
        (&v["status"], &v["executedQty"], &v["origQty"]),
        (&json!("NEW"), &json!("0.00000000"), &json!("0.01000000")),
        "{v}"
    );
    // Alice owns it; Bob cannot see it.
    let q = format!("symbol=BTCUSDT&orderId={id}");
    let (s, _) = api.v3("GET", Some(ALICE), "/api/v3/order", &q).await;
    assert_eq!(s, 200);
    let (s, v) = api.v3("GET", Some(BOB), "/api/v3/order", &q).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2013)), "{v}");
    // Its fill pays the market's rate, whatever it claimed.
    let sell = "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01&commission=0&userId=2";
    let (s, v) = api.v3("POST", Some(BOB), "/api/v3/order", sell).await;
    assert_eq!(s, 200, "{v}");
    // Bob receives 600 USDT and pays 0.1% of it.
    assert_eq!(v["fills"][0]["commission"], "0.60000000", "{v}");
    let (_, mine) = api.v3("GET", Some(BOB), "/api/v3/account", "").await;
    let usdt = mine["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap()
        .clone();
    assert_eq!(usdt["free"], "599.40000000", "{mine}");
    // The order's owner is still Alice: the buy filled for her.
    let (_, o) = api.v3("GET", Some(ALICE), "/api/v3/order", &q).await;
    assert_eq!(o["status"], "FILLED", "{o}");

    // A mass cancel naming someone else cancels only the caller's orders.
    let rest = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=90000";
    let (s, v) = api.v3("POST", Some(BOB), "/api/v3/order", rest).await;
    assert_eq!(s, 200, "{v}");
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000";
    let (s, v) = api.v3("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");
    let alice_order = v["orderId"].clone();
    let (s, v) = api
        .v3(
            "DELETE",
            Some(ALICE),
            "/api/v3/openOrders",
            "symbol=BTCUSDT&userId=3&user_id=3",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let canceled: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["orderId"])
        .collect();
    assert_eq!(canceled, [&alice_order], "{v}");
    let (_, open) = api.v3("GET", Some(BOB), "/api/v3/openOrders", "").await;
    assert_eq!(
        open.as_array().unwrap().len(),
        1,
        "Bob's order stays: {open}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_get_distinct_ids() {
    let api = std::sync::Arc::new(Api::start().await);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let code = format!("C{i}");
                let body = json!({"code": code, "decimals": 8});
                api.as_admin("POST", "/api/v1/admin/assets", body).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 201, "{v}");
        ids.push(v["asset"]["id"].as_u64().unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (3..19).collect::<Vec<u64>>());
}
