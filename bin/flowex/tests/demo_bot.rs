//! The demo market maker of `flowex up`: with it on, every demo market gets
//! a two-sided book and trades within seconds, all through the public API;
//! with `--no-bot`, nothing happens on its own.

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
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after 90 s the bot has not quoted and traded every market: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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
