//! The one audit recorder: who did what, from where, on what, with what
//! result. Rows carry ids and reasons, never a password, token, secret,
//! 2FA code or full API key.
//!
//! - [`RequestMeta`]: the caller's address and user agent, an extractor;
//! - [`record`]: appends a row (a failure to write is logged, not
//!   answered: the request happened either way);
//! - [`AdminCall`]: an admin route's frame: checks the role
//!   ([`crate::require_admin`]), runs the operation and audits its
//!   outcome, allowed, refused or failed.

use crate::admin::require_admin;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, StatusCode};
use flowex_http::clock::now_ms_i64;
use flowex_http::{ApiError, ClientIp, Identity};
use flowex_store::{AuditOutcome, NewAuditEntry, Store};
use serde_json::{json, Value};
use std::future::Future;
use std::net::IpAddr;

/// Longest user agent kept.
const MAX_USER_AGENT: usize = 256;

/// Where a request came from, for the audit log (and the auth service's
/// lockout counters and session list).
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address ([`ClientIp`]: the TCP peer, or what a trusted
    /// proxy says), if known.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, printable ASCII only, at most 256 characters.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// The address as stored (IPv4-mapped IPv6 shown as IPv4).
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_canonical().to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ip = ClientIp::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ClientIp(ip)| ip);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| {
                v.as_bytes()
                    .iter()
                    .filter(|b| (0x20..0x7f).contains(*b))
                    .take(MAX_USER_AGENT)
                    .map(|b| *b as char)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty());
        Ok(RequestMeta { ip, user_agent })
    }
}

/// One audit row.
#[derive(Debug, Clone)]
pub struct AuditRow<'a> {
    /// When (ms since the Unix epoch).
    pub at: i64,
    /// Who acted, if known.
    pub actor: Option<u64>,
    /// What (`admin.deposit`, `auth.login` …).
    pub action: &'a str,
    /// On what (`user:7`, `market:BTCUSDT` …).
    pub target: Option<&'a str>,
    /// How it ended.
    pub result: AuditOutcome,
    /// Ids, reasons, counts (`null`: none).
    pub detail: Value,
}

/// Appends `row` with the request's address and user agent.
pub async fn record(store: &Store, meta: &RequestMeta, row: AuditRow<'_>) {
    let ip = meta.ip_string();
    let detail = match &row.detail {
        Value::Null => None,
        v => Some(v.to_string()),
    };
    let entry = NewAuditEntry {
        at: row.at,
        user_id: row.actor,
        actor_ip: ip.as_deref(),
        user_agent: meta.user_agent.as_deref(),
        action: row.action,
        target: row.target,
        result: row.result,
        detail: detail.as_deref(),
    };
    if let Err(e) = store.audit(&entry).await {
        tracing::error!(action = row.action, error = %e, "could not write the audit log");
    }
}

/// How a refused call is recorded: a 5xx is our `error`, anything else
/// the caller's `denied`.
pub fn outcome_of(e: &ApiError) -> AuditOutcome {
    if e.status().is_server_error() {
        AuditOutcome::Error
    } else {
        AuditOutcome::Denied
    }
}

/// What an admin operation answers and records.
#[derive(Debug)]
pub struct Done<T> {
    /// The answer.
    pub value: T,
    /// Overrides the call's target (a creation names what it created).
    pub target: Option<String>,
    /// What changed, for the row.
    pub detail: Value,
}

impl<T> Done<T> {
    /// `value`, recorded with `detail` on the call's target.
    pub fn new(value: T, detail: Value) -> Done<T> {
        Done {
            value,
            target: None,
            detail,
        }
    }
}

/// An admin route's caller: identity, address and user agent.
#[derive(Debug, Clone)]
pub struct AdminCall {
    /// Who (checked by [`AdminCall::run`]).
    pub who: Option<Identity>,
    /// From where.
    pub meta: RequestMeta,
}

impl<S: Send + Sync> FromRequestParts<S> for AdminCall {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let who = parts.extensions.get::<Identity>().cloned();
        let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
        Ok(AdminCall { who, meta })
    }
}

impl AdminCall {
    /// The caller's user id, if any.
    pub fn actor(&self) -> Option<u64> {
        self.who.as_ref().map(|w| w.user_id)
    }

    /// Checks the admin role (token and database), runs `op` and audits
    /// the outcome as `action` on `target`; `op` does not start unless the
    /// caller is an admin. A refusal's row holds `context` plus the
    /// error's code as `reason` (`not_admin` for a 403) and its message.
    pub async fn run<T>(
        &self,
        store: &Store,
        action: &str,
        target: Option<String>,
        context: Value,
        op: impl Future<Output = Result<Done<T>, ApiError>>,
    ) -> Result<T, ApiError> {
        if let Err(e) = require_admin(store, self.who.as_ref()).await {
            let reason = if e.status() == StatusCode::FORBIDDEN {
                "not_admin"
            } else {
                e.code()
            };
            let detail = with_reason(context, reason, None);
            self.write(
                store,
                action,
                target.as_deref(),
                AuditOutcome::Denied,
                detail,
            )
            .await;
            return Err(e);
        }
        match op.await {
            Ok(done) => {
                let target = done.target.as_deref().or(target.as_deref());
                self.write(store, action, target, AuditOutcome::Ok, done.detail)
                    .await;
                Ok(done.value)
            }
            Err(e) => {
                let detail = with_reason(context, e.code(), Some(e.message()));
                self.write(store, action, target.as_deref(), outcome_of(&e), detail)
                    .await;
                Err(e)
            }
        }
    }

    async fn write(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
        result: AuditOutcome,
        detail: Value,
    ) {
        let row = AuditRow {
            at: now_ms_i64(),
            actor: self.actor(),
            action,
            target,
            result,
            detail,
        };
        record(store, &self.meta, row).await;
    }
}

fn with_reason(context: Value, reason: &str, message: Option<&str>) -> Value {
    let mut detail = match context {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    detail["reason"] = Value::from(reason);
    if let Some(m) = message {
        detail["message"] = Value::from(m);
    }
    detail
}
