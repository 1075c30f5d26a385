//! Brute-force limits that target the attacker: failed password and 2FA
//! attempts are counted per client address *and* account together, and
//! per client address, over a sliding window; past a threshold, attempts
//! from that address are refused with 429 `too_many_attempts` for a
//! cooling-off period that doubles with each further failure. No count is
//! per account alone, so nobody can lock a chosen user out from
//! everywhere (OWASP Authentication Cheat Sheet, "Account Lockout").
//! Refused attempts are not counted (so an attacker cannot extend a lock
//! forever) and cost no password hash.
//!
//! An attempt is charged to its address and account *before* the password
//! or code is checked ([`begin`]) and the charge is cleared when it
//! succeeds ([`succeeded`]): a burst of concurrent guesses can therefore
//! not get more than the limit through while the first ones are still
//! being checked. The address alone is charged only for real failures
//! ([`failed`]), so that many people behind one address who log in
//! successfully never lock it. An attempt that ends without success or
//! failure (`totp_required`, `account_frozen`) keeps its charge.

use flowex_http::ApiError;
use flowex_store::{AuditOutcome, FailureScope, FailureStats};
use serde_json::json;
use std::future::Future;

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

/// One address's attempts at one account (`-` when the address is unknown).
fn pair_key(meta: &RequestMeta, account: &str) -> String {
    format!("{} {account}", meta.ip_string().as_deref().unwrap_or("-"))
}

/// A lock in force.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lock {
    pub scope: FailureScope,
    pub retry_after_secs: u64,
}

/// The lock `stats` put on a key with `threshold`, if still running.
fn lock_from(
    state: &AuthState,
    scope: FailureScope,
    stats: FailureStats,
    threshold: u32,
) -> Option<Lock> {
    let wait = state.config().lockout.wait_after(stats.count, threshold);
    let now = state.now_ms();
    let until = stats.last_at.unwrap_or(now) + wait.as_millis() as i64;
    (now < until).then(|| Lock {
        scope,
        retry_after_secs: ((until - now) as u64).div_ceil(1000).max(1),
    })
}

fn longer(a: Option<Lock>, b: Option<Lock>) -> Option<Lock> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.retry_after_secs > x.retry_after_secs {
            y
        } else {
            x
        }),
        (x, y) => x.or(y),
    }
}

/// The lock in force on the address at the account or on the address.
pub(crate) async fn current_lock(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
) -> Result<Option<Lock>, ApiError> {
    let policy = &state.config().lockout;
    let since = state.now_ms() - policy.window.as_millis() as i64;
    let pair = state
        .store()
        .login_failures(
            FailureScope::AddressAccount,
            &pair_key(meta, account),
            since,
        )
        .await
        .or_api()?;
    let mut lock = lock_from(
        state,
        FailureScope::AddressAccount,
        pair,
        policy.address_account_failures,
    );
    if let Some(ip) = meta.ip_string() {
        let stats = state
            .store()
            .login_failures(FailureScope::Ip, &ip, since)
            .await
            .or_api()?;
        lock = longer(
            lock,
            lock_from(state, FailureScope::Ip, stats, policy.ip_failures),
        );
    }
    Ok(lock)
}

/// Charges the attempt to its address and account; a lock if the other
/// charges (concurrent attempts included) use the limit up.
async fn charge(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
) -> Result<Option<Lock>, ApiError> {
    let key = pair_key(meta, account);
    let now = state.now_ms();
    let id = state
        .store()
        .charge_login_failure(FailureScope::AddressAccount, &key, now)
        .await
        .or_api()?;
    let policy = &state.config().lockout;
    let since = now - policy.window.as_millis() as i64;
    let before = state
        .store()
        .login_failures_besides(FailureScope::AddressAccount, &key, since, id)
        .await
        .or_api()?;
    Ok(lock_from(
        state,
        FailureScope::AddressAccount,
        before,
        policy.address_account_failures,
    ))
}

/// How an attempt got through [`begin_or_open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// Charged; its password or code is still to be checked.
    Charged,
    /// The address was cooled off and a valid 2FA code opened it: the
    /// second factor is already checked.
    OpenedBySecondFactor,
}

/// Refuses the attempt (429, audited under `action_name`) if the address
/// is cooled off for the account or for all; otherwise charges it.
pub(crate) async fn begin(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
    action_name: &str,
) -> Result<(), ApiError> {
    let never = || async { Ok(false) };
    begin_or_open(state, meta, account, user_id, action_name, never).await?;
    Ok(())
}

/// [`begin`], except that when the address is cooled off `opens` is asked
/// whether the attempt proves itself another way (a valid 2FA code of the
/// account): then it goes on uncharged.
pub(crate) async fn begin_or_open<F, Fut>(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
    action_name: &str,
    opens: F,
) -> Result<Admitted, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<bool, ApiError>>,
{
    let lock = match current_lock(state, meta, account).await? {
        Some(lock) => Some(lock),
        None => charge(state, meta, account).await?,
    };
    let Some(lock) = lock else {
        return Ok(Admitted::Charged);
    };
    if opens().await? {
        return Ok(Admitted::OpenedBySecondFactor);
    }
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
    Err(error::too_many_attempts(lock.retry_after_secs))
}

/// The attempt [`begin`] charged failed: counts it under the address too,
/// and writes an `auth.lockout` row when a limit is reached or passed.
pub(crate) async fn failed(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user_id: Option<u64>,
) -> Result<(), ApiError> {
    let now = state.now_ms();
    let ip = meta.ip_string();
    if let Some(ip) = &ip {
        state
            .store()
            .charge_login_failure(FailureScope::Ip, ip, now)
            .await
            .or_api()?;
    }
    let policy = &state.config().lockout;
    let since = now - policy.window.as_millis() as i64;
    let pair = pair_key(meta, account);
    let scopes = [
        (
            FailureScope::AddressAccount,
            Some(pair.as_str()),
            policy.address_account_failures,
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
        if stats.count >= u64::from(threshold) {
            let wait = policy.wait_after(stats.count, threshold);
            flowex_metrics::login("lockout");
            tracing::warn!(
                scope = scope.as_str(),
                user_id,
                failures = stats.count,
                cooldown_secs = wait.as_secs(),
                "too many failed attempts from one address: cooling it off"
            );
            audit::record(
                state,
                meta,
                user_id,
                action::LOCKOUT,
                user_id.map(|u| format!("user:{u}")),
                AuditOutcome::Denied,
                json!({ "scope": scope.as_str(), "failures": stats.count,
                        "cooldown_secs": wait.as_secs() }),
            )
            .await;
        }
    }
    Ok(())
}

/// The attempt succeeded: forget the address's failures at the account
/// (not the address's own count).
pub(crate) async fn succeeded(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
) -> Result<(), ApiError> {
    state
        .store()
        .clear_login_failures(FailureScope::AddressAccount, &pair_key(meta, account))
        .await
        .or_api()?;
    Ok(())
}
