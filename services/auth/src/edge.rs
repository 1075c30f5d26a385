//! What the gateway asks the auth service about a Bearer token's session
//! on every request ([`flowex_http::session`]): in one process through
//! [`SessionDirectory`] on [`AuthState`], between processes through
//! `GET /internal/sessions/{id}`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use flowex_http::session::BoxFuture;
use flowex_http::{parse_session_id, ApiError, SessionDirectory, SessionStatus};

use crate::account::role_of;
use crate::error;
use crate::state::AuthState;
use flowex_kit::StoreResultExt;

/// The session's status now: live unless logged out, revoked (a password
/// change revokes the other sessions) or past its lifetime; with its
/// user's role in the database. `None` for an unknown session or user.
pub async fn session_status(
    state: &AuthState,
    session_id: u64,
) -> Result<Option<SessionStatus>, ApiError> {
    let Some(session) = state.store().session(session_id).await.or_api()? else {
        return Ok(None);
    };
    let Some(user) = state.store().user_by_id(session.user_id).await.or_api()? else {
        return Ok(None);
    };
    Ok(Some(SessionStatus {
        user_id: user.id,
        live: session.revoked_at.is_none() && session.expires_at > state.now_ms(),
        role: role_of(&user),
    }))
}

impl SessionDirectory for AuthState {
    fn session(&self, session_id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>> {
        Box::pin(session_status(self, session_id))
    }
}

/// `GET /internal/sessions/{id}` → 200 [`SessionStatus`] or 404
/// `session_not_found`.
pub(crate) async fn internal_session(
    State(state): State<AuthState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = match parse_session_id(&id) {
        Some(id) => session_status(&state, id).await?,
        None => None,
    };
    match found {
        Some(status) => Ok(axum::Json(status).into_response()),
        None => Err(error::not_found("session", "session_not_found")),
    }
}
