//! A real Sentinel group on loopback (a primary, a replica, one sentinel,
//! all `redis-server`): a connection made from a `redis+sentinel://` URL
//! writes to the primary, and after `SENTINEL FAILOVER` (the old primary
//! demoted, answering `READONLY`) its commands land on the new primary
//! (after at most one error for the socket the demotion closed), while a
//! plain connection to the old primary is refused.

use flowex_redis::RedisConnector;
use flowex_testkit::redis::RedisServer;
use redis::aio::ConnectionLike;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MASTER: &str = "flowex";

async fn query<T: redis::FromRedisValue>(
    conn: &mut impl ConnectionLike,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(conn).await
}

async fn direct(port: u16) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Waits (up to 30 s) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn role(port: u16) -> String {
    let info: String = query(&mut direct(port).await, &["INFO", "replication"])
        .await
        .unwrap();
    let line = info.lines().find(|l| l.starts_with("role:")).unwrap_or("");
    line.trim_start_matches("role:").trim().to_string()
}

async fn named_primary(sentinel: u16) -> u16 {
    let addr: Vec<String> = query(
        &mut direct(sentinel).await,
        &["SENTINEL", "get-master-addr-by-name", MASTER],
    )
    .await
    .unwrap();
    addr[1].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_connection_follows_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |n: &str| {
        let d = dir.path().join(n);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let Some(primary) = RedisServer::start("sentinel", &sub("primary")) else {
        return;
    };
    let p = primary.port().to_string();
    let replica = RedisServer::start_with(
        "sentinel",
        &sub("replica"),
        &["--replicaof", "127.0.0.1", &p],
    )
    .unwrap();
    let (p, r) = (primary.port(), replica.port());
    let sentinel = RedisServer::sentinel("sentinel", &sub("sentinel"), p, MASTER).unwrap();
    let s = sentinel.port();
    until("the replica in sync", || async {
        let info: String = query(&mut direct(r).await, &["INFO", "replication"])
            .await
            .unwrap();
        info.contains("master_link_status:up")
    })
    .await;
    until("the sentinel knows the replica", || async {
        let replicas: Vec<redis::Value> =
            query(&mut direct(s).await, &["SENTINEL", "replicas", MASTER])
                .await
                .unwrap();
        !replicas.is_empty()
    })
    .await;

    let url = format!("redis+sentinel://127.0.0.1:{s}/{MASTER}/0");
    let connector = Arc::new(RedisConnector::new(&url, Duration::from_secs(2)).unwrap());
    let mut conn = connector.connect().await.unwrap();
    let first: i64 = query(&mut conn, &["INCR", "k"]).await.unwrap();
    assert_eq!(first, 1);

    let _: String = query(&mut direct(s).await, &["SENTINEL", "FAILOVER", MASTER])
        .await
        .unwrap();
    until("the sentinel names the replica", || async {
        named_primary(s).await == r
    })
    .await;
    until("the old primary demoted", || async {
        role(p).await == "slave"
    })
    .await;
    until("the new primary has the write", || async {
        query::<Option<i64>>(&mut direct(r).await, &["GET", "k"])
            .await
            .unwrap()
            == Some(1)
    })
    .await;

    // What a plain connection to the old primary gets: a refusal.
    let refused = query::<i64>(&mut direct(p).await, &["INCR", "k"]).await;
    let e = refused.expect_err("the demoted primary refuses writes");
    let read_only = redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
    assert_eq!(e.kind(), read_only, "{e}");

    // The sentinel connection: the demotion closed its socket, so at most
    // one command fails (it may have been cut off after it ran, so it is
    // not sent again), and the next one lands on the new primary.
    let mut cut = 0;
    let second: i64 = loop {
        match query(&mut conn, &["INCR", "k"]).await {
            Ok(v) => break v,
            Err(e) => {
                assert!(e.is_connection_dropped() || e.is_io_error(), "{e}");
                cut += 1;
                assert_eq!(cut, 1, "a second failure after a failover: {e}");
            }
        }
    };
    assert_eq!(second, 2);
    let on_new: Option<i64> = query(&mut direct(r).await, &["GET", "k"]).await.unwrap();
    assert_eq!(on_new, Some(2));
    assert_eq!(role(r).await, "master");
}

#[tokio::test]
async fn bad_sentinel_urls_are_refused_with_the_reason() {
    for (url, why) in [
        ("redis+sentinel://127.0.0.1:26379", "master name"),
        ("redis+sentinel://127.0.0.1:26379/m/x", "database"),
        ("redis+sentinel:///m", "sentinel address"),
    ] {
        let e = RedisConnector::new(url, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.contains(why), "{url}: {e}");
    }
}
