//! Failed-login records for brute-force limits.
//!
//! Each failure is recorded once per scope: under the account (the
//! lower-cased email, whether or not such a user exists, so that probing
//! unknown emails is limited too) and under the client IP. The auth service
//! counts failures in its window and decides the cooling-off period; a
//! successful login clears the account's failures (not the IP's).

use crate::codec::{get_i64, get_opt_i64};
use crate::error::Result;
use crate::users::normalize_email;
use crate::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureScope {
    /// Keyed by the lower-cased email.
    Account,
    /// Keyed by the client address as text.
    Ip,
    /// Keyed by the client address and the lower-cased email, as the
    /// caller composes them: one address's attempts at one account.
    AddressAccount,
}

impl FailureScope {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureScope::Account => "account",
            FailureScope::Ip => "ip",
            FailureScope::AddressAccount => "address_account",
        }
    }

    fn key(self, key: &str) -> String {
        match self {
            FailureScope::Account => normalize_email(key),
            FailureScope::Ip | FailureScope::AddressAccount => key.to_string(),
        }
    }
}

/// Failures of one key since a point in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailureStats {
    pub count: u64,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
}

impl Store {
    /// Records one failed login under the account and/or the IP.
    pub async fn record_login_failure(
        &self,
        email: Option<&str>,
        ip: Option<&str>,
        at: i64,
    ) -> Result<()> {
        let mut rows = Vec::new();
        if let Some(email) = email {
            rows.push((FailureScope::Account, FailureScope::Account.key(email)));
        }
        if let Some(ip) = ip {
            rows.push((FailureScope::Ip, FailureScope::Ip.key(ip)));
        }
        let mut ids = Vec::with_capacity(rows.len());
        for _ in &rows {
            ids.push(crate::codec::id(
                "login failure id",
                self.next_id("login_failures").await?,
            )?);
        }
        let mut tx = self.pool().begin().await?;
        for ((scope, key), row_id) in rows.iter().zip(ids) {
            sqlx::query(
                "INSERT INTO login_failures (id, scope, scope_key, at) VALUES ($1, $2, $3, $4)",
            )
            .bind(row_id)
            .bind(scope.as_str())
            .bind(key)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records one failure (or an attempt charged before it is checked)
    /// under one key; returns its id ([`Store::login_failures_besides`]).
    pub async fn charge_login_failure(
        &self,
        scope: FailureScope,
        key: &str,
        at: i64,
    ) -> Result<i64> {
        let row_id = crate::codec::id("login failure id", self.next_id("login_failures").await?)?;
        sqlx::query(
            "INSERT INTO login_failures (id, scope, scope_key, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(row_id)
        .bind(scope.as_str())
        .bind(scope.key(key))
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(row_id)
    }

    /// Failures of `key` in `scope` at or after `since` other than the row
    /// `own_id`: what a charged attempt has to count with, concurrent
    /// attempts included (so a burst is counted in full, never less).
    pub async fn login_failures_besides(
        &self,
        scope: FailureScope,
        key: &str,
        since: i64,
        own_id: i64,
    ) -> Result<FailureStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at FROM login_failures \
             WHERE scope = $1 AND scope_key = $2 AND at >= $3 AND id <> $4",
        )
        .bind(scope.as_str())
        .bind(scope.key(key))
        .bind(since)
        .bind(own_id)
        .fetch_one(self.pool())
        .await?;
        Ok(FailureStats {
            count: get_i64(&row, "n")?.max(0) as u64,
            first_at: get_opt_i64(&row, "first_at")?,
            last_at: get_opt_i64(&row, "last_at")?,
        })
    }

    /// Failures of `key` in `scope` at or after `since`.
    pub async fn login_failures(
        &self,
        scope: FailureScope,
        key: &str,
        since: i64,
    ) -> Result<FailureStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at FROM login_failures \
             WHERE scope = $1 AND scope_key = $2 AND at >= $3",
        )
        .bind(scope.as_str())
        .bind(scope.key(key))
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(FailureStats {
            count: get_i64(&row, "n")?.max(0) as u64,
            first_at: get_opt_i64(&row, "first_at")?,
            last_at: get_opt_i64(&row, "last_at")?,
        })
    }

    /// Forgets the failures of one key (an account after a successful login).
    pub async fn clear_login_failures(&self, scope: FailureScope, key: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND scope_key = $2")
            .bind(scope.as_str())
            .bind(scope.key(key))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes failures older than `before` (housekeeping).
    pub async fn purge_login_failures(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
