//! The WebSocket API (`/ws-api/v3`) of `flowex up`, over real WebSockets
//! on loopback: logon with an access token (the web terminal's way) and
//! with a signed request, user data events after real orders and trades
//! (every `executionReport` field of ../shared/BINANCE_API.md),
//! `userDataStream.subscribe.signature`, unsubscribe, signature and
//! timestamp errors, order entry through the REST code paths, the limits
//! with their close codes and reasons, and a logged-out session that stops
//! receiving.

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::ws::{next, next_where, request, send, Ws, WAIT};
use common::Up;

/// Every field Binance's `executionReport` carries.
const EXECUTION_REPORT_KEYS: &str =
    "C,E,F,I,L,M,N,O,P,Q,S,T,V,W,X,Y,Z,c,e,f,g,i,l,m,n,o,p,q,r,s,t,w,x,z";

async fn connect(base: &str) -> Ws {
    let url = format!("{}/ws-api/v3", base.replacen("http://", "ws://", 1));
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    ws
}

async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("no close frame: {e}"),
        }
    }
}

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

struct Login {
    access: String,
    refresh: String,
}

async fn login(c: &reqwest::Client, base: &str, email: &str, asset: &str) -> Login {
    let creds = json!({ "email": email, "password": "a long enough passphrase" });
    let register = c.post(format!("{base}/api/v1/auth/register")).json(&creds);
    let (s, v) = call(c, register).await;
    assert!(s == 201 || s == 409, "{v}");
    let (s, v) = call(c, c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    let req = c
        .post(format!("{base}/api/v1/wallet/faucet"))
        .bearer_auth(&access)
        .json(&json!({ "asset": asset }));
    let (s, v) = call(c, req).await;
    assert_eq!(s, 201, "{v}");
    Login { access, refresh }
}

async fn api_key(c: &reqwest::Client, base: &str, token: &str) -> (String, String, u64) {
    let req = c
        .post(format!("{base}/api/v1/account/api-keys"))
        .bearer_auth(token)
        .json(&json!({ "label": "ws" }));
    let (s, key) = call(c, req).await;
    assert_eq!(s, 201, "{key}");
    (
        key["api_key"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
        key["id"].as_u64().unwrap(),
    )
}

async fn order(c: &reqwest::Client, base: &str, token: &str, form: &str) -> Value {
    let req = c
        .post(format!("{base}/api/v3/order"))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string());
    let (s, v) = call(c, req).await;
    assert_eq!(s, 200, "{form}: {v}");
    v
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `params` with `apiKey`, `timestamp` and the signature over the params
/// sorted by name (Binance's WebSocket API rule).
fn signed(params: Value, key: &str, secret: &str, timestamp: u64) -> Value {
    let mut p: BTreeMap<String, Value> = serde_json::from_value(params).unwrap();
    p.insert("apiKey".into(), json!(key));
    p.insert("timestamp".into(), json!(timestamp));
    let payload: Vec<String> = p
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let sig = flowex_auth::sign(secret, payload.join("&").as_bytes());
    p.insert("signature".into(), json!(sig));
    serde_json::to_value(p).unwrap()
}

fn keys_of(v: &Value) -> String {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.join(",")
}

/// The next event of the stream of type `e` satisfying `want`.
async fn event(ws: &mut Ws, e: &str, want: impl Fn(&Value) -> bool) -> Value {
    let v = next_where(ws, |m| m["event"]["e"] == e && want(&m["event"])).await;
    v["event"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn user_data_events_logon_signatures_and_order_entry() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let seller = login(&c, &base, "ws-seller@example.com", "BTC").await;
    let buyer = login(&c, &base, "ws-buyer@example.com", "USDT").await;

    // The web terminal's way: logon with the access token, then subscribe.
    let mut web = connect(&base).await;
    let r = request(
        &mut web,
        json!({"id": "logon", "method": "session.logon", "params": {"accessToken": seller.access}}),
    )
    .await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["apiKey"], Value::Null, "{r}");
    assert_eq!(r["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT", "{r}");
    let r = request(
        &mut web,
        json!({"id": "subscribe", "method": "userDataStream.subscribe"}),
    )
    .await;
    assert_eq!(r["result"]["subscriptionId"], 0, "{r}");

    // The bot's way: a signed subscription, no logon.
    let (key, secret, _) = api_key(&c, &base, &buyer.access).await;
    let mut bot = connect(&base).await;
    let params = signed(json!({}), &key, &secret, now_ms());
    let r = request(
        &mut bot,
        json!({"id": 7, "method": "userDataStream.subscribe.signature", "params": params}),
    )
    .await;
    assert_eq!((&r["id"], &r["status"]), (&json!(7), &json!(200)), "{r}");
    let sub = r["result"]["subscriptionId"].clone();

    // A resting sell: NEW with every field, and the locked balance.
    order(
        &c,
        &base,
        &seller.access,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=60000&quantity=0.01&newClientOrderId=maker1",
    )
    .await;
    let new = event(&mut web, "executionReport", |e| e["x"] == "NEW").await;
    assert_eq!(keys_of(&new), EXECUTION_REPORT_KEYS, "{new}");
    assert_eq!(
        (&new["s"], &new["c"], &new["S"], &new["o"], &new["f"]),
        (
            &json!("BTCUSDT"),
            &json!("maker1"),
            &json!("SELL"),
            &json!("LIMIT"),
            &json!("GTC")
        )
    );
    assert_eq!(
        (&new["X"], &new["w"], &new["N"]),
        (&json!("NEW"), &json!(true), &Value::Null)
    );
    assert!(new["p"].as_str().unwrap().starts_with("60000."), "{new}");
    let pos = event(&mut web, "outboundAccountPosition", |_| true).await;
    let btc = pos["B"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["a"] == "BTC")
        .unwrap()
        .clone();
    assert!(btc["l"].as_str().unwrap().starts_with("0.01"), "{pos}");

    // A crossing buy: both sides get TRADE with the fill and its fee.
    order(
        &c,
        &base,
        &buyer.access,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=60000&quantity=0.01",
    )
    .await;
    let maker = event(&mut web, "executionReport", |e| e["x"] == "TRADE").await;
    assert_eq!(
        (&maker["X"], &maker["m"], &maker["N"]),
        (&json!("FILLED"), &json!(true), &json!("USDT")),
        "{maker}"
    );
    assert!(
        maker["t"].as_i64().unwrap() > 0 && maker["l"] == maker["z"],
        "{maker}"
    );
    let taker_new = next_where(&mut bot, |m| m["event"]["x"] == "NEW").await;
    assert_eq!(taker_new["subscriptionId"], sub, "{taker_new}");
    let taker = event(&mut bot, "executionReport", |e| e["x"] == "TRADE").await;
    assert_eq!(
        (&taker["X"], &taker["m"], &taker["N"], &taker["S"]),
        (
            &json!("FILLED"),
            &json!(false),
            &json!("BTC"),
            &json!("BUY")
        ),
        "{taker}"
    );
    assert_eq!(taker["Y"], maker["Y"], "same quote quantity on both sides");
    let pos = event(&mut bot, "outboundAccountPosition", |_| true).await;
    assert!(
        pos["B"].as_array().unwrap().iter().any(|b| b["a"] == "BTC"),
        "{pos}"
    );

    // A deposit (the faucet) is a balanceUpdate.
    let req = c
        .post(format!("{base}/api/v1/wallet/faucet"))
        .bearer_auth(&buyer.access)
        .json(&json!({ "asset": "USDT" }));
    assert_eq!(call(&c, req).await.0, 201);
    let update = event(&mut bot, "balanceUpdate", |_| true).await;
    assert_eq!(
        (&update["a"], keys_of(&update).as_str()),
        (&json!("USDT"), "E,T,a,d,e"),
        "{update}"
    );

    // Order entry, signed per request, through the REST code paths.
    let place = signed(
        json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "50000", "quantity": "0.01", "newClientOrderId": "wsorder1"}),
        &key,
        &secret,
        now_ms(),
    );
    let r = request(
        &mut bot,
        json!({"id": "p1", "method": "order.place", "params": place}),
    )
    .await;
    assert_eq!(
        (
            &r["status"],
            &r["result"]["clientOrderId"],
            &r["result"]["status"]
        ),
        (&json!(200), &json!("wsorder1"), &json!("NEW")),
        "{r}"
    );
    // A new order reports the key's order counts before the weight, as Binance.
    let kinds: Vec<(&Value, &Value)> = r["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (&l["rateLimitType"], &l["interval"]))
        .collect();
    let want = [
        ("ORDERS", "SECOND"),
        ("ORDERS", "DAY"),
        ("REQUEST_WEIGHT", "MINUTE"),
    ];
    let want: Vec<(Value, Value)> = want.iter().map(|(t, i)| (json!(t), json!(i))).collect();
    let want: Vec<(&Value, &Value)> = want.iter().map(|(t, i)| (t, i)).collect();
    assert_eq!(kinds, want, "{r}");
    assert!(r["rateLimits"][0]["count"].as_u64() >= Some(1), "{r}");
    let open = signed(json!({"symbol": "BTCUSDT"}), &key, &secret, now_ms());
    let r = request(
        &mut bot,
        json!({"id": "o1", "method": "openOrders.status", "params": open}),
    )
    .await;
    assert_eq!(r["result"].as_array().map(Vec::len), Some(1), "{r}");
    let cancel = signed(
        json!({"symbol": "BTCUSDT", "origClientOrderId": "wsorder1"}),
        &key,
        &secret,
        now_ms(),
    );
    let r = request(
        &mut bot,
        json!({"id": "c1", "method": "order.cancel", "params": cancel}),
    )
    .await;
    assert_eq!(r["result"]["status"], "CANCELED", "{r}");
    let canceled = event(&mut bot, "executionReport", |e| e["x"] == "CANCELED").await;
    assert_eq!(canceled["c"], "wsorder1", "{canceled}");
    // The same validation and codes as REST.
    let bad = signed(
        json!({"symbol": "NOPE", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "1", "quantity": "1"}),
        &key,
        &secret,
        now_ms(),
    );
    let r = request(
        &mut bot,
        json!({"id": "b1", "method": "order.place", "params": bad}),
    )
    .await;
    assert_eq!(
        (&r["status"], &r["error"]["code"]),
        (&json!(400), &json!(-1121)),
        "{r}"
    );
    let r = request(&mut bot, json!({"id": "t", "method": "time"})).await;
    assert!(r["result"]["serverTime"].as_u64().unwrap() > 0, "{r}");

    // Signature rules: a wrong signature, a stale timestamp, none at all.
    let mut forged = signed(json!({}), &key, &secret, now_ms());
    forged["signature"] = json!("00".repeat(32));
    let r = request(
        &mut bot,
        json!({"id": 1, "method": "userDataStream.subscribe.signature", "params": forged}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1022, "{r}");
    let stale = signed(json!({}), &key, &secret, now_ms() - 120_000);
    let r = request(
        &mut bot,
        json!({"id": 2, "method": "userDataStream.subscribe.signature", "params": stale}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1021, "{r}");
    let windowed = signed(
        json!({"recvWindow": 60000}),
        &key,
        &secret,
        now_ms() - 30_000,
    );
    let r = request(
        &mut bot,
        json!({"id": 3, "method": "session.logon", "params": windowed}),
    )
    .await;
    assert_eq!(
        (&r["status"], &r["result"]["apiKey"]),
        (&json!(200), &json!(key)),
        "{r}"
    );
    let r = request(&mut bot, json!({"id": 4, "method": "account.status"})).await;
    assert!(
        r["result"]["balances"].is_array(),
        "logged on: no signature needed: {r}"
    );
    let r = request(
        &mut web,
        json!({"id": 5, "method": "order.status", "params": {"symbol": "BTCUSDT"}}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1102, "{r}");

    // Unsubscribe: the reply, then eventStreamTerminated.
    let r = request(
        &mut bot,
        json!({"id": "s", "method": "session.subscriptions"}),
    )
    .await;
    assert_eq!(r["result"], json!([{"subscriptionId": sub}]), "{r}");
    send(
        &mut bot,
        json!({"id": "u", "method": "userDataStream.unsubscribe"}),
    )
    .await;
    let r = next(&mut bot).await;
    assert_eq!((&r["id"], &r["status"]), (&json!("u"), &json!(200)), "{r}");
    let end = next(&mut bot).await;
    assert_eq!(
        (&end["subscriptionId"], &end["event"]["e"]),
        (&sub, &json!("eventStreamTerminated")),
        "{end}"
    );

    // Logging the session out ends the web connection's stream.
    let logout = c
        .post(format!("{base}/api/v1/auth/logout"))
        .bearer_auth(&seller.access)
        .json(&json!({ "refresh_token": seller.refresh }));
    assert_eq!(call(&c, logout).await.0, 204);
    let end = next_where(&mut web, |m| m["event"]["e"] == "eventStreamTerminated").await;
    assert_eq!(end["subscriptionId"], 0, "{end}");
    let (code, reason) = closed(&mut web).await;
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("credentials revoked"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_close_or_refuse_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("FLOWEX_WEBSOCKET__MAX_CONNECTIONS_PER_IP", "3"),
        ("FLOWEX_WEBSOCKET__SEND_QUEUE", "2"),
    ];
    let up = Up::start_with(dir.path(), &["--no-bot"], &env);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let user = login(&c, &base, "ws-limits@example.com", "USDT").await;

    // Subscriptions per connection.
    let mut ws = connect(&base).await;
    let r = request(
        &mut ws,
        json!({"id": 0, "method": "session.logon", "params": {"accessToken": user.access}}),
    )
    .await;
    assert_eq!(r["status"], 200, "{r}");
    for i in 0..20 {
        let r = request(
            &mut ws,
            json!({"id": i + 1, "method": "userDataStream.subscribe"}),
        )
        .await;
        assert_eq!(r["result"]["subscriptionId"], i, "{r}");
    }
    let r = request(
        &mut ws,
        json!({"id": 99, "method": "userDataStream.subscribe"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -1003, "{r}");
    assert!(
        r["error"]["msg"].as_str().unwrap().contains("at most 20"),
        "{r}"
    );

    // A slow consumer: 20 subscriptions × one order's events overflow a
    // queue of 2 while the client does not read.
    order(
        &c,
        &base,
        &user.access,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=50000&quantity=0.01",
    )
    .await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    drop(ws);

    // The request rate.
    let mut ws = connect(&base).await;
    for i in 0..60 {
        send(&mut ws, json!({"id": i, "method": "ping"})).await;
    }
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("too many requests"), "{reason}");
    drop(ws);

    // Connections per IP.
    let _held = [
        connect(&base).await,
        connect(&base).await,
        connect(&base).await,
    ];
    let url = format!("{}/ws-api/v3", base.replacen("http://", "ws://", 1));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("expected 429, got {other:?}"),
    }
}

/// `name{labels} value` of the server's `/metrics` (0 when absent).
async fn metric(c: &reqwest::Client, base: &str, series: &str) -> f64 {
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_ws_api_connections_and_user_data_events() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let held = r#"flowex_ws_connections{api="ws_api"}"#;
    let sent = r#"flowex_ws_messages_sent_total{stream="user_data"}"#;
    assert_eq!(metric(&c, &base, held).await, 0.0);
    let seller = login(&c, &base, "metrics-seller@example.com", "BTC").await;
    let mut a = connect(&base).await;
    let mut b = connect(&base).await;
    let logon =
        json!({"id": 1, "method": "session.logon", "params": {"accessToken": seller.access}});
    assert_eq!(request(&mut a, logon).await["status"], 200);
    let subscribe = json!({"id": 2, "method": "userDataStream.subscribe"});
    assert_eq!(request(&mut a, subscribe).await["status"], 200);
    assert_eq!(metric(&c, &base, held).await, 2.0);
    let before = metric(&c, &base, sent).await;
    order(
        &c,
        &base,
        &seller.access,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=90000&quantity=0.001",
    )
    .await;
    event(&mut a, "executionReport", |e| e["x"] == "NEW").await;
    assert!(metric(&c, &base, sent).await > before);
    drop((a, b.close(None).await));
    let deadline = Instant::now() + WAIT;
    while metric(&c, &base, held).await != 0.0 {
        assert!(Instant::now() < deadline, "connections still counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A public request and its reply.
async fn public(ws: &mut Ws, id: &str, method: &str, params: Value) -> Value {
    request(ws, json!({"id": id, "method": method, "params": params})).await
}

async fn rest_get(c: &reqwest::Client, url: String) -> (Value, u64) {
    let resp = c.get(url).send().await.unwrap();
    let used = resp.headers()["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (resp.json().await.unwrap(), used)
}

/// The IP's weight in this minute as a reply reports it.
fn weight(reply: &Value) -> u64 {
    let limits = reply["rateLimits"].as_array().expect("rateLimits");
    let w = limits
        .iter()
        .find(|l| l["rateLimitType"] == "REQUEST_WEIGHT");
    w.and_then(|l| l["count"].as_u64()).expect("a weight count")
}

#[tokio::test(flavor = "multi_thread")]
async fn market_data_methods_answer_as_rest_and_share_its_weight() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let seller = login(&c, &base, "ws-md-seller@example.com", "BTC").await;
    let buyer = login(&c, &base, "ws-md-buyer@example.com", "USDT").await;
    let rest = "symbol=BTCUSDT&type=LIMIT&timeInForce=GTC&quantity=0.01";
    order(
        &c,
        &base,
        &seller.access,
        &format!("{rest}&side=SELL&price=60010"),
    )
    .await;
    order(
        &c,
        &base,
        &seller.access,
        &format!("{rest}&side=SELL&price=60000"),
    )
    .await;
    order(
        &c,
        &base,
        &buyer.access,
        &format!("{rest}&side=BUY&price=59990"),
    )
    .await;
    order(
        &c,
        &base,
        &buyer.access,
        &format!("{rest}&side=BUY&price=60000"),
    )
    .await;
    let mut ws = connect(&base).await;

    // Each method answers what its REST equivalent answers.
    let same = [
        (
            "depth",
            json!({"symbol": "BTCUSDT", "limit": 5}),
            "/api/v3/depth?symbol=BTCUSDT&limit=5",
        ),
        (
            "trades.recent",
            json!({"symbol": "BTCUSDT"}),
            "/api/v3/trades?symbol=BTCUSDT",
        ),
        (
            "trades.aggregate",
            json!({"symbol": "BTCUSDT"}),
            "/api/v3/aggTrades?symbol=BTCUSDT",
        ),
        (
            "klines",
            json!({"symbol": "BTCUSDT", "interval": "1h"}),
            "/api/v3/klines?symbol=BTCUSDT&interval=1h",
        ),
        (
            "uiKlines",
            json!({"symbol": "BTCUSDT", "interval": "1d"}),
            "/api/v3/uiKlines?symbol=BTCUSDT&interval=1d",
        ),
        (
            "avgPrice",
            json!({"symbol": "BTCUSDT"}),
            "/api/v3/avgPrice?symbol=BTCUSDT",
        ),
        (
            "ticker.price",
            json!({"symbols": ["BTCUSDT", "ETHUSDT"]}),
            "/api/v3/ticker/price?symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D",
        ),
        (
            "ticker.book",
            json!({"symbol": "BTCUSDT"}),
            "/api/v3/ticker/bookTicker?symbol=BTCUSDT",
        ),
    ];
    for (method, params, path) in same {
        let r = public(&mut ws, method, method, params).await;
        assert_eq!(r["status"], 200, "{method}: {r}");
        let (want, _) = rest_get(&c, format!("{base}{path}")).await;
        assert_eq!(r["result"], want, "{method}");
    }
    let r = public(&mut ws, "t", "trades.recent", json!({"symbol": "BTCUSDT"})).await;
    let trade = &r["result"][0];
    assert_eq!(
        (&trade["price"], &trade["qty"]),
        (&json!("60000.00000000"), &json!("0.01000000")),
        "{r}"
    );
    let r = public(&mut ws, "24", "ticker.24hr", json!({"symbol": "BTCUSDT"})).await;
    assert_eq!(
        (&r["result"]["lastPrice"], &r["result"]["count"]),
        (&json!("60000.00000000"), &json!(1)),
        "{r}"
    );

    // Errors are the REST ones.
    let r = public(&mut ws, "bad", "depth", json!({"symbol": "NOPE"})).await;
    assert_eq!(
        (&r["status"], &r["error"]["code"]),
        (&json!(400), &json!(-1121)),
        "{r}"
    );
    let r = public(
        &mut ws,
        "bad2",
        "klines",
        json!({"symbol": "BTCUSDT", "interval": "7m"}),
    )
    .await;
    assert_eq!(
        (&r["status"], &r["error"]["code"]),
        (&json!(400), &json!(-1120)),
        "{r}"
    );

    // One weight budget per IP for REST and the WebSocket API: a deep book
    // costs 250 on either, and each sees what the other charged. Measured
    // within one minute window (retried if a window ends in between).
    for attempt in 0.. {
        assert!(attempt < 3, "three minute boundaries in a row");
        let minute = now_ms() / 60_000;
        let before = weight(&public(&mut ws, "p1", "ping", json!({})).await);
        let deep = public(
            &mut ws,
            "d",
            "depth",
            json!({"symbol": "BTCUSDT", "limit": 5000}),
        )
        .await;
        let (_, rest_used) =
            rest_get(&c, format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=5000")).await;
        let after = weight(&public(&mut ws, "p2", "ping", json!({})).await);
        if now_ms() / 60_000 != minute {
            continue;
        }
        assert_eq!(weight(&deep), before + 250, "{deep}");
        assert_eq!(
            rest_used,
            before + 500,
            "REST sees the WebSocket API's weight"
        );
        assert_eq!(after, rest_used + 1, "the WebSocket API sees REST's weight");
        break;
    }
}
