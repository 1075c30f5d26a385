//! The auth service's errors: [`ApiError`]s with stable native codes (the
//! table is in the crate docs).

use axum::http::StatusCode;
use flowex_http::ApiError;

pub(crate) fn invalid_email() -> ApiError {
    ApiError::bad_request(
        "invalid_email",
        "Enter a valid e-mail address (at most 254 characters).",
    )
}

pub(crate) fn weak_password(message: String) -> ApiError {
    ApiError::bad_request("weak_password", message)
}

pub(crate) fn invalid_parameter(name: &str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_parameter", format!("Parameter '{name}': {why}"))
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Wrong e-mail address or password.",
    )
}

pub(crate) fn wrong_password() -> ApiError {
    ApiError::native(
        StatusCode::FORBIDDEN,
        "wrong_password",
        "The current password is wrong.",
    )
}

pub(crate) fn password_expired(max_age_days: u64) -> ApiError {
    ApiError::native(
        StatusCode::FORBIDDEN,
        "password_expired",
        format!(
            "The password is older than {max_age_days} days: log in again with new_password to choose a new one."
        ),
    )
}

pub(crate) fn too_many_attempts(retry_after_secs: u64) -> ApiError {
    ApiError::native(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "Too many failed attempts; try again in {} minute(s).",
            retry_after_secs.div_ceil(60).max(1)
        ),
    )
    .with_retry_after(retry_after_secs)
}

pub(crate) fn totp_required() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "totp_required",
        "Two-factor authentication is on: send the 6-digit code (totp_code) or a backup code.",
    )
}

pub(crate) fn invalid_totp(message: &str) -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "invalid_totp",
        format!("Two-factor code refused: {message}."),
    )
}

pub(crate) fn totp_not_enrolled() -> ApiError {
    ApiError::conflict(
        "totp_not_enrolled",
        "Start two-factor enrolment first (POST /api/v1/account/2fa/enroll).",
    )
}

pub(crate) fn totp_not_enabled() -> ApiError {
    ApiError::conflict(
        "totp_not_enabled",
        "Two-factor authentication is not enabled.",
    )
}

pub(crate) fn token_reused() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "token_reused",
        "This refresh token was already used; the session has been revoked. Log in again.",
    )
}

pub(crate) fn invalid_refresh_token() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "Unknown refresh token. Log in again.",
    )
}

pub(crate) fn refresh_token_expired() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "refresh_token_expired",
        "The session has expired. Log in again.",
    )
}

pub(crate) fn session_revoked() -> ApiError {
    ApiError::native(
        StatusCode::UNAUTHORIZED,
        "session_revoked",
        "This session has ended. Log in again.",
    )
}

pub(crate) fn session_required() -> ApiError {
    ApiError::native(
        StatusCode::FORBIDDEN,
        "session_required",
        "Account management needs a login session, not an API key.",
    )
}

pub(crate) fn account_frozen() -> ApiError {
    ApiError::native(
        StatusCode::FORBIDDEN,
        "account_frozen",
        "This account is frozen. Contact support.",
    )
}

pub(crate) fn not_found(what: &'static str, code: &'static str) -> ApiError {
    ApiError::native(StatusCode::NOT_FOUND, code, format!("No such {what}."))
}

pub(crate) fn too_many_api_keys(max: usize) -> ApiError {
    ApiError::conflict(
        "too_many_api_keys",
        format!("At most {max} API keys per account; delete one first."),
    )
}

/// A row id from a path or token: a positive integer that fits the
/// store's BIGINT ids.
pub(crate) fn parse_id(s: &str) -> Option<u64> {
    s.parse::<i64>().ok().filter(|v| *v > 0).map(|v| v as u64)
}
