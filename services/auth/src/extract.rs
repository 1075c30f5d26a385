//! Request extractors: JSON bodies with stable error codes, the caller's
//! address and user agent, and strings that must never be printed.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flowex_auth::Secret;
use flowex_http::ClientIp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;

use crate::error;

/// Longest user agent kept for the audit log and the session list.
const MAX_USER_AGENT: usize = 256;

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

/// Where a request came from, for the lockout counters, the audit log and
/// the session list.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address ([`ClientIp`]: the TCP peer, or what a trusted
    /// proxy says), if known.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, printable ASCII only, at most 256 characters.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub(crate) fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_canonical().to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ip = ClientIp::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ClientIp(ip)| ip);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| {
                v.as_bytes()
                    .iter()
                    .filter(|b| (0x20..0x7f).contains(*b))
                    .take(MAX_USER_AGENT)
                    .map(|b| *b as char)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty());
        Ok(RequestMeta { ip, user_agent })
    }
}
