//! Demo assets and markets, seeded on a fresh data directory, two market
//! maker accounts, and the settings of the demo market maker
//! ([`flowex_bot`]), which trades through the public API.

use anyhow::{Context, Result};
use flowex_engine::Engine;
use flowex_sequencer::SequencerHandle;
use flowex_store::{NewUser, Role, Store};
use flowex_types::*;
use std::path::Path;

struct DemoMarket {
    id: u32,
    symbol: &'static str,
    base: u32,
    quote: u32,
    /// Decimal strings, converted exactly with the assets' decimals.
    tick: &'static str,
    lot: &'static str,
    reference_price: &'static str,
}

const ASSETS: [(u32, &str); 4] = [(1, "BTC"), (2, "ETH"), (3, "SOL"), (4, "USDT")];
const DECIMALS: u8 = 8;

const MARKETS: [DemoMarket; 4] = [
    DemoMarket {
        id: 1,
        symbol: "BTCUSDT",
        base: 1,
        quote: 4,
        tick: "0.01",
        lot: "0.00001",
        reference_price: "64000",
    },
    DemoMarket {
        id: 2,
        symbol: "ETHUSDT",
        base: 2,
        quote: 4,
        tick: "0.01",
        lot: "0.0001",
        reference_price: "3200",
    },
    DemoMarket {
        id: 3,
        symbol: "ETHBTC",
        base: 2,
        quote: 1,
        tick: "0.00001",
        lot: "0.001",
        reference_price: "0.05",
    },
    DemoMarket {
        id: 4,
        symbol: "SOLUSDT",
        base: 3,
        quote: 4,
        tick: "0.01",
        lot: "0.001",
        reference_price: "150",
    },
];

fn atoms(s: &str) -> u64 {
    parse_scaled(s, DECIMALS).expect("demo constants are valid decimals")
}

fn market_config(m: &DemoMarket) -> MarketConfig {
    let tick = atoms(m.tick);
    let quote_unit = atoms("1");
    MarketConfig {
        id: MarketId(m.id),
        symbol: Symbol::new(m.symbol).expect("demo symbol"),
        base: AssetId(m.base),
        quote: AssetId(m.quote),
        tick_size: tick,
        lot_size: atoms(m.lot),
        min_price: 1,
        max_price: atoms("1000000") / tick,
        min_qty: 1,
        max_qty: atoms("9000") / atoms(m.lot),
        // Binance's usual minimum order value: 5 units of the quote asset (0.0001 BTC for ETHBTC).
        min_notional: if m.quote == 1 {
            atoms("0.0001")
        } else {
            5 * quote_unit
        },
        max_notional: 0,
        maker_fee_ppm: 1_000,
        taker_fee_ppm: 1_000,
        status: MarketStatus::Trading,
        allowed_stp: StpModes::ALL,
        default_stp: StpMode::ExpireMaker,
    }
}

/// The commands that create the demo assets and markets.
pub fn market_commands() -> Vec<Command> {
    let mut v: Vec<Command> = ASSETS
        .iter()
        .map(|&(id, code)| {
            Command::CreateAsset(AssetConfig {
                id: AssetId(id),
                code: AssetCode::new(code).expect("code"),
                decimals: DECIMALS,
            })
        })
        .collect();
    v.extend(
        MARKETS
            .iter()
            .map(|m| Command::CreateMarket(market_config(m))),
    );
    v
}

/// Demo balances of every seeded account.
const SEED_FUNDS: [(u32, &str); 4] = [(1, "10"), (2, "200"), (3, "5000"), (4, "1000000")];

/// What the first start created: the demo login and the market makers.
pub struct Seeded {
    pub email: String,
    pub password: String,
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

/// Seeds markets, the demo account and two market makers once; later
/// starts read the demo credentials back from `<data>/secrets/demo-login` (0600).
pub async fn ensure_seeded(
    store: &Store,
    handle: &SequencerHandle,
    data_dir: &Path,
) -> Result<Seeded> {
    if handle.query(|e: &Engine| e.markets().is_empty()).await? {
        for cmd in market_commands() {
            if let Some(reason) = handle.submit(cmd).await?.rejection() {
                anyhow::bail!("seeding {cmd:?} was rejected: {reason:?}");
            }
        }
        println!("seeded demo markets BTCUSDT, ETHUSDT, ETHBTC, SOLUSDT");
    }
    let login_file = data_dir.join("secrets").join("demo-login");
    let (email, password) = match std::fs::read_to_string(&login_file) {
        Ok(text) => text
            .split_once('\n')
            .map(|(e, p)| (e.to_string(), p.trim().to_string()))
            .context("demo-login file")?,
        Err(_) => ("demo@flowex.local".to_string(), random_password()),
    };
    let mut makers = Vec::new();
    for (address, pass) in [
        (email.as_str(), password.clone()),
        ("maker1@flowex.local", random_password()),
        ("maker2@flowex.local", random_password()),
    ] {
        let user = match store.user_by_email(address).await? {
            Some(u) => u,
            None => {
                let hash = flowex_auth::hash_password(&pass)?;
                let now = crate::platform::now_ms();
                store
                    .create_user(&NewUser {
                        email: address,
                        password_hash: &hash,
                        role: Role::User,
                        now,
                    })
                    .await?
            }
        };
        for (asset, amount) in SEED_FUNDS {
            let key = IdemKey::new(&format!("demo-seed-{}-{asset}", user.id)).expect("key");
            let cmd = Command::Deposit {
                key,
                user: UserId(user.id),
                asset: AssetId(asset),
                amount: atoms(amount),
            };
            handle.submit(cmd).await?;
        }
        if address != email {
            makers.push(UserId(user.id));
        }
    }
    write_private(&login_file, &format!("{email}\n{password}\n"))?;
    Ok(Seeded {
        email,
        password,
        makers,
    })
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
