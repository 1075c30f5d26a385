//! The auth service's settings.

use std::time::Duration;

use flowex_auth::jwt::MAX_ACCESS_TTL;

/// Brute-force limits on logins (and on every other place a password or a
/// 2FA code is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts per account (e-mail) within `window` before the
    /// account is cooled off.
    pub account_failures: u32,
    /// Failed attempts per client IP within `window` before the IP is
    /// cooled off.
    pub ip_failures: u32,
    /// The sliding window the failures are counted in.
    pub window: Duration,
    /// How long attempts are refused after the last counted failure.
    pub cooldown: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            account_failures: 5,
            ip_failures: 20,
            window: Duration::from_secs(15 * 60),
            cooldown: Duration::from_secs(15 * 60),
        }
    }
}

/// Everything the auth service needs to know besides its keys and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Access token lifetime (1 s to 15 min).
    pub access_ttl: Duration,
    /// Absolute lifetime of a session (refresh-token family): rotation does
    /// not extend it.
    pub refresh_ttl: Duration,
    /// Brute-force limits.
    pub lockout: LockoutPolicy,
    /// Issuer shown by authenticator apps (`otpauth://totp/FlowEx:…`).
    pub totp_issuer: String,
    /// Live API keys per user (Binance allows 30).
    pub max_api_keys_per_user: usize,
    /// Argon2id hashes computed at once (each takes 19 MiB and a core for
    /// tens of milliseconds); further logins wait for a permit.
    pub hash_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig::from(&flowex_config::Config::default())
    }
}

impl From<&flowex_config::Config> for AuthConfig {
    fn from(c: &flowex_config::Config) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AuthConfig {
            issuer: c.jwt.issuer.clone(),
            audience: c.jwt.audience.clone(),
            access_ttl: Duration::from_secs(c.jwt.access_ttl_secs),
            refresh_ttl: Duration::from_secs(c.jwt.refresh_ttl_secs),
            lockout: LockoutPolicy::default(),
            totp_issuer: "FlowEx".into(),
            max_api_keys_per_user: 30,
            hash_concurrency: cores.max(2),
        }
    }
}

/// Why an [`AuthConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAuthConfig(pub String);

impl std::fmt::Display for InvalidAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid auth configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidAuthConfig {}

impl AuthConfig {
    /// Checks the limits the security model relies on.
    pub fn validate(&self) -> Result<(), InvalidAuthConfig> {
        let bad = |m: &str| Err(InvalidAuthConfig(m.to_string()));
        if self.issuer.is_empty() || self.audience.is_empty() {
            return bad("issuer and audience must not be empty");
        }
        if self.access_ttl.as_secs() == 0 || self.access_ttl > MAX_ACCESS_TTL {
            return bad("access_ttl must be between 1 s and 15 min");
        }
        if self.refresh_ttl <= self.access_ttl {
            return bad("refresh_ttl must be longer than access_ttl");
        }
        let l = &self.lockout;
        if l.account_failures == 0 || l.ip_failures == 0 {
            return bad("lockout thresholds must be at least 1");
        }
        if l.window.as_millis() == 0 || l.cooldown.as_millis() == 0 {
            return bad("lockout window and cooldown must be positive");
        }
        if self.totp_issuer.is_empty() || self.totp_issuer.contains(':') {
            return bad("totp_issuer must be non-empty and contain no ':'");
        }
        if self.hash_concurrency == 0 {
            return bad("hash_concurrency must be at least 1");
        }
        Ok(())
    }
}
