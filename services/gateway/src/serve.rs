//! `flowex serve gateway`: the gateway of distributed mode, forwarding to
//! the services over HTTP.

use crate::{config, proxied, GatewayConfig, HttpKeyDirectory, RedisStore, Upstreams};
use anyhow::Context as _;
use axum::Router;
use flowex_auth::{JwtKeys, Verifier};
use flowex_http::{InternalToken, RateLimiter};
use http::Uri;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// What [`serve_with`] takes besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The OpenAPI document; `None`: `docs/api/openapi.json` from the
    /// working directory if present, else a placeholder.
    pub openapi: Option<serde_json::Value>,
    /// The web UI directory (default [`config::DEFAULT_WEB_DIR`]).
    pub web_dir: Option<PathBuf>,
    /// The Swagger UI assets (default [`config::DEFAULT_DOCS_ASSETS_DIR`]).
    pub docs_assets_dir: Option<PathBuf>,
}

/// `flowex serve gateway`: the distributed gateway on
/// `services.gateway.port`, until Ctrl-C or SIGTERM.
pub async fn serve(config: flowex_config::Config) -> anyhow::Result<()> {
    serve_with(
        config,
        ServeOptions::default(),
        flowex_http::shutdown_signal(),
    )
    .await
}

/// [`serve`] with options and a shutdown future.
pub async fn serve_with(
    config: flowex_config::Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = distributed_router(&config, options)?;
    let addr = (config.server.bind, config.services.gateway.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the gateway to {}:{}", addr.0, addr.1))?;
    tracing::info!(addr = %listener.local_addr()?, mode = ?config.mode, "gateway listening");
    flowex_http::serve(
        listener,
        app,
        flowex_http::ConnectionLimits::public(&config.server),
        shutdown,
    )
    .await?;
    Ok(())
}

/// The rate-limit counters' store in Redis (shared by every gateway
/// replica and trading's WebSocket API).
fn limit_store(url: &str) -> anyhow::Result<RedisStore> {
    Ok(RedisStore::new(
        url,
        "flowex:rl:",
        std::time::Duration::from_millis(250),
    )?)
}

/// The gateway's rate limiter as another service uses it (trading's
/// WebSocket API charges the same counters): Redis when `redis_url` is set,
/// else in memory.
pub fn shared_rate_limiter(config: &flowex_config::Config) -> anyhow::Result<RateLimiter> {
    let limits = (&config.rate_limits).into();
    Ok(match &config.redis_url {
        Some(url) => RateLimiter::new(Arc::new(limit_store(url.expose())?), limits),
        None => RateLimiter::in_memory(&config.rate_limits),
    })
}

/// The router [`serve_with`] serves: secrets, JWT verifier, rate limiter
/// (Redis when `redis_url` is set), key directory and upstreams, all from
/// the configuration.
pub fn distributed_router(
    config: &flowex_config::Config,
    options: ServeOptions,
) -> anyhow::Result<Router> {
    let secrets = config
        .load_secrets(|| {
            JwtKeys::generate()
                .map(|(_, pem)| pem.expose().clone().into_bytes())
                .unwrap_or_default()
        })
        .context("loading the gateway's secrets")?;
    let token = InternalToken::new(secrets.internal_token.expose());
    let verifier = jwt_verifier(config, &secrets)?;
    let mut cfg = GatewayConfig::from_config(config);
    if let Some(url) = &config.redis_url {
        let store = limit_store(url.expose())?;
        let ping = store.clone();
        cfg.health = cfg.health.check("redis", move || {
            let ping = ping.clone();
            async move { ping.ping().await.map_err(|e| e.to_string()) }
        });
        cfg.rate_limiter = RateLimiter::new(Arc::new(store), (&config.rate_limits).into());
    }
    cfg.openapi = match options.openapi {
        Some(doc) => doc,
        None => std::fs::read("docs/api/openapi.json")
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(config::placeholder_openapi),
    };
    if options.web_dir.is_some() {
        cfg.web_dir = options.web_dir;
    }
    if options.docs_assets_dir.is_some() {
        cfg.docs_assets_dir = options.docs_assets_dir;
    }
    let uri = |name: &str, url: &str| -> anyhow::Result<Uri> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("services.{name}.url {url:?}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http") && uri.authority().is_some(),
            "services.{name}.url {url:?}: the gateway reaches services over plain http://host:port (TLS between services is the mesh's job)"
        );
        Ok(uri)
    };
    let s = &config.services;
    let upstreams = Upstreams {
        auth: uri("auth", &s.auth.url)?,
        trading: uri("trading", &s.trading.url)?,
        market_data: uri("market_data", &s.market_data.url)?,
        wallet: uri("wallet", &s.wallet.url)?,
        token: token.clone(),
    };
    let directory =
        HttpKeyDirectory::new(upstreams.auth.clone(), token, cfg.proxy.connect_timeout * 2);
    let caches = invalidated_caches(config)?;
    cfg.invalidations = caches;
    Ok(proxied(cfg, directory, verifier, upstreams)?)
}

/// With `redis_url`: the caches the credential invalidations of Redis
/// pub/sub drop entries from, its subscriber started
/// ([`crate::invalidation`]). Without: `None`, the caches' TTLs only.
fn invalidated_caches(
    config: &flowex_config::Config,
) -> anyhow::Result<Option<crate::invalidation::Caches>> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let caches = crate::invalidation::Caches::new();
    crate::invalidation::spawn_subscriber(url.expose(), caches.clone())?;
    Ok(Some(caches))
}

/// The gateway's authenticator as a service behind it needs it for the
/// WebSocket API (credentials checked inside the protocol): JWT verifier
/// from the configuration, keys and sessions from the auth service over the
/// internal channel, with the gateway's caches and, with `redis_url`, their
/// credential invalidations (a revoked session or a deleted key stops when
/// the auth service's message arrives; within the caches' TTLs if Redis is
/// unreachable). Call on a Tokio runtime.
pub fn remote_credentials(config: &flowex_config::Config) -> anyhow::Result<crate::AuthState> {
    let secrets = config
        .load_secrets(Vec::new)
        .context("loading the secrets the WebSocket API verifies tokens with")?;
    let token = InternalToken::new(secrets.internal_token.expose());
    let verifier = jwt_verifier(config, &secrets)?;
    let cfg = GatewayConfig::from_config(config);
    let auth: Uri = config
        .services
        .auth
        .url
        .parse()
        .with_context(|| format!("services.auth.url {:?}", config.services.auth.url))?;
    let directory = HttpKeyDirectory::new(auth, token, cfg.proxy.connect_timeout * 2);
    let sessions = Arc::new(crate::SessionCache::new(
        Arc::new(directory.clone()),
        cfg.session_cache,
    ));
    let caches = invalidated_caches(config)?;
    if let Some(c) = &caches {
        c.add_sessions(sessions.clone());
    }
    let keys: Arc<dyn crate::KeyDirectory> = if cfg.key_cache.max_entries == 0 {
        Arc::new(directory)
    } else {
        let cached = Arc::new(crate::CachedDirectory::new(
            Arc::new(directory),
            cfg.key_cache,
        ));
        if let Some(c) = &caches {
            c.add_keys(cached.clone());
        }
        cached
    };
    Ok(crate::AuthState::new(verifier, keys, sessions))
}

fn jwt_verifier(
    config: &flowex_config::Config,
    secrets: &flowex_config::Secrets,
) -> anyhow::Result<Verifier> {
    let (iss, aud) = (&config.jwt.issuer, &config.jwt.audience);
    if let Some(pem) = &secrets.jwt_public_key {
        let pem = std::str::from_utf8(pem).context("the JWT public key is not PEM text")?;
        return Ok(Verifier::new(pem, iss, aud)?);
    }
    if let Some(private) = &secrets.jwt_private_key {
        let pem =
            std::str::from_utf8(private.expose()).context("the JWT private key is not PEM text")?;
        return Ok(JwtKeys::from_pem(pem)?.verifier(iss, aud));
    }
    anyhow::bail!(
        "the gateway verifies access tokens and needs the JWT public key: set secrets.jwt_public_key (FLOWEX_JWT_PUBLIC_KEY) or secrets.jwt_public_key_file (FLOWEX_JWT_PUBLIC_KEY_FILE)"
    )
}
