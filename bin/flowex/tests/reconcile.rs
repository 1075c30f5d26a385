//! `flowex admin reconcile` on a real data directory: after `flowex up`
//! ran with its demo market maker (deposits, trades with fees), the ledger,
//! the SQL balances and the engine recovered from the journal agree (exit
//! 0); a tampered `balances` row or ledger entry makes it exit 1 naming the
//! user and the asset.

use sqlx::{Connection, Executor, Row};
use std::path::Path;
use std::process::Output;

mod common;

use common::text;

fn flowex(dir: &Path, args: &[&str]) -> Output {
    common::flowex(dir)
        .args(args)
        .output()
        .expect("flowex runs")
}

async fn db(dir: &Path) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rw", dir.join("flowex.db").display());
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_agrees_after_trading_and_names_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let up = flowex(dir.path(), &["--port", "0", "up", "--seconds", "8"]);
    assert!(up.status.success(), "{}", text(&up));
    let mut conn = db(dir.path()).await;
    let trades: i64 = conn
        .fetch_one("SELECT COUNT(*) AS n FROM ledger_entries WHERE cause = 'fee'")
        .await
        .unwrap()
        .get("n");
    let ok = flowex(dir.path(), &["admin", "reconcile"]);
    let out = text(&ok);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("OK: the ledger, the balances and the engine agree"),
        "{out}"
    );
    assert!(out.contains("USDT: custody holds"), "{out}");
    eprintln!("{trades} fee entries; {out}");

    // A balances row one atom off.
    let row = conn
        .fetch_one(
            "SELECT user_id, asset_id, available FROM balances WHERE user_id > 0 \
             ORDER BY user_id, asset_id LIMIT 1",
        )
        .await
        .unwrap();
    let (user, asset): (i64, i64) = (row.get("user_id"), row.get("asset_id"));
    let available: String = row.get("available");
    let code: String = conn
        .fetch_one(format!("SELECT code FROM assets WHERE id = {asset}").as_str())
        .await
        .map(|r| r.get("code"))
        .unwrap_or_else(|_| String::new());
    let bumped = (available.parse::<u128>().unwrap() + 1).to_string();
    conn.execute(
        format!(
            "UPDATE balances SET available = '{bumped}' WHERE user_id = {user} AND asset_id = {asset}"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let bad = flowex(dir.path(), &["admin", "reconcile"]);
    let out = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("DISAGREEMENT user {user} ")), "{out}");
    if !code.is_empty() {
        assert!(
            out.contains(&format!("DISAGREEMENT user {user} {code}:")),
            "{out}"
        );
    }
    assert!(out.contains("reconcile found 1 disagreement(s)"), "{out}");
    conn.execute(
        format!(
            "UPDATE balances SET available = '{available}' WHERE user_id = {user} AND asset_id = {asset}"
        )
        .as_str(),
    )
    .await
    .unwrap();
    assert!(flowex(dir.path(), &["admin", "reconcile"]).status.success());

    // A ledger entry changed: the asset no longer balances and the user disagrees.
    let row = conn
        .fetch_one(
            "SELECT seq, idx, user_id, amount FROM ledger_entries WHERE account_kind = 'user' \
             ORDER BY seq DESC, idx LIMIT 1",
        )
        .await
        .unwrap();
    let (seq, idx, user): (i64, i64, i64) = (row.get("seq"), row.get("idx"), row.get("user_id"));
    let amount: String = row.get("amount");
    let changed = (amount.parse::<i128>().unwrap() - 1).to_string();
    conn.execute(
        format!("UPDATE ledger_entries SET amount = '{changed}' WHERE seq = {seq} AND idx = {idx}")
            .as_str(),
    )
    .await
    .unwrap();
    let bad = flowex(dir.path(), &["admin", "reconcile"]);
    let out = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("the ledger does not balance"), "{out}");
    assert!(out.contains(&format!("DISAGREEMENT user {user} ")), "{out}");
    conn.close().await.ok();
}
