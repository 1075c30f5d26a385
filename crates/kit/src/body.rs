//! JSON request bodies, one answer in every service: 415
//! `unsupported_media_type` without a JSON content type, 400 `invalid_json`
//! for bytes that are not JSON, 400 `invalid_body` for a missing, unknown
//! or mistyped field (the message names the field, never the parser's
//! grammar or a position in the input); the stack's body limit answers 413.
//!
//! [`Json`] and [`OptionalJson`] reject before the handler runs. Admin
//! routes take a [`LazyJson`] and parse it after the role check, so that a
//! caller who may not use the route learns nothing about its body.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flowex_http::ApiError;
use serde::de::DeserializeOwned;

/// A JSON body, parsed before the handler runs.
pub struct Json<T>(pub T);

/// An optional JSON body: an empty body (or only whitespace) is `None`;
/// anything else must be JSON as for [`Json`].
pub struct OptionalJson<T>(pub Option<T>);

/// A body read but not yet parsed: [`LazyJson::parse`] applies the rules
/// of [`Json`] when the handler is ready for them.
pub struct LazyJson {
    bytes: Bytes,
    json_content_type: bool,
}

impl LazyJson {
    /// The body as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.json_content_type {
            return Err(unsupported_media_type());
        }
        parse_json(&self.bytes)
    }

    /// The body as `T`, or `None` when it is empty or JSON `null` (the
    /// documents describe an optional body as `null` or the object).
    pub fn parse_optional<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        if is_blank(&self.bytes) {
            return Ok(None);
        }
        self.parse::<Option<T>>()
    }
}

/// 415 `unsupported_media_type`.
pub fn unsupported_media_type() -> ApiError {
    ApiError::native(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Send the body as JSON with Content-Type: application/json.",
    )
}

/// A response body as JSON: the typed structs that also give the OpenAPI
/// document its schema (so the document describes what is sent). Keys come
/// out sorted, as `json!` sorts them.
pub fn to_value<T: serde::Serialize>(body: &T) -> serde_json::Value {
    // Plain structs of strings, numbers, options and vectors: serialising
    // them cannot fail.
    serde_json::to_value(body).expect("a response struct serialises")
}

/// Parses `bytes` as `T` with this module's error answers.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let not_json = || ApiError::bad_request("invalid_json", "The body is not valid JSON.");
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => invalid_body(&path, &inner),
            _ => not_json(),
        }
    })?;
    de.end().map_err(|_| not_json())?;
    Ok(value)
}

/// 400 `invalid_body` naming the field and what is wrong with it, in
/// words that do not depend on the parser.
fn invalid_body(path: &str, e: &serde_json::Error) -> ApiError {
    let detail = e.to_string();
    let detail = detail.split(" at line ").next().unwrap_or_default();
    let message = if let Some(field) = backticked(detail, "unknown field `") {
        // The path already ends at the unknown field.
        let named = if path.is_empty() || path == "." {
            field
        } else {
            path
        };
        format!("Unknown field '{named}'.")
    } else if let Some(field) = backticked(detail, "missing field `") {
        format!("Missing field '{}'.", join(path, field))
    } else if path.is_empty() || path == "." || path.starts_with('[') {
        "The body has the wrong shape.".to_string()
    } else {
        format!("Field '{path}' has a value of the wrong type or range.")
    };
    ApiError::bad_request("invalid_body", message)
}

/// The name between `prefix` and the next backtick, if `detail` starts so.
fn backticked<'a>(detail: &'a str, prefix: &str) -> Option<&'a str> {
    detail.strip_prefix(prefix)?.split('`').next()
}

/// `parent.field`, or `field` at the top level.
fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() || parent == "." {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

impl<S: Send + Sync> FromRequest<S> for LazyJson {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let json_content_type = has_json_content_type(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(LazyJson {
            bytes,
            json_content_type,
        })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = LazyJson::from_request(req, state).await?;
        body.parse().map(Json).map_err(IntoResponse::into_response)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = LazyJson::from_request(req, state).await?;
        body.parse_optional()
            .map(OptionalJson)
            .map_err(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        decimals: u8,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: u32,
    }

    fn message(body: &str) -> (String, String) {
        let e = parse_json::<Login>(body.as_bytes()).unwrap_err();
        (e.code().to_string(), e.message().to_string())
    }

    #[test]
    fn names_the_field_without_the_parsers_grammar() {
        let cases = [
            (
                r#"{"email":"a","decimals":1,"role":"admin"}"#,
                "invalid_body",
                "Unknown field 'role'.",
            ),
            (
                r#"{"decimals":1}"#,
                "invalid_body",
                "Missing field 'email'.",
            ),
            (
                r#"{"email":"a","decimals":-1}"#,
                "invalid_body",
                "Field 'decimals' has a value of the wrong type or range.",
            ),
            (
                r#"{"email":"a","decimals":1,"inner":{"x":1,"y":2}}"#,
                "invalid_body",
                "Unknown field 'inner.y'.",
            ),
            (r#"[1]"#, "invalid_body", "The body has the wrong shape."),
            (
                r#"{"email":"#,
                "invalid_json",
                "The body is not valid JSON.",
            ),
            (
                r#"{"email":"a","decimals":1} x"#,
                "invalid_json",
                "The body is not valid JSON.",
            ),
        ];
        for (body, code, text) in cases {
            assert_eq!(
                message(body),
                (code.to_string(), text.to_string()),
                "{body}"
            );
        }
    }

    #[test]
    fn accepts_a_valid_body() {
        let v = parse_json::<Login>(br#" {"email":"a","decimals":8} "#).unwrap();
        assert_eq!((v.email.as_str(), v.decimals), ("a", 8));
    }
}
