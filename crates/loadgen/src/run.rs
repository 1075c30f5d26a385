//! One run: open the connections, release the schedule, let every
//! connection take the next due request, send it signed for a random
//! trader, and count its answer in its phase.

use crate::client::{self, Conn, Outcome};
use crate::mix::{absorb, Generator, Market, Mix, Trader};
use crate::schedule::{pace, phase_starts, Phase, Queue};
use crate::stats::{PhaseStats, Row};
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to drive the server.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The name of the rows (`flowex-http`, `axum-minimal`…).
    pub name: String,
    /// `http://host:port`.
    pub base: String,
    pub connections: usize,
    /// All open loop (rate > 0) or all closed loop (rate 0).
    pub phases: Vec<Phase>,
    pub mix: Mix,
    /// A trader with this many resting orders cancels instead of placing.
    pub max_open: usize,
    /// A request unanswered after this long fails with `timeout`.
    pub timeout: Duration,
    /// After the schedule ends, queued requests are still sent for this
    /// long; the rest are counted `unsent`.
    pub drain: Duration,
    pub seed: u64,
}

struct Shared {
    opts: RunOptions,
    markets: Vec<Market>,
    traders: Vec<Trader>,
    stats: Vec<Mutex<PhaseStats>>,
    queue: Queue,
}

/// The socket address and `Host` of an `http://` base URL.
pub async fn resolve(base: &str) -> Result<(SocketAddr, String)> {
    let url = reqwest::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
    if url.scheme() != "http" {
        bail!("only http:// servers can be driven (no TLS client), not {base:?}");
    }
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .with_context(|| format!("{host} does not resolve"))?;
    Ok((addr, format!("{host}:{port}")))
}

/// Drives the server with `traders` on `markets`; one row per phase and
/// operation plus an `all` row per phase.
pub async fn run(opts: RunOptions, markets: Vec<Market>, traders: Vec<Trader>) -> Result<Vec<Row>> {
    if traders.is_empty() || markets.is_empty() || opts.connections == 0 {
        bail!("a run needs traders, markets and connections");
    }
    let closed = opts.phases.iter().all(|p| p.rate == 0);
    if !closed && opts.phases.iter().any(|p| p.rate == 0) {
        bail!("a run is either open loop (every rate > 0) or closed loop (rate 0)");
    }
    let (addr, host) = resolve(&opts.base).await?;
    let conns = open_all(addr, &host, opts.connections).await?;
    let shared = Arc::new(Shared {
        stats: opts.phases.iter().map(|_| Mutex::default()).collect(),
        opts,
        markets,
        traders,
        queue: Queue::default(),
    });
    let start = Instant::now() + Duration::from_millis(5);
    let pacer = (!closed).then(|| {
        let s = shared.clone();
        std::thread::spawn(move || pace(&s.queue, &s.opts.phases, start, s.opts.connections))
    });
    let mut workers = tokio::task::JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let s = shared.clone();
        let rng = ChaCha8Rng::seed_from_u64(s.opts.seed.wrapping_add(i as u64));
        workers.spawn(async move {
            if closed {
                closed_worker(&s, conn, rng, start).await
            } else {
                open_worker(&s, conn, rng, start).await
            }
        });
    }
    while workers.join_next().await.is_some() {}
    if let Some(p) = pacer {
        p.join()
            .map_err(|_| anyhow::anyhow!("the pacer thread panicked"))?;
    }
    Ok(rows(&shared, closed))
}

async fn open_all(addr: SocketAddr, host: &str, n: usize) -> Result<Vec<Conn>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let host = host.to_string();
        set.spawn(async move {
            let mut c = Conn::new(addr, &host);
            c.open().await.map(|_| c)
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(c) = set.join_next().await {
        conns.push(c?.map_err(|e| anyhow::anyhow!("{e}: cannot reach {addr}"))?);
    }
    Ok(conns)
}

fn schedule_end(s: &Shared, start: Instant) -> Instant {
    start + s.opts.phases.iter().map(|p| p.duration).sum::<Duration>()
}

async fn open_worker(s: &Shared, mut conn: Conn, mut rng: ChaCha8Rng, start: Instant) {
    let deadline = schedule_end(s, start) + s.opts.drain;
    while let Some(slot) = s.queue.next().await {
        if Instant::now() > deadline {
            s.stats[slot.phase].lock().expect("not poisoned").unsent += 1;
            continue;
        }
        one(s, &mut conn, &mut rng, slot.planned, slot.phase).await;
    }
}

async fn closed_worker(s: &Shared, mut conn: Conn, mut rng: ChaCha8Rng, start: Instant) {
    let starts = phase_starts(&s.opts.phases, start);
    tokio::time::sleep_until(start.into()).await;
    for (p, phase) in s.opts.phases.iter().enumerate() {
        let end = starts[p] + phase.duration;
        while Instant::now() < end {
            one(s, &mut conn, &mut rng, Instant::now(), p).await;
        }
    }
}

/// One request for a random trader, counted from `planned`.
async fn one(s: &Shared, conn: &mut Conn, rng: &mut ChaCha8Rng, planned: Instant, phase: usize) {
    let trader = &s.traders[rng.gen_range(0..s.traders.len())];
    let g = Generator {
        mix: &s.opts.mix,
        markets: &s.markets,
        max_open: s.opts.max_open,
    };
    let p = g.next(trader, rng);
    let req = client::build(&p.call, &trader.creds, conn.host());
    let outcome = conn.send(req, s.opts.timeout).await;
    let latency = planned.elapsed();
    let failure = match &outcome {
        Outcome::Ok(body) => {
            absorb(&p, body, trader);
            None
        }
        Outcome::Refused(code) => Some(code.as_str()),
        Outcome::Failed(why) => Some(*why),
    };
    s.stats[phase]
        .lock()
        .expect("not poisoned")
        .record(p.op, latency, failure);
}

fn rows(s: &Shared, closed: bool) -> Vec<Row> {
    let mut out = Vec::new();
    for (p, phase) in s.opts.phases.iter().enumerate() {
        let stats = s.stats[p].lock().expect("not poisoned");
        let base = Row {
            name: s.opts.name.clone(),
            mode: String::new(),
            mix: s.opts.mix.name.clone(),
            rate: (!closed).then_some(phase.rate),
            connections: s.opts.connections,
            phase: p,
            elapsed: phase.duration,
            sent: 0,
            succeeded: 0,
            failed: BTreeMap::new(),
            unsent: 0,
            p50_ns: 0,
            p95_ns: 0,
            p99_ns: 0,
            p999_ns: 0,
            p9999_ns: 0,
            max_ns: 0,
        };
        out.push(Row::new(&base, "all", &stats.total(), stats.unsent));
        if stats.ops.len() > 1 {
            for (op, o) in &stats.ops {
                out.push(Row::new(&base, op.name(), o, 0));
            }
        }
    }
    out
}
