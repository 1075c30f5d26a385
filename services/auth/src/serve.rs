//! Distributed mode: the auth service as its own process.

use axum::Router;
use flowex_http::{HealthChecks, InternalToken};
use flowex_service::process;

use crate::state::AuthState;

/// Runs the auth service alone (`flowex serve auth`) until SIGINT or
/// SIGTERM: listens on `config.server.bind` and
/// `config.services.auth.port`; [`service_router`] (only the gateway,
/// holding the internal token, may call it, and the caller's identity
/// comes from it); `/health/live`, `/health/ready` (a database round trip)
/// and `/metrics` open to probes and Prometheus; all in
/// [`flowex_http::stack`] without an IP rate limiter (the gateway limits
/// clients). Set `server.trusted_proxies` to the gateway's addresses so
/// that lockouts and the audit log see the client's address rather than
/// the gateway's. With `redis_url`, every credential write is published
/// for the gateway replicas' caches ([`crate::invalidation`]).
pub async fn serve(config: flowex_config::Config) -> anyhow::Result<()> {
    process::require_distributed(&config)?;
    let secrets = crate::load_secrets(&config)?;
    let token = InternalToken::new(secrets.internal_token.expose());
    let state = AuthState::from_config(&config, &secrets).await?;
    if let Some(url) = &config.redis_url {
        // Gateway replicas drop cached keys and sessions at once.
        crate::invalidation::publish_changes(state.store(), url.expose())?;
    }
    let checks = process::database_check(HealthChecks::new(), state.store());
    let app = process::service_app(&config, routes(state.clone()), token, checks, Router::new())?;
    let served = process::listen(&config, "auth", config.services.auth.port, app).await;
    state.store().close().await;
    served
}

/// [`crate::router`] and [`crate::internal_router`] behind
/// [`flowex_http::internal_channel`]: what [`serve`] exposes besides health
/// and metrics (before [`flowex_http::stack`]).
pub fn service_router(state: AuthState, token: InternalToken) -> Router {
    process::behind_internal_channel(routes(state), token)
}

fn routes(state: AuthState) -> Router {
    Router::new()
        .merge(crate::router(state.clone()))
        .merge(crate::internal_router(state))
}
