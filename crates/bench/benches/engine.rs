//! FlowEx's engine side by side with peer order-book crates, on the same
//! generated command stream.
//!
//! ```text
//! cargo bench -p flowex-bench --bench engine -- [--json] [--commands N] [--seed S]
//!     [--mix exchange-core|orderbook-rs] [--rates 100000,1000000,3000000]
//!     [--latency-ms MS] [--runs R] [--modes engine,durable,replay]
//!     [--only flowex,lobster,matchcore,orderbook-rs,baseline]
//! ```
//!
//! Peers have no accounts, balances, fees or risk checks; they get the same
//! book activity (see `PeerOp`): places, cancels, moves (a native amend where
//! the peer has one, else cancel + re-place), reduces. Each line reports a
//! `book_hash` of the final aggregated levels: equal hashes mean the peer
//! ended with exactly the same book as FlowEx. `baseline` applies nothing:
//! it shows the harness's own cost and the machine's latency noise floor.

use flowex_bench::{
    describe_workload, format_table, gen, generate, run_mode, run_subject, BenchOpts, BenchResult,
    Finish, Mix, Mode, PeerOp, Subject, Workload,
};
use flowex_types::Side;
use std::process::ExitCode;

// ---------------------------------------------------------------- lobster

/// lobster 0.7: `execute(OrderType)`; no amend (cancel + re-place), no IOC
/// limit (limit order, then cancel of any remainder).
struct Lobster<'a> {
    book: lobster::OrderBook,
    ops: &'a [PeerOp],
}

fn lob_side(s: Side) -> lobster::Side {
    match s {
        Side::Buy => lobster::Side::Bid,
        Side::Sell => lobster::Side::Ask,
    }
}

impl<'a> Lobster<'a> {
    fn new(w: &'a Workload) -> Self {
        let mut s = Lobster {
            book: lobster::OrderBook::new(w.opts.orders * 4, 16, false),
            ops: &w.peer_measured,
        };
        for op in &w.peer_setup {
            s.apply(op);
        }
        s
    }

    #[inline]
    fn apply(&mut self, op: &PeerOp) {
        use lobster::OrderType as T;
        let b = &mut self.book;
        match *op {
            PeerOp::Nop => {}
            PeerOp::Place {
                id,
                side,
                price,
                qty,
                ioc,
            } => {
                let id = u128::from(id);
                std::hint::black_box(b.execute(T::Limit {
                    id,
                    side: lob_side(side),
                    qty,
                    price,
                }));
                if ioc {
                    std::hint::black_box(b.execute(T::Cancel { id }));
                }
            }
            PeerOp::Cancel { id, .. } => {
                std::hint::black_box(b.execute(T::Cancel { id: u128::from(id) }));
            }
            PeerOp::Move {
                id,
                side,
                price,
                qty,
                ..
            }
            | PeerOp::Reduce {
                id,
                side,
                price,
                qty,
            } => {
                let id = u128::from(id);
                std::hint::black_box(b.execute(T::Cancel { id }));
                std::hint::black_box(b.execute(T::Limit {
                    id,
                    side: lob_side(side),
                    qty,
                    price,
                }));
            }
        }
    }
}

impl Subject for Lobster<'_> {
    #[inline]
    fn step(&mut self, i: usize) {
        let op = self.ops[i];
        self.apply(&op);
    }
}

impl Finish for Lobster<'_> {
    fn book_hash(&self) -> Option<u64> {
        let d = self.book.depth(1 << 20);
        // lobster lists both sides lowest price first.
        Some(gen::book_hash(
            d.bids.iter().rev().map(|l| (l.price, l.qty)),
            d.asks.iter().map(|l| (l.price, l.qty)),
        ))
    }
}

// ---------------------------------------------------------------- matchcore

/// matchcore 0.4: sequenced `Command`s; order id = sequence number of the
/// submit; native amend (price change loses priority, decrease keeps it).
struct Matchcore<'a> {
    book: matchcore::OrderBook,
    ops: &'a [PeerOp],
    seq: u64,
    /// FlowEx order id -> matchcore order id.
    ids: Vec<u64>,
}

impl<'a> Matchcore<'a> {
    fn new(w: &'a Workload) -> Self {
        let max_id = w
            .peer_setup
            .iter()
            .chain(&w.peer_measured)
            .filter_map(|op| match *op {
                PeerOp::Place { id, .. } => Some(id),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let mut s = Matchcore {
            book: matchcore::OrderBook::new("BTCUSDT"),
            ops: &w.peer_measured,
            seq: 0,
            ids: vec![0; max_id as usize + 1],
        };
        for op in &w.peer_setup {
            s.apply(op);
        }
        s
    }

    #[inline]
    fn exec(&mut self, kind: matchcore::CommandKind) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let cmd = matchcore::Command {
            meta: matchcore::CommandMeta {
                sequence_number: matchcore::SequenceNumber(seq),
                timestamp: matchcore::Timestamp(seq),
            },
            kind,
        };
        std::hint::black_box(self.book.execute(&cmd));
        seq
    }

    #[inline]
    fn apply(&mut self, op: &PeerOp) {
        use matchcore::*;
        match *op {
            PeerOp::Nop => {}
            PeerOp::Place {
                id,
                side,
                price,
                qty,
                ioc,
            } => {
                let side = match side {
                    flowex_types::Side::Buy => Side::Buy,
                    flowex_types::Side::Sell => Side::Sell,
                };
                let tif = if ioc {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                };
                let order = NewOrder::Limit(LimitOrder::new(
                    Price(price),
                    QuantityPolicy::Standard {
                        quantity: Quantity(qty),
                    },
                    OrderFlags::new(side, false, tif),
                ));
                let mid = self.exec(CommandKind::Submit(SubmitCmd { order }));
                self.ids[id as usize] = mid;
            }
            PeerOp::Cancel { id, .. } => {
                let order_id = OrderId(self.ids[id as usize]);
                self.exec(CommandKind::Cancel(CancelCmd {
                    order_id,
                    order_kind: OrderKind::Limit,
                }));
            }
            PeerOp::Move { id, price, .. } => {
                let order_id = OrderId(self.ids[id as usize]);
                let patch = AmendPatch::Limit(LimitOrderPatch::new().with_price(Price(price)));
                self.exec(CommandKind::Amend(AmendCmd { order_id, patch }));
            }
            PeerOp::Reduce { id, qty, .. } => {
                let order_id = OrderId(self.ids[id as usize]);
                let patch = AmendPatch::Limit(LimitOrderPatch::new().with_quantity_policy(
                    QuantityPolicy::Standard {
                        quantity: Quantity(qty),
                    },
                ));
                self.exec(CommandKind::Amend(AmendCmd { order_id, patch }));
            }
        }
    }
}

impl Subject for Matchcore<'_> {
    #[inline]
    fn step(&mut self, i: usize) {
        let op = self.ops[i];
        self.apply(&op);
    }
}

impl Finish for Matchcore<'_> {
    fn book_hash(&self) -> Option<u64> {
        let l2 = matchcore::Level2::from(&self.book);
        Some(gen::book_hash(
            l2.bid_levels().iter().map(|(p, q)| (p.0, q.0)),
            l2.ask_levels().iter().map(|(p, q)| (p.0, q.0)),
        ))
    }
}

// ---------------------------------------------------------------- orderbook-rs

/// orderbook-rs 0.15: a concurrent (lock-free, `&self`) book; sequential
/// u64 ids; native `update_order` (price update = cancel + add inside).
struct OrderbookRs<'a> {
    book: orderbook_rs::OrderBook<()>,
    ops: &'a [PeerOp],
}

fn obr_side(s: Side) -> pricelevel::Side {
    match s {
        Side::Buy => pricelevel::Side::Buy,
        Side::Sell => pricelevel::Side::Sell,
    }
}

impl<'a> OrderbookRs<'a> {
    fn new(w: &'a Workload) -> Self {
        let s = OrderbookRs {
            book: orderbook_rs::OrderBook::new("BTCUSDT"),
            ops: &w.peer_measured,
        };
        for op in &w.peer_setup {
            s.apply(op);
        }
        s
    }

    #[inline]
    fn apply(&self, op: &PeerOp) {
        use pricelevel::{Id, OrderUpdate, Price, Quantity, TimeInForce};
        let b = &self.book;
        match *op {
            PeerOp::Nop => {}
            PeerOp::Place {
                id,
                side,
                price,
                qty,
                ioc,
            } => {
                let tif = if ioc {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                };
                let _ = std::hint::black_box(b.add_limit_order(
                    Id::Sequential(id),
                    u128::from(price),
                    qty,
                    obr_side(side),
                    tif,
                    None,
                ));
            }
            PeerOp::Cancel { id, .. } => {
                let _ = std::hint::black_box(b.cancel_order(Id::Sequential(id)));
            }
            PeerOp::Move { id, price, .. } => {
                let update = OrderUpdate::UpdatePrice {
                    order_id: Id::Sequential(id),
                    new_price: Price::new(u128::from(price)),
                };
                let _ = std::hint::black_box(b.update_order(update));
            }
            PeerOp::Reduce { id, qty, .. } => {
                let update = OrderUpdate::UpdateQuantity {
                    order_id: Id::Sequential(id),
                    new_quantity: Quantity::new(qty),
                };
                let _ = std::hint::black_box(b.update_order(update));
            }
        }
    }
}

impl Subject for OrderbookRs<'_> {
    #[inline]
    fn step(&mut self, i: usize) {
        let op = self.ops[i];
        self.apply(&op);
    }
}

impl Finish for OrderbookRs<'_> {
    fn book_hash(&self) -> Option<u64> {
        let levels = |side| -> Vec<(u64, u64)> {
            self.book
                .levels_with_cumulative_depth(side)
                .filter_map(Result::ok)
                .map(|l| (u64::try_from(l.price).unwrap_or(u64::MAX), l.quantity))
                .collect()
        };
        Some(gen::book_hash(
            levels(pricelevel::Side::Buy),
            levels(pricelevel::Side::Sell),
        ))
    }
}

// ---------------------------------------------------------------- baseline

/// Does nothing per command: what the harness itself costs and the noise
/// floor of this machine (clock reads, spinning, interrupts, the hypervisor).
struct Baseline;

impl Subject for Baseline {
    #[inline]
    fn step(&mut self, i: usize) {
        std::hint::black_box(i);
    }
}

impl Finish for Baseline {}

// ---------------------------------------------------------------- driver

const PEERS: [&str; 4] = ["lobster", "matchcore", "orderbook-rs", "baseline"];

struct Args {
    opts: BenchOpts,
    json: bool,
    only: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut opts = BenchOpts::default();
    let mut json = false;
    let mut only: Vec<String> = std::iter::once("flowex")
        .chain(PEERS)
        .map(String::from)
        .collect();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{a}: {e}"))
        };
        match a.as_str() {
            "--json" => json = true,
            "--bench" => {} // passed by `cargo bench`
            "--commands" => opts.commands = num(value()?)? as usize,
            "--seed" => opts.seed = num(value()?)?,
            "--accounts" => opts.accounts = num(value()?)? as u32,
            "--orders" => opts.orders = num(value()?)? as usize,
            "--runs" => opts.runs = num(value()?)? as usize,
            "--latency-ms" => opts.latency_millis = num(value()?)?,
            "--mix" => {
                let v = value()?;
                opts.mixes =
                    v.split(',').map(|m| Mix::parse(m).ok_or(format!("unknown mix {m}"))).collect::<Result<_, _>>()?;
            }
            "--rates" => {
                let v = value()?;
                opts.rates = if v.is_empty() || v == "none" {
                    Vec::new()
                } else {
                    v.split(',').map(|r| num(r.to_string())).collect::<Result<_, _>>()?
                };
            }
            "--modes" => {
                let v = value()?;
                opts.modes = v
                    .split(',')
                    .map(|m| Mode::parse(m).ok_or(format!("unknown mode {m}")))
                    .collect::<Result<_, _>>()?;
            }
            "--only" => only = value()?.split(',').map(String::from).collect(),
            "-h" | "--help" => {
                return Err("usage: engine [--json] [--commands N] [--seed S] [--mix M[,M]] [--rates R[,R]|none] \
                            [--latency-ms MS] [--runs R] [--modes M[,M]] [--accounts N] [--orders N] [--only NAME[,NAME]]"
                    .into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args { opts, json, only })
}

fn run_all(args: &Args) -> Result<Vec<BenchResult>, String> {
    let opts = &args.opts;
    let wants = |n: &str| args.only.iter().any(|o| o == n);
    let mut all = Vec::new();
    for &mix in &opts.mixes {
        let w = generate(&opts.gen_opts(mix));
        eprintln!("{}", describe_workload(&w));
        let mut results = Vec::new();
        if wants("flowex") {
            for &mode in &opts.modes {
                results.extend(run_mode(mode, &w, opts).map_err(|e| e.to_string())?);
            }
        }
        if wants("lobster") {
            results.extend(run_subject("lobster", Mode::Engine, &w, opts, || {
                Lobster::new(&w)
            }));
        }
        if wants("matchcore") {
            results.extend(run_subject("matchcore", Mode::Engine, &w, opts, || {
                Matchcore::new(&w)
            }));
        }
        if wants("orderbook-rs") {
            results.extend(run_subject("orderbook-rs", Mode::Engine, &w, opts, || {
                OrderbookRs::new(&w)
            }));
        }
        if wants("baseline") {
            results.extend(run_subject("baseline", Mode::Engine, &w, opts, || Baseline));
        }
        for r in &mut results {
            match r.name.as_str() {
                "flowex" => {}
                "baseline" => r.mode = "none".into(),
                _ => r.mode = "peer".into(),
            }
        }
        if args.json {
            // JSON lines on stdout, the table on stderr for whoever watches.
            for r in &results {
                println!("{}", r.to_json());
            }
            eprint!("{}", format_table(&results));
        } else {
            print!("{}", format_table(&results));
            println!();
        }
        all.extend(results);
    }
    Ok(all)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run_all(&args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
