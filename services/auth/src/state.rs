//! [`AuthState`]: what every handler shares.

use std::sync::Arc;

use anyhow::Context as _;
use flowex_auth::{JwtKeys, SecretBox, Verifier};
use flowex_http::ApiError;
use flowex_store::Store;
use tokio::sync::Semaphore;

use crate::config::{AuthConfig, InvalidAuthConfig};

/// The auth service's state: the store, the signing key, the box that
/// seals API-key and TOTP secrets, the settings, a bound on concurrent
/// Argon2id computations and the clock. Cheap to clone.
#[derive(Clone)]
pub struct AuthState {
    store: Store,
    jwt: JwtKeys,
    secret_box: Arc<SecretBox>,
    cfg: Arc<AuthConfig>,
    hash_permits: Arc<Semaphore>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("store", &self.store)
            .field("kid", &self.jwt.kid())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

use flowex_http::clock::now_ms_i64 as system_clock_ms;

impl AuthState {
    /// A state over a migrated `store`, with the system clock.
    pub fn new(
        store: Store,
        jwt: JwtKeys,
        secret_box: SecretBox,
        cfg: AuthConfig,
    ) -> Result<AuthState, InvalidAuthConfig> {
        cfg.validate()?;
        Ok(AuthState {
            store,
            jwt,
            secret_box: Arc::new(secret_box),
            hash_permits: Arc::new(Semaphore::new(cfg.hash_concurrency)),
            cfg: Arc::new(cfg),
            clock: Arc::new(system_clock_ms),
        })
    }

    /// Replaces the clock (milliseconds since the Unix epoch). Tests move
    /// time forward through lockout windows and TOTP steps with it. Access
    /// tokens are stamped with this clock too, while verifiers use the
    /// system clock: keep a test clock within a few seconds of real time
    /// when tokens issued under it are verified.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> AuthState {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens `config.database_url` as every service does
    /// ([`flowex_service::process::open_store`]: migrated, with its metrics
    /// sampler) and takes the keys from `secrets` (see [`crate::load_secrets`]).
    pub async fn from_config(
        config: &flowex_config::Config,
        secrets: &flowex_config::Secrets,
    ) -> anyhow::Result<AuthState> {
        let pem = std::str::from_utf8(secrets.require_jwt_private_key()?)
            .context("the JWT private key must be PKCS#8 PEM text")?;
        let jwt = JwtKeys::from_pem(pem).context("reading the JWT private key")?;
        let secret_box = SecretBox::new(secrets.require_secret_box_key()?);
        let store = flowex_service::process::open_store(config).await?;
        Ok(AuthState::new(
            store,
            jwt,
            secret_box,
            AuthConfig::from(config),
        )?)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signing key.
    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// A verifier for the access tokens this service issues.
    pub fn verifier(&self) -> Verifier {
        self.jwt.verifier(&self.cfg.issuer, &self.cfg.audience)
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// Now, in milliseconds since the Unix epoch, by the state's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn secret_box(&self) -> &SecretBox {
        &self.secret_box
    }

    /// Argon2id hash of `password`, on a blocking thread, at most
    /// `hash_concurrency` at once.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        let permit = self
            .hash_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("hash semaphore closed"))?;
        let password = flowex_auth::Secret::new(password.to_string());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            flowex_auth::hash_password(password.expose())
        })
        .await
        .map_err(|e| ApiError::internal(format!("hash task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("hashing failed: {e}")))
    }

    /// Checks `password` against `phc`; with `None` (no such account)
    /// spends the same time and answers `false`.
    pub(crate) async fn verify_password(
        &self,
        password: &str,
        phc: Option<String>,
    ) -> Result<bool, ApiError> {
        let permit = self
            .hash_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("hash semaphore closed"))?;
        let password = flowex_auth::Secret::new(password.to_string());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match phc {
                Some(phc) => flowex_auth::verify_password(password.expose(), &phc),
                None => flowex_auth::password::verify_dummy(password.expose()),
            }
        })
        .await
        .map_err(|e| ApiError::internal(format!("verify task failed: {e}")))
    }
}
