//! The web UI at `/`: the trading terminal of `web/` (React, built by Vite).
//!
//! Served, in this order, from:
//!
//! 1. the web directory ([`crate::GatewayConfig::web_dir`], `web/dist` by
//!    default) when it has an `index.html`: a developer's `npm run build`
//!    is picked up without rebuilding the gateway;
//! 2. the build compiled into the binary: the crate's `build.rs` runs
//!    `npm ci` and `npm run build` and embeds every file, so a plain
//!    `cargo build` on a machine with npm serves the UI with no other step.
//!    Vite's content-hashed `assets/*` are cached for a year (`immutable`);
//!    everything else (the index above all) is `no-cache` with an `ETag`,
//!    so a new binary is picked up at once;
//! 3. otherwise a small page linking to `/docs` and saying why there is no
//!    UI (`npm` missing at build time, `FLOWEX_SKIP_WEB_ASSETS=1`, …).
//!
//! Paths without a file extension that match no file are client-side
//! routes (`/trade/BTCUSDT`) and get the index; `/api/*` and the stream
//! endpoints (`/ws`, `/stream`, `/ws-api`) are never the UI.

use crate::docs::EmbeddedAsset;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use flowex_http::ApiError;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

// WEB_UI (path without the leading `/`) and WEB_UI_NOT_EMBEDDED_BECAUSE.
include!(concat!(env!("OUT_DIR"), "/web_ui.rs"));

/// Cache-Control of Vite's content-hashed files.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether this binary carries the web UI: the number of files, or why the
/// build did not embed it. A web directory with an `index.html` works either way.
pub fn embedded_web_ui() -> Result<usize, &'static str> {
    if WEB_UI.is_empty() {
        Err(WEB_UI_NOT_EMBEDDED_BECAUSE)
    } else {
        Ok(WEB_UI.len())
    }
}

const NO_UI_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FlowEx</title>
</head>
<body>
<h1>FlowEx is running</h1>
<p>The web UI is not available on this server: this binary was built
without it ({why}). Building the gateway with <code>npm</code> on the
<code>PATH</code> and the npm registry reachable compiles it in
(<code>touch web/package-lock.json</code>, then <code>cargo build --release
-p flowex</code>); or run <code>npm ci &amp;&amp; npm run build</code> in
<code>web/</code> and reload. The API is available:
<a href="/docs">API documentation</a>, <a href="/openapi.json">OpenAPI document</a>,
<a href="/health/ready">readiness</a>.</p>
</body>
</html>
"#;

/// The fallback for paths nobody else serves.
pub(crate) async fn serve(web_dir: Option<Arc<PathBuf>>, req: Request) -> Response {
    serve_with(web_dir, WEB_UI, WEB_UI_NOT_EMBEDDED_BECAUSE, req).await
}

async fn serve_with(
    web_dir: Option<Arc<PathBuf>>,
    embedded: &'static [EmbeddedAsset],
    not_embedded_because: &str,
    req: Request,
) -> Response {
    let path = req.uri().path();
    // The API and the stream endpoints are never the UI (a WebSocket
    // handshake answered with the index would look like a broken server).
    let reserved = ["/api", "/ws", "/stream", "/ws-api"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')));
    if reserved {
        return ApiError::not_found().into_response();
    }
    if let Some(dir) = web_dir.filter(|d| d.join("index.html").is_file()) {
        let serve = ServeDir::new(dir.as_path())
            .append_index_html_on_directories(true)
            .fallback(ServeFile::new(dir.join("index.html")));
        let Ok(res) = serve.oneshot(req).await;
        return res.map(Body::new);
    }
    if let Some(asset) = find(embedded, path) {
        let cache = if asset.name.starts_with("assets/") {
            IMMUTABLE
        } else {
            "no-cache"
        };
        return respond(asset, &req, cache);
    }
    if embedded.is_empty() && (path == "/" || path == "/index.html") {
        let why = match not_embedded_because {
            "" => "no reason recorded".to_string(),
            why => why.replace('&', "&amp;").replace('<', "&lt;"),
        };
        return Html(NO_UI_PAGE.replace("{why}", &why)).into_response();
    }
    ApiError::not_found().into_response()
}

/// The file for `path`, or the index for a client-side route (a path
/// whose last segment has no extension).
fn find(embedded: &'static [EmbeddedAsset], path: &str) -> Option<&'static EmbeddedAsset> {
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    if let Some(a) = embedded.iter().find(|a| a.name == name) {
        return Some(a);
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains('.') {
        return None;
    }
    embedded.iter().find(|a| a.name == "index.html")
}

/// An embedded file for GET/HEAD, with its `ETag` (304 when it matches).
pub(crate) fn respond(a: &EmbeddedAsset, req: &Request, cache: &'static str) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let headers = [(header::CACHE_CONTROL, cache), (header::ETAG, a.etag)];
    let not_modified = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == a.etag || t.trim() == "*");
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(header::CONTENT_TYPE, a.content_type)],
        Bytes::from_static(a.bytes),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    static FAKE: [EmbeddedAsset; 3] = [
        EmbeddedAsset {
            name: "assets/app-1234.js",
            content_type: "text/javascript; charset=utf-8",
            etag: "\"a\"",
            bytes: b"app()",
        },
        EmbeddedAsset {
            name: "index.html",
            content_type: "text/html; charset=utf-8",
            etag: "\"i\"",
            bytes: b"<!doctype html><p>UI</p>",
        },
        EmbeddedAsset {
            name: "manifest.webmanifest",
            content_type: "application/manifest+json",
            etag: "\"m\"",
            bytes: b"{}",
        },
    ];

    async fn get(
        dir: Option<&std::path::Path>,
        embedded: &'static [EmbeddedAsset],
        uri: &str,
        etag: Option<&str>,
    ) -> (StatusCode, Option<String>, String) {
        let mut req = Request::builder().uri(uri);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        let dir = dir.map(|d| Arc::new(d.to_path_buf()));
        let res = serve_with(
            dir,
            embedded,
            "npm <missing>",
            req.body(Body::empty()).unwrap(),
        )
        .await;
        let status = res.status();
        let cache = res
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, cache, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn embedded_files_routes_and_caching() {
        let (s, cache, body) = get(None, &FAKE, "/", None).await;
        assert_eq!(
            (s, cache.as_deref(), body.as_str()),
            (StatusCode::OK, Some("no-cache"), "<!doctype html><p>UI</p>")
        );
        let (s, cache, body) = get(None, &FAKE, "/assets/app-1234.js", None).await;
        assert_eq!(
            (s, cache.as_deref(), body.as_str()),
            (StatusCode::OK, Some(IMMUTABLE), "app()")
        );
        // A client-side route gets the index; a missing file does not.
        assert_eq!(
            get(None, &FAKE, "/trade/BTCUSDT", None).await.2,
            "<!doctype html><p>UI</p>"
        );
        assert_eq!(
            get(None, &FAKE, "/assets/gone-99.js", None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(None, &FAKE, "/api/v9/x", None).await.0,
            StatusCode::NOT_FOUND
        );
        let (s, _, body) = get(None, &FAKE, "/manifest.webmanifest", Some("\"m\"")).await;
        assert_eq!((s, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
    }

    #[tokio::test]
    async fn nothing_embedded_says_why_and_a_directory_wins() {
        let (s, _, body) = get(None, &[], "/", None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("npm &lt;missing>"), "{body}");
        assert!(!body.contains("<script"));
        assert_eq!(
            get(None, &[], "/trade/BTCUSDT", None).await.0,
            StatusCode::NOT_FOUND
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "from disk").unwrap();
        assert_eq!(get(Some(dir.path()), &FAKE, "/", None).await.2, "from disk");
        assert_eq!(
            get(Some(dir.path()), &FAKE, "/markets", None).await.2,
            "from disk"
        );
    }
}
