//! `flowex bench engine`: FlowEx's own modes on the seeded workloads. The
//! side-by-side comparison with peer order books lives in the bench target
//! (`cargo bench -p flowex-bench --bench engine`), because the peers are
//! dev-dependencies of the benchmark only. `flowex bench http` ([`http`]):
//! signed orders over HTTP against a minimal axum server. `flowex bench
//! ws` ([`ws`]): many WebSocket clients on one busy market.

pub mod http;
mod minimal;
pub mod ws;

use anyhow::{bail, Result};
use flowex_bench::{format_table, run_engine, BenchOpts, Mix, Mode};

#[derive(clap::Args)]
pub struct EngineArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Measured commands per mix.
    #[arg(long)]
    commands: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Modes to run: engine, durable, replay, snapshot.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "engine,durable,replay,snapshot"
    )]
    modes: Vec<String>,
    /// Mixes to run: exchange-core, orderbook-rs.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "exchange-core,orderbook-rs"
    )]
    mixes: Vec<String>,
    /// Open-loop rates in commands per second (0 = throughput only).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,3000000")]
    rates: Vec<u64>,
    /// Closed-loop repetitions (the median is reported).
    #[arg(long)]
    runs: Option<usize>,
}

/// Parses every name with `parse`, naming the first unknown one.
fn parse_all<T>(names: &[String], what: &str, parse: fn(&str) -> Option<T>) -> Result<Vec<T>> {
    names
        .iter()
        .map(|n| parse(n).ok_or_else(|| anyhow::anyhow!("unknown {what} {n}")))
        .collect()
}

pub fn run(args: EngineArgs) -> Result<()> {
    let defaults = BenchOpts::default();
    let opts = BenchOpts {
        modes: parse_all(&args.modes, "mode", Mode::parse)?,
        mixes: parse_all(&args.mixes, "mix", Mix::parse)?,
        rates: args.rates.into_iter().filter(|r| *r > 0).collect(),
        commands: args.commands.unwrap_or(defaults.commands),
        seed: args.seed.unwrap_or(defaults.seed),
        runs: args.runs.map_or(defaults.runs, |r| r.max(1)),
        ..defaults
    };
    if opts.modes.is_empty() || opts.mixes.is_empty() {
        bail!("nothing to run");
    }
    let results = run_engine(&opts)?;
    if args.json {
        results.iter().for_each(|r| println!("{}", r.to_json()));
    } else {
        print!("{}", format_table(&results));
    }
    Ok(())
}
