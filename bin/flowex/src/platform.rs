//! `flowex up`: all five services in one process on one port, with SQLite,
//! the local journal, in-process events and in-memory rate limits, in a
//! data directory. The first start creates the schema and the secrets
//! (0600 files) and seeds the demo markets and a demo account.

use crate::demo;
use anyhow::{bail, Context, Result};
use flowex_auth::{JwtKeys, SecretBox};
use flowex_auth_service::{AuthConfig, AuthState};
use flowex_config::Config;
use flowex_engine::Engine;
use flowex_gateway::directory::BoxFuture;
use flowex_gateway::{CachedDirectory, GatewayConfig, GatewayError, KeyDirectory, KeyRecord};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_service::EngineClient;
use flowex_store::Store;
use std::sync::Arc;

/// Options of `flowex up` beyond the configuration.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct UpArgs {
    /// Do not run the demo market maker.
    #[arg(long)]
    pub no_bot: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// The gateway's API-key lookup, answered in process by the auth service.
struct AuthDirectory(AuthState);

impl KeyDirectory for AuthDirectory {
    fn lookup<'a>(
        &'a self,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
        Box::pin(async move {
            let found = flowex_auth_service::lookup_api_key(&self.0, api_key)
                .await
                .map_err(|e| GatewayError::Directory(e.to_string()))?;
            found.map(convert_key).transpose()
        })
    }
}

/// The API-key lookup of the gateway and the WebSocket API in one process:
/// the auth service's, behind one cache whose entries hold only while the
/// store's credentials epoch is unchanged (a deleted key, a frozen or
/// unfrozen owner, a role change: the next request looks it up again), and
/// at most the key cache's TTL for writes from other processes. Without it
/// every signed request ran two SQL queries (`api_keys`, `users`).
fn key_directory(cfg: &Config, auth: &AuthState, store: &Store) -> Arc<dyn KeyDirectory> {
    let store = store.clone();
    let cache = GatewayConfig::from_config(cfg).key_cache;
    Arc::new(
        CachedDirectory::new(Arc::new(AuthDirectory(auth.clone())), cache)
            .with_epoch(Arc::new(move || store.credentials_epoch())),
    )
}

fn convert_key(k: flowex_auth_service::KeyRecord) -> Result<KeyRecord, GatewayError> {
    let bad = |what: &str| GatewayError::InvalidRecord(what.to_string());
    Ok(KeyRecord {
        key_id: k.key_id,
        user_id: k.user_id,
        role: k.role,
        frozen: k.frozen,
        permissions: k.permissions.parse().map_err(|_| bad("permissions"))?,
        ip_allow: flowex_auth::IpAllowList::parse_csv(&k.ip_allow)
            .map_err(|_| bad("ip allow-list"))?,
        secret: flowex_auth::Secret::new(k.secret),
    })
}

/// What `flowex up` runs besides the HTTP server, stopped with it.
struct Running {
    sequencer: Sequencer,
    handle: SequencerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The services of one process, and what the gateway needs of them.
struct Services {
    routers: Vec<axum::Router>,
    /// Trading's listenKey streams, served ahead of the market streams' `/ws/*`.
    user_streams: axum::Router,
    auth: AuthState,
    keys: Arc<dyn KeyDirectory>,
    jwt: JwtKeys,
    market_data: flowex_market_data::MarketDataState,
    /// The rate limiter of REST and of the WebSocket API.
    limiter: flowex_http::RateLimiter,
}

pub async fn up(cfg: Config, args: UpArgs) -> Result<()> {
    if cfg.mode != flowex_config::Mode::Embedded {
        bail!(
            "`flowex up` runs the embedded mode; use `flowex serve NAME` for the distributed one"
        );
    }
    crate::ops::ensure_private_dir(&cfg.data_dir)?;
    let secrets = flowex_auth_service::load_secrets(&cfg)?;
    let store = Store::connect(&crate::ops::database_url(&cfg)?)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let mut running = start_engine(&cfg)?;
    flowex_service::sampler::sequencer(running.handle.clone());
    flowex_service::sampler::database(store.clone());
    flowex_wallet::sampler::books(store.clone());
    let seeded = seed_demo(&cfg, &store, &running.handle).await?;
    let services = start_services(&cfg, &secrets, &store, &mut running).await?;
    wait_for_market_data(&services.market_data).await;
    let bot_auth = services.auth.clone();
    let streams = services.market_data.clone();
    let app = gateway(&cfg, &store, &running.handle, services)?;
    let listener = tokio::net::TcpListener::bind((cfg.server.bind, cfg.server.port))
        .await
        .with_context(|| format!("listening on {}:{}", cfg.server.bind, cfg.server.port))?;
    announce(&cfg, &listener, &seeded)?;
    if !args.no_bot && cfg.bot_enabled() {
        let settings =
            demo::bot_settings(&bot_auth, &seeded.makers, loopback_url(&listener)?).await?;
        say!("demo market maker: on (quotes and trades through the public API; --no-bot turns it off)");
        running.tasks.push(tokio::spawn(flowex_bot::run(settings)));
    }
    let shutdown = async move {
        shutdown_after(args.seconds).await;
        // WebSocket clients hear `serverShutdown` before the server stops.
        flowex_market_data::ws::shut_down(&streams, std::time::Duration::from_secs(2)).await;
    };
    flowex_http::serve(
        listener,
        app,
        flowex_http::ConnectionLimits::public(&cfg.server),
        shutdown,
    )
    .await?;
    stop(running).await
}

fn start_engine(cfg: &Config) -> Result<Running> {
    let mut seq_cfg = SequencerConfig::new(JournalConfig::new(cfg.data_dir.join("journal")));
    seq_cfg.snapshot_every = 100_000;
    if cfg.journal.durability == flowex_config::JournalDurability::None {
        seq_cfg.journal.durability = flowex_sequencer::Durability::None;
        tracing::warn!("journal.durability = none: a crash can lose acknowledged orders");
    }
    let (sequencer, report) = Sequencer::start(seq_cfg)?;
    say!(
        "engine recovered: {} commands, state hash {:016x}",
        report.last_seq,
        report.state_hash
    );
    let handle = sequencer.handle();
    Ok(Running {
        sequencer,
        handle,
        tasks: Vec::new(),
    })
}

/// The demo listing and accounts (idempotent: later starts add nothing).
async fn seed_demo(cfg: &Config, store: &Store, handle: &SequencerHandle) -> Result<demo::Seeded> {
    let engine = EngineClient::local(handle.clone());
    let created = demo::seed_markets(&engine).await?;
    if !created.is_empty() {
        say!("seeded demo markets {}", created.join(", "));
    }
    let login_file = cfg.data_dir.join("secrets").join("demo-login");
    demo::seed_accounts(store, &engine, &login_file).await
}

/// Auth, trading (with its history projector), the wallet (with its
/// ledger) and market data (with its view), on the one sequencer.
async fn start_services(
    cfg: &Config,
    secrets: &flowex_config::Secrets,
    store: &Store,
    running: &mut Running,
) -> Result<Services> {
    let handle = running.handle.clone();
    let journal = cfg.data_dir.join("journal");
    let jwt = JwtKeys::from_pem(std::str::from_utf8(secrets.require_jwt_private_key()?)?)?;
    let secret_box = || secrets.require_secret_box_key().map(SecretBox::new);
    let auth = AuthState::new(
        store.clone(),
        jwt.clone(),
        secret_box()?,
        AuthConfig::from(cfg),
    )?;
    let trading = flowex_trading::TradingState::new(handle.clone(), cfg.rate_limits.clone())
        .await
        .map_err(|e| anyhow::anyhow!("trading service: {}", e.message()))?;
    // Order and trade history: projected from the engine's events into SQLite.
    let trading = flowex_trading::projector::start(trading, store.clone(), journal.clone())
        .await
        .context("starting the order projector")?;
    // The WebSocket API checks credentials with the gateway's own guard.
    let keys = key_directory(cfg, &auth, store);
    let credentials = flowex_gateway::AuthState::new(
        jwt.verifier(&cfg.jwt.issuer, &cfg.jwt.audience),
        keys.clone(),
        Arc::new(auth.clone()),
    );
    // Market data: its own view of the engine's events, started from a snapshot.
    let market_data = flowex_market_data::MarketDataState::with_store(store.clone())
        .with_websocket(cfg.websocket.clone());
    // One rate limiter for REST and the WebSocket API (one budget, as Binance).
    let limiter = flowex_http::RateLimiter::in_memory(&cfg.rate_limits);
    let market = flowex_market_data::data_router(market_data.clone());
    let parts = flowex_trading::ws_api::WsApiParts {
        credentials: Arc::new(credentials),
        cfg: cfg.websocket.clone(),
        limiter: limiter.clone(),
        market: Some(flowex_trading::ws_api::market::MarketData::local(market)),
    };
    let trading = flowex_trading::ws_api::start(trading, parts, journal.clone());
    // The wallet's double-entry ledger and balances, projected the same way.
    let ledger = flowex_wallet::ledger::start_local(handle.clone(), store.clone(), journal);
    let faucet = cfg.faucet_enabled().then(|| demo::faucet(cfg));
    let wallet =
        flowex_wallet::WalletState::new(EngineClient::local(handle.clone()), store.clone(), faucet)
            .with_totp(secret_box()?);
    // Before anyone is served: a withdrawal request a crash cut between its
    // row and its engine lock is locked now (or removed), never half-applied.
    flowex_wallet::withdrawals::resume_locks(&wallet)
        .await
        .map_err(|e| anyhow::anyhow!("resuming withdrawal locks: {}", e.message()))?;
    let market_feed = tokio::spawn(flowex_market_data::feed::follow_sequencer(
        handle,
        Some(store.clone()),
        market_data.clone(),
    ));
    running.tasks.extend([ledger, market_feed]);
    Ok(Services {
        user_streams: flowex_trading::ws_api::listen_key::router(trading.clone()),
        routers: vec![
            flowex_auth_service::router(auth.clone()),
            flowex_trading::router(trading),
            flowex_wallet::router(wallet),
            flowex_market_data::data_router(market_data.clone()),
        ],
        auth,
        keys,
        jwt,
        market_data,
        limiter,
    })
}

/// The embedded gateway in front of every service's router.
fn gateway(
    cfg: &Config,
    store: &Store,
    handle: &SequencerHandle,
    services: Services,
) -> Result<axum::Router> {
    let mut gateway_cfg = GatewayConfig {
        health: health_checks(store, handle, &services.market_data),
        openapi: crate::openapi::json(),
        user_streams: Some(services.user_streams.clone()),
        rate_limiter: services.limiter.clone(),
        ..GatewayConfig::from_config(cfg)
    };
    // `services.keys` is cached already (see `key_directory`).
    gateway_cfg.key_cache.max_entries = 0;
    let verifier = services.jwt.verifier(&cfg.jwt.issuer, &cfg.jwt.audience);
    Ok(flowex_gateway::embedded(
        gateway_cfg,
        services.keys,
        Arc::new(services.auth),
        verifier,
        services.routers,
    )?)
}

fn announce(cfg: &Config, listener: &tokio::net::TcpListener, seeded: &demo::Seeded) -> Result<()> {
    let url = format!("http://{}", listener.local_addr()?);
    say!("FlowEx is up at {url}  (API {url}/api/v3, docs {url}/docs, health {url}/health/ready)");
    demo::print_login(seeded, &cfg.data_dir.join("secrets").join("demo-login"));
    say!(
        "data directory {}; Ctrl-C stops it, every acknowledged command is on disk",
        cfg.data_dir.display()
    );
    Ok(())
}

async fn stop(running: Running) -> Result<()> {
    for task in running.tasks {
        task.abort();
    }
    drop(running.handle);
    let sequencer = running.sequencer;
    let engine = tokio::task::spawn_blocking(move || sequencer.shutdown()).await??;
    say!(
        "stopped at seq {}, state hash {:016x}",
        engine.last_seq(),
        engine.state_hash()
    );
    Ok(())
}

/// Market data answers 503 until its view has read the first snapshot;
/// `flowex up` announces itself once it has (or after 30 s, with a warning),
/// so a client that starts with the banner never sees that 503.
async fn wait_for_market_data(state: &flowex_market_data::MarketDataState) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !state.read().started() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                "market data has not started after 30 s; serving anyway (503 until it has)"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn health_checks(
    store: &Store,
    handle: &SequencerHandle,
    market_data: &flowex_market_data::MarketDataState,
) -> flowex_http::HealthChecks {
    let (store, handle, market_data) = (store.clone(), handle.clone(), market_data.clone());
    flowex_http::HealthChecks::new()
        .check("market_data", move || {
            let started = market_data.read().started();
            async move {
                started
                    .then_some(())
                    .ok_or_else(|| "reading its first snapshot".to_string())
            }
        })
        .check("database", move || {
            let store = store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        })
        .check("engine", move || {
            let handle = handle.clone();
            async move {
                handle
                    .query(|e: &Engine| e.last_seq())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
}

/// The server's own address as a client on this machine reaches it
/// (`0.0.0.0` and `::` become loopback).
fn loopback_url(listener: &tokio::net::TcpListener) -> Result<String> {
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}"))
}

async fn shutdown_after(seconds: Option<u64>) {
    // A time limit still stops early on SIGINT/SIGTERM.
    let limit = async {
        match seconds {
            Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = limit => {}
        _ = flowex_http::shutdown_signal() => {}
    }
}
