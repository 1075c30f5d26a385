//! What `flowex up` logs, at the most verbose level, while every auth path
//! runs: each line is one JSON object with `service`, `timestamp`, `level`
//! and `target` (`log.json`), requests carry their `request_id`, and no
//! password, access or refresh token, API key or secret, TOTP secret,
//! otpauth URI or backup code appears anywhere in the captured output.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

async fn call(c: &reqwest::Client, req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = c.execute(req.build().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Runs register, failed and good logins, refresh, API keys with signed and
/// forged requests, 2FA enrolment, a wrong code, a backup-code login, a
/// password change and logout; returns every secret it saw.
async fn every_auth_path(c: &reqwest::Client, base: &str) -> Vec<String> {
    let (email, pw, pw2) = (
        "logs@example.com",
        "Logs-first-passphrase-1",
        "Logs-second-passphrase-2",
    );
    let mut secrets = vec![
        pw.to_string(),
        pw2.to_string(),
        "Logs-wrong-passphrase-3".into(),
    ];
    let post = |path: &str, token: Option<&str>, body: Value| {
        let req = c.post(format!("{base}{path}")).json(&body);
        token.map_or(req.try_clone().unwrap(), |t| req.bearer_auth(t))
    };
    let (s, v) = call(
        c,
        post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": pw}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = call(
        c,
        post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": secrets[2]}),
        ),
    )
    .await;
    assert_eq!(s, 401);
    let (s, v) = call(
        c,
        post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": pw}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    secrets.extend([
        v["access_token"].as_str().unwrap().to_string(),
        refresh.clone(),
    ]);
    let (s, v) = call(
        c,
        post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    secrets.extend([
        access.clone(),
        v["refresh_token"].as_str().unwrap().to_string(),
    ]);

    let (s, key) = call(
        c,
        post(
            "/api/v1/account/api-keys",
            Some(&access),
            json!({"label": "logs"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    let (api_key, secret) = (
        key["api_key"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    secrets.extend([api_key.to_string(), secret.to_string()]);
    let query = format!("timestamp={}&recvWindow=5000", now().as_millis());
    for signature in [flowex_auth::sign(secret, query.as_bytes()), "0".repeat(64)] {
        let url = format!("{base}/api/v3/account?{query}&signature={signature}");
        let (s, v) = call(c, c.get(url).header("X-MBX-APIKEY", api_key)).await;
        assert!(s == 200 || v["code"] == -1022, "{s} {v}");
    }

    let (s, v) = call(
        c,
        post("/api/v1/account/2fa/enroll", Some(&access), json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let totp = v["secret"].as_str().unwrap().to_string();
    secrets.extend([totp.clone(), v["otpauth_uri"].as_str().unwrap().to_string()]);
    let code = flowex_auth::TotpSecret::from_base32(&totp)
        .unwrap()
        .code_at(now().as_secs());
    let (s, v) = call(
        c,
        post(
            "/api/v1/account/2fa/confirm",
            Some(&access),
            json!({"code": code}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let backup: Vec<String> = v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    secrets.extend(backup.iter().cloned());
    let wrong = json!({"email": email, "password": pw, "totp_code": "000000"});
    let (s, _) = call(c, post("/api/v1/auth/login", None, wrong)).await;
    assert_eq!(s, 401);
    let with_backup = json!({"email": email, "password": pw, "backup_code": backup[0]});
    let (s, v) = call(c, post("/api/v1/auth/login", None, with_backup)).await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    secrets.extend([
        access.clone(),
        v["refresh_token"].as_str().unwrap().to_string(),
    ]);
    let change = json!({"current_password": pw, "new_password": pw2});
    let (s, v) = call(c, post("/api/v1/auth/password", Some(&access), change)).await;
    assert!(s < 300, "{s} {v}");
    let (s, _) = call(c, post("/api/v1/auth/logout", Some(&access), json!({}))).await;
    assert!(s < 500);
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_and_lines_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowex"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOWEX_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--port", "0", "up", "--no-bot", "--seconds", "120"])
        .env("RUST_LOG", "trace")
        .env("FLOWEX_LOG_JSON", "true")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("flowex up printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("FlowEx is up at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let c = reqwest::Client::new();
    let secrets = every_auth_path(&c, &base).await;
    let _ = child.kill();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    let mut with_request_id = 0;
    // Lines of authenticated requests name the caller.
    let mut with_user_id = 0;
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target"] {
            assert!(v.get(field).is_some(), "no {field}: {line}");
        }
        // One process runs every service in `flowex up`.
        assert_eq!(v["service"], "flowex", "{line}");
        // Spans are not exported here, so no line carries a trace id.
        assert!(v["span"].get("trace_id").is_none(), "{line}");
        if v["span"]["request_id"].is_string() {
            with_request_id += 1;
        }
        if v["span"]["user_id"].is_u64() {
            with_user_id += 1;
        }
    }
    assert!(
        with_request_id >= 10,
        "{with_request_id} lines with a request id:\n{text}"
    );
    assert!(with_user_id >= 3, "{with_user_id} lines with a user id");
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({} characters) is in the logs",
            secret.len()
        );
    }
    eprintln!(
        "{} log lines, {with_request_id} with a request id, {} secrets absent",
        text.lines().count(),
        secrets.len()
    );
}
