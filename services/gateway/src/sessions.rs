//! Where the gateway learns whether a Bearer token's session still holds
//! (see [`flowex_http::session`] for why it asks on every request).
//!
//! In one process the auth service answers directly, uncached
//! ([`crate::embedded`]). In distributed mode [`HttpKeyDirectory`] asks the
//! auth service over the internal channel:
//!
//! ```text
//! GET {auth}/internal/sessions/{id}
//! X-FlowEx-Internal-Token: …
//!
//! 200 {"user_id":7,"live":true,"role":"user"}
//! 404 (no such session)
//! ```
//!
//! behind a [`SessionCache`] that keeps each answer for
//! [`SessionCacheConfig::ttl`] (5 s by default). The auth service publishes
//! every revocation on Redis pub/sub and each replica drops the answer at
//! once ([`crate::invalidation`]); the TTL is the bound on how long a
//! logged-out or revoked session keeps working on a replica that cannot
//! hear them (Redis unreachable).

use crate::directory::HttpKeyDirectory;
use crate::proxy::upstream_uri;
use bytes::Bytes;
use flowex_http::session::BoxFuture;
use flowex_http::{ApiError, SessionDirectory, SessionStatus};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings of [`SessionCache`].
#[derive(Debug, Clone, Copy)]
pub struct SessionCacheConfig {
    /// How long an answer is trusted (default 5 s): a revoked session
    /// works for at most this long on a gateway replica.
    pub ttl: Duration,
    /// Most sessions kept (default 100 000).
    pub max_entries: usize,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        SessionCacheConfig {
            ttl: Duration::from_secs(5),
            max_entries: 100_000,
        }
    }
}

type Entry = (Instant, Option<SessionStatus>);

/// A bounded TTL cache in front of another [`SessionDirectory`]. Both
/// answers are cached (an ended session never comes back); errors are not.
pub struct SessionCache {
    inner: Arc<dyn SessionDirectory>,
    config: SessionCacheConfig,
    entries: Mutex<HashMap<u64, Entry>>,
    /// Moved by every invalidation: a lookup in flight across one is
    /// answered but not cached.
    generation: AtomicU64,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    /// Caches `inner`.
    pub fn new(inner: Arc<dyn SessionDirectory>, config: SessionCacheConfig) -> Self {
        SessionCache {
            inner,
            config,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets one session's answer (logout, revoked: [`crate::invalidation`]).
    pub fn invalidate_session(&self, session_id: u64) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(&session_id);
    }

    /// Forgets the answers about `user_id`'s sessions (all revoked, a
    /// password or role changed).
    pub fn invalidate_user(&self, user_id: u64) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, (_, status)| status.is_none_or(|s| s.user_id != user_id));
    }

    /// Forgets every answer (invalidations may have been missed).
    pub fn clear(&self) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    fn cached(&self, id: u64) -> Option<Option<SessionStatus>> {
        let map = self.lock();
        let (at, status) = map.get(&id)?;
        (at.elapsed() < self.config.ttl).then_some(*status)
    }

    fn store(&self, id: u64, generation: u64, status: Option<SessionStatus>) {
        let now = Instant::now();
        let mut map = self.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= self.config.max_entries {
            map.retain(|_, (at, _)| now.duration_since(*at) < self.config.ttl);
            if map.len() >= self.config.max_entries {
                // Full of live entries: start over rather than scan for the oldest.
                map.clear();
            }
        }
        if self.config.max_entries > 0 {
            map.insert(id, (now, status));
        }
    }
}

impl SessionDirectory for SessionCache {
    fn session(&self, id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>> {
        Box::pin(async move {
            if let Some(hit) = self.cached(id) {
                return Ok(hit);
            }
            let generation = self.generation.load(Ordering::Acquire);
            let found = self.inner.session(id).await?;
            self.store(id, generation, found);
            Ok(found)
        })
    }
}

/// An in-memory directory: tests and demos.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<u64, SessionStatus>>,
}

impl MemorySessions {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a session.
    pub fn insert(&self, session_id: u64, status: SessionStatus) {
        self.lock().insert(session_id, status);
    }

    /// Ends a session (as a logout would).
    pub fn end(&self, session_id: u64) {
        if let Some(s) = self.lock().get_mut(&session_id) {
            s.live = false;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SessionStatus>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionDirectory for MemorySessions {
    fn session(&self, id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>> {
        let found = self.lock().get(&id).copied();
        Box::pin(std::future::ready(Ok(found)))
    }
}

impl SessionDirectory for HttpKeyDirectory {
    fn session(&self, id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>> {
        Box::pin(async move {
            // The auth service's answer to a service it cannot reach: 503,
            // -1008 on `/api/v3` (not -1000 "unknown"), `Retry-After`.
            let unavailable = |why: String| {
                crate::proxy::service_unavailable(Duration::from_secs(1))
                    .with_detail(format!("session lookup: {why}"))
            };
            let uri = upstream_uri(&self.base, &format!("/internal/sessions/{id}"))
                .map_err(|e| unavailable(e.to_string()))?;
            let mut req = Request::get(uri)
                .body(Full::new(Bytes::new()))
                .map_err(|e| unavailable(e.to_string()))?;
            self.token.stamp(req.headers_mut(), None);
            let res = tokio::time::timeout(self.timeout, self.client.request(req))
                .await
                .map_err(|_| unavailable("auth service timed out".into()))?
                .map_err(|e| unavailable(e.to_string()))?;
            let status = res.status();
            let body = tokio::time::timeout(self.timeout, res.into_body().collect())
                .await
                .map_err(|_| unavailable("auth service timed out".into()))?
                .map_err(|e| unavailable(e.to_string()))?
                .to_bytes();
            match status {
                StatusCode::OK => serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|e| unavailable(format!("bad answer: {e}"))),
                StatusCode::NOT_FOUND => Ok(None),
                s => Err(unavailable(format!("auth service answered {s}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_auth::Role;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A directory whose one session can be ended, counting lookups.
    struct One {
        live: AtomicBool,
        calls: AtomicUsize,
    }

    impl SessionDirectory for One {
        fn session(&self, id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let status = (id == 1).then(|| SessionStatus {
                user_id: 7,
                live: self.live.load(Ordering::SeqCst),
                role: Role::User,
            });
            Box::pin(std::future::ready(Ok(status)))
        }
    }

    #[tokio::test]
    async fn answers_are_kept_for_the_ttl_only() {
        let inner = Arc::new(One {
            live: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
        });
        let cache = SessionCache::new(
            inner.clone(),
            SessionCacheConfig {
                ttl: Duration::from_millis(200),
                max_entries: 2,
            },
        );
        assert!(cache.session(1).await.unwrap().unwrap().live);
        inner.live.store(false, Ordering::SeqCst);
        assert!(cache.session(1).await.unwrap().unwrap().live, "cached");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!cache.session(1).await.unwrap().unwrap().live, "expired");
        assert!(cache.session(2).await.unwrap().is_none());
        cache.session(3).await.unwrap();
        assert!(cache.lock().len() <= 2, "bounded");
    }

    #[tokio::test]
    async fn invalidations_drop_the_answers_they_name() {
        let inner = Arc::new(One {
            live: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
        });
        let cache = SessionCache::new(inner.clone(), SessionCacheConfig::default());
        let calls = || inner.calls.load(Ordering::SeqCst);
        assert!(cache.session(1).await.unwrap().unwrap().live);
        inner.live.store(false, Ordering::SeqCst);
        cache.invalidate_session(2);
        assert!(
            cache.session(1).await.unwrap().unwrap().live,
            "another session"
        );
        cache.invalidate_user(8);
        assert!(
            cache.session(1).await.unwrap().unwrap().live,
            "another user"
        );
        assert_eq!(calls(), 1);
        cache.invalidate_session(1);
        assert!(
            !cache.session(1).await.unwrap().unwrap().live,
            "asked again"
        );
        inner.live.store(true, Ordering::SeqCst);
        cache.invalidate_user(7);
        assert!(cache.session(1).await.unwrap().unwrap().live, "asked again");
        cache.clear();
        assert!(cache.lock().is_empty());
        assert_eq!(calls(), 3);
    }
}
