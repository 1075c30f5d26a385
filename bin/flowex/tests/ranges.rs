//! `flowex up`: ids past the store's range (2^63 − 1) and other numbers
//! out of range are the caller's mistake, answered 4xx at the edge with
//! Binance's -1130 on `/api/v3` and each route's native code on
//! `/api/v1`, never a 5xx from the store.

mod common;

use common::sessions::Edge;
use common::{flowex, text, Up};
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough passphrase";
const TOO_BIG: [&str; 3] = [
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
];

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn ids_out_of_range_are_4xx_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowex(dir.path())
        .args(["admin", "create-user", "--email", "root@example.com"])
        .args(["--password", PASSWORD, "--admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let up = Up::start(dir.path(), &["--no-bot"]);
    let edge = Edge::new(&up.base);
    let admin = edge.login("root@example.com", PASSWORD).await.access;
    let (c, base) = (&edge.c, &up.base);

    for n in TOO_BIG {
        for (path, param) in [
            (
                format!("/api/v3/order?symbol=BTCUSDT&orderId={n}"),
                "orderId",
            ),
            (
                format!("/api/v3/allOrders?symbol=BTCUSDT&orderId={n}"),
                "orderId",
            ),
            (
                format!("/api/v3/myTrades?symbol=BTCUSDT&fromId={n}"),
                "fromId",
            ),
            (
                format!("/api/v3/myTrades?symbol=BTCUSDT&orderId={n}"),
                "orderId",
            ),
        ] {
            let (s, v) = call(c.get(format!("{base}{path}")).bearer_auth(&admin)).await;
            let msg = format!("Data sent for parameter '{param}' is not valid.");
            assert_eq!(
                (s, v.clone()),
                (400, json!({"code": -1130, "msg": msg})),
                "{path}"
            );
        }
        let (s, v) = call(
            c.delete(format!("{base}/api/v3/order?symbol=BTCUSDT&orderId={n}"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_i64()),
            (400, Some(-1130)),
            "cancel {n}: {v}"
        );

        let native = [
            (
                c.get(format!("{base}/api/v1/wallet/ledger?cursor={n}-0")),
                "invalid_cursor",
            ),
            (
                c.get(format!("{base}/api/v1/admin/withdrawals?user_id={n}")),
                "invalid_parameter",
            ),
            (
                c.get(format!("{base}/api/v1/admin/audit?user_id={n}")),
                "invalid_parameter",
            ),
            (
                c.post(format!("{base}/api/v1/admin/users/{n}/freeze")),
                "invalid_user_id",
            ),
            (
                c.put(format!("{base}/api/v1/admin/users/{n}/fees"))
                    .json(&json!({"maker_fee": "0.001", "taker_fee": "0.001"})),
                "invalid_user_id",
            ),
            (
                c.delete(format!("{base}/api/v1/admin/users/{n}/fees")),
                "invalid_user_id",
            ),
        ];
        for (req, code) in native {
            let (s, v) = call(req.bearer_auth(&admin)).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (400, Some(code)),
                "{n}: {v}"
            );
        }
        for req in [
            c.get(format!("{base}/api/v1/wallet/withdrawals/{n}")),
            c.delete(format!("{base}/api/v1/wallet/withdrawals/{n}")),
        ] {
            let (s, v) = call(req.bearer_auth(&admin)).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (404, Some("withdrawal_not_found")),
                "{n}: {v}"
            );
        }
    }
    // A JSON number past 2^63 − 1 that fits u64: refused before the store.
    let deposit = json!({
        "user_id": 9223372036854775808u64, "asset": "USDT", "amount": "1", "idempotency_key": "range-1"
    });
    let (s, v) = call(
        c.post(format!("{base}/api/v1/admin/deposits"))
            .bearer_auth(&admin)
            .json(&deposit),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_user_id")),
        "{v}"
    );
    let cancel_all = json!({ "user_id": 9223372036854775808u64 });
    let (s, v) = call(
        c.post(format!("{base}/api/v1/admin/cancel-all"))
            .bearer_auth(&admin)
            .json(&cancel_all),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_user_id")),
        "{v}"
    );
}
