//! API5:2023 Broken Function Level Authorization: every admin operation in
//! the served OpenAPI document (so a new admin route is covered the day it
//! is documented), called by a user with a token and with a signed API key
//! of every permission, is refused before it does anything.

use crate::Target;
use reqwest::Method;
use serde_json::json;

/// Every `/api/v1/admin/*` operation of the served document, path
/// parameters filled with plausible values.
async fn admin_operations(t: &Target) -> Vec<(Method, String)> {
    let doc = t.send(t.req(Method::GET, "/openapi.json")).await;
    assert_eq!(doc.status, 200);
    let mut ops = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin") {
            continue;
        }
        let filled = path
            .replace("{user_id}", "1")
            .replace("{id}", "1")
            .replace("{symbol}", "BTCUSDT")
            .replace("{asset}", "BTC");
        for m in item.as_object().unwrap().keys() {
            if let Ok(method) = m.to_uppercase().parse::<Method>() {
                ops.push((method, filled.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_admin_route_refuses_a_user() {
    let t = Target::start();
    let u = t.user("notadmin@example.com").await;
    let ops = admin_operations(&t).await;
    assert!(
        ops.len() >= 15,
        "the document lists the admin routes: {ops:?}"
    );
    let body = json!({ "symbol": "EVILUSDT", "user_id": 1, "asset": "BTC", "amount": "1000" });
    for (m, path) in &ops {
        let a = t.json(m.clone(), path, Some(&u.access), body.clone()).await;
        assert_eq!(
            a.native(),
            (403, "forbidden"),
            "{m} {path} with a user's token: {a}"
        );
        let a = t
            .send(t.signed(m.clone(), path, &u, "", &body.to_string()))
            .await;
        assert_eq!(a.status, 401, "{m} {path} with an API key: {a}");
        let a = t.json(m.clone(), path, None, body.clone()).await;
        assert_eq!(
            a.native(),
            (401, "unauthorized"),
            "{m} {path} with nothing: {a}"
        );
    }
    // Nothing happened: no market was created, the user is not frozen.
    let a = t
        .send(t.req(Method::GET, "/api/v3/exchangeInfo?symbol=EVILUSDT"))
        .await;
    assert_eq!(a.binance(), (400, -1121), "{a}");
    let a = t
        .send(t.signed(Method::GET, "/api/v3/account", &u, "", ""))
        .await;
    assert_eq!(a.body["canTrade"], true, "{a}");
}
