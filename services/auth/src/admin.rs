//! Admin routes. Each one runs in flowex_kit's [`AdminCall`]: the admin
//! role in the token and in the database (403 `forbidden` for anyone
//! else), and one audit row of the outcome, allowed or not.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flowex_http::openapi::NativeError;
use flowex_http::ApiError;
use flowex_kit::body::to_value;
use flowex_store::{AuditEntry, AuditOutcome, AuditQuery};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::account::caller;
use crate::audit::action;
use crate::error;
use crate::state::AuthState;
use flowex_kit::{AdminCall, Done, StoreResultExt};

fn entry_view(e: &AuditEntry) -> AuditEntryView {
    let detail = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok());
    AuditEntryView {
        id: e.id,
        at: e.at,
        user_id: e.user_id,
        actor_ip: e.actor_ip.clone(),
        user_agent: e.user_agent.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        result: e.result.as_str().to_string(),
        detail,
    }
}

fn parse_query(pairs: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        if !seen.insert(name.as_str()) {
            return Err(error::invalid_parameter(name, "sent more than once"));
        }
        let int = |what: &str| -> Result<i64, ApiError> {
            value
                .parse::<i64>()
                .map_err(|_| error::invalid_parameter(name, what))
        };
        match name.as_str() {
            "user_id" => {
                q.user_id = Some(
                    error::parse_id(value)
                        .ok_or_else(|| error::invalid_parameter(name, "expected a user id"))?,
                )
            }
            "action" => {
                if value.is_empty() || value.len() > 64 {
                    return Err(error::invalid_parameter(name, "1 to 64 characters"));
                }
                q.action = Some(value.clone());
            }
            "result" => {
                q.result = Some(
                    AuditOutcome::parse(value)
                        .ok_or_else(|| error::invalid_parameter(name, "ok, denied or error"))?,
                )
            }
            "from" => q.from = Some(int("milliseconds since the Unix epoch")?),
            "to" => q.to = Some(int("milliseconds since the Unix epoch")?),
            "limit" => {
                let n = int("1 to 1000")?;
                if !(1..=1000).contains(&n) {
                    return Err(error::invalid_parameter(name, "1 to 1000"));
                }
                q.limit = n as u32;
            }
            _ => {
                let shown: String = name.chars().take(32).collect();
                return Err(error::invalid_parameter(
                    &shown,
                    "unknown (use user_id, action, result, from, to, limit)",
                ));
            }
        }
    }
    Ok(q)
}

fn query_detail(q: &AuditQuery) -> Value {
    let mut m = Map::new();
    if let Some(u) = q.user_id {
        m.insert("user_id".into(), u.into());
    }
    if let Some(a) = &q.action {
        m.insert("action".into(), a.as_str().into());
    }
    if let Some(r) = q.result {
        m.insert("result".into(), r.as_str().into());
    }
    if let Some(f) = q.from {
        m.insert("from".into(), f.into());
    }
    if let Some(t) = q.to {
        m.insert("to".into(), t.into());
    }
    m.insert("limit".into(), q.limit.into());
    Value::Object(m)
}

/// The filters of the audit log (OpenAPI only; parsed by `parse_query`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AuditFilters {
    /// Only this user's rows.
    user_id: Option<u64>,
    /// Only this action (1 to 64 characters), e.g. `auth.login`, `api_key.create`.
    action: Option<String>,
    /// Only this outcome: `ok`, `denied` or `error`.
    #[param(pattern = "^(ok|denied|error)$")]
    result: Option<String>,
    /// From this time on (inclusive), ms since the Unix epoch.
    from: Option<i64>,
    /// Before this time (exclusive), ms since the Unix epoch.
    to: Option<i64>,
    /// At most this many rows, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A row of the audit log.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    /// Row id.
    id: u64,
    /// Ms since the Unix epoch.
    at: i64,
    /// The acting user, if known.
    user_id: Option<u64>,
    /// The client's address.
    actor_ip: Option<String>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
    /// What was done, e.g. `auth.login`.
    action: String,
    /// What it was done to, e.g. `user:7`, `api_key:3`, `session:12`.
    target: Option<String>,
    /// `ok`, `denied` or `error`.
    result: String,
    /// Reasons and ids; never a secret.
    #[schema(value_type = Object)]
    detail: Option<Value>,
}

/// `{"entries": […]}` (OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditLog {
    /// Newest first.
    entries: Vec<AuditEntryView>,
}

/// `GET /api/v1/admin/audit?user_id&action&result&from&to&limit` →
/// `{entries: [...]}`, newest first. `from` is inclusive, `to` exclusive
/// (ms since the Unix epoch); `limit` 1–1000, default 100.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    summary = "Query the audit log (admin)",
    description = "Needs the `admin` role, in the token and in the database. Every call, refused or not, is itself audited.",
    security(("bearerAuth" = [])),
    params(AuditFilters),
    responses(
        (status = 200, description = "Matching rows, newest first.", body = AuditLog),
        (status = 400, description = "`invalid_parameter`: a bad, repeated or unknown filter.", body = NativeError),
        (status = 401, description = "`unauthorized`, `session_revoked`.", body = NativeError),
        (status = 403, description = "`forbidden` (not an admin), `session_required`.", body = NativeError),
    ))]
pub(crate) async fn audit_log(
    State(state): State<AuthState>,
    call: AdminCall,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    // Authorization first (AdminCall::run): a non-admin learns nothing,
    // not even whether the filters were valid.
    let op = async {
        let identity = call.who.as_ref().ok_or_else(ApiError::unauthorized)?;
        // Admin reads need a live session, not only an admin token.
        caller(&state, identity).await?;
        let Query(pairs) = query.map_err(|_| {
            ApiError::bad_request("invalid_parameter", "The query string is malformed.")
        })?;
        let q = parse_query(&pairs)?;
        let entries = state.store().query_audit(&q).await.or_api()?;
        let detail = json!({ "filters": query_detail(&q), "returned": entries.len() });
        let list: Vec<AuditEntryView> = entries.iter().map(entry_view).collect();
        Ok(Done::new(list, detail))
    };
    let list = call
        .run(
            state.store(),
            action::ADMIN_AUDIT_QUERY,
            None,
            json!({}),
            op,
        )
        .await?;
    Ok(axum::Json(to_value(&AuditLog { entries: list })).into_response())
}
