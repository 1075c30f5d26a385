//! Soak: `flowex up` under the crash tests' load (six signed users in a
//! closed loop: the load generator's order mix, deposits, withdrawal
//! requests) for `FLOWEX_SOAK_SECONDS` (default 60; the long run is 1800),
//! sampled at twelve evenly spaced moments (every minute in the long run):
//! resident memory and open files of the server process (/proc), the
//! projections' lag behind the engine (`flowex_engine_sequence` minus
//! `flowex_projection_sequence` on `/metrics`) and acknowledgements per
//! second, one JSON line each on stderr (and in `FLOWEX_SOAK_OUT` if set).
//!
//! Checked: memory and open files do not grow without bound from the end
//! of the second quarter to the last sample. The bound is generous on
//! purpose: the open books are bounded (each user cancels beyond 20 resting
//! orders), but SQLite's page cache, the allocator's arenas and the kept
//! market data (trades, candles) grow towards their caps during a run, so
//! memory may grow by half plus 64 MiB, and open files by 64 (connections
//! come and go). A leak per request outgrows that within the run; a
//! steady state never reaches it.

mod common;
#[path = "common/crashload.rs"]
mod crashload;

use common::{flowex, text, Up};
use crashload::Target;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "soak-admin@example.com";
const ENV: [(&str, &str); 4] = [
    ("FLOWEX_RATE_LIMITS__IP_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__USER_WEIGHT_PER_MINUTE", "100000000"),
    ("FLOWEX_RATE_LIMITS__ORDERS_PER_10S", "1000000"),
    ("FLOWEX_FAUCET__DAILY_CAP", "1000"),
];

/// One sample of the server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    fds: u64,
    lag: i64,
    acks: u64,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn open_files(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// The engine's seq minus the slowest projection's, from `/metrics`.
async fn projection_lag(base: &str) -> i64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line: &str| line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
    let engine = text
        .lines()
        .find(|l| l.starts_with("flowex_engine_sequence"))
        .and_then(value)
        .unwrap_or(0.0);
    let slowest = text
        .lines()
        .filter(|l| l.starts_with("flowex_projection_sequence{"))
        .filter_map(value)
        .fold(f64::INFINITY, f64::min);
    if slowest.is_finite() {
        (engine - slowest) as i64
    } else {
        -1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_and_open_files_stay_bounded_under_steady_load() {
    let seconds: u64 = std::env::var("FLOWEX_SOAK_SECONDS")
        .ok()
        .map_or(60, |v| v.parse().expect("FLOWEX_SOAK_SECONDS: a number"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = flowex(d)
        .args([
            "admin",
            "create-user",
            "--email",
            ADMIN,
            "--password",
            crashload::PASSWORD,
            "--admin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut up = Up::start_for(d, seconds + 600, &["--no-bot"], &ENV);
    let funding = crashload::Funding::Faucet;
    let accounts = crashload::provision(&up.base, 6, "soak", &funding).await;
    let (rules, _) = flowex_loadgen::provision::markets(&up.base, &["BTCUSDT".into()])
        .await
        .unwrap();
    let rules = rules.into_iter().next().unwrap();
    let mid = rules.ticks_of("64000").unwrap();
    let market = Arc::new(flowex_loadgen::Market::new(rules, mid));
    let target = Arc::new(Target::connect(&up.base, ADMIN, &accounts).await);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(crashload::run(
        target,
        accounts.clone(),
        market,
        7,
        stop.clone(),
    ));
    let samples = sample(&up, &accounts, seconds).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    check(&samples);
    up.terminate();
}

/// Twelve samples over `seconds` (each minute when that is longer).
async fn sample(up: &Up, accounts: &[Arc<crashload::Account>], seconds: u64) -> Vec<Sample> {
    let every = Duration::from_secs_f64((seconds as f64 / 12.0).min(60.0));
    let mut out_file = std::env::var("FLOWEX_SOAK_OUT")
        .ok()
        .map(|p| std::fs::File::create(p).unwrap());
    let start = Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(every).await;
        let acks = accounts.iter().map(|a| a.record.lock().unwrap().acks).sum();
        let s = Sample {
            at_s: start.elapsed().as_secs_f64(),
            rss_kib: rss_kib(up.pid()),
            fds: open_files(up.pid()),
            lag: projection_lag(&up.base).await,
            acks,
        };
        let line = format!(
            r#"{{"at_s":{:.1},"rss_kib":{},"open_fds":{},"projection_lag":{},"acks":{}}}"#,
            s.at_s, s.rss_kib, s.fds, s.lag, s.acks
        );
        eprintln!("{line}");
        if let Some(f) = out_file.as_mut() {
            writeln!(f, "{line}").unwrap();
        }
        samples.push(s);
    }
    samples
}

fn check(samples: &[Sample]) {
    assert!(samples.len() >= 4, "too few samples: {samples:?}");
    let last = samples[samples.len() - 1];
    let acks_by_then = last.acks;
    assert!(acks_by_then > 0, "the load made no progress: {samples:?}");
    let second_quarter = samples[samples.len() / 2 - 1];
    assert!(
        last.rss_kib <= second_quarter.rss_kib * 3 / 2 + 64 * 1024,
        "memory grew from {} KiB to {} KiB: {samples:?}",
        second_quarter.rss_kib,
        last.rss_kib
    );
    assert!(
        last.fds <= second_quarter.fds + 64,
        "open files grew from {} to {}: {samples:?}",
        second_quarter.fds,
        last.fds
    );
}
