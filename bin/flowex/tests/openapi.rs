//! The OpenAPI document: the committed `docs/api/openapi.json` is exactly
//! what `flowex openapi` prints, and the document lists exactly the routes
//! the embedded platform mounts (no undocumented route, no documented
//! route that does not exist). The spec itself is checked by
//! `openapi-spec-validator` in `scripts/test`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

const REFRESH: &str = "cargo run -p flowex -- openapi > docs/api/openapi.json";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/api/openapi.json")
}

/// What `flowex openapi` prints.
fn generated() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowex"))
        .arg("openapi")
        .output()
        .expect("running flowex openapi");
    assert!(
        out.status.success(),
        "flowex openapi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn committed_document_is_the_generated_one() {
    let generated = generated();
    let path = committed_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nCreate it with:\n    {REFRESH}",
            path.display()
        )
    });
    if committed == generated {
        return;
    }
    let (line, want, got) = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (c, g))| c != g)
        .map(|(i, (c, g))| (i + 1, c.to_string(), g.to_string()))
        .unwrap_or_else(|| {
            let n = committed.lines().count().min(generated.lines().count());
            (n + 1, "(end of file)".into(), "(end of file)".into())
        });
    panic!(
        "docs/api/openapi.json differs from the document generated from the code \
         (first difference at line {line}:\n  committed: {want}\n  generated: {got}\n). \
         The API changed without its document being refreshed; review the change and run:\n    {REFRESH}"
    );
}

#[test]
fn document_is_openapi_3_with_unique_operation_ids() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "FlowEx API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"], serde_json::json!([{"url": "/"}]));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "X-MBX-APIKEY");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(
            !path.starts_with("/internal"),
            "internal route {path} documented"
        );
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_string()),
                "operationId {id:?} used twice ({method} {path})"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
            let family_error = if path.starts_with("/api/v3") {
                "BinanceError"
            } else {
                "NativeError"
            };
            for (status, response) in op["responses"].as_object().unwrap() {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') || status.starts_with('5') {
                    if let Some(r) = schema.as_str().filter(|r| r.ends_with("Error")) {
                        assert!(
                            r.ends_with(family_error),
                            "{method} {path} {status}: {r}, expected {family_error}"
                        );
                    }
                }
            }
        }
    }
    // Money is never a JSON number.
    let text = doc.to_string();
    assert!(
        !text.contains(r#""type":"number""#),
        "a schema uses `number`"
    );
}

/// The `(METHOD, path)` pairs of the document, `{param}` placeholders kept.
fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// The route patterns an axum router holds, from its `Debug` output (axum
/// has no API that lists routes): `RouteId(n): "/path"` entries.
fn route_patterns(debug: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = debug;
    while let Some(i) = rest.find("RouteId(") {
        rest = &rest[i..];
        let Some(colon) = rest.find("): \"") else {
            break;
        };
        let tail = &rest[colon + 4..];
        let Some(end) = tail.find('"') else { break };
        let path = &tail[..end];
        if path.starts_with('/') {
            out.insert(path.to_string());
        }
        rest = tail;
    }
    out
}

/// One request over HTTP/1.1; the status code.
fn status(addr: std::net::SocketAddr, method: &str, path: &str, token: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let _ = s.read_to_end(&mut head);
    let head = String::from_utf8_lossy(&head);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP status in {head:?}"))
}

/// Builds the gateway of `flowex up` (every service's public router behind
/// the gateway, on SQLite and a fresh journal), serves it on loopback and
/// returns its routes: each pattern it mounts, with each method that does
/// not answer 405. Requests carry an admin's Bearer token so that the
/// gateway lets every request reach the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mounted_route_is_documented_and_every_documented_route_is_mounted() {
    use flowex_auth::jwt::AccessGrant;
    use flowex_auth::{JwtKeys, Role, SecretBox};

    let dir = tempfile::tempdir().unwrap();
    let cfg = flowex_config::Config::default();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = flowex_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let seq_cfg = flowex_sequencer::SequencerConfig::new(flowex_sequencer::JournalConfig::new(
        dir.path().join("journal"),
    ));
    let (sequencer, _) = flowex_sequencer::Sequencer::start(seq_cfg).unwrap();
    let handle = sequencer.handle();
    let (jwt, _) = JwtKeys::generate().unwrap();
    let secret_box = SecretBox::new(*SecretBox::generate_key().expose());
    let auth = flowex_auth_service::AuthState::new(
        store.clone(),
        jwt.clone(),
        secret_box,
        flowex_auth_service::AuthConfig::from(&cfg),
    )
    .unwrap();
    let trading = flowex_trading::TradingState::new(handle.clone(), cfg.rate_limits.clone())
        .await
        .map_err(|e| e.message().to_string())
        .unwrap();
    // The faucet route exists only with a faucet (embedded mode); mount it.
    let wallet = flowex_wallet::WalletState::new(
        flowex_wallet::EngineClient::local(handle.clone()),
        store.clone(),
        Some(flowex_wallet::Faucet::default()),
    );
    // Keep in step with `platform::up`: the routers `flowex up` mounts.
    let services = vec![
        flowex_auth_service::router(auth),
        flowex_trading::router(trading),
        flowex_wallet::router(wallet),
        flowex_market_data::data_router(flowex_market_data::MarketDataState::new()),
    ];
    let gateway_cfg = flowex_gateway::GatewayConfig::from_config(&cfg);
    assert!(
        gateway_cfg.metrics.is_some(),
        "no Prometheus recorder: /metrics not mounted"
    );
    let verifier = jwt.verifier(&cfg.jwt.issuer, &cfg.jwt.audience);
    let app = flowex_gateway::embedded(
        gateway_cfg,
        Arc::new(flowex_gateway::MemoryDirectory::new()),
        Arc::new(admin_session()),
        verifier,
        services,
    )
    .unwrap();
    // The fallback router (the web UI) comes after `fallback_router:`.
    let debug = format!("{app:?}");
    let routes_part = debug.split("fallback_router:").next().unwrap_or_default();
    let patterns = route_patterns(routes_part);
    assert!(
        patterns.contains("/api/v3/order") && patterns.contains("/health/live"),
        "could not read the routes from the router's Debug output (axum changed it?): {patterns:?}"
    );

    let token = jwt
        .issue_access(
            &AccessGrant {
                issuer: &cfg.jwt.issuer,
                audience: &cfg.jwt.audience,
                user_id: "1",
                role: Role::Admin,
                session_id: "1",
            },
            std::time::Duration::from_secs(600),
        )
        .unwrap()
        .token
        .expose()
        .clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(flowex_http::serve(listener, app, 64, async {
        let _ = stopped.await;
    }));

    let mut mounted = BTreeSet::new();
    for pattern in &patterns {
        // `/docs/` is the same page as `/docs`; `nest_service` mounts
        // `/docs/assets` as the pattern and its tail.
        if pattern == "/docs/" {
            continue;
        }
        let documented_as = if pattern.starts_with("/docs/assets") {
            "/docs/assets/{file}".to_string()
        } else {
            pattern.clone()
        };
        let concrete: String = pattern
            .split('/')
            .map(|seg| {
                if seg.starts_with("{*") {
                    "swagger-ui.css"
                } else if seg.starts_with('{') {
                    "1"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let (m, p, t) = (method.to_string(), concrete.clone(), token.clone());
            let code = tokio::task::spawn_blocking(move || status(addr, &m, &p, &t))
                .await
                .unwrap();
            if code != 405 {
                mounted.insert((method.to_string(), documented_as.clone()));
            }
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    drop(handle);
    tokio::task::spawn_blocking(move || sequencer.shutdown())
        .await
        .unwrap()
        .unwrap();

    // WebSocket endpoints are upgrades, not operations OpenAPI can describe;
    // docs/CLIENTS.md documents their streams and control messages.
    let is_websocket = |p: &str| {
        ["/ws", "/stream", "/ws-api"]
            .iter()
            .any(|w| p == *w || p.starts_with(&format!("{w}/")))
    };
    mounted.retain(|(_, p)| !is_websocket(p));
    let documented = documented();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "the OpenAPI document and the mounted routes differ.\n\
         Mounted but not documented (add #[utoipa::path] to the handler and list it in the \
         service's openapi()): {undocumented:?}\n\
         Documented but not mounted: {missing:?}\n\
         Then refresh the committed document: {REFRESH}"
    );
}

/// The live session 1 of the admin (user 1) the probing token names.
fn admin_session() -> flowex_gateway::MemorySessions {
    let sessions = flowex_gateway::MemorySessions::new();
    sessions.insert(
        1,
        flowex_http::SessionStatus {
            user_id: 1,
            live: true,
            role: flowex_auth::Role::Admin,
        },
    );
    sessions
}
