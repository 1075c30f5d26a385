//! API3:2023 Broken Object Property Level Authorization: fields a caller
//! may not set (role, user id, fees, state, the key's owner) are refused by
//! name, not silently dropped, and nothing is created.

use crate::{Target, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn mass_assignment_is_refused_field_by_field() {
    let t = Target::start();
    let u = t.user("mass@example.com").await;
    t.faucet(&u, "BTC").await;
    let register = |extra: (&str, serde_json::Value)| {
        let mut b = json!({ "email": "eve@example.com", "password": PASSWORD });
        b[extra.0] = extra.1;
        b
    };
    for field in [
        ("role", json!("admin")),
        ("user_id", json!(1)),
        ("is_admin", json!(true)),
        ("frozen", json!(false)),
    ] {
        let a = t
            .json(
                Method::POST,
                "/api/v1/auth/register",
                None,
                register(field.clone()),
            )
            .await;
        assert_eq!(
            a.native(),
            (400, "invalid_body"),
            "register with {}: {a}",
            field.0
        );
    }
    // Eve was never created.
    let creds = json!({ "email": "eve@example.com", "password": PASSWORD });
    let a = t
        .json(Method::POST, "/api/v1/auth/login", None, creds)
        .await;
    assert_eq!(a.status, 401, "{a}");

    let withdrawal = |extra: (&str, serde_json::Value)| {
        let mut b = json!({"asset": "BTC", "amount": "0.01", "address": "bc1qx"});
        b[extra.0] = extra.1;
        b
    };
    for field in [
        ("user_id", json!(1)),
        ("fee", json!("0")),
        ("state", json!("approved")),
        ("id", json!(1)),
    ] {
        let a = t
            .json(
                Method::POST,
                "/api/v1/wallet/withdrawals",
                Some(&u.access),
                withdrawal(field.clone()),
            )
            .await;
        assert_eq!(
            a.native(),
            (400, "invalid_body"),
            "withdrawal with {}: {a}",
            field.0
        );
    }
    let a = t
        .bearer(Method::GET, "/api/v1/wallet/withdrawals", &u.access)
        .await;
    assert_eq!(
        a.body["withdrawals"].as_array().map(Vec::len),
        Some(0),
        "{a}"
    );

    for field in [
        ("user_id", json!(1)),
        ("id", json!(1)),
        ("secret", json!("mine")),
    ] {
        let mut b = json!({ "label": "k" });
        b[field.0] = field.1.clone();
        let a = t
            .json(Method::POST, "/api/v1/account/api-keys", Some(&u.access), b)
            .await;
        assert_eq!(
            a.native(),
            (400, "invalid_body"),
            "api key with {}: {a}",
            field.0
        );
    }
    // Fees and roles are admin routes: a user's token gets 403.
    let a = t
        .json(
            Method::PUT,
            "/api/v1/admin/users/2/fees",
            Some(&u.access),
            json!({"maker": "0", "taker": "0"}),
        )
        .await;
    assert_eq!(a.native(), (403, "forbidden"), "{a}");
    // The token's role stays user.
    let a = t.bearer(Method::GET, "/api/v1/auth/me", &u.access).await;
    assert_eq!(a.body["role"], "user", "{a}");
}
