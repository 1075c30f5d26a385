//! The trading routes over real HTTP on loopback, against a real sequencer
//! and journal. A small test layer plays the gateway: it turns an
//! `x-test-user` header into the `Identity` the handlers read.

use axum::extract::Request;
use axum::middleware::Next;
use flowex_http::{Identity, Via};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig};
use flowex_trading::{router, TradingState};
use flowex_types::*;
use serde_json::Value;

const ALICE: u64 = 1;
const BOB: u64 = 2;

async fn as_user(mut req: Request, next: Next) -> axum::response::Response {
    let user = req
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if let Some(user_id) = user {
        let via = Via::Session {
            session_id: "test".into(),
        };
        req.extensions_mut().insert(Identity {
            user_id,
            role: flowex_auth::Role::User,
            via,
        });
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
    let mut v = vec![
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
    ];
    for (user, asset, amount) in [(ALICE, 2, 100_000_000_000_000_u64), (BOB, 1, 1_000_000_000)] {
        let key = IdemKey::new(&format!("seed-{user}")).unwrap();
        v.push(Command::Deposit {
            key,
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
    _seq: Sequencer,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let (seq, _) =
            Sequencer::start(SequencerConfig::new(JournalConfig::new(dir.path()))).unwrap();
        for cmd in setup() {
            assert!(seq
                .handle()
                .submit(cmd)
                .await
                .unwrap()
                .rejection()
                .is_none());
        }
        let state = TradingState::new(seq.handle(), Default::default())
            .await
            .unwrap();
        let app = router(state).layer(axum::middleware::from_fn(as_user));
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
            _seq: seq,
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, user: Option<u64>, path: &str, form: &str) -> (u16, Value) {
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
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn exchange_info_describes_markets_exactly() {
    let api = Api::start().await;
    let (s, v) = api
        .call("GET", None, "/api/v3/exchangeInfo", "symbol=BTCUSDT")
        .await;
    assert_eq!(s, 200, "{v}");
    let sym = &v["symbols"][0];
    assert_eq!(sym["symbol"], "BTCUSDT");
    assert_eq!(sym["status"], "TRADING");
    let filters = sym["filters"].as_array().unwrap();
    let price = filters
        .iter()
        .find(|f| f["filterType"] == "PRICE_FILTER")
        .unwrap();
    assert_eq!(price["tickSize"], "0.01000000");
    let lot = filters
        .iter()
        .find(|f| f["filterType"] == "LOT_SIZE")
        .unwrap();
    assert_eq!(lot["stepSize"], "0.00001000");
    assert!(sym["orderTypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "STOP_LOSS_LIMIT"));
    let (s, v) = api
        .call("GET", None, "/api/v3/exchangeInfo", "symbol=NOPE")
        .await;
    assert_eq!((s, code(&v)), (400, -1121));
}

#[tokio::test]
async fn orders_rest_fill_and_settle_to_the_atomic_unit() {
    let api = Api::start().await;
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01000&price=60000.00&newClientOrderId=alice-1";
    let (s, v) = api.call("POST", Some(ALICE), "/api/v3/order", buy).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["clientOrderId"].as_str()),
        (Some("NEW"), Some("alice-1"))
    );
    assert_eq!(v["fills"].as_array().unwrap().len(), 0);
    // Read-your-writes: the order and its lock are visible at once.
    let (_, open) = api
        .call("GET", Some(ALICE), "/api/v3/openOrders", "symbol=BTCUSDT")
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    let (_, acct) = api.call("GET", Some(ALICE), "/api/v3/account", "").await;
    let usdt = acct["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap()
        .clone();
    assert_eq!(
        (usdt["free"].as_str(), usdt["locked"].as_str()),
        (Some("999400.00000000"), Some("600.00000000"))
    );
    // Bob sells into it: a FULL response with the fill and his fee in USDT.
    let sell = "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.004";
    let (s, v) = api.call("POST", Some(BOB), "/api/v3/order", sell).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "FILLED");
    assert_eq!(v["executedQty"], "0.00400000");
    assert_eq!(v["cummulativeQuoteQty"], "240.00000000");
    let fill = &v["fills"][0];
    assert_eq!(
        (
            fill["price"].as_str(),
            fill["commission"].as_str(),
            fill["commissionAsset"].as_str()
        ),
        (Some("60000.00000000"), Some("0.24000000"), Some("USDT"))
    );
    let (_, acct) = api
        .call("GET", Some(BOB), "/api/v3/account", "omitZeroBalances=true")
        .await;
    let bal = |a: &str| {
        acct["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["asset"] == a)
            .unwrap()["free"]
            .clone()
    };
    assert_eq!(bal("USDT"), "239.76000000");
    assert_eq!(bal("BTC"), "9.99600000");
    let (_, order) = api
        .call(
            "GET",
            Some(ALICE),
            "/api/v3/order",
            "symbol=BTCUSDT&origClientOrderId=alice-1",
        )
        .await;
    assert_eq!(
        (order["status"].as_str(), order["executedQty"].as_str()),
        (Some("PARTIALLY_FILLED"), Some("0.00400000"))
    );
}

#[tokio::test]
async fn bad_orders_get_binance_codes() {
    let api = Api::start().await;
    let base = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
    let cases = [
        (format!("{base}&quantity=0.01&price=60000.001"), -1013),
        (format!("{base}&quantity=0.000001&price=60000"), -1013),
        (format!("{base}&quantity=0.000000001&price=60000"), -1111),
        (format!("{base}&quantity=abc&price=60000"), -1100),
        (format!("{base}&price=60000"), -1102),
        (
            "symbol=BTCUSDT&side=UP&type=LIMIT&timeInForce=GTC&quantity=1&price=1".to_string(),
            -1117,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMITED&quantity=1&price=1".to_string(),
            -1116,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=MARKET&timeInForce=GTC&quantity=1".to_string(),
            -1114,
        ),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=1&price=1".to_string(),
            -1115,
        ),
        (format!("{base}&quantity=100&price=60000"), -2010),
        (
            "symbol=DOGEUSDT&side=BUY&type=MARKET&quantity=1".to_string(),
            -1121,
        ),
    ];
    for (form, want) in cases {
        let (s, v) = api.call("POST", Some(ALICE), "/api/v3/order", &form).await;
        assert_eq!((s, code(&v)), (400, want), "{form}: {v}");
        assert!(v["msg"].is_string());
    }
    let (_, v) = api
        .call(
            "POST",
            Some(ALICE),
            "/api/v3/order",
            &format!("{base}&quantity=100&price=60000"),
        )
        .await;
    assert_eq!(
        v["msg"],
        "Account has insufficient balance for requested action."
    );
    // Nothing was half-applied.
    let (_, open) = api.call("GET", Some(ALICE), "/api/v3/openOrders", "").await;
    assert_eq!(open, Value::Array(vec![]));
}

#[tokio::test]
async fn one_user_never_sees_or_cancels_anothers_orders() {
    let api = Api::start().await;
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000&newClientOrderId=mine";
    let (_, v) = api.call("POST", Some(ALICE), "/api/v3/order", buy).await;
    let id = v["orderId"].as_u64().unwrap();
    for query in [
        format!("symbol=BTCUSDT&orderId={id}"),
        "symbol=BTCUSDT&origClientOrderId=mine".to_string(),
    ] {
        let (s, v) = api.call("GET", Some(BOB), "/api/v3/order", &query).await;
        assert_eq!((s, code(&v)), (400, -2013), "{v}");
        let (s, v) = api.call("DELETE", Some(BOB), "/api/v3/order", &query).await;
        assert_eq!((s, code(&v)), (400, -2011), "{v}");
    }
    let (s, v) = api
        .call(
            "DELETE",
            Some(ALICE),
            "/api/v3/order",
            &format!("symbol=BTCUSDT&orderId={id}"),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str(), v["origClientOrderId"].as_str()),
        (200, Some("CANCELED"), Some("mine"))
    );
    let (s, v) = api
        .call(
            "DELETE",
            Some(ALICE),
            "/api/v3/order",
            &format!("symbol=BTCUSDT&orderId={id}"),
        )
        .await;
    assert_eq!((s, code(&v)), (400, -2011));
    // Without an identity the route is closed.
    let (s, _) = api.call("GET", None, "/api/v3/openOrders", "").await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn limit_maker_that_would_take_is_rejected_verbatim() {
    let api = Api::start().await;
    api.call(
        "POST",
        Some(BOB),
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000",
    )
    .await;
    let (s, v) = api
        .call(
            "POST",
            Some(ALICE),
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.01&price=60000",
        )
        .await;
    assert_eq!((s, code(&v)), (400, -2010));
    assert_eq!(v["msg"], "Order would immediately match and take.");
    let (s, v) = api
        .call("DELETE", Some(BOB), "/api/v3/openOrders", "symbol=BTCUSDT")
        .await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
}
