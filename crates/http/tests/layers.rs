//! Every layer of the stack over real HTTP on loopback: error shapes,
//! request ids, security headers, CORS, body limit, timeout, load
//! shedding, connection limit, client IP, metrics and health.

mod common;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use common::{start, start_raw};
use flowex_http::{ApiError, ClientIp, HealthChecks, HttpConfig, RequestId};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config() -> HttpConfig {
    HttpConfig {
        body_limit_bytes: 1024,
        request_timeout: Duration::from_millis(300),
        max_concurrent_requests: 100,
        tls: false,
        csp: "default-src 'self'".into(),
        cors_origins: vec!["https://app.example".into()],
        cors_allow_credentials: false,
        trusted_proxies: vec![],
    }
}

const SECRET_DETAIL: &str = "db password=hunter2 at 10.9.8.7";

fn app() -> Router {
    let both = |r: Router, path: &str, h: axum::routing::MethodRouter| {
        r.route(&format!("/api/v3{path}"), h.clone())
            .route(&format!("/api/v1{path}"), h)
    };
    let mut r = Router::new();
    r = both(
        r,
        "/symbol",
        get(|| async { Err::<(), _>(ApiError::invalid_symbol()) }),
    );
    r = both(
        r,
        "/forbidden",
        get(|| async { Err::<(), _>(ApiError::forbidden()) }),
    );
    r = both(
        r,
        "/internal",
        get(|| async { Err::<(), _>(ApiError::internal(SECRET_DETAIL)) }),
    );
    r = both(
        r,
        "/raw500",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, SECRET_DETAIL).into_response() }),
    );
    r = both(
        r,
        "/panic",
        get(|| async {
            if true {
                panic!("{}", SECRET_DETAIL);
            }
            "unreachable"
        }),
    );
    r = both(
        r,
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    r = both(
        r,
        "/echo",
        post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
    );
    r = both(
        r,
        "/json",
        post(|axum::Json(v): axum::Json<serde_json::Value>| async move { axum::Json(v) }),
    );
    r.route(
        "/rid",
        get(|id: RequestId| async move { id.as_str().to_string() }),
    )
    .route(
        "/ip",
        get(|ClientIp(ip): ClientIp| async move { ip.to_string() }),
    )
    .route("/ui", get(|| async { Html("<h1>FlowEx</h1>") }))
    .route(
        "/cached",
        get(|| async { axum::http::StatusCode::NOT_MODIFIED }),
    )
    .route(
        "/sw.js",
        get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "text/javascript")],
                "self.addEventListener('fetch', () => {});",
            )
        }),
    )
}

#[tokio::test]
async fn error_shapes_for_both_api_families() {
    let s = start(app(), &config(), None).await;

    let r = s.get("/api/v3/symbol").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"code": -1121, "msg": "Invalid symbol."}));

    let r = s.get("/api/v1/symbol").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": {"code": "invalid_symbol", "message": "Invalid symbol."}})
    );

    // A native error on a Binance path still has code and msg.
    let r = s.get("/api/v3/forbidden").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"code": -1002, "msg": "You are not allowed to do this."})
    );
    let r = s.get("/api/v1/forbidden").await;
    assert_eq!(
        r.json(),
        json!({"error": {"code": "forbidden", "message": "You are not allowed to do this."}})
    );
}

#[tokio::test]
async fn fallback_404_and_405_in_both_shapes() {
    let s = start(app(), &config(), None).await;
    let r = s.get("/api/v3/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"code": -1020, "msg": "This operation is not supported."})
    );
    let r = s.get("/api/v1/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"code": "not_found", "message": "Not found."}})
    );
    let r = s.get("/elsewhere").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = s.send(s.client.delete(s.url("/api/v3/symbol"))).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"code": -1020, "msg": "This operation is not supported."})
    );
    let r = s.send(s.client.delete(s.url("/api/v1/symbol"))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn server_errors_never_show_detail() {
    let s = start(app(), &config(), None).await;
    for path in ["/internal", "/raw500", "/panic"] {
        let r = s.get(&format!("/api/v3{path}")).await;
        assert_eq!(r.status, 500, "{path}");
        assert_eq!(
            r.json(),
            json!({"code": -1000, "msg": "An unknown error occurred while processing the request."}),
            "{path}"
        );
        assert!(!r.text.contains("hunter2"));
        assert!(r.header("x-request-id").is_some());

        let r = s.get(&format!("/api/v1{path}")).await;
        assert_eq!(r.status, 500, "{path}");
        let id = r.header("x-request-id").unwrap().to_string();
        let message = format!("Internal server error (request id {id}).");
        assert_eq!(
            r.json(),
            json!({"error": {"code": "internal", "message": message}}),
            "{path}"
        );
        assert!(!r.text.contains("hunter2"));
    }
}

#[tokio::test]
async fn axum_rejections_get_the_native_shape() {
    let s = start(app(), &config(), None).await;
    let r = s
        .send(
            s.client
                .post(s.url("/api/v1/json"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["code"], "bad_request");
    assert!(v["error"]["message"].as_str().unwrap().len() > 5, "{v}");

    let r = s
        .send(s.client.post(s.url("/api/v1/json")).body("{}"))
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["error"]["code"], "unsupported_media_type");
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let s = start(app(), &config(), None).await;

    let r = s
        .send(
            s.client
                .get(s.url("/rid"))
                .header("x-request-id", "client-ID_42"),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("client-ID_42"));
    assert_eq!(r.text, "client-ID_42", "the handler sees the same id");

    for bad in ["has space", "semi;colon", &"x".repeat(65), "ünï"] {
        let r = s
            .send(s.client.get(s.url("/rid")).header("x-request-id", bad))
            .await;
        let id = r.header("x-request-id").unwrap().to_string();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "generated UUID: {id}");
        assert_eq!(r.text, id);
    }

    let a = s.get("/rid").await;
    let b = s.get("/rid").await;
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_ne!(a, b);
    // Errors carry one too.
    assert!(s.get("/api/v3/nope").await.header("x-request-id").is_some());
}

#[tokio::test]
async fn trace_is_refused_before_any_route_or_credential_check() {
    // A route behind an authentication check still answers TRACE with 405
    // (it used to reach the check and answer 401).
    let guarded = Router::new().route(
        "/api/v1/auth/me",
        get(|| async { "me" }).layer(axum::middleware::from_fn(
            |_req: axum::extract::Request, _next: axum::middleware::Next| async {
                ApiError::unauthorized().into_response()
            },
        )),
    );
    let s = start(guarded, &config(), None).await;
    for path in ["/api/v1/auth/me", "/nope"] {
        let r = s
            .send(s.client.request(reqwest::Method::TRACE, s.url(path)))
            .await;
        assert_eq!(r.status, 405, "{path}: {}", r.text);
    }
}

#[tokio::test]
async fn private_responses_are_never_stored_by_caches() {
    let s = start(app(), &config(), None).await;
    let with_token = s
        .send(s.client.get(s.url("/rid")).bearer_auth("some-token"))
        .await;
    assert_eq!(with_token.header("cache-control"), Some("no-store"));
    let with_key = s
        .send(s.client.get(s.url("/rid")).header("x-mbx-apikey", "k"))
        .await;
    assert_eq!(with_key.header("cache-control"), Some("no-store"));
    // Auth routes answer tokens to callers that send none yet.
    let login = s.get("/api/v1/auth/login").await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    // Public data may be cached.
    assert_eq!(s.get("/rid").await.header("cache-control"), None);
}

#[tokio::test]
async fn security_headers_csp_and_hsts() {
    let s = start(app(), &config(), None).await;
    for path in ["/rid", "/api/v3/symbol", "/ui", "/nope"] {
        let r = s.get(path).await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "no TLS: {path}"
        );
    }
    assert_eq!(
        s.get("/ui").await.header("content-security-policy"),
        Some("default-src 'self'")
    );
    // Non-HTML responses get a policy that allows nothing (a JSON body
    // opened as a document can run nothing, be framed by no one).
    assert_eq!(
        s.get("/rid").await.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    // A script gets the page policy: a service worker runs under its own
    // script's policy, and `default-src 'none'` would forbid it any fetch.
    assert_eq!(
        s.get("/sw.js").await.header("content-security-policy"),
        Some("default-src 'self'")
    );
    // A 304's headers update the browser's cached page: no policy there,
    // or a revalidated page would lose its own.
    assert_eq!(
        s.get("/cached").await.header("content-security-policy"),
        None
    );

    let tls = HttpConfig {
        tls: true,
        ..config()
    };
    let s = start(app(), &tls, None).await;
    assert_eq!(
        s.get("/rid").await.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
}

#[tokio::test]
async fn cors_allow_list() {
    let s = start(app(), &config(), None).await;
    let preflight = |origin: &'static str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.url("/api/v3/echo"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "x-mbx-apikey,content-type",
            )
    };
    let r = s.send(preflight("https://app.example")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = r.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = r.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("x-mbx-apikey"), "{headers}");
    assert_eq!(r.header("access-control-allow-credentials"), None);

    let r = s.send(preflight("https://evil.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);

    let r = s
        .send(
            s.client
                .get(s.url("/rid"))
                .header("origin", "https://app.example"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let exposed = r.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-mbx-used-weight-1m"), "{exposed}");

    assert!(flowex_http::cors_layer(&["*".into()], true).is_err());
    assert!(flowex_http::cors_layer(&["*".into()], false).is_ok());
}

#[tokio::test]
async fn oversize_bodies_get_413_in_both_shapes() {
    let s = start(app(), &config(), None).await;
    let big = "x".repeat(2000);
    let r = s.post_form("/api/v3/echo", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json(),
        json!({"code": -1000, "msg": "Request body too large."})
    );
    // The unread body is still on the wire: the connection must not be reused.
    assert_eq!(r.headers.get("connection").unwrap(), "close");
    let r = s.post_form("/api/v1/echo", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json(),
        json!({"error": {"code": "payload_too_large", "message": "Request body too large."}})
    );
    let r = s.post_form("/api/v1/echo", &"x".repeat(1000)).await;
    assert_eq!((r.status, r.text.as_str()), (200, "1000"));

    // A chunked body (no Content-Length) is cut off the same way.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req = String::from(
        "POST /api/v3/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..4 {
        req.push_str(&format!("200\r\n{}\r\n", "y".repeat(0x200)));
    }
    req.push_str("0\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(
        out.contains(r#"{"code":-1000,"msg":"Request body too large."}"#),
        "{out}"
    );
}

#[tokio::test]
async fn slow_handlers_time_out_with_the_right_shape() {
    let s = start(app(), &config(), None).await;
    let t = Instant::now();
    let r = s.get("/api/v3/slow").await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"code": -1007, "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown."})
    );
    let r = s.get("/api/v1/slow").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "timeout");
}

#[tokio::test]
async fn concurrency_limit_sheds_load_with_503() {
    let cfg = HttpConfig {
        max_concurrent_requests: 1,
        request_timeout: Duration::from_secs(5),
        ..config()
    };
    let router = Router::new().route(
        "/api/v3/hold",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            "done"
        }),
    );
    let s = start(router, &cfg, None).await;
    let first = {
        let req = s.client.get(s.url("/api/v3/hold"));
        tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = s.get("/api/v3/hold").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"code": -1008, "msg": "Server is currently overloaded with other requests. Please try again in a few minutes."})
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(first.await.unwrap(), 200);
    // Capacity is back once the first request is done.
    assert_eq!(s.get("/api/v3/hold").await.status, 200);
}

#[tokio::test]
async fn past_the_connection_limit_a_client_is_refused_not_left_waiting() {
    let app = flowex_http::stack(
        Router::new().route("/x", get(|| async { "ok" })),
        &config(),
        None,
    )
    .unwrap();
    let s = start_raw(app, 1).await;
    // One kept-alive connection takes the only slot (a request served on
    // it shows it was accepted).
    let mut hog = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    hog.write_all(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut status = [0u8; 12];
    hog.read_exact(&mut status).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");
    let r = s.get("/x").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], -1008);
    drop(hog);
    // The slot comes back once the server has seen the close.
    let mut r = s.get("/x").await;
    while r.status == 503 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = s.get("/x").await;
    }
    assert_eq!((r.status, r.text.as_str()), (200, "ok"));
}

#[tokio::test]
async fn client_ip_trusts_forwarded_for_only_from_trusted_proxies() {
    let s = start(app(), &config(), None).await;
    let r = s
        .send(
            s.client
                .get(s.url("/ip"))
                .header("x-forwarded-for", "203.0.113.9"),
        )
        .await;
    assert_eq!(r.text, "127.0.0.1", "untrusted peer: header ignored");

    let cfg = HttpConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..config()
    };
    let s = start(app(), &cfg, None).await;
    let r = s
        .send(
            s.client
                .get(s.url("/ip"))
                .header("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
        )
        .await;
    assert_eq!(r.text, "203.0.113.9", "right-most untrusted hop");
    assert_eq!(s.get("/ip").await.text, "127.0.0.1");
}

#[tokio::test]
async fn health_endpoints() {
    let ok = HealthChecks::new().check("database", || async { Ok(()) });
    let s = start(flowex_http::health_router(ok), &config(), None).await;
    let r = s.get("/health/live").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "live"})));
    let r = s.get("/health/ready").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"status": "ready", "checks": {"database": "ok"}})
    );

    let bad = HealthChecks::new()
        .check("database", || async { Ok(()) })
        .check("redis", || async {
            Err("connection refused to redis:6379".to_string())
        })
        .check("engine", || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .timeout(Duration::from_millis(200));
    let s = start(flowex_http::health_router(bad), &config(), None).await;
    let r = s.get("/health/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"status": "not_ready", "checks": {"database": "ok", "redis": "failed", "engine": "timeout"}})
    );
    assert!(!r.text.contains("6379"), "reasons stay in the log");
    assert_eq!(s.get("/health/live").await.status, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let handle = flowex_http::install_prometheus().unwrap();
    // A second install returns the same recorder.
    flowex_http::install_prometheus().unwrap();
    let router = app().merge(flowex_http::metrics_router(handle));
    let s = start(router, &config(), None).await;
    s.get("/rid").await;
    s.get("/rid").await;
    s.get("/api/v3/symbol").await;
    s.get("/api/v3/no/such/route/123").await;
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let line = |needles: &[&str]| {
        r.text
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no line with {needles:?} in\n{}", r.text))
            .to_string()
    };
    let l = line(&["http_requests_total{", "route=\"/rid\"", "status=\"200\""]);
    assert!(l.ends_with(" 2"), "{l}");
    line(&[
        "http_requests_total{",
        "route=\"/api/v3/symbol\"",
        "status=\"400\"",
    ]);
    line(&[
        "http_requests_total{",
        "route=\"unmatched\"",
        "status=\"404\"",
    ]);
    line(&[
        "http_request_duration_seconds_bucket{",
        "route=\"/rid\"",
        "le=\"0.005\"",
    ]);
    assert!(
        !r.text.contains("no/such/route"),
        "raw paths never become labels"
    );
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Current-thread runtime: the server task runs on this thread, under the
// thread-local subscriber.
#[tokio::test(flavor = "current_thread")]
async fn log_lines_carry_the_request_id_and_5xx_detail_stays_in_the_log() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = start(app(), &config(), None).await;
    let r = s
        .send(
            s.client
                .get(s.url("/api/v3/internal"))
                .header("x-request-id", "trace-me-123"),
        )
        .await;
    assert_eq!(r.status, 500);
    assert!(!r.text.contains("hunter2"));
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("request failed"))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"));
    assert!(line.contains("request_id=trace-me-123"), "{line}");
    assert!(line.contains("hunter2"), "the detail is logged: {line}");
    let done = text
        .lines()
        .find(|l| l.contains("request completed"))
        .unwrap_or_else(|| panic!("no completion line in:\n{text}"));
    assert!(
        done.contains("request_id=trace-me-123") && done.contains("status=500"),
        "{done}"
    );
}
