//! The gateway's own pages: `/openapi.json`, `/docs` (Swagger UI), and the
//! entry to the web UI ([`crate::web`]).
//!
//! Swagger UI's files (`swagger-ui.css`, `swagger-ui-bundle.js` of the npm
//! package `swagger-ui-dist`, pinned in `web/package-lock.json`) are served
//! at `/docs/assets/` from, in this order:
//!
//! 1. the docs assets directory ([`crate::GatewayConfig::docs_assets_dir`],
//!    `web/dist/docs/assets` by default) when it has both files;
//! 2. the copies compiled into the binary: the crate's `build.rs` takes them
//!    from that directory or installs the package with `npm ci` (into
//!    `OUT_DIR`, never touching the checkout) and embeds them, so a plain
//!    `cargo build` on a machine with npm gets Swagger UI with no other
//!    step. They are served with an `ETag`, and with a one-year `immutable`
//!    cache when asked for with the page's `?v=` tag (the page itself is
//!    `no-cache`, so a new binary is picked up at once).
//!
//! Without npm (or with `FLOWEX_SKIP_WEB_ASSETS=1` at build time) nothing is
//! embedded, the build prints a `cargo:warning`, and [`embedded_swagger_ui`]
//! says why. Nothing is ever downloaded at run time.
//!
//! The page loads only same-origin scripts, its start-up code included
//! (`/docs/init.js`), so the default CSP (`script-src 'self'`, no inline
//! scripts) holds. When no assets are available, `/docs` still answers an
//! HTML page linking to `/openapi.json` and saying how to get the UI.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// The files Swagger UI needs from `swagger-ui-dist`.
pub const SWAGGER_FILES: [&str; 2] = ["swagger-ui.css", "swagger-ui-bundle.js"];

/// A file compiled into the binary by `build.rs` (Swagger UI's, the web UI's).
pub(crate) struct EmbeddedAsset {
    /// Its path, without the leading `/`.
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    /// A quoted hash of `bytes`.
    pub(crate) etag: &'static str,
    pub(crate) bytes: &'static [u8],
}

// EMBEDDED, EMBEDDED_VERSION (hash of all files, `""` when none) and
// NOT_EMBEDDED_BECAUSE (`""` when embedded).
include!(concat!(env!("OUT_DIR"), "/swagger_ui.rs"));

/// Whether this binary carries Swagger UI's files: `Ok(())`, or why the
/// build did not embed them (e.g. `npm not found on PATH`,
/// `FLOWEX_SKIP_WEB_ASSETS is set`). A docs assets directory with the
/// files works either way.
pub fn embedded_swagger_ui() -> Result<(), &'static str> {
    if EMBEDDED.is_empty() {
        Err(NOT_EMBEDDED_BECAUSE)
    } else {
        Ok(())
    }
}

/// Cache-Control of the embedded files asked for with the current `?v=`.
use crate::web::IMMUTABLE;

const SWAGGER_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FlowEx API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css{v}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js{v}"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"##;

const INIT_JS: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null
  });
});
"##;

const NO_ASSETS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FlowEx API</title>
</head>
<body>
<h1>FlowEx API</h1>
<p>The OpenAPI 3 document is at <a href="/openapi.json">/openapi.json</a>;
load it into any OpenAPI tool.</p>
<p>The interactive Swagger UI is not available on this server. Its files
come from the npm package <code>swagger-ui-dist</code> (pinned in
<code>web/package-lock.json</code>): building the gateway with
<code>npm</code> on the <code>PATH</code> and the npm registry reachable
compiles them in, but this binary was built without them ({why}). Either
rebuild (<code>touch web/package-lock.json</code>, then
<code>cargo build --release -p flowex</code>), or copy
<code>swagger-ui.css</code> and <code>swagger-ui-bundle.js</code> from
<code>node_modules/swagger-ui-dist/</code> into the gateway's docs assets
directory (<code>web/dist/docs/assets</code> by default), then reload this
page.</p>
</body>
</html>
"#;

struct DocsState {
    openapi: Bytes,
    /// The docs assets directory, preferred when it has [`SWAGGER_FILES`].
    assets: Option<PathBuf>,
    /// The files compiled in (empty: none), and their hash for `?v=`.
    embedded: &'static [EmbeddedAsset],
    version: &'static str,
    /// Why nothing is embedded, for the fallback page.
    not_embedded_because: &'static str,
}

impl DocsState {
    /// The assets directory, if it has all of Swagger UI's files.
    fn complete_dir(&self) -> Option<&PathBuf> {
        self.assets
            .as_ref()
            .filter(|d| SWAGGER_FILES.iter().all(|f| d.join(f).is_file()))
    }

    fn page(&self) -> String {
        if self.complete_dir().is_some() {
            SWAGGER_PAGE.replace("{v}", "")
        } else if !self.embedded.is_empty() {
            SWAGGER_PAGE.replace("{v}", &format!("?v={}", self.version))
        } else {
            let why = match self.not_embedded_because {
                "" => "no reason recorded".to_string(),
                why => why.replace('&', "&amp;").replace('<', "&lt;"),
            };
            NO_ASSETS_PAGE.replace("{why}", &why)
        }
    }

    /// `GET /docs/assets/{file}` (the URI is relative to `/docs/assets`).
    async fn asset(&self, req: Request) -> Response {
        if let Some(dir) = self.complete_dir() {
            return serve_dir(dir, req).await;
        }
        let name = req.uri().path().trim_start_matches('/');
        if let Some(a) = self.embedded.iter().find(|a| a.name == name) {
            return self.embedded_response(a, &req);
        }
        match &self.assets {
            Some(dir) => serve_dir(dir, req).await,
            None => (StatusCode::NOT_FOUND, "Not found.").into_response(),
        }
    }

    fn embedded_response(&self, a: &EmbeddedAsset, req: &Request) -> Response {
        let versioned = req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p.strip_prefix("v=") == Some(self.version))
        });
        let cache = if versioned { IMMUTABLE } else { "no-cache" };
        crate::web::respond(a, req, cache)
    }
}

async fn serve_dir(dir: &PathBuf, req: Request) -> Response {
    let Ok(res) = ServeDir::new(dir).oneshot(req).await;
    res.map(Body::new)
}

/// `/openapi.json`, `/docs`, `/docs/`, `/docs/init.js`, `/docs/assets/*`.
pub fn docs_router(openapi: &serde_json::Value, assets: Option<PathBuf>) -> Router {
    router_with(
        openapi,
        assets,
        EMBEDDED,
        EMBEDDED_VERSION,
        NOT_EMBEDDED_BECAUSE,
    )
}

fn router_with(
    openapi: &serde_json::Value,
    assets: Option<PathBuf>,
    embedded: &'static [EmbeddedAsset],
    version: &'static str,
    not_embedded_because: &'static str,
) -> Router {
    let state = Arc::new(DocsState {
        openapi: Bytes::from(serde_json::to_vec(openapi).unwrap_or_else(|_| b"{}".to_vec())),
        assets,
        embedded,
        version,
        not_embedded_because,
    });
    let assets = {
        let state = state.clone();
        tower::service_fn(move |req: Request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(state.asset(req).await) }
        })
    };
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/docs/", get(docs_page))
        .route("/docs/init.js", get(init_js))
        .with_state(state)
        .nest_service("/docs/assets", assets)
}

/// `GET /openapi.json`: the document.
#[utoipa::path(get, path = "/openapi.json", tag = "gateway",
    summary = "This OpenAPI 3 document",
    responses((status = 200, description = "The OpenAPI document of every public route.",
        content_type = "application/json", body = Object)))]
async fn openapi_json(State(s): State<Arc<DocsState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi.clone(),
    )
        .into_response()
}

/// `GET /docs` (and `/docs/`): Swagger UI, or a page saying how to get it.
#[utoipa::path(get, path = "/docs", tag = "gateway",
    summary = "Swagger UI for this document",
    description = "Swagger UI over `/openapi.json`. Its files (`swagger-ui.css`, `swagger-ui-bundle.js` from the npm package `swagger-ui-dist`) are compiled into the gateway at build time, or taken from its docs assets directory when that holds them; a gateway built without them shows a short page linking to `/openapi.json` and saying why. `/docs/` is the same page.",
    responses((status = 200, description = "An HTML page.", content_type = "text/html; charset=utf-8", body = String)))]
async fn docs_page(State(s): State<Arc<DocsState>>) -> Response {
    let mut res = Html(s.page()).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `GET /docs/init.js`: starts Swagger UI (no inline script, so the CSP holds).
#[utoipa::path(get, path = "/docs/init.js", tag = "gateway",
    summary = "The script that starts Swagger UI on `/docs`",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript; charset=utf-8", body = String)))]
async fn init_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        INIT_JS,
    )
        .into_response()
}

/// `GET /docs/assets/{file}` is a `ServeDir`; this function only documents it.
#[utoipa::path(get, path = "/docs/assets/{file}", tag = "gateway",
    summary = "Swagger UI's static files",
    params(("file" = String, Path, description = "A file of `swagger-ui-dist`, e.g. `swagger-ui.css`.")),
    responses(
        (status = 200, description = "The file, with its MIME type."),
        (status = 404, description = "No such file."),
    ))]
#[allow(dead_code)]
fn docs_assets() {}

/// The gateway's own routes (`/health/*`, `/metrics`, `/openapi.json`,
/// `/docs`), with the security schemes every service refers to.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use flowex_http::openapi::SecuritySchemes;
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            flowex_http::observe::live,
            flowex_http::observe::ready,
            flowex_http::observe::metrics_handler,
            openapi_json,
            docs_page,
            init_js,
            docs_assets,
        ),
        tags((name = "gateway", description = "The gateway's own routes: health, metrics, this document and its UI.")),
        modifiers(&SecuritySchemes),
    )]
    struct Doc;

    Doc::openapi()
}

/// Fallback for paths nobody else serves: 404 in the API's shape under
/// `/api/`, otherwise the web UI ([`crate::web`]: files of `web_dir`, else
/// the build compiled in; `index.html` for client-side routes), or a small
/// page saying why there is no UI.
pub async fn web_ui(State(web_dir): State<Option<Arc<PathBuf>>>, req: Request) -> Response {
    crate::web::serve(web_dir, req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    static FAKE: [EmbeddedAsset; 2] = [
        EmbeddedAsset {
            name: "swagger-ui.css",
            content_type: "text/css; charset=utf-8",
            etag: "\"c\"",
            bytes: b"embedded{}",
        },
        EmbeddedAsset {
            name: "swagger-ui-bundle.js",
            content_type: "text/javascript; charset=utf-8",
            etag: "\"j\"",
            bytes: b"var SwaggerUIBundle;",
        },
    ];

    async fn get(router: &Router, uri: &str, etag: Option<&str>) -> (Response, String) {
        let mut req = Request::builder().uri(uri);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        let res = router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (Response::from_parts(parts, Body::empty()), text)
    }

    fn header(res: &Response, name: header::HeaderName) -> &str {
        res.headers().get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn nothing_embedded_gives_the_fallback_with_the_reason() {
        let r = router_with(
            &serde_json::json!({}),
            None,
            &[],
            "",
            "npm not found <on> PATH",
        );
        let (_, page) = get(&r, "/docs", None).await;
        assert!(page.contains("npm not found &lt;on> PATH"), "{page}");
        assert!(!page.contains("<script"));
        let (res, _) = get(&r, "/docs/assets/swagger-ui.css", None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn embedded_files_with_version_tag_etag_and_methods() {
        let r = router_with(&serde_json::json!({}), None, &FAKE, "abc", "");
        let (_, page) = get(&r, "/docs", None).await;
        assert!(page.contains("href=\"/docs/assets/swagger-ui.css?v=abc\""));
        assert!(page.contains("<script src=\"/docs/assets/swagger-ui-bundle.js?v=abc\"></script>"));
        let (res, body) = get(&r, "/docs/assets/swagger-ui-bundle.js?v=abc", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&res, header::CACHE_CONTROL), IMMUTABLE);
        assert_eq!(header(&res, header::ETAG), "\"j\"");
        assert_eq!(body, "var SwaggerUIBundle;");
        // An old tag is not cached for a year.
        let (res, _) = get(&r, "/docs/assets/swagger-ui.css?v=old", None).await;
        assert_eq!(header(&res, header::CACHE_CONTROL), "no-cache");
        let (res, body) = get(&r, "/docs/assets/swagger-ui.css", Some("\"x\", \"c\"")).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (res, _) = get(&r, "/docs/assets/swagger-ui-standalone-preset.js", None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = r
            .clone()
            .oneshot(
                Request::post("/docs/assets/swagger-ui.css")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn a_complete_directory_wins_an_incomplete_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("swagger-ui.css"), "dir{}").unwrap();
        std::fs::write(dir.path().join("extra.txt"), "extra").unwrap();
        let r = router_with(
            &serde_json::json!({}),
            Some(dir.path().into()),
            &FAKE,
            "abc",
            "",
        );
        // Incomplete: the embedded files, other files of the directory.
        let (_, page) = get(&r, "/docs", None).await;
        assert!(page.contains("swagger-ui.css?v=abc"));
        assert_eq!(
            get(&r, "/docs/assets/swagger-ui.css", None).await.1,
            "embedded{}"
        );
        assert_eq!(get(&r, "/docs/assets/extra.txt", None).await.1, "extra");
        // Complete: the directory, untagged.
        std::fs::write(dir.path().join("swagger-ui-bundle.js"), "dir()").unwrap();
        let (_, page) = get(&r, "/docs", None).await;
        assert!(page.contains("href=\"/docs/assets/swagger-ui.css\""));
        assert_eq!(
            get(&r, "/docs/assets/swagger-ui.css", None).await.1,
            "dir{}"
        );
        assert_eq!(
            get(&r, "/docs/assets/swagger-ui-bundle.js", None).await.1,
            "dir()"
        );
    }
}
