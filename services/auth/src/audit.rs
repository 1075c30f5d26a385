//! Writing the audit log. Rows name who, from where, what and how it
//! ended; `detail` is a small JSON object of ids, reasons and counts and
//! never holds a password, token, secret, 2FA code or full API key.

use flowex_kit::AuditRow;
use flowex_store::AuditOutcome;
use serde_json::Value;

use crate::extract::RequestMeta;
use crate::state::AuthState;

/// Action names written by this service.
pub mod action {
    /// Registration.
    pub const REGISTER: &str = "auth.register";
    /// Login attempt (ok, or denied with a reason).
    pub const LOGIN: &str = "auth.login";
    /// A failure that reached a lockout threshold.
    pub const LOCKOUT: &str = "auth.lockout";
    /// Logout of the current session.
    pub const LOGOUT: &str = "auth.logout";
    /// A rotated refresh token presented again: the family was revoked.
    pub const REFRESH_REUSE: &str = "auth.refresh_reuse";
    /// Password change (ok, or denied).
    pub const PASSWORD_CHANGE: &str = "auth.password_change";
    /// 2FA enrolment started (a new secret was issued).
    pub const TOTP_ENROLL: &str = "auth.totp_enroll";
    /// 2FA enrolment confirmed: 2FA on, new backup codes.
    pub const TOTP_CONFIRM: &str = "auth.totp_confirm";
    /// 2FA turned off.
    pub const TOTP_DISABLE: &str = "auth.totp_disable";
    /// API key created.
    pub const API_KEY_CREATE: &str = "api_key.create";
    /// API key deleted.
    pub const API_KEY_DELETE: &str = "api_key.delete";
    /// A session revoked from the session list.
    pub const SESSION_REVOKE: &str = "session.revoke";
    /// A session ended by a newer login past `jwt.max_sessions_per_user`.
    pub const SESSION_EVICT: &str = "session.evict";
    /// An admin read the audit log.
    pub const ADMIN_AUDIT_QUERY: &str = "admin.audit_query";
}

/// Appends an audit row through the one recorder ([`flowex_kit::record`]),
/// at this service's clock. A failure to write is logged and otherwise
/// ignored: the request it describes has happened either way.
pub(crate) async fn record(
    state: &AuthState,
    meta: &RequestMeta,
    user_id: Option<u64>,
    action: &str,
    target: Option<String>,
    result: AuditOutcome,
    detail: Value,
) {
    let row = AuditRow {
        at: state.now_ms(),
        actor: user_id,
        action,
        target: target.as_deref(),
        result,
        detail,
    };
    flowex_kit::record(state.store(), meta, row).await;
}
