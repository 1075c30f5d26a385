//! Rate limits, body limit and timeouts through the embedded gateway.

mod common;

use common::*;
use std::time::Duration;

async fn gateway_with(cfg: flowex_gateway::GatewayConfig) -> (Server, Tokens) {
    let tokens = Tokens::new();
    let app = flowex_gateway::embedded(
        cfg,
        directory(),
        sessions(),
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    (start(app).await, tokens)
}

#[tokio::test]
async fn ip_weight_header_429_then_418() {
    let mut cfg = config(None);
    cfg.rate_limiter = limits(5, 1000, 2);
    let (s, _) = gateway_with(cfg).await;
    for used in 1..=5 {
        let r = s.get("/api/v3/ping").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-mbx-used-weight-1m"),
            Some(used.to_string().as_str())
        );
    }
    // Past the limit: 429 with Retry-After, twice (the ban threshold)...
    for _ in 0..2 {
        let r = s.get("/api/v3/ping").await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.json()["code"], -1003);
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        assert!(r.header("x-mbx-used-weight-1m").is_some());
    }
    // ...then 418: banned until the window ends.
    let r = s.get("/api/v3/ping").await;
    assert_eq!(r.status, 418, "{}", r.text);
    assert_eq!(r.json()["code"], -1003);
    assert!(r.json()["msg"]
        .as_str()
        .unwrap()
        .starts_with("Way too much request weight used; IP banned until"));
    assert!(r.header("retry-after").is_some());
    // The ban covers every route, native ones in their shape.
    let r = s.get("/api/v1/auth/login").await;
    r.assert_native(418, "ip_banned");
}

#[tokio::test]
async fn user_weight_and_order_counts() {
    let mut cfg = config(None);
    // /api/v3/account weighs 20: two fit in 50, the third does not.
    cfg.rate_limiter = limits(100_000, 50, 100);
    let (s, tokens) = gateway_with(cfg).await;
    let user = tokens.user();
    for _ in 0..2 {
        let r = s.get_bearer("/api/v3/account", &user).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = s.get_bearer("/api/v3/account", &user).await;
    r.assert_binance(
        429,
        -1003,
        "Too much request weight used; current limit is 50 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
    );
    assert!(r.header("retry-after").is_some());
    // Another user has its own budget.
    let other = tokens.issue("8", flowex_auth::Role::User);
    let r = s.get_bearer("/api/v3/account", &other).await;
    assert_eq!(r.status, 200);
    // Orders carry the order counters.
    let r = s
        .send(s.client.post(s.url("/api/v3/order")).bearer_auth(&other))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-mbx-order-count-10s"), Some("1"));
    assert_eq!(r.header("x-mbx-order-count-1d"), Some("1"));
}

#[tokio::test]
async fn oversized_body_is_413_in_the_path_shape() {
    let mut cfg = config(None);
    cfg.http.body_limit_bytes = 1024;
    let (s, tokens) = gateway_with(cfg).await;
    let big = "a=".to_string() + &"x".repeat(2000);
    let r = s
        .send(
            s.client
                .post(s.url("/api/v3/order"))
                .bearer_auth(tokens.user())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big.clone()),
        )
        .await;
    r.assert_binance(413, -1000, "Request body too large.");
    let r = s
        .send(s.client.post(s.url("/api/v1/auth/login")).body(big))
        .await;
    r.assert_native(413, "payload_too_large");
    // Just under the limit passes.
    let ok = "a=".to_string() + &"x".repeat(1000);
    let r = s
        .send(s.client.post(s.url("/api/v1/auth/login")).body(ok))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn slow_handler_times_out_with_the_error_shape() {
    let mut cfg = config(None);
    cfg.http.request_timeout = Duration::from_millis(300);
    let (s, _) = gateway_with(cfg).await;
    let started = std::time::Instant::now();
    let r = s.get("/api/v3/slow").await;
    r.assert_binance(
        503,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
