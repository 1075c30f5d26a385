//! The one admin guard: the role must be `admin` in the access token *and*
//! in the database right now, so a demoted admin loses every admin route
//! at once, not when the token expires. The gateway already refuses a
//! non-admin token on `/api/v1/admin/**`; every admin handler of every
//! service checks again here, so a misrouted request cannot act.

use crate::store_error::store_error;
use flowex_http::{ApiError, Identity};
use flowex_store::Store;

/// The admin's user id, or 401 `unauthorized` (no caller) / 403
/// `forbidden` (not an admin by the token or by the database).
pub async fn require_admin(store: &Store, who: Option<&Identity>) -> Result<u64, ApiError> {
    let who = who.ok_or_else(ApiError::unauthorized)?;
    if who.is_admin() && store.is_admin(who.user_id).await.map_err(store_error)? {
        Ok(who.user_id)
    } else {
        Err(ApiError::forbidden())
    }
}
