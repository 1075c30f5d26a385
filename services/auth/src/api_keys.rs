//! API keys: create (secret shown once), list, delete, and the lookup the
//! gateway uses to check signed requests.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flowex_auth::apikey::is_valid_api_key_format;
use flowex_auth::{new_api_key, IpAllowList, Permissions, Role};
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity};
use flowex_kit::body::to_value;
use flowex_store::{ApiKey, AuditOutcome, NewApiKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::account::{caller, role_of};
use crate::audit::{self, action};
use crate::error;
use crate::extract::{Json, RequestMeta, SecretString};
use crate::state::AuthState;
use crate::twofa;
use flowex_kit::StoreResultExt;

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// What the gateway needs to authenticate a signed request made with an
/// API key: who owns it, what it may do, from where, and the HMAC secret.
///
/// JSON (`GET /internal/api-keys/{api_key}`):
/// `{"key_id":3,"user_id":7,"role":"user","frozen":false,
///   "permissions":"READ,TRADE","ip_allow":"1.2.3.0/24","secret":"…"}`.
/// `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's id in the store (what `Via::ApiKey { key_id }` carries).
    pub key_id: u64,
    /// The owner.
    pub user_id: u64,
    /// The owner's role.
    pub role: Role,
    /// Whether the owner's account is frozen (refuse every request).
    pub frozen: bool,
    /// Comma-separated permission names, e.g. `READ,TRADE`.
    pub permissions: String,
    /// Comma-separated CIDR blocks the key may be used from; empty = any.
    pub ip_allow: String,
    /// The HMAC-SHA256 signing secret (opened from its sealed form).
    pub secret: String,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("frozen", &self.frozen)
            .field("permissions", &self.permissions)
            .field("ip_allow", &self.ip_allow)
            .field("secret", &flowex_auth::redact::REDACTED)
            .finish()
    }
}

impl KeyRecord {
    /// [`KeyRecord::permissions`] parsed.
    pub fn permission_set(&self) -> Permissions {
        Permissions::parse(&self.permissions).unwrap_or(Permissions::NONE)
    }

    /// [`KeyRecord::ip_allow`] parsed. A stored list that no longer parses
    /// allows nothing rather than everything.
    pub fn allow_list(&self) -> Option<IpAllowList> {
        IpAllowList::parse_csv(&self.ip_allow).ok()
    }
}

/// Looks up a live API key by its key string and opens its secret. `None`
/// for a malformed, unknown or deleted key. The gateway calls this directly
/// in one process, or through `GET /internal/api-keys/{api_key}`.
pub async fn lookup_api_key(
    state: &AuthState,
    api_key: &str,
) -> Result<Option<KeyRecord>, ApiError> {
    if !is_valid_api_key_format(api_key) {
        return Ok(None);
    }
    let Some(key) = state.store().api_key(api_key).await.or_api()? else {
        return Ok(None);
    };
    let Some(user) = state.store().user_by_id(key.user_id).await.or_api()? else {
        return Ok(None);
    };
    let secret = state
        .secret_box()
        .open(&key.api_key, &key.secret_sealed)
        .map_err(|_| {
            ApiError::internal(format!(
                "api key {}: sealed secret does not open (wrong server key?)",
                key.id
            ))
        })?;
    // Bookkeeping for the key list, at most once a minute per key.
    let now = state.now_ms();
    if key.last_used_at.is_none_or(|t| now - t >= 60_000) {
        if let Err(e) = state.store().touch_api_key(key.id, now).await {
            tracing::debug!(key_id = key.id, error = %e, "could not record API key use");
        }
    }
    Ok(Some(KeyRecord {
        key_id: key.id,
        user_id: user.id,
        role: role_of(&user),
        frozen: user.frozen,
        permissions: key.permissions.clone(),
        ip_allow: key.ip_allow.clone(),
        secret: secret.expose().clone(),
    }))
}

/// `GET /internal/api-keys/{api_key}` → 200 [`KeyRecord`] or 404.
pub(crate) async fn internal_lookup(
    State(state): State<AuthState>,
    Path(api_key): Path<String>,
) -> Result<Response, ApiError> {
    match lookup_api_key(&state, &api_key).await? {
        Some(record) => Ok(axum::Json(record).into_response()),
        None => Err(error::not_found("API key", "api_key_not_found")),
    }
}

fn names(p: Permissions) -> Vec<String> {
    p.to_string()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An API-key permission.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(crate) enum Permission {
    /// Read account data (USER_DATA endpoints).
    READ,
    /// Place and cancel orders (TRADE endpoints).
    TRADE,
    /// Withdraw funds; never granted unless asked for.
    WITHDRAW,
}

/// An API key without its secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyView {
    /// The key's id (for `DELETE /api/v1/account/api-keys/{id}`).
    id: u64,
    /// What goes in `X-MBX-APIKEY`.
    api_key: String,
    /// The owner's label for it.
    label: String,
    /// What the key may do.
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<String>,
    /// IPs and CIDR blocks the key may be used from; empty: anywhere.
    #[schema(example = json!(["203.0.113.0/24"]))]
    ip_allow: Vec<String>,
    /// Ms since the Unix epoch.
    created_at: i64,
    /// Last signed request, ms since the Unix epoch.
    last_used_at: Option<i64>,
}

/// A new API key with its secret, shown in this response only (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyCreated {
    /// The key's id.
    id: u64,
    /// What goes in `X-MBX-APIKEY`.
    api_key: String,
    /// The HMAC-SHA256 signing secret. Store it now: it is never shown again.
    secret: String,
    /// The label.
    label: String,
    /// What the key may do.
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<String>,
    /// IPs and CIDR blocks the key may be used from; empty: anywhere.
    ip_allow: Vec<String>,
    /// Ms since the Unix epoch.
    created_at: i64,
    /// Always `null` for a new key.
    last_used_at: Option<i64>,
}

/// `{"api_keys": […]}` (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyList {
    /// The caller's keys, without secrets.
    api_keys: Vec<ApiKeyView>,
}

fn key_view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        api_key: k.api_key.clone(),
        label: k.label.clone(),
        permissions: names(Permissions::parse(&k.permissions).unwrap_or(Permissions::NONE)),
        ip_allow: k
            .ip_allow
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}

/// A new API key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// 1 to 64 printable characters.
    #[schema(min_length = 1, max_length = 64, example = "trading bot")]
    label: String,
    /// Default `["READ","TRADE"]`; `WITHDRAW` only when listed; an empty
    /// list is refused (`invalid_permission`).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Permission>>, min_items = 1)]
    permissions: Option<Vec<String>>,
    /// IPs or CIDR blocks (at most 100); absent or empty: any address.
    #[serde(default)]
    #[schema(example = json!(["203.0.113.7", "2001:db8::/32"]))]
    ip_allow: Option<Vec<String>>,
    /// The current TOTP code; required when 2FA is on.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "123456")]
    totp_code: Option<SecretString>,
}

/// `POST /api/v1/account/api-keys` → 201 `{id, api_key, secret, label,
/// permissions, ip_allow, created_at, last_used_at}`.
#[utoipa::path(post, path = "/api/v1/account/api-keys", tag = "auth", operation_id = "create_api_key",
    summary = "Create an API key (the secret is shown once)",
    description = "The secret is stored sealed (AES-256-GCM) and appears in this response only. Needs the current TOTP code when 2FA is on.",
    security(("bearerAuth" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; keep the secret.", body = ApiKeyCreated),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_label`, `invalid_permission`, `invalid_ip_allow`.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`, `totp_required`, `invalid_totp`.", body = NativeError),
        (status = 403, description = "`session_required`, `account_frozen`.", body = NativeError),
        (status = 409, description = "`too_many_api_keys`.", body = NativeError),
        (status = 415, description = "`unsupported_media_type`.", body = NativeError),
        (status = 429, description = "`too_many_attempts` (wrong TOTP codes); `Retry-After` in seconds.", body = NativeError),
    ))]
pub(crate) async fn create(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let label = checked_label(&body.label)?;
    let permissions = checked_permissions(body.permissions.as_deref())?;
    let ip_allow = IpAllowList::parse(body.ip_allow.iter().flatten()).map_err(|e| {
        ApiError::bad_request("invalid_ip_allow", format!("Invalid IP allow-list: {e}."))
    })?;
    if user.frozen {
        return Err(error::account_frozen());
    }
    twofa::require_code_if_enabled(
        &state,
        &meta,
        &user,
        body.totp_code.as_ref(),
        action::API_KEY_CREATE,
    )
    .await?;
    let max = state.config().max_api_keys_per_user;
    if state.store().list_api_keys(user.id).await.or_api()?.len() >= max {
        return Err(error::too_many_api_keys(max));
    }
    let (stored, secret) = issue_api_key(&state, user.id, label, permissions, &ip_allow)
        .await
        .or_api()?;
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::API_KEY_CREATE,
        Some(format!("api_key:{}", stored.id)),
        AuditOutcome::Ok,
        json!({ "permissions": stored.permissions, "ip_allow": !ip_allow.is_empty() }),
    )
    .await;
    let k = key_view(&stored);
    let body = ApiKeyCreated {
        id: k.id,
        api_key: k.api_key,
        secret: secret.expose().to_string(),
        label: k.label,
        permissions: k.permissions,
        ip_allow: k.ip_allow,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    };
    Ok((StatusCode::CREATED, axum::Json(to_value(&body))).into_response())
}

/// The label trimmed: 1 to [`MAX_LABEL_CHARS`] printable characters.
fn checked_label(label: &str) -> Result<&str, ApiError> {
    let label = label.trim();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_label",
            format!("The label must be 1 to {MAX_LABEL_CHARS} printable characters."),
        ));
    }
    Ok(label)
}

/// The permissions asked for (the default when none are named); at least one.
fn checked_permissions(list: Option<&[String]>) -> Result<Permissions, ApiError> {
    let Some(list) = list else {
        return Ok(Permissions::DEFAULT);
    };
    let mut set = Permissions::NONE;
    for name in list {
        if name.contains(',') {
            return Err(invalid_permission(name));
        }
        set |= Permissions::parse(name).map_err(|_| invalid_permission(name))?;
    }
    if set.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_permission",
            "Give at least one permission (READ, TRADE, WITHDRAW).",
        ));
    }
    Ok(set)
}

/// Creates an API key for `user_id` (the secret is stored sealed) and
/// returns it with its secret, which nobody can read again. The caller has
/// checked the label, the permissions and the owner's right to a key.
pub async fn issue_api_key(
    state: &AuthState,
    user_id: u64,
    label: &str,
    permissions: Permissions,
    ip_allow: &IpAllowList,
) -> Result<(ApiKey, flowex_auth::Secret<String>), flowex_store::StoreError> {
    let new = new_api_key();
    let sealed = state.secret_box().seal(&new.key, new.secret.expose());
    let stored = state
        .store()
        .create_api_key(&NewApiKey {
            user_id,
            api_key: &new.key,
            secret_sealed: &sealed,
            label,
            permissions: &permissions.to_string(),
            ip_allow: &ip_allow.to_string(),
            now: state.now_ms(),
        })
        .await?;
    tracing::info!(user_id, key_id = stored.id, "API key created");
    Ok((stored, new.secret))
}

/// Deletes `user_id`'s keys labelled `label` and issues a fresh one with
/// `permissions` (how `flowex up` gives its demo market maker keys at every
/// start without keeping their secrets on disk).
pub async fn replace_labelled_key(
    state: &AuthState,
    user_id: u64,
    label: &str,
    permissions: Permissions,
) -> Result<(String, flowex_auth::Secret<String>), flowex_store::StoreError> {
    let now = state.now_ms();
    for old in state.store().list_api_keys(user_id).await? {
        if old.label == label {
            state.store().delete_api_key(user_id, old.id, now).await?;
        }
    }
    let (stored, secret) =
        issue_api_key(state, user_id, label, permissions, &IpAllowList::default()).await?;
    Ok((stored.api_key, secret))
}

fn invalid_permission(name: &str) -> ApiError {
    let shown: String = name.chars().take(32).collect();
    ApiError::bad_request(
        "invalid_permission",
        format!("Unknown permission {shown:?}: use READ, TRADE or WITHDRAW."),
    )
}

/// `GET /api/v1/account/api-keys` → `{api_keys: [...]}` (never a secret).
#[utoipa::path(get, path = "/api/v1/account/api-keys", tag = "auth", operation_id = "list_api_keys",
    summary = "The account's API keys (without secrets)",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The keys.", body = ApiKeyList),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
    ))]
pub(crate) async fn list(
    State(state): State<AuthState>,
    identity: Identity,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let keys = state.store().list_api_keys(user.id).await.or_api()?;
    let api_keys: Vec<ApiKeyView> = keys.iter().map(key_view).collect();
    Ok(axum::Json(to_value(&ApiKeyList { api_keys })).into_response())
}

/// `DELETE /api/v1/account/api-keys/{id}` → 204; 404 `api_key_not_found`
/// for an unknown, deleted or someone else's key.
#[utoipa::path(delete, path = "/api/v1/account/api-keys/{id}", tag = "auth", operation_id = "delete_api_key",
    summary = "Delete an API key",
    security(("bearerAuth" = [])),
    params(("id" = u64, Path, description = "The key's id (not the key string).")),
    responses(
        (status = 204, description = "Deleted; the key stops working at once."),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
        (status = 404, description = "`api_key_not_found`: unknown, deleted, or another account's.", body = NativeError),
    ))]
pub(crate) async fn delete(
    State(state): State<AuthState>,
    identity: Identity,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let not_found = || error::not_found("API key", "api_key_not_found");
    let key_id = error::parse_id(&id).ok_or_else(not_found)?;
    let deleted = state
        .store()
        .delete_api_key(user.id, key_id, state.now_ms())
        .await
        .or_api()?;
    if !deleted {
        return Err(not_found());
    }
    audit::record(
        &state,
        &meta,
        Some(user.id),
        action::API_KEY_DELETE,
        Some(format!("api_key:{key_id}")),
        AuditOutcome::Ok,
        Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
