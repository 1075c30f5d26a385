//! `flowex up`: the trading core with demo markets, journaled in a data
//! directory. (The platform issue adds the services on one port.)

use crate::demo;
use anyhow::{Context, Result};
use flowex_engine::Engine;
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig};
use flowex_types::{format_scaled, Event};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Do not run the demo order flow.
    #[arg(long)]
    no_bot: bool,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    seconds: Option<u64>,
    /// Demo orders per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
}

pub fn run(args: UpArgs, data_dir: PathBuf) -> Result<()> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut cfg = SequencerConfig::new(JournalConfig::new(data_dir.join("journal")));
    cfg.snapshot_every = 100_000;
    let (sequencer, report) = Sequencer::start(cfg)?;
    println!(
        "FlowEx core recovered {} commands ({} from the journal) in {:?}, state hash {:016x}",
        report.last_seq, report.replayed, report.elapsed, report.state_hash
    );
    let handle = sequencer.handle();
    if handle.query_blocking(|e: &Engine| demo::needs_seed(e))? {
        for cmd in demo::seed_commands() {
            let applied = handle.submit_blocking(cmd)?;
            if let Some(reason) = applied.rejection() {
                anyhow::bail!("seeding {cmd:?} was rejected: {reason:?}");
            }
        }
        println!("seeded demo markets BTCUSDT, ETHUSDT, ETHBTC, SOLUSDT and demo users 1-3");
    }
    println!("data directory {} (journal + snapshots); Ctrl-C at any time: every acknowledged command is on disk", data_dir.display());
    let started = Instant::now();
    let (mut step, mut trades, mut last_report) = (report.last_seq, 0u64, Instant::now());
    let pace = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    while args
        .seconds
        .is_none_or(|s| started.elapsed() < Duration::from_secs(s))
    {
        if args.no_bot {
            std::thread::sleep(Duration::from_millis(200));
        } else {
            step += 1;
            let applied = handle.submit_blocking(demo::demo_order(step))?;
            trades += applied
                .events()
                .iter()
                .filter(|e| matches!(e, Event::Trade(_)))
                .count() as u64;
            if step % 500 == 0 {
                demo::DEMO_USERS
                    .iter()
                    .for_each(|u| demo::tidy(&handle, *u));
            }
            std::thread::sleep(pace);
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            print_summary(&handle, trades)?;
        }
    }
    drop(handle);
    let engine = sequencer.shutdown()?;
    println!(
        "stopped at seq {}, state hash {:016x}",
        engine.last_seq(),
        engine.state_hash()
    );
    Ok(())
}

fn print_summary(handle: &flowex_sequencer::SequencerHandle, trades: u64) -> Result<()> {
    let lines = handle.query_blocking(|e: &Engine| {
        e.markets()
            .iter()
            .map(|m| {
                let (bid, ask) = e.best_bid_ask(m.id).unwrap_or((None, None));
                let decimals = e
                    .assets()
                    .iter()
                    .find(|a| a.id == m.quote)
                    .map_or(8, |a| a.decimals);
                let price = |ticks: u64| format_scaled(ticks.saturating_mul(m.tick_size), decimals);
                let show = |x: Option<(u64, u64)>| x.map_or("-".to_string(), |(p, _)| price(p));
                let last = e.last_price(m.id).map_or("-".to_string(), price);
                format!(
                    "{} bid {} ask {} last {last}",
                    m.symbol,
                    show(bid),
                    show(ask)
                )
            })
            .collect::<Vec<_>>()
    })?;
    let stats = handle.stats();
    println!(
        "seq {} | {} batches | {trades} trades this run | {}",
        stats.durable_seq,
        stats.batches,
        lines.join(" | ")
    );
    Ok(())
}
