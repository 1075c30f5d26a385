//! `flowex serve market-data`: the market-data service alone (distributed mode).

use crate::{feed, feed_router, router, MarketDataState};
use anyhow::{Context as _, Result};
use flowex_config::Config;
use flowex_http::HealthChecks;
use flowex_service::{process, EngineClient};
use std::time::Duration;

/// Runs market data until SIGINT or SIGTERM: a snapshot from trading's
/// internal API, then the Redis stream ([`feed::follow_stream`]); the API
/// behind the internal channel, `/health/events` open like the probes.
pub async fn serve(cfg: Config) -> Result<()> {
    process::require_distributed(&cfg)?;
    let token = process::internal_token(&cfg)?;
    let bus = process::bus_config(&cfg)?;
    let db_url = cfg
        .database_url
        .as_ref()
        .context("database_url is not set")?;
    // A reader of the history only (trading's projector writes it).
    let store = flowex_store::Store::connect_with(
        db_url.expose(),
        flowex_store::StoreOptions {
            max_connections: Some(4),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("connecting to {}", db_url.redacted()))?;

    let state = MarketDataState::with_store(store.clone()).with_websocket(cfg.websocket.clone());
    let timeout = (cfg.request_timeout() * 8 / 10).max(Duration::from_secs(5));
    let engine = EngineClient::remote(&cfg.services.trading.url, token.clone(), timeout);
    let feed = tokio::spawn(feed::follow_stream(
        engine,
        bus.clone(),
        Some(store.clone()),
        state.clone(),
    ));
    let status = state.feed().clone();
    let streams = state.clone();
    let checks = process::redis_check(process::database_check(HealthChecks::new(), &store), &bus)
        .check("events", move || {
            let ok = status.connected();
            async move {
                ok.then_some(())
                    .ok_or_else(|| "the event feed is not connected".to_string())
            }
        });
    let app = process::service_app(
        &cfg,
        router(state.clone()),
        token,
        checks,
        feed_router(state),
    )?;
    // WebSocket clients hear `serverShutdown` before the server stops.
    let shutdown = async move {
        flowex_http::shutdown_signal().await;
        crate::ws::shut_down(&streams, Duration::from_secs(2)).await;
    };
    let port = cfg.services.market_data.port;
    let served = process::listen_until(&cfg, "market-data", port, app, shutdown).await;
    feed.abort();
    store.close().await;
    served
}
