//! Distributed mode: forwarding a request to the service that owns its
//! path, with timeouts and a circuit breaker per service.

use crate::routes::{self, Upstream};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flowex_http::{ApiError, ClientIp, Identity, InternalToken, KeepBody, RequestId};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The pooled HTTP/1 client the gateway talks to services with.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client with a connect timeout and TCP_NODELAY.
pub fn http_client(connect_timeout: Duration) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        // Below the services' header-read timeout (validated), which also
        // closes idle connections: the pool never reuses one being closed.
        .pool_idle_timeout(Duration::from_secs(flowex_config::GATEWAY_POOL_IDLE_SECS))
        .build(connector)
}

/// `base`'s scheme and authority with `path_and_query`.
pub fn upstream_uri(base: &Uri, path_and_query: &str) -> Result<Uri, http::Error> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = base.scheme().cloned();
    parts.authority = base.authority().cloned();
    parts.path_and_query = Some(path_and_query.parse()?);
    Ok(Uri::from_parts(parts)?)
}

/// Timeouts and circuit-breaker settings of the upstream calls.
#[derive(Debug, Clone, Copy)]
pub struct ProxyConfig {
    /// TCP connect timeout (default 1 s).
    pub connect_timeout: Duration,
    /// Time for a service to send its response head (default 9 s: below
    /// the stack's request timeout, so the caller gets the gateway's
    /// -1007 rather than the stack's).
    pub request_timeout: Duration,
    /// Consecutive failures (connect errors, timeouts, 502/503/504) that
    /// open a service's circuit (default 5).
    pub failures_to_open: u32,
    /// How long an open circuit answers 503 at once before letting one
    /// probe request through (default 10 s).
    pub open_for: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(9),
            failures_to_open: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

/// The services' base URLs and the internal channel's token.
#[derive(Clone)]
pub struct Upstreams {
    /// Auth service (`http://auth:8081`).
    pub auth: Uri,
    /// Trading service.
    pub trading: Uri,
    /// Market-data service.
    pub market_data: Uri,
    /// Wallet service.
    pub wallet: Uri,
    /// The shared internal token stamped on every forwarded request.
    pub token: InternalToken,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("auth", &self.auth)
            .field("trading", &self.trading)
            .field("market_data", &self.market_data)
            .field("wallet", &self.wallet)
            .finish()
    }
}

impl Upstreams {
    /// The base URL of a service.
    pub fn base(&self, u: Upstream) -> &Uri {
        match u {
            Upstream::Auth => &self.auth,
            Upstream::Trading => &self.trading,
            Upstream::MarketData => &self.market_data,
            Upstream::Wallet => &self.wallet,
        }
    }
}

// ---------------------------------------------------------------- breaker

/// A circuit breaker: closed → (N consecutive failures) → open for T →
/// half-open: one probe goes through; its success closes the circuit, its
/// failure opens it again for T.
#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    failures_to_open: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// Leave to send one request through a [`Breaker`]; report the outcome
/// with [`Permit::success`] or [`Permit::failure`]. Dropped unreported (the
/// caller went away), a probe counts as a failure.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// The request succeeded.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.on_success();
    }
    /// The request failed (connection refused, timeout, 502/503/504).
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.on_failure(self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            self.breaker.on_failure(true);
        }
    }
}

impl Breaker {
    /// A closed breaker.
    pub fn new(name: &'static str, failures_to_open: u32, open_for: Duration) -> Self {
        Breaker {
            name,
            failures_to_open: failures_to_open.max(1),
            open_for,
            state: Mutex::new(BreakerState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A permit, or how long the circuit stays open.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Duration> {
        let mut s = self.lock();
        let probe = match s.open_until {
            None => false,
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                if s.probing {
                    return Err(Duration::from_secs(1));
                }
                s.probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    /// Whether the circuit is open (or half-open) now.
    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }

    fn on_success(&self) {
        let mut s = self.lock();
        if s.open_until.is_some() {
            tracing::info!(upstream = self.name, "circuit closed: service answered");
        }
        *s = BreakerState::default();
        metrics::gauge!("flowex_gateway_circuit_open", "upstream" => self.name).set(0.0);
    }

    fn on_failure(&self, probe: bool) {
        let mut s = self.lock();
        if probe {
            s.probing = false;
            s.open_until = Some(Instant::now() + self.open_for);
            tracing::warn!(upstream = self.name, "circuit re-opened: probe failed");
            return;
        }
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        if s.open_until.is_none() && s.consecutive_failures >= self.failures_to_open {
            s.open_until = Some(Instant::now() + self.open_for);
            metrics::gauge!("flowex_gateway_circuit_open", "upstream" => self.name).set(1.0);
            tracing::warn!(
                upstream = self.name,
                failures = s.consecutive_failures,
                open_for_ms = self.open_for.as_millis() as u64,
                "circuit opened"
            );
        }
    }
}

// ---------------------------------------------------------------- proxy

/// The forwarding state of distributed mode.
pub struct Proxy {
    client: HttpClient,
    upstreams: Upstreams,
    breakers: [Breaker; 4],
    request_timeout: Duration,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstreams", &self.upstreams)
            .finish()
    }
}

impl Proxy {
    /// A proxy to `upstreams`.
    pub fn new(config: &ProxyConfig, upstreams: Upstreams) -> Self {
        let breaker =
            |u: Upstream| Breaker::new(u.name(), config.failures_to_open, config.open_for);
        Proxy {
            client: http_client(config.connect_timeout),
            upstreams,
            breakers: Upstream::ALL.map(breaker),
            request_timeout: config.request_timeout,
        }
    }

    /// The breaker of a service.
    pub fn breaker(&self, u: Upstream) -> &Breaker {
        &self.breakers[u.index()]
    }

    /// The shared client (readiness checks use it too).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The services.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }
}

/// 503 while a service is unreachable or its circuit is open.
pub fn service_unavailable(retry_after: Duration) -> ApiError {
    ApiError::binance(
        StatusCode::SERVICE_UNAVAILABLE,
        -1008,
        "service_unavailable",
        "Service unavailable. Please try again later.",
    )
    .native_message("The service is temporarily unavailable; try again shortly.")
    .with_retry_after(retry_after.as_secs().max(1))
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Forwards a request to the service of its path (see
/// [`routes::UPSTREAMS`]); `None` when no service owns the path.
pub async fn forward(proxy: &Proxy, req: Request) -> Option<Response> {
    let upstream = routes::upstream(req.uri().path())?;
    Some(forward_to(proxy, upstream, req).await)
}

/// Handler form of [`forward`] for paths known to belong to a service.
pub async fn forward_handler(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    match forward(&proxy, req).await {
        Some(res) => res,
        None => ApiError::not_found().into_response(),
    }
}

pub(crate) async fn forward_to(proxy: &Proxy, upstream: Upstream, mut req: Request) -> Response {
    let breaker = proxy.breaker(upstream);
    let permit = match breaker.try_acquire() {
        Ok(p) => p,
        Err(wait) => {
            metrics::counter!("flowex_gateway_upstream_rejected_total", "upstream" => upstream.name())
                .increment(1);
            return service_unavailable(wait)
                .with_detail(format!("circuit of {} is open", upstream.name()))
                .into_response();
        }
    };
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let out = match outbound(proxy, upstream, req, upgrade).await {
        Ok(out) => out,
        Err(refused) => return refused,
    };
    let name = upstream.name();
    let result = match send(proxy, permit, name, out).await {
        Ok(res) => res,
        Err(refused) => return refused,
    };
    if result.status() == StatusCode::SWITCHING_PROTOCOLS {
        return match client_upgrade {
            Some(client) => switch_protocols(result, client),
            None => {
                ApiError::internal(format!("{name} switched protocols unasked")).into_response()
            }
        };
    }
    let (mut parts, body) = result.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let mut res = Response::from_parts(parts, Body::new(body));
    // The service ran the same error mapping: keep its body as it is.
    res.extensions_mut().insert(KeepBody);
    res
}

/// The request to `upstream`: same method, path, query and body bytes,
/// headers as [`forward_headers`] makes them.
async fn outbound(
    proxy: &Proxy,
    upstream: Upstream,
    req: Request,
    upgrade: bool,
) -> Result<http::Request<Full<Bytes>>, Response> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let uri = upstream_uri(proxy.upstreams.base(upstream), &path_and_query)
        .map_err(|e| ApiError::internal(format!("upstream URI: {e}")).into_response())?;
    let (parts, body) = req.into_parts();
    // The auth middleware has already read the body within the limit.
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
        ApiError::invalid_data()
            .with_detail(e.to_string())
            .into_response()
    })?;
    let headers = forward_headers(proxy, &parts, upgrade, body.len());
    let mut out = http::Request::new(Full::new(body));
    *out.method_mut() = parts.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The client's headers without hop-by-hop ones (but a WebSocket
/// upgrade's), with the peer appended to `X-Forwarded-For`, the request id,
/// and the internal token and identity stamped.
fn forward_headers(
    proxy: &Proxy,
    parts: &http::request::Parts,
    upgrade: bool,
    body_len: usize,
) -> HeaderMap {
    let mut headers = parts.headers.clone();
    let upgrade_value = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    if let (true, Some(v)) = (upgrade, upgrade_value) {
        headers.insert(header::UPGRADE, v);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if body_len > 0 || !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| parts.extensions.get::<ClientIp>().map(|c| c.0));
    if let Some(peer) = peer {
        let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(id) = parts.extensions.get::<RequestId>() {
        if let Ok(v) = HeaderValue::from_str(id.as_str()) {
            headers.insert(flowex_http::request_id::REQUEST_ID, v);
        }
    }
    proxy
        .upstreams
        .token
        .stamp(&mut headers, parts.extensions.get::<Identity>());
    headers
}

/// Sends `out` within the request timeout and tells the breaker how it
/// went: a timeout, a connection error or a 502/503/504 is a failure.
async fn send(
    proxy: &Proxy,
    permit: Permit<'_>,
    name: &'static str,
    out: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, Response> {
    let started = Instant::now();
    let sent = tokio::time::timeout(proxy.request_timeout, proxy.client.request(out)).await;
    let result = match sent {
        Err(_) => {
            permit.failure();
            metrics::counter!("flowex_gateway_upstream_errors_total", "upstream" => name, "kind" => "timeout").increment(1);
            return Err(ApiError::timeout()
                .with_detail(format!(
                    "{name} did not answer within {:?}",
                    proxy.request_timeout
                ))
                .into_response());
        }
        Ok(Err(e)) => {
            permit.failure();
            metrics::counter!("flowex_gateway_upstream_errors_total", "upstream" => name, "kind" => "connect").increment(1);
            return Err(service_unavailable(Duration::from_secs(1))
                .with_detail(format!("{name}: {e}"))
                .into_response());
        }
        Ok(Ok(res)) => res,
    };
    if matches!(
        result.status(),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    ) {
        permit.failure();
    } else {
        permit.success();
    }
    metrics::histogram!("flowex_gateway_upstream_duration_seconds", "upstream" => name)
        .record(started.elapsed().as_secs_f64());
    Ok(result)
}

/// Answers 101 to the client and splices the two upgraded connections.
fn switch_protocols(
    mut upstream_res: http::Response<hyper::body::Incoming>,
    client: hyper::upgrade::OnUpgrade,
) -> Response {
    let upstream = hyper::upgrade::on(&mut upstream_res);
    tokio::spawn(async move {
        match tokio::try_join!(client, upstream) {
            Ok((c, u)) => {
                let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
                if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                    tracing::debug!(error = %e, "upgraded connection ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let (parts, _) = upstream_res.into_parts();
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = Breaker::new("t", 2, Duration::from_millis(50));
        b.try_acquire().unwrap().failure();
        assert!(!b.is_open());
        b.try_acquire().unwrap().success();
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
        assert!(b.is_open());
        assert!(b.try_acquire().is_err(), "open: refused at once");
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err(), "one probe at a time");
        probe.failure();
        assert!(b.try_acquire().is_err(), "failed probe re-opens");
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.try_acquire().unwrap();
        drop(probe);
        assert!(
            b.try_acquire().is_err(),
            "abandoned probe counts as failure"
        );
        std::thread::sleep(Duration::from_millis(60));
        b.try_acquire().unwrap().success();
        assert!(!b.is_open());
        b.try_acquire().unwrap().success();
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }
}
