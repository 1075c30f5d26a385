//! The audit log: who did what, when, from where, and how it ended.
//!
//! The store writes what it is given; keeping secrets, passwords, tokens and
//! full API keys out of `detail` and `target` is the caller's rule (tested in
//! the auth service).

use crate::codec::{get_i64, get_opt_str, get_opt_u64, get_str, get_u64, id, opt_id};
use crate::error::{Result, StoreError};
use crate::Store;
use sqlx::any::AnyRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    Ok,
    Denied,
    Error,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<AuditOutcome> {
        match s {
            "ok" => Some(AuditOutcome::Ok),
            "denied" => Some(AuditOutcome::Denied),
            "error" => Some(AuditOutcome::Error),
            _ => None,
        }
    }
}

pub struct NewAuditEntry<'a> {
    pub at: i64,
    /// The acting user, if known.
    pub user_id: Option<u64>,
    pub actor_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// e.g. `login`, `totp.enable`, `api_key.create`, `admin.freeze_user`.
    pub action: &'a str,
    /// What was acted on, e.g. `user:42`, `withdrawal:7`.
    pub target: Option<&'a str>,
    pub result: AuditOutcome,
    /// A JSON object as text.
    pub detail: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: u64,
    pub at: i64,
    pub user_id: Option<u64>,
    pub actor_ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub result: AuditOutcome,
    pub detail: Option<String>,
}

/// Filters of [`Store::query_audit`]; `None` does not filter.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub user_id: Option<u64>,
    pub action: Option<String>,
    pub result: Option<AuditOutcome>,
    /// Inclusive lower bound on `at`.
    pub from: Option<i64>,
    /// Exclusive upper bound on `at`.
    pub to: Option<i64>,
    /// At most this many entries (clamped to 1..=1000; 0 means 100).
    pub limit: u32,
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry> {
    let result = get_str(row, "result")?;
    Ok(AuditEntry {
        id: get_u64(row, "id")?,
        at: get_i64(row, "at")?,
        user_id: get_opt_u64(row, "user_id")?,
        actor_ip: get_opt_str(row, "actor_ip")?,
        user_agent: get_opt_str(row, "user_agent")?,
        action: get_str(row, "action")?,
        target: get_opt_str(row, "target")?,
        result: AuditOutcome::parse(&result)
            .ok_or_else(|| StoreError::corrupt("result", result))?,
        detail: get_opt_str(row, "detail")?,
    })
}

impl Store {
    /// Appends an entry; returns its id.
    pub async fn audit(&self, e: &NewAuditEntry<'_>) -> Result<u64> {
        let entry_id = self.next_id("audit_log").await?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, user_id, actor_ip, user_agent, action, target, \
             result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id("audit id", entry_id)?)
        .bind(e.at)
        .bind(opt_id("user id", e.user_id)?)
        .bind(e.actor_ip)
        .bind(e.user_agent)
        .bind(e.action)
        .bind(e.target)
        .bind(e.result.as_str())
        .bind(e.detail)
        .execute(self.pool())
        .await?;
        Ok(entry_id)
    }

    /// Entries matching every given filter, newest first.
    pub async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, user_id, actor_ip, user_agent, action, target, result, detail \
             FROM audit_log WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if q.user_id.is_some() {
            sql += &format!(" AND user_id = ${}", next());
        }
        if q.action.is_some() {
            sql += &format!(" AND action = ${}", next());
        }
        if q.result.is_some() {
            sql += &format!(" AND result = ${}", next());
        }
        if q.from.is_some() {
            sql += &format!(" AND at >= ${}", next());
        }
        if q.to.is_some() {
            sql += &format!(" AND at < ${}", next());
        }
        sql += &format!(" ORDER BY at DESC, id DESC LIMIT ${}", next());

        let mut query = sqlx::query(&sql);
        if let Some(u) = q.user_id {
            query = query.bind(id("user id", u)?);
        }
        if let Some(a) = &q.action {
            query = query.bind(a.as_str());
        }
        if let Some(r) = q.result {
            query = query.bind(r.as_str());
        }
        if let Some(f) = q.from {
            query = query.bind(f);
        }
        if let Some(t) = q.to {
            query = query.bind(t);
        }
        let limit = if q.limit == 0 { 100 } else { q.limit.min(1000) };
        query
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }
}
