//! Credential invalidation across gateway replicas (distributed mode).
//!
//! Each replica caches API keys ([`CachedDirectory`], 30 s by default) and
//! session checks ([`SessionCache`], 5 s). The auth service publishes every
//! credential write (a key deleted, a user frozen or unfrozen, a role or
//! password changed, a session revoked or logged out) on the Redis pub/sub
//! channel [`CHANNEL`], and every replica (and trading's WebSocket API,
//! which uses the same caches) subscribes at start and drops the matching
//! entries on each message:
//!
//! ```text
//! PUBLISH flowex:credentials "user:7"      every cached key and session of user 7
//! PUBLISH flowex:credentials "session:12"  the cached check of session 12
//! PUBLISH flowex:credentials "all"         everything
//! ```
//!
//! So a revoked credential stops within the message's delivery (one Redis
//! round trip), not the TTL. Pub/sub is at most once: a replica that loses
//! its subscription (Redis restarted, connection dropped) may miss
//! messages, so each time it subscribes again it drops every cached key
//! and session first; while it cannot subscribe, the TTLs bound how long a
//! revoked credential keeps working, as before. A lookup in flight across
//! an invalidation is answered but not cached. The format is the auth
//! service's (`flowex_auth_service::invalidation`).

use crate::directory::CachedDirectory;
use crate::error::GatewayError;
use crate::sessions::SessionCache;
use flowex_redis::RedisConnector;
use futures_util::StreamExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Redis pub/sub channel of credential invalidations.
pub const CHANNEL: &str = "flowex:credentials";

/// One message on [`CHANNEL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// Every cached key and session check of this user.
    User(u64),
    /// The cached check of this session.
    Session(u64),
    /// Everything.
    All,
}

impl Invalidation {
    /// Parses `user:N`, `session:N` or `all`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Invalidation> {
        if text == "all" {
            return Some(Invalidation::All);
        }
        let (kind, id) = text.split_once(':')?;
        let id: u64 = id.parse().ok()?;
        match kind {
            "user" => Some(Invalidation::User(id)),
            "session" => Some(Invalidation::Session(id)),
            _ => None,
        }
    }
}

/// The caches a message drops entries from: cheap to clone, shared by the
/// subscriber and whoever builds the caches.
#[derive(Clone, Default)]
pub struct Caches {
    inner: Arc<Mutex<CachesInner>>,
}

#[derive(Default)]
struct CachesInner {
    keys: Vec<Arc<CachedDirectory>>,
    sessions: Vec<Arc<SessionCache>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Caches")
            .field("keys", &inner.keys.len())
            .field("sessions", &inner.sessions.len())
            .finish()
    }
}

impl Caches {
    /// No caches yet.
    pub fn new() -> Caches {
        Caches::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CachesInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a key cache.
    pub fn add_keys(&self, cache: Arc<CachedDirectory>) {
        self.lock().keys.push(cache);
    }

    /// Adds a session cache.
    pub fn add_sessions(&self, cache: Arc<SessionCache>) {
        self.lock().sessions.push(cache);
    }

    /// Drops what `message` names.
    pub fn apply(&self, message: Invalidation) {
        let inner = self.lock();
        match message {
            Invalidation::User(user) => {
                inner.keys.iter().for_each(|c| c.invalidate_user(user));
                inner.sessions.iter().for_each(|c| c.invalidate_user(user));
            }
            Invalidation::Session(id) => {
                inner.sessions.iter().for_each(|c| c.invalidate_session(id));
            }
            Invalidation::All => {
                drop(inner);
                self.clear();
            }
        }
    }

    /// Drops everything cached.
    pub fn clear(&self) {
        let inner = self.lock();
        inner.keys.iter().for_each(|c| c.clear());
        inner.sessions.iter().for_each(|c| c.clear());
    }
}

/// Subscribes to [`CHANNEL`] on `redis_url` (a server or a Sentinel group,
/// [`flowex_redis`]) in a background task (on the
/// current Tokio runtime) for as long as the process runs, applying each
/// message to `caches`; reconnects after a failure (every second),
/// clearing `caches` each time it is subscribed again.
pub fn spawn_subscriber(redis_url: &str, caches: Caches) -> Result<(), GatewayError> {
    let connector = RedisConnector::new(redis_url, Duration::from_secs(2))
        .map_err(|e| GatewayError::Config(format!("redis_url: {e}")))?;
    tokio::spawn(subscribe_forever(connector, caches));
    Ok(())
}

async fn subscribe_forever(connector: RedisConnector, caches: Caches) {
    let mut first = true;
    loop {
        match subscribe(&connector).await {
            Ok(pubsub) => {
                // Messages published while not subscribed are lost.
                caches.clear();
                if !first {
                    flowex_metrics::credential_invalidation("resubscribed");
                    tracing::info!("credential invalidations: subscribed again, caches cleared");
                }
                first = false;
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let text = String::from_utf8_lossy(msg.get_payload_bytes());
                    match Invalidation::parse(&text) {
                        Some(m) => caches.apply(m),
                        // Unknown (a newer format?): safe side.
                        None => caches.clear(),
                    }
                    flowex_metrics::credential_invalidation("received");
                }
                tracing::warn!(
                    "credential invalidations: subscription lost; caches fall back on their TTLs until it is back"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "credential invalidations: cannot subscribe; caches fall back on their TTLs");
            }
        }
        flowex_metrics::redis_error("credential_invalidations");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Subscribed on the server, or on the primary a Sentinel group names now.
async fn subscribe(connector: &RedisConnector) -> redis::RedisResult<redis::aio::PubSub> {
    let timeout = Duration::from_secs(2);
    let client = connector.client().await?;
    let connect = tokio::time::timeout(timeout, client.get_async_pubsub()).await;
    let mut pubsub = connect.map_err(|_| timed_out())??;
    tokio::time::timeout(timeout, pubsub.subscribe(CHANNEL))
        .await
        .map_err(|_| timed_out())??;
    Ok(pubsub)
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "redis timed out",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_format() {
        assert_eq!(Invalidation::parse("user:7"), Some(Invalidation::User(7)));
        assert_eq!(
            Invalidation::parse("session:12"),
            Some(Invalidation::Session(12))
        );
        assert_eq!(Invalidation::parse("all"), Some(Invalidation::All));
        for bad in ["", "user:", "user:x", "key:3", "session:-1", "ALL"] {
            assert_eq!(Invalidation::parse(bad), None, "{bad}");
        }
    }
}
