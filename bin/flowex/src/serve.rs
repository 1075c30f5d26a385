//! `flowex serve NAME`: one service of the distributed mode per process.
//!
//! Every service reads the same configuration (file + `FLOWEX_*`; `mode =
//! "distributed"`, a PostgreSQL `database_url`, `redis_url`,
//! `internal_token`, `services.<name>.url/port`) and listens on its own
//! `services.<name>.port` (`--port` overrides it). Besides the gateway,
//! each serves its routes behind [`flowex_http::internal_channel`] (the
//! internal token, and the caller's identity only from the gateway), in
//! [`flowex_http::stack`] without an IP limiter (the gateway limits
//! clients), plus `/health/live`, `/health/ready` and `/metrics` for probes.
//!
//! - `gateway`, `auth`, `market-data`: their crates' `serve`.
//! - `trading`: owns the sequencer (journal in `<data_dir>/journal`) and
//!   publishes every durable batch to the Redis event stream
//!   ([`flowex_bus::run_publisher`]); serves the order API and the internal
//!   API ([`flowex_trading::internal`]); projects the order and trade
//!   history into the database ([`flowex_trading::projector`]). On an empty journal it creates the
//!   initial listing (the four markets of `flowex up`). Ready when the
//!   database and Redis answer, the engine is recovered and the publisher
//!   has caught up with the journal.
//! - `wallet`: balances and admin deposits, reaching the engine over
//!   trading's internal API ([`flowex_wallet::CommandSink::remote`]); no
//!   faucet. Follows the event stream from its stored projector offset
//!   ([`flowex_wallet::events::run_feed`]), shows it at `/health/events`,
//!   and is ready only while that feed is connected and has met no gap.

use anyhow::{bail, Context, Result};
use axum::middleware::from_fn_with_state;
use axum::Router;
use flowex_bus::{run_publisher, BusConfig, PublisherStatus};
use flowex_config::{Config, Mode};
use flowex_engine::Engine;
use flowex_http::{HealthChecks, HttpConfig, InternalToken};
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The five services.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Gateway,
    Auth,
    Trading,
    MarketData,
    Wallet,
}

/// Options of `flowex serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Which service this process runs.
    #[arg(value_enum)]
    pub service: Service,
}

/// Runs one service until SIGINT or SIGTERM. `port` (the global `--port`)
/// replaces `services.<name>.port`.
pub async fn serve(mut cfg: Config, args: ServeArgs, port: Option<u16>) -> Result<()> {
    if cfg.mode != Mode::Distributed {
        bail!(
            "`flowex serve` runs one service of the distributed mode: set mode = \"distributed\" \
             (FLOWEX_MODE=distributed) with a PostgreSQL database_url, redis_url and internal_token; \
             `flowex up` runs everything in one process"
        );
    }
    if let Some(p) = port {
        let s = &mut cfg.services;
        match args.service {
            Service::Gateway => s.gateway.port = p,
            Service::Auth => s.auth.port = p,
            Service::Trading => s.trading.port = p,
            Service::MarketData => s.market_data.port = p,
            Service::Wallet => s.wallet.port = p,
        }
    }
    match args.service {
        Service::Gateway => {
            // The document generated from the code, not a file from the working directory.
            let options = flowex_gateway::ServeOptions {
                openapi: Some(crate::openapi::json()),
                ..Default::default()
            };
            flowex_gateway::serve_with(cfg, options, flowex_http::shutdown_signal()).await
        }
        Service::Auth => flowex_auth_service::serve(cfg).await,
        Service::MarketData => flowex_market_data::serve(cfg).await,
        Service::Trading => trading(cfg).await,
        Service::Wallet => wallet(cfg).await,
    }
}

pub(crate) fn internal_token(cfg: &Config) -> Result<InternalToken> {
    let secrets = cfg
        .load_secrets(Vec::new)
        .context("loading the internal token")?;
    Ok(InternalToken::new(secrets.internal_token.expose()))
}

fn bus_config(cfg: &Config) -> Result<BusConfig> {
    let url = cfg
        .redis_url
        .as_ref()
        .context("distributed mode needs redis_url (FLOWEX_REDIS_URL)")?;
    Ok(BusConfig::new(url.expose()))
}

async fn open_store(cfg: &Config) -> Result<Store> {
    let url = cfg
        .database_url
        .as_ref()
        .context("database_url is not set")?;
    let store = Store::connect(url.expose())
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Database and Redis checks every service has.
fn base_checks(store: &Store, bus: &BusConfig) -> HealthChecks {
    let (store, bus) = (store.clone(), bus.clone());
    HealthChecks::new()
        .check("database", move || {
            let store = store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        })
        .check("redis", move || {
            let bus = bus.clone();
            async move { bus.ping().await.map_err(|e| e.to_string()) }
        })
}

/// `routes` behind the internal channel, plus health and metrics (and
/// `probes`, open like them), in the stack.
fn service_app(
    cfg: &Config,
    routes: Router,
    token: InternalToken,
    checks: HealthChecks,
    probes: Router,
) -> Result<Router> {
    let metrics = flowex_http::install_prometheus()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let app = routes
        .layer(from_fn_with_state(token, flowex_http::internal_channel))
        .merge(flowex_http::health_router(checks))
        .merge(probes)
        .merge(flowex_http::metrics_router(metrics))
        .fallback(flowex_http::not_found);
    Ok(flowex_http::stack(app, &HttpConfig::from(cfg), None)?)
}

async fn listen(cfg: &Config, name: &str, port: u16, app: Router) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((cfg.server.bind, port))
        .await
        .with_context(|| format!("binding {}:{port}", cfg.server.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "{name} service listening");
    flowex_http::serve(
        listener,
        app,
        cfg.server.max_connections,
        flowex_http::shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn trading(cfg: Config) -> Result<()> {
    let token = internal_token(&cfg)?;
    let bus = bus_config(&cfg)?;
    let store = open_store(&cfg).await?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let journal_dir = cfg.data_dir.join("journal");
    let mut seq_cfg = SequencerConfig::new(JournalConfig::new(journal_dir.clone()));
    seq_cfg.snapshot_every = 100_000;
    let (sequencer, report) = tokio::task::spawn_blocking(move || Sequencer::start(seq_cfg))
        .await?
        .context("recovering the engine")?;
    tracing::info!(
        last_seq = report.last_seq,
        state_hash = format_args!("{:016x}", report.state_hash),
        "engine recovered"
    );
    let handle = sequencer.handle();
    let published = Arc::new(PublisherStatus::default());
    let publisher = tokio::spawn(run_publisher(
        handle.clone(),
        journal_dir.clone(),
        bus.clone(),
        published.clone(),
    ));
    seed_listing(&handle).await?;
    let state = flowex_trading::TradingState::new(handle.clone(), cfg.rate_limits.clone())
        .await
        .map_err(|e| anyhow::anyhow!("trading service: {}", e.message()))?;
    // Order and trade history: projected from the engine's events into PostgreSQL.
    let state = flowex_trading::projector::start(state, store.clone(), journal_dir)
        .await
        .context("starting the order projector")?;

    let (engine, events) = (handle.clone(), published.clone());
    let checks = base_checks(&store, &bus)
        .check("engine", move || {
            let engine = engine.clone();
            async move {
                engine
                    .query(|e: &Engine| e.last_seq())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .check("events", move || {
            let (live, error) = (events.is_live(), events.last_error());
            async move {
                live.then_some(()).ok_or_else(|| {
                    error.unwrap_or_else(|| "the event publisher is catching up".into())
                })
            }
        });
    let routes = flowex_trading::router(state.clone())
        .merge(flowex_trading::internal::internal_router(state));
    let app = service_app(&cfg, routes, token, checks, Router::new())?;
    let served = listen(&cfg, "trading", cfg.services.trading.port, app).await;

    drop(handle);
    let engine = tokio::task::spawn_blocking(move || sequencer.shutdown()).await??;
    // Give the publisher a moment for the last batches; what it misses is
    // published from the journal at the next start.
    let deadline = Instant::now() + Duration::from_secs(2);
    while published.published_seq() < engine.last_seq() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    publisher.abort();
    tracing::info!(
        last_seq = engine.last_seq(),
        published = published.published_seq(),
        state_hash = format_args!("{:016x}", engine.state_hash()),
        "trading stopped"
    );
    store.close().await;
    served
}

/// An empty engine gets the initial listing (the markets `flowex up` seeds).
async fn seed_listing(handle: &SequencerHandle) -> Result<()> {
    if !handle.query(|e: &Engine| e.markets().is_empty()).await? {
        return Ok(());
    }
    for cmd in crate::demo::market_commands() {
        if let Some(reason) = handle.submit(cmd).await?.rejection() {
            bail!("listing {cmd:?} was rejected: {reason:?}");
        }
    }
    tracing::info!("created the initial listing: BTCUSDT, ETHUSDT, ETHBTC, SOLUSDT");
    Ok(())
}

async fn wallet(cfg: Config) -> Result<()> {
    let token = internal_token(&cfg)?;
    let bus = bus_config(&cfg)?;
    let store = open_store(&cfg).await?;
    let timeout = (cfg.request_timeout() * 8 / 10).max(Duration::from_millis(100));
    let sink =
        flowex_wallet::CommandSink::remote(&cfg.services.trading.url, token.clone(), timeout);
    let mut state = flowex_wallet::WalletState::with_sink(sink, store.clone(), None);
    // Withdrawals of users with 2FA on check the code against the secret
    // the auth service sealed with this key.
    match cfg.load_secrets(Vec::new)?.require_secret_box_key() {
        Ok(key) => state = state.with_totp(flowex_auth::SecretBox::new(key)),
        Err(e) => {
            tracing::warn!(error = %e, "no secret box key: withdrawals of users with 2FA on are refused")
        }
    }
    let status = flowex_wallet::events::feed_status(&store).await?;
    let feed = tokio::spawn(flowex_wallet::events::run_feed(
        store.clone(),
        bus.clone(),
        status.clone(),
    ));
    let feed_status = status.clone();
    let checks = base_checks(&store, &bus).check("events", move || {
        let verdict = feed_status.ready();
        async move { verdict }
    });
    let app = service_app(
        &cfg,
        flowex_wallet::router(state),
        token,
        checks,
        flowex_wallet::events::events_router(status),
    )?;
    let served = listen(&cfg, "wallet", cfg.services.wallet.port, app).await;
    feed.abort();
    store.close().await;
    served
}
