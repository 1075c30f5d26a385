//! The audit rows of the wallet's money operations (admin deposits,
//! withdrawal requests and decisions, withdrawal settings): who, from
//! where, on what, with what result.

use crate::WalletState;
use axum::http::{header, HeaderMap};
use flowex_store::{AuditOutcome, NewAuditEntry};
use serde_json::Value;
use std::net::IpAddr;

/// One action's audit context; [`Audit::write`] adds a row per outcome.
pub(crate) struct Audit<'a> {
    s: &'a WalletState,
    action: &'static str,
    actor: u64,
    ip: String,
    agent: Option<String>,
    target: String,
}

pub(crate) use flowex_http::clock::now_ms_i64 as now_ms;

impl<'a> Audit<'a> {
    pub fn new(
        s: &'a WalletState,
        action: &'static str,
        actor: u64,
        ip: IpAddr,
        headers: &HeaderMap,
        target: String,
    ) -> Self {
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect::<String>());
        Audit {
            s,
            action,
            actor,
            ip: ip.to_string(),
            agent,
            target,
        }
    }

    /// A refused (4xx: `denied`) or failed (5xx: `error`) call, its error
    /// code as `reason` added to `detail`.
    pub async fn refused(&self, e: &flowex_http::ApiError, mut detail: Value) {
        let outcome = if e.status().is_server_error() {
            AuditOutcome::Error
        } else {
            AuditOutcome::Denied
        };
        detail["reason"] = Value::from(e.code());
        self.write(outcome, detail).await;
    }

    pub async fn write(&self, result: AuditOutcome, detail: Value) {
        let detail = detail.to_string();
        let entry = NewAuditEntry {
            at: now_ms(),
            user_id: Some(self.actor),
            actor_ip: Some(&self.ip),
            user_agent: self.agent.as_deref(),
            action: self.action,
            target: Some(&self.target),
            result,
            detail: Some(&detail),
        };
        if let Err(e) = self.s.store.audit(&entry).await {
            tracing::error!(error = %e, action = self.action, "writing an audit row failed");
        }
    }
}
