//! The HTTP layer every FlowEx service shares.
//!
//! A service builds its `axum::Router`, then wraps it once with [`stack`],
//! which adds, from the outside in:
//!
//! 1. [`request_id`](request_id::request_id) — `X-Request-Id` taken (if
//!    sane) or generated, a tracing span carrying it around the request,
//!    the header on the response;
//! 2. [`http_metrics`](observe::http_metrics) — request count and latency
//!    by method, route pattern and status;
//! 3. [`error_shape`](error::error_shape) — every error response in its
//!    API's shape: `/api/v3` gets Binance's `{"code","msg"}`, the rest
//!    `{"error":{"code","message"}}`; 5xx never leak detail;
//! 4. [`security_headers`](security::security_headers) — nosniff, frame
//!    deny, no-referrer, CSP on HTML, HSTS when TLS;
//! 5. CORS from the configured allow-list ([`security::cors_layer`]);
//! 6. [`client_ip`](extract::client_ip) — the [`ClientIp`] (trusting
//!    `X-Forwarded-For` only from configured proxies);
//! 7. [`ip_rate_limit`](rate_limit::ip_rate_limit) — request weight per IP,
//!    429/418, `X-MBX-USED-WEIGHT-1M` (when a limiter is given);
//! 8. a global concurrency limit with load shedding (503, -1008);
//! 9. a per-request [`timeout`](limits::timeout) (503, -1007);
//! 10. the body size limit (413) and a panic catcher (500).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use flowex_http::{ApiError, HealthChecks, HttpConfig, Params, RateLimiter, RateLimitState, Costs};
//!
//! async fn depth(params: Params) -> Result<String, ApiError> {
//!     let symbol = params.required("symbol")?;
//!     let limit: u32 = params.parse_optional("limit")?.unwrap_or(100);
//!     if symbol != "BTCUSDT" {
//!         return Err(ApiError::invalid_symbol());
//!     }
//!     Ok(format!("{symbol} {limit}"))
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let config = flowex_config::Config::load(None).expect("config");
//! let metrics = flowex_http::install_prometheus().expect("recorder");
//! let app = Router::new()
//!     .route("/api/v3/depth", get(depth))
//!     .merge(flowex_http::health_router(HealthChecks::new().check("db", || async { Ok(()) })))
//!     .merge(flowex_http::metrics_router(metrics));
//! let limiter = RateLimitState::new(RateLimiter::in_memory(&config.rate_limits), Costs::binance_spot());
//! let app = flowex_http::stack(app, &HttpConfig::from(&config), Some(limiter)).expect("stack");
//! let listener = tokio::net::TcpListener::bind((config.server.bind, config.server.port)).await?;
//! flowex_http::serve(listener, app, flowex_http::ConnectionLimits::public(&config.server), std::future::pending()).await
//! # }
//! ```
//!
//! User-level rate limits (per user / API key, order counts) need the
//! caller's identity, so they run after authentication: the auth
//! middleware inserts a [`RateLimitKey`] into the request extensions and
//! the service adds [`user_rate_limit`] *inside* it:
//!
//! ```ignore
//! let v3 = Router::new()
//!     .route("/api/v3/order", post(new_order))
//!     .layer(axum::middleware::from_fn_with_state(limits.clone(), flowex_http::user_rate_limit))
//!     .layer(auth_layer); // outer: runs first, inserts RateLimitKey
//! ```
//!
//! Handlers return [`ApiError`] (constructors for every Binance code
//! FlowEx uses, verbatim texts, see [`error`]) and read Binance parameters
//! with [`Params`] / [`TypedParams`], which keep the raw query and body for
//! signature checks.

#![warn(missing_docs)]

pub mod clock;
pub mod connections;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod listen_key;
pub mod markets;
pub mod observe;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod security;
mod serve;
pub mod session;
pub mod trace_context;

/// The read buffer of every WebSocket connection (market streams, user
/// data, the WebSocket API). Clients send small control messages and
/// requests; tungstenite's default, 128 KiB allocated when a connection
/// opens, was most of a connection's memory (136 KB resident per
/// connection with 10,000 clients, `flowex bench ws`). Longer messages are
/// still read whole, over several reads.
pub const WS_READ_BUFFER: usize = 4 * 1024;

pub use connections::{fit_under_open_file_limit, ConnectionLimits, Refusal};
pub use credentials::{ApiKeyGrant, Credentials};
pub use error::{error_shape, not_found, ApiError, ApiFamily, KeepBody};
pub use extract::{client_ip, ClientIp, Params, TrustedProxies, TypedParams};
pub use identity::{
    internal_channel, strip_internal_headers, Identity, InternalToken, MaybeIdentity, Via,
};
pub use observe::{
    health_router, http_metrics, install_prometheus, metrics_handler, metrics_router, HealthChecks,
};
pub use rate_limit::{
    ip_rate_limit, user_rate_limit, Cost, Costs, MemoryStore, OrderCounts, RateLimitKey,
    RateLimitState, RateLimitStore, RateLimiter, RateLimits,
};
pub use request_id::{request_id, RequestId};
pub use security::{cors_layer, security_headers, SecurityHeaders};
pub use serve::{serve, shutdown_signal};
pub use session::{parse_session_id, SessionDirectory, SessionStatus};

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

/// The HTTP settings of [`stack`] (usually `HttpConfig::from(&config)`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body in bytes (413 past it).
    pub body_limit_bytes: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Requests handled at once; more get 503.
    pub max_concurrent_requests: usize,
    /// Served over TLS: send HSTS.
    pub tls: bool,
    /// CSP for HTML responses (empty: none).
    pub csp: String,
    /// CORS allow-list.
    pub cors_origins: Vec<String>,
    /// CORS credentials.
    pub cors_allow_credentials: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig::from(&flowex_config::Config::default())
    }
}

impl From<&flowex_config::Config> for HttpConfig {
    fn from(c: &flowex_config::Config) -> Self {
        HttpConfig {
            body_limit_bytes: c.server.body_limit_bytes,
            request_timeout: c.request_timeout(),
            max_concurrent_requests: c.server.max_concurrent_requests,
            tls: c.server.tls,
            csp: c.server.csp.clone(),
            cors_origins: c.cors.allowed_origins.clone(),
            cors_allow_credentials: c.cors.allow_credentials,
            trusted_proxies: c.server.trusted_proxies.clone(),
        }
    }
}

/// Why [`stack`] refused a configuration.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Bad CORS settings.
    #[error(transparent)]
    Cors(#[from] security::CorsError),
    /// The CSP is not a valid header value.
    #[error("server.csp is not a valid header value")]
    Csp,
}

/// TRACE (and the old TRACK) echo the request, credentials included, and
/// no route offers them: 405 before any route, credential or rate check
/// sees the request.
async fn refuse_trace(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.method() == http::Method::TRACE || req.method().as_str() == "TRACK" {
        return axum::response::IntoResponse::into_response(ApiError::method_not_allowed());
    }
    next.run(req).await
}

/// Wraps a service's router in the shared layers (see the crate docs for
/// the order). `rate_limit`: the per-IP limiter, `None` to skip it (e.g.
/// an internal service behind the gateway).
pub fn stack<S>(
    router: Router<S>,
    config: &HttpConfig,
    rate_limit: Option<RateLimitState>,
) -> Result<Router<S>, StackError>
where
    S: Clone + Send + Sync + 'static,
{
    let csp = if config.csp.is_empty() {
        None
    } else {
        Some(HeaderValue::from_str(&config.csp).map_err(|_| StackError::Csp)?)
    };
    let security = Arc::new(SecurityHeaders {
        csp,
        hsts: config.tls,
    });
    let cors = cors_layer(&config.cors_origins, config.cors_allow_credentials)?;
    let trusted = TrustedProxies(Arc::new(config.trusted_proxies.clone()));
    let concurrency = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(limits::overloaded))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.max_concurrent_requests.max(1),
        ));

    // Layers added later wrap the earlier ones: this reads inside-out.
    let mut router = router
        .layer(CatchPanicLayer::custom(limits::panic_response))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(from_fn_with_state(config.request_timeout, limits::timeout))
        .layer(concurrency);
    if let Some(state) = rate_limit {
        router = router.layer(from_fn_with_state(state, ip_rate_limit));
    }
    Ok(router
        .layer(from_fn(refuse_trace))
        .layer(from_fn_with_state(trusted, client_ip))
        .layer(cors)
        .layer(from_fn_with_state(security, security_headers))
        .layer(from_fn(error_shape))
        .layer(from_fn(http_metrics))
        .layer(from_fn(request_id))
        .layer(axum::middleware::map_response(close_after_unread_body)))
}

/// A 413 is answered before the body is read, so the rest of the body is
/// still on the wire: the connection cannot carry another request. Saying
/// so keeps keep-alive clients from sending their next request into it.
async fn close_after_unread_body(mut res: axum::response::Response) -> axum::response::Response {
    if res.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        res.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    res
}
