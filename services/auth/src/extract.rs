//! Request extractors: JSON bodies with stable error codes, the caller's
//! address and user agent, and strings that must never be printed.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flowex_auth::Secret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error;

/// A JSON body. Unlike `axum::Json`, its rejections carry FlowEx's stable
/// codes: 415 `unsupported_media_type` without a JSON content type, 400
/// `invalid_json` for malformed JSON, 400 `invalid_body` for a missing,
/// unknown or mistyped field; the stack's body limit answers 413.
pub struct Json<T>(pub T);

fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, flowex_http::ApiError> {
    serde_json::from_slice::<T>(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => error::invalid_body(e),
        _ => error::invalid_json(e),
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        if !has_json_content_type(req.headers()) {
            return Err(error::unsupported_media_type().into_response());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_json(&bytes)
            .map(Json)
            .map_err(IntoResponse::into_response)
    }
}

/// An optional JSON body: an empty body is `None`; anything else must be
/// JSON as for [`Json`].
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let json = has_json_content_type(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(error::unsupported_media_type().into_response());
        }
        parse_json(&bytes)
            .map(|v| OptionalJson(Some(v)))
            .map_err(IntoResponse::into_response)
    }
}

/// A string from a request body that must never be printed (passwords,
/// tokens, codes): `Debug` shows `[redacted]`, the memory is zeroed on drop.
pub struct SecretString(pub Secret<String>);

impl SecretString {
    /// The value.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretString(Secret::new(s)))
    }
}

/// Where a request came from (lockout counters, audit log, session list):
/// the one extractor every service's audit uses.
pub use flowex_kit::RequestMeta;
