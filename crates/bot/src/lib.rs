//! The demo market maker of `flowex up`.
//!
//! It is an ordinary client: it reads `exchangeInfo`, and quotes and trades
//! through the public, signed `/api/v3` endpoints with API keys of two demo
//! users, exactly as a CCXT or python-binance program would. So the demo
//! exercises the whole path (gateway, signatures, rate limits, sequencer,
//! market data) and a newcomer sees live books, trades and candles.
//!
//! Every second it refreshes one market (round robin): the *maker* places a
//! new ladder of [`quote::LEVELS`] bids and asks around a slowly wandering
//! reference price, then cancels its previous ladder; every third second the
//! *taker* sends a small market order, which trades. About 7 orders a second
//! stay well within the default limit of 100 orders per 10 s per user.
//!
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
    /// Rests the quotes.
    pub maker: Credentials,
    /// Takes them now and then.
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
/// One taker order every this many refreshes.
const TAKE_EVERY: u64 = 3;

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
    /// The maker's current ladder (order ids), cancelled after the next one is placed.
    resting: Vec<u64>,
}

async fn session(s: &BotSettings, rng: &mut rand::rngs::StdRng) -> Result<(), ClientError> {
    let api = Client::new(&s.base_url)?;
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
        refresh(&api, &s.maker, worked).await?;
        if round % TAKE_EVERY == TAKE_EVERY - 1 {
            let quoter = &markets[&symbols[rng_index(rng, symbols.len())]].quoter;
            let order = quoter.taker(rng);
            take(&api, &s.taker, quoter, order).await?;
        }
    }
    Ok(())
}

fn rng_index(rng: &mut rand::rngs::StdRng, n: usize) -> usize {
    use rand::Rng;
    rng.gen_range(0..n)
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
        let symbol = rules.symbol.clone();
        out.insert(
            symbol,
            Worked {
                quoter: Quoter::new(rules, reference),
                resting: Vec::new(),
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

/// Places the new ladder, then cancels the previous one (so the book is
/// never empty); orders already filled answer -2011 and are forgotten.
async fn refresh(api: &Client, maker: &Credentials, w: &mut Worked) -> Result<(), ClientError> {
    let mut placed = Vec::new();
    for q in w.quoter.ladder() {
        match place(api, maker, &w.quoter.rules, q).await {
            Ok(id) => placed.push(id),
            Err(e) if is_business_refusal(&e) => {
                tracing::debug!(symbol = %w.quoter.rules.symbol, error = %e, "demo bot: quote refused")
            }
            Err(e) => return Err(e),
        }
    }
    let symbol = w.quoter.rules.symbol.clone();
    for id in std::mem::replace(&mut w.resting, placed) {
        let params = [("symbol", symbol.clone()), ("orderId", id.to_string())];
        match api
            .signed(Method::DELETE, "/api/v3/order", maker, &params)
            .await
        {
            Err(e) if e.code() != Some(UNKNOWN_ORDER) => return Err(e),
            _ => {}
        }
    }
    Ok(())
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
