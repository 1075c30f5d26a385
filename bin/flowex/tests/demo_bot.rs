//! The demo market maker of `flowex up`: with it on, every demo market gets
//! a two-sided book and trades within seconds, all through the public API,
//! and BTCUSDT is deep enough for a 10 000 USDT market order; with
//! `--no-bot`, nothing happens on its own; an address banned for flooding
//! (127.0.0.1) does not stop it (it comes from 127.0.0.2).

use serde_json::Value;
use std::time::{Duration, Instant};

mod common;

use common::Up;

const SYMBOLS: [&str; 4] = ["BTCUSDT", "ETHUSDT", "ETHBTC", "SOLUSDT"];

/// The body of a 200 (`flowex up` announces itself once market data has
/// started, so not even a 503 is expected).
async fn get(c: &reqwest::Client, url: String) -> Value {
    let resp = c.get(&url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Per symbol: (bid levels, ask levels, trades).
async fn activity(c: &reqwest::Client, base: &str) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for s in SYMBOLS {
        let depth = get(c, format!("{base}/api/v3/depth?symbol={s}")).await;
        let trades = get(c, format!("{base}/api/v3/trades?symbol={s}")).await;
        let len = |v: &Value| v.as_array().map_or(0, Vec::len);
        out.push((len(&depth["bids"]), len(&depth["asks"]), len(&trades)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_quotes_every_demo_market_and_trades() {
    let up = Up::start_fresh(&[]);
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let seen = activity(&c, &up.base).await;
        let quoted = seen.iter().all(|&(b, a, _)| b > 0 && a > 0);
        let traded: usize = seen.iter().map(|&(_, _, t)| t).sum();
        if quoted && traded > 0 {
            // Quotes bracket each other: the bot never leaves a crossed book.
            for s in SYMBOLS {
                let d = get(&c, format!("{}/api/v3/depth?symbol={s}&limit=5", up.base)).await;
                let best = |side: &str| d[side][0][0].as_str().unwrap().to_string();
                let (bid, ask) = (best("bids"), best("asks"));
                let as_units = |p: &str| flowex_types::parse_scaled(p, 8).unwrap();
                assert!(as_units(&bid) < as_units(&ask), "{s}: bid {bid} ask {ask}");
            }
            deep_enough_for_ten_thousand_usdt(&c, &up.base).await;
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after 90 s the bot has not quoted and traded every market: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits (60 s at most) for 20 levels a side on BTCUSDT with a spread of a
/// few ticks, then a new user's 10 000 USDT market buy fills completely.
async fn deep_enough_for_ten_thousand_usdt(c: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let depth = loop {
        let d = get(c, format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=100")).await;
        let levels = |side: &str| d[side].as_array().map_or(0, Vec::len);
        if levels("bids") >= 20 && levels("asks") >= 20 {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "BTCUSDT has not reached 20 levels a side: {d}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The touch is refilled right after each take: most snapshots show
    // the maker's spread of a few ticks.
    let ticks = |p: &Value| flowex_types::parse_scaled(p.as_str().unwrap(), 2).unwrap();
    let mut spreads = Vec::new();
    for _ in 0..9 {
        let d = get(c, format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=5")).await;
        spreads.push(ticks(&d["asks"][0][0]) - ticks(&d["bids"][0][0]));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    spreads.sort_unstable();
    assert!(spreads[4] <= 10, "spreads in ticks {spreads:?}: {depth}");

    let token = trader(c, base).await;
    let resp = c
        .post(format!("{base}/api/v3/order"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=10000")
        .send()
        .await
        .unwrap();
    let order: Value = resp.json().await.unwrap();
    assert_eq!(order["status"], "FILLED", "{order}");
    let spent =
        flowex_types::parse_scaled(order["cummulativeQuoteQty"].as_str().unwrap(), 8).unwrap();
    // All of it, but for less than one lot's worth (0.00001 BTC).
    let ten_thousand = 10_000 * 100_000_000;
    assert!(
        spent <= ten_thousand && ten_thousand - spent < 2 * 100_000_000,
        "{order}"
    );
}

/// A fresh user with the faucet's 10 000 USDT; their access token.
async fn trader(c: &reqwest::Client, base: &str) -> String {
    let creds =
        serde_json::json!({"email": "whale@example.com", "password": "a long passphrase 1"});
    let r = c
        .post(format!("{base}/api/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let login: Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{base}/api/v1/wallet/faucet"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"asset": "USDT"}))
        .send()
        .await
        .unwrap();
    let credit: Value = r.json().await.unwrap();
    assert_eq!(credit["amount"], "10000.00000000", "{credit}");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_bot_the_markets_stay_quiet() {
    let up = Up::start_fresh(&["--no-bot"]);
    let c = reqwest::Client::new();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = activity(&c, &up.base).await;
    let ticker = get(&c, format!("{}/api/v3/ticker/24hr?symbol=BTCUSDT", up.base)).await;
    assert_eq!(ticker["count"], 0, "{ticker}");
    assert!(seen.iter().all(|&s| s == (0, 0, 0)), "{seen:?}");
}

/// The newest BTCUSDT trade id (0: none yet), asked from `c`.
async fn last_trade_id(c: &reqwest::Client, base: &str) -> u64 {
    let trades = get(c, format!("{base}/api/v3/trades?symbol=BTCUSDT&limit=1")).await;
    trades[0]["id"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_banned_for_flooding_does_not_stop_the_bot() {
    let up = Up::start_fresh(&[]);
    // A script on the same machine floods from 127.0.0.1 until banned.
    let flood = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let url = format!("{}/api/v3/depth?symbol=BTCUSDT&limit=5000", up.base);
        let status = flood.get(url).send().await.unwrap().status().as_u16();
        if statuses.last() != Some(&status) {
            statuses.push(status);
        }
        if status == 418 {
            break;
        }
    }
    assert_eq!(statuses, [200, 429, 418]);
    // The bot (127.0.0.2) goes on trading, seen from a third address.
    let watcher = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .build()
        .unwrap();
    let first = last_trade_id(&watcher, &up.base).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while last_trade_id(&watcher, &up.base).await <= first {
        assert!(
            Instant::now() < deadline,
            "no trade in 90 s after 127.0.0.1 was banned"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let url = format!("{}/api/v3/ping", up.base);
    let still = flood.get(url).send().await.unwrap().status().as_u16();
    assert_eq!(still, 418, "the flooding address stays banned");
}
