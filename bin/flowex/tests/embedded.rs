//! `flowex up` end to end over real HTTP: two users register, log in, take
//! demo funds, trade with each other through the gateway, and the balances
//! come out exact to the atomic unit; an API key signs a request the
//! Binance way; the wallet's withdrawals need `WITHDRAW` keys and fresh
//! 2FA codes through the real gateway.

use serde_json::{json, Value};

mod common;

use common::Up;

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn login(c: &reqwest::Client, base: &str, email: &str) -> String {
    let creds = json!({ "email": email, "password": "a long enough passphrase" });
    let (s, v) = call(
        c,
        c.post(format!("{base}/api/v1/auth/register")).json(&creds),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(c, c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

fn balance(account: &Value, asset: &str) -> (String, String) {
    let b = account["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == asset)
        .unwrap();
    (
        b["free"].as_str().unwrap().to_string(),
        b["locked"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn register_login_deposit_trade_and_settle_through_the_gateway() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let (s, v) = call(&c, c.get(format!("{base}/health/ready"))).await;
    assert_eq!(s, 200, "{v}");
    let seller = login(&c, &base, "seller@example.com").await;
    let buyer = login(&c, &base, "buyer@example.com").await;
    for (token, asset) in [(&seller, "BTC"), (&buyer, "USDT")] {
        let req = c
            .post(format!("{base}/api/v1/wallet/faucet"))
            .bearer_auth(token)
            .json(&json!({ "asset": asset }));
        let (s, v) = call(&c, req).await;
        assert_eq!(s, 201, "{v}");
    }
    let order = |token: &String, form: &str| {
        c.post(format!("{base}/api/v3/order"))
            .bearer_auth(token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
    };
    let (s, v) = call(
        &c,
        order(
            &seller,
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000",
        ),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("NEW")), "{v}");
    let (s, v) = call(
        &c,
        order(
            &buyer,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=60000",
        ),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("FILLED")), "{v}");
    // 0.1% fees: the buyer pays in BTC, the seller in USDT.
    let account = |token: &String| c.get(format!("{base}/api/v3/account")).bearer_auth(token);
    let (_, a) = call(&c, account(&seller)).await;
    assert_eq!(
        balance(&a, "BTC"),
        ("0.49000000".into(), "0.00000000".into())
    );
    assert_eq!(
        balance(&a, "USDT"),
        ("599.40000000".into(), "0.00000000".into())
    );
    let (_, b) = call(&c, account(&buyer)).await;
    assert_eq!(
        balance(&b, "BTC"),
        ("0.00999000".into(), "0.00000000".into())
    );
    assert_eq!(
        balance(&b, "USDT"),
        ("9400.00000000".into(), "0.00000000".into())
    );

    // The history (the SQL projection): reads wait for it to catch up, so
    // the seller's order shows filled and the trade is there at once.
    let history = |token: &String, path: &str| {
        c.get(format!("{base}/api/v3/{path}?symbol=BTCUSDT"))
            .bearer_auth(token)
    };
    let (s, orders) = call(&c, history(&seller, "allOrders")).await;
    assert_eq!(s, 200, "{orders}");
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "{orders}");
    assert_eq!(
        (
            orders[0]["status"].as_str(),
            orders[0]["executedQty"].as_str()
        ),
        (Some("FILLED"), Some("0.01000000")),
        "{orders}"
    );
    let (s, trades) = call(&c, history(&buyer, "myTrades")).await;
    assert_eq!(s, 200, "{trades}");
    assert_eq!(trades.as_array().map(Vec::len), Some(1), "{trades}");
    assert_eq!(
        (
            trades[0]["price"].as_str(),
            trades[0]["qty"].as_str(),
            trades[0]["commission"].as_str(),
            trades[0]["commissionAsset"].as_str(),
            trades[0]["isBuyer"].as_bool()
        ),
        (
            Some("60000.00000000"),
            Some("0.01000000"),
            Some("0.00001000"),
            Some("BTC"),
            Some(true)
        )
    );

    // An API key signs a request over the raw query, Binance's way.
    let req = c
        .post(format!("{base}/api/v1/account/api-keys"))
        .bearer_auth(&buyer)
        .json(&json!({ "label": "bot" }));
    let (s, key) = call(&c, req).await;
    assert_eq!(s, 201, "{key}");
    let (api_key, secret) = (
        key["api_key"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let query = format!("timestamp={now}&recvWindow=5000");
    let signature = flowex_auth::sign(secret, query.as_bytes());
    let signed = c
        .get(format!(
            "{base}/api/v3/account?{query}&signature={signature}"
        ))
        .header("X-MBX-APIKEY", api_key);
    let (s, v) = call(&c, signed).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(balance(&v, "BTC").0, "0.00999000");
    let forged = c
        .get(format!(
            "{base}/api/v3/account?{query}&signature={}",
            "0".repeat(64)
        ))
        .header("X-MBX-APIKEY", api_key);
    let (s, v) = call(&c, forged).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-1022)), "{v}");
    // Nobody gets in without credentials, and a forged identity header counts for nothing.
    let sneaky = c
        .get(format!("{base}/api/v3/account"))
        .header("x-flowex-identity", "user=1;role=admin;session=x");
    let (s, _) = call(&c, sneaky).await;
    assert_eq!(s, 401);
}

/// The wallet through the real gateway: an API key needs `WITHDRAW` to
/// request a withdrawal (the gateway's security class), a user who turned
/// 2FA on through the auth service needs a fresh code (the wallet reads the
/// same sealed secret), and the ledger shows the faucet's deposit.
fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[tokio::test]
async fn withdrawals_need_withdraw_keys_and_fresh_2fa_codes() {
    let up = Up::start_fresh(&["--no-bot"]);
    let (c, base) = (reqwest::Client::new(), up.base.clone());
    let creds = json!({ "email": "w@example.com", "password": "a long enough passphrase" });
    let (s, v) = call(
        &c,
        c.post(format!("{base}/api/v1/auth/register")).json(&creds),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(&c, c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let (s, v) = call(
        &c,
        c.post(format!("{base}/api/v1/wallet/faucet"))
            .bearer_auth(&token)
            .json(&json!({ "asset": "BTC" })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let key = |perms: Value| {
        c.post(format!("{base}/api/v1/account/api-keys"))
            .bearer_auth(&token)
            .json(&json!({ "label": "k", "permissions": perms }))
    };
    let (s, trade_key) = call(&c, key(json!(["READ", "TRADE"]))).await;
    assert_eq!(s, 201, "{trade_key}");
    let (s, withdraw_key) = call(&c, key(json!(["READ", "WITHDRAW"]))).await;
    assert_eq!(s, 201, "{withdraw_key}");
    let signed = |k: &Value, body: &Value| {
        let body = body.to_string();
        let query = format!("timestamp={}&recvWindow=5000", now_ms());
        let mut payload = query.clone().into_bytes();
        payload.extend_from_slice(body.as_bytes());
        let signature = flowex_auth::sign(k["secret"].as_str().unwrap(), &payload);
        c.post(format!(
            "{base}/api/v1/wallet/withdrawals?{query}&signature={signature}"
        ))
        .header("X-MBX-APIKEY", k["api_key"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(body)
    };
    let w = json!({"asset": "BTC", "amount": "0.01", "address": "bc1qdest"});
    let (s, v) = call(&c, signed(&trade_key, &w)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "{v}"
    );
    let (s, v) = call(&c, signed(&withdraw_key, &w)).await;
    assert_eq!(
        (s, v["withdrawal"]["state"].as_str()),
        (201, Some("requested")),
        "{v}"
    );

    // 2FA on through the auth service: the wallet asks for a fresh code.
    let (s, e) = call(
        &c,
        c.post(format!("{base}/api/v1/account/2fa/enroll"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    let secret = flowex_auth::TotpSecret::from_base32(e["secret"].as_str().unwrap()).unwrap();
    let now = (now_ms() / 1000) as u64;
    let (s, v) = call(
        &c,
        c.post(format!("{base}/api/v1/account/2fa/confirm"))
            .bearer_auth(&token)
            .json(&json!({ "code": secret.code_at(now) })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let bearer = |body: &Value| {
        c.post(format!("{base}/api/v1/wallet/withdrawals"))
            .bearer_auth(&token)
            .json(body)
    };
    let (s, v) = call(&c, bearer(&w)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("totp_required")),
        "{v}"
    );
    let (s, v) = call(&c, signed(&withdraw_key, &w)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("totp_required")),
        "{v}"
    );
    // The confirmation's code is used up; the next step's is fresh.
    let mut used = w.clone();
    used["totp_code"] = json!(secret.code_at(now));
    let (s, v) = call(&c, bearer(&used)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("invalid_totp")),
        "{v}"
    );
    let mut fresh = w.clone();
    fresh["totp_code"] = json!(secret.code_at(now + 30));
    let (s, v) = call(&c, bearer(&fresh)).await;
    assert_eq!(
        (s, v["withdrawal"]["amount"].as_str()),
        (201, Some("0.01000000")),
        "{v}"
    );
    let (s, v) = call(
        &c,
        c.get(format!("{base}/api/v1/wallet/withdrawals"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (s, v["withdrawals"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{v}"
    );

    // The faucet's deposit is in the ledger (the projection follows the
    // sequencer within moments).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, v) = call(
            &c,
            c.get(format!("{base}/api/v1/wallet/ledger?cause=deposit"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        if let Some(e) = v["entries"].as_array().and_then(|a| a.first()) {
            assert_eq!(
                (e["asset"].as_str(), e["amount"].as_str()),
                (Some("BTC"), Some("0.50000000")),
                "{v}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no deposit in the ledger: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
