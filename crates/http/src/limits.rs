//! Request timeout and overload handling.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Middleware: a request that has not produced its response within the
/// duration is answered 503 with -1007 / `timeout` (and its handler is
/// dropped), so a client never hangs.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            metrics::counter!("flowex_http_timeouts_total").increment(1);
            ApiError::timeout()
                .with_detail(format!("no response within {limit:?}"))
                .into_response()
        }
    }
}

/// Error handler for the load-shedding concurrency limit: 503 with -1008 /
/// `overloaded` and `Retry-After: 1`.
pub async fn overloaded(err: tower::BoxError) -> ApiError {
    metrics::counter!("flowex_http_shed_total").increment(1);
    if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::server_busy()
    } else {
        ApiError::internal(format!("middleware error: {err}"))
    }
}

/// Response for a panicking handler: 500, the panic message in the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    ApiError::internal(format!("handler panicked: {msg}")).into_response()
}
