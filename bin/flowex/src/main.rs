//! The `flowex` command line.

mod bench;
mod demo;
mod replay;
mod up;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "flowex", version, about = "FlowEx: an open spot exchange")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run FlowEx in one process with its data in a local directory.
    Up(up::UpArgs),
    /// Rebuild state from a data directory's journal (read-only) and report it.
    Replay {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Check that replaying the journal reproduces every snapshot's state.
        #[arg(long)]
        verify: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// The trading core: engine only, sequencer + journal, replay.
    Engine(bench::EngineArgs),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Cmd::Up(args) => up::run(args),
        Cmd::Replay { data_dir, verify } => {
            let report = replay::replay(&data_dir, verify)?;
            replay::print(&report, verify);
            Ok(())
        }
        Cmd::Bench {
            what: BenchCmd::Engine(args),
        } => bench::run(args),
    }
}
