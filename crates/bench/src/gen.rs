//! Workload generation: a deterministic command stream from a seed.
//!
//! The stream is produced *outside* any timed loop, by driving a real
//! [`Engine`] once and reading its events, so the generator always knows
//! which orders are alive, at what price and with what open quantity. Every
//! cancel, reduce and move therefore targets a live order, exactly as a
//! client that follows its own execution reports would.
//!
//! Alongside the engine's [`Envelope`]s the generator emits an abstract
//! [`PeerOp`] per command, carrying the engine's order id, so that peer order
//! books without accounts can replay the same book activity.

use flowex_engine::Engine;
use flowex_types::{
    AssetCode, AssetConfig, AssetId, Command, EngineLimits, Envelope, Event, IdemKey, MarketConfig,
    MarketId, MarketStatus, NewOrder, OrderQty, OrderRef, OrderType, Side, StpMode, StpModes,
    Symbol, TimeInForce, UserId,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use std::fmt;

/// The market every generated command trades on.
pub const MARKET: MarketId = MarketId(1);
pub const BASE: AssetId = AssetId(1);
pub const QUOTE: AssetId = AssetId(2);
/// Mid price in ticks (60 000.00 with a 0.01 tick).
pub const MID_PRICE: u64 = 6_000_000;
/// Time of the first command, and the step between two commands.
const T0_NS: u64 = 1_700_000_000_000_000_000;
const DT_NS: u64 = 1_000;

/// Which command mix the measured part of the stream follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mix {
    /// exchange-core's published throughput mix: with the book at its target
    /// size, 2/40 IOC, 1/40 cancel, 1/40 reduce, 36/40 move; a GTC place
    /// whenever the book is below target (as exchange-core's generator does).
    ExchangeCore,
    /// orderbook-rs's mixed workload: 70% place, 20% cancel, 10% aggressive.
    OrderbookRs,
}

impl Mix {
    pub const ALL: [Mix; 2] = [Mix::ExchangeCore, Mix::OrderbookRs];

    pub fn name(self) -> &'static str {
        match self {
            Mix::ExchangeCore => "exchange-core",
            Mix::OrderbookRs => "orderbook-rs",
        }
    }

    pub fn parse(s: &str) -> Option<Mix> {
        Mix::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of a generated workload.
#[derive(Clone, Debug)]
pub struct GenOpts {
    pub seed: u64,
    /// Measured commands.
    pub commands: usize,
    /// Funded accounts (users 1..=accounts).
    pub accounts: u32,
    /// Resting orders the book is pre-filled with (and kept near, for exchange-core's mix).
    pub orders: usize,
    /// Resting prices are drawn up to this many ticks away from the mid price,
    /// on each side. 820 spreads 1,000 orders over ~750 distinct levels.
    pub price_range: u64,
    /// Largest GTC order, in lots.
    pub max_qty: u64,
    pub mix: Mix,
}

impl Default for GenOpts {
    fn default() -> Self {
        GenOpts {
            seed: 1,
            commands: 1_000_000,
            accounts: 1_000,
            orders: 1_000,
            price_range: 820,
            max_qty: 1_000,
            mix: Mix::ExchangeCore,
        }
    }
}

/// What a peer order book is asked to do for one command. Ids are the
/// FlowEx engine's order ids; quantities in lots, prices in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerOp {
    /// Our engine rejected the command: a peer does nothing.
    Nop,
    Place {
        id: u64,
        side: Side,
        price: u64,
        qty: u64,
        ioc: bool,
    },
    Cancel {
        id: u64,
        side: Side,
        price: u64,
    },
    /// New price; `qty` is the open quantity, unchanged. Loses time priority.
    Move {
        id: u64,
        side: Side,
        old_price: u64,
        price: u64,
        qty: u64,
    },
    /// Lower open quantity at the same price. Keeps time priority.
    Reduce {
        id: u64,
        side: Side,
        price: u64,
        qty: u64,
    },
}

/// Counts of the measured commands by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixCounts {
    /// GTC limit orders (book refills for exchange-core's mix).
    pub place: usize,
    /// IOC limit orders that cross the spread.
    pub ioc: usize,
    pub cancel: usize,
    pub reduce: usize,
    pub r#move: usize,
    /// Commands our engine rejected during generation (should be 0).
    pub rejected: usize,
    /// Trades the measured stream produced during generation.
    pub trades: usize,
}

impl MixCounts {
    pub fn total(&self) -> usize {
        self.place + self.ioc + self.cancel + self.reduce + self.r#move
    }
}

/// A generated workload: untimed setup, then the measured commands.
pub struct Workload {
    pub opts: GenOpts,
    /// Assets, market, limits, deposits and the pre-filled book, seq 1..=setup.len().
    pub setup: Vec<Envelope>,
    /// The measured commands, seq continuing after `setup`.
    pub measured: Vec<Envelope>,
    /// The pre-filled book for peers (places only).
    pub peer_setup: Vec<PeerOp>,
    /// One peer op per measured command.
    pub peer_measured: Vec<PeerOp>,
    pub counts: MixCounts,
    /// Resting orders and price levels after the pre-fill and at the end.
    pub book_after_setup: (usize, usize),
    pub book_at_end: (usize, usize),
    /// `Engine::state_hash` after the whole stream, as seen by the generator.
    pub expected_state_hash: u64,
    /// [`book_hash`] of the engine's book after the whole stream.
    pub expected_book_hash: u64,
}

#[derive(Clone, Copy)]
struct Live {
    id: u64,
    user: UserId,
    side: Side,
    price: u64,
    remaining: u64,
}

/// The generator's view of open orders, fed by engine events.
#[derive(Default)]
struct LiveBook {
    orders: Vec<Live>,
    index: FxHashMap<u64, usize>,
}

impl LiveBook {
    fn insert(&mut self, o: Live) {
        self.index.insert(o.id, self.orders.len());
        self.orders.push(o);
    }

    fn remove(&mut self, id: u64) {
        if let Some(i) = self.index.remove(&id) {
            self.orders.swap_remove(i);
            if i < self.orders.len() {
                self.index.insert(self.orders[i].id, i);
            }
        }
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Live> {
        self.index.get(&id).map(|&i| &mut self.orders[i])
    }

    fn len(&self) -> usize {
        self.orders.len()
    }
}

/// The market configuration used by every benchmark: BTCUSDT-like, 8-decimal
/// assets, tick 0.01 quote, lot 0.00001 base, 0.1% fees, STP off.
pub fn market_config() -> MarketConfig {
    MarketConfig {
        id: MARKET,
        symbol: Symbol::new("BTCUSDT").expect("valid symbol"),
        base: BASE,
        quote: QUOTE,
        tick_size: 1_000_000,
        lot_size: 1_000,
        min_price: 1,
        max_price: 1_000_000_000,
        min_qty: 1,
        max_qty: 1_000_000_000,
        min_notional: 0,
        max_notional: 0,
        maker_fee_ppm: 1_000,
        taker_fee_ppm: 1_000,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::None,
    }
}

struct Gen {
    rng: ChaCha8Rng,
    engine: Engine,
    out: Vec<Event>,
    seq: u64,
    live: LiveBook,
    opts: GenOpts,
}

/// What one applied command did, as far as the generator cares.
struct Applied {
    accepted: Option<u64>,
    rejected: bool,
    trades: usize,
}

impl Gen {
    fn envelope(&mut self, command: Command) -> Envelope {
        self.seq += 1;
        Envelope {
            seq: self.seq,
            timestamp_ns: T0_NS + self.seq * DT_NS,
            command,
        }
    }

    /// Applies a command to the generation engine and updates the live set.
    fn apply(&mut self, env: &Envelope) -> Applied {
        self.out.clear();
        self.engine
            .apply(env, &mut self.out)
            .expect("generator keeps sequence");
        let mut applied = Applied {
            accepted: None,
            rejected: false,
            trades: 0,
        };
        let mut new_order: Option<Live> = None;
        for ev in &self.out {
            match *ev {
                Event::Rejected { .. } => applied.rejected = true,
                Event::OrderAccepted(info) => {
                    applied.accepted = Some(info.id.0);
                    new_order = Some(Live {
                        id: info.id.0,
                        user: info.user,
                        side: info.side,
                        price: info.price,
                        remaining: 0,
                    });
                }
                Event::Trade(_) => applied.trades += 1,
                Event::OrderUpdate {
                    order,
                    status,
                    remaining,
                    ..
                } => {
                    if status.is_final() {
                        self.live.remove(order.0);
                    } else if let Some(o) = self.live.get_mut(order.0) {
                        o.remaining = remaining;
                    } else if let Some(mut o) = new_order.filter(|o| o.id == order.0) {
                        o.remaining = remaining;
                        self.live.insert(o);
                    }
                }
                Event::OrderAmended {
                    order,
                    price,
                    remaining,
                    ..
                } => {
                    if let Some(o) = self.live.get_mut(order.0) {
                        o.price = price;
                        o.remaining = remaining;
                    }
                }
                _ => {}
            }
        }
        applied
    }

    fn push(&mut self, command: Command, into: &mut Vec<Envelope>) -> Applied {
        let env = self.envelope(command);
        let applied = self.apply(&env);
        into.push(env);
        applied
    }

    fn random_user(&mut self) -> UserId {
        UserId(self.rng.gen_range(1..=u64::from(self.opts.accounts)))
    }

    /// A resting (non-crossing by construction) price on `side`.
    fn resting_price(&mut self, side: Side, min_offset: u64) -> u64 {
        let off = self.rng.gen_range(min_offset..=self.opts.price_range);
        match side {
            Side::Buy => MID_PRICE - off,
            Side::Sell => MID_PRICE + off,
        }
    }

    fn random_side(&mut self) -> Side {
        if self.rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn limit(user: UserId, side: Side, price: u64, qty: u64, tif: TimeInForce) -> Command {
        Command::PlaceOrder(NewOrder {
            user,
            market: MARKET,
            side,
            order_type: OrderType::Limit,
            tif,
            price,
            qty: OrderQty::Base(qty),
            stop_price: 0,
            client_id: None,
            stp: None,
        })
    }

    /// A GTC limit order away from the mid price.
    fn place_gtc(&mut self, into: &mut Vec<Envelope>, peer: &mut Vec<PeerOp>) -> Applied {
        let user = self.random_user();
        let side = self.random_side();
        let price = self.resting_price(side, 1);
        let qty = self.rng.gen_range(1..=self.opts.max_qty);
        let applied = self.push(Self::limit(user, side, price, qty, TimeInForce::Gtc), into);
        peer.push(match applied.accepted {
            Some(id) => PeerOp::Place {
                id,
                side,
                price,
                qty,
                ioc: false,
            },
            None => PeerOp::Nop,
        });
        applied
    }

    /// An IOC limit order a few ticks through the opposite best price.
    fn place_ioc(
        &mut self,
        max_qty: u64,
        into: &mut Vec<Envelope>,
        peer: &mut Vec<PeerOp>,
    ) -> Applied {
        let user = self.random_user();
        let side = self.random_side();
        let (bid, ask) = self.engine.best_bid_ask(MARKET).unwrap_or((None, None));
        let through = self.rng.gen_range(0..=10);
        let price = match side {
            Side::Buy => ask.map_or(MID_PRICE, |(p, _)| p) + through,
            Side::Sell => bid
                .map_or(MID_PRICE, |(p, _)| p)
                .saturating_sub(through)
                .max(1),
        };
        let qty = self.rng.gen_range(1..=max_qty);
        let applied = self.push(Self::limit(user, side, price, qty, TimeInForce::Ioc), into);
        peer.push(match applied.accepted {
            Some(id) => PeerOp::Place {
                id,
                side,
                price,
                qty,
                ioc: true,
            },
            None => PeerOp::Nop,
        });
        applied
    }

    fn pick_live(&mut self) -> Live {
        let i = self.rng.gen_range(0..self.live.len());
        self.live.orders[i]
    }

    fn cancel(&mut self, into: &mut Vec<Envelope>, peer: &mut Vec<PeerOp>) -> Applied {
        let o = self.pick_live();
        let cmd = Command::CancelOrder {
            user: o.user,
            market: MARKET,
            order: OrderRef::Id(flowex_types::OrderId(o.id)),
        };
        let applied = self.push(cmd, into);
        peer.push(if applied.rejected {
            PeerOp::Nop
        } else {
            PeerOp::Cancel {
                id: o.id,
                side: o.side,
                price: o.price,
            }
        });
        applied
    }

    fn reduce(&mut self, into: &mut Vec<Envelope>, peer: &mut Vec<PeerOp>) -> Applied {
        let mut o = self.pick_live();
        for _ in 0..8 {
            if o.remaining >= 2 {
                break;
            }
            o = self.pick_live();
        }
        let qty = if o.remaining >= 2 {
            self.rng.gen_range(1..o.remaining)
        } else {
            o.remaining
        };
        let cmd = Command::ReplaceOrder {
            user: o.user,
            market: MARKET,
            order: OrderRef::Id(flowex_types::OrderId(o.id)),
            new_price: None,
            new_qty: Some(qty),
        };
        let applied = self.push(cmd, into);
        peer.push(if applied.rejected {
            PeerOp::Nop
        } else {
            PeerOp::Reduce {
                id: o.id,
                side: o.side,
                price: o.price,
                qty,
            }
        });
        applied
    }

    /// Moves a live order to a new price around the mid (offset 0 may cross).
    fn move_order(&mut self, into: &mut Vec<Envelope>, peer: &mut Vec<PeerOp>) -> Applied {
        let o = self.pick_live();
        let mut price = self.resting_price(o.side, 0);
        if price == o.price {
            price = match o.side {
                Side::Buy => price - 1,
                Side::Sell => price + 1,
            };
        }
        let cmd = Command::ReplaceOrder {
            user: o.user,
            market: MARKET,
            order: OrderRef::Id(flowex_types::OrderId(o.id)),
            new_price: Some(price),
            new_qty: None,
        };
        let applied = self.push(cmd, into);
        peer.push(if applied.rejected {
            PeerOp::Nop
        } else {
            PeerOp::Move {
                id: o.id,
                side: o.side,
                old_price: o.price,
                price,
                qty: o.remaining,
            }
        });
        applied
    }

    fn book_shape(&self) -> (usize, usize) {
        let d = self.engine.depth(MARKET, usize::MAX).unwrap_or_default();
        (self.engine.open_order_count(), d.bids.len() + d.asks.len())
    }
}

/// Per-user funding: far more than any user can lock or lose in a run, so
/// risk checks always run and never reject (1,000,000 quote, 1,000 base).
pub const DEPOSIT_QUOTE: u64 = 100_000_000_000_000;
pub const DEPOSIT_BASE: u64 = 100_000_000_000;

/// Generates a workload. Deterministic in `opts`.
pub fn generate(opts: &GenOpts) -> Workload {
    assert!(opts.accounts >= 1 && opts.orders >= 1 && opts.price_range >= 2 && opts.max_qty >= 2);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        engine: Engine::new(),
        out: Vec::with_capacity(256),
        seq: 0,
        live: LiveBook::default(),
        opts: opts.clone(),
    };
    let mut setup = Vec::new();
    let mut peer_setup = Vec::new();
    g.setup(&mut setup, &mut peer_setup);
    let book_after_setup = g.book_shape();

    let mut measured = Vec::with_capacity(opts.commands);
    let mut peer = Vec::with_capacity(opts.commands);
    let mut c = MixCounts::default();
    for _ in 0..opts.commands {
        let a = g.next_command(&mut c, &mut measured, &mut peer);
        c.rejected += usize::from(a.rejected);
        c.trades += a.trades;
    }
    let book_at_end = g.book_shape();
    Workload {
        opts: opts.clone(),
        setup,
        measured,
        peer_setup,
        peer_measured: peer,
        counts: c,
        book_after_setup,
        book_at_end,
        expected_state_hash: g.engine.state_hash(),
        expected_book_hash: engine_book_hash(&g.engine),
    }
}

fn must(a: Applied, what: &str) {
    assert!(!a.rejected, "setup command rejected: {what}");
}

fn create_asset(id: AssetId, code: &str) -> Command {
    Command::CreateAsset(AssetConfig {
        id,
        code: AssetCode::new(code).expect("valid code"),
        decimals: 8,
    })
}

impl Gen {
    /// The assets, the market, the limits, every account's deposits and
    /// the book filled to `opts.orders` resting orders.
    fn setup(&mut self, setup: &mut Vec<Envelope>, peer_setup: &mut Vec<PeerOp>) {
        must(self.push(create_asset(BASE, "BTC"), setup), "base asset");
        must(self.push(create_asset(QUOTE, "USDT"), setup), "quote asset");
        let market = Command::CreateMarket(market_config());
        must(self.push(market, setup), "market");
        // orderbook-rs's mix grows the book well past the default per-user limit.
        let limits = EngineLimits {
            max_open_orders_per_user: 1_000_000,
            max_orders_per_market: 100_000_000,
        };
        must(self.push(Command::SetLimits(limits), setup), "limits");
        for u in 1..=u64::from(self.opts.accounts) {
            for (asset, amount) in [(BASE, DEPOSIT_BASE), (QUOTE, DEPOSIT_QUOTE)] {
                let key = IdemKey::new(&format!("bench-{u}-{}", asset.0)).expect("valid key");
                let deposit = Command::Deposit {
                    key,
                    user: UserId(u),
                    asset,
                    amount,
                };
                must(self.push(deposit, setup), "deposit");
            }
        }
        while self.live.len() < self.opts.orders {
            let a = self.place_gtc(setup, peer_setup);
            must(a, "pre-fill order");
        }
    }

    /// One measured command of the mix, counted in `c`.
    fn next_command(
        &mut self,
        c: &mut MixCounts,
        measured: &mut Vec<Envelope>,
        peer: &mut Vec<PeerOp>,
    ) -> Applied {
        let ioc_max = self.opts.max_qty * 3 / 2;
        let aggressive_max = self.opts.max_qty * 5;
        match self.opts.mix {
            Mix::ExchangeCore if self.live.len() < self.opts.orders => {
                c.place += 1;
                self.place_gtc(measured, peer)
            }
            Mix::ExchangeCore => match self.rng.gen_range(0..40u32) {
                0 | 1 => {
                    c.ioc += 1;
                    self.place_ioc(ioc_max, measured, peer)
                }
                2 => {
                    c.cancel += 1;
                    self.cancel(measured, peer)
                }
                3 => {
                    c.reduce += 1;
                    self.reduce(measured, peer)
                }
                _ => {
                    c.r#move += 1;
                    self.move_order(measured, peer)
                }
            },
            Mix::OrderbookRs => match self.rng.gen_range(0..10u32) {
                0..=6 => {
                    c.place += 1;
                    self.place_gtc(measured, peer)
                }
                7 | 8 if self.live.len() > 0 => {
                    c.cancel += 1;
                    self.cancel(measured, peer)
                }
                7 | 8 => {
                    c.place += 1;
                    self.place_gtc(measured, peer)
                }
                _ => {
                    c.ioc += 1;
                    self.place_ioc(aggressive_max, measured, peer)
                }
            },
        }
    }
}

/// A hash of a book's aggregated levels, best first per side, comparable
/// across order-book implementations (our engine and the peers).
pub fn book_hash(
    bids: impl IntoIterator<Item = (u64, u64)>,
    asks: impl IntoIterator<Item = (u64, u64)>,
) -> u64 {
    let mut bytes = Vec::with_capacity(32 * 1024);
    bytes.push(b'B');
    for (p, q) in bids {
        bytes.extend_from_slice(&p.to_le_bytes());
        bytes.extend_from_slice(&q.to_le_bytes());
    }
    bytes.push(b'A');
    for (p, q) in asks {
        bytes.extend_from_slice(&p.to_le_bytes());
        bytes.extend_from_slice(&q.to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The level hash of our engine's book.
pub fn engine_book_hash(engine: &Engine) -> u64 {
    let d = engine.depth(MARKET, usize::MAX).unwrap_or_default();
    book_hash(d.bids, d.asks)
}
