//! API2:2023 Broken Authentication, through the gateway of `flowex up`:
//! forged, `alg:none`, tampered and foreign-key tokens; signed requests
//! replayed outside `recvWindow` or changed after signing; a used TOTP
//! code; a reused refresh token revoking its family. The auth service's
//! own tests go further (services/auth/tests/api.rs `bad_access_tokens`,
//! `refresh_rotation_and_reuse`, `totp_enrolment_and_login`).

use crate::{now_ms, sign, Target, PASSWORD};
use reqwest::Method;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Tokens no one may get in with, built from a real one.
fn bad_tokens(real: &str) -> Vec<(&'static str, String)> {
    let parts: Vec<&str> = real.split('.').collect();
    let mut flipped = real.to_string();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let (keys, _) = flowex_auth::JwtKeys::generate().unwrap();
    let grant = flowex_auth::AccessGrant {
        issuer: "flowex",
        audience: "flowex-api",
        user_id: "1",
        role: flowex_auth::Role::Admin,
        session_id: "1",
    };
    let foreign = keys
        .issue_access(&grant, std::time::Duration::from_secs(300))
        .unwrap();
    let admin_claims = b64(br#"{"sub":"1","role":"admin","iss":"flowex","aud":"flowex-api","exp":9999999999,"sid":"1"}"#);
    vec![
        ("garbage", "not-a-jwt".to_string()),
        ("flipped signature", flipped),
        (
            "payload swapped",
            format!("{}.{admin_claims}.{}", parts[0], parts[2]),
        ),
        (
            "alg none",
            format!("{}.{admin_claims}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "alg HS256",
            format!(
                "{}.{}.{}",
                b64(br#"{"alg":"HS256","typ":"JWT"}"#),
                parts[1],
                parts[2]
            ),
        ),
        ("another key", foreign.token.expose().clone()),
    ]
}

#[tokio::test]
async fn forged_tokens_are_refused_on_every_family() {
    let t = Target::start();
    let u = t.user("mallory@example.com").await;
    for (what, token) in bad_tokens(&u.access) {
        // The gateway refuses every token that fails to verify alike.
        let code = "unauthorized";
        let a = t.bearer(Method::GET, "/api/v1/auth/me", &token).await;
        assert_eq!(a.native(), (401, code), "{what} on /api/v1/auth/me: {a}");
        let a = t
            .bearer(Method::GET, "/api/v1/wallet/balances", &token)
            .await;
        assert_eq!(a.native(), (401, code), "{what} on the wallet: {a}");
        let a = t.bearer(Method::GET, "/api/v1/admin/markets", &token).await;
        assert_eq!(a.native(), (401, code), "{what} on admin: {a}");
        let a = t.bearer(Method::GET, "/api/v3/account", &token).await;
        assert_eq!(a.binance(), (401, -2015), "{what} on /api/v3: {a}");
    }
}

#[tokio::test]
async fn signed_requests_replayed_or_tampered_are_refused() {
    let t = Target::start();
    let u = t.user("replay@example.com").await;
    t.faucet(&u, "USDT").await;
    let body = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=1000";
    let order = |query: String, sent_body: &str, signed_body: &str| {
        let signature = sign(&u.secret, &query, signed_body);
        t.req(
            Method::POST,
            &format!("/api/v3/order?{query}&signature={signature}"),
        )
        .header("X-MBX-APIKEY", &u.key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(sent_body.to_string())
    };
    // Outside recvWindow: a minute old with the default 5 s window, and
    // from the future.
    for ts in [now_ms() - 60_000, now_ms() + 60_000] {
        let a = t.send(order(format!("timestamp={ts}"), body, body)).await;
        assert_eq!(a.binance(), (400, -1021), "timestamp {ts}: {a}");
    }
    // Body changed after signing: price and quantity.
    let tampered = body.replace("price=1000", "price=1");
    let a = t
        .send(order(format!("timestamp={}", now_ms()), &tampered, body))
        .await;
    assert_eq!(a.binance(), (400, -1022), "tampered body: {a}");
    // Query changed after signing.
    let ts = now_ms();
    let signature = sign(&u.secret, &format!("timestamp={ts}&recvWindow=5000"), body);
    let r = t
        .req(
            Method::POST,
            &format!("/api/v3/order?timestamp={ts}&recvWindow=60000&signature={signature}"),
        )
        .header("X-MBX-APIKEY", &u.key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    let a = t.send(r).await;
    assert_eq!(a.binance(), (400, -1022), "tampered query: {a}");
    // Signed with another key's secret.
    let ts = now_ms();
    let signature = sign("not-the-secret", &format!("timestamp={ts}"), body);
    let r = t
        .req(
            Method::POST,
            &format!("/api/v3/order?timestamp={ts}&signature={signature}"),
        )
        .header("X-MBX-APIKEY", &u.key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    assert_eq!(t.send(r).await.binance(), (400, -1022));
    // An unknown key.
    let r = t
        .req(
            Method::GET,
            &format!("/api/v3/account?timestamp={}&signature=00", now_ms()),
        )
        .header("X-MBX-APIKEY", "A".repeat(64));
    assert_eq!(t.send(r).await.binance(), (401, -2015));
    // Nothing was placed.
    let a = t
        .send(t.signed(Method::GET, "/api/v3/openOrders", &u, "", ""))
        .await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(0), "{a}");
}

#[tokio::test]
async fn a_used_totp_code_and_a_reused_refresh_token_are_refused() {
    let t = Target::start();
    let u = t.user("twofa@example.com").await;
    let a = t
        .bearer(Method::POST, "/api/v1/account/2fa/enroll", &u.access)
        .await;
    assert_eq!(a.status, 200, "{a}");
    let secret = flowex_auth::TotpSecret::from_base32(a.body["secret"].as_str().unwrap()).unwrap();
    let now = (now_ms() / 1000) as u64;
    let code = secret.code_at(now);
    let a = t
        .json(
            Method::POST,
            "/api/v1/account/2fa/confirm",
            Some(&u.access),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    // The confirmation used the code: logging in with it again fails.
    let login = json!({ "email": u.email, "password": PASSWORD, "totp_code": code });
    let a = t
        .json(Method::POST, "/api/v1/auth/login", None, login)
        .await;
    assert_eq!(a.native(), (401, "invalid_totp"), "reused code: {a}");

    // Refresh rotation: the old token used twice revokes the family.
    let first = t
        .json(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": u.refresh }),
        )
        .await;
    assert_eq!(first.status, 200, "{first}");
    let a = t
        .json(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": u.refresh }),
        )
        .await;
    assert_eq!(a.native(), (401, "token_reused"), "reuse: {a}");
    let rotated = first.body["refresh_token"].as_str().unwrap();
    let a = t
        .json(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": rotated }),
        )
        .await;
    assert_eq!(a.status, 401, "the family is revoked: {a}");
    let access = first.body["access_token"].as_str().unwrap();
    let a = t.bearer(Method::GET, "/api/v1/auth/me", access).await;
    assert_eq!(
        a.native(),
        (401, "session_revoked"),
        "its access token: {a}"
    );
}

/// The gateway of `flowex up` keeps API keys in memory; deleting one ends
/// it on the very next request, not after the cache's TTL, even right
/// after it was used (and cached).
#[tokio::test]
async fn a_deleted_api_key_is_refused_on_the_next_request() {
    let t = Target::start();
    let u = t.user("deleted-key@example.com").await;
    for _ in 0..3 {
        let a = t
            .send(t.signed(Method::GET, "/api/v3/account", &u, "", ""))
            .await;
        assert_eq!(a.status, 200, "the key works: {a}");
    }
    let keys = t
        .bearer(Method::GET, "/api/v1/account/api-keys", &u.access)
        .await;
    let id = keys.body["api_keys"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{keys}"));
    let a = t
        .bearer(
            Method::DELETE,
            &format!("/api/v1/account/api-keys/{id}"),
            &u.access,
        )
        .await;
    assert!(a.status == 200 || a.status == 204, "delete: {a}");
    let a = t
        .send(t.signed(Method::GET, "/api/v3/account", &u, "", ""))
        .await;
    assert_eq!(a.binance(), (401, -2015), "the deleted key: {a}");
}
