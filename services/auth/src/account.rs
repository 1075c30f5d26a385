//! Registration, login, refresh, logout, password change, the current user
//! and the session list.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flowex_auth::jwt::AccessGrant;
use flowex_auth::refresh::{hash_refresh_token, looks_like_refresh_token, new_refresh_token};
use flowex_auth::totp::hash_backup_code;
use flowex_auth::{PolicyError, Role};
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity, Via};
use flowex_kit::body::to_value;
use flowex_store::{AuditOutcome, NewSession, NewUser, RotateOutcome, Rotation, Session, User};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::audit::{self, action};
use crate::error;
use crate::extract::{Json, RequestMeta, SecretString};
use crate::lockout;
use crate::state::AuthState;
use crate::twofa;
use flowex_kit::StoreResultExt;

/// A user as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserView {
    /// The user's id.
    id: u64,
    /// The e-mail address, lower-cased.
    email: String,
    /// `user` or `admin`.
    #[schema(example = "user")]
    role: String,
    /// Whether two-factor authentication is on.
    totp_enabled: bool,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

/// The public view of a user.
pub(crate) fn user_view(u: &User) -> UserView {
    UserView {
        id: u.id,
        email: u.email.clone(),
        role: u.role.as_str().to_string(),
        totp_enabled: u.totp_enabled,
        created_at: u.created_at,
    }
}

pub(crate) fn role_of(u: &User) -> Role {
    match u.role {
        flowex_store::Role::Admin => Role::Admin,
        flowex_store::Role::User => Role::User,
    }
}

fn user_target(id: u64) -> Option<String> {
    Some(format!("user:{id}"))
}

/// The signed-in user behind a protected request and their live session.
///
/// Account management needs a login session (an API key gets 403
/// `session_required`), and the session must still be live: an access
/// token of a session that was logged out, revoked or ended by a password
/// change is refused here with 401 `session_revoked`, even though its JWT
/// is valid for a few more minutes elsewhere.
pub(crate) async fn caller(
    state: &AuthState,
    identity: &Identity,
) -> Result<(User, Session), ApiError> {
    let Via::Session { session_id } = &identity.via else {
        return Err(error::session_required());
    };
    let sid = error::parse_id(session_id).ok_or_else(ApiError::unauthorized)?;
    let session = state
        .store()
        .session(sid)
        .await
        .or_api()?
        .filter(|s| s.user_id == identity.user_id)
        .ok_or_else(error::session_revoked)?;
    if session.revoked_at.is_some() || session.expires_at <= state.now_ms() {
        return Err(error::session_revoked());
    }
    let user = state
        .store()
        .user_by_id(identity.user_id)
        .await
        .or_api()?
        .ok_or_else(ApiError::unauthorized)?;
    Ok((user, session))
}

/// A deliberately simple e-mail check: one `@`, a non-empty local part of
/// at most 64 characters without spaces, quotes or separators, a dotted
/// domain of letters, digits and hyphens, at most 254 characters in all.
pub fn valid_email(email: &str) -> bool {
    if email.is_empty() || email.chars().count() > 254 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let bad = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '@' | '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"'
            )
    };
    if local.is_empty()
        || local.chars().count() > 64
        || local.chars().any(bad)
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

fn policy_error(e: PolicyError) -> ApiError {
    error::weak_password(e.to_string())
}

// ---------------------------------------------------------------- register

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// An e-mail address (at most 254 characters); stored lower-cased.
    #[schema(example = "alice@example.com")]
    email: String,
    /// 10 to 128 characters, not the e-mail address, not a common password.
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 128)]
    password: SecretString,
}

/// `{"user": …}` (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct Registered {
    user: UserView,
}

/// `POST /api/v1/auth/register` → 201 `{user}`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    summary = "Create an account",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Created.", body = Registered),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_email`, `weak_password` (the message says which rule).", body = NativeError),
        (status = 409, description = "`email_taken`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`: send `Content-Type: application/json`.", body = NativeError),
    ))]
pub(crate) async fn register(
    State(state): State<AuthState>,
    meta: RequestMeta,
    Json(body): Json<RegisterBody>,
) -> Result<Response, ApiError> {
    if !valid_email(&body.email) {
        return Err(error::invalid_email());
    }
    flowex_auth::check_policy(body.password.expose(), &body.email).map_err(policy_error)?;
    let hash = state.hash_password(body.password.expose()).await?;
    let user = state
        .store()
        .create_user(&NewUser {
            email: &body.email,
            password_hash: &hash,
            role: flowex_store::Role::User,
            now: state.now_ms(),
        })
        .await
        .or_api()?;
    tracing::info!(user_id = user.id, "user registered");
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::REGISTER,
        user_target(user.id),
        AuditOutcome::Ok,
        Value::Null,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(to_value(&Registered {
            user: user_view(&user),
        })),
    )
        .into_response())
}

// ---------------------------------------------------------------- login

/// Credentials; with 2FA on, a TOTP code or an unused backup code too.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// The account's e-mail address.
    #[schema(example = "alice@example.com")]
    email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// The current 6-digit TOTP code (when 2FA is on).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "123456")]
    totp_code: Option<SecretString>,
    /// One of the backup codes, instead of `totp_code`; each works once.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    backup_code: Option<SecretString>,
    /// Only after 403 `password_expired`: the new password (10 to 128
    /// characters, not the e-mail, not a common password, not the current
    /// one), set when the rest of the login succeeds.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, min_length = 10, max_length = 128)]
    new_password: Option<SecretString>,
}

/// An access token and a refresh token (OpenAPI schema of the login and
/// refresh responses).
#[derive(Serialize, ToSchema)]
pub(crate) struct Tokens {
    /// EdDSA JWT for `Authorization: Bearer`.
    access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: String,
    /// Lifetime of the access token in seconds (at most 900).
    #[schema(example = 900)]
    expires_in: u64,
    /// Opaque, single-use: `POST /api/v1/auth/refresh` exchanges it for a new pair.
    refresh_token: String,
    /// The signed-in user.
    user: UserView,
}

/// Issues an access token for a session and renders the token response.
fn token_response(
    state: &AuthState,
    user: &User,
    session_id: u64,
    refresh_token: &str,
) -> Result<Response, ApiError> {
    let cfg = state.config();
    let sid = session_id.to_string();
    let uid = user.id.to_string();
    let issued = state
        .jwt()
        .issue_access_at(
            &AccessGrant {
                issuer: &cfg.issuer,
                audience: &cfg.audience,
                user_id: &uid,
                role: role_of(user),
                session_id: &sid,
            },
            cfg.access_ttl,
            (state.now_ms().max(0) / 1000) as u64,
        )
        .map_err(|e| ApiError::internal(format!("issuing an access token: {e}")))?;
    Ok(axum::Json(to_value(&Tokens {
        access_token: issued.token.expose().to_string(),
        token_type: "Bearer".to_string(),
        expires_in: cfg.access_ttl.as_secs(),
        refresh_token: refresh_token.to_string(),
        user: user_view(user),
    }))
    .into_response())
}

async fn login_denied(state: &AuthState, meta: &RequestMeta, user_id: Option<u64>, reason: &str) {
    flowex_metrics::login("failure");
    audit::record(
        state,
        meta,
        user_id,
        action::LOGIN,
        user_id.and_then(user_target),
        AuditOutcome::Denied,
        json!({ "reason": reason }),
    )
    .await;
}

/// `POST /api/v1/auth/login` → `{access_token, token_type, expires_in,
/// refresh_token, user}`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    summary = "Log in: start a session",
    description = "After 5 failed attempts from one address at one account, or 20 from one address at any, attempts from that address (at that account, or at any) are refused (429 `too_many_attempts`, `Retry-After`) for 1 minute after the last failure, doubling with each further failure up to 1 hour. Other addresses are not affected, and a valid `totp_code` of an account with 2FA gets through a cooled-off address.",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A new session.", body = Tokens),
        (status = 400, description = "`invalid_json`, `invalid_body`; with `new_password`: `weak_password` (the message says which rule, or that it equals the expired one), `invalid_parameter` (the password has not expired).", body = NativeError),
        (status = 401, description = "`invalid_credentials` (wrong e-mail or password), `totp_required` (2FA on, no code), `invalid_totp` (wrong, replayed or used code).", body = NativeError),
        (status = 403, description = "`account_frozen`; `password_expired` (password rotation is on, `auth.password_max_age_days`, and the password is older: log in again with `new_password`).", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 429, description = "`too_many_attempts`: cooling off; `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn login(
    State(state): State<AuthState>,
    meta: RequestMeta,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let account = lockout::account_key(&body.email);
    let opens = || second_factor_opens(&state, &body);
    let admitted =
        lockout::begin_or_open(&state, &meta, &account, None, action::LOGIN, opens).await?;
    let user = check_password(&state, &meta, &account, &body).await?;
    let renew = password_renewal(&state, &meta, &user, &body).await?;
    let method = match admitted {
        lockout::Admitted::OpenedBySecondFactor => "totp",
        lockout::Admitted::Charged => {
            check_second_factor(&state, &meta, &account, &user, &body).await?
        }
    };
    if user.frozen {
        login_denied(&state, &meta, Some(user.id), "account_frozen").await;
        return Err(error::account_frozen());
    }
    lockout::succeeded(&state, &meta, &account).await?;
    flowex_metrics::login("success");
    if let Some(new_password) = renew {
        renew_password(&state, &meta, &user, new_password).await?;
    } else if flowex_auth::password::needs_rehash(&user.password_hash) {
        let hash = state.hash_password(body.password.expose()).await?;
        state
            .store()
            .set_password_hash(user.id, &hash, state.now_ms())
            .await
            .or_api()?;
    }
    open_session(&state, &meta, &user, method).await
}

/// Password rotation (`auth.password_max_age_days`): whether this login
/// must set a new password, checked right after the password and before
/// the second factor (so a 2FA code is not used up by a login that cannot
/// finish). A password past the age without `new_password` is 403
/// `password_expired`; a `new_password` that breaks the policy, or equals
/// the current password, is 400 `weak_password`; a `new_password` on a
/// password that has not expired is 400 `invalid_parameter`.
async fn password_renewal<'b>(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    body: &'b LoginBody,
) -> Result<Option<&'b SecretString>, ApiError> {
    let max_age = state.config().password_max_age;
    let age_ms = state.now_ms().saturating_sub(user.password_changed_at);
    let expired = max_age.is_some_and(|max| age_ms >= max.as_millis() as i64);
    match (&body.new_password, max_age) {
        (None, Some(max)) if expired => {
            login_denied(state, meta, Some(user.id), "password_expired").await;
            Err(error::password_expired(max.as_secs() / 86_400))
        }
        (None, _) => Ok(None),
        (Some(_), _) if !expired => Err(error::invalid_parameter(
            "new_password",
            "only after 403 password_expired; change a password with POST /api/v1/auth/password",
        )),
        (Some(new), _) => {
            flowex_auth::check_policy(new.expose(), &user.email).map_err(policy_error)?;
            let same = state
                .verify_password(new.expose(), Some(user.password_hash.clone()))
                .await?;
            if same {
                return Err(error::weak_password(
                    "The new password must differ from the expired one.".into(),
                ));
            }
            Ok(Some(new))
        }
    }
}

/// Stores a password the owner chose (its age starts now) and ends every
/// session of the account but `keep`; returns how many ended.
async fn set_new_password(
    state: &AuthState,
    user: &User,
    new_password: &SecretString,
    keep: Option<u64>,
) -> Result<u64, ApiError> {
    let hash = state.hash_password(new_password.expose()).await?;
    let now = state.now_ms();
    state
        .store()
        .set_password(user.id, &hash, now)
        .await
        .or_api()?;
    state
        .store()
        .revoke_user_sessions(user.id, keep, now, "password_change")
        .await
        .or_api()
}

/// Sets the new password of an expired one at login; the account's other
/// sessions end, as with any password change (audited `auth.password_change`
/// with reason `expired`).
async fn renew_password(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    new_password: &SecretString,
) -> Result<(), ApiError> {
    let revoked = set_new_password(state, user, new_password, None).await?;
    tracing::info!(user_id = user.id, revoked, "expired password renewed");
    audit::record(
        state,
        meta,
        Some(user.id),
        action::PASSWORD_CHANGE,
        user_target(user.id),
        AuditOutcome::Ok,
        json!({ "sessions_revoked": revoked, "reason": "expired" }),
    )
    .await;
    Ok(())
}

/// On a cooled-off address, whether the attempt carries a valid 2FA code
/// of an account that has 2FA on: the owner behind a shared address still
/// gets in (the code is used up, as at any login). Its password is checked
/// next as usual.
async fn second_factor_opens(state: &AuthState, body: &LoginBody) -> Result<bool, ApiError> {
    let Some(code) = &body.totp_code else {
        return Ok(false);
    };
    if !valid_email(&body.email) {
        return Ok(false);
    }
    let Some(user) = state.store().user_by_email(&body.email).await.or_api()? else {
        return Ok(false);
    };
    if !user.totp_enabled {
        return Ok(false);
    }
    Ok(twofa::check_active_code(state, &user, code.expose())
        .await?
        .is_ok())
}

/// The user the e-mail and password name; an unknown account costs the
/// same password check as a known one, so timing does not tell them apart.
async fn check_password(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    body: &LoginBody,
) -> Result<User, ApiError> {
    let user = if valid_email(&body.email) {
        state.store().user_by_email(&body.email).await.or_api()?
    } else {
        None
    };
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = state.verify_password(body.password.expose(), phc).await?;
    match user {
        Some(u) if password_ok => Ok(u),
        other => {
            let user_id = other.as_ref().map(|u| u.id);
            lockout::failed(state, meta, account, user_id).await?;
            let reason = if user_id.is_some() {
                "wrong_password"
            } else {
                "unknown_account"
            };
            login_denied(state, meta, user_id, reason).await;
            Err(error::invalid_credentials())
        }
    }
}

/// With 2FA on, a TOTP code or an unused backup code; the method used.
async fn check_second_factor(
    state: &AuthState,
    meta: &RequestMeta,
    account: &str,
    user: &User,
    body: &LoginBody,
) -> Result<&'static str, ApiError> {
    if !user.totp_enabled {
        return Ok("password");
    }
    if let Some(code) = &body.totp_code {
        if let Err(e) = twofa::check_active_code(state, user, code.expose()).await? {
            flowex_metrics::two_factor_failure();
            lockout::failed(state, meta, account, Some(user.id)).await?;
            login_denied(state, meta, Some(user.id), twofa::reason_of(&e)).await;
            return Err(error::invalid_totp(&e.to_string()));
        }
        return Ok("totp");
    }
    let Some(code) = &body.backup_code else {
        login_denied(state, meta, Some(user.id), "totp_required").await;
        return Err(error::totp_required());
    };
    let hash = hex::encode(hash_backup_code(code.expose()));
    let used = state
        .store()
        .use_backup_code(user.id, &hash, state.now_ms())
        .await
        .or_api()?;
    if !used {
        lockout::failed(state, meta, account, Some(user.id)).await?;
        login_denied(state, meta, Some(user.id), "invalid_backup_code").await;
        return Err(error::invalid_totp("unknown or already used backup code"));
    }
    Ok("backup_code")
}

/// A new session for a user who passed every check: stored, audited,
/// answered with its tokens.
async fn open_session(
    state: &AuthState,
    meta: &RequestMeta,
    user: &User,
    method: &'static str,
) -> Result<Response, ApiError> {
    let now = state.now_ms();
    let refresh = new_refresh_token();
    let token_hash = hex::encode(refresh.hash);
    let ip = meta.ip_string();
    let session = state
        .store()
        .create_session(&NewSession {
            user_id: user.id,
            token_hash: &token_hash,
            expires_at: now + state.config().refresh_ttl.as_millis() as i64,
            user_agent: meta.user_agent.as_deref(),
            ip: ip.as_deref(),
            now,
        })
        .await
        .or_api()?;
    tracing::info!(user_id = user.id, session_id = session.id, method, "login");
    audit::record(
        state,
        meta,
        Some(user.id),
        action::LOGIN,
        user_target(user.id),
        AuditOutcome::Ok,
        json!({ "session_id": session.id, "method": method }),
    )
    .await;
    end_sessions_past_the_limit(state, meta, user.id, now).await?;
    token_response(state, user, session.id, refresh.token.expose())
}

/// Ends the user's oldest live sessions beyond
/// [`AuthConfig::max_sessions_per_user`](crate::AuthConfig), the new one
/// included in the count. The oldest go, not the new login: whoever holds
/// the password (and second factor) can always sign in, and a forgotten
/// device does not lock its owner out. Each ended session is audited as
/// `session.evict`; its access tokens stop working with it.
async fn end_sessions_past_the_limit(
    state: &AuthState,
    meta: &RequestMeta,
    user_id: u64,
    now: i64,
) -> Result<(), ApiError> {
    let max = state.config().max_sessions_per_user;
    let live = state.store().list_sessions(user_id, now).await.or_api()?;
    // Newest first, so everything after the first `max` is the oldest.
    for old in live.iter().skip(max) {
        let ended = state
            .store()
            .revoke_session(user_id, old.id, now, "session_limit")
            .await
            .or_api()?;
        if ended {
            tracing::info!(
                user_id,
                session_id = old.id,
                "session ended by the session limit"
            );
            audit::record(
                state,
                meta,
                Some(user_id),
                action::SESSION_EVICT,
                Some(format!("session:{}", old.id)),
                AuditOutcome::Ok,
                json!({ "session_id": old.id, "reason": "session_limit", "max_sessions": max }),
            )
            .await;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- refresh

/// The current refresh token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshBody {
    /// From the last login or refresh; each one works once.
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

/// `POST /api/v1/auth/refresh` → a new token pair (the presented refresh
/// token is rotated). Reuse of a rotated token revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    summary = "Exchange a refresh token for a new token pair",
    description = "The presented refresh token is rotated: presenting it again revokes the whole session (RFC 9700). Rotation never extends the session's lifetime.",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new access token and refresh token.", body = Tokens),
        (status = 400, description = "`invalid_json`, `invalid_body`.", body = NativeError),
        (status = 401, description = "`invalid_refresh_token`, `token_reused` (the session is now revoked), `refresh_token_expired`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`account_frozen`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
    ))]
pub(crate) async fn refresh(
    State(state): State<AuthState>,
    meta: RequestMeta,
    Json(body): Json<RefreshBody>,
) -> Result<Response, ApiError> {
    let presented = body.refresh_token.expose();
    if !looks_like_refresh_token(presented) {
        return Err(error::invalid_refresh_token());
    }
    let presented_hash = hex::encode(hash_refresh_token(presented));
    let Some(current) = state
        .store()
        .refresh_token(&presented_hash)
        .await
        .or_api()?
    else {
        return Err(error::invalid_refresh_token());
    };
    let next = new_refresh_token();
    let new_hash = hex::encode(next.hash);
    let ip = meta.ip_string();
    let outcome = state
        .store()
        .rotate_refresh_token(&Rotation {
            presented_hash: &presented_hash,
            new_hash: &new_hash,
            // The family's absolute expiry: rotation never extends a session.
            new_expires_at: current.expires_at,
            user_agent: meta.user_agent.as_deref(),
            ip: ip.as_deref(),
            now: state.now_ms(),
        })
        .await
        .or_api()?;
    match outcome {
        RotateOutcome::Rotated(session) => {
            let user = state
                .store()
                .user_by_id(session.user_id)
                .await
                .or_api()?
                .ok_or_else(error::invalid_refresh_token)?;
            if user.frozen {
                return Err(error::account_frozen());
            }
            token_response(&state, &user, session.id, next.token.expose())
        }
        RotateOutcome::Reused {
            session_id,
            user_id,
        } => {
            tracing::warn!(user_id, session_id, "refresh token reused: session revoked");
            audit::record(
                &state,
                &meta,
                Some(user_id),
                action::REFRESH_REUSE,
                Some(format!("session:{session_id}")),
                AuditOutcome::Denied,
                json!({ "session_id": session_id, "revoked": true }),
            )
            .await;
            Err(error::token_reused())
        }
        RotateOutcome::Revoked { .. } => Err(error::session_revoked()),
        RotateOutcome::Expired { .. } => Err(error::refresh_token_expired()),
        RotateOutcome::NotFound => Err(error::invalid_refresh_token()),
    }
}

// ---------------------------------------------------------------- logout

/// `POST /api/v1/auth/logout` → 204; ends the current session (its refresh
/// token family). The token ends with it: using it again is 401.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    summary = "Log out: end the current session",
    description = "Revokes the session of the Bearer token (its refresh tokens stop working). The access token ends with the session: a second logout with it is 401 `session_revoked`.",
    security(("bearerAuth" = [])),
    responses(
        (status = 204, description = "Logged out."),
        (status = 401, description = "`unauthorized` (no or invalid token), `session_revoked` (already logged out, or revoked).", body = NativeError),
        (status = 403, description = "`session_required` (an API key is not a session).", body = NativeError),
    ))]
pub(crate) async fn logout(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
) -> Result<Response, ApiError> {
    let Via::Session { session_id } = &identity.via else {
        return Err(error::session_required());
    };
    let sid = error::parse_id(session_id).ok_or_else(ApiError::unauthorized)?;
    let revoked = state
        .store()
        .revoke_session(identity.user_id, sid, state.now_ms(), "logout")
        .await
        .or_api()?;
    if revoked {
        audit::record(
            &state,
            &meta,
            Some(identity.user_id),
            action::LOGOUT,
            Some(format!("session:{sid}")),
            AuditOutcome::Ok,
            Value::Null,
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- password

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// The password now.
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// The new one: 10 to 128 characters, not the e-mail, not a common password.
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 128)]
    new_password: SecretString,
}

/// `POST /api/v1/auth/password` → 204; every other session is revoked.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    summary = "Change the password",
    description = "Every other session of the account is revoked. A wrong current password counts toward the lockout.",
    security(("bearerAuth" = [])),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "`invalid_json`, `invalid_body`, `weak_password`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`wrong_password`, `session_required`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 429, description = "`too_many_attempts`; `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn change_password(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Json(body): Json<PasswordBody>,
) -> Result<Response, ApiError> {
    let (user, session) = caller(&state, &identity).await?;
    let account = lockout::account_key(&user.email);
    lockout::begin(
        &state,
        &meta,
        &account,
        Some(user.id),
        action::PASSWORD_CHANGE,
    )
    .await?;
    let ok = state
        .verify_password(
            body.current_password.expose(),
            Some(user.password_hash.clone()),
        )
        .await?;
    if !ok {
        lockout::failed(&state, &meta, &account, Some(user.id)).await?;
        audit::record(
            &state,
            &meta,
            Some(user.id),
            action::PASSWORD_CHANGE,
            user_target(user.id),
            AuditOutcome::Denied,
            json!({ "reason": "wrong_password" }),
        )
        .await;
        return Err(error::wrong_password());
    }
    lockout::succeeded(&state, &meta, &account).await?;
    flowex_auth::check_policy(body.new_password.expose(), &user.email).map_err(policy_error)?;
    let revoked = set_new_password(&state, &user, &body.new_password, Some(session.id)).await?;
    tracing::info!(user_id = user.id, revoked, "password changed");
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::PASSWORD_CHANGE,
        user_target(user.id),
        AuditOutcome::Ok,
        json!({ "sessions_revoked": revoked }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- me, sessions

/// `GET /api/v1/auth/me` → `{id, email, role, totp_enabled, created_at}`.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    summary = "The signed-in user",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The user.", body = UserView),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
    ))]
pub(crate) async fn me(
    State(state): State<AuthState>,
    identity: Identity,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    Ok(axum::Json(to_value(&user_view(&user))).into_response())
}

/// A live session (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView {
    /// The session's id (for `DELETE /api/v1/account/sessions/{id}`).
    id: u64,
    /// Login time, ms since the Unix epoch.
    created_at: i64,
    /// Last refresh, ms since the Unix epoch.
    last_used_at: i64,
    /// When the session ends, ms since the Unix epoch.
    expires_at: i64,
    /// The client's address at the last login or refresh.
    ip: Option<String>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
    /// Whether this is the session of the request.
    current: bool,
}

/// `{"sessions": […]}` (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionList {
    /// Newest first.
    sessions: Vec<SessionView>,
}

/// `GET /api/v1/account/sessions` → `{sessions: [...]}`, live sessions
/// newest first, the caller's marked `current`.
#[utoipa::path(get, path = "/api/v1/account/sessions", tag = "auth",
    summary = "The account's live sessions",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first.", body = SessionList),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
    ))]
pub(crate) async fn list_sessions(
    State(state): State<AuthState>,
    identity: Identity,
) -> Result<Response, ApiError> {
    let (user, current) = caller(&state, &identity).await?;
    let sessions = state
        .store()
        .list_sessions(user.id, state.now_ms())
        .await
        .or_api()?;
    let sessions: Vec<SessionView> = sessions
        .iter()
        .map(|s| SessionView {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            current: s.id == current.id,
        })
        .collect();
    Ok(axum::Json(to_value(&SessionList { sessions })).into_response())
}

/// `DELETE /api/v1/account/sessions/{id}` → 204; 404 `session_not_found`
/// for an unknown, ended or someone else's session.
#[utoipa::path(delete, path = "/api/v1/account/sessions/{id}", tag = "auth",
    summary = "End one of the account's sessions",
    security(("bearerAuth" = [])),
    params(("id" = u64, Path, description = "The session's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
        (status = 404, description = "`session_not_found`: unknown, already ended, or another account's.", body = NativeError),
    ))]
pub(crate) async fn revoke_session(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let not_found = || error::not_found("session", "session_not_found");
    let sid = error::parse_id(&id).ok_or_else(not_found)?;
    let revoked = state
        .store()
        .revoke_session(user.id, sid, state.now_ms(), "revoked_by_user")
        .await
        .or_api()?;
    if !revoked {
        return Err(not_found());
    }
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::SESSION_REVOKE,
        Some(format!("session:{sid}")),
        AuditOutcome::Ok,
        Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "alice.smith+tag@example.com",
            "x@sub.domain.org",
            "müller@exämple.de",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            "a@b .co",
            "a@-b.co",
            "a@b..co",
            ".a@b.co",
            "a..b@c.co",
            "a:b@c.co",
            "<a@b.co>",
            "a@b.123",
            long.as_str(),
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
