//! The public market data of `flowex up` over real HTTP: after trades
//! through the public API, `depth`, `trades`, `aggTrades`, `klines`,
//! `avgPrice` and the tickers show exactly those trades, and `depth`'s
//! `lastUpdateId` counts every book change; after a restart (a kill) the
//! trades and candles come back from SQL and the book from the engine.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

mod common;

use common::Up;

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    call(c, c.get(format!("{base}{path}"))).await
}

/// Polls a public GET until `done` holds (the feed follows the engine
/// asynchronously), with a generous deadline.
async fn until(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = get(c, base, path).await;
        if s == 200 && done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {s} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login(c: &reqwest::Client, base: &str, email: &str) -> String {
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
    let asset = if email.starts_with("seller") {
        "BTC"
    } else {
        "USDT"
    };
    let req = c
        .post(format!("{base}/api/v1/wallet/faucet"))
        .bearer_auth(&token)
        .json(&json!({ "asset": asset }));
    let (s, v) = call(c, req).await;
    assert_eq!(s, 201, "{v}");
    token
}

async fn order(c: &reqwest::Client, base: &str, token: &str, form: &str) -> Value {
    let req = c
        .post(format!("{base}/api/v3/order"))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string());
    let (s, v) = call(c, req).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn update_id(v: &Value) -> u64 {
    v["lastUpdateId"].as_u64().unwrap()
}

#[tokio::test]
async fn market_data_shows_exactly_the_trades_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(dir.path(), &["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());

    // Before any order: an empty book and no trades.
    let depth = until(&c, &base, "/api/v3/depth?symbol=BTCUSDT", |_| true).await;
    assert_eq!(depth["bids"], json!([]), "{depth}");
    assert_eq!(depth["asks"], json!([]), "{depth}");
    let u0 = update_id(&depth);
    let (s, v) = get(&c, &base, "/api/v3/trades?symbol=BTCUSDT").await;
    assert_eq!((s, v), (200, json!([])));

    let seller = login(&c, &base, "seller@example.com").await;
    let buyer = login(&c, &base, "buyer@example.com").await;
    let sell = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=60000";
    order(&c, &base, &seller, &format!("{sell}&quantity=0.01")).await;
    order(&c, &base, &seller, &format!("{sell}&quantity=0.02")).await;
    // Two orders at one price: one level, two book changes.
    let depth = until(&c, &base, "/api/v3/depth?symbol=BTCUSDT", |v| {
        update_id(v) == u0 + 2
    })
    .await;
    assert_eq!(
        depth["asks"],
        json!([["60000.00000000", "0.03000000"]]),
        "{depth}"
    );
    let (_, bt) = get(&c, &base, "/api/v3/ticker/bookTicker?symbol=BTCUSDT").await;
    assert_eq!(
        (
            bt["askPrice"].as_str(),
            bt["askQty"].as_str(),
            bt["bidQty"].as_str()
        ),
        (
            Some("60000.00000000"),
            Some("0.03000000"),
            Some("0.00000000")
        ),
        "{bt}"
    );

    // One taker order fills both makers at one price: two trades, one aggregate.
    let filled = order(
        &c,
        &base,
        &buyer,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.03&price=60000",
    )
    .await;
    assert_eq!(filled["status"], "FILLED", "{filled}");
    let depth = until(&c, &base, "/api/v3/depth?symbol=BTCUSDT", |v| {
        update_id(v) == u0 + 3
    })
    .await;
    assert_eq!(
        (depth["bids"].clone(), depth["asks"].clone()),
        (json!([]), json!([]))
    );

    let trades = until(&c, &base, "/api/v3/trades?symbol=BTCUSDT", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let shown: Vec<_> = trades
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["price"].as_str().unwrap().to_string(),
                t["qty"].as_str().unwrap().to_string(),
                t["quoteQty"].as_str().unwrap().to_string(),
                t["isBuyerMaker"].as_bool().unwrap(),
                t["isBestMatch"].as_bool().unwrap(),
            )
        })
        .collect();
    let row = |q: &str, quote: &str| ("60000.00000000".into(), q.into(), quote.into(), false, true);
    assert_eq!(
        shown,
        vec![
            row("0.01000000", "600.00000000"),
            row("0.02000000", "1200.00000000")
        ]
    );
    let (first, last) = (
        trades[0]["id"].as_u64().unwrap(),
        trades[1]["id"].as_u64().unwrap(),
    );
    assert_eq!(last, first + 1);
    let time = trades[1]["time"].as_i64().unwrap();

    let (s, aggs) = get(&c, &base, "/api/v3/aggTrades?symbol=BTCUSDT").await;
    assert_eq!(s, 200, "{aggs}");
    assert_eq!(
        aggs,
        json!([{ "a": first, "p": "60000.00000000", "q": "0.03000000", "f": first, "l": last,
                 "T": trades[0]["time"], "m": false, "M": true }])
    );
    // ccxt's fetch_trades(since): startTime and endTime an hour later.
    let path = format!(
        "/api/v3/aggTrades?symbol=BTCUSDT&startTime={}&endTime={}&limit=500",
        time - 60_000,
        time - 60_000 + 3_600_000
    );
    let (s, v) = get(&c, &base, &path).await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");

    let open = time - time.rem_euclid(60_000);
    let path = format!("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={open}&limit=1");
    let (s, k) = get(&c, &base, &path).await;
    assert_eq!(s, 200, "{k}");
    assert_eq!(
        k,
        json!([[
            open,
            "60000.00000000",
            "60000.00000000",
            "60000.00000000",
            "60000.00000000",
            "0.03000000",
            open + 59_999,
            "1800.00000000",
            2,
            "0.03000000",
            "1800.00000000",
            "0"
        ]])
    );
    let (s, k) = get(
        &c,
        &base,
        "/api/v3/uiKlines?symbol=BTCUSDT&interval=1M&startTime=0&limit=1",
    )
    .await;
    assert_eq!((s, &k[0][8]), (200, &json!(2)), "{k}");

    let (s, t) = get(&c, &base, "/api/v3/ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!(s, 200, "{t}");
    for (field, want) in [
        ("lastPrice", "60000.00000000"),
        ("openPrice", "60000.00000000"),
        ("priceChange", "0.00000000"),
        ("priceChangePercent", "0.000"),
        ("weightedAvgPrice", "60000.00000000"),
        ("lastQty", "0.02000000"),
        ("volume", "0.03000000"),
        ("quoteVolume", "1800.00000000"),
    ] {
        assert_eq!(t[field], want, "{field}: {t}");
    }
    assert_eq!(
        (
            t["firstId"].as_u64(),
            t["lastId"].as_u64(),
            t["count"].as_u64()
        ),
        (Some(first), Some(last), Some(2))
    );
    let (s, all) = get(&c, &base, "/api/v3/ticker/24hr").await;
    assert_eq!(s, 200);
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(4),
        "the four demo markets"
    );
    let (s, p) = get(
        &c,
        &base,
        r#"/api/v3/ticker/price?symbols=["BTCUSDT","ETHUSDT"]"#,
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        p[0],
        json!({"symbol": "BTCUSDT", "price": "60000.00000000"})
    );
    assert_eq!(p[1], json!({"symbol": "ETHUSDT", "price": "0.00000000"}));
    let (s, a) = get(&c, &base, "/api/v3/avgPrice?symbol=BTCUSDT").await;
    assert_eq!(s, 200);
    assert_eq!(
        a,
        json!({"mins": 5, "price": "60000.00000000", "closeTime": time})
    );
    let (s, e) = get(&c, &base, "/api/v3/depth?symbol=NOPEUSDT").await;
    assert_eq!(
        (s, e),
        (400, json!({"code": -1121, "msg": "Invalid symbol."}))
    );

    // A resting bid, then a restart from the journal and SQL after a kill.
    order(
        &c,
        &base,
        &buyer,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.05&price=59000.5",
    )
    .await;
    let depth = until(&c, &base, "/api/v3/depth?symbol=BTCUSDT", |v| {
        update_id(v) == u0 + 4
    })
    .await;
    assert_eq!(depth["bids"], json!([["59000.50000000", "0.05000000"]]));
    drop(up);

    let up = Up::start(dir.path(), &["--no-bot"]);
    let base = up.base.clone();
    let after = until(&c, &base, "/api/v3/depth?symbol=BTCUSDT", |_| true).await;
    assert_eq!(after, depth, "the book and its update id come back");
    let again = until(&c, &base, "/api/v3/trades?symbol=BTCUSDT", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(again, trades);
    let (_, k2) = get(&c, &base, &path).await;
    assert_eq!(k2[0][1], "60000.00000000", "{k2}");
    assert_eq!(k2[0][8], 2, "{k2}");
    let (_, aggs2) = get(&c, &base, "/api/v3/aggTrades?symbol=BTCUSDT").await;
    assert_eq!(aggs2, aggs);
}
