//! Brute-force limits: failed password and 2FA attempts counted per
//! account (the lower-cased e-mail, whether or not it exists) and per
//! client IP over a sliding window; past a threshold, attempts are refused
//! with 429 `too_many_attempts` until the cooling-off period after the last
//! counted failure has passed. Refused attempts are not counted (so an
//! attacker cannot extend a lock forever) and cost no password hash.
//!
//! An attempt is charged to the account *before* the password or code is
//! checked ([`begin`]) and the charge is cleared when it succeeds
//! ([`succeeded`]): a burst of concurrent guesses can therefore not get
//! more than the limit through while the first ones are still being
//! checked. The IP is charged only for real failures ([`failed`]), so that
//! many people behind one address who log in successfully never lock it.
//! An attempt that ends without success or failure (`totp_required`,
//! `account_frozen`) keeps its account charge.

use flowex_http::ApiError;
use flowex_store::{AuditOutcome, FailureScope};
use serde_json::json;

use crate::audit::{self, action};
use crate::error;
use crate::extract::RequestMeta;
use crate::state::AuthState;
use flowex_kit::StoreResultExt;

/// Longest account key stored (the longest valid e-mail address).
const MAX_KEY: usize = 254;

pub(crate) fn account_key(email: &str) -> String {
    flowex_store::normalize_email(email)
        .chars()
        .take(MAX_KEY)
        .collect()
}

/// A lock in force.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lock {
    pub scope: FailureScope,
    pub retry_after_secs: u64,
}

/// The lock in force on the account or the IP, if any (the longer one).
pub(crate) async fn current_lock(
    state: &AuthState,
    account: Option<&str>,
    ip: Option<&str>,
) -> Result<Option<Lock>, ApiError> {
    let policy = &state.config().lockout;
    let now = state.now_ms();
    let since = now - policy.window.as_millis() as i64;
    let cooldown = policy.cooldown.as_millis() as i64;
    let mut lock: Option<Lock> = None;
    let scopes = [
        (FailureScope::Account, account, policy.account_failures),
        (FailureScope::Ip, ip, policy.ip_failures),
    ];
    for (scope, key, threshold) in scopes {
        let Some(key) = key else { continue };
        let stats = state
            .store()
            .login_failures(scope, key, since)
            .await
            .or_api()?;
        if stats.count < u64::from(threshold) {
            continue;
        }
        let until = stats.last_at.unwrap_or(now) + cooldown;
        if now < until {
            let secs = ((until - now) as u64).div_ceil(1000).max(1);
            if lock.is_none_or(|l| l.retry_after_secs < secs) {
                lock = Some(Lock {
                    scope,
                    retry_after_secs: secs,
                });
            }
        }
    }
    Ok(lock)
}

/// Refuses the attempt (429, audited under `action_name`) if the account
/// or the IP is locked; otherwise charges the account one attempt.
pub(crate) async fn begin(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
    action_name: &str,
) -> Result<(), ApiError> {
    let ip = meta.ip_string();
    let lock = current_lock(state, Some(account), ip.as_deref()).await?;
    let lock = match lock {
        Some(lock) => Some(lock),
        None => {
            let now = state.now_ms();
            state
                .store()
                .record_login_failure(Some(account), None, now)
                .await
                .or_api()?;
            // Concurrent attempts may have charged the account meanwhile:
            // beyond the limit, this one is refused too.
            let policy = &state.config().lockout;
            let since = now - policy.window.as_millis() as i64;
            let stats = state
                .store()
                .login_failures(FailureScope::Account, account, since)
                .await
                .or_api()?;
            (stats.count > u64::from(policy.account_failures)).then(|| Lock {
                scope: FailureScope::Account,
                retry_after_secs: policy.cooldown.as_secs().max(1),
            })
        }
    };
    if let Some(lock) = lock {
        audit::record(
            state,
            meta,
            user_id,
            action_name,
            user_id.map(|u| format!("user:{u}")),
            AuditOutcome::Denied,
            json!({ "reason": "locked_out", "scope": lock.scope.as_str(),
                    "retry_after": lock.retry_after_secs }),
        )
        .await;
        return Err(error::too_many_attempts(lock.retry_after_secs));
    }
    Ok(())
}

/// The attempt [`begin`] charged failed: counts it under the IP too, and
/// writes an `auth.lockout` row when a threshold is reached.
pub(crate) async fn failed(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
) -> Result<(), ApiError> {
    let now = state.now_ms();
    let ip = meta.ip_string();
    if ip.is_some() {
        state
            .store()
            .record_login_failure(None, ip.as_deref(), now)
            .await
            .or_api()?;
    }
    let policy = &state.config().lockout;
    let since = now - policy.window.as_millis() as i64;
    let scopes = [
        (
            FailureScope::Account,
            Some(account),
            policy.account_failures,
        ),
        (FailureScope::Ip, ip.as_deref(), policy.ip_failures),
    ];
    for (scope, key, threshold) in scopes {
        let Some(key) = key else { continue };
        let stats = state
            .store()
            .login_failures(scope, key, since)
            .await
            .or_api()?;
        if stats.count == u64::from(threshold) {
            flowex_metrics::login("lockout");
            tracing::warn!(
                scope = scope.as_str(),
                user_id,
                failures = stats.count,
                "too many failed attempts: cooling off"
            );
            audit::record(
                state,
                meta,
                user_id,
                action::LOCKOUT,
                user_id.map(|u| format!("user:{u}")),
                AuditOutcome::Denied,
                json!({ "scope": scope.as_str(), "failures": stats.count,
                        "cooldown_secs": policy.cooldown.as_secs() }),
            )
            .await;
        }
    }
    Ok(())
}

/// The attempt succeeded: forget the account's failures (not the IP's).
pub(crate) async fn succeeded(state: &AuthState, account: &str) -> Result<(), ApiError> {
    state
        .store()
        .clear_login_failures(FailureScope::Account, account)
        .await
        .or_api()?;
    Ok(())
}
