//! API7:2023 Server Side Request Forgery does not apply: FlowEx fetches no
//! URL a caller gives (withdrawal addresses are stored strings, never
//! contacted). API8:2023 Security Misconfiguration: injection strings in
//! every text field are refused or stored verbatim, never a 5xx; security
//! headers and CORS on every response family; no error shows internal
//! detail (SQL, file paths, panics, stack traces).

use crate::{Answer, Target};
use reqwest::Method;
use serde_json::json;

const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "\" OR 1=1 --",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "%00\u{0}null",
    "\u{202e}rtl",
    "A\r\nX-Injected: 1",
];

/// What no answer may contain: SQL, paths of the build, panics.
const INTERNAL: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "sqlx",
    "sqlite",
    "postgres",
    "panicked",
    "RUST_BACKTRACE",
    "/src/",
    ".rs:",
    "/home/",
    "/root/",
    "stack backtrace",
];

fn assert_clean(what: &str, a: &Answer) {
    assert!(a.status < 500, "{what}: {a}");
    for word in INTERNAL {
        assert!(!a.text.contains(word), "{what} shows {word:?}: {a}");
    }
    assert!(
        a.headers.get("x-injected").is_none(),
        "{what}: header injected"
    );
}

#[tokio::test]
async fn injection_strings_in_every_text_field_never_break_through() {
    let t = Target::start();
    let u = t.user("inject@example.com").await;
    t.faucet(&u, "BTC").await;
    for s in INJECTIONS {
        let enc: String = url_escape(s);
        let calls = [
            (
                "register email",
                t.json(
                    Method::POST,
                    "/api/v1/auth/register",
                    None,
                    json!({"email": s, "password": crate::PASSWORD}),
                )
                .await,
            ),
            (
                "login email",
                t.json(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    json!({"email": s, "password": s}),
                )
                .await,
            ),
            (
                "key label",
                t.json(
                    Method::POST,
                    "/api/v1/account/api-keys",
                    Some(&u.access),
                    json!({"label": s}),
                )
                .await,
            ),
            (
                "key ip",
                t.json(
                    Method::POST,
                    "/api/v1/account/api-keys",
                    Some(&u.access),
                    json!({"label": "k", "ip_allow": [s]}),
                )
                .await,
            ),
            (
                "address",
                t.json(
                    Method::POST,
                    "/api/v1/wallet/withdrawals",
                    Some(&u.access),
                    json!({"asset": "BTC", "amount": "0.001", "address": s}),
                )
                .await,
            ),
            (
                "asset",
                t.json(
                    Method::POST,
                    "/api/v1/wallet/withdrawals",
                    Some(&u.access),
                    json!({"asset": s, "amount": "1", "address": "x"}),
                )
                .await,
            ),
            (
                "ledger cause",
                t.bearer(
                    Method::GET,
                    &format!("/api/v1/wallet/ledger?cause={enc}"),
                    &u.access,
                )
                .await,
            ),
            (
                "symbol",
                t.send(t.req(Method::GET, &format!("/api/v3/depth?symbol={enc}")))
                    .await,
            ),
            (
                "order symbol",
                t.send(t.signed(
                    Method::POST,
                    "/api/v3/order",
                    &u,
                    "",
                    &format!("symbol={enc}&side=BUY&type=MARKET&quantity=1"),
                ))
                .await,
            ),
            (
                "client order id",
                t.send(t.signed(
                    Method::GET,
                    "/api/v3/order",
                    &u,
                    &format!("symbol=BTCUSDT&origClientOrderId={enc}"),
                    "",
                ))
                .await,
            ),
        ];
        for (what, a) in calls {
            assert_clean(&format!("{what} = {s:?}"), &a);
        }
    }
    // What was stored comes back verbatim (JSON-escaped), not executed.
    let a = t
        .bearer(Method::GET, "/api/v1/account/api-keys", &u.access)
        .await;
    assert_clean("key list", &a);
    let labels: Vec<&str> = a.body["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["label"].as_str())
        .collect();
    assert!(labels.contains(&"' OR '1'='1"), "{labels:?}");
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn every_response_family_carries_the_security_headers_and_cors_is_an_allow_list() {
    let t = Target::start();
    let u = t.user("headers@example.com").await;
    let reqs = [
        (
            "market data",
            t.req(Method::GET, "/api/v3/depth?symbol=BTCUSDT"),
        ),
        (
            "binance error",
            t.req(Method::GET, "/api/v3/depth?symbol=NOPE"),
        ),
        (
            "binance private",
            t.req(Method::GET, "/api/v3/account").bearer_auth(&u.access),
        ),
        (
            "auth",
            t.req(Method::GET, "/api/v1/auth/me").bearer_auth(&u.access),
        ),
        ("auth refusal", t.req(Method::GET, "/api/v1/auth/me")),
        (
            "wallet",
            t.req(Method::GET, "/api/v1/wallet/balances")
                .bearer_auth(&u.access),
        ),
        (
            "admin refusal",
            t.req(Method::GET, "/api/v1/admin/markets")
                .bearer_auth(&u.access),
        ),
        ("health", t.req(Method::GET, "/health/live")),
        ("document", t.req(Method::GET, "/openapi.json")),
        ("docs", t.req(Method::GET, "/docs")),
        ("web ui", t.req(Method::GET, "/")),
        ("not found", t.req(Method::GET, "/no/such/route")),
    ];
    for (what, r) in reqs {
        let a = t.send(r.header("origin", "https://evil.example")).await;
        assert_clean(what, &a);
        let h = |n: &str| {
            a.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        assert!(
            h("access-control-allow-origin").is_empty(),
            "{what}: evil origin allowed"
        );
    }
    // A preflight from a foreign origin is not granted.
    let r = t
        .req(Method::OPTIONS, "/api/v3/order")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST");
    let a = t.send(r).await;
    assert!(
        a.headers.get("access-control-allow-origin").is_none(),
        "preflight: {a}"
    );
}
