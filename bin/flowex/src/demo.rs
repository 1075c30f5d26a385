//! The demo: its assets and markets, a demo account and two market
//! makers, seeded by `flowex up` on its first start and by `flowex demo
//! seed` for a distributed demo (never by `flowex serve`), and the
//! settings of the demo market maker ([`flowex_bot`]), which trades
//! through the public API.

use anyhow::{bail, Context, Result};
use flowex_config::{Config, Mode};
use flowex_http::ApiError;
use flowex_service::EngineClient;
use flowex_store::{NewUser, Role, Store};
use flowex_types::*;
use std::path::Path;
use std::time::Duration;

struct DemoMarket {
    symbol: &'static str,
    base: &'static str,
    quote: &'static str,
    /// Decimal strings, converted exactly with the assets' decimals.
    tick: &'static str,
    lot: &'static str,
    reference_price: &'static str,
}

const ASSETS: [&str; 4] = ["BTC", "ETH", "SOL", "USDT"];
const DECIMALS: u8 = 8;

const MARKETS: [DemoMarket; 4] = [
    DemoMarket {
        symbol: "BTCUSDT",
        base: "BTC",
        quote: "USDT",
        tick: "0.01",
        lot: "0.00001",
        reference_price: "64000",
    },
    DemoMarket {
        symbol: "ETHUSDT",
        base: "ETH",
        quote: "USDT",
        tick: "0.01",
        lot: "0.0001",
        reference_price: "3200",
    },
    DemoMarket {
        symbol: "ETHBTC",
        base: "ETH",
        quote: "BTC",
        tick: "0.00001",
        lot: "0.001",
        reference_price: "0.05",
    },
    DemoMarket {
        symbol: "SOLUSDT",
        base: "SOL",
        quote: "USDT",
        tick: "0.01",
        lot: "0.001",
        reference_price: "150",
    },
];

fn atoms(s: &str) -> u64 {
    parse_scaled(s, DECIMALS).expect("demo constants are valid decimals")
}

fn market_config(m: &DemoMarket, id: MarketId, base: AssetId, quote: AssetId) -> MarketConfig {
    let tick = atoms(m.tick);
    MarketConfig {
        id,
        symbol: Symbol::new(m.symbol).expect("demo symbol"),
        base,
        quote,
        tick_size: tick,
        lot_size: atoms(m.lot),
        min_price: 1,
        max_price: atoms("1000000") / tick,
        min_qty: 1,
        max_qty: atoms("9000") / atoms(m.lot),
        // Binance's usual minimum order value: 5 units of the quote asset (0.0001 BTC for ETHBTC).
        min_notional: if m.quote == "BTC" {
            atoms("0.0001")
        } else {
            atoms("5")
        },
        max_notional: 0,
        maker_fee_ppm: 1_000,
        taker_fee_ppm: 1_000,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::ExpireMaker,
    }
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("the engine: {}", e.message())
}

async fn submit(engine: &EngineClient, cmd: Command) -> Result<()> {
    let record = engine.submit(cmd).await.map_err(api)?;
    if let Some(reason) = flowex_service::rejection(&record) {
        bail!("seeding {cmd:?} was rejected: {reason:?}");
    }
    Ok(())
}

/// The id of the asset `code`, which must have the demo's decimals.
fn asset_id(assets: &[AssetConfig], code: &str) -> Result<AssetId> {
    let asset = assets
        .iter()
        .find(|a| a.code.as_str() == code)
        .with_context(|| format!("asset {code} is missing"))?;
    if asset.decimals != DECIMALS {
        bail!(
            "asset {code} exists with {} decimals; the demo listing needs {DECIMALS}",
            asset.decimals
        );
    }
    Ok(asset.id)
}

/// Lists the demo assets and markets the engine does not have yet (assets
/// matched by code, markets by symbol, new ones numbered after the highest
/// id), so it is idempotent and leaves an operator's own listing alone.
/// Returns the symbols it created.
pub async fn seed_markets(engine: &EngineClient) -> Result<Vec<&'static str>> {
    let mut assets = engine.assets().await.map_err(api)?;
    for code in ASSETS {
        if assets.iter().any(|a| a.code.as_str() == code) {
            continue;
        }
        let id = AssetId(assets.iter().map(|a| a.id.0).max().unwrap_or(0) + 1);
        let config = AssetConfig {
            id,
            code: AssetCode::new(code).expect("demo asset code"),
            decimals: DECIMALS,
        };
        submit(engine, Command::CreateAsset(config)).await?;
        assets.push(config);
    }
    let markets = engine.markets().await.map_err(api)?;
    let mut next_id = markets.iter().map(|m| m.id.0).max().unwrap_or(0);
    let mut created = Vec::new();
    for m in &MARKETS {
        if markets.iter().any(|x| x.symbol.as_str() == m.symbol) {
            continue;
        }
        next_id += 1;
        let (base, quote) = (asset_id(&assets, m.base)?, asset_id(&assets, m.quote)?);
        let config = market_config(m, MarketId(next_id), base, quote);
        submit(engine, Command::CreateMarket(config)).await?;
        created.push(m.symbol);
    }
    Ok(created)
}

/// Demo balances of every seeded account, by asset code.
const SEED_FUNDS: [(&str, &str); 4] = [
    ("BTC", "10"),
    ("ETH", "200"),
    ("SOL", "5000"),
    ("USDT", "1000000"),
];

/// The demo login and the market makers.
pub struct Seeded {
    pub email: String,
    /// `None`: the account was seeded before and its password is not in
    /// the login file here.
    pub password: Option<String>,
    pub makers: Vec<UserId>,
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

const DEMO_EMAIL: &str = "demo@flowex.local";
const MAKERS: [&str; 2] = ["maker1@flowex.local", "maker2@flowex.local"];

/// Seeds the demo account and two market makers once, each funded with
/// [`SEED_FUNDS`] (deposits idempotent by key, so a second run credits
/// nothing); the demo password is kept in `login_file` (0600) and read
/// back from it by later runs.
pub async fn seed_accounts(
    store: &Store,
    engine: &EngineClient,
    login_file: &Path,
) -> Result<Seeded> {
    let saved = match std::fs::read_to_string(login_file) {
        Ok(text) => Some(
            text.split_once('\n')
                .map(|(e, p)| (e.to_string(), p.trim().to_string()))
                .context("demo-login file")?,
        ),
        Err(_) => None,
    };
    let (email, saved_password) =
        saved.map_or((DEMO_EMAIL.to_string(), None), |(e, p)| (e, Some(p)));
    let assets = engine.assets().await.map_err(api)?;
    let (demo, fresh_password) = ensure_user(store, &email).await?;
    fund(engine, &assets, demo).await?;
    let mut makers = Vec::new();
    for address in MAKERS {
        let (user, _) = ensure_user(store, address).await?;
        fund(engine, &assets, user).await?;
        makers.push(user);
    }
    let password = fresh_password.or(saved_password);
    if let Some(password) = &password {
        write_private(login_file, &format!("{email}\n{password}\n"))?;
    }
    Ok(Seeded {
        email,
        password,
        makers,
    })
}

/// The user with e-mail `address`, created with a random password (returned) if missing.
async fn ensure_user(store: &Store, address: &str) -> Result<(UserId, Option<String>)> {
    if let Some(user) = store.user_by_email(address).await? {
        return Ok((UserId(user.id), None));
    }
    let password = random_password();
    let hash = flowex_auth::hash_password(&password)?;
    let user = store
        .create_user(&NewUser {
            email: address,
            password_hash: &hash,
            role: Role::User,
            now: crate::ops::now_ms(),
        })
        .await?;
    Ok((UserId(user.id), Some(password)))
}

async fn fund(engine: &EngineClient, assets: &[AssetConfig], user: UserId) -> Result<()> {
    for (code, amount) in SEED_FUNDS {
        let asset = asset_id(assets, code)?;
        let key = IdemKey::new(&format!("demo-seed-{}-{}", user.0, asset.0)).expect("key");
        let cmd = Command::Deposit {
            key,
            user,
            asset,
            amount: atoms(amount),
        };
        submit(engine, cmd).await?;
    }
    Ok(())
}

/// `flowex demo seed`: the demo listing and accounts on a running
/// distributed exchange, through trading's internal API (the internal
/// token) and the database; idempotent. `flowex up` seeds itself.
pub async fn seed(cfg: &Config) -> Result<()> {
    if cfg.mode != Mode::Distributed {
        bail!(
            "`flowex up` seeds the demo on its first start; `flowex demo seed` is for the \
             distributed mode (mode = \"distributed\"), where it reaches trading's internal API"
        );
    }
    let token = flowex_service::process::internal_token(cfg)?;
    let engine = EngineClient::remote(&cfg.services.trading.url, token, Duration::from_secs(30));
    let store = flowex_service::process::open_store(cfg).await?;
    let created = seed_markets(&engine).await?;
    let login_file = cfg.data_dir.join("secrets").join("demo-login");
    let seeded = seed_accounts(&store, &engine, &login_file).await;
    store.close().await;
    let seeded = seeded?;
    if created.is_empty() {
        say!("the demo markets were listed already");
    } else {
        say!("listed demo markets {}", created.join(", "));
    }
    print_login(&seeded, &login_file);
    Ok(())
}

/// The demo login as `flowex up` and `flowex demo seed` announce it.
pub fn print_login(seeded: &Seeded, login_file: &Path) {
    match &seeded.password {
        Some(password) => say!("demo account: {}  password: {password}", seeded.email),
        None => say!(
            "demo account: {} (seeded before; its password is in {} where it was first seeded)",
            seeded.email,
            login_file.display()
        ),
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The faucet of embedded mode: the configured amounts, else a demo set.
pub fn faucet(cfg: &flowex_config::Config) -> flowex_wallet::Faucet {
    let mut amounts = cfg.faucet.amounts.clone();
    if amounts.is_empty() {
        for (code, amount) in [
            ("BTC", "0.5"),
            ("ETH", "5"),
            ("SOL", "50"),
            ("USDT", "10000"),
        ] {
            amounts.insert(code.to_string(), amount.to_string());
        }
    }
    flowex_wallet::Faucet {
        amounts,
        daily_cap: cfg.faucet.daily_cap,
    }
}

/// Label of the API keys `flowex up` gives the demo market makers.
const BOT_KEY_LABEL: &str = "demo market maker";

/// The demo market maker's settings: fresh API keys for the two seeded
/// maker users (their old bot keys are deleted; secrets stay in memory),
/// the server's own URL, and the demo markets' starting prices.
pub async fn bot_settings(
    auth: &flowex_auth_service::AuthState,
    makers: &[UserId],
    base_url: String,
) -> Result<flowex_bot::BotSettings> {
    let [maker, taker] = makers else {
        anyhow::bail!(
            "the demo bot needs two maker accounts, found {}",
            makers.len()
        );
    };
    let mut keys = Vec::new();
    for user in [maker, taker] {
        let (api_key, secret) = flowex_auth_service::replace_labelled_key(
            auth,
            user.0,
            BOT_KEY_LABEL,
            flowex_auth::Permissions::DEFAULT,
        )
        .await
        .context("issuing the demo bot's API keys")?;
        keys.push(flowex_bot::Credentials {
            api_key,
            secret: secret.expose().clone(),
        });
    }
    let taker = keys.pop().expect("two keys");
    let maker = keys.pop().expect("two keys");
    Ok(flowex_bot::BotSettings {
        local_address: own_loopback(&base_url),
        base_url,
        maker,
        taker,
        references: MARKETS
            .iter()
            .map(|m| (m.symbol.to_string(), m.reference_price.to_string()))
            .collect(),
        seed: 2026,
        interval: std::time::Duration::from_secs(1),
    })
}

/// 127.0.0.2 for a server on 127.0.0.1 where that address can be bound
/// (Linux routes all of 127/8 to the loopback device; macOS has only
/// 127.0.0.1 unless configured): the bot then has rate limits of its own,
/// and an address banned for flooding is never the bot's.
fn own_loopback(base_url: &str) -> Option<std::net::IpAddr> {
    let bot = std::net::IpAddr::from([127, 0, 0, 2]);
    let on_loopback = base_url.starts_with("http://127.0.0.1:");
    (on_loopback && std::net::TcpListener::bind((bot, 0)).is_ok()).then_some(bot)
}
