//! Binance-style rate limits: request weight per minute per IP and per
//! user/API key, new-order counts per 10 seconds and per day, 429 with
//! `Retry-After` past a limit, 418 (a ban until the window ends) for an IP
//! that keeps going.
//!
//! Counting lives behind [`RateLimitStore`]: [`MemoryStore`] for embedded
//! mode (bounded, evicting), a Redis store for distributed mode (so limits
//! hold across gateway replicas) can implement the same three operations
//! with `INCRBY` + `PEXPIREAT` on `key:window_start` and `SET key until
//! PXAT until`.
//!
//! Wiring:
//! - [`ip_rate_limit`] runs early (before authentication): it computes the
//!   request's [`Cost`] from the [`Costs`] route table, refuses banned IPs
//!   and IPs over their weight, and sets `X-MBX-USED-WEIGHT-1M` on every
//!   response.
//! - [`user_rate_limit`] runs after authentication: if the auth layer put a
//!   [`RateLimitKey`] in the request extensions, it charges the user's
//!   weight and, for order routes, the order counters, and sets
//!   `X-MBX-ORDER-COUNT-10S` / `-1D`.
//!
//! Windows are fixed (aligned to the minute, the 10 s, the UTC day).
//! If the store fails (Redis down), requests are let through and the
//! failure is logged and counted: rate limiting protects the service, it
//! must not take it down.

use crate::error::ApiError;
use crate::extract::ClientIp;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// `x-mbx-used-weight-1m`.
pub const USED_WEIGHT_1M: HeaderName = HeaderName::from_static("x-mbx-used-weight-1m");
/// `x-mbx-order-count-10s`.
pub const ORDER_COUNT_10S: HeaderName = HeaderName::from_static("x-mbx-order-count-10s");
/// `x-mbx-order-count-1d`.
pub const ORDER_COUNT_1D: HeaderName = HeaderName::from_static("x-mbx-order-count-1d");

const MINUTE_MS: u64 = 60_000;
const TEN_S_MS: u64 = 10_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// A boxed, sendable future (the store trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One counter to increment in a fixed window.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    /// The counter's key, e.g. `w1m:ip:1.2.3.4`.
    pub key: &'a str,
    /// How much to add.
    pub amount: u64,
    /// Window length; windows start at multiples of it (Unix time).
    pub window_ms: u64,
}

/// A counter's value after an increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Total in the current window, this increment included.
    pub total: u64,
    /// When the window ends (Unix ms).
    pub window_end_ms: u64,
}

/// The store failed (e.g. Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("rate limit store: {0}")]
pub struct StoreError(pub String);

/// Where counters and bans live. Implementations must be safe to share
/// between all requests and, for Redis, between processes.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Adds to each counter in its current fixed window (starting a new
    /// window when the old one has ended) and returns the new totals, in
    /// order.
    fn increment<'a>(
        &'a self,
        counters: &'a [Counter<'a>],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Count>, StoreError>>;

    /// Bans `key` until `until_ms`.
    fn ban<'a>(
        &'a self,
        key: &'a str,
        until_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// If `key` is banned at `now_ms`, until when.
    fn banned_until<'a>(
        &'a self,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
}

/// In-memory store for embedded mode.
///
/// Memory is bounded: at most `max_keys` counters and bans are tracked
/// (split over shards). A full shard first drops expired windows; if it is
/// still full, the new key is not tracked (counted as if alone in its
/// window) and `flowex_rate_limit_untracked_total` is incremented, so an
/// attacker spraying addresses cannot grow memory or evict the limits of
/// keys already tracked.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    counters: HashMap<String, Slot>,
    bans: HashMap<String, u64>,
    last_sweep_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    window_end_ms: u64,
    total: u64,
}

const SHARDS: usize = 16;

impl MemoryStore {
    /// A store tracking at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        // FNV-1a: the shard choice need not be secret, only spread.
        let mut x: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            x = (x ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        &self.shards[(x as usize) % SHARDS]
    }

    /// Number of tracked keys (counters + bans), for tests and metrics.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.counters.len() + s.bans.len()
            })
            .sum()
    }

    /// Nothing tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shard {
    fn has_room(&mut self, per_shard: usize, now_ms: u64) -> bool {
        if self.counters.len() + self.bans.len() < per_shard {
            return true;
        }
        // Sweep at most once per second when full, so a flood of new keys
        // cannot make every request O(n).
        if now_ms >= self.last_sweep_ms + 1000 {
            self.last_sweep_ms = now_ms;
            self.counters.retain(|_, s| s.window_end_ms > now_ms);
            self.bans.retain(|_, until| *until > now_ms);
        }
        self.counters.len() + self.bans.len() < per_shard
    }
}

fn untracked() {
    metrics::counter!("flowex_rate_limit_untracked_total").increment(1);
}

impl RateLimitStore for MemoryStore {
    fn increment<'a>(
        &'a self,
        counters: &'a [Counter<'a>],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Count>, StoreError>> {
        let out = counters
            .iter()
            .map(|c| {
                let window_end_ms = (now_ms / c.window_ms + 1) * c.window_ms;
                let mut shard = self.shard(c.key).lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = shard.counters.get_mut(c.key) {
                    if slot.window_end_ms <= now_ms {
                        *slot = Slot {
                            window_end_ms,
                            total: 0,
                        };
                    }
                    slot.total = slot.total.saturating_add(c.amount);
                    return Count {
                        total: slot.total,
                        window_end_ms: slot.window_end_ms,
                    };
                }
                if shard.has_room(self.per_shard, now_ms) {
                    shard.counters.insert(
                        c.key.to_string(),
                        Slot {
                            window_end_ms,
                            total: c.amount,
                        },
                    );
                } else {
                    untracked();
                }
                Count {
                    total: c.amount,
                    window_end_ms,
                }
            })
            .collect();
        Box::pin(std::future::ready(Ok(out)))
    }

    fn ban<'a>(
        &'a self,
        key: &'a str,
        until_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.bans.contains_key(key) || shard.has_room(self.per_shard, now_ms) {
            shard.bans.insert(key.to_string(), until_ms);
        } else {
            untracked();
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn banned_until<'a>(
        &'a self,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let until = shard.bans.get(key).copied().filter(|u| *u > now_ms);
        Box::pin(std::future::ready(Ok(until)))
    }
}

/// The limits (from `rate_limits` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Request weight per IP per minute.
    pub ip_weight_per_minute: u64,
    /// Request weight per user/API key per minute.
    pub user_weight_per_minute: u64,
    /// New orders per user per 10 seconds.
    pub orders_per_10s: u64,
    /// New orders per user per UTC day.
    pub orders_per_day: u64,
    /// Requests an IP may send in a window after its first 429 before it
    /// is banned (418) until the window ends.
    pub ban_threshold: u64,
    /// Registrations per IP per hour.
    pub registrations_per_ip_per_hour: u64,
    /// Faucet claims per IP per hour.
    pub faucet_claims_per_ip_per_hour: u64,
}

impl From<&flowex_config::RateLimitConfig> for RateLimits {
    fn from(c: &flowex_config::RateLimitConfig) -> Self {
        RateLimits {
            ip_weight_per_minute: c.ip_weight_per_minute,
            user_weight_per_minute: c.user_weight_per_minute,
            orders_per_10s: c.orders_per_10s,
            orders_per_day: c.orders_per_day,
            ban_threshold: c.ban_threshold,
            registrations_per_ip_per_hour: c.registrations_per_ip_per_hour,
            faucet_claims_per_ip_per_hour: c.faucet_claims_per_ip_per_hour,
        }
    }
}

/// What a request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Request weight (0: not counted, no header).
    pub weight: u64,
    /// Whether it places a new order (counts against the order limits).
    pub order: bool,
    /// An hourly per-IP allowance the request also draws on.
    pub quota: Option<Quota>,
}

impl Cost {
    /// A request of this weight.
    pub const fn weight(weight: u64) -> Self {
        Cost {
            weight,
            order: false,
            quota: None,
        }
    }
    /// A new-order request of this weight.
    pub const fn order(weight: u64) -> Self {
        Cost {
            weight,
            order: true,
            quota: None,
        }
    }
    /// This cost, also counted against `quota`.
    pub const fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }
}

/// Requests an address may make only so many times an hour, whatever
/// their weight: each one creates something (an account, demo funds), so
/// a burst from one address is abuse even when well under the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `POST /api/v1/auth/register`.
    Registrations,
    /// `POST /api/v1/wallet/faucet` (embedded mode's demo funds).
    FaucetClaims,
}

impl Quota {
    fn key(self) -> &'static str {
        match self {
            Quota::Registrations => "register",
            Quota::FaucetClaims => "faucet",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Quota::Registrations => "registrations",
            Quota::FaucetClaims => "faucet claims",
        }
    }

    fn limit(self, limits: &RateLimits) -> u64 {
        match self {
            Quota::Registrations => limits.registrations_per_ip_per_hour,
            Quota::FaucetClaims => limits.faucet_claims_per_ip_per_hour,
        }
    }
}

type CostFn = Arc<dyn Fn(&crate::extract::Params) -> Cost + Send + Sync>;

#[derive(Clone)]
enum Rule {
    Fixed(Cost),
    Dynamic(CostFn),
}

/// The route table of costs: `(method, exact path)` → cost, with a default
/// for every other request.
#[derive(Clone)]
pub struct Costs {
    default: Cost,
    routes: HashMap<(Method, String), Rule>,
}

impl std::fmt::Debug for Costs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Costs")
            .field("default", &self.default)
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// Binance's depth weight by `limit`: ≤100 → 5, ≤500 → 25, ≤1000 → 50,
/// more → 250 (default limit 100).
pub fn depth_weight(limit: Option<u64>) -> u64 {
    match limit.unwrap_or(100) {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

impl Costs {
    /// A table where unlisted requests cost `default_weight`.
    pub fn new(default_weight: u64) -> Self {
        Costs {
            default: Cost::weight(default_weight),
            routes: HashMap::new(),
        }
    }

    /// Sets a fixed cost for `method path`.
    pub fn route(mut self, method: Method, path: &str, cost: Cost) -> Self {
        self.routes
            .insert((method, path.to_string()), Rule::Fixed(cost));
        self
    }

    /// Sets a cost computed from the request's parameters (query string
    /// only; the body is not read here).
    pub fn dynamic(
        mut self,
        method: Method,
        path: &str,
        f: impl Fn(&crate::extract::Params) -> Cost + Send + Sync + 'static,
    ) -> Self {
        self.routes
            .insert((method, path.to_string()), Rule::Dynamic(Arc::new(f)));
        self
    }

    /// Binance's published weights for the `/api/v3` endpoints FlowEx
    /// serves; everything else costs 1.
    pub fn binance_spot() -> Self {
        let sym = |heavy: u64| {
            move |p: &crate::extract::Params| {
                let with_symbol = p.pairs().iter().any(|(k, _)| k == "symbol");
                Cost::weight(if with_symbol { 2 } else { heavy })
            }
        };
        Costs::new(1)
            .route(Method::GET, "/api/v3/ping", Cost::weight(1))
            .route(Method::GET, "/api/v3/time", Cost::weight(1))
            .route(Method::GET, "/api/v3/exchangeInfo", Cost::weight(20))
            .dynamic(Method::GET, "/api/v3/depth", |p| {
                let limit = p
                    .pairs()
                    .iter()
                    .find(|(k, _)| k == "limit")
                    .and_then(|(_, v)| v.parse().ok());
                Cost::weight(depth_weight(limit))
            })
            .route(Method::GET, "/api/v3/trades", Cost::weight(25))
            .route(Method::GET, "/api/v3/historicalTrades", Cost::weight(25))
            .route(Method::GET, "/api/v3/aggTrades", Cost::weight(4))
            .route(Method::GET, "/api/v3/klines", Cost::weight(2))
            .route(Method::GET, "/api/v3/uiKlines", Cost::weight(2))
            .route(Method::GET, "/api/v3/avgPrice", Cost::weight(2))
            .dynamic(Method::GET, "/api/v3/ticker/24hr", sym(80))
            .dynamic(Method::GET, "/api/v3/ticker/price", sym(4))
            .dynamic(Method::GET, "/api/v3/ticker/bookTicker", sym(4))
            .route(Method::POST, "/api/v3/order", Cost::order(1))
            .route(Method::POST, "/api/v3/order/test", Cost::weight(1))
            .route(Method::GET, "/api/v3/order", Cost::weight(4))
            .route(Method::DELETE, "/api/v3/order", Cost::weight(1))
            .route(Method::DELETE, "/api/v3/openOrders", Cost::weight(1))
            .dynamic(Method::GET, "/api/v3/openOrders", |p| {
                let with_symbol = p.pairs().iter().any(|(k, _)| k == "symbol");
                Cost::weight(if with_symbol { 6 } else { 80 })
            })
            .route(Method::GET, "/api/v3/allOrders", Cost::weight(20))
            .route(Method::GET, "/api/v3/myTrades", Cost::weight(20))
            .route(Method::GET, "/api/v3/account", Cost::weight(20))
            .route(Method::POST, "/api/v3/userDataStream", Cost::weight(2))
            .route(Method::PUT, "/api/v3/userDataStream", Cost::weight(2))
            .route(Method::DELETE, "/api/v3/userDataStream", Cost::weight(2))
            .route(
                Method::POST,
                "/api/v1/auth/register",
                Cost::weight(1).with_quota(Quota::Registrations),
            )
            .route(
                Method::POST,
                "/api/v1/wallet/faucet",
                Cost::weight(1).with_quota(Quota::FaucetClaims),
            )
            .route(Method::GET, "/health/live", Cost::weight(0))
            .route(Method::GET, "/health/ready", Cost::weight(0))
            .route(Method::GET, "/metrics", Cost::weight(0))
    }

    /// The cost of a request.
    pub fn cost(&self, method: &Method, path: &str, query: Option<&str>) -> Cost {
        match self.routes.get(&(method.clone(), path.to_string())) {
            Some(Rule::Fixed(c)) => *c,
            Some(Rule::Dynamic(f)) => {
                match crate::extract::Params::parse(query.unwrap_or(""), bytes::Bytes::new(), false)
                {
                    Ok(p) => f(&p),
                    // Malformed parameters: the handler will refuse the
                    // request; charge the default.
                    Err(_) => self.default,
                }
            }
            None => self.default,
        }
    }
}

/// The identity the user-level limits count against (a user id or API
/// key id). The authentication layer inserts it into the request
/// extensions; [`user_rate_limit`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitKey(pub String);

/// The cost [`ip_rate_limit`] computed, left in the request extensions.
#[derive(Debug, Clone, Copy)]
pub struct RequestCost(pub Cost);

/// Order counters after a new order was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders in the current 10 s window.
    pub last_10s: u64,
    /// Orders in the current UTC day.
    pub today: u64,
}

/// The limiter: a store, the limits and a clock.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    limits: RateLimits,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .finish()
    }
}

use crate::clock::now_ms;

fn secs_until(end_ms: u64, now_ms: u64) -> u64 {
    end_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

fn store_failed(e: StoreError) {
    tracing::warn!(error = %e, "rate limit store failed; request allowed");
    metrics::counter!("flowex_rate_limit_store_errors_total").increment(1);
}

impl RateLimiter {
    /// A limiter over `store` with the wall clock.
    pub fn new(store: Arc<dyn RateLimitStore>, limits: RateLimits) -> Self {
        RateLimiter {
            store,
            limits,
            clock: Arc::new(now_ms),
        }
    }

    /// The in-memory limiter of embedded mode.
    pub fn in_memory(config: &flowex_config::RateLimitConfig) -> Self {
        Self::new(
            Arc::new(MemoryStore::new(config.max_tracked_keys)),
            config.into(),
        )
    }

    /// Replaces the clock (Unix ms), for tests.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The limits.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Adds `amount` to one counter; `None` (logged and counted) when the
    /// store fails, and the request is let through.
    async fn count_one(&self, key: &str, amount: u64, window_ms: u64, now: u64) -> Option<Count> {
        let counter = Counter {
            key,
            amount,
            window_ms,
        };
        match self.store.increment(&[counter], now).await {
            Ok(c) => c.first().copied(),
            Err(e) => {
                store_failed(e);
                None
            }
        }
    }

    /// Draws one from `ip`'s hourly `quota`; `Err` is the 429 to answer.
    /// A failing store lets the request through, as for weight.
    pub async fn check_quota(&self, ip: std::net::IpAddr, quota: Quota) -> Result<(), ApiError> {
        let now = (self.clock)();
        let key = format!("h1:{}:ip:{ip}", quota.key());
        let Some(count) = self.count_one(&key, 1, HOUR_MS, now).await else {
            return Ok(());
        };
        let limit = quota.limit(&self.limits);
        if count.total <= limit {
            return Ok(());
        }
        metrics::counter!("flowex_rate_limit_rejections_total", "limit" => quota.key())
            .increment(1);
        Err(ApiError::quota_exceeded(
            quota.what(),
            ip,
            limit,
            secs_until(count.window_end_ms, now),
        ))
    }

    /// Charges `weight` to an IP. `Ok(used)` is the IP's weight in the
    /// current minute; `Err` is the 429 or 418 to answer, with the used
    /// weight.
    pub async fn check_ip(
        &self,
        ip: std::net::IpAddr,
        weight: u64,
    ) -> Result<u64, (ApiError, u64)> {
        let now = (self.clock)();
        let ban_key = format!("ban:ip:{ip}");
        match self.store.banned_until(&ban_key, now).await {
            Ok(Some(until)) => {
                return Err((ApiError::ip_banned(until, secs_until(until, now)), 0));
            }
            Ok(None) => {}
            Err(e) => {
                store_failed(e);
                return Ok(0);
            }
        }
        let key = format!("w1m:ip:{ip}");
        let Some(count) = self.count_one(&key, weight, MINUTE_MS, now).await else {
            return Ok(0);
        };
        if count.total <= self.limits.ip_weight_per_minute {
            return Ok(count.total);
        }
        // Over the limit: count the refusal; past the threshold, ban.
        let rej_key = format!("rej:ip:{ip}");
        let rejections = self
            .store
            .increment(
                &[Counter {
                    key: &rej_key,
                    amount: 1,
                    window_ms: MINUTE_MS,
                }],
                now,
            )
            .await
            .map(|c| c[0].total)
            .unwrap_or(0);
        let retry = secs_until(count.window_end_ms, now);
        if rejections > self.limits.ban_threshold {
            if let Err(e) = self.store.ban(&ban_key, count.window_end_ms, now).await {
                store_failed(e);
            }
            metrics::counter!("flowex_rate_limit_bans_total").increment(1);
            tracing::warn!(%ip, until_ms = count.window_end_ms, "IP banned for ignoring 429s");
            return Err((ApiError::ip_banned(count.window_end_ms, retry), count.total));
        }
        metrics::counter!("flowex_rate_limited_total", "scope" => "ip").increment(1);
        Err((
            ApiError::too_much_ip_weight(ip, self.limits.ip_weight_per_minute, retry),
            count.total,
        ))
    }

    /// Charges a user/API key: `weight`, and one new order if `order`.
    /// `Ok` carries the order counts for order requests.
    pub async fn check_user(
        &self,
        key: &str,
        weight: u64,
        order: bool,
    ) -> Result<Option<OrderCounts>, ApiError> {
        let now = (self.clock)();
        let wkey = format!("w1m:user:{key}");
        let okey10 = format!("o10s:user:{key}");
        let okey1d = format!("o1d:user:{key}");
        let mut counters = vec![Counter {
            key: &wkey,
            amount: weight,
            window_ms: MINUTE_MS,
        }];
        if order {
            counters.push(Counter {
                key: &okey10,
                amount: 1,
                window_ms: TEN_S_MS,
            });
            counters.push(Counter {
                key: &okey1d,
                amount: 1,
                window_ms: DAY_MS,
            });
        }
        let counts = match self.store.increment(&counters, now).await {
            Ok(c) => c,
            Err(e) => {
                store_failed(e);
                return Ok(None);
            }
        };
        let l = &self.limits;
        if counts[0].total > l.user_weight_per_minute {
            metrics::counter!("flowex_rate_limited_total", "scope" => "user").increment(1);
            return Err(ApiError::too_much_weight(
                l.user_weight_per_minute,
                "1 MINUTE",
                secs_until(counts[0].window_end_ms, now),
            ));
        }
        if !order {
            return Ok(None);
        }
        let (c10, c1d) = (counts[1], counts[2]);
        if c10.total > l.orders_per_10s {
            metrics::counter!("flowex_rate_limited_total", "scope" => "orders").increment(1);
            return Err(ApiError::too_many_orders(
                l.orders_per_10s,
                "10 SECOND",
                secs_until(c10.window_end_ms, now),
            ));
        }
        if c1d.total > l.orders_per_day {
            metrics::counter!("flowex_rate_limited_total", "scope" => "orders").increment(1);
            return Err(ApiError::too_many_orders(
                l.orders_per_day,
                "1 DAY",
                secs_until(c1d.window_end_ms, now),
            ));
        }
        Ok(Some(OrderCounts {
            last_10s: c10.total,
            today: c1d.total,
        }))
    }
}

/// State of the rate-limit middlewares.
#[derive(Clone, Debug)]
pub struct RateLimitState {
    /// The limiter.
    pub limiter: RateLimiter,
    /// The route table.
    pub costs: Arc<Costs>,
}

impl RateLimitState {
    /// A state from a limiter and a cost table.
    pub fn new(limiter: RateLimiter, costs: Costs) -> Self {
        RateLimitState {
            limiter,
            costs: Arc::new(costs),
        }
    }
}

/// Middleware: the per-IP part (see the module docs). Needs [`ClientIp`]
/// in the request extensions (the [`crate::extract::client_ip`]
/// middleware); without it the request is not limited.
pub async fn ip_rate_limit(
    State(state): State<RateLimitState>,
    mut req: Request,
    next: Next,
) -> Response {
    let cost = state
        .costs
        .cost(req.method(), req.uri().path(), req.uri().query());
    req.extensions_mut().insert(RequestCost(cost));
    let ip = req.extensions().get::<ClientIp>().copied();
    let (Some(ClientIp(ip)), true) = (ip, cost.weight > 0) else {
        return next.run(req).await;
    };
    match state.limiter.check_ip(ip, cost.weight).await {
        Ok(used) => {
            let quota = match cost.quota {
                Some(q) => state.limiter.check_quota(ip, q).await,
                None => Ok(()),
            };
            let mut res = match quota {
                Ok(()) => next.run(req).await,
                Err(e) => e.into_response(),
            };
            res.headers_mut()
                .insert(USED_WEIGHT_1M, HeaderValue::from(used));
            res
        }
        Err((err, used)) => {
            let mut res = err.into_response();
            if used > 0 {
                res.headers_mut()
                    .insert(USED_WEIGHT_1M, HeaderValue::from(used));
            }
            res
        }
    }
}

/// Middleware: the per-user part (see the module docs). Place it inside
/// (after) the authentication middleware that inserts [`RateLimitKey`].
pub async fn user_rate_limit(
    State(state): State<RateLimitState>,
    req: Request,
    next: Next,
) -> Response {
    let key = req.extensions().get::<RateLimitKey>().cloned();
    let cost = req
        .extensions()
        .get::<RequestCost>()
        .map(|c| c.0)
        .unwrap_or_else(|| {
            state
                .costs
                .cost(req.method(), req.uri().path(), req.uri().query())
        });
    let Some(RateLimitKey(key)) = key else {
        return next.run(req).await;
    };
    if cost.weight == 0 && !cost.order {
        return next.run(req).await;
    }
    match state
        .limiter
        .check_user(&key, cost.weight, cost.order)
        .await
    {
        Ok(counts) => {
            let mut res = next.run(req).await;
            if let Some(c) = counts {
                res.headers_mut()
                    .insert(ORDER_COUNT_10S, HeaderValue::from(c.last_10s));
                res.headers_mut()
                    .insert(ORDER_COUNT_1D, HeaderValue::from(c.today));
            }
            res
        }
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_weights() {
        assert_eq!(depth_weight(None), 5);
        assert_eq!(depth_weight(Some(100)), 5);
        assert_eq!(depth_weight(Some(101)), 25);
        assert_eq!(depth_weight(Some(500)), 25);
        assert_eq!(depth_weight(Some(1000)), 50);
        assert_eq!(depth_weight(Some(5000)), 250);
        let c = Costs::binance_spot();
        assert_eq!(
            c.cost(
                &Method::GET,
                "/api/v3/depth",
                Some("symbol=BTCUSDT&limit=1000")
            )
            .weight,
            50
        );
        assert_eq!(c.cost(&Method::GET, "/api/v3/depth", None).weight, 5);
        assert!(c.cost(&Method::POST, "/api/v3/order", None).order);
        assert_eq!(c.cost(&Method::GET, "/api/v3/ticker/24hr", None).weight, 80);
        assert_eq!(
            c.cost(&Method::GET, "/api/v3/ticker/24hr", Some("symbol=X"))
                .weight,
            2
        );
        assert_eq!(c.cost(&Method::GET, "/nope", None).weight, 1);
    }

    #[tokio::test]
    async fn memory_store_windows_and_bound() {
        let s = MemoryStore::new(32);
        let c = |k: &'static str| Counter {
            key: k,
            amount: 3,
            window_ms: 1000,
        };
        assert_eq!(s.increment(&[c("a")], 500).await.unwrap()[0].total, 3);
        assert_eq!(s.increment(&[c("a")], 900).await.unwrap()[0].total, 6);
        let n = s.increment(&[c("a")], 1000).await.unwrap()[0];
        assert_eq!(
            n,
            Count {
                total: 3,
                window_end_ms: 2000
            }
        );
        // Fill far past the bound: memory stays bounded.
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        for k in &keys {
            let counter = [Counter {
                key: k,
                amount: 1,
                window_ms: 1000,
            }];
            s.increment(&counter, 1500).await.unwrap();
        }
        assert!(s.len() <= 32, "{}", s.len());
        // Once the windows have ended, new keys get room again.
        let counter = [Counter {
            key: "late",
            amount: 1,
            window_ms: 1000,
        }];
        assert_eq!(s.increment(&counter, 5000).await.unwrap()[0].total, 1);
        assert_eq!(
            s.increment(&counter, 5001).await.unwrap()[0].total,
            2,
            "tracked"
        );
        assert!(s.len() <= 32);
        s.ban("b", 9000, 5000).await.unwrap();
        assert_eq!(s.banned_until("b", 5000).await.unwrap(), Some(9000));
        assert_eq!(s.banned_until("b", 9000).await.unwrap(), None);
    }
}
