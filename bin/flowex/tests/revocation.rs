//! `flowex up`: logging out, revoking a session and changing the password
//! end those sessions at once on every route family behind the gateway
//! (the Binance API, the wallet, the account routes, and the admin routes
//! of trading, the wallet and the auth service), for a user and an admin.

mod common;

use common::sessions::Edge;
use common::{flowex, text, Up};
use std::time::Duration;

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
