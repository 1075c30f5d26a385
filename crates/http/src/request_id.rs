//! Request ids: taken from `X-Request-Id` when sane, generated otherwise,
//! carried by a tracing span (so every log line of the request has it) and
//! returned in the response header. When spans are exported over OTLP
//! (`log.otlp_endpoint`), the span also records its OpenTelemetry
//! `trace_id`, so a log line leads to its trace in Jaeger and back; a
//! caller's `traceparent` makes the span part of the caller's trace
//! ([`crate::trace_context`]).

use axum::extract::{FromRequestParts, Request};
use axum::http::{request::Parts, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// `x-request-id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in the request extensions (and an extractor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new id: a UUIDv7 (time-ordered) in its hyphenated form.
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::now_v7().hyphenated().to_string().into())
    }

    /// Accepts a client-supplied id only if it is 1–64 characters of
    /// `[A-Za-z0-9_-]` (safe for logs and headers).
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| RequestId(value.into()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}

/// Middleware: assigns the id, runs the request inside a `request` span
/// with `request_id`, `method`, `path`, `user_id` once known and
/// `trace_id` when spans are exported, logs its completion, and sets
/// `X-Request-Id` on the response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %req.method(),
        path = %req.uri().path(),
        trace_id = tracing::field::Empty,
        // Recorded once the caller is known (gateway authentication, the
        // internal channel's identity header).
        user_id = tracing::field::Empty,
    );
    crate::trace_context::adopt(&span, req.headers());
    record_trace_id(&span);
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = ms, "request completed");
        } else {
            tracing::debug!(status, elapsed_ms = ms, "request completed");
        }
    });
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// Records the OpenTelemetry trace id of `span` as its `trace_id` field.
/// Without an OpenTelemetry layer the context is empty and nothing is
/// recorded, so log lines carry no meaningless zero id.
fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    let otel = cx.span();
    let context = otel.span_context();
    if context.is_valid() {
        span.record("trace_id", tracing::field::display(context.trace_id()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert!(RequestId::parse("abc-DEF_123").is_some());
        assert!(RequestId::parse(&"a".repeat(64)).is_some());
        assert!(RequestId::parse(&"a".repeat(65)).is_none());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse("a\nb").is_none());
        assert!(RequestId::parse("é").is_none());
        let g = RequestId::generate();
        assert!(RequestId::parse(g.as_str()).is_some());
        assert_eq!(g.as_str().len(), 36);
    }
}
