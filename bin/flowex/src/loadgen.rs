//! `flowex loadgen`: drives a running FlowEx with many signed traders
//! (crate `flowex-loadgen`; method and output in docs/PERFORMANCE.md).

use anyhow::{bail, Context, Result};
use flowex_loadgen::provision::{self, Funding, Provisioning};
use flowex_loadgen::{format_table, Market, Mix, Phase, Profile, Row, RunOptions, Trader};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The longest run accepted: the load stops by itself.
const MAX_DURATION_SECS: u64 = 24 * 3600;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileName {
    Constant,
    Ramp,
    Spike,
    Soak,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FundingName {
    /// The faucet of `flowex up`.
    Faucet,
    /// Admin deposits (distributed mode): --admin-email, password from
    /// FLOWEX_ADMIN_CLI__PASSWORD or standard input.
    Admin,
    /// No funding.
    None,
}

#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Base URL of the running FlowEx (plain http://).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Traders to make (each an account with its own API key).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Keep-alive connections (one request in flight on each).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    #[arg(long, value_enum, default_value = "constant")]
    pub profile: ProfileName,
    /// Target requests per second (constant, the ramp's top, the spike's
    /// base, soak); 0 = closed loop (constant only).
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Ramp: the rate of each step, e.g. 100,200,500 (default: --steps
    /// equal steps up to --rate).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<u64>,
    #[arg(long, default_value_t = 5)]
    pub steps: u32,
    /// Spike: the middle fifth runs at this many times --rate.
    #[arg(long, default_value_t = 5)]
    pub spike_factor: u64,
    /// Soak: seconds per reported phase.
    #[arg(long, default_value_t = 60)]
    pub report_every: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// `realistic`, `order` (LIMIT IOC far from the market only), or
    /// `op=weight,…` with ops place-limit, cancel, cancel-replace, market,
    /// order-ioc, open-orders, account, depth, ticker.
    #[arg(long, default_value = "realistic")]
    pub mix: String,
    /// Markets to trade (empty: every trading market).
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT")]
    pub symbols: Vec<String>,
    /// Starting price of a market without trades or book, e.g. BTCUSDT=64000.
    #[arg(long = "price", value_parser = key_value)]
    pub prices: Vec<(String, String)>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG of latency percentiles against offered rate here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// A request unanswered after this many milliseconds fails (`timeout`).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Resting orders a trader keeps at most (then it cancels instead).
    #[arg(long, default_value_t = 20)]
    pub max_open: usize,
    #[arg(long, value_enum, default_value = "faucet")]
    pub funding: FundingName,
    /// Admin funding: the admin's e-mail.
    #[arg(long)]
    pub admin_email: Option<String>,
    /// Admin funding: the admin's current 2FA code.
    #[arg(long)]
    pub admin_totp: Option<String>,
    /// Admin funding: amount per asset, e.g. USDT=10000,BTC=0.5.
    #[arg(long, value_delimiter = ',', value_parser = key_value, default_value = "USDT=10000,BTC=0.5,ETH=5,SOL=50")]
    pub fund: Vec<(String, String)>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("{s:?}: expected NAME=VALUE"))
}

/// The phases the arguments describe.
pub fn phases(a: &LoadgenArgs) -> Result<Vec<Phase>> {
    if a.duration == 0 || a.duration > MAX_DURATION_SECS {
        bail!("--duration must be 1 to {MAX_DURATION_SECS} seconds");
    }
    let profile = match a.profile {
        ProfileName::Constant => Profile::Constant,
        ProfileName::Ramp => Profile::Ramp {
            rates: a.rates.clone(),
            steps: a.steps,
        },
        ProfileName::Spike => Profile::Spike {
            factor: a.spike_factor.max(1),
        },
        ProfileName::Soak => Profile::Soak {
            every: Duration::from_secs(a.report_every),
        },
    };
    let phases = profile.phases(a.rate, Duration::from_secs(a.duration));
    if a.profile != ProfileName::Constant && phases.iter().any(|p| p.rate == 0) {
        bail!("only the constant profile runs closed loop (--rate 0)");
    }
    Ok(phases)
}

fn funding(a: &LoadgenArgs) -> Result<Funding> {
    Ok(match a.funding {
        FundingName::Faucet => Funding::Faucet,
        FundingName::None => Funding::None,
        FundingName::Admin => Funding::Admin {
            email: a
                .admin_email
                .clone()
                .context("--funding admin needs --admin-email")?,
            password: admin_password()?,
            totp: a.admin_totp.clone(),
            amounts: a.fund.iter().cloned().collect(),
        },
    })
}

/// From the environment, else one line of standard input (never a flag:
/// the process list would show it).
fn admin_password() -> Result<String> {
    if let Ok(p) = std::env::var("FLOWEX_ADMIN_CLI__PASSWORD") {
        return Ok(p);
    }
    eprintln!("admin password:");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the admin password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Markets with starting prices, the assets they trade, and fresh traders.
pub async fn prepare(a: &LoadgenArgs) -> Result<(Vec<Market>, Vec<Trader>)> {
    let (rules, assets) = provision::markets(&a.url, &a.symbols).await?;
    let prices: BTreeMap<String, String> = a.prices.iter().cloned().collect();
    let mut markets = Vec::new();
    for r in rules {
        let given = prices.get(&r.symbol).map(String::as_str);
        let mid = provision::start_price(&a.url, &r, given).await?;
        markets.push(Market::new(r, mid));
    }
    let p = Provisioning {
        base: a.url.clone(),
        users: a.users.max(1),
        assets,
        funding: funding(a)?,
        parallel: 4,
    };
    eprintln!("loadgen: making {} traders on {}", p.users, a.url);
    let traders = provision::traders(&p).await?;
    Ok((markets, traders.into_iter().map(Trader::new).collect()))
}

pub fn options(a: &LoadgenArgs, name: &str) -> Result<RunOptions> {
    Ok(RunOptions {
        name: name.to_string(),
        base: a.url.clone(),
        connections: a.connections.max(1),
        phases: phases(a)?,
        mix: Mix::parse(&a.mix).map_err(anyhow::Error::msg)?,
        max_open: a.max_open.max(1),
        timeout: Duration::from_millis(a.timeout_ms.max(1)),
        drain: Duration::from_secs(10),
        seed: a.seed,
    })
}

/// Rows as JSON lines or a table on stdout.
pub fn print(rows: &[Row], json: bool) {
    if json {
        rows.iter().for_each(|r| println!("{}", r.to_json()));
    } else {
        print!("{}", format_table(rows));
    }
}

/// Writes the latency-against-rate SVG of the `all` rows.
pub fn write_plot(path: &std::path::Path, title: &str, rows: &[Row]) -> Result<()> {
    let all: Vec<Row> = rows.iter().filter(|r| r.mode == "all").cloned().collect();
    std::fs::write(path, flowex_loadgen::plot::svg(title, &all))
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn run(a: LoadgenArgs) -> Result<()> {
    let opts = options(&a, "flowex-http")?;
    let (markets, traders) = prepare(&a).await?;
    eprintln!(
        "loadgen: {:?} profile, {} phase(s), {} connections, mix {}, seed {}",
        a.profile,
        opts.phases.len(),
        opts.connections,
        opts.mix.name,
        opts.seed
    );
    let rows = flowex_loadgen::run(opts, markets, traders).await?;
    print(&rows, a.json);
    if let Some(path) = &a.plot {
        let title = format!(
            "{} · {:?} · {} connections",
            a.url, a.profile, a.connections
        );
        write_plot(path, &title, &rows)?;
    }
    Ok(())
}
