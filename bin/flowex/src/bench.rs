//! `flowex bench engine`: FlowEx's own modes on the seeded workloads. The
//! side-by-side comparison with peer order books lives in the bench target
//! (`cargo bench -p flowex-bench --bench engine`), because the peers are
//! dev-dependencies of the benchmark only.

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
    /// Modes to run: engine, durable, replay.
    #[arg(long, value_delimiter = ',', default_value = "engine,durable,replay")]
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

pub fn run(args: EngineArgs) -> Result<()> {
    let mut opts = BenchOpts::default();
    opts.modes = args
        .modes
        .iter()
        .map(|m| Mode::parse(m).ok_or(m))
        .collect::<Result<_, _>>()
        .or_else(|m| bail!("unknown mode {m}"))?;
    opts.mixes = args
        .mixes
        .iter()
        .map(|m| Mix::parse(m).ok_or(m))
        .collect::<Result<_, _>>()
        .or_else(|m| bail!("unknown mix {m}"))?;
    opts.rates = args.rates.into_iter().filter(|r| *r > 0).collect();
    if let Some(n) = args.commands {
        opts.commands = n;
    }
    if let Some(s) = args.seed {
        opts.seed = s;
    }
    if let Some(r) = args.runs {
        opts.runs = r.max(1);
    }
    let results = run_engine(&opts)?;
    if args.json {
        results.iter().for_each(|r| println!("{}", r.to_json()));
    } else {
        print!("{}", format_table(&results));
    }
    Ok(())
}
