//! What every FlowEx service's handlers share above [`flowex_http`] and
//! [`flowex_store`]:
//!
//! - [`store_error`] / [`StoreResultExt::or_api`]: the one mapping of a
//!   [`StoreError`](flowex_store::StoreError) to an
//!   [`ApiError`](flowex_http::ApiError).
//!
//! Services depend on it; it never depends on a service.

#![warn(missing_docs)]

mod store_error;

pub use store_error::{store_error, StoreResultExt};
