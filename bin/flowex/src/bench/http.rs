//! `flowex bench http`: signed orders over HTTP, FlowEx against a minimal
//! axum server doing only the unavoidable work ([`super::minimal`]), in one
//! run on one machine, both driven by the load generator at the same
//! connection counts.
//!
//! Each target is a child process of this binary: `flowex up --no-bot` in
//! a fresh data directory (rate limits raised out of the way, journal
//! fsync on; `flowex-nosync` runs it with `journal.durability = "none"`),
//! and `flowex bench http --serve-minimal` with the same traders' keys.
//! Every request is `POST /api/v3/order` LIMIT IOC BUY at a fifth of the
//! reference price, `newOrderRespType=ACK`: FlowEx accepts it, journals it
//! and expires it, so the state never grows. Per connection count a closed
//! loop measures throughput; `--rates` adds open-loop latency runs.

use super::minimal;
use crate::loadgen;
use anyhow::{bail, Context, Result};
use flowex_bot::rules::Rules;
use flowex_loadgen::provision::{self, Funding, Provisioning};
use flowex_loadgen::{Credentials, Market, Mix, Phase, Row, RunOptions, Trader};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct HttpArgs {
    /// Connection counts, one closed-loop run each per target.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    connections: Vec<usize>,
    /// Seconds per run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Traders (accounts with API keys) the orders are spread over.
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Targets: flowex (fsync), flowex-nosync (durability none), axum-minimal.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "flowex,flowex-nosync,axum-minimal"
    )]
    targets: Vec<String>,
    /// Open-loop rates (requests/s) run at the largest connection count
    /// after the closed loops, for latency at a known load.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<u64>,
    /// One JSON object per line (the table goes to stderr).
    #[arg(long)]
    json: bool,
    /// Internal: serve axum-minimal with the keys of --keys.
    #[arg(long, hide = true)]
    serve_minimal: bool,
    #[arg(long, hide = true)]
    keys: Option<PathBuf>,
}

/// A target's name in the rows.
fn row_name(target: &str) -> Option<&'static str> {
    match target {
        "flowex" => Some("flowex-http-order"),
        "flowex-nosync" => Some("flowex-http-order-nosync"),
        "axum-minimal" => Some("axum-minimal"),
        _ => None,
    }
}

/// A child server, killed when dropped.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Runs `cmd` and waits for its `… is up at URL` line.
    fn start(mut cmd: Command, banner: &str) -> Result<Server> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a server")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                bail!("the server exited before printing {banner:?}");
            };
            if let Some(rest) = line?.strip_prefix(banner) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, base })
    }
}

/// `flowex up --no-bot` in `dir` on a free port, limits out of the way.
fn flowex_up(dir: &Path, durability_none: bool) -> Result<Server> {
    let mut env = Vec::new();
    if durability_none {
        env.push(("FLOWEX_JOURNAL__DURABILITY".to_string(), "none".to_string()));
    }
    flowex_up_with(dir, &env)
}

/// [`flowex_up`] with more settings (`FLOWEX_…` variables).
pub(super) fn flowex_up_with(dir: &Path, env: &[(String, String)]) -> Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOWEX_") {
            cmd.env_remove(k);
        }
    }
    let big = "1000000000000";
    for limit in [
        "IP_WEIGHT_PER_MINUTE",
        "USER_WEIGHT_PER_MINUTE",
        "ORDERS_PER_10S",
        "ORDERS_PER_DAY",
        "REGISTRATIONS_PER_IP_PER_HOUR",
        "FAUCET_CLAIMS_PER_IP_PER_HOUR",
    ] {
        cmd.env(format!("FLOWEX_RATE_LIMITS__{limit}"), big);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["--port", "0", "up", "--no-bot"]);
    Server::start(cmd, "FlowEx is up at ")
}

/// `axum-minimal` knowing `creds`' keys (handed over in a 0600 file).
fn minimal_server(dir: &Path, creds: &[Credentials]) -> Result<Server> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("minimal-keys");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    for c in creds {
        writeln!(f, "{} {}", c.api_key, c.secret)?;
    }
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bench", "http", "--serve-minimal", "--keys"])
        .arg(&path);
    Server::start(cmd, "axum-minimal is up at ")
}

fn read_keys(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect())
}

/// What every target is driven with: one market and the traders' keys.
pub(super) struct Fixture {
    pub(super) rules: Rules,
    pub(super) mid: u64,
    pub(super) creds: Vec<Credentials>,
}

/// BTCUSDT of `server` and fresh funded traders on it.
pub(super) async fn fixture(base: &str, users: usize) -> Result<Fixture> {
    let (mut rules, assets) = provision::markets(base, &["BTCUSDT".to_string()]).await?;
    let rules = rules.remove(0);
    let mid = provision::start_price(base, &rules, Some("64000")).await?;
    let p = Provisioning {
        base: base.to_string(),
        users,
        assets,
        funding: Funding::Faucet,
        parallel: 4,
    };
    let creds = provision::traders(&p).await?;
    Ok(Fixture { rules, mid, creds })
}

/// Closed loops at every connection count, then the open-loop rates.
async fn drive(a: &HttpArgs, name: &str, base: &str, fx: &Fixture) -> Result<Vec<Row>> {
    let mut runs: Vec<(usize, Vec<Phase>)> = a
        .connections
        .iter()
        .map(|&c| {
            (
                c.max(1),
                vec![Phase {
                    duration: Duration::from_secs(a.seconds.max(1)),
                    rate: 0,
                }],
            )
        })
        .collect();
    if !a.rates.is_empty() {
        let c = a.connections.iter().copied().max().unwrap_or(1).max(1);
        let step = Duration::from_secs(a.seconds.max(1));
        runs.push((
            c,
            a.rates
                .iter()
                .map(|&rate| Phase {
                    duration: step,
                    rate: rate.max(1),
                })
                .collect(),
        ));
    }
    let mut rows = Vec::new();
    for (connections, phases) in runs {
        let opts = RunOptions {
            name: name.to_string(),
            base: base.to_string(),
            connections,
            phases,
            mix: Mix::order(),
            max_open: 1,
            timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            seed: 1,
        };
        let markets = vec![Market::new(fx.rules.clone(), fx.mid)];
        let traders = fx.creds.iter().cloned().map(Trader::new).collect();
        eprintln!("bench http: {name}, {connections} connections");
        rows.extend(flowex_loadgen::run(opts, markets, traders).await?);
    }
    Ok(rows)
}

/// `flowex-…` ÷ `axum-minimal` in succeeded orders per second, per closed-loop connection count.
fn ratios(rows: &[Row]) -> Vec<serde_json::Value> {
    let closed = |name: &str, c: usize| {
        rows.iter()
            .find(|r| r.name == name && r.connections == c && r.rate.is_none() && r.mode == "all")
            .map(|r| r.succeeded as f64 / r.elapsed.as_secs_f64().max(1e-9))
    };
    let mut out = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.name.starts_with("flowex") && r.rate.is_none() && r.mode == "all")
    {
        if let (Some(f), Some(m)) = (
            closed(&r.name, r.connections),
            closed("axum-minimal", r.connections),
        ) {
            out.push(serde_json::json!({
                "name": format!("{}/axum-minimal", r.name),
                "mode": "ratio",
                "connections": r.connections,
                "ratio": (f / m.max(1e-9) * 10_000.0).round() / 10_000.0,
                "ops_per_sec": f.round(),
                "baseline_ops_per_sec": m.round(),
            }));
        }
    }
    out
}

pub async fn run(a: HttpArgs) -> Result<()> {
    if a.serve_minimal {
        let keys = read_keys(a.keys.as_deref().context("--serve-minimal needs --keys")?)?;
        return minimal::serve(keys).await;
    }
    if let Some(t) = a.targets.iter().find(|t| row_name(t).is_none()) {
        bail!("unknown target {t:?} (flowex, flowex-nosync, axum-minimal)");
    }
    let tmp = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut fx: Option<Fixture> = None;
    for target in a.targets.iter().filter(|t| t.starts_with("flowex")) {
        let server = flowex_up(&tmp.path().join(target), target == "flowex-nosync")?;
        let f = fixture(&server.base, a.users.max(1)).await?;
        rows.extend(drive(&a, row_name(target).expect("checked"), &server.base, &f).await?);
        fx.get_or_insert(f);
    }
    if a.targets.iter().any(|t| t == "axum-minimal") {
        let f = match fx.take() {
            Some(f) => f,
            None => {
                bail!("axum-minimal is driven with the traders of a flowex target: name one too")
            }
        };
        let server = minimal_server(tmp.path(), &f.creds)?;
        rows.extend(drive(&a, "axum-minimal", &server.base, &f).await?);
    }
    let ratios = ratios(&rows);
    if a.json {
        eprint!("{}", flowex_loadgen::format_table(&rows));
        loadgen::print(&rows, true);
        ratios.iter().for_each(|r| println!("{r}"));
    } else {
        loadgen::print(&rows, false);
        for r in &ratios {
            println!(
                "{} at {} connections: {}",
                r["name"].as_str().unwrap_or(""),
                r["connections"],
                r["ratio"]
            );
        }
    }
    Ok(())
}
