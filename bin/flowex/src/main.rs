//! The `flowex` command line.

/// `println!` that never panics: a reader that went away (a closed pipe)
/// must not bring down a running server when it prints a status line.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admin;
mod bench;
mod demo;
mod loadgen;
mod logging;
mod openapi;
mod ops;
mod platform;
mod reconcile;
mod replay;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "flowex", version, about = "FlowEx: an open spot exchange")]
struct Cli {
    #[command(flatten)]
    overrides: ops::Overrides,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run FlowEx in one process with its data in a local directory.
    Up(platform::UpArgs),
    /// Rebuild state from a data directory's journal (read-only) and report it.
    Replay {
        /// Check that replaying the journal reproduces every snapshot's state.
        #[arg(long)]
        verify: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Apply the SQL migrations to the configured database.
    Migrate,
    /// Run one service of the distributed mode (PostgreSQL, Redis, internal token).
    Serve(serve::ServeArgs),
    /// Operator commands: markets, assets, fees, freezes, deposits, withdrawals, audit (through the admin API), users (in the database).
    Admin {
        #[command(subcommand)]
        what: admin::AdminCmd,
    },
    /// The demo of a distributed exchange (`flowex up` seeds its own).
    Demo {
        #[command(subcommand)]
        what: DemoCmd,
    },
    /// Print the OpenAPI 3 document of the public API (JSON; docs/api/openapi.json).
    Openapi,
    /// Drive a running FlowEx with many signed traders (open loop, HdrHistogram).
    Loadgen(loadgen::LoadgenArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum DemoCmd {
    /// List the demo assets and markets and create the demo account and two
    /// market makers, funded, on a running distributed exchange (idempotent).
    Seed,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// The trading core: engine only, sequencer + journal, replay.
    Engine(bench::EngineArgs),
    /// Signed orders over HTTP: FlowEx against a minimal axum server.
    Http(bench::http::HttpArgs),
    /// Many WebSocket clients on one busy market: delivery rate and latency.
    Ws(bench::ws::WsArgs),
}

fn main() -> Result<()> {
    ops::private_umask();
    let cli = Cli::parse();
    let service = match &cli.command {
        Cmd::Serve(args) => Some(args.service.name()),
        _ => None,
    };
    let _telemetry = logging::init(&cli.overrides, service);
    match cli.command {
        Cmd::Up(args) => runtime()?.block_on(platform::up(cli.overrides.load()?, args)),
        Cmd::Config => {
            ops::print_config(&cli.overrides.load()?);
            Ok(())
        }
        Cmd::Migrate => runtime()?.block_on(ops::migrate(&cli.overrides.load()?)),
        Cmd::Serve(args) => {
            let port = cli.overrides.port;
            runtime()?.block_on(serve::serve(cli.overrides.load()?, args, port))
        }
        Cmd::Admin { what } => runtime()?.block_on(admin::run(&cli.overrides.load()?, what)),
        Cmd::Demo {
            what: DemoCmd::Seed,
        } => runtime()?.block_on(demo::seed(&cli.overrides.load()?)),
        Cmd::Openapi => {
            print!("{}", openapi::pretty());
            Ok(())
        }
        Cmd::Replay { verify } => {
            let data_dir = cli
                .overrides
                .data_dir
                .clone()
                .unwrap_or_else(|| "./data".into());
            let report = replay::replay(&replay::journal_dir(&data_dir), verify)?;
            replay::print(&report, verify);
            Ok(())
        }
        Cmd::Bench {
            what: BenchCmd::Engine(args),
        } => bench::run(args),
        Cmd::Bench {
            what: BenchCmd::Http(args),
        } => runtime()?.block_on(bench::http::run(args)),
        Cmd::Bench {
            what: BenchCmd::Ws(args),
        } => runtime()?.block_on(bench::ws::run(args)),
        Cmd::Loadgen(args) => runtime()?.block_on(loadgen::run(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
