//! The auth service's settings.

use std::time::Duration;

use flowex_auth::jwt::MAX_ACCESS_TTL;

/// Brute-force limits on logins (and on every other place a password or a
/// 2FA code is checked). They target the attacker, not the account: an
/// address that keeps failing at one account, or at many, is cooled off;
/// the account's owner elsewhere (or with a valid 2FA code) is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts from one address at one account within `window`
    /// before that address is cooled off for that account.
    pub address_account_failures: u32,
    /// Failed attempts from one address, any accounts, within `window`
    /// before the address is cooled off for every account.
    pub ip_failures: u32,
    /// The sliding window failures are remembered in.
    pub window: Duration,
    /// The first cooling-off period, after the last counted failure; each
    /// further failure past the limit doubles it.
    pub cooldown: Duration,
    /// The longest cooling-off period.
    pub max_cooldown: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            address_account_failures: 5,
            ip_failures: 20,
            window: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(3600),
        }
    }
}

impl LockoutPolicy {
    /// How long attempts are refused after the last of `failures` failures
    /// (0 below `threshold`): `cooldown`, doubled for each failure past
    /// the threshold, at most `max_cooldown`.
    pub fn wait_after(&self, failures: u64, threshold: u32) -> Duration {
        let Some(past) = failures.checked_sub(u64::from(threshold)) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(past.min(31) as u32).unwrap_or(u32::MAX);
        self.cooldown
            .checked_mul(factor)
            .unwrap_or(self.max_cooldown)
            .min(self.max_cooldown)
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
    /// Live sessions per user: a login past it ends the oldest ones.
    pub max_sessions_per_user: usize,
    /// Brute-force limits.
    pub lockout: LockoutPolicy,
    /// Issuer shown by authenticator apps (`otpauth://totp/FlowEx:…`).
    pub totp_issuer: String,
    /// Live API keys per user (Binance allows 30).
    pub max_api_keys_per_user: usize,
    /// Argon2id hashes computed at once (each takes 19 MiB and a core for
    /// tens of milliseconds); further logins wait for a permit.
    pub hash_concurrency: usize,
    /// Password rotation: a login with an older password must set a new
    /// one. `None`: off (`auth.password_max_age_days = 0`, the default).
    pub password_max_age: Option<Duration>,
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
            max_sessions_per_user: c.jwt.max_sessions_per_user as usize,
            lockout: LockoutPolicy::default(),
            totp_issuer: "FlowEx".into(),
            max_api_keys_per_user: 30,
            hash_concurrency: cores.max(2),
            password_max_age: (c.auth.password_max_age_days > 0)
                .then(|| Duration::from_secs(u64::from(c.auth.password_max_age_days) * 86_400)),
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
        if l.address_account_failures == 0 || l.ip_failures == 0 {
            return bad("lockout thresholds must be at least 1");
        }
        if l.cooldown.as_millis() == 0 || l.max_cooldown < l.cooldown || l.window < l.max_cooldown {
            return bad("lockout cooldown must be positive, max_cooldown at least cooldown, window at least max_cooldown");
        }
        if self.totp_issuer.is_empty() || self.totp_issuer.contains(':') {
            return bad("totp_issuer must be non-empty and contain no ':'");
        }
        if self.max_sessions_per_user == 0 {
            return bad("max_sessions_per_user must be at least 1");
        }
        if self.hash_concurrency == 0 {
            return bad("hash_concurrency must be at least 1");
        }
        Ok(())
    }
}
