//! What the simulated traders send: the operations, their weights, and a
//! price process that keeps the books two-sided with trades flowing.
//!
//! Every market has a reference price (in ticks) that moves by one tick
//! now and then (a random walk). Limit orders rest on their own side of it
//! (bids below, asks above, a few ticks deep), so both sides of every book
//! fill up; a tenth of them are priced two ticks through it and take from
//! the other side, and market orders take too, so trades keep happening.
//! Each trader keeps the ids of its resting orders: cancels and
//! cancel-replaces take the oldest one (also how the book stays bounded:
//! a trader with `max_open` resting orders cancels instead of placing).

use crate::client::{Call, Credentials};
use flowex_bot::rules::Rules;
use hyper::Method;
use rand::Rng;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `POST /api/v3/order` LIMIT GTC, resting or crossing.
    PlaceLimit,
    /// `DELETE /api/v3/order` of one of the trader's resting orders.
    Cancel,
    /// `POST /api/v3/order/cancelReplace` (STOP_ON_FAILURE).
    CancelReplace,
    /// `POST /api/v3/order` MARKET.
    Market,
    /// `POST /api/v3/order` LIMIT IOC far from the market, ACK: accepted,
    /// journaled and expired; the state does not grow (`bench http`).
    OrderIoc,
    /// `GET /api/v3/openOrders?symbol=` (signed).
    OpenOrders,
    /// `GET /api/v3/account` (signed).
    Account,
    /// `GET /api/v3/depth?limit=20` (public).
    Depth,
    /// `GET /api/v3/ticker/24hr` (public).
    Ticker,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::PlaceLimit,
        Op::Cancel,
        Op::CancelReplace,
        Op::Market,
        Op::OrderIoc,
        Op::OpenOrders,
        Op::Account,
        Op::Depth,
        Op::Ticker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::PlaceLimit => "place-limit",
            Op::Cancel => "cancel",
            Op::CancelReplace => "cancel-replace",
            Op::Market => "market",
            Op::OrderIoc => "order-ioc",
            Op::OpenOrders => "open-orders",
            Op::Account => "account",
            Op::Depth => "depth",
            Op::Ticker => "ticker",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Operations with weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    pub name: String,
    pub weights: Vec<(Op, u32)>,
}

impl Mix {
    /// Mostly limit orders, then cancels, cancel-replaces, market orders
    /// and queries, roughly a market maker's day.
    pub fn realistic() -> Mix {
        Mix {
            name: "realistic".into(),
            weights: vec![
                (Op::PlaceLimit, 50),
                (Op::Cancel, 15),
                (Op::CancelReplace, 10),
                (Op::Market, 5),
                (Op::OpenOrders, 5),
                (Op::Account, 5),
                (Op::Depth, 5),
                (Op::Ticker, 5),
            ],
        }
    }

    /// Only [`Op::OrderIoc`]: the signed order path and nothing else.
    pub fn order() -> Mix {
        Mix {
            name: "order".into(),
            weights: vec![(Op::OrderIoc, 1)],
        }
    }

    /// `realistic`, `order`, or `op=weight,op=weight…`.
    pub fn parse(s: &str) -> Result<Mix, String> {
        match s {
            "realistic" => return Ok(Mix::realistic()),
            "order" => return Ok(Mix::order()),
            _ => {}
        }
        let mut weights = Vec::new();
        for part in s.split(',') {
            let (op, w) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected op=weight"))?;
            let op = Op::parse(op.trim()).ok_or_else(|| format!("unknown operation {op:?}"))?;
            let w: u32 = w.trim().parse().map_err(|_| format!("bad weight {w:?}"))?;
            weights.push((op, w));
        }
        if weights.iter().all(|(_, w)| *w == 0) {
            return Err("the mix has no weight".into());
        }
        Ok(Mix {
            name: "custom".into(),
            weights,
        })
    }

    /// A weighted random operation.
    pub fn pick(&self, rng: &mut impl Rng) -> Op {
        let total: u32 = self.weights.iter().map(|(_, w)| w).sum();
        let mut roll = rng.gen_range(0..total.max(1));
        for &(op, w) in &self.weights {
            if roll < w {
                return op;
            }
            roll -= w;
        }
        self.weights[0].0
    }
}

/// A market and its reference price.
#[derive(Debug)]
pub struct Market {
    pub rules: Rules,
    /// The reference price in ticks.
    mid: AtomicU64,
}

/// Levels deep a resting order is placed (1..=DEPTH ticks from the reference).
const DEPTH: u64 = 10;

impl Market {
    pub fn new(rules: Rules, mid_ticks: u64) -> Market {
        let (lo, hi) = walk_bounds(&rules);
        let mid = mid_ticks.clamp(lo, hi);
        Market {
            rules,
            mid: AtomicU64::new(mid),
        }
    }

    pub fn mid(&self) -> u64 {
        self.mid.load(Ordering::Relaxed)
    }

    /// One step of the walk: up or down a tick, within the price filter.
    fn walk(&self, rng: &mut impl Rng) {
        let (lo, hi) = walk_bounds(&self.rules);
        let _ = self
            .mid
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(if rng.gen_bool(0.5) { m + 1 } else { m - 1 }.clamp(lo, hi))
            });
    }
}

/// Where the reference may go: far enough inside the price filter that
/// every order priced from it passes.
fn walk_bounds(r: &Rules) -> (u64, u64) {
    let lo = r.min_ticks.saturating_add(DEPTH + 2);
    (lo, r.max_ticks.saturating_sub(DEPTH + 2).max(lo))
}

/// A simulated trader: its key and its resting orders.
#[derive(Debug)]
pub struct Trader {
    pub creds: Credentials,
    /// (market index, order id), oldest first.
    open: Mutex<VecDeque<(usize, u64)>>,
}

impl Trader {
    pub fn new(creds: Credentials) -> Trader {
        Trader {
            creds,
            open: Mutex::new(VecDeque::new()),
        }
    }

    fn take_oldest(&self) -> Option<(usize, u64)> {
        self.open.lock().expect("not poisoned").pop_front()
    }

    fn open_count(&self) -> usize {
        self.open.lock().expect("not poisoned").len()
    }

    /// Remembers a resting order (from a place or cancel-replace answer).
    pub fn rested(&self, market: usize, order_id: u64) {
        self.open
            .lock()
            .expect("not poisoned")
            .push_back((market, order_id));
    }
}

/// A request about to be sent and what to do with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub op: Op,
    pub call: Call,
    /// The market a resting order of the answer belongs to.
    pub market: usize,
}

/// Chooses and builds requests.
pub struct Generator<'a> {
    pub mix: &'a Mix,
    pub markets: &'a [Market],
    /// A trader with this many resting orders cancels instead of placing.
    pub max_open: usize,
}

impl Generator<'_> {
    /// The next request of `trader`.
    pub fn next(&self, trader: &Trader, rng: &mut impl Rng) -> Planned {
        let m = rng.gen_range(0..self.markets.len());
        let mut op = self.mix.pick(rng);
        if op == Op::PlaceLimit && trader.open_count() >= self.max_open {
            op = Op::Cancel;
        }
        if matches!(op, Op::Cancel | Op::CancelReplace) {
            if let Some((m, id)) = trader.take_oldest() {
                return self.cancel(op, m, id, rng);
            }
            op = Op::PlaceLimit;
        }
        let market = &self.markets[m];
        if op == Op::PlaceLimit && rng.gen_ratio(1, 20) {
            market.walk(rng);
        }
        let symbol = &market.rules.symbol;
        let call = match op {
            Op::PlaceLimit => signed(Method::POST, "/api/v3/order", limit(market, rng)),
            Op::Market => signed(Method::POST, "/api/v3/order", market_order(market, rng)),
            Op::OrderIoc => signed(Method::POST, "/api/v3/order", far_ioc(market)),
            Op::OpenOrders => signed(
                Method::GET,
                "/api/v3/openOrders",
                format!("symbol={symbol}"),
            ),
            Op::Account => signed(
                Method::GET,
                "/api/v3/account",
                "omitZeroBalances=true".into(),
            ),
            Op::Depth => public("/api/v3/depth", format!("symbol={symbol}&limit=20")),
            Op::Ticker => public("/api/v3/ticker/24hr", format!("symbol={symbol}")),
            Op::Cancel | Op::CancelReplace => unreachable!("handled above"),
        };
        Planned {
            op,
            call,
            market: m,
        }
    }

    fn cancel(&self, op: Op, m: usize, id: u64, rng: &mut impl Rng) -> Planned {
        let market = &self.markets[m];
        let symbol = &market.rules.symbol;
        let call = if op == Op::Cancel {
            signed(
                Method::DELETE,
                "/api/v3/order",
                format!("symbol={symbol}&orderId={id}"),
            )
        } else {
            let new = limit(market, rng);
            let params = format!("{new}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={id}");
            signed(Method::POST, "/api/v3/order/cancelReplace", params)
        };
        Planned {
            op,
            call,
            market: m,
        }
    }
}

fn signed(method: Method, path: &'static str, params: String) -> Call {
    Call {
        method,
        path,
        params,
        signed: true,
    }
}

fn public(path: &'static str, params: String) -> Call {
    Call {
        method: Method::GET,
        path,
        params,
        signed: false,
    }
}

fn side_name(buy: bool) -> &'static str {
    if buy {
        "BUY"
    } else {
        "SELL"
    }
}

/// A LIMIT GTC order: resting a few ticks on its side of the reference, or
/// (one in ten) two ticks through it.
fn limit(market: &Market, rng: &mut impl Rng) -> String {
    let r = &market.rules;
    let buy = rng.gen_bool(0.5);
    let mid = market.mid();
    let ticks = if rng.gen_ratio(1, 10) {
        if buy {
            mid + 2
        } else {
            mid - 2
        }
    } else {
        let depth = rng.gen_range(1..=DEPTH);
        if buy {
            mid - depth
        } else {
            mid + depth
        }
    };
    let lots = r.lots_for(ticks, rng.gen_range(1..=3));
    format!(
        "symbol={}&side={}&type=LIMIT&timeInForce=GTC&quantity={}&price={}&newOrderRespType=RESULT",
        r.symbol,
        side_name(buy),
        r.qty(lots).unwrap_or_default(),
        r.price(ticks).unwrap_or_default()
    )
}

fn market_order(market: &Market, rng: &mut impl Rng) -> String {
    let r = &market.rules;
    let buy = rng.gen_bool(0.5);
    let lots = r.lots_for(market.mid(), rng.gen_range(1..=2));
    format!(
        "symbol={}&side={}&type=MARKET&quantity={}&newOrderRespType=ACK",
        r.symbol,
        side_name(buy),
        r.qty(lots).unwrap_or_default()
    )
}

/// A buy far below the reference (a fifth of it) that expires at once.
fn far_ioc(market: &Market) -> String {
    let r = &market.rules;
    let ticks = (market.mid() / 5).max(r.min_ticks);
    format!(
        "symbol={}&side=BUY&type=LIMIT&timeInForce=IOC&quantity={}&price={}&newOrderRespType=ACK",
        r.symbol,
        r.qty(r.lots_for(ticks, 1)).unwrap_or_default(),
        r.price(ticks).unwrap_or_default()
    )
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderBody {
    order_id: Option<u64>,
    status: Option<String>,
    new_order_response: Option<Box<OrderBody>>,
}

/// Reads a successful answer of `planned`: a resting order is remembered.
pub fn absorb(planned: &Planned, body: &[u8], trader: &Trader) {
    if !matches!(planned.op, Op::PlaceLimit | Op::CancelReplace) {
        return;
    }
    let Ok(mut o) = serde_json::from_slice::<OrderBody>(body) else {
        return;
    };
    if let Some(new) = o.new_order_response.take() {
        o = *new;
    }
    let resting = matches!(o.status.as_deref(), Some("NEW" | "PARTIALLY_FILLED"));
    if let (Some(id), true) = (o.order_id, resting) {
        trader.rested(planned.market, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn btcusdt() -> Rules {
        let info = serde_json::json!({"symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "0"}
        ]}]});
        Rules::from_exchange_info(&info).remove(0)
    }

    fn trader() -> Trader {
        Trader::new(Credentials {
            api_key: "k".into(),
            secret: "s".into(),
        })
    }

    #[test]
    fn mixes_parse_and_refuse_nonsense() {
        assert_eq!(Mix::parse("order").unwrap(), Mix::order());
        let m = Mix::parse("place-limit=3,ticker=1").unwrap();
        assert_eq!(m.weights, vec![(Op::PlaceLimit, 3), (Op::Ticker, 1)]);
        assert!(Mix::parse("fly=1").is_err());
        assert!(Mix::parse("cancel=0").is_err());
    }

    #[test]
    fn limits_rest_on_their_side_and_cancels_take_the_oldest() {
        let markets = [Market::new(btcusdt(), 6_400_000)];
        let mix = Mix::parse("place-limit=1").unwrap();
        let g = Generator {
            mix: &mix,
            markets: &markets,
            max_open: 2,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let t = trader();
        for _ in 0..200 {
            let p = g.next(&t, &mut rng);
            if p.op == Op::Cancel {
                assert!(p.call.params.starts_with("symbol=BTCUSDT&orderId="));
                continue;
            }
            assert_eq!(p.op, Op::PlaceLimit);
            let q = &p.call.params;
            let price: f64 = q
                .split("price=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let mid = markets[0].mid() as f64 / 100.0;
            assert!((price - mid).abs() <= 0.11, "{q} vs {mid}");
            absorb(&p, br#"{"orderId":5,"status":"NEW"}"#, &t);
        }
        assert!(t.open_count() <= 2);
    }

    #[test]
    fn cancel_replace_answers_remember_the_new_order() {
        let t = trader();
        let p = Planned {
            op: Op::CancelReplace,
            call: signed(Method::POST, "/api/v3/order/cancelReplace", String::new()),
            market: 0,
        };
        absorb(
            &p,
            br#"{"cancelResult":"SUCCESS","newOrderResult":"SUCCESS","newOrderResponse":{"orderId":9,"status":"NEW"}}"#,
            &t,
        );
        assert_eq!(t.take_oldest(), Some((0, 9)));
        absorb(
            &p,
            br#"{"newOrderResponse":{"orderId":10,"status":"FILLED"}}"#,
            &t,
        );
        assert_eq!(t.take_oldest(), None);
    }

    #[test]
    fn the_far_ioc_is_a_fifth_of_the_reference() {
        let m = Market::new(btcusdt(), 6_400_000);
        let q = far_ioc(&m);
        assert!(q.contains("price=12800.00"), "{q}");
        assert!(q.contains("timeInForce=IOC"), "{q}");
    }
}
