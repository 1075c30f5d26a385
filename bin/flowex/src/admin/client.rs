//! The HTTP side of `flowex admin …`: where to connect, logging in as the
//! admin (with the 2FA code when the account has one), one call, and
//! printing its answer as a table or as JSON.
//!
//! The password comes from `admin_cli.password` (`FLOWEX_ADMIN_CLI__PASSWORD`)
//! or one line of standard input (not echoed on a terminal); never from the
//! command line, where other local users could read it in the process list.

use anyhow::{bail, Context, Result};
use flowex_config::{Config, Mode};
use serde_json::{json, Value};
use std::time::Duration;

/// Connection options shared by every API-backed `flowex admin` command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Conn {
    /// Base URL of FlowEx (default: `admin_cli.server`, else this
    /// configuration's own server).
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// The admin's e-mail (default: `admin_cli.email`).
    #[arg(long, global = true)]
    pub email: Option<String>,
    /// The current 2FA code, when the admin account has 2FA on.
    #[arg(long, global = true)]
    pub totp: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One admin API request.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub method: reqwest::Method,
    /// Path and query, e.g. `/api/v1/admin/markets`.
    pub path: String,
    /// JSON body (`Value::Null`: none).
    pub body: Value,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: path.into(),
            body: Value::Null,
        }
    }

    pub fn with(method: reqwest::Method, path: impl Into<String>, body: Value) -> Call {
        Call {
            method,
            path: path.into(),
            body,
        }
    }
}

/// The server to call: the flag, the setting, or this configuration's own.
pub fn server_url(cfg: &Config, conn: &Conn) -> String {
    let url = conn
        .server
        .clone()
        .or_else(|| cfg.admin_cli.server.clone())
        .unwrap_or_else(|| match cfg.mode {
            Mode::Embedded => format!("http://127.0.0.1:{}", cfg.server.port),
            Mode::Distributed => cfg.services.gateway.url.clone(),
        });
    url.trim_end_matches('/').to_string()
}

/// A logged-in admin session against one server.
pub struct Session {
    http: reqwest::Client,
    base: String,
    access: String,
    refresh: Option<String>,
}

impl Session {
    /// Logs in as the admin the options and configuration name.
    pub async fn login(cfg: &Config, conn: &Conn) -> Result<Session> {
        let base = server_url(cfg, conn);
        if base.starts_with("https://") {
            bail!(
                "this build of flowex has no TLS client: reach the server over http:// \
                 (inside the cluster or through a port-forward), not {base:?}"
            );
        }
        if !base.starts_with("http://") {
            bail!("--server must be an http:// URL, not {base:?}");
        }
        let email = conn
            .email
            .clone()
            .or_else(|| cfg.admin_cli.email.clone())
            .context("give the admin's e-mail with --email (or admin_cli.email)")?;
        let password = match &cfg.admin_cli.password {
            Some(p) => p.expose().to_string(),
            None => read_password(&email)?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("flowex-admin/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut creds = json!({ "email": email, "password": password });
        if let Some(code) = &conn.totp {
            creds["totp_code"] = json!(code);
        }
        let (status, v) = send(
            &http,
            &base,
            None,
            &Call::with(reqwest::Method::POST, "/api/v1/auth/login", creds),
        )
        .await?;
        if status == 401 && v["error"]["code"] == "totp_required" {
            bail!("this admin account has 2FA: give the current code with --totp CODE");
        }
        if status != 200 {
            bail!("login as {email} failed: {}", describe(status, &v));
        }
        let access = v["access_token"]
            .as_str()
            .context("the login answer has no access_token")?
            .to_string();
        if v["user"]["role"].as_str().is_some_and(|r| r != "admin") {
            eprintln!("warning: {email} is not an admin; the admin API will refuse it");
        }
        Ok(Session {
            http,
            base,
            access,
            refresh: v["refresh_token"].as_str().map(str::to_string),
        })
    }

    /// Sends `call`; the status and the JSON answer.
    pub async fn call(&self, call: &Call) -> Result<(u16, Value)> {
        send(&self.http, &self.base, Some(&self.access), call).await
    }

    /// Ends the session the login opened (best effort).
    pub async fn logout(self) {
        if let Some(refresh) = &self.refresh {
            let body = json!({ "refresh_token": refresh });
            let call = Call::with(reqwest::Method::POST, "/api/v1/auth/logout", body);
            let _ = send(&self.http, &self.base, Some(&self.access), &call).await;
        }
    }
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    call: &Call,
) -> Result<(u16, Value)> {
    let url = format!("{base}{}", call.path);
    let mut req = http.request(call.method.clone(), &url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if !call.body.is_null() {
        req = req
            .header("content-type", "application/json")
            .body(call.body.to_string());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("calling {} {url}", call.method))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

/// `403 forbidden: You are not allowed to do this.`
pub fn describe(status: u16, v: &Value) -> String {
    match (v["error"]["code"].as_str(), v["error"]["message"].as_str()) {
        (Some(code), Some(msg)) => format!("{status} {code}: {msg}"),
        _ => format!("{status}: {v}"),
    }
}

fn read_password(email: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("password for {email}: ");
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        set_echo(true);
        eprintln!();
    }
    read.context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("no password: pipe it to standard input or set FLOWEX_ADMIN_CLI__PASSWORD");
    }
    Ok(password)
}

/// Turns terminal echo off or on (Unix `stty`); without it the password
/// still works, only visibly.
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

// ---------------------------------------------------------------- output

/// Prints an answer: JSON as is, or a table for a list (`{"markets": […]}`)
/// and `key  value` lines for one object.
pub fn print(v: &Value, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    print!("{}", render(v));
}

fn render(v: &Value) -> String {
    let Value::Object(top) = v else {
        return format!("{}\n", cell(v));
    };
    if top.len() == 1 {
        match top.values().next() {
            Some(Value::Array(rows)) => return table(rows),
            Some(inner @ Value::Object(_)) => return render(inner),
            _ => {}
        }
    }
    let width = top.keys().map(String::len).max().unwrap_or(0);
    top.iter()
        .map(|(k, v)| format!("{k:width$}  {}\n", cell(v)))
        .collect()
}

const MAX_CELL: usize = 80;

fn cell(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn table(rows: &[Value]) -> String {
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(m) = row {
            for k in m.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    if columns.is_empty() {
        return rows.iter().map(|r| format!("{}\n", cell(r))).collect();
    }
    // The naming columns first (the JSON keys come sorted).
    columns.sort_by_key(|c| !matches!(c.as_str(), "id" | "symbol"));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell(&r[c.as_str()])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        let parts: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&columns);
    for r in &cells {
        out += &line(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_become_tables_and_objects_lines() {
        let list = json!({"assets": [
            {"id": 1, "code": "BTC", "decimals": 8},
            {"id": 12, "code": "USDT", "decimals": 6},
        ]});
        assert_eq!(
            render(&list),
            "id  code  decimals\n1   BTC   8\n12  USDT  6\n"
        );
        assert_eq!(render(&json!({"markets": []})), "(none)\n");
        let one = json!({"market": {"symbol": "BTCUSDT", "status": "HALTED", "fees": null}});
        assert_eq!(render(&one), "fees    -\nstatus  HALTED\nsymbol  BTCUSDT\n");
        let flat = json!({"user_id": 7, "frozen": true});
        assert_eq!(render(&flat), "frozen   true\nuser_id  7\n");
        let long = "x".repeat(200);
        assert_eq!(cell(&json!(long)).chars().count(), MAX_CELL);
    }

    #[test]
    fn the_server_is_the_flag_then_the_setting_then_our_own() {
        let mut cfg = Config::default();
        cfg.server.port = 9001;
        let mut conn = Conn::default();
        assert_eq!(server_url(&cfg, &conn), "http://127.0.0.1:9001");
        cfg.admin_cli.server = Some("https://ex.example/".into());
        assert_eq!(server_url(&cfg, &conn), "https://ex.example");
        conn.server = Some("http://10.0.0.1:8080".into());
        assert_eq!(server_url(&cfg, &conn), "http://10.0.0.1:8080");
    }
}
