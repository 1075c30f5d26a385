//! `flowex admin …` end to end: the first admin is made in the database,
//! `flowex up` runs, and the admin commands drive it over HTTP like an
//! operator would (assets, markets, status, fees, freeze, deposits,
//! cancel-all, audit), with what they change checked through the public
//! API; refusals exit non-zero with the server's error.

use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{flowex, text, Up};

const ADMIN_EMAIL: &str = "ops@example.com";
const ADMIN_PASSWORD: &str = "an admin passphrase 42";

fn with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `flowex admin ARGS --server … --email …`, password from the setting.
fn admin(dir: &Path, up: &Up, args: &[&str]) -> Output {
    admin_as(dir, up, ADMIN_EMAIL, ADMIN_PASSWORD, args)
}

fn admin_as(dir: &Path, up: &Up, email: &str, password: &str, args: &[&str]) -> Output {
    flowex(dir)
        .arg("admin")
        .args(args)
        .args(["--server", &up.base, "--email", email])
        .env("FLOWEX_ADMIN_CLI__PASSWORD", password)
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: Output, expected: &str) {
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(expected), "{expected:?} in {}", text(&o));
}

fn json_of(o: Output) -> Value {
    let out = ok(o);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_operator_runs_markets_users_and_money_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut create = flowex(d);
    create.args([
        "admin",
        "create-user",
        "--email",
        ADMIN_EMAIL,
        "--password",
        "-",
        "--admin",
    ]);
    let out = with_stdin(create, &format!("{ADMIN_PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let up = Up::start(d, &["--no-bot"]);
    let c = reqwest::Client::new();
    let base = up.base.clone();

    // Assets and markets.
    let out = ok(admin(
        d,
        &up,
        &["assets", "create", "--code", "DOGE", "--decimals", "8"],
    ));
    assert!(out.contains("DOGE"), "{out}");
    let out = ok(admin(
        d,
        &up,
        &[
            "markets",
            "create",
            "--symbol",
            "DOGEUSDT",
            "--base",
            "DOGE",
            "--quote",
            "USDT",
            "--tick-size",
            "0.00001",
            "--step-size",
            "1",
            "--max-price",
            "1000",
            "--max-qty",
            "10000000",
            "--min-notional",
            "1",
            "--maker-fee",
            "0.0005",
        ],
    ));
    assert!(
        out.contains("DOGEUSDT") && out.contains("0.000500"),
        "{out}"
    );
    let list = json_of(admin(d, &up, &["markets", "list", "--json"]));
    let doge = list["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["symbol"] == "DOGEUSDT")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(doge["tick_size"], "0.00001000");
    let table = ok(admin(d, &up, &["markets", "list"]));
    assert!(table.lines().next().unwrap().starts_with("id "), "{table}");
    assert_eq!(
        table.lines().count(),
        6,
        "header + 4 demo markets + DOGEUSDT: {table}"
    );

    let exchange_status = |symbol: &str| {
        let req = c.get(format!("{base}/api/v3/exchangeInfo?symbol={symbol}"));
        async move {
            let (s, v) = call(req).await;
            assert_eq!(s, 200, "{v}");
            v["symbols"][0]["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(exchange_status("DOGEUSDT").await, "TRADING");
    ok(admin(d, &up, &["markets", "status", "DOGEUSDT", "HALTED"]));
    assert_eq!(exchange_status("DOGEUSDT").await, "HALT");
    ok(admin(
        d,
        &up,
        &[
            "markets",
            "update",
            "DOGEUSDT",
            "--status",
            "TRADING",
            "--taker-fee",
            "0.002",
        ],
    ));
    assert_eq!(exchange_status("DOGEUSDT").await, "TRADING");
    refused(
        admin(d, &up, &["markets", "status", "NOPE", "HALTED"]),
        "404 market_not_found",
    );
    refused(
        admin(
            d,
            &up,
            &["markets", "update", "DOGEUSDT", "--max-price", "0.000001"],
        ),
        "400 invalid_market",
    );

    // A user: fee tier, deposit, an order, freeze, cancel-all. Nobody
    // registers themselves into a role.
    let creds = json!({ "email": "trader@example.com", "password": "a long enough passphrase" });
    let mut forged = creds.clone();
    forged["role"] = json!("admin");
    let (s, v) = call(c.post(format!("{base}/api/v1/auth/register")).json(&forged)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{v}"
    );
    let (s, v) = call(c.post(format!("{base}/api/v1/auth/register")).json(&creds)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let user = v["user"]["id"].as_u64().unwrap().to_string();
    let out = ok(admin(
        d,
        &up,
        &["fees", "set", &user, "--maker", "0", "--taker", "0.0005"],
    ));
    assert!(out.contains("0.000500"), "{out}");
    let (_, comm) = call(
        c.get(format!("{base}/api/v3/account/commission?symbol=DOGEUSDT"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(comm["standardCommission"]["taker"], "0.00050000", "{comm}");
    ok(admin(
        d,
        &up,
        &[
            "deposit", "--user", &user, "--asset", "USDT", "--amount", "250.5", "--key", "wire-1",
        ],
    ));
    let order = |form: &'static str| {
        c.post(format!("{base}/api/v3/order"))
            .bearer_auth(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
    };
    let buy = "symbol=DOGEUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=0.1";
    let (s, v) = call(order(buy)).await;
    assert_eq!(s, 200, "{v}");
    // Market data follows the new market too.
    let depth = format!("{base}/api/v3/depth?symbol=DOGEUSDT");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (s, v) = call(c.get(&depth)).await;
        if s == 200 && v["bids"][0][0] == "0.10000000" {
            assert_eq!(v["bids"][0][1], "1000.00000000", "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "depth: {s} {v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    ok(admin(d, &up, &["freeze", &user]));
    let (s, v) = call(order(buy)).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-2010)), "{v}");
    // The auth service sees the same freeze: no new login.
    let (s, v) = call(c.post(format!("{base}/api/v1/auth/login")).json(&creds)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("account_frozen")),
        "{v}"
    );
    let out = json_of(admin(d, &up, &["cancel-all", "--user", &user, "--json"]));
    assert_eq!(out["canceled"], 1, "{out}");
    ok(admin(d, &up, &["unfreeze", &user]));
    let (s, v) = call(order(buy)).await;
    assert_eq!(s, 200, "{v}");
    ok(admin(d, &up, &["fees", "clear", &user]));

    // Withdrawals: the user asks, the operator approves one and rejects one.
    let withdraw = |amount: &str| {
        c.post(format!("{base}/api/v1/wallet/withdrawals"))
            .bearer_auth(&token)
            .json(&json!({"asset": "USDT", "amount": amount, "address": "addr-1"}))
    };
    let (s, v) = call(withdraw("10")).await;
    assert_eq!(s, 201, "{v}");
    let first = v["withdrawal"]["id"].as_u64().unwrap().to_string();
    let (s, v) = call(withdraw("5")).await;
    assert_eq!(s, 201, "{v}");
    let second = v["withdrawal"]["id"].as_u64().unwrap().to_string();
    let listed = json_of(admin(
        d,
        &up,
        &[
            "withdrawals",
            "list",
            "--state",
            "requested",
            "--user",
            &user,
            "--json",
        ],
    ));
    assert_eq!(
        listed["withdrawals"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    let done = json_of(admin(d, &up, &["withdrawals", "approve", &first, "--json"]));
    assert_eq!(done["withdrawal"]["state"], "completed", "{done}");
    let back = json_of(admin(
        d,
        &up,
        &[
            "withdrawals",
            "reject",
            &second,
            "--note",
            "wrong address",
            "--json",
        ],
    ));
    assert_eq!(back["withdrawal"]["state"], "released", "{back}");
    refused(
        admin(d, &up, &["withdrawals", "approve", &second]),
        "409 invalid_state",
    );

    // The audit log has the operator's trail.
    let audit = json_of(admin(
        d,
        &up,
        &["audit", "--action", "admin.user.freeze", "--json"],
    ));
    let rows = audit["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    assert_eq!(rows[0]["target"], format!("user:{user}"));
    assert_eq!(rows[0]["result"], "ok");
    let out = ok(admin(d, &up, &["audit", "--limit", "3"]));
    assert!(out.starts_with("id "), "{out}");

    // Refusals: wrong password, not an admin, nothing to cancel-all.
    refused(
        admin_as(
            d,
            &up,
            ADMIN_EMAIL,
            "not the password at all",
            &["assets", "list"],
        ),
        "invalid_credentials",
    );
    refused(
        admin_as(
            d,
            &up,
            "trader@example.com",
            "a long enough passphrase",
            &["assets", "list"],
        ),
        "403 forbidden",
    );
    refused(
        admin(d, &up, &["cancel-all"]),
        "give --user, --symbol or both",
    );

    // The password can come from standard input instead of the setting.
    let mut piped = flowex(d);
    piped.args([
        "admin",
        "assets",
        "list",
        "--json",
        "--server",
        &up.base,
        "--email",
        ADMIN_EMAIL,
    ]);
    let out = with_stdin(piped, &format!("{ADMIN_PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["assets"].as_array().unwrap().len(), 5, "{v}");

    // With 2FA on, the admin needs --totp.
    let admin_creds = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let (s, v) = call(
        c.post(format!("{base}/api/v1/auth/login"))
            .json(&admin_creds),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let admin_token = v["access_token"].as_str().unwrap().to_string();
    let (s, v) = call(
        c.post(format!("{base}/api/v1/account/2fa/enroll"))
            .bearer_auth(&admin_token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let secret = flowex_auth::TotpSecret::from_base32(v["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (s, v) = call(
        c.post(format!("{base}/api/v1/account/2fa/confirm"))
            .bearer_auth(&admin_token)
            .json(&json!({ "code": secret.code_at(now) })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    refused(admin(d, &up, &["assets", "list"]), "--totp");
    // The next step's code: the current one was spent confirming, and the
    // server accepts one step of clock skew.
    let next = secret.code_at(now + 30);
    ok(admin(d, &up, &["assets", "list", "--totp", &next]));
}
