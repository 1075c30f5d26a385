//! Where the gateway finds an API key's owner, permissions, IP allow-list
//! and signing secret.
//!
//! [`KeyDirectory`] is the seam: in one process the auth service hands the
//! gateway an in-process implementation; in distributed mode
//! [`HttpKeyDirectory`] asks the auth service over the internal channel:
//!
//! ```text
//! GET {auth}/internal/api-keys/{api_key}
//! X-FlowEx-Internal-Token: …
//!
//! 200 {"key_id":3,"user_id":7,"role":"user","frozen":false,
//!      "permissions":"READ,TRADE","ip_allow":"10.0.0.0/8,203.0.113.7","secret":"…"}
//! 404 (unknown or deleted key)
//! ```
//!
//! Either way the gateway wraps the directory in a [`CachedDirectory`]: a
//! bounded cache with a short TTL (30 s by default), so a signed request
//! usually costs no round trip. A key deleted or frozen by its owner keeps
//! working for at most the TTL on each gateway replica; a 404 drops the
//! entry at once, and [`CachedDirectory::invalidate`] lets an in-process
//! auth service drop it immediately. In one process the cache also
//! follows an epoch ([`CachedDirectory::with_epoch`], the store's
//! `credentials_epoch`): an entry is trusted only while the epoch it was
//! looked up at is current, so a deleted key or a frozen owner takes
//! effect on the next request.
//!
//! In distributed mode the auth service publishes each credential change on
//! Redis pub/sub and every replica drops the user's entries
//! ([`CachedDirectory::invalidate_user`], [`crate::invalidation`]): a
//! deleted key stops within the message's delivery, the TTL only bounds it
//! while Redis is unreachable.

use crate::error::GatewayError;
use crate::proxy::{upstream_uri, HttpClient};
use bytes::Bytes;
use flowex_auth::{IpAllowList, Permissions, Role, Secret};
use flowex_http::InternalToken;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A boxed, sendable future (keeps [`KeyDirectory`] object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An API key as the gateway needs it.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// The key's id in the store.
    pub key_id: u64,
    /// Its owner.
    pub user_id: u64,
    /// The owner's role.
    pub role: Role,
    /// The owner's account is frozen (requests pass; the services refuse
    /// orders and withdrawals).
    pub frozen: bool,
    /// What the key may do.
    pub permissions: Permissions,
    /// Where it may be used from (empty: anywhere).
    pub ip_allow: IpAllowList,
    /// The HMAC secret (decrypted).
    pub secret: Secret<String>,
}

/// Unknown fields are ignored, so the auth service may add some.
#[derive(Deserialize)]
struct WireRecord {
    key_id: u64,
    user_id: u64,
    role: Role,
    #[serde(default)]
    frozen: bool,
    permissions: Permissions,
    #[serde(default)]
    ip_allow: String,
    secret: String,
}

impl KeyRecord {
    /// Parses the auth service's JSON (see the module docs).
    pub fn from_json(body: &[u8]) -> Result<KeyRecord, GatewayError> {
        let w: WireRecord =
            serde_json::from_slice(body).map_err(|e| GatewayError::InvalidRecord(e.to_string()))?;
        let ip_allow = IpAllowList::parse_csv(&w.ip_allow)
            .map_err(|e| GatewayError::InvalidRecord(e.to_string()))?;
        if w.secret.is_empty() {
            return Err(GatewayError::InvalidRecord("empty secret".into()));
        }
        Ok(KeyRecord {
            key_id: w.key_id,
            user_id: w.user_id,
            role: w.role,
            frozen: w.frozen,
            permissions: w.permissions,
            ip_allow,
            secret: Secret::new(w.secret),
        })
    }
}

/// Looks API keys up. `Ok(None)`: no such key. `Err`: the directory could
/// not answer (the request gets 503, never a silent pass).
pub trait KeyDirectory: Send + Sync + 'static {
    /// The record of `api_key` (already checked to have the API-key format).
    fn lookup<'a>(
        &'a self,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>>;
}

/// An in-memory directory: tests, demos, and a simple in-process adapter.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    keys: RwLock<HashMap<String, KeyRecord>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a key.
    pub fn insert(&self, api_key: &str, record: KeyRecord) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(api_key.to_string(), record);
    }

    /// Removes a key.
    pub fn remove(&self, api_key: &str) {
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(api_key);
    }
}

impl KeyDirectory for MemoryDirectory {
    fn lookup<'a>(
        &'a self,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
        let found = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(api_key)
            .cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// Cache settings.
#[derive(Debug, Clone, Copy)]
pub struct KeyCacheConfig {
    /// How long a looked-up key is trusted (default 30 s).
    pub ttl: Duration,
    /// Most keys kept (default 10 000).
    pub max_entries: usize,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        KeyCacheConfig {
            ttl: Duration::from_secs(30),
            max_entries: 10_000,
        }
    }
}

/// A bounded TTL cache in front of another directory. Only found keys are
/// cached; a miss (404) removes the entry, errors are not cached.
pub struct CachedDirectory {
    inner: Arc<dyn KeyDirectory>,
    config: KeyCacheConfig,
    /// Each entry: when it was looked up, the epoch it was looked up at.
    entries: Mutex<HashMap<String, (Instant, u64, KeyRecord)>>,
    epoch: Option<Epoch>,
    /// Moved by every [`CachedDirectory::invalidate_user`] and
    /// [`CachedDirectory::clear`]: a lookup that was in flight across one
    /// is answered but not cached (it may predate the change).
    generation: AtomicU64,
}

/// Reads a number that changes whenever a cached key may have become stale.
pub type Epoch = Arc<dyn Fn() -> u64 + Send + Sync>;

impl std::fmt::Debug for CachedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDirectory")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish()
    }
}

impl CachedDirectory {
    /// Caches `inner`.
    pub fn new(inner: Arc<dyn KeyDirectory>, config: KeyCacheConfig) -> Self {
        CachedDirectory {
            inner,
            config,
            entries: Mutex::new(HashMap::new()),
            epoch: None,
            generation: AtomicU64::new(0),
        }
    }

    /// Trusts an entry only while `epoch()` still returns the value it had
    /// right before the entry was looked up (besides the TTL).
    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.epoch = Some(epoch);
        self
    }

    fn current_epoch(&self) -> u64 {
        self.epoch.as_ref().map_or(0, |e| e())
    }

    /// Forgets a key (call when it is deleted, its permissions change or
    /// its user is frozen).
    pub fn invalidate(&self, api_key: &str) {
        self.lock().remove(api_key);
    }

    /// Forgets every key of `user_id` (a key deleted, the user frozen or
    /// unfrozen, a role changed: [`crate::invalidation`]), and keeps a
    /// lookup in flight from caching what it finds.
    pub fn invalidate_user(&self, user_id: u64) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, (_, _, rec)| rec.user_id != user_id);
    }

    /// Forgets every key (invalidations may have been missed).
    pub fn clear(&self) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u64, KeyRecord)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, api_key: &str, epoch: u64, generation: u64, record: &KeyRecord) {
        let now = Instant::now();
        let mut map = self.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= self.config.max_entries && !map.contains_key(api_key) {
            map.retain(|_, (at, e, _)| now.duration_since(*at) < self.config.ttl && *e == epoch);
            if map.len() >= self.config.max_entries {
                // Still full of live entries: drop the oldest.
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        if self.config.max_entries > 0 {
            map.insert(api_key.to_string(), (now, epoch, record.clone()));
        }
    }
}

impl KeyDirectory for CachedDirectory {
    fn lookup<'a>(
        &'a self,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
        Box::pin(async move {
            // Read before the lookup: a write that lands during it moves
            // the epoch past what the entry is stamped with.
            let epoch = self.current_epoch();
            let generation = self.generation.load(Ordering::Acquire);
            {
                let map = self.lock();
                if let Some((at, e, rec)) = map.get(api_key) {
                    if *e == epoch && at.elapsed() < self.config.ttl {
                        return Ok(Some(rec.clone()));
                    }
                }
            }
            let found = self.inner.lookup(api_key).await?;
            match &found {
                Some(rec) => self.store(api_key, epoch, generation, rec),
                None => self.invalidate(api_key),
            }
            Ok(found)
        })
    }
}

/// Asks the auth service (`GET /internal/api-keys/{api_key}` with the
/// internal token). Used by [`crate::proxied`].
#[derive(Clone)]
pub struct HttpKeyDirectory {
    pub(crate) base: Uri,
    pub(crate) token: InternalToken,
    pub(crate) client: HttpClient,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for HttpKeyDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpKeyDirectory")
            .field("base", &self.base)
            .finish()
    }
}

impl HttpKeyDirectory {
    /// A directory served by the auth service at `auth_base`
    /// (`http://auth:8081`).
    pub fn new(auth_base: Uri, token: InternalToken, timeout: Duration) -> Self {
        HttpKeyDirectory {
            base: auth_base,
            token,
            client: crate::proxy::http_client(timeout),
            timeout,
        }
    }
}

impl KeyDirectory for HttpKeyDirectory {
    fn lookup<'a>(
        &'a self,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
        Box::pin(async move {
            // The key has the API-key format (64 alphanumerics): safe in a path.
            let uri = upstream_uri(&self.base, &format!("/internal/api-keys/{api_key}"))
                .map_err(|e| GatewayError::Config(format!("auth service URL: {e}")))?;
            let mut req = Request::get(uri)
                .body(Full::new(Bytes::new()))
                .map_err(|e| GatewayError::Directory(e.to_string()))?;
            self.token.stamp(req.headers_mut(), None);
            let res = tokio::time::timeout(self.timeout, self.client.request(req))
                .await
                .map_err(|_| GatewayError::Directory("auth service timed out".into()))?
                .map_err(|e| GatewayError::Directory(format!("auth service: {e}")))?;
            let status = res.status();
            let body = tokio::time::timeout(self.timeout, res.into_body().collect())
                .await
                .map_err(|_| GatewayError::Directory("auth service timed out".into()))?
                .map_err(|e| GatewayError::Directory(format!("auth service: {e}")))?
                .to_bytes();
            match status {
                StatusCode::OK => KeyRecord::from_json(&body).map(Some),
                StatusCode::NOT_FOUND => Ok(None),
                s => Err(GatewayError::Directory(format!(
                    "auth service answered {s} to a key lookup"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counting {
        inner: MemoryDirectory,
        calls: AtomicUsize,
    }

    impl KeyDirectory for Counting {
        fn lookup<'a>(
            &'a self,
            api_key: &'a str,
        ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.lookup(api_key)
        }
    }

    fn record(id: u64) -> KeyRecord {
        KeyRecord {
            key_id: id,
            user_id: 1,
            role: Role::User,
            frozen: false,
            permissions: Permissions::DEFAULT,
            ip_allow: IpAllowList::allow_all(),
            secret: Secret::new("s".into()),
        }
    }

    #[test]
    fn wire_format() {
        let r = KeyRecord::from_json(
            br#"{"key_id":3,"user_id":7,"role":"admin","frozen":true,"permissions":"READ,TRADE","ip_allow":"10.0.0.0/8, 203.0.113.7","secret":"abc"}"#,
        )
        .unwrap();
        assert_eq!(
            (r.key_id, r.user_id, r.role, r.frozen),
            (3, 7, Role::Admin, true)
        );
        assert_eq!(r.permissions, Permissions::DEFAULT);
        assert!(r.ip_allow.allows("10.1.1.1".parse().unwrap()));
        assert!(!r.ip_allow.allows("11.0.0.1".parse().unwrap()));
        assert_eq!(r.secret.expose(), "abc");
        assert!(!format!("{r:?}").contains("abc"), "secret never printed");
        for bad in [
            &br#"{"key_id":3}"#[..],
            br#"{"key_id":3,"user_id":7,"role":"root","permissions":"READ","secret":"x"}"#,
            br#"{"key_id":3,"user_id":7,"role":"user","permissions":"FLY","secret":"x"}"#,
            br#"{"key_id":3,"user_id":7,"role":"user","permissions":"READ","ip_allow":"nope","secret":"x"}"#,
            br#"{"key_id":3,"user_id":7,"role":"user","permissions":"READ","secret":""}"#,
        ] {
            assert!(KeyRecord::from_json(bad).is_err());
        }
    }

    #[tokio::test]
    async fn cache_ttl_bound_and_invalidation() {
        let inner = Arc::new(Counting {
            inner: MemoryDirectory::new(),
            calls: AtomicUsize::new(0),
        });
        inner.inner.insert("a", record(1));
        inner.inner.insert("b", record(2));
        inner.inner.insert("c", record(3));
        let cache = CachedDirectory::new(
            inner.clone(),
            KeyCacheConfig {
                ttl: Duration::from_millis(200),
                max_entries: 2,
            },
        );
        let calls = || inner.calls.load(Ordering::SeqCst);
        assert_eq!(cache.lookup("a").await.unwrap().unwrap().key_id, 1);
        assert_eq!(cache.lookup("a").await.unwrap().unwrap().key_id, 1);
        assert_eq!(calls(), 1, "second lookup from the cache");
        cache.lookup("b").await.unwrap();
        cache.lookup("c").await.unwrap();
        assert_eq!(cache.len(), 2, "bounded");
        // A deleted key: still cached until the TTL, then a 404 drops it.
        inner.inner.remove("c");
        assert!(cache.lookup("c").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(cache.lookup("c").await.unwrap().is_none());
        let before = calls();
        assert!(cache.lookup("c").await.unwrap().is_none());
        assert_eq!(calls(), before + 1, "misses are not cached");
        // Explicit invalidation.
        cache.lookup("a").await.unwrap();
        let before = calls();
        cache.invalidate("a");
        cache.lookup("a").await.unwrap();
        assert_eq!(calls(), before + 1);
    }

    #[tokio::test]
    async fn an_epoch_change_ends_every_entry_at_once() {
        let inner = Arc::new(Counting {
            inner: MemoryDirectory::new(),
            calls: AtomicUsize::new(0),
        });
        inner.inner.insert("a", record(1));
        let epoch = Arc::new(AtomicUsize::new(0));
        let e = epoch.clone();
        let cache = CachedDirectory::new(inner.clone(), KeyCacheConfig::default())
            .with_epoch(Arc::new(move || e.load(Ordering::SeqCst) as u64));
        let calls = || inner.calls.load(Ordering::SeqCst);
        cache.lookup("a").await.unwrap();
        cache.lookup("a").await.unwrap();
        assert_eq!(calls(), 1, "cached while the epoch holds");
        // The key is deleted and the epoch moves: the next lookup asks again.
        inner.inner.remove("a");
        epoch.fetch_add(1, Ordering::SeqCst);
        assert!(cache.lookup("a").await.unwrap().is_none());
        assert_eq!(calls(), 2);
    }

    /// Answers after `release` is notified, so a test can act mid-lookup.
    struct Gated {
        inner: MemoryDirectory,
        release: tokio::sync::Notify,
    }

    impl KeyDirectory for Gated {
        fn lookup<'a>(
            &'a self,
            api_key: &'a str,
        ) -> BoxFuture<'a, Result<Option<KeyRecord>, GatewayError>> {
            Box::pin(async move {
                self.release.notified().await;
                self.inner.lookup(api_key).await
            })
        }
    }

    #[tokio::test]
    async fn a_users_invalidation_drops_their_keys_and_a_lookup_in_flight_is_not_kept() {
        let inner = Arc::new(Counting {
            inner: MemoryDirectory::new(),
            calls: AtomicUsize::new(0),
        });
        let mut other = record(2);
        other.user_id = 2;
        inner.inner.insert("a", record(1));
        inner.inner.insert("b", other);
        let cache = CachedDirectory::new(inner.clone(), KeyCacheConfig::default());
        cache.lookup("a").await.unwrap();
        cache.lookup("b").await.unwrap();
        cache.invalidate_user(1);
        assert_eq!(cache.len(), 1, "user 2's key stays");
        inner.inner.remove("a");
        assert!(
            cache.lookup("a").await.unwrap().is_none(),
            "looked up again"
        );
        cache.clear();
        assert!(cache.is_empty());

        // A lookup that started before an invalidation answers, uncached.
        let gated = Arc::new(Gated {
            inner: MemoryDirectory::new(),
            release: tokio::sync::Notify::new(),
        });
        gated.inner.insert("c", record(3));
        let cache = Arc::new(CachedDirectory::new(
            gated.clone(),
            KeyCacheConfig::default(),
        ));
        let c = cache.clone();
        let pending = tokio::spawn(async move { c.lookup("c").await });
        tokio::task::yield_now().await;
        cache.invalidate_user(1);
        gated.release.notify_one();
        assert!(pending.await.unwrap().unwrap().is_some());
        assert!(cache.is_empty(), "not cached across the invalidation");
    }
}
