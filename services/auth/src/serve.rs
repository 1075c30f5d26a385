//! Distributed mode: the auth service as its own process.

use anyhow::Context as _;
use axum::middleware::from_fn_with_state;
use axum::Router;
use flowex_http::{HealthChecks, HttpConfig, InternalToken};

use crate::state::AuthState;

/// Runs the auth service alone (`flowex serve auth`): listens on
/// `config.server.bind` and `config.services.auth.port`; [`crate::router`]
/// and [`crate::internal_router`] behind [`flowex_http::internal_channel`]
/// (only the gateway, holding the internal token, may call them, and the
/// caller's identity comes from it); `/health/live`, `/health/ready` (a
/// database round trip) and `/metrics` open to probes and Prometheus; all
/// in [`flowex_http::stack`] without an IP rate limiter (the gateway
/// limits clients). Set `server.trusted_proxies` to the gateway's
/// addresses so that lockouts and the audit log see the client's address
/// rather than the gateway's. Stops gracefully on SIGINT or SIGTERM.
pub async fn serve(config: flowex_config::Config) -> anyhow::Result<()> {
    let secrets = crate::load_secrets(&config)?;
    let token = InternalToken::new(secrets.internal_token.expose());
    let state = AuthState::from_config(&config, &secrets).await?;
    let metrics = flowex_http::install_prometheus()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let store = state.store().clone();
    let checks = HealthChecks::new().check("database", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    });
    let app = service_router(state.clone(), token)
        .merge(flowex_http::health_router(checks))
        .merge(flowex_http::metrics_router(metrics))
        .fallback(flowex_http::not_found);
    let app = flowex_http::stack(app, &HttpConfig::from(&config), None)?;
    let addr = (config.server.bind, config.services.auth.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {}:{}", addr.0, addr.1))?;
    tracing::info!(addr = %listener.local_addr()?, "auth service listening");
    flowex_http::serve(
        listener,
        app,
        config.server.max_connections,
        flowex_http::shutdown_signal(),
    )
    .await?;
    state.store().close().await;
    Ok(())
}

/// [`crate::router`] and [`crate::internal_router`] behind
/// [`flowex_http::internal_channel`]: what [`serve`] exposes besides health
/// and metrics (before [`flowex_http::stack`]).
pub fn service_router(state: AuthState, token: InternalToken) -> Router {
    Router::new()
        .merge(crate::router(state.clone()))
        .merge(crate::internal_router(state))
        .layer(from_fn_with_state(token, flowex_http::internal_channel))
}
