//! API6:2023 Unrestricted Access to Sensitive Business Flows: withdrawals.
//! Without the WITHDRAW permission, without a fresh 2FA code once 2FA is
//! on (bin/flowex/tests/embedded.rs
//! `withdrawals_need_withdraw_keys_and_fresh_2fa_codes` covers both), by a
//! frozen user, and over the asset's daily limit.

use crate::{Target, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn withdrawals_need_permission_an_unfrozen_user_and_room_in_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::flowex(dir.path())
        .args([
            "admin",
            "create-user",
            "--email",
            "root@example.com",
            "--password",
            PASSWORD,
            "--admin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::text(&out));
    let t = Target {
        up: crate::common::Up::start(dir.path(), &["--no-bot"]),
        c: reqwest::Client::new(),
    };
    let root = t
        .json(
            Method::POST,
            "/api/v1/auth/login",
            None,
            json!({"email": "root@example.com", "password": PASSWORD}),
        )
        .await;
    let root = root.body["access_token"].as_str().unwrap().to_string();
    let u = t.user("payout@example.com").await;
    t.faucet(&u, "BTC").await;
    let w = |amount: &str| json!({"asset": "BTC", "amount": amount, "address": "bc1qdest"});

    // A key without WITHDRAW.
    let k = t
        .json(
            Method::POST,
            "/api/v1/account/api-keys",
            Some(&u.access),
            json!({"label": "r", "permissions": ["READ", "TRADE"]}),
        )
        .await;
    let reader = crate::User {
        key: k.body["api_key"].as_str().unwrap().into(),
        secret: k.body["secret"].as_str().unwrap().into(),
        ..u.clone()
    };
    let a = t
        .send(t.signed(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            &reader,
            "",
            &w("0.01").to_string(),
        ))
        .await;
    assert_eq!(a.native(), (401, "invalid_api_key"), "no WITHDRAW: {a}");

    // Over the daily limit.
    let settings = json!({"min": "0.001", "fee": "0.0001", "daily_limit": "0.05"});
    let a = t
        .json(
            Method::PUT,
            "/api/v1/admin/assets/BTC/withdrawal-settings",
            Some(&root),
            settings,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    let a = t
        .json(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            Some(&u.access),
            w("0.04"),
        )
        .await;
    assert_eq!(a.status, 201, "{a}");
    let a = t
        .json(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            Some(&u.access),
            w("0.02"),
        )
        .await;
    assert_eq!(
        a.native(),
        (400, "daily_limit_exceeded"),
        "over the limit: {a}"
    );
    let a = t
        .json(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            Some(&u.access),
            w("0.0001"),
        )
        .await;
    assert_eq!(
        a.native(),
        (400, "amount_below_minimum"),
        "under the minimum: {a}"
    );

    // Frozen: refused with the user's token and key.
    let me = t.bearer(Method::GET, "/api/v1/auth/me", &u.access).await;
    let id = me.body["id"].as_u64().unwrap_or_else(|| panic!("{me}"));
    let a = t
        .bearer(
            Method::POST,
            &format!("/api/v1/admin/users/{id}/freeze"),
            &root,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    let a = t
        .json(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            Some(&u.access),
            w("0.001"),
        )
        .await;
    assert_eq!(a.native(), (403, "account_frozen"), "frozen, token: {a}");
    let a = t
        .send(t.signed(
            Method::POST,
            "/api/v1/wallet/withdrawals",
            &u,
            "",
            &w("0.001").to_string(),
        ))
        .await;
    assert_eq!(a.native(), (403, "account_frozen"), "frozen, key: {a}");
}
