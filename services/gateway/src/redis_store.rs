//! Rate-limit counters in Redis, so that limits hold across gateway
//! replicas (distributed mode).
//!
//! - A counter of window length `w` at time `t` is the key
//!   `{prefix}{key}:{window_start}` (`window_start = t - t % w`): one
//!   `MULTI` / `INCRBY` / `PEXPIRE (window_end - t + 1 s)` / `EXEC` round trip
//!   for all of a request's counters. A new window is a new key; old ones
//!   expire by themselves.
//! - A ban is `SET {prefix}{key} until_ms PX (until_ms - now)`; checking it
//!   is a `GET`.
//!
//! Windows are aligned to wall-clock multiples, so replicas agree as long
//! as their clocks do (NTP). Every command has a short response timeout
//! (default 250 ms): when Redis is slow or down the store fails and
//! [`flowex_http::RateLimiter`] lets the request through (logged and
//! counted), so Redis trouble degrades limits, never the exchange.

use crate::error::GatewayError;
use flowex_http::rate_limit::{BoxFuture, Count, Counter, StoreError};
use flowex_http::RateLimitStore;
use flowex_redis::{RedisConn, RedisConnector};
use std::sync::Arc;
use std::time::Duration;

/// A [`RateLimitStore`] in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConn,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Every Redis failure of the rate-limit store comes through here: counted
/// once (`flowex_redis_errors_total{component="rate_limits"}`).
fn store_err(e: redis::RedisError) -> StoreError {
    flowex_metrics::redis_error("rate_limits");
    StoreError(e.to_string())
}

impl RedisStore {
    /// A store on `url` (`redis://host:6379/0`, or a Sentinel group:
    /// [`flowex_redis`]) with keys under `prefix`
    /// (e.g. `flowex:rl:`). Connects lazily and reconnects by itself;
    /// `timeout` bounds each command and each connection attempt.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, GatewayError> {
        let connector = RedisConnector::new(url, timeout)
            .map_err(|e| GatewayError::Config(format!("redis_url: {e}")))?;
        let conn = Arc::new(connector).lazy();
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
        })
    }

    /// Round trip to Redis (readiness check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_err)
    }
}

impl RateLimitStore for RedisStore {
    fn increment<'a>(
        &'a self,
        counters: &'a [Counter<'a>],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Count>, StoreError>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut ends = Vec::with_capacity(counters.len());
            for c in counters {
                let window = c.window_ms.max(1);
                let start = now_ms - now_ms % window;
                let end = start + window;
                let key = format!("{}{}:{start}", self.prefix, c.key);
                pipe.cmd("INCRBY").arg(&key).arg(c.amount);
                // Relative expiry: immune to clock skew between us and Redis.
                let ttl = end.saturating_sub(now_ms) + 1000;
                pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
                ends.push(end);
            }
            let mut conn = self.conn.clone();
            let totals: Vec<u64> = pipe.query_async(&mut conn).await.map_err(store_err)?;
            if totals.len() != ends.len() {
                return Err(StoreError(format!(
                    "redis answered {} counters for {}",
                    totals.len(),
                    ends.len()
                )));
            }
            Ok(totals
                .into_iter()
                .zip(ends)
                .map(|(total, window_end_ms)| Count {
                    total,
                    window_end_ms,
                })
                .collect())
        })
    }

    fn ban<'a>(
        &'a self,
        key: &'a str,
        until_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ttl = until_ms.saturating_sub(now_ms).max(1);
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(format!("{}{key}", self.prefix))
                .arg(until_ms)
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut conn)
                .await
                .map_err(store_err)
        })
    }

    fn banned_until<'a>(
        &'a self,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let until: Option<u64> = redis::cmd("GET")
                .arg(format!("{}{key}", self.prefix))
                .query_async(&mut conn)
                .await
                .map_err(store_err)?;
            Ok(until.filter(|u| *u > now_ms))
        })
    }
}
