//! The account's own recent activity (`GET /api/v1/account/activity`):
//! the caller's rows of the audit log (sign-ins, failed sign-ins, 2FA and
//! API-key changes, withdrawals, ...), so a user can spot what they did
//! not do. Only rows whose actor is the caller: the user id comes from the
//! session, never from the request.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flowex_http::openapi::NativeError;
use flowex_http::{ApiError, Identity};
use flowex_store::{AuditEntry, AuditQuery};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::account::caller;
use crate::error;
use crate::state::AuthState;
use flowex_kit::body::to_value;
use flowex_kit::StoreResultExt;

/// Rows answered when `limit` is not given.
const DEFAULT_LIMIT: u32 = 20;
/// The most rows one call answers.
const MAX_LIMIT: u32 = 100;

/// The filters of the activity list (OpenAPI only; parsed by `parse_query`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ActivityFilters {
    /// At most this many rows, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Only rows before this time (exclusive), ms since the Unix epoch: the
    /// `at` of the last row of the previous page.
    before: Option<i64>,
}

/// One thing that happened on the account.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityView {
    /// Row id.
    id: u64,
    /// Ms since the Unix epoch.
    at: i64,
    /// What was done, e.g. `auth.login`, `auth.password_change`, `api_key.create`.
    action: String,
    /// `ok`, `denied` or `error`.
    result: String,
    /// The client's address.
    ip: Option<String>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
}

/// `{"activity": […]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityList {
    /// Newest first.
    activity: Vec<ActivityView>,
}

fn entry_view(e: AuditEntry) -> ActivityView {
    ActivityView {
        id: e.id,
        at: e.at,
        result: e.result.as_str().to_string(),
        action: e.action,
        ip: e.actor_ip,
        user_agent: e.user_agent,
    }
}

fn parse_query(user_id: u64, pairs: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery {
        user_id: Some(user_id),
        limit: DEFAULT_LIMIT,
        ..AuditQuery::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        if !seen.insert(name.as_str()) {
            return Err(error::invalid_parameter(name, "sent more than once"));
        }
        match name.as_str() {
            "limit" => {
                q.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| error::invalid_parameter(name, "1 to 100"))?;
            }
            "before" => {
                q.to = Some(value.parse::<i64>().map_err(|_| {
                    error::invalid_parameter(name, "milliseconds since the Unix epoch")
                })?)
            }
            _ => {
                let shown: String = name.chars().take(32).collect();
                return Err(error::invalid_parameter(
                    &shown,
                    "unknown (use limit, before)",
                ));
            }
        }
    }
    Ok(q)
}

/// `GET /api/v1/account/activity?limit&before` → `{activity: [...]}`,
/// the caller's own audit rows, newest first.
#[utoipa::path(get, path = "/api/v1/account/activity", tag = "auth",
    summary = "The account's recent activity",
    description = "The caller's own rows of the audit log: sign-ins (and refused ones), sign-outs, password and 2FA changes, API keys, session revocations, withdrawals. Never another user's rows.",
    security(("bearerAuth" = [])),
    params(ActivityFilters),
    responses(
        (status = 200, description = "The caller's rows, newest first.", body = ActivityList),
        (status = 400, description = "`invalid_parameter`: a bad, repeated or unknown parameter.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`session_required`.", body = NativeError),
    ))]
pub(crate) async fn list(
    State(state): State<AuthState>,
    identity: Identity,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (user, _) = caller(&state, &identity).await?;
    let Query(pairs) = query.map_err(|_| {
        ApiError::bad_request("invalid_parameter", "The query string is malformed.")
    })?;
    let q = parse_query(user.id, &pairs)?;
    let entries = state.store().query_audit(&q).await.or_api()?;
    let activity = entries.into_iter().map(entry_view).collect();
    Ok(axum::Json(to_value(&ActivityList { activity })).into_response())
}
