//! The gateway's own pages: OpenAPI, Swagger UI, the web UI, health,
//! metrics, and their security headers.

mod common;

use common::*;
use serde_json::json;

async fn gateway(web: Option<&std::path::Path>, assets: Option<&std::path::Path>) -> Server {
    let tokens = Tokens::new();
    let mut cfg = config(None);
    cfg.openapi = json!({"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {"/api/v3/ping": {}}});
    cfg.web_dir = web.map(Into::into);
    cfg.docs_assets_dir = assets.map(Into::into);
    let app = flowex_gateway::embedded(
        cfg,
        directory(),
        sessions(),
        tokens.verifier(),
        vec![echo_service("svc")],
    )
    .unwrap();
    start(app).await
}

fn assert_strict_csp(r: &Reply) {
    let csp = r.header("content-security-policy").expect("CSP on HTML");
    let script = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("script-src");
    assert_eq!(script, "script-src 'self'");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // No inline script: every <script> has a src and no body.
    let html = &r.text;
    for (i, _) in html.match_indices("<script") {
        let tag_end = html[i..].find('>').unwrap() + i;
        assert!(
            html[i..tag_end].contains("src=\"/"),
            "inline script in {html}"
        );
        assert!(
            html[tag_end + 1..].starts_with("</script>"),
            "script with a body"
        );
    }
}

/// `FLOWEX_REQUIRE_WEB_ASSETS=1` (scripts/test): a gateway built without
/// Swagger UI is a failure, not a fallback to check.
fn web_assets_required() -> bool {
    std::env::var("FLOWEX_REQUIRE_WEB_ASSETS").is_ok_and(|v| v == "1")
}

#[tokio::test]
async fn openapi_json() {
    let s = gateway(None, None).await;
    let r = s.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["paths"], json!({"/api/v3/ping": {}}));
}

/// No docs assets directory: Swagger UI from the files build.rs compiled
/// in, or (built without npm or with `FLOWEX_SKIP_WEB_ASSETS=1`) the
/// fallback page saying why.
#[tokio::test]
async fn docs_without_an_assets_dir() {
    let s = gateway(None, None).await;
    let r = s.get("/docs").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_strict_csp(&r);
    match flowex_gateway::docs::embedded_swagger_ui() {
        Ok(()) => {
            let page = r.text;
            let at = page
                .find("<script src=\"/docs/assets/swagger-ui-bundle.js?v=")
                .unwrap_or_else(|| panic!("not the Swagger UI page: {page}"));
            let src = page[at + 13..].split('"').next().unwrap();
            assert!(page.contains("<script src=\"/docs/init.js\"></script>"));
            let r = s.get(src).await;
            assert_eq!(r.status, 200);
            let ct = r.header("content-type").unwrap();
            assert!(
                ct.starts_with("text/javascript") || ct.starts_with("application/javascript"),
                "{ct}"
            );
            assert!(r.text.contains("SwaggerUIBundle"));
            assert_eq!(
                r.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            let etag = r.header("etag").expect("etag").to_string();
            let r = s
                .send(
                    s.client
                        .get(s.url(src))
                        .header("if-none-match", etag.as_str()),
                )
                .await;
            assert_eq!(r.status, 304);
            assert!(r.text.is_empty());
            // Without the page's version tag: revalidate every time.
            let r = s.get("/docs/assets/swagger-ui-bundle.js").await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("cache-control"), Some("no-cache"));
            let r = s.get("/docs/assets/swagger-ui.css").await;
            assert_eq!(r.status, 200);
            assert!(r.header("content-type").unwrap().starts_with("text/css"));
            assert!(r.text.contains(".swagger-ui"));
            assert_eq!(s.get("/docs/assets/nothing.js").await.status, 404);
        }
        Err(why) => {
            assert!(
                !web_assets_required(),
                "FLOWEX_REQUIRE_WEB_ASSETS=1 but the gateway was built without \
                 Swagger UI: {why} (see the cargo:warning of flowex-gateway's build.rs)"
            );
            if option_env!("FLOWEX_SKIP_WEB_ASSETS").is_some_and(|v| !v.is_empty() && v != "0") {
                assert_eq!(why, "FLOWEX_SKIP_WEB_ASSETS is set");
            }
            assert!(r.text.contains("href=\"/openapi.json\""), "{}", r.text);
            assert!(r.text.contains("swagger-ui-dist"));
            assert!(r.text.contains(why), "{}", r.text);
            assert!(!r.text.contains("<script"));
            assert_eq!(s.get("/docs/assets/swagger-ui.css").await.status, 404);
            assert_eq!(s.get("/docs/assets/swagger-ui-bundle.js").await.status, 404);
        }
    }
}

#[tokio::test]
async fn docs_with_vendored_swagger_ui() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("swagger-ui.css"), "body{}").unwrap();
    std::fs::write(
        dir.path().join("swagger-ui-bundle.js"),
        "var SwaggerUIBundle=1;",
    )
    .unwrap();
    // The directory wins over the files compiled in (if any).
    let s = gateway(None, Some(dir.path())).await;
    for path in ["/docs", "/docs/"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200);
        assert!(r
            .text
            .contains("<script src=\"/docs/assets/swagger-ui-bundle.js\"></script>"));
        assert!(r.text.contains("<script src=\"/docs/init.js\"></script>"));
        assert_strict_csp(&r);
    }
    let r = s.get("/docs/init.js").await;
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(r.text.contains("url: \"/openapi.json\""));
    let r = s.get("/docs/assets/swagger-ui.css").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(r.text, "body{}");
    assert_eq!(
        s.get("/docs/assets/swagger-ui-bundle.js").await.text,
        "var SwaggerUIBundle=1;"
    );
    // Never a file outside the directory: the client folds `..` and
    // `%2e%2e` away (`/etc/passwd`, a client-side route of the UI when one
    // is embedded, else 404).
    for path in [
        "/docs/assets/../../etc/passwd",
        "/docs/assets/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let r = s.get(path).await;
        assert!(!r.text.contains("root:"), "{}", r.text);
        assert!(r.status == 404 || r.text.contains("<div id=\"root\">"));
    }
}

#[tokio::test]
async fn web_ui_static_files_and_spa_routes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><html><head><script type=\"module\" src=\"/assets/app.js\"></script></head><body>UI</body></html>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
    let s = gateway(Some(dir.path()), None).await;
    let r = s.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<body>UI</body>"));
    assert_strict_csp(&r);
    let r = s.get("/assets/app.js").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("javascript"));
    // A client-side route gets the index.
    let r = s.get("/markets/BTCUSDT").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<body>UI</body>"));
    // The API is never answered with the UI.
    let r = s.get("/api/v1/whatever").await;
    r.assert_native(401, "unauthorized");
}

/// No web directory: the UI build.rs compiled in (required under
/// `FLOWEX_REQUIRE_WEB_ASSETS=1`), or a landing page saying why.
#[tokio::test]
async fn without_a_web_dir_the_embedded_ui_or_a_landing_page() {
    let s = gateway(Some(std::path::Path::new("/nonexistent/web")), None).await;
    let r = s.get("/").await;
    assert_eq!(r.status, 200);
    assert_strict_csp(&r);
    match flowex_gateway::web::embedded_web_ui() {
        Ok(_) => {
            assert!(r.text.contains("<div id=\"root\"></div>"), "{}", r.text);
            assert!(r.text.contains("rel=\"manifest\""), "{}", r.text);
            assert_eq!(r.header("cache-control"), Some("no-cache"));
            // A client-side route is the same page; the manifest is there.
            let route = s.get("/trade/BTCUSDT").await;
            assert_eq!(route.text, r.text);
            let m = s.get("/manifest.webmanifest").await;
            assert_eq!(m.status, 200);
            assert_eq!(m.json()["start_url"], "/");
            // The page's module script is a content-hashed, immutable file.
            let at = r.text.find("src=\"/assets/").expect("a module script");
            let src = r.text[at + 5..].split('"').next().unwrap();
            let js = s.get(src).await;
            assert_eq!(js.status, 200);
            assert!(js
                .header("content-type")
                .unwrap()
                .starts_with("text/javascript"));
            assert_eq!(
                js.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
        }
        Err(why) => {
            assert!(
                !web_assets_required(),
                "FLOWEX_REQUIRE_WEB_ASSETS=1 but the gateway was built without \
                 the web UI: {why} (see the cargo:warning of flowex-gateway's build.rs)"
            );
            assert!(r.text.contains("/docs"));
            assert!(r.text.contains(&why.replace('<', "&lt;")), "{}", r.text);
        }
    }
    let r = s.get("/something.js").await;
    r.assert_native(404, "not_found");
}

#[tokio::test]
async fn health_and_metrics() {
    let s = gateway(None, None).await;
    let r = s.get("/health/live").await;
    assert_eq!(r.json(), json!({"status": "live"}));
    let r = s.get("/health/ready").await;
    assert_eq!(r.json()["status"], "ready");
    s.get("/api/v3/ping").await;
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("http_requests_total"), "{}", r.text);
    assert!(r.header("x-request-id").is_some());
}
