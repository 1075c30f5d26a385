//! The gateway's own pages: `/openapi.json`, `/docs` (Swagger UI), and the
//! web UI's static files.
//!
//! Swagger UI is not compiled in and never downloaded: the web build
//! vendors the npm package `swagger-ui-dist` into a directory
//! ([`crate::GatewayConfig::docs_assets_dir`]) served at `/docs/assets/`.
//! The page loads only same-origin scripts, its start-up code included
//! (`/docs/init.js`), so the default CSP (`script-src 'self'`, no inline
//! scripts) holds. When the assets are missing, `/docs` still answers an
//! HTML page linking to `/openapi.json` and saying how to get the UI.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use flowex_http::ApiError;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// The files Swagger UI needs from `swagger-ui-dist`.
pub const SWAGGER_FILES: [&str; 2] = ["swagger-ui.css", "swagger-ui-bundle.js"];

const SWAGGER_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FlowEx API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
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
<p>The interactive Swagger UI is not installed on this server. It is served
from the files of the npm package <code>swagger-ui-dist</code>, which the web
build copies into the gateway's docs assets directory
(<code>swagger-ui.css</code> and <code>swagger-ui-bundle.js</code>): run the
web build (<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>),
or copy those two files from <code>node_modules/swagger-ui-dist/</code> into
that directory, then reload this page.</p>
</body>
</html>
"#;

const NO_UI_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FlowEx</title>
</head>
<body>
<h1>FlowEx is running</h1>
<p>The web UI has not been built on this server (run <code>npm ci &amp;&amp;
npm run build</code> in <code>web/</code>). The API is available:
<a href="/docs">API documentation</a>, <a href="/openapi.json">OpenAPI document</a>,
<a href="/health/ready">readiness</a>.</p>
</body>
</html>
"#;

#[derive(Clone)]
struct DocsState {
    openapi: Bytes,
    assets: Option<PathBuf>,
}

impl DocsState {
    fn has_assets(&self) -> bool {
        self.assets
            .as_ref()
            .is_some_and(|d| SWAGGER_FILES.iter().all(|f| d.join(f).is_file()))
    }
}

/// `/openapi.json`, `/docs`, `/docs/`, `/docs/init.js`, `/docs/assets/*`.
pub fn docs_router(openapi: &serde_json::Value, assets: Option<PathBuf>) -> Router {
    let state = DocsState {
        openapi: Bytes::from(serde_json::to_vec(openapi).unwrap_or_else(|_| b"{}".to_vec())),
        assets: assets.clone(),
    };
    let mut router = Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/docs/", get(docs_page))
        .route("/docs/init.js", get(init_js))
        .with_state(Arc::new(state));
    if let Some(dir) = assets {
        router = router.nest_service("/docs/assets", ServeDir::new(dir));
    }
    router
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
    description = "Swagger UI over `/openapi.json` when its files (`swagger-ui.css`, `swagger-ui-bundle.js` from the npm package `swagger-ui-dist`) are in the gateway's docs assets directory; otherwise a short page linking to `/openapi.json` and saying how to install them. `/docs/` is the same page.",
    responses((status = 200, description = "An HTML page.", content_type = "text/html; charset=utf-8", body = String)))]
async fn docs_page(State(s): State<Arc<DocsState>>) -> Response {
    let mut res = if s.has_assets() {
        Html(SWAGGER_PAGE).into_response()
    } else {
        Html(NO_ASSETS_PAGE).into_response()
    };
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
        (status = 404, description = "No such file (or no assets directory)."),
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
/// `/api/`, otherwise the web UI (files of `web_dir`, `index.html` for
/// client-side routes), or a small page when the UI is not built.
pub async fn web_ui(State(web_dir): State<Option<Arc<PathBuf>>>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found().into_response();
    }
    let index = web_dir.as_ref().map(|d| d.join("index.html"));
    match (web_dir, index) {
        (Some(dir), Some(index)) if index.is_file() => {
            let serve = ServeDir::new(dir.as_path())
                .append_index_html_on_directories(true)
                .fallback(ServeFile::new(index));
            let Ok(res) = serve.oneshot(req).await;
            res.map(Body::new)
        }
        _ if path == "/" || path == "/index.html" => Html(NO_UI_PAGE).into_response(),
        _ => (StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}
