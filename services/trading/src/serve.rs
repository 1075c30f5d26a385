//! `flowex serve trading`: the trading service alone (distributed mode).

use crate::TradingState;
use anyhow::{Context, Result};
use axum::Router;
use flowex_bus::{run_publisher, BusConfig, PublisherStatus};
use flowex_config::Config;
use flowex_engine::Engine;
use flowex_http::HealthChecks;
use flowex_sequencer::{JournalConfig, Sequencer, SequencerConfig, SequencerHandle};
use flowex_service::process;
use flowex_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs trading until SIGINT or SIGTERM. It owns the sequencer (journal in
/// `<data_dir>/journal`) and publishes every durable batch to the Redis
/// event stream ([`run_publisher`]); serves the order API and the internal
/// API ([`crate::internal`]); projects the order and trade history into the
/// database ([`crate::projector`]). An empty journal stays empty: markets
/// are listed by an admin (or `flowex demo seed` for a demo). Ready when
/// the database and Redis answer, the engine is recovered and the
/// publisher has caught up with the journal.
/// The WebSocket API checks `credentials` with the gateway's own guard and
/// charges `limiter`, the gateway's (shared through Redis).
pub async fn serve(
    cfg: Config,
    credentials: Arc<dyn flowex_http::Credentials>,
    limiter: flowex_http::RateLimiter,
) -> Result<()> {
    process::require_distributed(&cfg)?;
    let token = process::internal_token(&cfg)?;
    let bus = process::bus_config(&cfg)?;
    let store = process::open_store(&cfg).await?;
    let journal_dir = cfg.data_dir.join("journal");
    let sequencer = start_sequencer(&cfg, journal_dir.clone()).await?;
    let handle = sequencer.handle();
    flowex_service::sampler::sequencer(handle.clone());
    let published = Arc::new(PublisherStatus::default());
    let publisher = tokio::spawn(run_publisher(
        handle.clone(),
        journal_dir.clone(),
        bus.clone(),
        published.clone(),
    ));
    let state = TradingState::new(handle.clone(), cfg.rate_limits.clone())
        .await
        .map_err(|e| anyhow::anyhow!("trading service: {}", e.message()))?;
    // Order and trade history: projected from the engine's events into PostgreSQL.
    let state = crate::projector::start(state, store.clone(), journal_dir.clone())
        .await
        .context("starting the order projector")?;
    // The WebSocket API: user data from the sequencer's durable batches;
    // market data methods from the market-data service.
    let market = flowex_service::InternalClient::new(
        "market-data",
        &cfg.services.market_data.url,
        token.clone(),
        Duration::from_secs(5),
    );
    let parts = crate::ws_api::WsApiParts {
        credentials,
        cfg: cfg.websocket.clone(),
        limiter,
        market: Some(crate::ws_api::market::MarketData::Remote(market)),
    };
    let state = crate::ws_api::start(state, parts, journal_dir);
    let checks = health_checks(&store, &bus, &handle, &published);
    let routes = crate::router(state.clone())
        .merge(crate::ws_api::listen_key::router(state.clone()))
        .merge(crate::internal::internal_router(state));
    let app = process::service_app(&cfg, routes, token, checks, Router::new())?;
    let served = process::listen(&cfg, "trading", cfg.services.trading.port, app).await;

    drop(handle);
    stop(sequencer, &published).await?;
    publisher.abort();
    store.close().await;
    served
}

async fn start_sequencer(cfg: &Config, journal_dir: PathBuf) -> Result<Sequencer> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let mut seq_cfg = SequencerConfig::new(JournalConfig::new(journal_dir));
    seq_cfg.snapshot_every = 100_000;
    if cfg.journal.durability == flowex_config::JournalDurability::None {
        seq_cfg.journal.durability = flowex_sequencer::Durability::None;
        tracing::warn!("journal.durability = none: a crash can lose acknowledged orders");
    }
    let (sequencer, report) = tokio::task::spawn_blocking(move || Sequencer::start(seq_cfg))
        .await?
        .context("recovering the engine")?;
    tracing::info!(
        last_seq = report.last_seq,
        state_hash = format_args!("{:016x}", report.state_hash),
        "engine recovered"
    );
    Ok(sequencer)
}

/// Stops the engine, giving the publisher a moment for the last batches;
/// what it misses is published from the journal at the next start.
async fn stop(sequencer: Sequencer, published: &PublisherStatus) -> Result<()> {
    let engine = tokio::task::spawn_blocking(move || sequencer.shutdown()).await??;
    let deadline = Instant::now() + Duration::from_secs(2);
    while published.published_seq() < engine.last_seq() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::info!(
        last_seq = engine.last_seq(),
        published = published.published_seq(),
        state_hash = format_args!("{:016x}", engine.state_hash()),
        "trading stopped"
    );
    Ok(())
}

fn health_checks(
    store: &Store,
    bus: &BusConfig,
    handle: &SequencerHandle,
    published: &Arc<PublisherStatus>,
) -> HealthChecks {
    let (engine, events) = (handle.clone(), published.clone());
    process::redis_check(process::database_check(HealthChecks::new(), store), bus)
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
        })
}
