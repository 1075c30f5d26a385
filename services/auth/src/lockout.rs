//! Brute-force limits: failed password and 2FA attempts counted per
//! account (the lower-cased e-mail, whether or not it exists) and per
//! client IP over a sliding window; past a threshold, attempts are refused
//! with 429 `too_many_attempts` until the cooling-off period after the last
//! counted failure has passed. Refused attempts are not counted (so an
//! attacker cannot extend a lock forever) and cost no password hash.

use flowex_http::ApiError;
use flowex_store::{AuditOutcome, FailureScope};
use serde_json::json;

use crate::audit::{self, action};
use crate::error::{self, StoreResultExt};
use crate::extract::RequestMeta;
use crate::state::AuthState;

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
            .or_500()?;
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
/// or the IP is locked.
pub(crate) async fn guard(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
    action_name: &str,
) -> Result<(), ApiError> {
    let ip = meta.ip_string();
    if let Some(lock) = current_lock(state, Some(account), ip.as_deref()).await? {
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

/// Counts a failed attempt under the account and the IP, and writes an
/// `auth.lockout` row when it is the one that reaches a threshold.
pub(crate) async fn record_failure(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
) -> Result<(), ApiError> {
    let now = state.now_ms();
    let ip = meta.ip_string();
    state
        .store()
        .record_login_failure(Some(account), ip.as_deref(), now)
        .await
        .or_500()?;
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
            .or_500()?;
        if stats.count == u64::from(threshold) {
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

/// A successful login: forget the account's failures (not the IP's).
pub(crate) async fn reset_account(state: &AuthState, account: &str) -> Result<(), ApiError> {
    state
        .store()
        .clear_login_failures(FailureScope::Account, account)
        .await
        .or_500()?;
    Ok(())
}
