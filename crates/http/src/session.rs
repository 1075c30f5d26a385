//! Whether a login session still holds: the question the gateway asks on
//! every request that carries a Bearer access token.
//!
//! An access token is valid for its whole lifetime (up to 15 minutes) by
//! its signature alone; logging out, revoking a session or changing the
//! password ends the *session* (a row in the store). So the gateway, the
//! one guard every route family goes through, looks the token's session
//! (`sid`) up in a [`SessionDirectory`] before it lets the request in:
//!
//! - in one process (`flowex up`) the auth service answers from the store
//!   on every request, with no cache: a revoked session stops working on
//!   every route at once;
//! - in distributed mode the gateway asks the auth service
//!   (`GET /internal/sessions/{id}` over the internal channel) and keeps
//!   each answer for a short, bounded time (5 s by default), so a revoked
//!   session stops working everywhere within that time.
//!
//! The answer also carries the user's role in the database now, so a
//! demoted admin's token no longer passes the edge as an admin's.

use crate::error::ApiError;
use flowex_auth::Role;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (keeps [`SessionDirectory`] object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A login session as the store sees it now.
///
/// JSON (`GET /internal/sessions/{id}`): `{"user_id":7,"live":true,"role":"user"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The session's user.
    pub user_id: u64,
    /// Neither logged out, revoked (a password change revokes the other
    /// sessions) nor past its lifetime.
    pub live: bool,
    /// The user's role in the database now.
    pub role: Role,
}

/// Looks sessions up. `Ok(None)`: no such session. `Err`: the directory
/// could not answer (the request is refused, never let through unchecked).
pub trait SessionDirectory: Send + Sync + 'static {
    /// The status of session `session_id`.
    fn session(&self, session_id: u64) -> BoxFuture<'_, Result<Option<SessionStatus>, ApiError>>;
}

/// A session id as access tokens carry it (`sid`): a positive integer that
/// fits the store's `BIGINT` ids. `None` for anything else.
pub fn parse_session_id(sid: &str) -> Option<u64> {
    sid.parse::<i64>().ok().filter(|v| *v > 0).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert_eq!(parse_session_id("12"), Some(12));
        for bad in ["", "0", "-3", "9223372036854775808", "1x", " 1"] {
            assert_eq!(parse_session_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wire_format() {
        let s: SessionStatus =
            serde_json::from_str(r#"{"user_id":7,"live":true,"role":"admin"}"#).unwrap();
        assert_eq!(
            s,
            SessionStatus {
                user_id: 7,
                live: true,
                role: Role::Admin
            }
        );
        assert_eq!(
            serde_json::from_str::<SessionStatus>(&serde_json::to_string(&s).unwrap()).unwrap(),
            s
        );
    }
}
