//! One error type for every service, rendered in the shape of the API the
//! request came in on.
//!
//! | path | body |
//! |---|---|
//! | `/api/v3/…` (Binance) | `{"code":-1121,"msg":"Invalid symbol."}` |
//! | anything else (`/api/v1/…`, …) | `{"error":{"code":"invalid_symbol","message":"Invalid symbol."}}` |
//!
//! Every [`ApiError`] carries both shapes; the [`error_shape`] middleware
//! (part of [`crate::stack`]) picks one by path, and also turns every other
//! error response of the stack (axum's rejections, 404 and 405, 413 from the
//! body limit, panics) into the same shapes. A 5xx never shows internal
//! detail: [`ApiError::internal`] logs its detail (with the request id, from
//! the request span) and answers a generic message, which on `/api/v1`
//! names the request id (`Internal server error (request id …).`).
//!
//! # Binance codes used
//!
//! Texts are verbatim from Binance's public error-code list, because
//! clients map them to exception classes.
//!
//! | code | HTTP | constructor | message |
//! |---|---|---|---|
//! | -1000 | 500 | [`ApiError::internal`] | An unknown error occurred while processing the request. |
//! | -1000 | 413 | [`ApiError::payload_too_large`] | Request body too large. |
//! | -1001 | 503 | [`ApiError::journal_unavailable`] | Internal error; unable to process your request. Please try again. |
//! | -1002 | 401 | [`ApiError::unauthorized`] | You are not authorized to execute this request. |
//! | -1003 | 429 | [`ApiError::too_much_ip_weight`] | Too many requests; current limit of IP(%s) request weight per minute is %s. Please use the websocket for live updates to avoid bans. |
//! | -1003 | 429 | [`ApiError::too_much_weight`] | Too much request weight used; current limit is %s request weight per %s. Please use WebSocket Streams for live updates to avoid polling the API. |
//! | -1003 | 418 | [`ApiError::ip_banned`] | Way too much request weight used; IP banned until %s. Please use WebSocket Streams for live updates to avoid bans. |
//! | -1007 | 503 | [`ApiError::timeout`] | Timeout waiting for response from backend server. Send status unknown; execution status unknown. |
//! | -1008 | 503 | [`ApiError::server_busy`] | Server is currently overloaded with other requests. Please try again in a few minutes. |
//! | -1013 | 400 | [`ApiError::filter_failure`] | Filter failure: %s |
//! | -1015 | 429 | [`ApiError::too_many_orders`] | Too many new orders; current limit is %s orders per %s. |
//! | -1020 | 404/405 | [`ApiError::not_found`], [`ApiError::method_not_allowed`] | This operation is not supported. |
//! | -1021 | 400 | [`ApiError::timestamp_outside_recv_window`], [`ApiError::timestamp_ahead`] | Timestamp for this request is outside of the recvWindow. / Timestamp for this request was 1000ms ahead of the server's time. |
//! | -1022 | 400 | [`ApiError::invalid_signature`] | Signature for this request is not valid. |
//! | -1100 | 400 | [`ApiError::illegal_chars`], [`ApiError::illegal_chars_in`] | Illegal characters found in a parameter. / Illegal characters found in parameter '%s'; legal range is '%s'. |
//! | -1101 | 400 | [`ApiError::too_many_parameters`], [`ApiError::duplicate_parameter`] | Too many parameters sent for this endpoint. / Duplicate values for a parameter detected. |
//! | -1102 | 400 | [`ApiError::mandatory_param`], [`ApiError::mandatory_one_of`] | Mandatory parameter '%s' was not sent, was empty/null, or malformed. / Param '%s' or '%s' must be sent, but both were empty/null! |
//! | -1104 | 400 | [`ApiError::unread_parameters`] | Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'. |
//! | -1105 | 400 | [`ApiError::param_empty`] | Parameter '%s' was empty. |
//! | -1106 | 400 | [`ApiError::param_not_required`] | Parameter '%s' sent when not required. |
//! | -1111 | 400 | [`ApiError::bad_precision`] | Parameter '%s' has too much precision. |
//! | -1112 | 400 | [`ApiError::no_depth`] | No orders on book for symbol. |
//! | -1114 | 400 | [`ApiError::tif_not_required`] | TimeInForce parameter sent when not required. |
//! | -1115 | 400 | [`ApiError::invalid_tif`] | Invalid timeInForce. |
//! | -1116 | 400 | [`ApiError::invalid_order_type`] | Invalid orderType. |
//! | -1117 | 400 | [`ApiError::invalid_side`] | Invalid side. |
//! | -1118 | 400 | [`ApiError::empty_new_client_order_id`] | New client order ID was empty. |
//! | -1119 | 400 | [`ApiError::empty_orig_client_order_id`] | Original client order ID was empty. |
//! | -1120 | 400 | [`ApiError::invalid_interval`] | Invalid interval. |
//! | -1121 | 400 | [`ApiError::invalid_symbol`] | Invalid symbol. |
//! | -1125 | 400 | [`ApiError::invalid_listen_key`] | This listenKey does not exist. |
//! | -1127 | 400 | [`ApiError::lookup_interval_too_big`] | Lookup interval is too big. |
//! | -1128 | 400 | [`ApiError::optional_params_bad_combo`] | Combination of optional parameters invalid. |
//! | -1130 | 400 | [`ApiError::invalid_parameter`], [`ApiError::invalid_data`] | Data sent for parameter '%s' is not valid. / Invalid data sent for a parameter. |
//! | -2010 | 400 | [`ApiError::new_order_rejected`] | one of [`reject`]'s texts, e.g. Account has insufficient balance for requested action. |
//! | -2011 | 400 | [`ApiError::cancel_rejected`] | Unknown order sent. |
//! | -2013 | 400 | [`ApiError::no_such_order`] | Order does not exist. |
//! | -2014 | 401 | [`ApiError::bad_api_key_format`] | API-key format invalid. |
//! | -2015 | 401 | [`ApiError::rejected_api_key`] | Invalid API-key, IP, or permissions for action. |
//!
//! HTTP statuses follow what Binance answers: 4xx for the client's faults
//! (401 for the API-key errors and -1002, 429 for rate limits, 418 for an
//! IP ban), 5xx only for ours.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::sync::Arc;

/// Which API family a request belongs to, and so which error shape it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFamily {
    /// Binance Spot API compatibility (`/api/v3`): `{"code","msg"}`.
    Binance,
    /// FlowEx's own API (`/api/v1`) and everything else:
    /// `{"error":{"code","message"}}`.
    Native,
}

impl ApiFamily {
    /// The family of a request path.
    pub fn for_path(path: &str) -> ApiFamily {
        if path == "/api/v3" || path.starts_with("/api/v3/") {
            ApiFamily::Binance
        } else {
            ApiFamily::Native
        }
    }
}

/// The texts of `-2010 NEW_ORDER_REJECTED` / `-2011 CANCEL_REJECTED`
/// that FlowEx uses, verbatim from Binance.
pub mod reject {
    /// Not enough funds.
    pub const INSUFFICIENT_BALANCE: &str = "Account has insufficient balance for requested action.";
    /// A LIMIT_MAKER order would take.
    pub const WOULD_MATCH_AND_TAKE: &str = "Order would immediately match and take.";
    /// A stop order's stop price is already crossed by the last price.
    pub const WOULD_TRIGGER_IMMEDIATELY: &str = "Order would trigger immediately.";
    /// The market is not trading.
    pub const MARKET_CLOSED: &str = "Market is closed.";
    /// The client order id is in use by an open order.
    pub const DUPLICATE_ORDER: &str = "Duplicate order sent.";
    /// The order to cancel or amend is unknown.
    pub const UNKNOWN_ORDER: &str = "Unknown order sent.";
    /// Unsupported type/timeInForce/stopPrice combination.
    pub const UNSUPPORTED_ORDER_COMBINATION: &str = "Unsupported order combination";
    /// MARKET with quoteOrderQty not enabled.
    pub const QUOTE_ORDER_QTY_NOT_SUPPORTED: &str =
        "Quote order qty market orders are not support for this symbol.";
    /// price * qty is zero.
    pub const PRICE_QTY_ZERO: &str = "Price * QTY is zero or less.";
    /// `icebergQty` on a market whose exchangeInfo says `icebergAllowed:false`.
    pub const ICEBERG_NOT_SUPPORTED: &str = "Iceberg orders are not supported for this symbol.";
    /// `trailingDelta`: trailing stops are not offered (`allowTrailingStop:false`).
    pub const TRAILING_NOT_SUPPORTED: &str =
        "Trailing stop orders are not supported for this symbol.";
    /// The account may not trade.
    pub const ACCOUNT_CANNOT_TRADE: &str = "This account may not place or cancel orders.";
}

/// An error answered to a client. See the module docs for the shapes.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    binance_code: i32,
    binance_msg: Cow<'static, str>,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    detail: Option<String>,
    retry_after: Option<u64>,
}

/// Response extension that tells [`error_shape`] to leave an error
/// response as it is (e.g. the readiness report's 503). Use it only for
/// bodies that are safe to show.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;

/// Marker left in a response's extensions by [`ApiError::into_response`],
/// so the [`error_shape`] middleware can re-render it for the path's family.
#[derive(Debug, Clone)]
pub struct RenderedError(pub Arc<ApiError>);

const INTERNAL_MSG: &str = "An unknown error occurred while processing the request.";

impl ApiError {
    /// A Binance error; the native shape uses `native_code` and the same text.
    pub fn binance(
        status: StatusCode,
        code: i32,
        native_code: &'static str,
        msg: impl Into<Cow<'static, str>>,
    ) -> Self {
        let msg = msg.into();
        ApiError {
            status,
            binance_code: code,
            binance_msg: msg.clone(),
            code: Cow::Borrowed(native_code),
            message: msg,
            detail: None,
            retry_after: None,
        }
    }

    /// A native (`/api/v1`) error with a stable string code. On a Binance
    /// path it renders with a code derived from the status (-1002 for
    /// 401/403, -1020 for 404/405, -1003 for 429, -1000 otherwise) and the
    /// same message.
    pub fn native(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let message = message.into();
        let (binance_code, binance_msg) = match status.as_u16() {
            401 | 403 => (-1002, message.clone()),
            404 | 405 => (-1020, message.clone()),
            429 => (-1003, message.clone()),
            500.. => (-1000, Cow::Borrowed(INTERNAL_MSG)),
            _ => (-1000, message.clone()),
        };
        ApiError {
            status,
            binance_code,
            binance_msg,
            code: code.into(),
            message,
            detail: None,
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` (seconds) to the response.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A 500's native message names the request id, so a user's report
    /// leads to the log line with the detail (Binance's text stays verbatim).
    fn with_request_id(self, id: Option<&str>) -> Self {
        match id {
            Some(id) => {
                let message = format!("Internal server error (request id {id}).");
                self.native_message(message)
            }
            None => self,
        }
    }

    /// Attaches detail for the logs (never sent to the client).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// Binance code (`-1121`).
    pub fn binance_code(&self) -> i32 {
        self.binance_code
    }
    /// Binance message.
    pub fn binance_msg(&self) -> &str {
        &self.binance_msg
    }
    /// Native stable code (`invalid_symbol`).
    pub fn code(&self) -> &str {
        &self.code
    }
    /// Native message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// `Retry-After` seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The JSON body for a family.
    pub fn body(&self, family: ApiFamily) -> serde_json::Value {
        match family {
            ApiFamily::Binance => {
                serde_json::json!({ "code": self.binance_code, "msg": self.binance_msg })
            }
            ApiFamily::Native => {
                serde_json::json!({ "error": { "code": self.code, "message": self.message } })
            }
        }
    }

    /// Renders for a family (used directly by code that knows the path).
    pub fn into_response_for(self, family: ApiFamily) -> Response {
        self.log();
        self.render(family)
    }

    fn render(self, family: ApiFamily) -> Response {
        let body = serde_json::to_vec(&self.body(family)).expect("json");
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res.extensions_mut().insert(RenderedError(Arc::new(self)));
        res
    }

    fn log(&self) {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = %self.code,
                detail = self.detail.as_deref().unwrap_or(""),
                "request failed"
            );
        } else if let Some(d) = &self.detail {
            tracing::debug!(status = self.status.as_u16(), code = %self.code, detail = %d, "request refused");
        }
    }

    // ----- 10xx -----

    /// 500, -1000. `detail` goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::binance(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "internal",
            INTERNAL_MSG,
        )
        .with_detail(detail)
        .native_message("Internal server error.")
    }
    /// 413, -1000 "Request body too large." / `payload_too_large`.
    pub fn payload_too_large() -> Self {
        Self::binance(
            StatusCode::PAYLOAD_TOO_LARGE,
            -1000,
            "payload_too_large",
            "Request body too large.",
        )
    }
    /// 401, -1002.
    pub fn unauthorized() -> Self {
        Self::binance(
            StatusCode::UNAUTHORIZED,
            -1002,
            "unauthorized",
            "You are not authorized to execute this request.",
        )
    }
    /// 429, -1003: an IP used more than its request weight per minute.
    pub fn too_much_ip_weight(ip: impl std::fmt::Display, limit: u64, retry_after: u64) -> Self {
        Self::binance(
            StatusCode::TOO_MANY_REQUESTS,
            -1003,
            "rate_limited",
            format!("Too many requests; current limit of IP({ip}) request weight per minute is {limit}. Please use the websocket for live updates to avoid bans."),
        )
        .with_retry_after(retry_after)
    }
    /// 429, -1003: a user or API key used more than its request weight.
    pub fn too_much_weight(limit: u64, interval: &str, retry_after: u64) -> Self {
        Self::binance(
            StatusCode::TOO_MANY_REQUESTS,
            -1003,
            "rate_limited",
            format!("Too much request weight used; current limit is {limit} request weight per {interval}. Please use WebSocket Streams for live updates to avoid polling the API."),
        )
        .with_retry_after(retry_after)
    }
    /// 429, -1003: an IP made more requests of one kind this hour than
    /// it may (`what`: "registrations", "faucet claims").
    pub fn quota_exceeded(
        what: &str,
        ip: impl std::fmt::Display,
        limit: u64,
        retry_after: u64,
    ) -> Self {
        Self::binance(
            StatusCode::TOO_MANY_REQUESTS,
            -1003,
            "rate_limited",
            format!("Too many {what}; current limit of IP({ip}) is {limit} {what} per hour."),
        )
        .with_retry_after(retry_after)
    }
    /// 418, -1003: an IP kept going after 429s and is banned until
    /// `until_ms` (Unix milliseconds).
    pub fn ip_banned(until_ms: u64, retry_after: u64) -> Self {
        Self::binance(
            StatusCode::IM_A_TEAPOT,
            -1003,
            "ip_banned",
            format!("Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."),
        )
        .with_retry_after(retry_after)
    }
    /// 503, -1007: the request did not finish in time.
    pub fn timeout() -> Self {
        Self::binance(
            StatusCode::SERVICE_UNAVAILABLE,
            -1007,
            "timeout",
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        )
        .native_message("The request timed out; its outcome is unknown.")
    }
    /// 503, -1001: the journal cannot write (a full disk, an I/O error), so
    /// no state change is accepted: the command was not applied (unless the
    /// process dies before the journal is cut back, the same uncertainty as
    /// a timeout), reads still work and the exchange resumes by itself.
    /// `detail` goes to the log only.
    pub fn journal_unavailable(detail: impl Into<String>) -> Self {
        Self::binance(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            "journal_unavailable",
            "Internal error; unable to process your request. Please try again.",
        )
        .native_message(
            "The exchange cannot record changes right now (its storage is unavailable); the request was not carried out. Try again shortly.",
        )
        .with_detail(detail)
        .with_retry_after(1)
    }
    /// 503, -1008: too many requests in flight.
    pub fn server_busy() -> Self {
        Self::binance(
            StatusCode::SERVICE_UNAVAILABLE,
            -1008,
            "overloaded",
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        )
        .with_retry_after(1)
    }
    /// 400, -1013 "Filter failure: LOT_SIZE".
    pub fn filter_failure(filter: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1013,
            "filter_failure",
            format!("Filter failure: {filter}"),
        )
    }
    /// 429, -1015, e.g. `too_many_orders(100, "10 SECOND", 4)`.
    pub fn too_many_orders(limit: u64, interval: &str, retry_after: u64) -> Self {
        Self::binance(
            StatusCode::TOO_MANY_REQUESTS,
            -1015,
            "too_many_orders",
            format!("Too many new orders; current limit is {limit} orders per {interval}."),
        )
        .with_retry_after(retry_after)
    }
    /// 404, -1020 / `not_found`.
    pub fn not_found() -> Self {
        Self::binance(
            StatusCode::NOT_FOUND,
            -1020,
            "not_found",
            "This operation is not supported.",
        )
        .native_message("Not found.")
    }
    /// 405, -1020 / `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::binance(
            StatusCode::METHOD_NOT_ALLOWED,
            -1020,
            "method_not_allowed",
            "This operation is not supported.",
        )
        .native_message("Method not allowed.")
    }
    /// 400, -1021: timestamp older than recvWindow.
    pub fn timestamp_outside_recv_window() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1021,
            "invalid_timestamp",
            "Timestamp for this request is outside of the recvWindow.",
        )
    }
    /// 400, -1021: timestamp more than 1 s in the future.
    pub fn timestamp_ahead() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1021,
            "invalid_timestamp",
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }
    /// 400, -1022.
    pub fn invalid_signature() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1022,
            "invalid_signature",
            "Signature for this request is not valid.",
        )
    }

    // ----- 11xx -----

    /// 400, -1100 without a parameter name.
    pub fn illegal_chars() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1100,
            "illegal_characters",
            "Illegal characters found in a parameter.",
        )
    }
    /// 400, -1100 for `param`, e.g. legal range `^[A-Z0-9-_.]{1,20}$`.
    pub fn illegal_chars_in(param: &str, legal_range: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1100,
            "illegal_characters",
            format!(
                "Illegal characters found in parameter '{param}'; legal range is '{legal_range}'."
            ),
        )
    }
    /// 400, -1101.
    pub fn too_many_parameters() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1101,
            "too_many_parameters",
            "Too many parameters sent for this endpoint.",
        )
    }
    /// 400, -1101: a parameter name appears twice in the query (or twice
    /// in the body).
    pub fn duplicate_parameter() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1101,
            "duplicate_parameter",
            "Duplicate values for a parameter detected.",
        )
    }
    /// 400, -1102.
    pub fn mandatory_param(param: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1102,
            "missing_parameter",
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }
    /// 400, -1102: one of two parameters is required.
    pub fn mandatory_one_of(a: &str, b: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1102,
            "missing_parameter",
            format!("Param '{a}' or '{b}' must be sent, but both were empty/null!"),
        )
    }
    /// 400, -1104.
    pub fn unread_parameters(read: usize, sent: usize) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1104,
            "unread_parameters",
            format!("Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."),
        )
    }
    /// 400, -1105.
    pub fn param_empty(param: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1105,
            "empty_parameter",
            format!("Parameter '{param}' was empty."),
        )
    }
    /// 400, -1106.
    pub fn param_not_required(param: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1106,
            "parameter_not_required",
            format!("Parameter '{param}' sent when not required."),
        )
    }
    /// 400, -1111.
    pub fn bad_precision(param: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1111,
            "bad_precision",
            format!("Parameter '{param}' has too much precision."),
        )
    }
    /// 400, -1112.
    pub fn no_depth() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1112,
            "no_depth",
            "No orders on book for symbol.",
        )
    }
    /// 400, -1114.
    pub fn tif_not_required() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1114,
            "time_in_force_not_required",
            "TimeInForce parameter sent when not required.",
        )
    }
    /// 400, -1115.
    pub fn invalid_tif() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1115,
            "invalid_time_in_force",
            "Invalid timeInForce.",
        )
    }
    /// 400, -1116.
    pub fn invalid_order_type() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1116,
            "invalid_order_type",
            "Invalid orderType.",
        )
    }
    /// 400, -1117.
    pub fn invalid_side() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1117,
            "invalid_side",
            "Invalid side.",
        )
    }
    /// 400, -1118.
    pub fn empty_new_client_order_id() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1118,
            "empty_client_order_id",
            "New client order ID was empty.",
        )
    }
    /// 400, -1119.
    pub fn empty_orig_client_order_id() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1119,
            "empty_client_order_id",
            "Original client order ID was empty.",
        )
    }
    /// 400, -1120.
    pub fn invalid_interval() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1120,
            "invalid_interval",
            "Invalid interval.",
        )
    }
    /// 400, -1121.
    pub fn invalid_symbol() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1121,
            "invalid_symbol",
            "Invalid symbol.",
        )
    }
    /// 400, -1125.
    pub fn invalid_listen_key() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1125,
            "invalid_listen_key",
            "This listenKey does not exist.",
        )
    }
    /// 400, -1127.
    pub fn lookup_interval_too_big() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1127,
            "lookup_interval_too_big",
            "Lookup interval is too big.",
        )
    }
    /// 400, -1128.
    pub fn optional_params_bad_combo() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1128,
            "invalid_parameter_combination",
            "Combination of optional parameters invalid.",
        )
    }
    /// 400, -1130 for `param`.
    pub fn invalid_parameter(param: &str) -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1130,
            "invalid_parameter",
            format!("Data sent for parameter '{param}' is not valid."),
        )
    }
    /// 400, -1130 without a parameter name.
    pub fn invalid_data() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -1130,
            "invalid_parameter",
            "Invalid data sent for a parameter.",
        )
    }

    // ----- 20xx -----

    /// 400, -2010 with one of the [`reject`] texts.
    pub fn new_order_rejected(msg: &'static str) -> Self {
        Self::binance(StatusCode::BAD_REQUEST, -2010, "order_rejected", msg)
    }
    /// 400, -2011 "Unknown order sent." (or another [`reject`] text).
    pub fn cancel_rejected(msg: &'static str) -> Self {
        Self::binance(StatusCode::BAD_REQUEST, -2011, "cancel_rejected", msg)
    }
    /// 400, -2013.
    pub fn no_such_order() -> Self {
        Self::binance(
            StatusCode::BAD_REQUEST,
            -2013,
            "order_not_found",
            "Order does not exist.",
        )
    }
    /// 401, -2014.
    pub fn bad_api_key_format() -> Self {
        Self::binance(
            StatusCode::UNAUTHORIZED,
            -2014,
            "invalid_api_key",
            "API-key format invalid.",
        )
    }
    /// 401, -2015.
    pub fn rejected_api_key() -> Self {
        Self::binance(
            StatusCode::UNAUTHORIZED,
            -2015,
            "invalid_api_key",
            "Invalid API-key, IP, or permissions for action.",
        )
    }

    // ----- native helpers -----

    /// Replaces the native message (the Binance text stays verbatim).
    pub fn native_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// 400 with a native code and message.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::native(StatusCode::BAD_REQUEST, code, message)
    }
    /// 403 `forbidden`.
    pub fn forbidden() -> Self {
        Self::native(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You are not allowed to do this.",
        )
    }
    /// 409 with a native code and message.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::native(StatusCode::CONFLICT, code, message)
    }
    /// 503 `service_unavailable`: a dependency (database, downstream
    /// service) is down. `detail` goes to the log only.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::native(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service is temporarily unavailable; try again shortly.",
        )
        .with_detail(detail)
    }

    /// The error for an error response that did not come from an
    /// `ApiError` (axum rejections, default 404/405, tower-http's 413).
    /// `text` is the response's plain-text body, used as the native message
    /// for 4xx; 5xx get the generic message.
    pub fn from_status(status: StatusCode, text: &str) -> Self {
        match status.as_u16() {
            404 => Self::not_found(),
            405 => Self::method_not_allowed(),
            408 => Self::timeout(),
            413 => Self::payload_too_large(),
            429 => Self::binance(status, -1003, "rate_limited", "Too many requests queued."),
            401 => Self::unauthorized(),
            403 => Self::forbidden(),
            500.. => {
                let mut e = Self::internal(format!("{status}: {text}"));
                e.status = status;
                e
            }
            _ => {
                let text = text.trim();
                let message = if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("Bad request")
                        .to_string()
                } else {
                    text.chars().take(300).collect()
                };
                let code = match status.as_u16() {
                    415 => "unsupported_media_type",
                    422 => "invalid_body",
                    _ => "bad_request",
                };
                let mut e =
                    Self::binance(status, -1130, code, "Invalid data sent for a parameter.")
                        .native_message(message);
                e.status = status;
                e
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.status.as_u16(),
            self.binance_code,
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    /// Renders the native shape and leaves a [`RenderedError`] marker; the
    /// [`error_shape`] middleware re-renders it for Binance paths.
    fn into_response(self) -> Response {
        self.log();
        self.render(ApiFamily::Native)
    }
}

/// Middleware: gives every error response the shape of its path's API
/// family. `ApiError`s are re-rendered; other 4xx/5xx responses without a
/// JSON body (axum rejections, 404/405, 413, 5xx) are converted with
/// [`ApiError::from_status`]. 5xx bodies never carry detail.
pub async fn error_shape(req: Request, next: Next) -> Response {
    let family = ApiFamily::for_path(req.uri().path());
    let request_id = req
        .extensions()
        .get::<crate::RequestId>()
        .map(|r| r.0.clone());
    let res = next.run(req).await;
    let status = res.status();
    let internal = status == StatusCode::INTERNAL_SERVER_ERROR;
    if let Some(RenderedError(err)) = res.extensions().get::<RenderedError>().cloned() {
        if family == ApiFamily::Native && !internal {
            return res;
        }
        let (parts, _) = res.into_parts();
        let mut err = ApiError::clone(&err);
        if internal {
            err = err.with_request_id(request_id.as_deref());
        }
        let mut new = err.render(family);
        copy_extra_headers(&parts.headers, new.headers_mut());
        return new;
    }
    if !(status.is_client_error() || status.is_server_error())
        || res.extensions().get::<KeepBody>().is_some()
    {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && status.is_client_error() {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut err = ApiError::from_status(status, &text);
    err.log();
    if internal {
        err = err.with_request_id(request_id.as_deref());
    }
    let mut new = err.render(family);
    copy_extra_headers(&parts.headers, new.headers_mut());
    new
}

fn copy_extra_headers(from: &http::HeaderMap, to: &mut http::HeaderMap) {
    let present: Vec<http::HeaderName> = to.keys().cloned().collect();
    for (name, value) in from {
        if name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH || present.contains(name)
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// Fallback handler: 404 in the path's shape.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}
