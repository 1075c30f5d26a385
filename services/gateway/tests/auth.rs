//! Authentication through the embedded gateway, over real HTTP: Bearer
//! tokens, Binance-signed API-key requests, internal headers, admin routes.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Gw {
    server: Server,
    tokens: Tokens,
    clock: TestClock,
}

async fn gateway() -> Gw {
    let tokens = Tokens::new();
    let clock = TestClock::now();
    let app = flowex_gateway::embedded(
        config(Some(&clock)),
        directory(),
        sessions(),
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    Gw {
        server: start(app).await,
        tokens,
        clock,
    }
}

const SESSION_USER: &str = "user=7;role=user;session=107";
const KEY1: &str = "user=7;role=user;key=1;perms=READ,TRADE";

// ---------------------------------------------------------------- Bearer

#[tokio::test]
async fn bearer_valid_reaches_the_service() {
    let g = gateway().await;
    for path in ["/api/v1/account/me", "/api/v3/account", "/api/v3/depth"] {
        let r = g.server.get_bearer(path, &g.tokens.user()).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json()["identity"], SESSION_USER, "{path}");
    }
    // POST /api/v3/order with a Bearer token: no signature needed (web UI).
    let r = g
        .server
        .send(
            g.server
                .client
                .post(g.server.url("/api/v3/order"))
                .bearer_auth(g.tokens.user())
                .header("content-type", "application/x-www-form-urlencoded")
                .body("symbol=BTCUSDT&side=BUY"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], SESSION_USER);
    assert_eq!(r.json()["body"], "symbol=BTCUSDT&side=BUY");
}

#[tokio::test]
async fn a_bearer_request_carrying_a_key_a_signature_or_a_bad_timestamp_is_refused() {
    let g = gateway().await;
    g.clock.set(VECTOR_TS + 100);
    let token = g.tokens.user();
    let rejected = "Invalid API-key, IP, or permissions for action.";
    let bearer = |path: &str| {
        g.server
            .client
            .get(g.server.url(path))
            .bearer_auth(token.clone())
    };
    // A valid token with a wrong signature, or with a key (good or bad).
    let wrong_sig = format!(
        "/api/v3/account?timestamp={VECTOR_TS}&signature={}",
        "0".repeat(64)
    );
    let cases = [
        bearer(&wrong_sig),
        bearer("/api/v3/account").header("X-MBX-APIKEY", KEY_TRADE),
        bearer("/api/v3/account").header("X-MBX-APIKEY", "not a key"),
    ];
    for req in cases {
        let r = g.server.send(req).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json()["code"], -2015, "{}", r.text);
        assert_eq!(r.json()["msg"], rejected);
    }
    // The native API answers in its own shape.
    let r = g
        .server
        .send(bearer("/api/v1/account/me").header("X-MBX-APIKEY", KEY_TRADE))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // A timestamp is checked, not ignored: malformed, far out of range, or
    // outside the window.
    let huge = format!("/api/v3/account?timestamp={}", "9".repeat(30));
    let r = g.server.send(bearer(&huge)).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!(-1130)),
        "{}",
        r.text
    );
    let old = format!("/api/v3/account?timestamp={}", VECTOR_TS - 60_000);
    let r = g.server.send(bearer(&old)).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!(-1021)),
        "{}",
        r.text
    );
    // The same token alone, or with a timestamp in the window, passes.
    for path in [
        "/api/v3/account",
        &format!("/api/v3/account?timestamp={VECTOR_TS}"),
    ] {
        let r = g.server.send(bearer(path)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json()["identity"], SESSION_USER);
    }
}

#[tokio::test]
async fn bad_bearer_tokens_are_401_with_exact_bodies() {
    let g = gateway().await;
    let t = &g.tokens;
    let other = Tokens::new();
    let bad = [
        ("expired", t.expired()),
        ("forged", t.forged()),
        ("alg none", t.alg_none()),
        ("wrong audience", t.wrong_audience()),
        ("other key", other.user()),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in &bad {
        let r = g.server.get_bearer("/api/v3/account", token).await;
        r.assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
        assert!(
            r.header("www-authenticate").unwrap().starts_with("Bearer"),
            "{what}"
        );

        let r = g.server.get_bearer("/api/v1/account/me", token).await;
        assert_eq!(r.status, 401, "{what}");
        if *what == "expired" {
            assert_eq!(
                r.json(),
                serde_json::json!({"error": {"code": "token_expired", "message": "The access token has expired; refresh it."}})
            );
        } else {
            assert_eq!(
                r.json(),
                serde_json::json!({"error": {"code": "unauthorized", "message": "You are not authorized to execute this request."}}),
                "{what}"
            );
        }
        // alg:none claims admin: must not open admin routes either.
        let r = g.server.get_bearer("/api/v1/admin/users", token).await;
        r.assert_native(
            401,
            if *what == "expired" {
                "token_expired"
            } else {
                "unauthorized"
            },
        );
    }
    // No credentials at all.
    g.server
        .get("/api/v1/account/me")
        .await
        .assert_native(401, "unauthorized");
    g.server
        .get("/api/v3/account")
        .await
        .assert_binance(401, -2014, "API-key format invalid.");
    // A bad token on a public route is ignored, not refused.
    let r = g.server.get_bearer("/api/v3/depth", &t.forged()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["identity"], Value::Null);
}

// ---------------------------------------------------------------- signed requests

#[tokio::test]
async fn binance_test_vector_query_body_split_and_middle() {
    let g = gateway().await;
    g.clock.set(VECTOR_TS + 100);
    // Query only.
    let r = g
        .server
        .keyed(
            Method::POST,
            &format!("/api/v3/order?{PAYLOAD}&signature={SIG}"),
            KEY_TRADE,
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], KEY1);
    assert_eq!(r.json()["query"], format!("{PAYLOAD}&signature={SIG}"));
    // Body only (python-binance, ccxt).
    let r = g
        .server
        .keyed(
            Method::POST,
            "/api/v3/order",
            KEY_TRADE,
            &format!("{PAYLOAD}&signature={SIG}"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], KEY1);
    assert_eq!(
        r.json()["body"],
        format!("{PAYLOAD}&signature={SIG}"),
        "body reaches the service intact"
    );
    // Query + body (Binance's second example).
    let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
    let body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let mixed = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
    let r = g
        .server
        .keyed(
            Method::POST,
            &format!("/api/v3/order?{query}"),
            KEY_TRADE,
            &format!("{body}&signature={mixed}"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Signature in the middle of the query.
    let middle = format!("/api/v3/order?symbol=LTCBTC&side=BUY&signature={SIG}&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559");
    let r = g.server.keyed(Method::POST, &middle, KEY_TRADE, "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Upper-case hex is accepted.
    let r = g
        .server
        .keyed(
            Method::POST,
            &format!("/api/v3/order?{PAYLOAD}&signature={}", SIG.to_uppercase()),
            KEY_TRADE,
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn signature_and_timestamp_errors() {
    let g = gateway().await;
    let order = |q: String| format!("/api/v3/order?{q}");
    // Wrong signature.
    g.clock.set(VECTOR_TS + 100);
    let mut bad = SIG.to_string();
    bad.replace_range(0..1, "d");
    g.server
        .keyed(
            Method::POST,
            &order(format!("{PAYLOAD}&signature={bad}")),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(400, -1022, "Signature for this request is not valid.");
    // Payload changed after signing (price 0.2).
    g.server
        .keyed(
            Method::POST,
            &order(format!("{}&signature={SIG}", PAYLOAD.replace("0.1", "0.2"))),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(400, -1022, "Signature for this request is not valid.");
    // Stale: the server is 5001 ms past the timestamp with recvWindow 5000.
    g.clock.set(VECTOR_TS + 5001);
    g.server
        .keyed(
            Method::POST,
            &order(format!("{PAYLOAD}&signature={SIG}")),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
    // Future: the timestamp is 1000 ms ahead of the server.
    g.clock.set(VECTOR_TS - 1000);
    g.server
        .keyed(
            Method::POST,
            &order(format!("{PAYLOAD}&signature={SIG}")),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        );
    // recvWindow above 60000.
    let now = now_ms();
    g.clock.set(now);
    let q = format!("symbol=BTCUSDT&recvWindow=60001&timestamp={now}");
    g.server
        .keyed(
            Method::POST,
            &order(format!("{q}&signature={}", sign(&q))),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(400, -1131, "recvWindow must be less than 60000");
    // recvWindow 60000 is fine.
    let q = format!("symbol=BTCUSDT&recvWindow=60000&timestamp={}", now - 59_000);
    let r = g
        .server
        .keyed(
            Method::POST,
            &order(format!("{q}&signature={}", sign(&q))),
            KEY_TRADE,
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Missing timestamp.
    let q = "symbol=BTCUSDT&side=BUY";
    g.server
        .keyed(
            Method::POST,
            &order(format!("{q}&signature={}", sign(q))),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        );
    // Malformed timestamp.
    let q = "symbol=BTCUSDT&timestamp=soon";
    g.server
        .keyed(
            Method::POST,
            &order(format!("{q}&signature={}", sign(q))),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        );
    // Missing signature.
    let q = format!("symbol=BTCUSDT&timestamp={now}");
    g.server
        .keyed(Method::POST, &order(q), KEY_TRADE, "")
        .await
        .assert_binance(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        );
    // Empty signature.
    let q = format!("symbol=BTCUSDT&timestamp={now}&signature=");
    g.server
        .keyed(Method::POST, &order(q), KEY_TRADE, "")
        .await
        .assert_binance(400, -1022, "Signature for this request is not valid.");
    // Duplicate parameter.
    let q = format!("symbol=A&symbol=B&timestamp={now}");
    g.server
        .keyed(
            Method::POST,
            &order(format!("{q}&signature={}", sign(&q))),
            KEY_TRADE,
            "",
        )
        .await
        .assert_binance(400, -1101, "Duplicate values for a parameter detected.");
}

#[tokio::test]
async fn api_key_errors() {
    let g = gateway().await;
    g.clock.set(VECTOR_TS + 100);
    let signed = format!("/api/v3/order?{PAYLOAD}&signature={SIG}");
    // Unknown key.
    g.server
        .keyed(Method::POST, &signed, KEY_UNKNOWN, "")
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    // Malformed keys.
    for key in ["abc", &KEY_TRADE[..63], &format!("{}-", &KEY_TRADE[..63])] {
        g.server
            .keyed(Method::POST, &signed, key, "")
            .await
            .assert_binance(401, -2014, "API-key format invalid.");
    }
    // A READ key may read but not trade.
    g.server
        .keyed(Method::POST, &signed, KEY_READ, "")
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    let r = g.server.keyed(Method::GET, &signed, KEY_READ, "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], "user=7;role=user;key=2;perms=READ");
    // DELETE openOrders needs TRADE too.
    g.server
        .keyed(
            Method::DELETE,
            &format!("/api/v3/openOrders?{PAYLOAD}&signature={SIG}"),
            KEY_READ,
            "",
        )
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    // IP not in the key's allow-list (the test client is 127.0.0.1).
    g.server
        .keyed(Method::POST, &signed, KEY_FAR, "")
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    // Allowed IP.
    let r = g
        .server
        .keyed(Method::POST, &signed, KEY_WITHDRAW, "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn binance_connector_json_content_type_with_empty_body() {
    let g = gateway().await;
    g.clock.set(VECTOR_TS + 100);
    let r = g
        .server
        .send(
            g.server
                .client
                .post(
                    g.server
                        .url(&format!("/api/v3/order?{PAYLOAD}&signature={SIG}")),
                )
                .header("X-MBX-APIKEY", KEY_TRADE)
                .header("content-type", "application/json;charset=utf-8")
                .body(""),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], KEY1);
    assert_eq!(r.json()["content_type"], "application/json;charset=utf-8");
}

#[tokio::test]
async fn user_stream_needs_only_the_key() {
    let g = gateway().await;
    for m in [Method::POST, Method::PUT, Method::DELETE] {
        let r = g
            .server
            .keyed(m.clone(), "/api/v3/userDataStream", KEY_READ, "")
            .await;
        assert_eq!(r.status, 200, "{m}: {}", r.text);
        assert_eq!(r.json()["identity"], "user=7;role=user;key=2;perms=READ");
    }
    g.server
        .keyed(Method::POST, "/api/v3/userDataStream", KEY_UNKNOWN, "")
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    g.server
        .send(g.server.client.post(g.server.url("/api/v3/userDataStream")))
        .await
        .assert_binance(401, -2014, "API-key format invalid.");
}

#[tokio::test]
async fn withdrawals_need_the_withdraw_permission() {
    let g = gateway().await;
    let now = now_ms();
    g.clock.set(now);
    let q = format!("asset=BTC&amount=1&timestamp={now}");
    let path = format!("/api/v1/wallet/withdrawals?{q}&signature={}", sign(&q));
    g.server
        .keyed(Method::POST, &path, KEY_TRADE, "")
        .await
        .assert_native(401, "invalid_api_key");
    let r = g.server.keyed(Method::POST, &path, KEY_WITHDRAW, "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["identity"],
        "user=7;role=user;key=4;perms=READ,TRADE,WITHDRAW"
    );
    // A session may (the wallet asks for 2FA itself).
    let r = g
        .server
        .send(
            g.server
                .client
                .post(g.server.url("/api/v1/wallet/withdrawals"))
                .bearer_auth(g.tokens.user()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Account routes: Bearer only, an API key is not enough.
    g.server
        .keyed(Method::GET, "/api/v1/account/api-keys", KEY_WITHDRAW, "")
        .await
        .assert_native(401, "unauthorized");
}

// ---------------------------------------------------------------- internal headers

#[tokio::test]
async fn client_sent_internal_headers_never_reach_a_service_nor_authenticate() {
    let g = gateway().await;
    let forged = |req: reqwest::RequestBuilder| {
        req.header("X-FlowEx-Identity", "user=1;role=admin;session=x")
            .header("X-FlowEx-Internal-Token", INTERNAL_TOKEN)
    };
    // Public route: passes as anonymous, headers gone.
    let r = g
        .server
        .send(forged(g.server.client.get(g.server.url("/api/v3/depth"))))
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["identity"], Value::Null);
    assert_eq!(v["identity_header"], Value::Null);
    assert_eq!(v["internal_token"], Value::Null);
    // Protected routes: refused.
    let r = g
        .server
        .send(forged(
            g.server.client.get(g.server.url("/api/v1/admin/users")),
        ))
        .await;
    r.assert_native(401, "unauthorized");
    let r = g
        .server
        .send(forged(g.server.client.get(g.server.url("/api/v3/account"))))
        .await;
    r.assert_binance(401, -2014, "API-key format invalid.");
    // With a real token: the real identity, not the forged one.
    let r = g
        .server
        .send(forged(
            g.server
                .client
                .get(g.server.url("/api/v1/account/me"))
                .bearer_auth(g.tokens.user()),
        ))
        .await;
    assert_eq!(r.json()["identity"], SESSION_USER);
    assert_eq!(r.json()["identity_header"], Value::Null);
}

// ---------------------------------------------------------------- admin, public

#[tokio::test]
async fn admin_routes_and_public_routes() {
    let g = gateway().await;
    let r = g
        .server
        .get_bearer("/api/v1/admin/users", &g.tokens.user())
        .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"error": {"code": "forbidden", "message": "You are not allowed to do this."}})
    );
    assert_eq!(r.status, 403);
    let r = g
        .server
        .get_bearer("/api/v1/admin/users", &g.tokens.admin())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], "user=1;role=admin;session=101");
    // An API key (even with every permission) does not open admin routes.
    g.server
        .keyed(Method::GET, "/api/v1/admin/users", KEY_WITHDRAW, "")
        .await
        .assert_native(401, "unauthorized");
    // Public: nothing needed.
    for path in [
        "/api/v3/ping",
        "/api/v3/depth?symbol=BTCUSDT",
        "/api/v3/exchangeInfo",
    ] {
        let r = g.server.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["identity"], Value::Null);
    }
    let r = g
        .server
        .send(
            g.server
                .client
                .post(g.server.url("/api/v1/auth/login"))
                .body("{}"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(g.server.get("/health/live").await.status == 200);
    // Unknown /api/v1 paths fail closed; unknown /api/v3 paths reach the service (404 there).
    g.server
        .get("/api/v1/whatever")
        .await
        .assert_native(401, "unauthorized");
}

#[tokio::test]
async fn frozen_keys_pass_with_a_marker() {
    let tokens = Tokens::new();
    let d = directory();
    let mut rec = record(5, flowex_auth::Permissions::DEFAULT, "");
    rec.frozen = true;
    d.insert(KEY_UNKNOWN, rec);
    let app = flowex_gateway::embedded(
        config(None),
        d,
        sessions(),
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    let s = start(app).await;
    let r = s
        .keyed(Method::POST, "/api/v3/userDataStream", KEY_UNKNOWN, "")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["frozen"], true);
    let r = s
        .keyed(Method::POST, "/api/v3/userDataStream", KEY_READ, "")
        .await;
    assert_eq!(r.json()["frozen"], false);
}

// ---------------------------------------------------------------- sessions

#[tokio::test]
async fn a_token_of_an_ended_session_is_refused_on_every_route() {
    let tokens = Tokens::new();
    let d = sessions();
    let app = flowex_gateway::embedded(
        config(None),
        directory(),
        d.clone(),
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    let s = start(app).await;
    let (user, admin) = (tokens.user(), tokens.admin());
    assert_eq!(s.get_bearer("/api/v3/account", &user).await.status, 200);
    d.end(107);
    d.end(101);
    for path in [
        "/api/v3/account",
        "/api/v3/openOrders",
        "/api/v1/wallet/balances",
    ] {
        let r = s.get_bearer(path, &user).await;
        if path.starts_with("/api/v3") {
            r.assert_binance(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            );
        } else {
            r.assert_native(401, "session_revoked");
        }
        assert!(r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }
    for path in [
        "/api/v1/admin/deposits",
        "/api/v1/admin/markets",
        "/api/v1/admin/audit",
    ] {
        s.get_bearer(path, &admin)
            .await
            .assert_native(401, "session_revoked");
    }
    // A public route still answers, without an identity.
    let r = s.get_bearer("/api/v3/depth", &user).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["identity"], Value::Null);
    // A token naming a session of another user is refused too.
    d.insert(
        108,
        flowex_http::SessionStatus {
            user_id: 9,
            live: true,
            role: flowex_auth::Role::User,
        },
    );
    s.get_bearer(
        "/api/v1/wallet/balances",
        &tokens.issue("8", flowex_auth::Role::User),
    )
    .await
    .assert_native(401, "session_revoked");
}

#[tokio::test]
async fn an_admin_token_of_a_user_demoted_in_the_database_is_a_user() {
    let tokens = Tokens::new();
    let d = sessions();
    d.insert(
        101,
        flowex_http::SessionStatus {
            user_id: 1,
            live: true,
            role: flowex_auth::Role::User,
        },
    );
    let app = flowex_gateway::embedded(
        config(None),
        directory(),
        d,
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    let s = start(app).await;
    s.get_bearer("/api/v1/admin/deposits", &tokens.admin())
        .await
        .assert_native(403, "forbidden");
    let r = s.get_bearer("/api/v3/account", &tokens.admin()).await;
    assert_eq!(r.json()["identity"], "user=1;role=user;session=101");
}
