//! `flowex up`: logging out, revoking a session and changing the password
//! end those sessions at once on every route family behind the gateway
//! (the Binance API, the wallet, the account routes, and the admin routes
//! of trading, the wallet and the auth service), for a user and an admin.
//! Distributed mode: the same ended through one gateway replica, and a
//! deleted API key, stop on another replica as soon as the auth service's
//! invalidation arrives on Redis pub/sub, not after its cache TTL.

#[allow(dead_code)]
#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::Cluster;
use common::sessions::Edge;
use common::{flowex, text, Up};
use flowex_testkit::postgres::TestDatabase;
use flowex_testkit::redis::RedisServer;
use serde_json::Value;
use std::time::{Duration, Instant};

const PASSWORD: &str = "a long enough passphrase";

#[tokio::test]
async fn an_ended_session_stops_at_once_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowex(dir.path())
        .args(["admin", "create-user", "--email", "root@example.com"])
        .args(["--password", PASSWORD, "--admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let up = Up::start(dir.path(), &["--no-bot"]);
    let edge = Edge::new(&up.base);
    let body = serde_json::json!({ "email": "alice@example.com", "password": PASSWORD });
    let r = edge
        .c
        .post(format!("{}/api/v1/auth/register", up.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    edge.revocation_ends_every_route("alice@example.com", PASSWORD, false, Duration::ZERO)
        .await;
    edge.revocation_ends_every_route("root@example.com", PASSWORD, true, Duration::ZERO)
        .await;
}

/// Distributed mode, two gateway replicas with key and session caches of
/// 120 s: a key deleted, a session logged out or revoked, and the sessions
/// a password change ends through replica A stop on replica B, which had
/// them cached, as soon as the auth service's invalidation arrives on Redis
/// pub/sub (waited for up to 10 s; without it B would let them in for
/// 120 s). Then Redis is restarted while a key is deleted (the message is
/// lost): B, subscribing again, drops its caches and refuses the key too.
/// Needs `FLOWEX_TEST_POSTGRES_URL` and `redis-server` (skipped with a
/// notice without them, unless `FLOWEX_REQUIRE_POSTGRES`/`_REDIS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_revocations_reach_every_gateway_replica_before_the_cache_ttl() {
    let Some(db) = TestDatabase::create("revocation").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(mut redis) = RedisServer::start("revocation", dir.path()) else {
        return;
    };
    let cluster = Cluster::new(dir.path(), &db.url, redis.port(), &CLUSTER_ENV);
    let _procs = cluster.start_all("root@example.com", PASSWORD).await;
    let port_b = flowex_testkit::free_port();
    let _replica_b = cluster.serve_another("gateway", port_b).await;
    let a = cluster.url("gateway");
    let b = format!("http://127.0.0.1:{port_b}");
    let c = reqwest::Client::new();

    let email = "bob@example.com";
    let body = serde_json::json!({ "email": email, "password": PASSWORD });
    let (s, v) = send(c.post(format!("{a}/api/v1/auth/register")).json(&body)).await;
    assert_eq!(s, 201, "register: {v}");
    let keeper = Edge::new(&a).login(email, PASSWORD).await;

    // A key used through B (cached there), deleted through A.
    let key = new_key(&c, &a, &keeper.access).await;
    assert_eq!(signed_account(&c, &b, &key).await.0, 200, "the key on B");
    assert_eq!(signed_account(&c, &b, &key).await.0, 200, "cached on B");
    let (s, v) = send(
        c.delete(format!("{a}/api/v1/account/api-keys/{}", key.id))
            .bearer_auth(&keeper.access),
    )
    .await;
    assert_eq!(s, 204, "delete the key: {v}");
    refused_soon("a deleted key on B", || signed_account(&c, &b, &key)).await;

    // Sessions checked through B (cached there), ended through A.
    let on_a = Edge::new(&a);
    let logged_out = on_a.login(email, PASSWORD).await;
    let revoked = on_a.login(email, PASSWORD).await;
    let other = on_a.login(email, PASSWORD).await;
    for l in [&keeper, &logged_out, &revoked, &other] {
        assert_eq!(balances(&c, &b, &l.access).await.0, 200, "a session on B");
    }
    let (s, v) = send(
        c.post(format!("{a}/api/v1/auth/logout"))
            .bearer_auth(&logged_out.access)
            .json(&serde_json::json!({ "refresh_token": logged_out.refresh })),
    )
    .await;
    assert_eq!(s, 204, "logout: {v}");
    refused_soon("a logged-out session on B", || {
        balances(&c, &b, &logged_out.access)
    })
    .await;
    let id = on_a.session_id(&revoked.access).await;
    let (s, v) = send(
        c.delete(format!("{a}/api/v1/account/sessions/{id}"))
            .bearer_auth(&keeper.access),
    )
    .await;
    assert_eq!(s, 204, "revoke session {id}: {v}");
    refused_soon("a revoked session on B", || {
        balances(&c, &b, &revoked.access)
    })
    .await;
    let changed = format!("{PASSWORD} changed");
    let body = serde_json::json!({ "current_password": PASSWORD, "new_password": changed });
    let (s, v) = send(
        c.post(format!("{a}/api/v1/auth/password"))
            .bearer_auth(&keeper.access)
            .json(&body),
    )
    .await;
    assert_eq!(s, 204, "password change: {v}");
    refused_soon("a session a password change ended, on B", || {
        balances(&c, &b, &other.access)
    })
    .await;
    assert_eq!(
        balances(&c, &b, &keeper.access).await.0,
        200,
        "the session that changed the password, on B"
    );

    // A message lost while Redis is down: B clears its caches when it
    // subscribes again.
    let key = new_key(&c, &a, &keeper.access).await;
    assert_eq!(signed_account(&c, &b, &key).await.0, 200, "the key on B");
    redis.kill();
    let (s, v) = send(
        c.delete(format!("{a}/api/v1/account/api-keys/{}", key.id))
            .bearer_auth(&keeper.access),
    )
    .await;
    assert_eq!(s, 204, "delete the key while Redis is down: {v}");
    redis.restart();
    refused_within(
        "a key deleted while Redis was down, on B",
        Duration::from_secs(20),
        || signed_account(&c, &b, &key),
    )
    .await;
    let metrics = c.get(format!("{b}/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in [
        "flowex_credential_invalidations_total{result=\"received\"}",
        "flowex_credential_invalidations_total{result=\"resubscribed\"}",
    ] {
        let n = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|n| n.trim().parse::<f64>().ok());
        assert!(n.is_some_and(|n| n >= 1.0), "{line} on B: {n:?}");
    }
}

/// Key and session caches long enough that only invalidation can pass.
const CLUSTER_ENV: [(&str, &str); 5] = [
    ("FLOWEX_AUTH__KEY_CACHE_TTL_MS", "120000"),
    ("FLOWEX_AUTH__SESSION_CACHE_TTL_MS", "120000"),
    ("FLOWEX_RATE_LIMITS__IP_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__USER_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "1000000"),
];

struct Key {
    id: u64,
    api_key: String,
    secret: String,
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn new_key(c: &reqwest::Client, base: &str, token: &str) -> Key {
    let body = serde_json::json!({ "label": "revocation", "permissions": ["READ"] });
    let (s, v) = send(
        c.post(format!("{base}/api/v1/account/api-keys"))
            .bearer_auth(token)
            .json(&body),
    )
    .await;
    assert_eq!(s, 201, "new API key: {v}");
    Key {
        id: v["id"].as_u64().unwrap(),
        api_key: v["api_key"].as_str().unwrap().to_string(),
        secret: v["secret"].as_str().unwrap().to_string(),
    }
}

/// `GET /api/v3/account` signed with `key`.
async fn signed_account(c: &reqwest::Client, base: &str, key: &Key) -> (u16, Value) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let query = format!("recvWindow=60000&timestamp={now}");
    let signature = flowex_auth::sign(&key.secret, query.as_bytes());
    send(
        c.get(format!(
            "{base}/api/v3/account?{query}&signature={signature}"
        ))
        .header("X-MBX-APIKEY", &key.api_key),
    )
    .await
}

async fn balances(c: &reqwest::Client, base: &str, token: &str) -> (u16, Value) {
    send(
        c.get(format!("{base}/api/v1/wallet/balances"))
            .bearer_auth(token),
    )
    .await
}

async fn refused_soon<F, Fut>(what: &str, ask: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    refused_within(what, Duration::from_secs(10), ask).await
}

/// `ask` answers 401 (-2015 or `session_revoked`) within `bound`: polled,
/// not timed (without an invalidation it would pass for the 120 s TTL).
async fn refused_within<F, Fut>(what: &str, bound: Duration, ask: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let start = Instant::now();
    loop {
        let (s, v) = ask().await;
        if s == 401 {
            let refused = v["code"] == -2015 || v["error"]["code"] == "session_revoked";
            assert!(refused, "{what}: 401 {v}");
            return;
        }
        assert!(
            start.elapsed() < bound,
            "{what}: still let in after {:?}: {s} {v}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
