//! Binance parameters and rate limits over real HTTP on loopback.

mod common;

use axum::extract::Request;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::start;
use flowex_http::{
    Costs, HttpConfig, MemoryStore, Params, RateLimitKey, RateLimitState, RateLimiter, RateLimits,
    TypedParams,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

async fn echo(p: Params) -> Json<Value> {
    let pairs: Vec<Value> = p.pairs().iter().map(|(k, v)| json!([k, v])).collect();
    Json(json!({
        "pairs": pairs,
        "raw_query": p.raw_query(),
        "raw_body": String::from_utf8_lossy(p.raw_body()),
        "payload": String::from_utf8_lossy(&p.signature_payload()),
    }))
}

async fn depth(p: Params) -> Result<Json<Value>, flowex_http::ApiError> {
    let symbol = p.required("symbol")?.to_string();
    let limit: u32 = p.parse_optional("limit")?.unwrap_or(100);
    p.ensure_all_read()?;
    Ok(Json(json!({ "symbol": symbol, "limit": limit })))
}

#[derive(serde::Deserialize)]
struct Klines {
    symbol: String,
    interval: String,
    limit: Option<u32>,
}

async fn klines(TypedParams { value, .. }: TypedParams<Klines>) -> Json<Value> {
    Json(json!({ "symbol": value.symbol, "interval": value.interval, "limit": value.limit }))
}

fn params_app() -> Router {
    Router::new()
        .route("/api/v3/echo", get(echo).post(echo).delete(echo))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/klines", get(klines))
}

#[tokio::test]
async fn params_from_query_body_or_both() {
    let s = start(params_app(), &HttpConfig::default(), None).await;

    let r = s.get("/api/v3/echo?symbol=BTCUSDT&limit=5").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["pairs"],
        json!([["symbol", "BTCUSDT"], ["limit", "5"]])
    );

    let r = s.post_form("/api/v3/echo", "symbol=ETHUSDT&side=BUY").await;
    assert_eq!(
        r.json()["pairs"],
        json!([["symbol", "ETHUSDT"], ["side", "BUY"]])
    );
    assert_eq!(r.json()["raw_body"], "symbol=ETHUSDT&side=BUY");

    // Both: the query wins on a name present in both.
    let r = s
        .post_form("/api/v3/echo?symbol=A&timestamp=1", "symbol=B&side=SELL")
        .await;
    assert_eq!(
        r.json()["pairs"],
        json!([["symbol", "A"], ["timestamp", "1"], ["side", "SELL"]])
    );

    // binance-connector: everything in the query, JSON content type, empty body.
    let r = s
        .send(
            s.client
                .post(s.url("/api/v3/echo?symbol=LTCBTC&side=BUY"))
                .header("content-type", "application/json"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["pairs"],
        json!([["symbol", "LTCBTC"], ["side", "BUY"]])
    );

    // A JSON-typed body is never parsed as parameters, but is kept raw.
    let r = s
        .send(
            s.client
                .post(s.url("/api/v3/echo?a=1"))
                .header("content-type", "application/json")
                .body("b=2"),
        )
        .await;
    assert_eq!(r.json()["pairs"], json!([["a", "1"]]));
    assert_eq!(r.json()["raw_body"], "b=2");
}

#[tokio::test]
async fn raw_query_and_body_are_kept_byte_for_byte() {
    let s = start(params_app(), &HttpConfig::default(), None).await;
    let q = "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D&note=a+b&timestamp=1499827319559";
    let r = s
        .post_form(&format!("/api/v3/echo?{q}"), "price=0.1&x=%41")
        .await;
    let v = r.json();
    assert_eq!(v["raw_query"], q);
    assert_eq!(v["raw_body"], "price=0.1&x=%41");
    assert_eq!(
        v["pairs"][0],
        json!(["symbols", "[\"BTCUSDT\",\"ETHUSDT\"]"])
    );
    assert_eq!(v["pairs"][1], json!(["note", "a b"]));
    assert_eq!(v["pairs"][4], json!(["x", "A"]));

    // BINANCE_API.md's test vector: the signed payload is the raw query
    // without `signature`, exactly as sent.
    let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let sig = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    let r = s
        .get(&format!("/api/v3/echo?{payload}&signature={sig}"))
        .await;
    assert_eq!(r.json()["payload"], payload);
    // Signature in the body: query then body, signature removed.
    let r = s
        .post_form(
            "/api/v3/echo?symbol=LTCBTC&side=BUY",
            &format!("type=LIMIT&timestamp=1&signature={sig}"),
        )
        .await;
    assert_eq!(
        r.json()["payload"],
        "symbol=LTCBTC&side=BUYtype=LIMIT&timestamp=1"
    );
}

#[tokio::test]
async fn malformed_parameters_get_binance_errors() {
    let s = start(params_app(), &HttpConfig::default(), None).await;
    let cases = [
        (
            "/api/v3/echo?symbol=A&symbol=B",
            json!({"code": -1101, "msg": "Duplicate values for a parameter detected."}),
        ),
        (
            "/api/v3/echo?symbol=%zz",
            json!({"code": -1100, "msg": "Illegal characters found in parameter 'symbol'; legal range is 'printable UTF-8'."}),
        ),
        (
            "/api/v3/depth",
            json!({"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}),
        ),
        (
            "/api/v3/depth?symbol=",
            json!({"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}),
        ),
        (
            "/api/v3/depth?symbol=BTCUSDT&limit=",
            json!({"code": -1105, "msg": "Parameter 'limit' was empty."}),
        ),
        (
            "/api/v3/depth?symbol=BTCUSDT&limit=abc",
            json!({"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}),
        ),
        (
            "/api/v3/depth?symbol=BTCUSDT&extra=1",
            json!({"code": -1104, "msg": "Not all sent parameters were read; read '1' parameter(s) but was sent '2'."}),
        ),
        (
            "/api/v3/klines?interval=1m",
            json!({"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}),
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=-5",
            json!({"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}),
        ),
    ];
    for (path, want) in cases {
        let r = s.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.json(), want, "{path}");
    }
    let r = s.post_form("/api/v3/echo", "side=BUY&side=SELL").await;
    assert_eq!(r.json()["code"], -1101);

    let r = s.get("/api/v3/depth?symbol=BTCUSDT&limit=20").await;
    assert_eq!(r.json(), json!({"symbol": "BTCUSDT", "limit": 20}));
    let r = s.get("/api/v3/klines?symbol=BTCUSDT&interval=1m").await;
    assert_eq!(
        r.json(),
        json!({"symbol": "BTCUSDT", "interval": "1m", "limit": null})
    );
}

/// 2023-11-14T22:13:00Z: the start of a minute (and of a 10 s window).
const T0: u64 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000) + 60_000;

fn limiter(limits: RateLimits, clock: Arc<AtomicU64>) -> RateLimiter {
    RateLimiter::new(Arc::new(MemoryStore::new(1000)), limits)
        .with_clock(move || clock.load(Ordering::SeqCst))
}

const LIMITS: RateLimits = RateLimits {
    ip_weight_per_minute: 10,
    user_weight_per_minute: 1000,
    orders_per_10s: 2,
    orders_per_day: 1000,
    ban_threshold: 2,
    registrations_per_ip_per_hour: 3,
    faucet_claims_per_ip_per_hour: 1000,
};

#[tokio::test]
async fn ip_weight_429_then_418_then_recovery() {
    let clock = Arc::new(AtomicU64::new(T0 + 1_000));
    let state = RateLimitState::new(limiter(LIMITS, clock.clone()), Costs::binance_spot());
    let router = params_app().route("/api/v1/thing", get(|| async { "ok" }));
    let s = start(router, &HttpConfig::default(), Some(state)).await;

    // depth with the default limit weighs 5.
    let r = s.get("/api/v3/depth?symbol=BTCUSDT").await;
    assert_eq!(
        (r.status, r.header("x-mbx-used-weight-1m")),
        (200, Some("5"))
    );
    let r = s.get("/api/v3/depth?symbol=BTCUSDT").await;
    assert_eq!(
        (r.status, r.header("x-mbx-used-weight-1m")),
        (200, Some("10"))
    );

    let r = s.get("/api/v3/depth?symbol=BTCUSDT").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("59"));
    assert_eq!(r.header("x-mbx-used-weight-1m"), Some("15"));
    assert_eq!(
        r.json(),
        json!({"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) request weight per minute is 10. Please use the websocket for live updates to avoid bans."})
    );
    assert!(r.header("x-request-id").is_some());

    // The native API gets its own shape for the same limit.
    let r = s.get("/api/v1/thing").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "rate_limited");

    // Past the ban threshold (2 more refusals): 418 until the window ends.
    let r = s.get("/api/v3/depth?symbol=BTCUSDT").await;
    assert_eq!(r.status, 418);
    let window_end = T0 + 60_000;
    assert_eq!(
        r.json(),
        json!({"code": -1003, "msg": format!("Way too much request weight used; IP banned until {window_end}. Please use WebSocket Streams for live updates to avoid bans.")})
    );
    assert_eq!(r.header("retry-after"), Some("59"));
    clock.store(T0 + 30_000, Ordering::SeqCst);
    let r = s.get("/api/v3/ping").await;
    assert_eq!(r.status, 418, "still banned");
    assert_eq!(r.header("retry-after"), Some("30"));

    // A new window: allowed again, counting from zero.
    clock.store(window_end + 1, Ordering::SeqCst);
    let r = s.get("/api/v3/depth?symbol=BTCUSDT&limit=20").await;
    assert_eq!(
        (r.status, r.header("x-mbx-used-weight-1m")),
        (200, Some("5"))
    );
    // Heavier requests weigh more: limit=1000 → 50, over the limit at once.
    let r = s.get("/api/v3/depth?symbol=BTCUSDT&limit=1000").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-mbx-used-weight-1m"), Some("55"));
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_hour() {
    let clock = Arc::new(AtomicU64::new(T0 + 1_000));
    let limits = RateLimits {
        ip_weight_per_minute: 1000,
        ..LIMITS
    };
    let state = RateLimitState::new(limiter(limits, clock.clone()), Costs::binance_spot());
    let router = params_app()
        .route(
            "/api/v1/auth/register",
            axum::routing::post(|| async { "registered" }),
        )
        .route("/api/v1/thing", get(|| async { "ok" }));
    let s = start(router, &HttpConfig::default(), Some(state)).await;
    for _ in 0..3 {
        assert_eq!(s.post_form("/api/v1/auth/register", "").await.status, 200);
    }
    let r = s.post_form("/api/v1/auth/register", "").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert_eq!(
        msg,
        "Too many registrations; current limit of IP(127.0.0.1) is 3 registrations per hour."
    );
    let window_end = (T0 / 3_600_000 + 1) * 3_600_000;
    let retry = (window_end - (T0 + 1_000)).div_ceil(1000).to_string();
    assert_eq!(r.header("retry-after"), Some(retry.as_str()));
    // Other requests from the address are not affected; the next hour is
    // a fresh allowance.
    assert_eq!(s.get("/api/v1/thing").await.status, 200);
    clock.store(window_end + 1, Ordering::SeqCst);
    assert_eq!(s.post_form("/api/v1/auth/register", "").await.status, 200);
}

#[tokio::test]
async fn every_response_carries_the_used_weight() {
    let clock = Arc::new(AtomicU64::new(T0));
    let state = RateLimitState::new(limiter(LIMITS, clock), Costs::binance_spot());
    let s = start(params_app(), &HttpConfig::default(), Some(state)).await;
    let r = s.get("/api/v3/nope").await;
    assert_eq!(
        (r.status, r.header("x-mbx-used-weight-1m")),
        (404, Some("1"))
    );
    let r = s.get("/api/v3/depth").await;
    assert_eq!(
        (r.status, r.header("x-mbx-used-weight-1m")),
        (400, Some("6"))
    );
}

/// Stands in for the auth middleware: the user comes from a test header.
async fn fake_auth(mut req: Request, next: Next) -> axum::response::Response {
    if let Some(u) = req
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
    {
        let key = RateLimitKey(u.to_string());
        req.extensions_mut().insert(key);
    }
    next.run(req).await
}

#[tokio::test]
async fn order_counts_and_order_limits_per_user() {
    let clock = Arc::new(AtomicU64::new(T0 + 2_000));
    let limits = RateLimits {
        ip_weight_per_minute: 1000,
        ..LIMITS
    };
    let state = RateLimitState::new(limiter(limits, clock.clone()), Costs::binance_spot());
    let router = Router::new()
        .route(
            "/api/v3/order",
            post(|| async { Json(json!({"orderId": 1})) }),
        )
        .route("/api/v3/account", get(|| async { Json(json!({})) }))
        .layer(from_fn_with_state(
            state.clone(),
            flowex_http::user_rate_limit,
        ))
        .layer(from_fn(fake_auth));
    let s = start(router, &HttpConfig::default(), Some(state)).await;
    let order = |user: &'static str| {
        s.client
            .post(s.url("/api/v3/order"))
            .header("x-test-user", user)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("symbol=BTCUSDT")
    };

    let r = s.send(order("alice")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mbx-order-count-10s"), Some("1"));
    assert_eq!(r.header("x-mbx-order-count-1d"), Some("1"));
    assert!(r.header("x-mbx-used-weight-1m").is_some());
    let r = s.send(order("alice")).await;
    assert_eq!(r.header("x-mbx-order-count-10s"), Some("2"));

    let r = s.send(order("alice")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("8"));
    assert_eq!(
        r.json(),
        json!({"code": -1015, "msg": "Too many new orders; current limit is 2 orders per 10 SECOND."})
    );

    // Another user has their own counters; non-order routes carry no counts.
    let r = s.send(order("bob")).await;
    assert_eq!(
        (r.status, r.header("x-mbx-order-count-10s")),
        (200, Some("1"))
    );
    let r = s
        .send(
            s.client
                .get(s.url("/api/v3/account"))
                .header("x-test-user", "alice"),
        )
        .await;
    assert_eq!((r.status, r.header("x-mbx-order-count-10s")), (200, None));

    // Next 10 s window: allowed again; the day counter kept counting.
    clock.store(T0 + 10_000, Ordering::SeqCst);
    let r = s.send(order("alice")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mbx-order-count-10s"), Some("1"));
    assert_eq!(r.header("x-mbx-order-count-1d"), Some("4"));
}

#[tokio::test]
async fn daily_order_limit() {
    let clock = Arc::new(AtomicU64::new(T0));
    let limits = RateLimits {
        ip_weight_per_minute: 1000,
        orders_per_10s: 100,
        orders_per_day: 1,
        ..LIMITS
    };
    let state = RateLimitState::new(limiter(limits, clock), Costs::binance_spot());
    let router = Router::new()
        .route("/api/v3/order", post(|| async { "{}" }))
        .layer(from_fn_with_state(
            state.clone(),
            flowex_http::user_rate_limit,
        ))
        .layer(from_fn(fake_auth));
    let s = start(router, &HttpConfig::default(), Some(state)).await;
    let order = || {
        s.client
            .post(s.url("/api/v3/order"))
            .header("x-test-user", "carol")
    };
    assert_eq!(s.send(order()).await.status, 200);
    let r = s.send(order()).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"code": -1015, "msg": "Too many new orders; current limit is 1 orders per 1 DAY."})
    );
}
