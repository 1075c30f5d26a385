//! The demo market maker of `flowex up`.
//!
//! It is an ordinary client: it reads `exchangeInfo`, and quotes and trades
//! through the public, signed `/api/v3` endpoints with API keys of two demo
//! users, exactly as a CCXT or python-binance program would. So the demo
//! exercises the whole path (gateway, signatures, rate limits, sequencer,
//! market data) and a newcomer sees live books, trades and candles.
//!
//! Every second it refreshes one market (round robin): the reference price
//! of that market wanders by whole levels ([`quote::Quoter::walk`]), and
//! the market's maker brings its resting orders (read back with
//! `openOrders`) to the ladder of [`quote::LEVELS`] bids and asks around
//! it: levels that stay are left alone, levels that left are cancelled,
//! new or eaten ones are placed. Then one or two market orders of a few
//! minimum notionals take from the book, half of them on the busiest
//! market, so trades (and candles) happen every second or so; the market
//! taken from is refreshed right after, as a real maker refills its touch.
//!
//! The two accounts share the work: each makes every other market and
//! takes from the others (never its own quotes). Order budget: each account
//! has the default per-user limits (100 orders per 10 s, 200 000 per UTC
//! day); a one-level move costs about two orders, a take one plus the
//! refill (often none: a partly eaten level stays), about 2 a second per
//! account, which a whole day of the day limit allows.

//! The reference price starts from the market's last price
//! (`ticker/price`), or from the configured one when the market never
//! traded. Errors are logged and retried; the bot never stops the server.

pub mod client;
pub mod quote;
pub mod rules;

pub use client::{Client, ClientError, Credentials};

use client::UNKNOWN_ORDER;
use quote::{Quote, Quoter};
use rand::SeedableRng;
use reqwest::Method;
use rules::Rules;
use std::collections::BTreeMap;
use std::time::Duration;

/// How the bot runs.
#[derive(Clone, Debug)]
pub struct BotSettings {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// The address its requests come from (`flowex up`: 127.0.0.2, so the
    /// rate limits and bans of 127.0.0.1, where a browser or a script on
    /// the same machine comes from, are not the bot's); `None`: the
    /// system's choice.
    pub local_address: Option<std::net::IpAddr>,
    /// Makes every other market (the first, the third, …) and takes from the rest.
    pub maker: Credentials,
    /// Makes the other markets and takes from the maker's.
    pub taker: Credentials,
    /// Starting prices (decimal strings) of markets that have no last price yet.
    pub references: BTreeMap<String, String>,
    /// Seeds the price walk and the taker's choices.
    pub seed: u64,
    /// Time between two refreshes (one market per refresh).
    pub interval: Duration,
}

/// Refreshes between two readings of `exchangeInfo` (new markets, status changes).
const RELOAD_EVERY: u64 = 60;
/// Takes the busiest market this many times as often as each other one.
const BUSIEST: (&str, usize) = ("BTCUSDT", 3);

/// Runs until the task is aborted; a failed session (server not up yet,
/// keys revoked) is retried after a pause.
pub async fn run(settings: BotSettings) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    loop {
        match session(&settings, &mut rng).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "demo bot: session ended; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The state of one market the bot works.
struct Worked {
    quoter: Quoter,
}

async fn session(s: &BotSettings, rng: &mut rand::rngs::StdRng) -> Result<(), ClientError> {
    let api = Client::new(&s.base_url, s.local_address)?;
    let mut markets = load_markets(&api, s, BTreeMap::new()).await?;
    tracing::info!(markets = markets.len(), "demo bot: quoting");
    let mut tick = tokio::time::interval(s.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        if round > 0 && round % RELOAD_EVERY == 0 {
            markets = load_markets(&api, s, markets).await?;
        }
        if markets.is_empty() {
            continue;
        }
        let symbols: Vec<String> = markets.keys().cloned().collect();
        let symbol = &symbols[(round % symbols.len() as u64) as usize];
        let worked = markets.get_mut(symbol).expect("listed");
        worked.quoter.walk(rng);
        let (maker, _) = roles(s, &symbols, symbol);
        refresh(&api, maker, &worked.quoter).await?;
        for _ in 0..takers_this_round(rng) {
            let symbol = pick_market(rng, &symbols);
            let (maker, taker) = roles(s, &symbols, symbol);
            let quoter = &markets[symbol].quoter;
            let order = quoter.taker(rng);
            take(&api, taker, quoter, order).await?;
            refresh(&api, maker, quoter).await?;
        }
    }
    Ok(())
}

/// Who makes `symbol` and who takes from it: the accounts alternate by
/// the market's place in the list.
fn roles<'a>(
    s: &'a BotSettings,
    symbols: &[String],
    symbol: &str,
) -> (&'a Credentials, &'a Credentials) {
    let index = symbols.iter().position(|x| x == symbol).unwrap_or(0);
    if index % 2 == 0 {
        (&s.maker, &s.taker)
    } else {
        (&s.taker, &s.maker)
    }
}

/// One or two taker orders (1.5 a round on average).
fn takers_this_round(rng: &mut rand::rngs::StdRng) -> usize {
    use rand::Rng;
    1 + usize::from(rng.gen_bool(0.5))
}

/// A market to take from: [`BUSIEST`] weighted, the others alike.
fn pick_market<'a>(rng: &mut rand::rngs::StdRng, symbols: &'a [String]) -> &'a String {
    use rand::Rng;
    let weight = |s: &String| if s == BUSIEST.0 { BUSIEST.1 } else { 1 };
    let total: usize = symbols.iter().map(weight).sum();
    let mut roll = rng.gen_range(0..total);
    for s in symbols {
        if roll < weight(s) {
            return s;
        }
        roll -= weight(s);
    }
    &symbols[0]
}

/// Reads `exchangeInfo`; keeps the state of markets still trading, starts
/// new ones (cancelling whatever the maker left there), drops the others.
async fn load_markets(
    api: &Client,
    s: &BotSettings,
    mut old: BTreeMap<String, Worked>,
) -> Result<BTreeMap<String, Worked>, ClientError> {
    let info = api.public("/api/v3/exchangeInfo", &[]).await?;
    let mut out = BTreeMap::new();
    for rules in Rules::from_exchange_info(&info) {
        if !rules.trading {
            continue;
        }
        if let Some(w) = old.remove(&rules.symbol) {
            out.insert(rules.symbol.clone(), w);
            continue;
        }
        let Some(reference) = starting_price(api, s, &rules).await else {
            tracing::debug!(symbol = %rules.symbol, "demo bot: no reference price, market skipped");
            continue;
        };
        cancel_all(api, &s.maker, &rules.symbol).await?;
        cancel_all(api, &s.taker, &rules.symbol).await?;
        let symbol = rules.symbol.clone();
        out.insert(
            symbol,
            Worked {
                quoter: Quoter::new(rules, reference),
            },
        );
    }
    Ok(out)
}

/// The market's last price in ticks, else the configured reference.
async fn starting_price(api: &Client, s: &BotSettings, rules: &Rules) -> Option<u64> {
    let last = api
        .public("/api/v3/ticker/price", &[("symbol", rules.symbol.clone())])
        .await
        .ok()
        .and_then(|v| v["price"].as_str().and_then(|p| rules.ticks_of(p)))
        .filter(|&t| t > 0);
    last.or_else(|| rules.ticks_of(s.references.get(&rules.symbol)?))
}

async fn cancel_all(api: &Client, who: &Credentials, symbol: &str) -> Result<(), ClientError> {
    let params = [("symbol", symbol.to_string())];
    match api
        .signed(Method::DELETE, "/api/v3/openOrders", who, &params)
        .await
    {
        Err(e) if e.code() != Some(UNKNOWN_ORDER) => Err(e),
        _ => Ok(()),
    }
}

/// Brings the maker's resting orders to the quoter's ladder: cancels what
/// left it (first, so a new quote never meets an old one on the other
/// side), then places what is missing. Orders already filled answer -2011
/// and are forgotten.
async fn refresh(api: &Client, maker: &Credentials, quoter: &Quoter) -> Result<(), ClientError> {
    let symbol = quoter.rules.symbol.clone();
    let open = api
        .signed(
            Method::GET,
            "/api/v3/openOrders",
            maker,
            &[("symbol", symbol.clone())],
        )
        .await?;
    let resting = resting_orders(&quoter.rules, &open);
    let (cancel, place_now) = plan(&quoter.ladder(), &resting);
    for id in cancel {
        let params = [("symbol", symbol.clone()), ("orderId", id.to_string())];
        match api
            .signed(Method::DELETE, "/api/v3/order", maker, &params)
            .await
        {
            Err(e) if e.code() != Some(UNKNOWN_ORDER) => return Err(e),
            _ => {}
        }
    }
    for q in place_now {
        match place(api, maker, &quoter.rules, q).await {
            Ok(_) => {}
            // Over the order limit (the first ladders, 50 orders a market):
            // the rest waits for this market's next turn.
            Err(e) if e.code() == Some(TOO_MANY_ORDERS) => break,
            Err(e) if is_business_refusal(&e) => {
                tracing::debug!(%symbol, error = %e, "demo bot: quote refused")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Binance's "Too many new orders".
const TOO_MANY_ORDERS: i64 = -1015;

/// One of the maker's open orders: id, side, price in ticks, lots left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resting {
    id: u64,
    side: quote::Side,
    ticks: u64,
    lots_left: u64,
}

/// The `openOrders` answer in ticks and lots (unreadable entries are skipped).
fn resting_orders(rules: &Rules, open: &serde_json::Value) -> Vec<Resting> {
    let Some(list) = open.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|o| {
            let side = match o["side"].as_str()? {
                "BUY" => quote::Side::Buy,
                _ => quote::Side::Sell,
            };
            let orig = rules.lots_of(o["origQty"].as_str()?)?;
            let done = rules.lots_of(o["executedQty"].as_str()?)?;
            Some(Resting {
                id: o["orderId"].as_u64()?,
                side,
                ticks: rules.ticks_of(o["price"].as_str()?)?,
                lots_left: orig.saturating_sub(done),
            })
        })
        .collect()
}

/// What to cancel and what to place so the resting orders become
/// `desired`: an order stays when it is the first at a wanted level with
/// between half and twice the wanted size left.
fn plan(desired: &[Quote], resting: &[Resting]) -> (Vec<u64>, Vec<Quote>) {
    let mut covered = vec![false; desired.len()];
    let mut cancel = Vec::new();
    for r in resting {
        let keep = desired.iter().enumerate().position(|(i, q)| {
            !covered[i]
                && q.side == r.side
                && q.ticks == r.ticks
                && r.lots_left.saturating_mul(2) >= q.lots
                && r.lots_left <= q.lots.saturating_mul(2)
        });
        match keep {
            Some(i) => covered[i] = true,
            None => cancel.push(r.id),
        }
    }
    let place = desired
        .iter()
        .zip(covered)
        .filter(|(_, c)| !c)
        .map(|(q, _)| *q)
        .collect();
    (cancel, place)
}

/// A limit GTC order (ACK); its order id.
async fn place(
    api: &Client,
    who: &Credentials,
    rules: &Rules,
    q: Quote,
) -> Result<u64, ClientError> {
    let (Some(price), Some(qty)) = (rules.price(q.ticks), rules.qty(q.lots)) else {
        return Err(ClientError::Decode("quote out of range".into()));
    };
    let params = [
        ("symbol", rules.symbol.clone()),
        ("side", q.side.as_str().to_string()),
        ("type", "LIMIT".to_string()),
        ("timeInForce", "GTC".to_string()),
        ("price", price),
        ("quantity", qty),
        ("newOrderRespType", "ACK".to_string()),
    ];
    let ack = api
        .signed(Method::POST, "/api/v3/order", who, &params)
        .await?;
    ack["orderId"]
        .as_u64()
        .ok_or_else(|| ClientError::Decode(format!("no orderId in {ack}")))
}

async fn take(
    api: &Client,
    who: &Credentials,
    quoter: &Quoter,
    q: Quote,
) -> Result<(), ClientError> {
    let Some(qty) = quoter.rules.qty(q.lots) else {
        return Ok(());
    };
    let params = [
        ("symbol", quoter.rules.symbol.clone()),
        ("side", q.side.as_str().to_string()),
        ("type", "MARKET".to_string()),
        ("quantity", qty),
        ("newOrderRespType", "ACK".to_string()),
    ];
    match api
        .signed(Method::POST, "/api/v3/order", who, &params)
        .await
    {
        Err(e) if !is_business_refusal(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Refusals that depend on the market or the balance at that moment (a
/// filter, insufficient funds, a market that just closed): skip, go on.
/// Anything else (bad key, server down) ends the session.
fn is_business_refusal(e: &ClientError) -> bool {
    matches!(e.code(), Some(-1013 | -2010 | -1015 | -2011))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::Side;

    fn q(side: Side, ticks: u64, lots: u64) -> Quote {
        Quote { side, ticks, lots }
    }

    fn r(id: u64, side: Side, ticks: u64, lots_left: u64) -> Resting {
        Resting {
            id,
            side,
            ticks,
            lots_left,
        }
    }

    #[test]
    fn plan_keeps_what_fits_and_replaces_the_rest() {
        let desired = [
            q(Side::Buy, 98, 10),
            q(Side::Buy, 97, 20),
            q(Side::Sell, 102, 10),
        ];
        let resting = [
            r(1, Side::Buy, 98, 10),   // kept
            r(2, Side::Buy, 97, 9),    // eaten below half: replaced
            r(3, Side::Sell, 101, 10), // left the ladder: cancelled
            r(4, Side::Buy, 98, 10),   // a second order at a covered level
            r(5, Side::Sell, 102, 5),  // exactly half: kept
        ];
        let (cancel, place) = plan(&desired, &resting);
        assert_eq!(cancel, vec![2, 3, 4]);
        assert_eq!(place, vec![q(Side::Buy, 97, 20)]);
    }

    /// Following the price costs about two orders per level moved (and the
    /// touch's, which grows by more than half when it moves inwards), not a
    /// new ladder.
    #[test]
    fn a_move_replaces_only_the_levels_at_the_edges() {
        use rand::SeedableRng;
        let mut quoter = Quoter::new(quote::tests::btcusdt(), 6_400_000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let before = quoter.reference();
            let resting: Vec<Resting> = quoter
                .ladder()
                .iter()
                .enumerate()
                .map(|(i, o)| r(i as u64, o.side, o.ticks, o.lots))
                .collect();
            quoter.walk(&mut rng);
            let moved = quoter.reference().abs_diff(before) / quoter.gap();
            let (cancel, place) = plan(&quoter.ladder(), &resting);
            let most = if moved == 0 { 0 } else { 2 * moved + 2 };
            assert!(
                place.len() as u64 <= most,
                "{} new for {moved}",
                place.len()
            );
            assert_eq!(cancel.len(), place.len());
        }
    }

    #[test]
    fn open_orders_become_ticks_and_lots() {
        let info = serde_json::json!({"symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5"}
        ]}]});
        let rules = &Rules::from_exchange_info(&info)[0];
        let open = serde_json::json!([
            {"orderId": 7, "side": "SELL", "price": "64000.02000000", "origQty": "0.00200000", "executedQty": "0.00050000"},
            {"orderId": 8, "side": "BUY", "price": "bad", "origQty": "1", "executedQty": "0"}
        ]);
        assert_eq!(
            resting_orders(rules, &open),
            vec![r(7, Side::Sell, 6_400_002, 150)]
        );
    }

    #[test]
    fn the_busiest_market_is_taken_most() {
        use rand::SeedableRng;
        let symbols: Vec<String> = ["BTCUSDT", "ETHBTC", "ETHUSDT", "SOLUSDT"]
            .map(String::from)
            .to_vec();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let btc = (0..6_000)
            .filter(|_| pick_market(&mut rng, &symbols) == "BTCUSDT")
            .count();
        assert!((2_700..3_300).contains(&btc), "{btc} of 6000");
    }
}
