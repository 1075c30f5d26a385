//! OpenTelemetry tracing (`log.otlp_endpoint`): `flowex up` exports its
//! request spans over OTLP/HTTP to a receiver this test runs (Jaeger's
//! collector speaks the same protocol on port 4318). The receiver decodes
//! every export as the OTLP protobuf: a `request` span carries the request
//! id the client sent, the resource names the service, and the JSON log
//! lines of that request carry the same `trace_id` as the span.
//!
//! In distributed mode (five `flowex serve` processes, PostgreSQL and
//! Redis) one request is one trace: the W3C `traceparent` header carries
//! the gateway's span to the services it calls, and theirs on (the wallet
//! to trading), so every process's `request` span has the same trace id
//! and a parent in that trace.

// Shared with the crash and backup tests, which use all of it.
#[allow(dead_code)]
#[path = "common/cluster.rs"]
mod cluster;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// An OTLP/HTTP trace receiver on a free loopback port: what it got, and
/// its `/v1/traces` URL.
async fn otlp_receiver() -> (Received, String) {
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(|State(r): State<Received>, body: Bytes| async move {
                let request =
                    ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                r.lock().unwrap().push(request);
                // An empty ExportTraceServiceResponse: everything accepted.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, url)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.clone())
        .and_then(|v| match v {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `request` span as exported: service, trace, span and parent ids (hex).
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    trace: String,
    span: String,
    parent: String,
    request_id: Option<String>,
    path: Option<String>,
}

fn exported_requests(received: &Received) -> Vec<Exported> {
    let mut found = Vec::new();
    for export in received.lock().unwrap().iter() {
        for resource in &export.resource_spans {
            let attributes = resource.resource.as_ref().map(|r| &r.attributes[..]);
            let service = attributes.and_then(|a| text(a, "service.name"));
            for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                if span.name == "request" {
                    found.push(Exported {
                        service: service.clone().unwrap_or_default(),
                        trace: hex(&span.trace_id),
                        span: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                        request_id: text(&span.attributes, "request_id"),
                        path: text(&span.attributes, "path"),
                    });
                }
            }
        }
    }
    found
}

/// `(service.name, trace id in hex)` of every `request` span with `request_id`.
fn request_spans(received: &Received, request_id: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for export in received.lock().unwrap().iter() {
        for resource in &export.resource_spans {
            let attributes = resource.resource.as_ref().map(|r| &r.attributes[..]);
            let service = attributes.and_then(|a| text(a, "service.name"));
            for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                if span.name == "request"
                    && text(&span.attributes, "request_id").as_deref() == Some(request_id)
                {
                    let hex: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    found.push((service.clone().unwrap_or_default(), hex));
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_an_otlp_receiver_with_their_request_id() {
    let (received, endpoint) = otlp_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowex"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FLOWEX_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--port", "0", "up", "--no-bot", "--seconds", "300"])
        .env("RUST_LOG", "debug")
        .env("FLOWEX_LOG_JSON", "true")
        .env("FLOWEX_OTLP_ENDPOINT", &endpoint)
        // Export each batch promptly; the default waits 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("flowex up printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("FlowEx is up at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));

    let request_id = "otlp-test-request-1";
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v3/exchangeInfo"))
        .header("X-Request-Id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], request_id);

    // Spans are exported in batches by a background thread: wait for ours
    // (bounded, so a broken export fails instead of hanging).
    let mut spans = Vec::new();
    for _ in 0..600 {
        spans = request_spans(&received, request_id);
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !spans.is_empty(),
        "no request span with request_id {request_id} among {} exports",
        received.lock().unwrap().len()
    );
    for (service, trace_id) in &spans {
        assert_eq!(service, "flowex");
        assert_eq!(trace_id.len(), 32);
        assert_ne!(trace_id, &"0".repeat(32));
    }

    let text = std::fs::read_to_string(&log).unwrap();
    let ours: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == request_id)
        .collect();
    assert!(!ours.is_empty(), "no log line of the request:\n{text}");
    for line in &ours {
        assert_eq!(line["service"], "flowex", "{line}");
        let trace_id = line["span"]["trace_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no trace_id: {line}"));
        assert!(
            spans.iter().any(|(_, t)| t == trace_id),
            "log line's trace_id {trace_id} is no exported span's: {spans:?}"
        );
    }
}

/// Every exported span id of `trace` (any name: a parent may be an inner span).
fn span_ids(received: &Received, trace: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for export in received.lock().unwrap().iter() {
        for resource in &export.resource_spans {
            for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                if hex(&span.trace_id) == trace {
                    ids.push(hex(&span.span_id));
                }
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = flowex_testkit::redis::RedisServer::start("tracing", dir.path()) else {
        return;
    };
    let Some(db) = flowex_testkit::postgres::TestDatabase::create("tracing").await else {
        return;
    };
    let (received, endpoint) = otlp_receiver().await;
    let extra = [
        ("FLOWEX_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    let cluster = cluster::Cluster::new(dir.path(), &db.url, redis.port(), &extra);
    let mut procs: Vec<cluster::Proc> = cluster::SERVICES
        .into_iter()
        .map(|n| cluster.serve(n))
        .collect();
    for p in &mut procs {
        cluster.wait_ready(p).await;
    }
    let base = cluster.url("gateway");
    let c = reqwest::Client::new();
    let (email, password) = ("trace@example.com", "a long trace passphrase");
    let body = serde_json::json!({ "email": email, "password": password });
    let r = c
        .post(format!("{base}/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // The gateway checks the session with auth, the wallet asks trading's
    // engine for the assets and the balances: four processes, one request.
    let request_id = "distributed-trace-1";
    let r = c
        .get(format!("{base}/api/v1/wallet/balances"))
        .bearer_auth(&token)
        .header("X-Request-Id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let want = ["flowex-gateway", "flowex-wallet", "flowex-trading"];
    let mut ours = Vec::new();
    for _ in 0..600 {
        let all = exported_requests(&received);
        let gateway = all
            .iter()
            .find(|s| s.service == "flowex-gateway" && s.request_id.as_deref() == Some(request_id));
        if let Some(g) = gateway {
            ours = all.iter().filter(|s| s.trace == g.trace).cloned().collect();
            if want.iter().all(|w| ours.iter().any(|s| s.service == *w)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in want {
        assert!(
            ours.iter().any(|s| s.service == w),
            "no {w} request span in the gateway's trace: {ours:#?}"
        );
    }
    let trace = ours[0].trace.clone();
    let ids = span_ids(&received, &trace);
    for s in ours.iter().filter(|s| s.service != "flowex-gateway") {
        assert!(
            ids.contains(&s.parent),
            "{}'s span {} ({:?}) has no parent in the trace: {ours:#?}",
            s.service,
            s.span,
            s.path
        );
    }
    let trading: Vec<_> = ours
        .iter()
        .filter(|s| s.service == "flowex-trading")
        .collect();
    let wallet: Vec<_> = ours
        .iter()
        .filter(|s| s.service == "flowex-wallet")
        .map(|s| &s.span)
        .collect();
    assert!(
        trading.iter().all(|t| wallet.contains(&&t.parent)),
        "trading's spans are children of the wallet's: {ours:#?}"
    );
    drop(procs);
}
