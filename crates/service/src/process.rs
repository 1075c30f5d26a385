//! The process shell of a service in distributed mode (`flowex serve
//! NAME`): the configuration turned into the connections every service
//! needs, and the HTTP shell around its routes.
//!
//! Every service reads the same configuration (file + `FLOWEX_*`; `mode =
//! "distributed"`, a PostgreSQL `database_url`, `redis_url`,
//! `internal_token`, `services.<name>.url/port`) and listens on its own
//! `services.<name>.port`. Its routes are served behind
//! [`flowex_http::internal_channel`] (the internal token, and the caller's
//! identity only from the gateway), in [`flowex_http::stack`] without an IP
//! limiter (the gateway limits clients), next to `/health/live`,
//! `/health/ready` and `/metrics` for probes.

use crate::EngineClient;
use anyhow::{bail, Context, Result};
use axum::middleware::from_fn_with_state;
use axum::Router;
use flowex_bus::BusConfig;
use flowex_config::{Config, Mode};
use flowex_http::{HealthChecks, HttpConfig, InternalToken};
use flowex_store::Store;
use std::time::Duration;

/// Refuses to run a service of the distributed mode on an embedded configuration.
pub fn require_distributed(cfg: &Config) -> Result<()> {
    if cfg.mode != Mode::Distributed {
        bail!(
            "`flowex serve` runs one service of the distributed mode: set mode = \"distributed\" \
             (FLOWEX_MODE=distributed) with a PostgreSQL database_url, redis_url and internal_token; \
             `flowex up` runs everything in one process"
        );
    }
    Ok(())
}

/// The token services and the gateway share (`internal_token`).
pub fn internal_token(cfg: &Config) -> Result<InternalToken> {
    let secrets = cfg
        .load_secrets(Vec::new)
        .context("loading the internal token")?;
    Ok(InternalToken::new(secrets.internal_token.expose()))
}

/// The Redis event stream (`redis_url`).
pub fn bus_config(cfg: &Config) -> Result<BusConfig> {
    let url = cfg
        .redis_url
        .as_ref()
        .context("distributed mode needs redis_url (FLOWEX_REDIS_URL)")?;
    Ok(BusConfig::new(url.expose()))
}

/// The database (`database_url`), migrated, with its metrics sampler.
pub async fn open_store(cfg: &Config) -> Result<Store> {
    let url = cfg
        .database_url
        .as_ref()
        .context("database_url is not set")?;
    let store = Store::connect(url.expose())
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
    store.migrate().await.context("applying migrations")?;
    crate::sampler::database(store.clone());
    Ok(store)
}

/// The engine of distributed mode: trading's internal API at
/// `services.trading.url`, each call bounded by most of the request
/// timeout (so a caller is answered before its own request times out).
pub fn remote_engine(cfg: &Config, token: InternalToken) -> EngineClient {
    let timeout = (cfg.request_timeout() * 8 / 10).max(Duration::from_millis(100));
    EngineClient::remote(&cfg.services.trading.url, token, timeout)
}

/// The database check every service with a database has.
pub fn database_check(checks: HealthChecks, store: &Store) -> HealthChecks {
    let store = store.clone();
    checks.check("database", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
}

/// The Redis check every service on the event stream has.
pub fn redis_check(checks: HealthChecks, bus: &BusConfig) -> HealthChecks {
    let bus = bus.clone();
    checks.check("redis", move || {
        let bus = bus.clone();
        async move { bus.ping().await.map_err(|e| e.to_string()) }
    })
}

/// `routes` behind the internal channel, plus health and metrics (and
/// `probes`, open like them), in the stack.
pub fn service_app(
    cfg: &Config,
    routes: Router,
    token: InternalToken,
    checks: HealthChecks,
    probes: Router,
) -> Result<Router> {
    let metrics = flowex_http::install_prometheus()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let app = behind_internal_channel(routes, token)
        .merge(flowex_http::health_router(checks))
        .merge(probes)
        .merge(flowex_http::metrics_router(metrics))
        .fallback(flowex_http::not_found);
    Ok(flowex_http::stack(app, &HttpConfig::from(cfg), None)?)
}

/// `routes` callable only with the internal token, the caller's identity
/// restored from the gateway's stamp ([`flowex_http::internal_channel`]).
pub fn behind_internal_channel(routes: Router, token: InternalToken) -> Router {
    routes.layer(from_fn_with_state(token, flowex_http::internal_channel))
}

/// Serves `app` on `server.bind` and `port` until SIGINT or SIGTERM.
pub async fn listen(cfg: &Config, name: &str, port: u16, app: Router) -> Result<()> {
    listen_until(cfg, name, port, app, flowex_http::shutdown_signal()).await
}

/// [`listen`] until `shutdown` resolves (a service that has its own
/// goodbyes to say first, like market data's `serverShutdown`).
pub async fn listen_until(
    cfg: &Config,
    name: &str,
    port: u16,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((cfg.server.bind, port))
        .await
        .with_context(|| format!("binding {}:{port}", cfg.server.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "{name} service listening");
    flowex_http::serve(
        listener,
        app,
        flowex_http::ConnectionLimits::internal(&cfg.server),
        shutdown,
    )
    .await?;
    Ok(())
}
