//! The listenKey user data stream of older clients on `flowex up`, over
//! real HTTP and WebSockets on loopback: `POST/PUT/DELETE
//! /api/v3/userDataStream` with the API-key header alone (and a Bearer
//! token), their Binance error codes, `/ws/<listenKey>` and
//! `/stream/ws/<listenKey>` delivering `executionReport` (NEW, then TRADE)
//! and `outboundAccountPosition` unwrapped with Binance's keys after orders
//! placed over REST, the connections-per-key limit, a deleted key's stream
//! closed (and so is an API key's, when the API key is deleted), and an
//! expired key's `listenKeyExpired`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::ws::{next, next_where, Ws, WAIT};
use common::Up;

/// Every field Binance's `executionReport` carries.
const EXECUTION_REPORT_KEYS: &str =
    "C,E,F,I,L,M,N,O,P,Q,S,T,V,W,X,Y,Z,c,e,f,g,i,l,m,n,o,p,q,r,s,t,w,x,z";

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replacen("http://", "ws://", 1))
}

async fn connect(base: &str, path: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(base, path))
        .await
        .unwrap_or_else(|e| panic!("connecting to {path}: {e}"));
    ws
}

/// The HTTP status of a refused upgrade.
async fn refused(base: &str, path: &str) -> u16 {
    match tokio_tungstenite::connect_async(ws_url(base, path)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("{path}: expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("{path}: expected a refusal, got a connection"),
    }
}

/// The close frame (code, reason), skipping what comes before it.
async fn closed(ws: &mut Ws) -> (u16, String, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(f)))) => {
                return (u16::from(f.code), f.reason.to_string(), before)
            }
            Some(Ok(Message::Close(None))) | None => return (0, String::new(), before),
            Some(Ok(Message::Text(t))) => before.push(serde_json::from_str(t.as_str()).unwrap()),
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

/// Registers, logs in and funds a user; its access token.
async fn login(c: &reqwest::Client, base: &str, email: &str, asset: &str) -> String {
    let creds = json!({ "email": email, "password": "a long enough passphrase" });
    let register = c.post(format!("{base}/api/v1/auth/register")).json(&creds);
    let (s, v) = call(c, register).await;
    assert!(s == 201 || s == 409, "{v}");
    let (s, v) = call(c, c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    let req = c
        .post(format!("{base}/api/v1/wallet/faucet"))
        .bearer_auth(&access)
        .json(&json!({ "asset": asset }));
    let (s, v) = call(c, req).await;
    assert_eq!(s, 201, "{v}");
    access
}

async fn api_key(c: &reqwest::Client, base: &str, token: &str) -> String {
    api_key_and_id(c, base, token).await.0
}

async fn api_key_and_id(c: &reqwest::Client, base: &str, token: &str) -> (String, u64) {
    let req = c
        .post(format!("{base}/api/v1/account/api-keys"))
        .bearer_auth(token)
        .json(&json!({ "label": "listenKey" }));
    let (s, key) = call(c, req).await;
    assert_eq!(s, 201, "{key}");
    (
        key["api_key"].as_str().unwrap().to_string(),
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

/// `method /api/v3/userDataStream[?query]` with the API-key header alone.
async fn stream_call(
    c: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    key: &str,
    query: &str,
) -> (u16, Value) {
    let url = format!("{base}/api/v3/userDataStream{query}");
    call(c, c.request(method, url).header("X-MBX-APIKEY", key)).await
}

fn keys_of(v: &Value) -> String {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.join(",")
}

fn new_key(v: &Value) -> String {
    let k = v["listenKey"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(
        k.len() == 60 && k.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{k}"
    );
    k.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_keys_their_errors_and_the_events_of_rest_orders() {
    use reqwest::Method;
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let seller = login(&c, &base, "lk-seller@example.com", "BTC").await;
    let buyer = login(&c, &base, "lk-buyer@example.com", "USDT").await;
    let key = api_key(&c, &base, &seller).await;
    let other = api_key(&c, &base, &buyer).await;

    // Create: the API-key header, no signature; a second POST reuses the key.
    let (s, v) = stream_call(&c, &base, Method::POST, &key, "").await;
    assert_eq!(s, 200, "{v}");
    let lk = new_key(&v);
    assert_eq!(keys_of(&v), "listenKey");
    let (_, again) = stream_call(&c, &base, Method::POST, &key, "").await;
    assert_eq!(again["listenKey"], json!(lk), "one live key per API key");
    // A Bearer session has a key of its own.
    let req = c
        .post(format!("{base}/api/v3/userDataStream"))
        .bearer_auth(&seller);
    let (s, v) = call(&c, req).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(new_key(&v), lk);
    // No credentials, a malformed key.
    let (s, _) = call(&c, c.post(format!("{base}/api/v3/userDataStream"))).await;
    assert_eq!(s, 401);
    let (s, v) = stream_call(&c, &base, Method::POST, "not a key", "").await;
    assert_eq!((s, &v["code"]), (401, &json!(-2014)), "{v}");

    // Keepalive: the key is mandatory, must exist, and be the caller's.
    let (s, v) = stream_call(&c, &base, Method::PUT, &key, "").await;
    assert_eq!((s, &v["code"]), (400, &json!(-1102)), "{v}");
    let unknown = "Z".repeat(60);
    let (s, v) = stream_call(
        &c,
        &base,
        Method::PUT,
        &key,
        &format!("?listenKey={unknown}"),
    )
    .await;
    assert_eq!(
        (s, &v),
        (
            400,
            &json!({"code": -1125, "msg": "This listenKey does not exist."})
        )
    );
    let (s, v) = stream_call(&c, &base, Method::PUT, &other, &format!("?listenKey={lk}")).await;
    assert_eq!(
        (s, &v["code"]),
        (400, &json!(-1125)),
        "another user's key: {v}"
    );
    let (s, v) = stream_call(&c, &base, Method::PUT, &key, &format!("?listenKey={lk}")).await;
    assert_eq!((s, &v), (200, &json!({})));

    // The streams: raw, and under /stream/ws (ccxt's spot URL); unknown keys refused.
    let mut raw = connect(&base, &format!("/ws/{lk}")).await;
    let mut spot = connect(&base, &format!("/stream/ws/{lk}")).await;
    assert_eq!(refused(&base, &format!("/ws/{unknown}")).await, 400);
    // A market stream path still reaches the market streams, where a
    // listenKey SUBSCRIBE (binance-connector's `user_data`) is pointed here.
    let mut market = connect(&base, "/ws/btcusdt@trade").await;
    let subscribe = json!({"method": "SUBSCRIBE", "params": [lk], "id": 1});
    market
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let r = next(&mut market).await;
    assert_eq!((&r["code"], &r["id"]), (&json!(2), &json!(1)), "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(msg.contains("/ws/<listenKey>") && !msg.contains(&lk), "{r}");
    drop(market);

    // A resting sell over REST: NEW with every field, then the locked BTC.
    order(
        &c,
        &base,
        &seller,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=60000&quantity=0.01&newClientOrderId=lk-maker",
    )
    .await;
    let new = next_where(&mut raw, |m| m["e"] == "executionReport").await;
    assert_eq!(keys_of(&new), EXECUTION_REPORT_KEYS, "unwrapped: {new}");
    assert_eq!(
        (&new["x"], &new["X"], &new["c"], &new["s"], &new["S"]),
        (
            &json!("NEW"),
            &json!("NEW"),
            &json!("lk-maker"),
            &json!("BTCUSDT"),
            &json!("SELL")
        ),
        "{new}"
    );
    let pos = next_where(&mut raw, |m| m["e"] == "outboundAccountPosition").await;
    assert_eq!(keys_of(&pos), "B,E,e,u", "{pos}");
    let btc = pos["B"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["a"] == "BTC")
        .unwrap_or_else(|| panic!("{pos}"))
        .clone();
    assert_eq!(keys_of(&btc), "a,f,l");
    assert!(btc["l"].as_str().unwrap().starts_with("0.01"), "{pos}");
    let same = next_where(&mut spot, |m| m["e"] == "executionReport").await;
    assert_eq!(same, new, "both connections of the key get the event");

    // The buyer fills it: TRADE, FILLED, the maker's side.
    order(
        &c,
        &base,
        &buyer,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=60000&quantity=0.01",
    )
    .await;
    let fill = next_where(&mut raw, |m| {
        m["e"] == "executionReport" && m["x"] == "TRADE"
    })
    .await;
    assert_eq!(
        (&fill["X"], &fill["m"], &fill["c"], &fill["N"]),
        (
            &json!("FILLED"),
            &json!(true),
            &json!("lk-maker"),
            &json!("USDT")
        ),
        "{fill}"
    );
    assert!(fill["l"].as_str().unwrap().starts_with("0.01"), "{fill}");
    assert!(fill["t"].as_i64().unwrap() > 0, "{fill}");
    let pos = next_where(&mut raw, |m| m["e"] == "outboundAccountPosition").await;
    assert!(
        pos["B"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["a"] == "USDT"),
        "{pos}"
    );

    // At most 5 connections per key: 2 held, 3 more, then 429.
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push(connect(&base, &format!("/ws/{lk}")).await);
    }
    assert_eq!(refused(&base, &format!("/ws/{lk}")).await, 429);
    drop(more);

    // Delete: only the owner's; the streams are closed; the key is gone.
    let q = format!("?listenKey={lk}");
    let (s, v) = stream_call(&c, &base, Method::DELETE, &other, &q).await;
    assert_eq!((s, &v["code"]), (400, &json!(-1125)), "{v}");
    let (s, v) = stream_call(&c, &base, Method::DELETE, &key, "").await;
    assert_eq!((s, &v["code"]), (400, &json!(-1102)), "{v}");
    let (s, v) = stream_call(&c, &base, Method::DELETE, &key, &q).await;
    assert_eq!((s, &v), (200, &json!({})));
    for ws in [&mut raw, &mut spot] {
        let (code, reason, _) = closed(ws).await;
        assert_eq!(
            (code, reason.as_str()),
            (u16::from(CloseCode::Normal), "listenKey closed")
        );
    }
    let (s, v) = stream_call(&c, &base, Method::DELETE, &key, &q).await;
    assert_eq!((s, &v["code"]), (400, &json!(-1125)), "{v}");
    let (s, v) = stream_call(&c, &base, Method::PUT, &key, &q).await;
    assert_eq!((s, &v["code"]), (400, &json!(-1125)), "{v}");
    assert_eq!(refused(&base, &format!("/ws/{lk}")).await, 400);
    // The next POST makes a new key.
    let (_, v) = stream_call(&c, &base, Method::POST, &key, "").await;
    assert_ne!(new_key(&v), lk);

    // Deleting an API key ends its listenKey and the key's streams.
    let (doomed, id) = api_key_and_id(&c, &base, &buyer).await;
    let (_, v) = stream_call(&c, &base, Method::POST, &doomed, "").await;
    let doomed_lk = new_key(&v);
    let mut ws = connect(&base, &format!("/ws/{doomed_lk}")).await;
    let req = c
        .delete(format!("{base}/api/v1/account/api-keys/{id}"))
        .bearer_auth(&buyer);
    let (s, v) = call(&c, req).await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let (code, reason, _) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (u16::from(CloseCode::Normal), "listenKey closed")
    );
    assert_eq!(refused(&base, &format!("/ws/{doomed_lk}")).await, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_listen_key_says_so_and_closes() {
    use reqwest::Method;
    let env = [("FLOWEX_WEBSOCKET__LISTEN_KEY_TTL_SECS", "2")];
    let up = Up::start_fresh_with(&["--no-bot"], &env);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let user = login(&c, &base, "lk-expiry@example.com", "USDT").await;
    let key = api_key(&c, &base, &user).await;
    let (_, v) = stream_call(&c, &base, Method::POST, &key, "").await;
    let lk = new_key(&v);
    let mut ws = connect(&base, &format!("/ws/{lk}")).await;
    let started = Instant::now();
    let (code, reason, before) = closed(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (u16::from(CloseCode::Normal), "listenKey expired")
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "closed too soon"
    );
    let expired = before
        .last()
        .unwrap_or_else(|| panic!("no event: {before:?}"));
    assert_eq!(keys_of(expired), "E,e,listenKey", "{expired}");
    assert_eq!(
        (&expired["e"], &expired["listenKey"]),
        (&json!("listenKeyExpired"), &json!(lk))
    );
    let (s, v) = stream_call(&c, &base, Method::PUT, &key, &format!("?listenKey={lk}")).await;
    assert_eq!((s, &v["code"]), (400, &json!(-1125)), "{v}");
    // The API key's next POST makes a new key.
    let (_, v) = stream_call(&c, &base, Method::POST, &key, "").await;
    assert_ne!(new_key(&v), lk);
}
