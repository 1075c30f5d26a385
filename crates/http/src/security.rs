//! Security headers and CORS.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What [`security_headers`] adds.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// `Content-Security-Policy` for HTML responses (the web UI).
    pub csp: Option<HeaderValue>,
    /// Send `Strict-Transport-Security` (only when served over TLS).
    pub hsts: bool,
}

/// `Strict-Transport-Security` value: two years, subdomains.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Middleware: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
/// `Referrer-Policy: no-referrer` on every response; the configured CSP on
/// `text/html` and JavaScript responses and one that allows nothing on
/// the others;
/// `Cache-Control: no-store` on private answers ([`is_private`]); HSTS when
/// configured for TLS. Headers a handler set itself
/// are kept.
pub async fn security_headers(
    State(cfg): State<Arc<SecurityHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let private = is_private(&req);
    let mut res = next.run(req).await;
    let res_status = res.status();
    // Pages, and scripts: a service worker runs under the policy sent
    // with its own script, so `default-src 'none'` there would forbid it
    // every fetch (the web UI's offline shell).
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("text/html")
                || v.starts_with("text/javascript")
                || v.starts_with("application/javascript")
        });
    let h = res.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    if is_html {
        if let Some(csp) = &cfg.csp {
            h.entry(header::CONTENT_SECURITY_POLICY)
                .or_insert(csp.clone());
        }
    } else if res_status != StatusCode::NOT_MODIFIED {
        // Not on a 304: its headers update the cached response, so a page
        // revalidated by the browser would take on the allow-nothing policy
        // and load none of its scripts.
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(NON_HTML_CSP));
    }
    if private {
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    if cfg.hsts {
        h.entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
    res
}

/// Why a CORS configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum CorsError {
    /// `*` with credentials would let any site act as the user.
    #[error("CORS: \"*\" cannot be combined with credentials")]
    WildcardWithCredentials,
    /// An origin is not a valid header value.
    #[error("CORS: invalid origin {0:?}")]
    InvalidOrigin(String),
}

/// The policy of every response that is not a page (JSON, text, images):
/// opened as a document it may load and run nothing, and nobody may frame it.
const NON_HTML_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Whether the answer is someone's own: the request carried credentials (a
/// Bearer token, an API key) or went to the auth routes, which answer tokens
/// to callers that have none yet. Such answers get `Cache-Control:
/// no-store`, so no browser or proxy cache keeps balances or tokens.
fn is_private(req: &Request) -> bool {
    let h = req.headers();
    h.contains_key(header::AUTHORIZATION)
        || h.contains_key("x-mbx-apikey")
        || req.uri().path().starts_with("/api/v1/auth/")
}

/// A `CorsLayer` for an allow-list of origins. Empty list: no cross-origin
/// access (preflights get no `Access-Control-Allow-*` headers). `*` alone
/// allows any origin, and is refused together with credentials.
pub fn cors_layer(origins: &[String], allow_credentials: bool) -> Result<CorsLayer, CorsError> {
    let wildcard = origins.iter().any(|o| o == "*");
    if wildcard && allow_credentials {
        return Err(CorsError::WildcardWithCredentials);
    }
    let allow_origin = if wildcard {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| CorsError::InvalidOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-mbx-apikey"),
            crate::request_id::REQUEST_ID,
        ])
        .expose_headers([
            crate::request_id::REQUEST_ID,
            crate::rate_limit::USED_WEIGHT_1M,
            crate::rate_limit::ORDER_COUNT_10S,
            crate::rate_limit::ORDER_COUNT_1D,
            header::RETRY_AFTER,
        ])
        .allow_credentials(allow_credentials)
        .max_age(Duration::from_secs(600)))
}
