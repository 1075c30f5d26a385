//! What every FlowEx service's handlers share above [`flowex_http`] and
//! [`flowex_store`]:
//!
//! - [`store_error`] / [`StoreResultExt::or_api`]: the one mapping of a
//!   [`StoreError`](flowex_store::StoreError) to an
//!   [`ApiError`](flowex_http::ApiError);
//! - [`require_admin`]: the one admin guard (role in the token and in the
//!   database), used by every admin route of every service;
//! - [`audit`]: the one audit recorder ([`RequestMeta`], [`record`]) and
//!   the frame of an admin route ([`AdminCall::run`]: guard, operation,
//!   audit row of the outcome);
//! - [`body`]: JSON request bodies with one answer to a bad body in every
//!   service (415, 400 `invalid_json`, 400 `invalid_body` naming the field).
//!
//! Services depend on it; it never depends on a service.

#![warn(missing_docs)]

mod admin;
pub mod audit;
pub mod body;
mod store_error;

pub use admin::require_admin;
pub use audit::{record, AdminCall, AuditRow, Done, RequestMeta};
pub use body::{Json, LazyJson, OptionalJson};
pub use store_error::{store_error, StoreResultExt};
