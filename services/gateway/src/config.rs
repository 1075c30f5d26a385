//! The gateway's settings.

use crate::directory::KeyCacheConfig;
use crate::proxy::ProxyConfig;
use crate::sessions::SessionCacheConfig;
use flowex_http::{Costs, HealthChecks, HttpConfig, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the web build puts the UI, relative to the working directory.
pub const DEFAULT_WEB_DIR: &str = "web/dist";
/// Where the web build vendors `swagger-ui-dist` (served at `/docs/assets/`).
/// With Vite, `web/public/docs/assets/` lands here.
pub const DEFAULT_DOCS_ASSETS_DIR: &str = "web/dist/docs/assets";

/// Everything [`crate::embedded`] and [`crate::proxied`] need besides the
/// key directory, the token verifier and the services.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The shared stack: body limit, timeout, CSP, CORS, trusted proxies.
    pub http: HttpConfig,
    /// Rate limits and their store: in memory in one process, Redis
    /// ([`crate::RedisStore`]) across replicas.
    pub rate_limiter: RateLimiter,
    /// Request weights by route (Binance's by default).
    pub costs: Costs,
    /// Readiness checks for `/health/ready` (database, engine, …).
    pub health: HealthChecks,
    /// Prometheus handle for `/metrics` (`None`: no `/metrics` route).
    pub metrics: Option<PrometheusHandle>,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: serde_json::Value,
    /// The web UI's built files (`None` or missing: a small landing page).
    pub web_dir: Option<PathBuf>,
    /// `swagger-ui-dist` files served at `/docs/assets/`.
    pub docs_assets_dir: Option<PathBuf>,
    /// API-key cache (`max_entries: 0` disables it).
    pub key_cache: KeyCacheConfig,
    /// Session cache of distributed mode: its `ttl` bounds how long a
    /// revoked session keeps working there (one process never caches).
    pub session_cache: SessionCacheConfig,
    /// Distributed mode: the caches [`crate::proxied`] builds are added
    /// here, for the credential invalidations of Redis pub/sub
    /// ([`crate::invalidation`]) to drop entries from (`None`: TTLs only).
    pub invalidations: Option<crate::invalidation::Caches>,
    /// Upstream timeouts and circuit breakers (distributed mode).
    pub proxy: ProxyConfig,
    /// Unix-ms clock for `timestamp` checks (`None`: the system clock).
    pub clock: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// In `flowex up`: trading's listenKey streams (`/ws/<listenKey>`,
    /// `/stream/ws/<listenKey>`), which [`crate::embedded`] sends those
    /// paths to ahead of the market streams' `/ws/*` (distributed mode
    /// routes them by [`crate::routes::UPSTREAMS`]).
    pub user_streams: Option<axum::Router>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("http", &self.http)
            .field("rate_limiter", &self.rate_limiter)
            .field("web_dir", &self.web_dir)
            .field("docs_assets_dir", &self.docs_assets_dir)
            .field("key_cache", &self.key_cache)
            .field("session_cache", &self.session_cache)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// A placeholder OpenAPI document (no paths) for when none is given.
pub fn placeholder_openapi() -> serde_json::Value {
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "FlowEx API", "version": env!("CARGO_PKG_VERSION")},
        "paths": {}
    })
}

impl GatewayConfig {
    /// Settings from FlowEx's configuration: the stack from `server` and
    /// `cors`, an in-memory rate limiter from `rate_limits`, Binance's
    /// weights, no readiness checks, the process's Prometheus recorder,
    /// a placeholder OpenAPI document, the default web directories, the
    /// key and session caches of `auth.key_cache_ttl_ms` and
    /// `auth.session_cache_ttl_ms` (30 s, 5 s), and an upstream timeout of 90 % of the request
    /// timeout.
    pub fn from_config(config: &flowex_config::Config) -> Self {
        let http = HttpConfig::from(config);
        let request_timeout = http.request_timeout;
        GatewayConfig {
            rate_limiter: RateLimiter::in_memory(&config.rate_limits),
            costs: Costs::binance_spot(),
            health: HealthChecks::new(),
            metrics: flowex_http::install_prometheus().ok(),
            openapi: placeholder_openapi(),
            web_dir: Some(PathBuf::from(DEFAULT_WEB_DIR)),
            docs_assets_dir: Some(PathBuf::from(DEFAULT_DOCS_ASSETS_DIR)),
            key_cache: KeyCacheConfig {
                ttl: Duration::from_millis(config.auth.key_cache_ttl_ms),
                ..KeyCacheConfig::default()
            },
            session_cache: SessionCacheConfig {
                ttl: Duration::from_millis(config.auth.session_cache_ttl_ms),
                ..SessionCacheConfig::default()
            },
            invalidations: None,
            proxy: ProxyConfig {
                request_timeout: (request_timeout * 9 / 10).max(Duration::from_millis(50)),
                ..ProxyConfig::default()
            },
            clock: None,
            user_streams: None,
            http,
        }
    }
}
