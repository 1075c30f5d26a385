//! `flowex bench ws`: many WebSocket clients on one busy market.
//!
//! `--clients` connections (default 10 000, on loopback; the harness
//! raises its own open-file limit) to the combined stream of `--streams`
//! (default BTCUSDT's diff depth and trades), while the load generator
//! sends `--rate` orders a second (limit orders resting and crossing,
//! cancels, market orders: book updates and trades). Reported: the
//! connections held, messages delivered per second, the delivery latency
//! of trades from the engine's trade time (`T`) to the client's receipt
//! (measured on the first `--probes` clients, the others only count),
//! slow-consumer disconnects (close code 1008) and other closes, the
//! server's dropped messages (its `/metrics`), and, for a server this
//! harness started, resident memory per connection.
//!
//! Without `--target`, the server is `flowex up --no-bot` in a temporary
//! directory with its rate and connection limits raised for the run.

use super::http::{fixture, flowex_up_with, Server};
use anyhow::{bail, Context, Result};
use flowex_loadgen::{Market, Mix, Phase, RunOptions, Trader};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug, Clone)]
pub struct WsArgs {
    /// WebSocket connections to open.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Seconds of order flow, once every client is connected.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Orders per second sent while the clients listen.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// The streams each client subscribes to (combined stream, `/`-separated).
    #[arg(long, default_value = "btcusdt@depth@100ms/btcusdt@trade")]
    streams: String,
    /// Clients whose every trade message is timed (the rest count only).
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// A running FlowEx (`http://host:port`) instead of a fresh `flowex up`.
    #[arg(long)]
    target: Option<String>,
    /// Traders the order flow is spread over.
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// One JSON object (the summary also goes to stderr).
    #[arg(long)]
    json: bool,
}

/// What every client adds to.
#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    failed_connects: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    slow_closes: AtomicU64,
    other_closes: AtomicU64,
    /// Counting starts here (0: not yet), so connecting is not measured.
    counting: AtomicU64,
}

/// Raises the soft open-file limit to the hard one: a client per file.
fn raise_open_files() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let _ = setrlimit(Resource::Nofile, raised);
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The server with its limits raised for `clients` connections from one address.
fn start_server(dir: &std::path::Path, clients: usize) -> Result<Server> {
    let room = (clients + 1_000).to_string();
    let env: Vec<(String, String)> = [
        "FLOWEX_SERVER__MAX_CONNECTIONS",
        "FLOWEX_SERVER__MAX_CONNECTIONS_PER_IP",
        "FLOWEX_WEBSOCKET__MAX_CONNECTIONS",
        "FLOWEX_WEBSOCKET__MAX_CONNECTIONS_PER_IP",
    ]
    .iter()
    .map(|k| (k.to_string(), room.clone()))
    .collect();
    flowex_up_with(dir, &env)
}

/// Resident memory of a process, in bytes (Linux `/proc`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A trade's engine time (`T`, ms) in a combined-stream message.
fn trade_time_ms(text: &str) -> Option<u64> {
    if !text.contains("\"e\":\"trade\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v["data"]["T"].as_u64()
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One client: connects, then counts (and, as a probe, times) until the
/// connection ends or `stop` passes.
async fn client(
    url: String,
    tally: Arc<Tally>,
    latency: Option<Arc<Mutex<Histogram<u64>>>>,
    stop: Instant,
) {
    let connected = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await;
    let Ok(Ok((mut ws, _))) = connected else {
        tally.failed_connects.fetch_add(1, Ordering::Relaxed);
        return;
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    while let Ok(Some(msg)) = tokio::time::timeout_at(stop.into(), ws.next()).await {
        let counting = tally.counting.load(Ordering::Relaxed) != 0;
        match msg {
            Ok(Message::Text(text)) if counting => {
                tally.messages.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                if let Some(h) = &latency {
                    if let Some(t) = trade_time_ms(text.as_str()) {
                        let waited = now_ns().saturating_sub(t * 1_000_000);
                        let mut h = h.lock().unwrap_or_else(|p| p.into_inner());
                        let _ = h.record(waited.max(1_000));
                    }
                }
            }
            Ok(Message::Close(frame)) => {
                let slow = frame.is_some_and(|f| u16::from(f.code) == 1008);
                let which = if slow {
                    &tally.slow_closes
                } else {
                    &tally.other_closes
                };
                which.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(_) => {}
            Err(_) => {
                tally.other_closes.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
}

/// `flowex_ws_messages_dropped_total` summed over streams, from `/metrics`.
async fn dropped_on_server(base: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("flowex_ws_messages_dropped_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

/// What a run measured, for the summary.
struct Measured<'a> {
    tally: &'a Tally,
    latency: &'a Mutex<Histogram<u64>>,
    elapsed: Duration,
    connect_time: Duration,
    rss: (Option<u64>, Option<u64>),
    dropped: Option<u64>,
    orders_acknowledged: u64,
}

pub async fn run(a: WsArgs) -> Result<()> {
    if a.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let files = raise_open_files();
    if (a.clients as u64) + 256 > files {
        eprintln!("bench ws: the open-file limit is {files}; connections past it will fail (raise `ulimit -n`)");
    }
    let tmp = tempfile::tempdir()?;
    let server = match &a.target {
        Some(_) => None,
        None => Some(start_server(tmp.path(), a.clients)?),
    };
    let base = match (&a.target, &server) {
        (Some(t), _) => t.trim_end_matches('/').to_string(),
        (None, Some(s)) => s.base.clone(),
        (None, None) => unreachable!("a server is started without --target"),
    };
    let fx = fixture(&base, a.users.max(1))
        .await
        .context("provisioning the traders")?;
    let pid = server.as_ref().map(|s| s.child.id());
    let rss_before = pid.and_then(rss_bytes);
    let tally = Arc::new(Tally::default());
    let latency = Arc::new(Mutex::new(flowex_loadgen::stats::new_histogram()));
    let connect_started = Instant::now();
    let tasks = connect_all(&a, &base, &tally, &latency).await;
    let connect_time = connect_started.elapsed();
    let rss_after = pid.and_then(rss_bytes);
    eprintln!(
        "bench ws: {} of {} clients connected in {connect_time:?}; {} orders/s for {} s",
        tally.connected.load(Ordering::Relaxed),
        a.clients,
        a.rate,
        a.seconds
    );
    tally.counting.store(1, Ordering::Relaxed);
    let started = Instant::now();
    let orders_acknowledged = order_flow(&a, &base, &fx).await?;
    // Let what was sent last arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    tally.counting.store(0, Ordering::Relaxed);
    let dropped = dropped_on_server(&base).await;
    tasks.iter().for_each(|t| t.abort());
    let summary = summary(
        &a,
        &Measured {
            tally: &tally,
            latency: &latency,
            elapsed,
            connect_time,
            rss: (rss_before, rss_after),
            dropped,
            orders_acknowledged,
        },
    );
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    if a.json {
        println!("{summary}");
    }
    Ok(())
}

/// Opens every client (in bursts, so the accept queue keeps up) and waits
/// until each has connected or failed (two minutes at most).
async fn connect_all(
    a: &WsArgs,
    base: &str,
    tally: &Arc<Tally>,
    latency: &Arc<Mutex<Histogram<u64>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = format!(
        "{}/stream?streams={}",
        base.replacen("http", "ws", 1),
        a.streams
    );
    // Room for connecting, the run and the drain.
    let stop = Instant::now() + Duration::from_secs(a.seconds.max(1) + 180);
    let mut tasks = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let probe = (i < a.probes).then(|| latency.clone());
        tasks.push(tokio::spawn(client(
            url.clone(),
            tally.clone(),
            probe,
            stop,
        )));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let done =
        || tally.connected.load(Ordering::Relaxed) + tally.failed_connects.load(Ordering::Relaxed);
    while done() < a.clients as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks
}

/// The load generator's open loop at `--rate` for `--seconds`; the orders
/// acknowledged.
async fn order_flow(a: &WsArgs, base: &str, fx: &super::http::Fixture) -> Result<u64> {
    let opts = RunOptions {
        name: "bench-ws-orders".to_string(),
        base: base.to_string(),
        connections: 16,
        phases: vec![Phase {
            duration: Duration::from_secs(a.seconds.max(1)),
            rate: a.rate.max(1),
        }],
        mix: Mix::parse("place-limit=70,cancel=20,market=10").map_err(anyhow::Error::msg)?,
        max_open: 20,
        timeout: Duration::from_secs(10),
        drain: Duration::from_secs(2),
        seed: 7,
    };
    let markets = vec![Market::new(fx.rules.clone(), fx.mid)];
    let traders = fx.creds.iter().cloned().map(Trader::new).collect();
    let rows = flowex_loadgen::run(opts, markets, traders).await?;
    Ok(rows
        .iter()
        .filter(|r| r.mode == "all")
        .map(|r| r.succeeded)
        .sum())
}

fn summary(a: &WsArgs, m: &Measured) -> serde_json::Value {
    let h = m.latency.lock().unwrap_or_else(|p| p.into_inner());
    let held = m.tally.connected.load(Ordering::Relaxed);
    let messages = m.tally.messages.load(Ordering::Relaxed);
    let q = |p: f64| (!h.is_empty()).then(|| h.value_at_quantile(p));
    let per_conn = match m.rss {
        (Some(b), Some(a)) if held > 0 => Some(a.saturating_sub(b) / held),
        _ => None,
    };
    let secs = m.elapsed.as_secs_f64();
    serde_json::json!({
        "name": "flowex-ws",
        "mode": "fanout",
        "clients": a.clients,
        "connections_held": held,
        "failed_connects": m.tally.failed_connects.load(Ordering::Relaxed),
        "connect_seconds": (m.connect_time.as_secs_f64() * 1000.0).round() / 1000.0,
        "streams": a.streams,
        "order_rate": a.rate,
        "orders_acknowledged": m.orders_acknowledged,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "messages": messages,
        "messages_per_sec": (messages as f64 / secs.max(1e-9)).round(),
        "bytes": m.tally.bytes.load(Ordering::Relaxed),
        "trade_latency_samples": h.len(),
        "p50_ns": q(0.5),
        "p99_ns": q(0.99),
        "p999_ns": q(0.999),
        "max_ns": (!h.is_empty()).then(|| h.max()),
        "slow_consumer_disconnects": m.tally.slow_closes.load(Ordering::Relaxed),
        "other_closes": m.tally.other_closes.load(Ordering::Relaxed),
        "server_dropped_messages": m.dropped,
        "server_rss_bytes_per_connection": per_conn,
    })
}
