//! The FlowEx API gateway: the single entry point of the exchange.
//!
//! It serves `/api/*` (Binance-compatible `/api/v3`, native `/api/v1`), the
//! WebSocket paths (`/ws`, `/stream`, `/ws-api/v3`), `/docs` and
//! `/openapi.json`, `/metrics`, `/health/live` and `/health/ready`, and the
//! web UI's static files. It runs two ways, with the same middleware:
//!
//! - [`embedded`] (`flowex up`): the services' routers are merged behind
//!   the gateway in one process; handlers read the caller's
//!   [`Identity`](flowex_http::Identity) from the request extensions.
//! - [`proxied`] (`flowex serve gateway`): requests are forwarded over HTTP
//!   to the service that owns their path ([`routes::UPSTREAMS`]), with the
//!   identity in `X-FlowEx-Identity` next to the internal token
//!   ([`InternalToken::stamp`](flowex_http::InternalToken::stamp)); services
//!   check both with [`flowex_http::internal_channel`].
//!
//! # The request path
//!
//! From the outside in ([`flowex_http::stack`] is the outer part):
//!
//! 1. request id, metrics, error shapes, security headers, CORS, client IP;
//! 2. per-IP rate limit: request weight ([`flowex_http::Costs`]),
//!    `X-MBX-USED-WEIGHT-1M`, 429 + `Retry-After`, 418 for an IP that keeps
//!    going;
//! 3. concurrency limit (503), request timeout (503, -1007), body limit
//!    (413), panic catcher;
//! 4. [`authenticate`]: client-sent `X-FlowEx-Identity` /
//!    `X-FlowEx-Internal-Token` are removed first; the body is read (within
//!    the limit); the route's [`Security`] class is looked up in
//!    [`routes::SECURITY`] and the caller authenticated:
//!    - `Authorization: Bearer <jwt>`: EdDSA access token checked by
//!      [`flowex_auth::Verifier`] → a session identity; any failure is 401
//!      (`/api/v1`: `unauthorized` or `token_expired`; `/api/v3`: -2015);
//!      then its session (`sid`) looked up in the
//!      [`SessionDirectory`](flowex_http::SessionDirectory): logged out,
//!      revoked (also by a password change), expired or unknown is 401
//!      (`/api/v1`: `session_revoked`; `/api/v3`: -2015), and the role is
//!      `admin` only if the database agrees. [`embedded`] asks on every
//!      request; [`proxied`] keeps answers for
//!      [`SessionCacheConfig::ttl`] (5 s), dropped at once by the auth
//!      service's invalidations on Redis pub/sub ([`invalidation`]); the
//!      TTL bounds how long an ended session works there when Redis is
//!      unreachable. On public routes a token of an ended session
//!      is ignored;
//!    - `X-MBX-APIKEY` (signed endpoints, `userDataStream`): key format
//!      (-2014), lookup in the [`KeyDirectory`] behind a TTL cache (-2015
//!      unknown), IP allow-list (-2015), permission of the class (-2015),
//!      then for signed classes `timestamp` / `signature` present (-1102),
//!      HMAC-SHA256 over the raw query without `signature` followed by the
//!      raw body (-1022), `timestamp` within `recvWindow` (-1021; -1131 for
//!      `recvWindow` > 60000);
//!    - admin routes need a Bearer token with the `admin` role (403
//!      `forbidden` for a user);
//!
//!    and inserts the [`Identity`](flowex_http::Identity) and its
//!    [`RateLimitKey`](flowex_http::RateLimitKey);
//! 5. per-user rate limit ([`flowex_http::user_rate_limit`]): weight per user
//!    or key, order counts (`X-MBX-ORDER-COUNT-10S`/`-1D`) on order routes;
//! 6. the route: a service handler (embedded), the proxy (distributed), the
//!    gateway's own pages, or the web UI.
//!
//! # Security classes
//!
//! | class | accepts | examples |
//! |---|---|---|
//! | `None` | anyone (a valid Bearer token still identifies) | market data, `/api/v1/auth/login`, `/ws`, `/docs` |
//! | `UserStream` | API key without signature, or Bearer | `POST/PUT/DELETE /api/v3/userDataStream` |
//! | `UserData` | signed, key with `READ`, or Bearer | `GET /api/v3/account`, `GET /api/v3/order` |
//! | `Trade` | signed, key with `TRADE`, or Bearer | `POST/DELETE /api/v3/order`, `/order/test`, `DELETE /api/v3/openOrders` |
//! | `Withdraw` | signed, key with `WITHDRAW`, or Bearer | `POST /api/v1/wallet/withdraw*` |
//! | `Session` | Bearer only | `/api/v1/account/*`, `/api/v1/auth/*` (but login/register/refresh/logout), any unlisted `/api/v1` path |
//! | `Admin` | Bearer with role `admin` | `/api/v1/admin/*` |
//!
//! The full table is [`routes::SECURITY`]; the distributed routing table is
//! [`routes::UPSTREAMS`]:
//!
//! | path | service |
//! |---|---|
//! | `/api/v1/auth/*`, `/api/v1/account/*`, `/api/v1/admin/audit*` | auth |
//! | `/api/v3/order*`, `/openOrder*`, `/allOrder*`, `/myTrades`, `/account*`, `/exchangeInfo`, `/userDataStream`, `/ws-api/*` | trading |
//! | `/api/v3/depth`, `/trades`, `/historicalTrades`, `/aggTrades`, `/klines`, `/uiKlines`, `/avgPrice`, `/ticker*`, `/ping`, `/time`, `/ws/*`, `/stream/*` | market-data |
//! | `/api/v1/wallet/*`, `/api/v1/admin/*` (but audit) | wallet |
//!
//! Forwarding keeps the method, path and query and the body bytes exactly,
//! drops hop-by-hop headers, appends the peer to `X-Forwarded-For`, sets
//! `X-Request-Id`, and stamps the internal token and identity. WebSocket
//! upgrades are passed through (the two upgraded connections are spliced).
//! Each service has a circuit breaker ([`proxy::Breaker`]): after
//! `failures_to_open` consecutive failures (connection errors, timeouts,
//! 502/503/504) it answers 503 at once for `open_for` (`/api/v3`:
//! `{"code":-1008,"msg":"Service unavailable. Please try again later."}`,
//! elsewhere `service_unavailable`), then lets one probe through.
//!
//! # Composing the embedded gateway (`flowex up`)
//!
//! ```ignore
//! let cfg = flowex_gateway::GatewayConfig {
//!     openapi,                                   // the generated document
//!     health: checks,                            // db, engine recovered, …
//!     ..flowex_gateway::GatewayConfig::from_config(&config)
//! };
//! let app = flowex_gateway::embedded(
//!     cfg,
//!     auth_service.key_directory(),              // Arc<dyn KeyDirectory>
//!     Arc::new(auth_state.clone()),              // Arc<dyn SessionDirectory>
//!     jwt_keys.verifier(&config.jwt.issuer, &config.jwt.audience),
//!     vec![auth.router(), trading.router(), market_data.router(), wallet.router()],
//! )?;
//! flowex_http::serve(listener, app, flowex_http::ConnectionLimits::public(&config.server), shutdown).await?;
//! ```
//!
//! The service routers carry full paths, have no fallback, do not add
//! `/health/*`, `/metrics`, `/docs` or `/openapi.json` (the gateway does),
//! are not wrapped in [`flowex_http::stack`] (the gateway wraps everything
//! once) and do not use [`flowex_http::internal_channel`] (in one process
//! the identity is already an extension).

#![warn(missing_docs)]

pub mod authn;
pub mod config;
pub mod directory;
pub mod docs;
pub mod error;
pub mod invalidation;
pub mod proxy;
pub mod redis_store;
pub mod routes;
mod serve;
pub mod sessions;
pub mod web;

pub use authn::{authenticate, AccountFrozen, AuthState};
pub use config::GatewayConfig;
pub use directory::{
    CachedDirectory, HttpKeyDirectory, KeyCacheConfig, KeyDirectory, KeyRecord, MemoryDirectory,
};
pub use docs::openapi;
pub use error::GatewayError;
pub use proxy::{ProxyConfig, Upstreams};
pub use redis_store::RedisStore;
pub use routes::{Security, Upstream};
pub use serve::{
    distributed_router, remote_credentials, serve, serve_with, shared_rate_limiter, ServeOptions,
};
pub use sessions::{MemorySessions, SessionCache, SessionCacheConfig};

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use flowex_auth::Verifier;
use flowex_http::{HealthChecks, RateLimitState, SessionDirectory};
use http_body_util::{BodyExt, Full};
use std::path::PathBuf;
use std::sync::Arc;

/// The gateway of `flowex up`: `services` (routers with full paths) behind
/// authentication, rate limits and the shared stack, plus the gateway's
/// own routes and the web UI.
///
/// `sessions` is asked on every Bearer request, uncached: in one process a
/// logged-out or revoked session stops working on every route at once.
pub fn embedded(
    cfg: GatewayConfig,
    directory: Arc<dyn KeyDirectory>,
    sessions: Arc<dyn SessionDirectory>,
    verifier: Verifier,
    services: Vec<Router>,
) -> Result<Router, GatewayError> {
    let mut app = Router::new();
    for service in services {
        app = app.merge(service);
    }
    let web = web_state(&cfg);
    let mut app = app
        .merge(own_routes(&cfg, cfg.health.clone()))
        .fallback(move |req: Request| docs::web_ui(State(web.clone()), req));
    if let Some(streams) = cfg.user_streams.clone() {
        app = app.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| user_streams_first(streams.clone(), req, next),
        ));
    }
    finish(app, &cfg, directory, sessions, verifier)
}

/// A listenKey path goes to `streams` (trading's) instead of the route it
/// matched (the market streams' `/ws/{*path}`); every other request goes on.
async fn user_streams_first(streams: Router, req: Request, next: Next) -> Response {
    if routes::is_user_stream(req.uri().path()) {
        use tower::ServiceExt as _;
        match streams.oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    } else {
        next.run(req).await
    }
}

/// The gateway of distributed mode: forwards to `upstreams` by path. Keys
/// and sessions are looked up in the auth service through `directory`,
/// sessions behind a [`SessionCache`] of `cfg.session_cache`.
pub fn proxied(
    cfg: GatewayConfig,
    directory: HttpKeyDirectory,
    verifier: Verifier,
    upstreams: Upstreams,
) -> Result<Router, GatewayError> {
    let proxy = Arc::new(proxy::Proxy::new(&cfg.proxy, upstreams));
    let health = upstream_checks(cfg.health.clone(), &proxy);
    let web = web_state(&cfg);
    let app = own_routes(&cfg, health).fallback(move |req: Request| {
        let (proxy, web) = (proxy.clone(), web.clone());
        async move {
            match routes::upstream(req.uri().path()) {
                Some(u) => proxy::forward_to(&proxy, u, req).await,
                None => docs::web_ui(State(web), req).await,
            }
        }
    });
    let sessions = Arc::new(SessionCache::new(
        Arc::new(directory.clone()),
        cfg.session_cache,
    ));
    if let Some(caches) = &cfg.invalidations {
        caches.add_sessions(sessions.clone());
    }
    finish(app, &cfg, Arc::new(directory), sessions, verifier)
}

fn web_state(cfg: &GatewayConfig) -> Option<Arc<PathBuf>> {
    cfg.web_dir.clone().map(Arc::new)
}

fn own_routes(cfg: &GatewayConfig, health: HealthChecks) -> Router {
    let mut r = Router::new()
        .merge(flowex_http::health_router(health))
        .merge(docs::docs_router(&cfg.openapi, cfg.docs_assets_dir.clone()));
    if let Some(handle) = &cfg.metrics {
        r = r.merge(flowex_http::metrics_router(handle.clone()));
    }
    r
}

fn finish(
    app: Router,
    cfg: &GatewayConfig,
    directory: Arc<dyn KeyDirectory>,
    sessions: Arc<dyn SessionDirectory>,
    verifier: Verifier,
) -> Result<Router, GatewayError> {
    let limits = RateLimitState::new(cfg.rate_limiter.clone(), cfg.costs.clone());
    let directory: Arc<dyn KeyDirectory> = if cfg.key_cache.max_entries == 0 {
        directory
    } else {
        let cached = Arc::new(CachedDirectory::new(directory, cfg.key_cache));
        if let Some(caches) = &cfg.invalidations {
            caches.add_keys(cached.clone());
        }
        cached
    };
    let mut auth = AuthState::new(verifier, directory, sessions);
    if let Some(clock) = cfg.clock.clone() {
        auth = auth.with_clock(move || clock());
    }
    let app = app
        .layer(from_fn_with_state(
            limits.clone(),
            flowex_http::user_rate_limit,
        ))
        .layer(from_fn_with_state(auth, authenticate));
    Ok(flowex_http::stack(app, &cfg.http, Some(limits))?)
}

/// Readiness of distributed mode also needs every service alive.
fn upstream_checks(mut health: HealthChecks, proxy: &Arc<proxy::Proxy>) -> HealthChecks {
    for u in Upstream::ALL {
        let proxy = proxy.clone();
        health = health.check(u.name(), move || {
            let proxy = proxy.clone();
            async move {
                let uri = proxy::upstream_uri(proxy.upstreams().base(u), "/health/live")
                    .map_err(|e| e.to_string())?;
                let req = http::Request::get(uri)
                    .body(Full::new(bytes::Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let res = proxy
                    .client()
                    .request(req)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status();
                let _ = res.into_body().collect().await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("{} /health/live answered {status}", u.name()))
                }
            }
        });
    }
    health
}
