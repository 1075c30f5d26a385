//! The one mapping of a storage failure to what the caller is told.
//!
//! | store error | answer |
//! |---|---|
//! | `Busy`, `Unavailable` (retryable) | 503 `service_unavailable`, `Retry-After: 1` (`/api/v3`: -1000) |
//! | `OutOfRange` (a value the caller sent does not fit a column, e.g. an id above 2^63 − 1) | 400 `invalid_parameter` (`/api/v3`: -1130) |
//! | `NotFound` | 404 `not_found` |
//! | `Duplicate`, `EmailTaken` | 409 `conflict` / `email_taken` |
//! | `InvalidTransition` | 409 `invalid_transition` |
//! | anything else | 500 `internal`: the message names the request id, the detail goes to the log only |
//!
//! A caller's bad input never becomes a 5xx: ids are range-checked at the
//! edge ([`flowex_http::ids`]), and whatever still reaches the store out of
//! range is a 400 here.

use axum::http::StatusCode;
use flowex_http::ApiError;
use flowex_store::StoreError;

/// What a storage failure answers (see the module docs).
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        e if e.is_retryable() => ApiError::unavailable(format!("store: {e}")).with_retry_after(1),
        StoreError::OutOfRange { .. } => ApiError::invalid_data().with_detail(e.to_string()),
        StoreError::NotFound { entity } => ApiError::native(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {entity}."),
        ),
        StoreError::EmailTaken => ApiError::conflict(
            "email_taken",
            "An account with this e-mail address already exists.",
        ),
        StoreError::Duplicate { entity } => {
            ApiError::conflict("conflict", format!("This {entity} already exists."))
        }
        StoreError::InvalidTransition { from, to, .. } => ApiError::conflict(
            "invalid_transition",
            format!("Cannot go from {from} to {to}."),
        ),
        e => ApiError::internal(format!("store: {e}")),
    }
}

/// `?` on a store call inside a handler.
pub trait StoreResultExt<T> {
    /// The store's error as the caller's [`ApiError`] ([`store_error`]).
    fn or_api(self) -> Result<T, ApiError>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_4xx_and_only_our_faults_are_5xx() {
        let out_of_range = StoreError::OutOfRange {
            what: "order id",
            value: "9223372036854775808".into(),
        };
        let e = store_error(out_of_range);
        assert_eq!(
            (e.status(), e.binance_code()),
            (StatusCode::BAD_REQUEST, -1130)
        );
        let e = store_error(StoreError::Unavailable(sqlx_pool_timeout()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after(), Some(1));
        let e = store_error(StoreError::NotFound { entity: "user" });
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let e = store_error(StoreError::Duplicate { entity: "deposit" });
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "conflict"));
        let e = store_error(StoreError::Corrupt {
            column: "secret_sealed",
            detail: "table users, row 3".into(),
        });
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message().contains("users") && !e.binance_msg().contains("users"));
    }

    fn sqlx_pool_timeout() -> sqlx::Error {
        sqlx::Error::PoolTimedOut
    }
}
