//! `flowex admin …` commands that call the admin API of a running FlowEx
//! (`flowex up`, or the gateway of the distributed mode): each command is
//! one request ([`RemoteCmd::call`]) made after logging in as the admin
//! ([`super::client`]). A refusal prints the server's error and exits
//! non-zero.
//!
//! ```text
//! flowex admin assets list | create --code DOGE --decimals 8
//! flowex admin markets list | create --symbol DOGEUSDT --base DOGE --quote USDT --tick-size 0.00001 --step-size 1 --max-price 1000 --max-qty 10000000 [...]
//! flowex admin markets update SYMBOL [--min-notional 5 --maker-fee 0.0005 ...]
//! flowex admin markets status SYMBOL TRADING|HALTED|CANCEL_ONLY
//! flowex admin fees set USER --maker 0.0005 --taker 0.00075 | fees clear USER
//! flowex admin freeze USER | unfreeze USER
//! flowex admin cancel-all [--user USER] [--symbol SYMBOL]
//! flowex admin deposit --user USER --asset USDT --amount 1000 --key wire-0001 [--reference TEXT]
//! flowex admin withdrawals list [--state requested] [--user USER] | approve ID | reject ID [--note TEXT]
//! flowex admin audit [--user USER] [--action A] [--result ok|denied|error] [--limit N]
//! ```
//!
//! Options on every one of them: `--server URL`, `--email E`, `--totp
//! CODE`, `--json` (see [`super::client::Conn`]).

use super::client::{self, Call, Conn, Session};
use anyhow::{bail, Result};
use flowex_config::Config;
use reqwest::Method;
use serde_json::{json, Map, Value};

/// The API-backed admin commands (flattened into `flowex admin`).
#[derive(clap::Subcommand, Debug)]
pub enum RemoteCmd {
    /// Assets: list them, or create one.
    Assets {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        op: AssetOp,
    },
    /// Markets: list, create, update, set the status.
    Markets {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        op: Box<MarketOp>,
    },
    /// Per-user fee tiers.
    Fees {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        op: FeeOp,
    },
    /// Freeze a user: no new orders or withdrawals (cancels still work).
    Freeze {
        #[command(flatten)]
        conn: Conn,
        /// The user id.
        user: u64,
    },
    /// Undo a freeze.
    Unfreeze {
        #[command(flatten)]
        conn: Conn,
        /// The user id.
        user: u64,
    },
    /// Cancel every open order of a user, of a market, or of a user in a market.
    CancelAll {
        #[command(flatten)]
        conn: Conn,
        /// Only this user's orders.
        #[arg(long)]
        user: Option<u64>,
        /// Only this market's orders.
        #[arg(long)]
        symbol: Option<String>,
    },
    /// Credit a deposit that arrived outside the platform (idempotent by --key).
    Deposit {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        args: DepositArgs,
    },
    /// Withdrawals waiting for an admin: list, approve, reject.
    Withdrawals {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        op: WithdrawalOp,
    },
    /// Read the audit log, newest first.
    Audit {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        filters: AuditArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum AssetOp {
    /// Every asset.
    List,
    /// A new asset with the next free id.
    Create {
        /// 1–12 upper-case letters or digits.
        #[arg(long)]
        code: String,
        /// Decimals of the atomic unit (0–18).
        #[arg(long)]
        decimals: u8,
    },
}

/// Market fields that may change after creation (decimal strings).
#[derive(clap::Args, Debug, Default)]
pub struct MarketLimits {
    /// Lowest price, in quote (creation default: one tick).
    #[arg(long)]
    pub min_price: Option<String>,
    /// Highest price, in quote (needed to create).
    #[arg(long)]
    pub max_price: Option<String>,
    /// Smallest quantity, in base (creation default: one step).
    #[arg(long)]
    pub min_qty: Option<String>,
    /// Largest quantity, in base (needed to create).
    #[arg(long)]
    pub max_qty: Option<String>,
    /// Smallest order value, in quote (creation default: 0).
    #[arg(long)]
    pub min_notional: Option<String>,
    /// `0`: no maximum.
    #[arg(long)]
    pub max_notional: Option<String>,
    /// Maker fee rate as a fraction: `0.001` is 0.1% (creation default).
    #[arg(long)]
    pub maker_fee: Option<String>,
    /// Taker fee rate as a fraction (creation default 0.001).
    #[arg(long)]
    pub taker_fee: Option<String>,
    /// TRADING, HALTED or CANCEL_ONLY.
    #[arg(long)]
    pub status: Option<String>,
    /// Comma-separated: NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT.
    #[arg(long, value_delimiter = ',')]
    pub stp_modes: Option<Vec<String>>,
    /// One of the allowed STP modes.
    #[arg(long)]
    pub default_stp: Option<String>,
}

impl MarketLimits {
    /// The fields given, under the API's names.
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let strings = [
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
            ("min_qty", &self.min_qty),
            ("max_qty", &self.max_qty),
            ("min_notional", &self.min_notional),
            ("max_notional", &self.max_notional),
            ("maker_fee", &self.maker_fee),
            ("taker_fee", &self.taker_fee),
            ("status", &self.status),
            ("default_stp_mode", &self.default_stp),
        ];
        for (name, value) in strings {
            if let Some(v) = value {
                m.insert(name.into(), json!(v));
            }
        }
        if let Some(list) = &self.stp_modes {
            m.insert("allowed_stp_modes".into(), json!(list));
        }
        m
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum MarketOp {
    /// Every market with its configuration.
    List,
    /// A new market (decimal strings in the assets' precision).
    Create {
        /// 1–20 upper-case letters or digits, e.g. DOGEUSDT.
        #[arg(long)]
        symbol: String,
        /// Base asset code.
        #[arg(long)]
        base: String,
        /// Quote asset code.
        #[arg(long)]
        quote: String,
        /// Price step, in quote.
        #[arg(long)]
        tick_size: String,
        /// Quantity step (lot), in base.
        #[arg(long)]
        step_size: String,
        #[command(flatten)]
        limits: MarketLimits,
    },
    /// Change limits, fees, status or STP modes of a market.
    Update {
        symbol: String,
        #[command(flatten)]
        limits: MarketLimits,
    },
    /// Set a market's status.
    Status {
        symbol: String,
        /// TRADING, HALTED (nothing changes the book) or CANCEL_ONLY.
        status: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum FeeOp {
    /// Give a user their own maker and taker rates.
    Set {
        /// The user id.
        user: u64,
        /// Maker rate as a fraction (`0.0005` is 0.05%).
        #[arg(long)]
        maker: String,
        /// Taker rate as a fraction.
        #[arg(long)]
        taker: String,
    },
    /// Return a user to the market's rates.
    Clear {
        /// The user id.
        user: u64,
    },
}

#[derive(clap::Args, Debug)]
pub struct DepositArgs {
    /// The user credited.
    #[arg(long)]
    pub user: u64,
    /// Asset code.
    #[arg(long)]
    pub asset: String,
    /// Decimal amount.
    #[arg(long)]
    pub amount: String,
    /// Names the deposit: repeating it never credits twice.
    #[arg(long)]
    pub key: String,
    /// Bank reference or ticket.
    #[arg(long)]
    pub reference: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum WithdrawalOp {
    /// Withdrawals of all users, newest first.
    List {
        /// Only this state (e.g. requested).
        #[arg(long)]
        state: Option<String>,
        /// Only this user's.
        #[arg(long)]
        user: Option<u64>,
        /// At most this many (1–1000, default 100).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Approve a pending withdrawal: its funds leave the exchange.
    Approve {
        /// The withdrawal id.
        id: u64,
    },
    /// Reject a pending withdrawal: its funds return to the user.
    Reject {
        /// The withdrawal id.
        id: u64,
        /// Why, for the user and the records (at most 256 characters).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Only rows of this user.
    #[arg(long)]
    pub user: Option<u64>,
    /// Only this action, e.g. admin.market.update.
    #[arg(long)]
    pub action: Option<String>,
    /// ok, denied or error.
    #[arg(long)]
    pub result: Option<String>,
    /// At most this many rows (1–1000, default 100).
    #[arg(long)]
    pub limit: Option<u32>,
}

/// `?a=1&b=x` of the pairs that have a value, percent-encoded ("" if none).
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where the admin API is mounted.
const ADMIN: &str = "/api/v1/admin";

impl RemoteCmd {
    /// The connection options and the request this command makes.
    pub fn call(&self) -> Result<(&Conn, Call)> {
        use RemoteCmd as R;
        let post = |path: String| Call::with(Method::POST, path, Value::Null);
        Ok(match self {
            R::Assets { conn, op } => (conn, asset_call(op)),
            R::Markets { conn, op } => (conn, market_call(op)?),
            R::Fees { conn, op } => (conn, fee_call(op)),
            R::Freeze { conn, user } => (conn, post(format!("{ADMIN}/users/{user}/freeze"))),
            R::Unfreeze { conn, user } => (conn, post(format!("{ADMIN}/users/{user}/unfreeze"))),
            R::CancelAll { conn, user, symbol } => (conn, cancel_all_call(*user, symbol)?),
            R::Deposit { conn, args } => (conn, deposit_call(args)),
            R::Withdrawals { conn, op } => (conn, withdrawal_call(op)),
            R::Audit { conn, filters } => (conn, audit_call(filters)),
        })
    }
}

fn asset_call(op: &AssetOp) -> Call {
    match op {
        AssetOp::List => Call::get(format!("{ADMIN}/assets")),
        AssetOp::Create { code, decimals } => Call::with(
            Method::POST,
            format!("{ADMIN}/assets"),
            json!({ "code": code, "decimals": decimals }),
        ),
    }
}

fn fee_call(op: &FeeOp) -> Call {
    match op {
        FeeOp::Set { user, maker, taker } => Call::with(
            Method::PUT,
            format!("{ADMIN}/users/{user}/fees"),
            json!({ "maker_fee": maker, "taker_fee": taker }),
        ),
        FeeOp::Clear { user } => Call::with(
            Method::DELETE,
            format!("{ADMIN}/users/{user}/fees"),
            Value::Null,
        ),
    }
}

fn cancel_all_call(user: Option<u64>, symbol: &Option<String>) -> Result<Call> {
    if user.is_none() && symbol.is_none() {
        bail!("give --user, --symbol or both: cancel-all never cancels the whole exchange");
    }
    let mut body = Map::new();
    if let Some(u) = user {
        body.insert("user_id".into(), json!(u));
    }
    if let Some(s) = symbol {
        body.insert("symbol".into(), json!(s));
    }
    Ok(Call::with(
        Method::POST,
        format!("{ADMIN}/cancel-all"),
        Value::Object(body),
    ))
}

fn deposit_call(args: &DepositArgs) -> Call {
    let mut body = json!({
        "user_id": args.user,
        "asset": args.asset,
        "amount": args.amount,
        "idempotency_key": args.key,
    });
    if let Some(r) = &args.reference {
        body["reference"] = json!(r);
    }
    Call::with(Method::POST, format!("{ADMIN}/deposits"), body)
}

fn withdrawal_call(op: &WithdrawalOp) -> Call {
    match op {
        WithdrawalOp::List { state, user, limit } => Call::get(format!(
            "{ADMIN}/withdrawals{}",
            query(&[
                ("state", state.clone()),
                ("user_id", user.map(|u| u.to_string())),
                ("limit", limit.map(|l| l.to_string())),
            ])
        )),
        WithdrawalOp::Approve { id } => Call::with(
            Method::POST,
            format!("{ADMIN}/withdrawals/{id}/approve"),
            Value::Null,
        ),
        WithdrawalOp::Reject { id, note } => {
            let body = match note {
                Some(n) => json!({ "note": n }),
                None => Value::Null,
            };
            Call::with(
                Method::POST,
                format!("{ADMIN}/withdrawals/{id}/reject"),
                body,
            )
        }
    }
}

fn audit_call(filters: &AuditArgs) -> Call {
    Call::get(format!(
        "{ADMIN}/audit{}",
        query(&[
            ("user_id", filters.user.map(|u| u.to_string())),
            ("action", filters.action.clone()),
            ("result", filters.result.clone()),
            ("limit", filters.limit.map(|l| l.to_string())),
        ])
    ))
}

fn market_call(op: &MarketOp) -> Result<Call> {
    let admin = ADMIN;
    Ok(match op {
        MarketOp::List => Call::get(format!("{admin}/markets")),
        MarketOp::Create {
            symbol,
            base,
            quote,
            tick_size,
            step_size,
            limits,
        } => {
            let mut body = limits.fields();
            for (k, v) in [
                ("symbol", symbol),
                ("base_asset", base),
                ("quote_asset", quote),
                ("tick_size", tick_size),
                ("step_size", step_size),
            ] {
                body.insert(k.into(), json!(v));
            }
            Call::with(
                Method::POST,
                format!("{admin}/markets"),
                Value::Object(body),
            )
        }
        MarketOp::Update { symbol, limits } => {
            let body = limits.fields();
            if body.is_empty() {
                bail!(
                    "name at least one field to change (see `flowex admin markets update --help`)"
                );
            }
            Call::with(
                Method::PATCH,
                format!("{admin}/markets/{}", encode(symbol)),
                Value::Object(body),
            )
        }
        MarketOp::Status { symbol, status } => Call::with(
            Method::POST,
            format!("{admin}/markets/{}/status", encode(symbol)),
            json!({ "status": status }),
        ),
    })
}

/// Logs in, makes the command's call, prints the answer; an error answer
/// is an error (non-zero exit) with the server's code and message.
pub async fn run(cfg: &Config, cmd: RemoteCmd) -> Result<()> {
    let (conn, call) = cmd.call()?;
    let session = Session::login(cfg, conn).await?;
    let answer = session.call(&call).await;
    session.logout().await;
    let (status, body) = answer?;
    if !(200..300).contains(&status) {
        bail!(
            "{} {} refused: {}",
            call.method,
            call.path,
            client::describe(status, &body)
        );
    }
    client::print(&body, conn.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: RemoteCmd,
    }

    fn call_of(args: &[&str]) -> Call {
        let cli = Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        cli.cmd.call().unwrap().1
    }

    #[test]
    fn commands_become_the_documented_requests() {
        let c = call_of(&["markets", "status", "BTCUSDT", "HALTED", "--json"]);
        assert_eq!(
            c,
            Call::with(
                Method::POST,
                "/api/v1/admin/markets/BTCUSDT/status",
                json!({"status": "HALTED"})
            )
        );
        let c = call_of(&[
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
            "1000000",
            "--stp-modes",
            "NONE,EXPIRE_TAKER",
        ]);
        assert_eq!(c.path, "/api/v1/admin/markets");
        assert_eq!(
            c.body,
            json!({"symbol": "DOGEUSDT", "base_asset": "DOGE", "quote_asset": "USDT",
                   "tick_size": "0.00001", "step_size": "1", "max_price": "1000",
                   "max_qty": "1000000", "allowed_stp_modes": ["NONE", "EXPIRE_TAKER"]})
        );
        let c = call_of(&["markets", "update", "BTC/../x", "--maker-fee", "0"]);
        assert_eq!(c.path, "/api/v1/admin/markets/BTC%2F..%2Fx");
        let c = call_of(&["fees", "clear", "7"]);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::DELETE, "/api/v1/admin/users/7/fees")
        );
        let c = call_of(&["audit", "--action", "admin.user.freeze", "--limit", "5"]);
        assert_eq!(
            c.path,
            "/api/v1/admin/audit?action=admin.user.freeze&limit=5"
        );
        let c = call_of(&["withdrawals", "reject", "3", "--note", "no KYC"]);
        assert_eq!(c.path, "/api/v1/admin/withdrawals/3/reject");
        assert_eq!(c.body, json!({"note": "no KYC"}));
        let c = call_of(&["withdrawals", "list", "--state", "requested", "--user", "7"]);
        assert_eq!(
            c.path,
            "/api/v1/admin/withdrawals?state=requested&user_id=7"
        );
        let c = call_of(&[
            "cancel-all",
            "--symbol",
            "ETHUSDT",
            "--server",
            "http://x:1",
        ]);
        assert_eq!(c.body, json!({"symbol": "ETHUSDT"}));
    }

    #[test]
    fn commands_that_would_do_nothing_or_everything_are_refused_locally() {
        let cli = Cli::try_parse_from(["admin", "cancel-all"]).unwrap();
        assert!(cli.cmd.call().is_err());
        let cli = Cli::try_parse_from(["admin", "markets", "update", "BTCUSDT"]).unwrap();
        assert!(cli.cmd.call().is_err());
    }
}
