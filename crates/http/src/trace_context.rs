//! W3C Trace Context between the services: one client request is one
//! trace, whichever processes it crosses.
//!
//! A request's `traceparent` (and `tracestate`) header makes its `request`
//! span ([`crate::request_id`]) a child of the caller's span ([`adopt`]);
//! every internal call carries the current span's context
//! ([`inject`], called by [`crate::identity::InternalToken::stamp`], the one
//! function that prepares a request to another service: the gateway's
//! proxy and its session and key lookups, the engine client). The
//! propagator is OpenTelemetry's own; without span export
//! (`log.otlp_endpoint` unset) the current context is empty, nothing is
//! injected and an incoming header changes nothing.
//!
//! A client's `traceparent` at the gateway is accepted like any other
//! caller's (it only joins the client's trace; it grants nothing) and is
//! replaced by the gateway's own span context on the way to a service.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(k, v);
        }
    }
}

/// Makes `span` a child of the trace context in `headers`, if they carry a
/// valid one (call before anything reads the span's context).
pub fn adopt(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        // Fails only without an OpenTelemetry layer: nothing to join then.
        let _ = span.set_parent(parent);
    }
}

/// Replaces any trace context in `headers` with the current span's.
pub fn inject(headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_span_export_nothing_is_injected_and_a_client_header_is_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        h.insert(TRACESTATE, HeaderValue::from_static("vendor=x"));
        inject(&mut h);
        assert!(h.get(TRACEPARENT).is_none() && h.get(TRACESTATE).is_none());
    }

    #[test]
    fn the_propagator_reads_what_it_writes() {
        let mut h = HeaderMap::new();
        let p = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        h.insert(TRACEPARENT, HeaderValue::from_static(p));
        let cx = TraceContextPropagator::new().extract(&Headers(&h));
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(&mut out));
        assert_eq!(out[TRACEPARENT], p);
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-zz-b7ad6b7169203331-01"),
        );
        let cx = TraceContextPropagator::new().extract(&Headers(&h));
        assert!(!cx.span().span_context().is_valid());
    }
}
