//! The audit rows of the wallet's money operations (withdrawal requests,
//! cancels and decisions, withdrawal settings), written by the one audit
//! recorder ([`flowex_kit::record`]): who, from where, on what, with what
//! result.

use crate::WalletState;
use flowex_kit::{AuditRow, RequestMeta};
use flowex_store::AuditOutcome;
use serde_json::Value;

/// One action's audit context; [`Audit::write`] adds a row per outcome.
pub(crate) struct Audit<'a> {
    s: &'a WalletState,
    action: &'static str,
    actor: u64,
    meta: RequestMeta,
    target: String,
}

pub(crate) use flowex_http::clock::now_ms_i64 as now_ms;

impl<'a> Audit<'a> {
    pub fn new(
        s: &'a WalletState,
        action: &'static str,
        actor: u64,
        meta: RequestMeta,
        target: String,
    ) -> Self {
        Audit {
            s,
            action,
            actor,
            meta,
            target,
        }
    }

    /// A refused (4xx: `denied`) or failed (5xx: `error`) call, its error
    /// code as `reason` added to `detail`.
    pub async fn refused(&self, e: &flowex_http::ApiError, mut detail: Value) {
        detail["reason"] = Value::from(e.code());
        self.write(flowex_kit::audit::outcome_of(e), detail).await;
    }

    pub async fn write(&self, result: AuditOutcome, detail: Value) {
        let row = AuditRow {
            at: now_ms(),
            actor: Some(self.actor),
            action: self.action,
            target: Some(&self.target),
            result,
            detail,
        };
        flowex_kit::record(&self.s.store, &self.meta, row).await;
    }
}
