//! API4:2023 Unrestricted Resource Consumption: every limit answers with
//! its documented refusal. Order rate (a low `orders_per_10s` so the test
//! is quick), request weight per IP, login and registration throttles,
//! oversized bodies and headers. Slow clients (header-read timeouts,
//! connection caps) are proved in crates/http/tests/connections.rs.

use crate::Target;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn orders_over_the_rate_limit_get_1015() {
    let t = Target::start_with(&[("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "3")]);
    let u = t.user("flood@example.com").await;
    t.faucet(&u, "USDT").await;
    for i in 0..3 {
        t.resting_order(&u, &format!("flood-{i}")).await;
    }
    let body = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000";
    let a = t
        .send(t.signed(Method::POST, "/api/v3/order", &u, "", body))
        .await;
    assert_eq!(a.binance(), (429, -1015), "{a}");
}

#[tokio::test]
async fn oversized_bodies_and_headers_are_refused() {
    let t = Target::start();
    let u = t.user("big@example.com").await;
    let big = json!({ "label": "x".repeat(70 * 1024) });
    let a = t
        .json(
            Method::POST,
            "/api/v1/account/api-keys",
            Some(&u.access),
            big,
        )
        .await;
    assert_eq!(a.native(), (413, "payload_too_large"), "{a}");
    let body = format!("symbol=BTCUSDT&newClientOrderId={}", "y".repeat(70 * 1024));
    let a = t
        .send(t.signed(Method::POST, "/api/v3/order", &u, "", &body))
        .await;
    assert_eq!(a.status, 413, "{a}");
    let r = t
        .req(Method::GET, "/api/v3/time")
        .header("x-padding", "z".repeat(1024 * 1024));
    let status = match r.send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(e) => panic!("oversized header: no answer ({e})"),
    };
    assert_eq!(status, 431, "oversized header");
}

#[tokio::test]
async fn request_weight_over_the_ip_limit_gets_429_then_418() {
    let t = Target::start_with(&[("FLOWEX_RATE_LIMITS__IP_WEIGHT_PER_MINUTE", "40")]);
    let mut seen = Vec::new();
    for _ in 0..80 {
        let a = t
            .send(t.req(Method::GET, "/api/v3/depth?symbol=BTCUSDT&limit=5"))
            .await;
        if seen.last() != Some(&a.binance()) {
            seen.push(a.binance());
        }
    }
    assert_eq!(
        seen,
        vec![(200, 0), (429, -1003), (418, -1003)],
        "weight limit"
    );
}

#[tokio::test]
async fn logins_over_the_limit_are_throttled() {
    let t = Target::start();
    t.user("target@example.com").await;
    let wrong = json!({ "email": "target@example.com", "password": "not the password!" });
    let mut codes = Vec::new();
    for _ in 0..30 {
        let a = t
            .json(Method::POST, "/api/v1/auth/login", None, wrong.clone())
            .await;
        let c = (
            a.status,
            a.body["error"]["code"].as_str().unwrap_or("").to_string(),
        );
        if codes.last() != Some(&c) {
            codes.push(c);
        }
    }
    assert_eq!(codes.first().map(|c| c.0), Some(401), "{codes:?}");
    assert_eq!(
        codes.last().map(|c| c.0),
        Some(429),
        "guessing is throttled: {codes:?}"
    );
}

#[tokio::test]
async fn registrations_and_faucet_claims_are_limited_per_address() {
    let t = Target::start_with(&[
        ("FLOWEX_RATE_LIMITS__REGISTRATIONS_PER_IP_PER_HOUR", "4"),
        ("FLOWEX_RATE_LIMITS__FAUCET_CLAIMS_PER_IP_PER_HOUR", "3"),
    ]);
    // The first four succeed (201) or fail on their own merits (a
    // malformed e-mail is still an attempt); the fifth is refused.
    let mut seen = Vec::new();
    for i in 0..6 {
        let email = if i == 1 {
            "not-an-email".to_string()
        } else {
            format!("mass-{i}@example.com")
        };
        let creds = json!({ "email": email, "password": crate::PASSWORD });
        let a = t
            .json(Method::POST, "/api/v1/auth/register", None, creds)
            .await;
        seen.push(a.status);
        if a.status == 429 {
            assert_eq!(a.native(), (429, "rate_limited"), "{a}");
            assert!(a.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("registrations per hour"));
        }
    }
    assert_eq!(seen, [201, 400, 201, 201, 429, 429]);
    // Logging in is not registering: the accounts made work.
    let creds = json!({ "email": "mass-0@example.com", "password": crate::PASSWORD });
    let a = t
        .json(Method::POST, "/api/v1/auth/login", None, creds)
        .await;
    assert_eq!(a.status, 200, "{a}");
    let token = a.body["access_token"].as_str().unwrap().to_string();
    let mut claims = Vec::new();
    for asset in ["USDT", "BTC", "ETH", "SOL"] {
        let a = t
            .json(
                Method::POST,
                "/api/v1/wallet/faucet",
                Some(&token),
                json!({ "asset": asset }),
            )
            .await;
        claims.push(a.status);
    }
    assert_eq!(claims, [201, 201, 201, 429]);
}
