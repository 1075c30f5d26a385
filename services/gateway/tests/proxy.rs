//! Distributed mode: the gateway forwards to fake services (real HTTP
//! servers on loopback that echo what they received).

mod common;

use common::*;
use flowex_gateway::{GatewayConfig, HttpKeyDirectory, ProxyConfig, Upstreams};
use flowex_http::InternalToken;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Cluster {
    gw: Server,
    tokens: Tokens,
    auth: FakeUpstream,
    trading: FakeUpstream,
    market: FakeUpstream,
    wallet: FakeUpstream,
}

fn uri(s: &Server) -> http::Uri {
    s.base.parse().unwrap()
}

async fn cluster_with(cfg: GatewayConfig, override_trading: Option<String>) -> Cluster {
    let tokens = Tokens::new();
    let (auth, trading, market, wallet) = (
        fake_upstream("auth").await,
        fake_upstream("trading").await,
        fake_upstream("market-data").await,
        fake_upstream("wallet").await,
    );
    let token = InternalToken::new(INTERNAL_TOKEN);
    let upstreams = Upstreams {
        auth: uri(&auth.server),
        trading: override_trading
            .map(|u| u.parse().unwrap())
            .unwrap_or_else(|| uri(&trading.server)),
        market_data: uri(&market.server),
        wallet: uri(&wallet.server),
        token: token.clone(),
    };
    let directory = HttpKeyDirectory::new(uri(&auth.server), token, Duration::from_secs(2));
    let app = flowex_gateway::proxied(cfg, directory, tokens.verifier(), upstreams).unwrap();
    Cluster {
        gw: start(app).await,
        tokens,
        auth,
        trading,
        market,
        wallet,
    }
}

async fn cluster() -> Cluster {
    cluster_with(config(None), None).await
}

#[tokio::test]
async fn routes_by_prefix_and_stamps_the_internal_channel() {
    let c = cluster().await;
    let user = c.tokens.user();
    let admin = c.tokens.admin();
    let cases: [(&str, &str, Option<&str>); 11] = [
        ("/api/v3/depth?symbol=BTCUSDT", "market-data", None),
        ("/api/v3/ticker/24hr", "market-data", None),
        ("/api/v3/time", "market-data", None),
        ("/api/v3/exchangeInfo", "trading", None),
        ("/api/v3/account", "trading", Some(&user)),
        ("/api/v3/openOrders", "trading", Some(&user)),
        ("/api/v1/account/me", "auth", Some(&user)),
        ("/api/v1/wallet/balances", "wallet", Some(&user)),
        ("/api/v1/admin/audit", "auth", Some(&admin)),
        ("/api/v1/admin/deposits", "wallet", Some(&admin)),
        ("/api/v1/admin/markets", "trading", Some(&admin)),
    ];
    for (path, service, token) in cases {
        let mut req = c.gw.client.get(c.gw.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = c.gw.send(req).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let v = r.json();
        assert_eq!(v["service"], service, "{path}");
        assert_eq!(v["internal_token"], INTERNAL_TOKEN, "{path}: token stamped");
        match token {
            None => assert_eq!(v["identity_header"], Value::Null, "{path}"),
            Some(t) if t == admin => {
                assert_eq!(v["identity_header"], "user=1;role=admin;session=101")
            }
            Some(_) => assert_eq!(v["identity_header"], "user=7;role=user;session=107"),
        }
        assert_eq!(v["forwarded_for"], "127.0.0.1", "{path}");
    }
    assert_eq!(c.wallet.hits.load(Ordering::SeqCst), 2);
    assert_eq!(c.auth.hits.load(Ordering::SeqCst), 2);
    // Unknown API paths are the gateway's 404; nothing is forwarded.
    let before = c.trading.hits.load(Ordering::SeqCst) + c.market.hits.load(Ordering::SeqCst);
    c.gw.get("/api/v3/nope")
        .await
        .assert_binance(404, -1020, "This operation is not supported.");
    assert_eq!(
        c.trading.hits.load(Ordering::SeqCst) + c.market.hits.load(Ordering::SeqCst),
        before
    );
}

#[tokio::test]
async fn forwards_bytes_exactly_and_propagates_the_request_id() {
    let c = cluster().await;
    let query = "b=2&a=%41%2b+x&z&symbol=BTCUSDT&list=%5B%22A%22%5D";
    let body = "quantity=1.00000000&price=0.1&note=h%C3%A9+llo&x=";
    let r =
        c.gw.send(
            c.gw.client
                .post(c.gw.url(&format!("/api/v3/order?{query}")))
                .bearer_auth(c.tokens.user())
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-request-id", "req-abc_123")
                .header("X-FlowEx-Identity", "user=1;role=admin;session=x")
                .header("X-FlowEx-Internal-Token", "guess")
                .body(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["service"], "trading");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api/v3/order");
    assert_eq!(v["query"], query);
    assert_eq!(v["body"], body);
    assert_eq!(v["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(v["request_id"], "req-abc_123");
    assert_eq!(r.header("x-request-id"), Some("req-abc_123"));
    assert_eq!(v["identity_header"], "user=7;role=user;session=107");
    assert_eq!(v["internal_token"], INTERNAL_TOKEN);
    // An anonymous request with forged internal headers reaches the service
    // with the gateway's token and no identity.
    let r =
        c.gw.send(
            c.gw.client
                .get(c.gw.url("/api/v3/depth"))
                .header("X-FlowEx-Identity", "user=1;role=admin;session=x"),
        )
        .await;
    assert_eq!(r.json()["identity_header"], Value::Null);
    // Without a usable request id, the gateway's own is sent and returned.
    let r = c.gw.get("/api/v3/time").await;
    let id = r.header("x-request-id").unwrap().to_string();
    assert_eq!(r.json()["request_id"], id.as_str());
}

#[tokio::test]
async fn signed_requests_use_the_auth_service_directory_with_a_cache() {
    let c = cluster().await;
    let now = now_ms();
    let q = format!("symbol=BTCUSDT&timestamp={now}");
    let path = format!("/api/v3/order?{q}&signature={}", sign(&q));
    let r =
        c.gw.keyed(reqwest::Method::POST, &path, KEY_TRADE, "")
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["identity_header"],
        "user=7;role=user;key=1;perms=READ,TRADE"
    );
    let lookups = c.auth.hits.load(Ordering::SeqCst);
    assert_eq!(lookups, 1);
    let r =
        c.gw.keyed(reqwest::Method::POST, &path, KEY_TRADE, "")
            .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        c.auth.hits.load(Ordering::SeqCst),
        1,
        "second lookup cached"
    );
    // Unknown key: the auth service says 404.
    c.gw.keyed(reqwest::Method::POST, &path, KEY_UNKNOWN, "")
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    // Auth service down: 503, not a pass.
    c.auth.failing.store(true, Ordering::SeqCst);
    let r = c.gw.keyed(reqwest::Method::POST, &path, KEY_READ, "").await;
    assert_eq!(r.status, 503, "{}", r.text);
}

#[tokio::test]
async fn upstream_down_is_a_fast_503_in_the_right_shape() {
    let c = cluster_with(config(None), Some(dead_address().await)).await;
    let started = Instant::now();
    let r = c.gw.get("/api/v3/exchangeInfo").await;
    r.assert_binance(503, -1008, "Service unavailable. Please try again later.");
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The native shape for native paths.
    let mut c2 = config(None);
    c2.proxy.failures_to_open = 100;
    let dead = dead_address().await;
    let tokens = Tokens::new();
    let token = InternalToken::new(INTERNAL_TOKEN);
    let up = Upstreams {
        auth: dead.parse().unwrap(),
        trading: dead.parse().unwrap(),
        market_data: dead.parse().unwrap(),
        wallet: dead.parse().unwrap(),
        token: token.clone(),
    };
    let dir = HttpKeyDirectory::new(dead.parse().unwrap(), token, Duration::from_secs(1));
    let gw = start(flowex_gateway::proxied(c2, dir, tokens.verifier(), up).unwrap()).await;
    let r = gw
        .get_bearer("/api/v1/wallet/balances", &tokens.user())
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": {"code": "service_unavailable", "message": "The service is temporarily unavailable; try again shortly."}})
    );
    let r = gw.get("/health/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["checks"]["wallet"], "failed");
}

#[tokio::test]
async fn circuit_opens_after_failures_and_half_opens_later() {
    let mut cfg = config(None);
    cfg.proxy = ProxyConfig {
        failures_to_open: 3,
        open_for: Duration::from_millis(400),
        ..ProxyConfig::default()
    };
    let c = cluster_with(cfg, None).await;
    c.market.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let r = c.gw.get("/api/v3/depth").await;
        assert_eq!(r.status, 503, "the service's own 503 passes through");
    }
    assert_eq!(c.market.hits.load(Ordering::SeqCst), 3);
    // Open: refused without calling the service.
    for _ in 0..5 {
        let r = c.gw.get("/api/v3/depth").await;
        r.assert_binance(503, -1008, "Service unavailable. Please try again later.");
    }
    assert_eq!(
        c.market.hits.load(Ordering::SeqCst),
        3,
        "no call while open"
    );
    // Other services are unaffected.
    assert_eq!(c.gw.get("/api/v3/exchangeInfo").await.status, 200);
    // Half-open after the delay: a failing probe re-opens...
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(c.gw.get("/api/v3/depth").await.status, 503);
    assert_eq!(c.market.hits.load(Ordering::SeqCst), 4, "one probe");
    c.gw.get("/api/v3/depth").await.assert_binance(
        503,
        -1008,
        "Service unavailable. Please try again later.",
    );
    assert_eq!(c.market.hits.load(Ordering::SeqCst), 4);
    // ...a successful probe closes.
    c.market.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = c.gw.get("/api/v3/depth").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.gw.get("/api/v3/depth").await.status, 200);
    assert_eq!(c.market.hits.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn slow_upstream_times_out_with_minus_1007() {
    let mut cfg = config(None);
    cfg.proxy.request_timeout = Duration::from_millis(300);
    let c = cluster_with(cfg, None).await;
    let started = Instant::now();
    let r = c.gw.get("/api/v3/depth?sleep=1").await;
    r.assert_binance(
        503,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn oversized_body_is_refused_before_proxying() {
    let mut cfg = config(None);
    cfg.http.body_limit_bytes = 1024;
    let c = cluster_with(cfg, None).await;
    let r =
        c.gw.send(
            c.gw.client
                .post(c.gw.url("/api/v1/auth/login"))
                .body("x".repeat(5000)),
        )
        .await;
    r.assert_native(413, "payload_too_large");
    assert_eq!(c.auth.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = cluster().await;
    for (path, upstream) in [("/ws/btcusdt@trade", &c.market), ("/ws-api/v3", &c.trading)] {
        let mut tcp = tokio::net::TcpStream::connect(c.gw.addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("upgrade: echo"),
            "{head}"
        );
        tcp.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"HELLO");
        assert!(upstream.hits.load(Ordering::SeqCst) >= 1);
    }
}

#[tokio::test]
async fn distributed_router_from_the_configuration() {
    let tokens = Tokens::new();
    let (auth, trading, market, wallet) = (
        fake_upstream("auth").await,
        fake_upstream("trading").await,
        fake_upstream("market-data").await,
        fake_upstream("wallet").await,
    );
    let dead_redis = dead_address().await.replace("http://", "redis://");
    let toml = format!(
        r#"
mode = "distributed"
database_url = "postgres://u:p@127.0.0.1:1/flowex"
redis_url = "{dead_redis}/0"
internal_token = "{INTERNAL_TOKEN}"

[secrets]
jwt_public_key = """{pem}"""

[services.auth]
url = "{a}"
port = 1
[services.trading]
url = "{t}"
port = 2
[services.market_data]
url = "{m}"
port = 3
[services.wallet]
url = "{w}"
port = 4
"#,
        pem = tokens.keys.public_pem(),
        a = auth.server.base,
        t = trading.server.base,
        m = market.server.base,
        w = wallet.server.base,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flowex.toml");
    std::fs::write(&file, toml).unwrap();
    let config =
        flowex_config::Config::load_from(Some(&file), std::iter::empty::<(String, String)>())
            .unwrap();
    let options = flowex_gateway::ServeOptions {
        openapi: Some(serde_json::json!({"openapi": "3.0.3", "x-from": "options"})),
        ..Default::default()
    };
    let gw = start(flowex_gateway::distributed_router(&config, options).unwrap()).await;
    let r = gw
        .get_bearer("/api/v1/wallet/balances", &tokens.user())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["service"], "wallet");
    assert_eq!(r.json()["internal_token"], INTERNAL_TOKEN);
    assert_eq!(r.json()["identity_header"], "user=7;role=user;session=107");
    // Redis is down: limits fail open, readiness says so.
    assert_eq!(
        gw.get("/api/v3/depth").await.json()["service"],
        "market-data"
    );
    let r = gw.get("/health/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["checks"]["redis"], "failed");
    assert_eq!(r.json()["checks"]["trading"], "ok");
    assert_eq!(gw.get("/openapi.json").await.json()["x-from"], "options");
}

#[tokio::test]
async fn an_ended_session_stops_within_the_session_cache_ttl() {
    let mut cfg = config(None);
    cfg.session_cache.ttl = Duration::from_millis(300);
    let c = cluster_with(cfg, None).await;
    let user = c.tokens.user();
    let r = c.gw.get_bearer("/api/v1/wallet/balances", &user).await;
    assert_eq!(r.status, 200, "{}", r.text);
    c.auth.ended.store(true, Ordering::SeqCst);
    let ended_at = Instant::now();
    loop {
        let r = c.gw.get_bearer("/api/v1/wallet/balances", &user).await;
        if r.status == 401 {
            r.assert_native(401, "session_revoked");
            break;
        }
        assert!(
            ended_at.elapsed() < Duration::from_millis(300 + 2_000),
            "still {} after the TTL",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = c.tokens.admin();
    c.gw.get_bearer("/api/v1/admin/deposits", &admin)
        .await
        .assert_native(401, "session_revoked");
    let hits = c.wallet.hits.load(Ordering::SeqCst);
    c.gw.get_bearer("/api/v3/account", &user)
        .await
        .assert_binance(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    assert_eq!(
        c.wallet.hits.load(Ordering::SeqCst),
        hits,
        "refused at the edge"
    );
}
