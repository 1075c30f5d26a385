//! API1:2023 Broken Object Level Authorization. Alice owns an order, a
//! trade-bearing history, a withdrawal, an API key, sessions and ledger
//! entries; Bob, with a token and with a signed key, asks for each by id
//! and gets the refusal a missing object gets, never Alice's data.
//! Service-level depth: services/trading/tests/api.rs
//! (`one_user_never_sees_or_cancels_anothers_orders`,
//! `history_filters_limits_and_bola`), services/wallet/tests/api.rs.

use crate::{Target, User};
use reqwest::Method;
use serde_json::json;

async fn alices_objects(t: &Target, alice: &User) -> (u64, u64, u64, u64) {
    t.faucet(alice, "USDT").await;
    t.faucet(alice, "BTC").await;
    let order = t.resting_order(alice, "alice-order-1").await;
    let w = json!({"asset": "BTC", "amount": "0.01", "address": "bc1qalice"});
    let a = t
        .json(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            Some(&alice.access),
            w,
        )
        .await;
    assert_eq!(a.status, 201, "{a}");
    let withdrawal = a.body["withdrawal"]["id"].as_u64().unwrap();
    let a = t
        .bearer(Method::GET, "/api/v1/account/api-keys", &alice.access)
        .await;
    let key = a.body["api_keys"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{a}"));
    let a = t
        .bearer(Method::GET, "/api/v1/account/sessions", &alice.access)
        .await;
    let session = a.body["sessions"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{a}"));
    (order, withdrawal, key, session)
}

#[tokio::test]
async fn no_user_reaches_anothers_objects_by_id() {
    let t = Target::start();
    let alice = t.user("alice@example.com").await;
    let bob = t.user("bob@example.com").await;
    let (order, withdrawal, key, session) = alices_objects(&t, &alice).await;

    // Orders by id and by client id, queried and cancelled, signed and
    // with a token: -2013 (query) and -2011 (cancel), as for no order.
    for q in [
        format!("symbol=BTCUSDT&orderId={order}"),
        "symbol=BTCUSDT&origClientOrderId=alice-order-1".into(),
    ] {
        let a = t
            .send(t.signed(Method::GET, "/api/v3/order", &bob, &q, ""))
            .await;
        assert_eq!(a.binance(), (400, -2013), "GET order {q}: {a}");
        let a = t
            .send(
                t.req(Method::GET, &format!("/api/v3/order?{q}"))
                    .bearer_auth(&bob.access),
            )
            .await;
        assert_eq!(a.binance(), (400, -2013), "GET order (token) {q}: {a}");
        let a = t
            .send(t.signed(Method::DELETE, "/api/v3/order", &bob, &q, ""))
            .await;
        assert_eq!(a.binance(), (400, -2011), "DELETE order {q}: {a}");
    }
    // Lists are the caller's own only: Bob's are empty.
    for path in [
        "/api/v3/openOrders",
        "/api/v3/allOrders",
        "/api/v3/myTrades",
    ] {
        let a = t
            .send(t.signed(Method::GET, path, &bob, "symbol=BTCUSDT", ""))
            .await;
        assert_eq!(
            (a.status, a.body.as_array().map(Vec::len)),
            (200, Some(0)),
            "{path}: {a}"
        );
    }
    // Cancelling all of BTCUSDT's open orders cancels none of Alice's.
    let a = t
        .send(t.signed(
            Method::DELETE,
            "/api/v3/openOrders",
            &bob,
            "symbol=BTCUSDT",
            "",
        ))
        .await;
    assert_eq!(a.status / 100, 4, "cancel all: {a}");
    let a = t
        .send(t.signed(
            Method::GET,
            "/api/v3/openOrders",
            &alice,
            "symbol=BTCUSDT",
            "",
        ))
        .await;
    assert_eq!(
        a.body.as_array().map(Vec::len),
        Some(1),
        "alice's order survived: {a}"
    );

    // Withdrawals, API keys and sessions: 404 like a missing id.
    let path = format!("/api/v1/wallet/withdrawals/{withdrawal}");
    for m in [Method::GET, Method::DELETE] {
        let a = t.bearer(m.clone(), &path, &bob.access).await;
        assert_eq!(a.native(), (404, "withdrawal_not_found"), "{m} {path}: {a}");
        let a = t.send(t.signed(m.clone(), &path, &bob, "", "")).await;
        assert_eq!(
            a.native(),
            (404, "withdrawal_not_found"),
            "{m} {path} signed: {a}"
        );
    }
    let owned = [
        (
            format!("/api/v1/account/api-keys/{key}"),
            "api_key_not_found",
        ),
        (
            format!("/api/v1/account/sessions/{session}"),
            "session_not_found",
        ),
    ];
    for (path, code) in owned {
        let a = t.bearer(Method::DELETE, &path, &bob.access).await;
        assert_eq!(a.native(), (404, code), "DELETE {path}: {a}");
    }
    // Alice's key and session still work.
    let a = t
        .send(t.signed(Method::GET, "/api/v3/account", &alice, "", ""))
        .await;
    assert_eq!(a.status, 200, "alice's key: {a}");

    // Lists with another user's id in the query: the id is no filter.
    for path in [
        "/api/v1/wallet/withdrawals",
        "/api/v1/wallet/ledger",
        "/api/v1/wallet/deposits",
    ] {
        let q = format!("{path}?user_id=1&userId=1");
        let a = t.bearer(Method::GET, &q, &bob.access).await;
        assert_eq!(a.status, 200, "{q}: {a}");
        assert!(!a.text.contains("bc1qalice"), "{q} shows alice's data: {a}");
        let rows = a
            .body
            .as_object()
            .and_then(|o| o.values().find_map(|v| v.as_array()))
            .map(Vec::len);
        assert_eq!(rows, Some(0), "{q} lists rows to bob: {a}");
    }
}
