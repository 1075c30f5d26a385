//! The Binance WebSocket market streams of `flowex up`, over real
//! WebSockets on loopback: payloads after real trades, a local book built
//! from the diff stream that equals REST `depth` exactly after random
//! trading, the control messages and their errors, and every connection
//! rule (streams, message rate, pongs, slow consumer, connections per IP
//! and in total, age, `serverShutdown`) with its close code and reason.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::ws::{next, next_where, Ws, WAIT};
use common::Up;

fn ws_url(up: &Up, path: &str) -> String {
    format!("{}{path}", up.base.replacen("http://", "ws://", 1))
}

async fn connect(up: &Up, path: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(up, path))
        .await
        .unwrap_or_else(|e| panic!("connecting to {path}: {e}"));
    ws
}

/// The next text message as sent (to check the order of its keys).
async fn next_raw(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Close(c))) => panic!("closed: {c:?}"),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn request(ws: &mut Ws, v: Value) -> Value {
    send(ws, v).await;
    next_where(ws, |m| m.get("id").is_some() || m.get("code").is_some()).await
}

/// Reads until the server's close frame: (code, reason).
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

async fn login(c: &reqwest::Client, base: &str, email: &str, asset: &str) -> String {
    let creds = json!({ "email": email, "password": "a long enough passphrase" });
    let (s, v) = call(
        c,
        c.post(format!("{base}/api/v1/auth/register")).json(&creds),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(c, c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let req = c
            .post(format!("{base}/api/v1/wallet/faucet"))
            .bearer_auth(&token)
            .json(&json!({ "asset": asset }));
        let (s, v) = call(c, req).await;
        assert_eq!(s, 201, "{v}");
    }
    token
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

async fn rest_depth(c: &reqwest::Client, base: &str) -> Value {
    let (s, v) = call(
        c,
        c.get(format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=5000")),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The keys of a JSON object's text, in the order they were sent.
fn keys(raw: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    if !raw.starts_with('{') {
        return Vec::new(); // an array
    }
    serde_json::from_str::<Keys>(raw).unwrap().0
}

/// A WebSocket client that never reads after the handshake (so it never
/// answers a ping); `closed_frame` later reads what the server sent.
async fn silent_client(up: &Up) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = up.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let hello = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(hello.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// Everything the server sent until it hung up, and the close frame's
/// code and reason in it.
async fn closed_frame(mut tcp: tokio::net::TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    close_in(&bytes)
}

/// The close frame's code and reason among unmasked server frames
/// (FIN+opcode, a 7-bit length or 126 + 16 bits or 127 + 64 bits, payload).
fn close_in(bytes: &[u8]) -> (u16, String) {
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let op = bytes[at] & 0x0f;
        let (len, head) = match bytes[at + 1] & 0x7f {
            126 if at + 4 <= bytes.len() => (
                usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                4,
            ),
            127 if at + 10 <= bytes.len() => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[at + 2..at + 10]);
                (usize::try_from(u64::from_be_bytes(n)).unwrap(), 10)
            }
            n => (usize::from(n), 2),
        };
        let payload = &bytes[(at + head).min(bytes.len())..(at + head + len).min(bytes.len())];
        if op == 8 && payload.len() >= 2 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
        }
        at += head + len;
    }
    panic!("no close frame in {} bytes", bytes.len())
}

/// A client with a small receive buffer that reads `chunk` bytes every
/// 100 ms until the server hangs up; returns everything it read.
async fn slow_reader(up: &Up, path: &str, chunk: usize) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr: std::net::SocketAddr = up.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let hello = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(hello.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    bytes.split_off(body)
}

/// The text of the object under `"key":` (the last key of its object:
/// `data` of a combined message, `k` of a kline).
fn inner<'a>(raw: &'a str, key: &str) -> &'a str {
    let at = raw.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    &raw[at..raw.len() - 1]
}

/// The next message satisfying `want`, as JSON and as text.
async fn next_raw_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> (Value, String) {
    let deadline = Instant::now() + WAIT;
    let mut seen = std::collections::BTreeMap::new();
    loop {
        let raw = next_raw(ws).await;
        let v: Value = serde_json::from_str(&raw).unwrap();
        if want(&v) {
            return (v, raw);
        }
        seen.insert(v["stream"].to_string(), v.clone());
        assert!(
            Instant::now() < deadline,
            "never came; last {v}; streams seen {seen:?}"
        );
    }
}

#[tokio::test]
async fn streams_carry_real_trades_exactly() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let names = [
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@bookTicker",
        "btcusdt@kline_1m",
        "btcusdt@ticker",
        "btcusdt@miniTicker",
        "btcusdt@avgPrice",
        "btcusdt@depth5@100ms",
        "btcusdt@depth@100ms",
        "!miniTicker@arr",
    ];
    let mut combined = connect(&up, &format!("/stream?streams={}", names.join("/"))).await;
    // ccxt.pro's way: any path under /ws, then SUBSCRIBE.
    let mut raw = connect(&up, "/stream/ws/0").await;
    send(
        &mut raw,
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}),
    )
    .await;
    assert_eq!(next_raw(&mut raw).await, r#"{"result":null,"id":1}"#);
    let r = request(
        &mut raw,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": "list"}),
    )
    .await;
    assert_eq!(r, json!({"result": ["btcusdt@trade"], "id": "list"}));

    let seller = login(&c, &base, "seller@example.com", "BTC").await;
    let buyer = login(&c, &base, "buyer@example.com", "USDT").await;
    let sell = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=60000";
    order(&c, &base, &seller, &format!("{sell}&quantity=0.01")).await;
    order(&c, &base, &seller, &format!("{sell}&quantity=0.02")).await;
    let buy = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=60000&quantity=0.025";
    order(&c, &base, &buyer, buy).await;
    let (_, trades) = call(&c, c.get(format!("{base}/api/v3/trades?symbol=BTCUSDT"))).await;
    let first = trades[0]["id"].as_u64().unwrap();

    let (t, text) = next_raw_where(&mut raw, |_| true).await;
    assert_eq!(
        keys(&text),
        ["e", "E", "s", "t", "p", "q", "T", "m", "M"],
        "{t}"
    );
    assert_eq!(
        (&t["e"], &t["s"], &t["t"], &t["p"], &t["q"], &t["m"], &t["M"]),
        (
            &json!("trade"),
            &json!("BTCUSDT"),
            &json!(first),
            &json!("60000.00000000"),
            &json!("0.01000000"),
            &json!(false),
            &json!(true)
        )
    );
    assert_eq!(t["T"], trades[0]["time"]);
    let t2 = next(&mut raw).await;
    assert_eq!(
        (&t2["t"], &t2["q"]),
        (&json!(first + 1), &json!("0.01500000"))
    );

    // One pass over the combined connection: per stream, the first message
    // that satisfies its test (diffs and the array are pushed only on
    // change), with the data's keys in the order sent.
    type Want<'a> = (&'a str, Box<dyn Fn(&Value) -> bool + 'a>);
    async fn collect(ws: &mut Ws, wants: Vec<Want<'_>>) -> BTreeMap<String, (Value, String)> {
        let mut got = BTreeMap::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < wants.len() {
            let raw = next_raw(ws).await;
            let m: Value = serde_json::from_str(&raw).unwrap();
            let stream = m["stream"].as_str().unwrap().to_string();
            assert!(
                raw.starts_with(&format!(r#"{{"stream":"{stream}","data":"#)),
                "{raw}"
            );
            let wanted = wants
                .iter()
                .any(|(s, want)| *s == stream && want(&m["data"]));
            if wanted && !got.contains_key(&stream) {
                got.insert(stream, (m["data"].clone(), inner(&raw, "data").to_string()));
            }
            assert!(Instant::now() < deadline, "only {:?} came", got.keys());
        }
        got
    }
    let book = rest_depth(&c, &base).await;
    let any = || Box::new(|_: &Value| true) as Box<dyn Fn(&Value) -> bool>;
    let got = collect(
        &mut combined,
        vec![
            ("btcusdt@aggTrade", any()),
            (
                "btcusdt@bookTicker",
                Box::new(|d: &Value| d["u"] == book["lastUpdateId"]),
            ),
            ("btcusdt@kline_1m", Box::new(|d: &Value| d["k"]["n"] == 2)),
            ("btcusdt@ticker", Box::new(|d: &Value| d["n"] == 2)),
            (
                "btcusdt@miniTicker",
                Box::new(|d: &Value| d["v"] == "0.02500000"),
            ),
            ("!miniTicker@arr", any()),
            (
                "btcusdt@avgPrice",
                Box::new(|d: &Value| d["w"] == "60000.00000000"),
            ),
            (
                "btcusdt@depth5@100ms",
                Box::new(|d: &Value| d["lastUpdateId"] == book["lastUpdateId"]),
            ),
            ("btcusdt@depth@100ms", any()),
        ],
    )
    .await;
    let on = |stream: &str| {
        let (v, raw) = &got[stream];
        (v.clone(), keys(raw))
    };
    let (a, k) = on("btcusdt@aggTrade");
    assert_eq!(
        k,
        ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"],
        "{a}"
    );
    assert_eq!(
        (&a["a"], &a["p"], &a["q"], &a["f"], &a["l"], &a["m"]),
        (
            &json!(first),
            &json!("60000.00000000"),
            &json!("0.02500000"),
            &json!(first),
            &json!(first + 1),
            &json!(false)
        )
    );
    let (bt, k) = on("btcusdt@bookTicker");
    assert_eq!(k, ["u", "s", "b", "B", "a", "A"]);
    assert_eq!(
        (&bt["a"], &bt["A"], &bt["B"]),
        (
            &json!("60000.00000000"),
            &json!("0.00500000"),
            &json!("0.00000000")
        )
    );

    let (kline, data) = &got["btcusdt@kline_1m"];
    assert_eq!(keys(data), ["e", "E", "s", "k"]);
    assert_eq!(
        keys(inner(data, "k")),
        ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]
    );
    let open = trades[0]["time"].as_i64().unwrap() / 60_000 * 60_000;
    // Closed when the minute ended between the trades and the push (the
    // event time says which).
    let closed = kline["E"].as_i64().unwrap() > open + 59_999;
    let mut k = kline["k"].clone();
    assert_eq!(k["x"], json!(closed), "{kline}");
    k["x"] = json!(false);
    assert_eq!(
        k,
        json!({"t": open, "T": open + 59_999, "s": "BTCUSDT", "i": "1m", "f": first, "L": first + 1,
               "o": "60000.00000000", "c": "60000.00000000", "h": "60000.00000000", "l": "60000.00000000",
               "v": "0.02500000", "n": 2, "x": false, "q": "1500.00000000", "V": "0.02500000",
               "Q": "1500.00000000", "B": "0"})
    );
    let (tk, k) = on("btcusdt@ticker");
    assert_eq!(
        k,
        [
            "e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v",
            "q", "O", "C", "F", "L", "n"
        ]
    );
    assert_eq!(
        (
            &tk["e"], &tk["c"], &tk["Q"], &tk["v"], &tk["q"], &tk["p"], &tk["P"], &tk["F"],
            &tk["L"]
        ),
        (
            &json!("24hrTicker"),
            &json!("60000.00000000"),
            &json!("0.01500000"),
            &json!("0.02500000"),
            &json!("1500.00000000"),
            &json!("0.00000000"),
            &json!("0.000"),
            &json!(first),
            &json!(first + 1)
        )
    );
    assert_eq!(
        (&tk["a"], &tk["A"], &tk["w"]),
        (
            &json!("60000.00000000"),
            &json!("0.00500000"),
            &json!("60000.00000000")
        )
    );
    let (_, k) = on("btcusdt@miniTicker");
    assert_eq!(k, ["e", "E", "s", "c", "o", "h", "l", "v", "q"]);
    let (arr, _) = on("!miniTicker@arr");
    assert_eq!(
        arr.as_array().map(Vec::len),
        Some(1),
        "only the market that traded: {arr}"
    );
    assert_eq!(arr[0]["s"], "BTCUSDT");
    let (avg, k) = on("btcusdt@avgPrice");
    assert_eq!(k, ["e", "E", "s", "i", "w", "T"]);
    assert_eq!(
        (&avg["i"], &avg["w"], &avg["T"]),
        (&json!("5m"), &json!("60000.00000000"), &trades[1]["time"])
    );
    let (part, k) = on("btcusdt@depth5@100ms");
    assert_eq!(
        part["asks"],
        json!([["60000.00000000", "0.00500000"]]),
        "{part}"
    );
    assert_eq!(
        (&part["bids"], &part["lastUpdateId"]),
        (&json!([]), &book["lastUpdateId"])
    );
    assert_eq!(k, ["lastUpdateId", "bids", "asks"]);
    let (diff, k) = on("btcusdt@depth@100ms");
    assert_eq!(k, ["e", "E", "s", "U", "u", "b", "a"]);
    assert_eq!(diff["e"], "depthUpdate");
}

/// A tiny seeded generator (no dependency needed for a fixed sequence).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

type Book = (BTreeMap<String, String>, BTreeMap<String, String>);

fn apply_levels(side: &mut BTreeMap<String, String>, levels: &Value) {
    for l in levels.as_array().unwrap() {
        let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
        if q.bytes().all(|b| b == b'0' || b == b'.') {
            side.remove(p);
        } else {
            side.insert(p.to_string(), q.to_string());
        }
    }
}

fn book_of(depth: &Value) -> Book {
    let mut book = Book::default();
    apply_levels(&mut book.0, &depth["bids"]);
    apply_levels(&mut book.1, &depth["asks"]);
    book
}

#[tokio::test]
async fn a_book_from_snapshot_and_diffs_equals_rest_depth_under_trading() {
    let seed = 20_261_202;
    println!("seed {seed}");
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let seller = login(&c, &base, "seller@example.com", "BTC").await;
    let buyer = login(&c, &base, "buyer@example.com", "USDT").await;
    let mut rng = Lcg(seed);
    let random_order = async |rng: &mut Lcg| {
        let sell = rng.below(2) == 0;
        let price = 59_990 + rng.below(21);
        let qty = format!("0.00{}", 1 + rng.below(9));
        let form = format!(
            "symbol=BTCUSDT&side={}&type=LIMIT&timeInForce=GTC&price={price}&quantity={qty}",
            if sell { "SELL" } else { "BUY" }
        );
        order(&c, &base, if sell { &seller } else { &buyer }, &form).await;
    };
    for _ in 0..20 {
        random_order(&mut rng).await;
    }
    // Binance's procedure: subscribe, buffer, then the snapshot.
    let mut ws = connect(&up, "/ws/btcusdt@depth@100ms").await;
    for _ in 0..10 {
        random_order(&mut rng).await;
    }
    let snap = rest_depth(&c, &base).await;
    let mut last = snap["lastUpdateId"].as_u64().unwrap();
    let mut book = book_of(&snap);
    for _ in 0..60 {
        random_order(&mut rng).await;
    }
    let end = rest_depth(&c, &base).await;
    let end_id = end["lastUpdateId"].as_u64().unwrap();
    let mut first_applied = true;
    while last < end_id {
        let ev = next(&mut ws).await;
        let (from, to) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
        if to <= last {
            continue; // older than the snapshot
        }
        if first_applied {
            assert!(
                from <= last + 1 && last < to,
                "first event {from}..{to} after {last} (seed {seed})"
            );
            first_applied = false;
        } else {
            assert_eq!(from, last + 1, "a gap in the diff stream (seed {seed})");
        }
        apply_levels(&mut book.0, &ev["b"]);
        apply_levels(&mut book.1, &ev["a"]);
        last = to;
    }
    assert_eq!(last, end_id, "seed {seed}");
    assert_eq!(book, book_of(&end), "seed {seed}");
    assert!(
        !book.0.is_empty() && !book.1.is_empty(),
        "a two-sided book: {end}"
    );
}

#[tokio::test]
async fn control_messages_and_their_errors() {
    let up = Up::start_fresh(&["--no-bot"]);
    let mut ws = connect(&up, "/ws").await;
    let cases = [
        ("{not json", json!(3), None),
        (r#"{"method":"FOO","id":7}"#, json!(2), Some(json!(7))),
        (
            r#"{"method":"SUBSCRIBE","params":["btcusdt@nothing"],"id":8}"#,
            json!(2),
            Some(json!(8)),
        ),
        (
            r#"{"method":"SUBSCRIBE","params":["nosuchpair@trade"],"id":9}"#,
            json!(2),
            Some(json!(9)),
        ),
        (
            r#"{"method":"SUBSCRIBE","params":"btcusdt@trade","id":10}"#,
            json!(2),
            Some(json!(10)),
        ),
        (
            r#"{"method":"SUBSCRIBE","params":[],"id":-1}"#,
            json!(2),
            None,
        ),
        (
            r#"{"method":"SUBSCRIBE","params":[],"id":true}"#,
            json!(2),
            None,
        ),
        (
            r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":11}"#,
            json!(1),
            Some(json!(11)),
        ),
        (
            r#"{"method":"SET_PROPERTY","params":["colour",true],"id":12}"#,
            json!(0),
            Some(json!(12)),
        ),
        (
            r#"{"method":"GET_PROPERTY","params":[5],"id":13}"#,
            json!(2),
            Some(json!(13)),
        ),
        (
            r#"{"method":"LIST_SUBSCRIPTIONS","id":14,"extra":1}"#,
            json!(2),
            Some(json!(14)),
        ),
        (r#"{"params":[],"id":15}"#, json!(2), Some(json!(15))),
    ];
    for (text, code, id) in cases {
        ws.send(Message::Text(text.into())).await.unwrap();
        let r = next(&mut ws).await;
        assert_eq!(r["code"], code, "{text}: {r}");
        assert!(r["msg"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        assert_eq!(r.get("id").cloned(), id, "{text}: {r}");
        // Slow enough for the 5-per-second rule.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let long_id = "x".repeat(37);
    let r = request(
        &mut ws,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": long_id}),
    )
    .await;
    assert_eq!(r["code"], 2, "{r}");
    send(
        &mut ws,
        json!({"method": "GET_PROPERTY", "params": ["combined"], "id": null}),
    )
    .await;
    assert_eq!(next_raw(&mut ws).await, r#"{"result":false,"id":null}"#);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = request(
        &mut ws,
        json!({"method": "SET_PROPERTY", "params": ["combined", true], "id": "a"}),
    )
    .await;
    assert_eq!(r, json!({"result": null, "id": "a"}));
    let r = request(
        &mut ws,
        json!({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}),
    )
    .await;
    assert_eq!(r, json!({"result": true, "id": 2}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = request(&mut ws, json!({"method": "SUBSCRIBE", "params": ["btcusdt@depth5@100ms", "ethusdt@bookTicker"], "id": 3})).await;
    assert_eq!(r, json!({"result": null, "id": 3}));
    // Combined now: messages come wrapped.
    let m = next_where(&mut ws, |m| m["stream"] == "btcusdt@depth5@100ms").await;
    assert!(m["data"]["lastUpdateId"].is_u64(), "{m}");
    let r = request(
        &mut ws,
        json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth5@100ms"], "id": 4}),
    )
    .await;
    assert_eq!(r, json!({"result": null, "id": 4}));
    let r = request(&mut ws, json!({"method": "LIST_SUBSCRIPTIONS", "id": 5})).await;
    assert_eq!(r, json!({"result": ["ethusdt@bookTicker"], "id": 5}));

    // Bad names in a combined URL are refused before the upgrade.
    let url = ws_url(&up, "/stream?streams=btcusdt@trade/btcusdt@bogus");
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_rules_close_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("FLOWEX_WEBSOCKET__MAX_STREAMS", "3"),
        ("FLOWEX_WEBSOCKET__MAX_CONNECTIONS_PER_IP", "3"),
        ("FLOWEX_WEBSOCKET__PING_INTERVAL_SECS", "1"),
        ("FLOWEX_WEBSOCKET__PONG_TIMEOUT_SECS", "3"),
        ("FLOWEX_WEBSOCKET__MAX_AGE_SECS", "8"),
    ];
    let mut up = Up::start_with(dir.path(), &["--no-bot"], &env);

    // More streams than allowed: the error, then the close.
    let mut ws = connect(&up, "/ws/0").await;
    let names = [
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@ticker",
        "btcusdt@depth",
    ];
    let r = request(
        &mut ws,
        json!({"method": "SUBSCRIBE", "params": names, "id": 1}),
    )
    .await;
    assert_eq!((&r["code"], &r["id"]), (&json!(2), &json!(1)), "{r}");
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("too many streams"), "{reason}");
    drop(ws);

    // More than 5 messages in a second.
    let mut ws = connect(&up, "/ws").await;
    for i in 0..7 {
        send(&mut ws, json!({"method": "LIST_SUBSCRIPTIONS", "id": i})).await;
    }
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy));
    assert!(reason.contains("too many messages"), "{reason}");
    drop(ws);

    // A client that never answers the pings (it does not read) is closed.
    let silent = silent_client(&up).await;
    // A client that reads (and so pongs) stays.
    let mut alive = connect(&up, "/ws").await;
    let started = Instant::now();
    let r = request(&mut alive, json!({"method": "LIST_SUBSCRIPTIONS", "id": 1})).await;
    assert_eq!(r["result"], json!([]));

    // A fourth connection from this IP is refused.
    let third = connect(&up, "/ws").await;
    match tokio_tungstenite::connect_async(ws_url(&up, "/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 429);
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], -1003, "{body}");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    drop(third);
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(Ok(Message::Ping(_)))) =
            tokio::time::timeout(Duration::from_millis(200), alive.next()).await
        {
            pings += 1;
        }
    }
    assert!(pings >= 3, "the server pings every second: {pings}");
    let (code, reason) = closed_frame(silent).await;
    assert_eq!(code, u16::from(CloseCode::Policy));
    assert!(reason.contains("no pong"), "{reason}");

    // The maximum age ends even a healthy connection.
    let (code, reason) = closed(&mut alive).await;
    assert_eq!(code, u16::from(CloseCode::Normal));
    assert!(reason.contains("maximum connection age"), "{reason}");
    assert!(started.elapsed() >= Duration::from_secs(7));

    // A graceful stop says so first.
    let mut ws = connect(&up, "/ws").await;
    let r = request(&mut ws, json!({"method": "LIST_SUBSCRIPTIONS", "id": 1})).await;
    assert_eq!(r["result"], json!([]));
    let stopper = std::thread::spawn(move || up.terminate());
    let note = next(&mut ws).await;
    assert_eq!(note["e"], "serverShutdown", "{note}");
    assert!(note["E"].is_i64());
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Away), "{reason}");
    assert!(stopper.join().unwrap().success());
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_a_reason_and_the_total_limit_holds() {
    let dir = tempfile::tempdir().unwrap();
    // A queue of one message: three streams pushed in the same 100 ms tick
    // overflow it as soon as the connection falls behind by one.
    let env = [
        ("FLOWEX_WEBSOCKET__SEND_QUEUE", "1"),
        ("FLOWEX_WEBSOCKET__MAX_CONNECTIONS", "2"),
    ];
    let up = Up::start_with(dir.path(), &["--no-bot"], &env);
    // A client on one stream a second keeps up with a queue of one.
    let mut healthy = connect(&up, "/ws/btcusdt@depth20").await;
    let streams =
        "/stream?streams=btcusdt@depth20@100ms/btcusdt@depth10@100ms/btcusdt@depth5@100ms";
    let read = slow_reader(&up, streams, 64).await;
    let (code, reason) = close_in(&read);
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    // The other client still gets its stream.
    for _ in 0..2 {
        let v = next(&mut healthy).await;
        assert!(v["lastUpdateId"].is_u64(), "{v}");
    }
    // Two connections in total: a third is refused with 503 (-1008).
    let _second = connect(&up, "/ws").await;
    match tokio_tungstenite::connect_async(ws_url(&up, "/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 503);
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], -1008, "{body}");
        }
        other => panic!("expected 503, got {other:?}"),
    }
}
