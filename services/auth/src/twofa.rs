//! TOTP two-factor authentication: enrol, confirm, disable, and the checks
//! other flows (login, API-key creation) use.
//!
//! # Storage
//!
//! [`flowex_auth::totp_store`] keeps the *active* secret (used by logins
//! while `totp_enabled`) and a *pending* one (issued by enrolment, active
//! once confirmed) in `users.totp_secret`, sealed per user (the wallet
//! reads the same column to check withdrawal codes). Keeping the pending
//! secret beside the active one means re-enrolling never turns 2FA off:
//! the old authenticator keeps working until the new one is confirmed.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use flowex_auth::totp::{self, TotpError, TotpSecret};
use flowex_auth::totp_store;
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_store::{AuditOutcome, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::account::caller;
use crate::audit::{self, action};
use crate::error;
use crate::extract::{Json, OptionalJson, RequestMeta, SecretString};
use crate::lockout;
use crate::state::AuthState;
use flowex_kit::StoreResultExt;

pub(crate) use flowex_auth::totp_store::Slots;

fn seal(state: &AuthState, user_id: u64, secret: &TotpSecret) -> String {
    totp_store::seal(state.secret_box(), user_id, secret)
}

fn open(state: &AuthState, user_id: u64, sealed_hex: &str) -> Result<TotpSecret, ApiError> {
    totp_store::open(state.secret_box(), user_id, sealed_hex)
        .map_err(|e| ApiError::internal(format!("user {user_id}: {e}")))
}

fn now_secs(state: &AuthState) -> u64 {
    (state.now_ms().max(0) / 1000) as u64
}

/// Checks `code` against a secret: right, not replayed (the accepted step
/// is stored atomically, so two concurrent uses of one code can't both
/// pass). `Ok(Err(reason))` is a refused code.
async fn check_code(
    state: &AuthState,
    user: &User,
    secret: &TotpSecret,
    code: &str,
) -> Result<Result<(), TotpError>, ApiError> {
    let step = match totp::verify(secret, code, now_secs(state), user.totp_last_step) {
        Ok(step) => step,
        Err(e) => return Ok(Err(e)),
    };
    if !state
        .store()
        .accept_totp_step(user.id, step)
        .await
        .or_api()?
    {
        return Ok(Err(TotpError::Replayed));
    }
    Ok(Ok(()))
}

/// Checks a code against the user's active secret (2FA must be on).
pub(crate) async fn check_active_code(
    state: &AuthState,
    user: &User,
    code: &str,
) -> Result<Result<(), TotpError>, ApiError> {
    let slots = Slots::parse(user.totp_secret.as_deref());
    let Some(active) = slots.active.as_deref() else {
        return Err(ApiError::internal(format!(
            "user {}: 2FA on without an active secret",
            user.id
        )));
    };
    let secret = open(state, user.id, active)?;
    check_code(state, user, &secret, code).await
}

/// For an action of a signed-in user that needs the current 2FA code when
/// 2FA is on: refuses while locked out, 401 `totp_required` without a code,
/// 401 `invalid_totp` (counted as a failed attempt) for a wrong one.
pub(crate) async fn require_code_if_enabled(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    code: Option<&SecretString>,
    action_name: &str,
) -> Result<(), ApiError> {
    if !user.totp_enabled {
        return Ok(());
    }
    require_code(state, meta, user, code, action_name).await
}

async fn require_code(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    code: Option<&SecretString>,
    action_name: &str,
) -> Result<(), ApiError> {
    let Some(code) = code else {
        return Err(error::totp_required());
    };
    let account = lockout::account_key(&user.email);
    lockout::begin(state, meta, &account, Some(user.id), action_name).await?;
    if let Err(e) = check_active_code(state, user, code.expose()).await? {
        refused(state, meta, user, action_name, &e).await?;
        return Err(error::invalid_totp(&e.to_string()));
    }
    lockout::succeeded(state, meta, &account).await
}

async fn refused(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    action_name: &str,
    e: &TotpError,
) -> Result<(), ApiError> {
    lockout::failed(
        state,
        meta,
        &lockout::account_key(&user.email),
        Some(user.id),
    )
    .await?;
    audit::record(
        state,
        meta,
        Some(user.id),
        action_name,
        Some(format!("user:{}", user.id)),
        AuditOutcome::Denied,
        json!({ "reason": reason_of(e) }),
    )
    .await;
    Ok(())
}

pub(crate) fn reason_of(e: &TotpError) -> &'static str {
    match e {
        TotpError::Malformed => "malformed_totp",
        TotpError::Replayed => "replayed_totp",
        _ => "invalid_totp",
    }
}

/// Body of `POST /api/v1/account/2fa/enroll` (optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    /// The current code, required when 2FA is already on.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "123456")]
    code: Option<SecretString>,
}

/// A new TOTP secret, pending until confirmed (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct Enrolment {
    /// The secret in base32, for typing into an authenticator.
    secret: String,
    /// `otpauth://totp/…` URI (what the QR code holds).
    otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    qr_svg: String,
}

/// `POST /api/v1/account/2fa/enroll` → `{secret, otpauth_uri, qr_svg}`.
#[utoipa::path(post, path = "/api/v1/account/2fa/enroll", tag = "auth", operation_id = "enroll_totp",
    summary = "Start (or restart) TOTP enrolment",
    description = "Issues a pending secret; `POST /api/v1/account/2fa/confirm` with a code of it turns 2FA on. While 2FA is on, enrolling again needs the current code and the old secret stays active until the new one is confirmed. The body is optional.",
    security(("bearerAuth" = [])),
    request_body(content = Option<EnrollBody>, description = "Optional: `{\"code\"}` when 2FA is already on."),
    responses(
        (status = 200, description = "The pending secret.", body = Enrolment),
        (status = 400, description = "`invalid_json`, `invalid_body`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`, `totp_required` (2FA on, no code), `invalid_totp`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type` (a non-empty body that is not JSON).", body = NativeError),
        (status = 429, description = "`too_many_attempts`; `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn enroll(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    OptionalJson(body): OptionalJson<EnrollBody>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let body = body.unwrap_or_default();
    require_code_if_enabled(
        &state,
        &meta,
        &user,
        body.code.as_ref(),
        action::TOTP_ENROLL,
    )
    .await?;
    let secret = TotpSecret::generate();
    let uri = secret
        .otpauth_uri(&state.config().totp_issuer, &user.email)
        .map_err(|e| ApiError::internal(format!("otpauth uri: {e}")))?;
    let qr = totp::qr_svg(uri.expose()).map_err(|e| ApiError::internal(format!("qr: {e}")))?;
    let sealed = seal(&state, user.id, &secret);
    let now = state.now_ms();
    if user.totp_enabled {
        let mut slots = Slots::parse(user.totp_secret.as_deref());
        slots.pending = Some(sealed);
        state
            .store()
            .update_totp_secret(user.id, &slots.encode(), now)
            .await
            .or_api()?;
    } else {
        let slots = Slots {
            active: None,
            pending: Some(sealed),
        };
        state
            .store()
            .set_totp_secret(user.id, &slots.encode(), now)
            .await
            .or_api()?;
    }
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::TOTP_ENROLL,
        Some(format!("user:{}", user.id)),
        AuditOutcome::Ok,
        json!({ "replacing": user.totp_enabled }),
    )
    .await;
    Ok(axum::Json(to_value(&Enrolment {
        secret: secret.to_base32().expose().to_string(),
        otpauth_uri: uri.expose().to_string(),
        qr_svg: qr.expose().to_string(),
    }))
    .into_response())
}

/// Body of `confirm` and `disable`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeBody {
    /// A 6-digit TOTP code (confirm: of the pending secret; disable: of the active one).
    #[schema(value_type = String, example = "123456")]
    code: SecretString,
}

/// 2FA is on, with fresh backup codes (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct Confirmed {
    /// Always `true`.
    totp_enabled: bool,
    /// 10 one-time codes for when the authenticator is lost; shown only
    /// here (stored hashed), replacing any earlier ones.
    backup_codes: Vec<String>,
}

/// 2FA is off (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct Disabled {
    /// Always `false`.
    totp_enabled: bool,
}

/// `POST /api/v1/account/2fa/confirm` {code} → `{totp_enabled, backup_codes}`.
#[utoipa::path(post, path = "/api/v1/account/2fa/confirm", tag = "auth", operation_id = "confirm_totp",
    summary = "Confirm TOTP enrolment: turn 2FA on",
    security(("bearerAuth" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "2FA is on; the backup codes are shown once.", body = Confirmed),
        (status = 400, description = "`invalid_json`, `invalid_body`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`, `invalid_totp`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
        (status = 409, description = "`totp_not_enrolled`: enrol first.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 429, description = "`too_many_attempts`; `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn confirm(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Json(body): Json<CodeBody>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let mut slots = Slots::parse(user.totp_secret.as_deref());
    let Some(pending) = slots.pending.take() else {
        return Err(error::totp_not_enrolled());
    };
    let account = lockout::account_key(&user.email);
    lockout::begin(&state, &meta, &account, Some(user.id), action::TOTP_CONFIRM).await?;
    let secret = open(&state, user.id, &pending)?;
    if let Err(e) = check_code(&state, &user, &secret, body.code.expose()).await? {
        refused(&state, &meta, &user, action::TOTP_CONFIRM, &e).await?;
        return Err(error::invalid_totp(&e.to_string()));
    }
    lockout::succeeded(&state, &meta, &account).await?;
    let now = state.now_ms();
    slots.active = Some(pending);
    state
        .store()
        .update_totp_secret(user.id, &slots.encode(), now)
        .await
        .or_api()?;
    if !user.totp_enabled {
        state.store().enable_totp(user.id, now).await.or_api()?;
    }
    let codes = totp::backup_codes();
    let hashes: Vec<String> = codes.hashes.iter().map(hex::encode).collect();
    state
        .store()
        .replace_backup_codes(user.id, &hashes, now)
        .await
        .or_api()?;
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::TOTP_CONFIRM,
        Some(format!("user:{}", user.id)),
        AuditOutcome::Ok,
        json!({ "replaced": user.totp_enabled, "backup_codes": codes.codes.len() }),
    )
    .await;
    let shown: Vec<String> = codes.codes.iter().map(|c| c.expose().to_string()).collect();
    let body = Confirmed {
        totp_enabled: true,
        backup_codes: shown,
    };
    Ok(axum::Json(to_value(&body)).into_response())
}

/// `POST /api/v1/account/2fa/disable` {code} → `{totp_enabled: false}`.
#[utoipa::path(post, path = "/api/v1/account/2fa/disable", tag = "auth", operation_id = "disable_totp",
    summary = "Turn 2FA off",
    security(("bearerAuth" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "2FA is off.", body = Disabled),
        (status = 400, description = "`invalid_json`, `invalid_body`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`, `invalid_totp`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
        (status = 409, description = "`totp_not_enabled`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 429, description = "`too_many_attempts`; `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn disable(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Json(body): Json<CodeBody>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    if !user.totp_enabled {
        return Err(error::totp_not_enabled());
    }
    require_code(&state, &meta, &user, Some(&body.code), action::TOTP_DISABLE).await?;
    state
        .store()
        .disable_totp(user.id, state.now_ms())
        .await
        .or_api()?;
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::TOTP_DISABLE,
        Some(format!("user:{}", user.id)),
        AuditOutcome::Ok,
        serde_json::Value::Null,
    )
    .await;
    Ok(axum::Json(to_value(&Disabled {
        totp_enabled: false,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn slots_round_trip() {
        for s in [
            Slots::default(),
            Slots {
                active: Some("aa".into()),
                pending: None,
            },
            Slots {
                active: None,
                pending: Some("bb".into()),
            },
            Slots {
                active: Some("aa".into()),
                pending: Some("bb".into()),
            },
        ] {
            assert_eq!(Slots::parse(Some(&s.encode())), s);
        }
        assert_eq!(Slots::parse(None), Slots::default());
        assert_eq!(Slots::parse(Some("junk")), Slots::default());
    }
}
