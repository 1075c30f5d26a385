//! Metrics (Prometheus) and health endpoints.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Request latency buckets, in seconds.
pub use flowex_metrics::LATENCY_BUCKETS;

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its
/// handle (later calls return the same handle). Fails only if another
/// `metrics` recorder was installed first. Buckets and descriptions of
/// every FlowEx metric come from `flowex_metrics`.
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in flowex_metrics::BUCKETS {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).into()), buckets)
                    .map_err(|e| e.to_string())?;
            }
            let handle = builder.install_recorder().map_err(|e| e.to_string())?;
            flowex_metrics::describe();
            Ok(handle)
        })
        .clone()
}

/// Middleware: `flowex_http_requests_total{method,route,status}` and
/// `flowex_http_request_duration_seconds{method,route,status}` (histogram).
/// `route` is the matched route pattern (`/api/v3/order`, `/users/{id}`),
/// or `unmatched`, so labels stay bounded whatever clients send.
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    flowex_metrics::http_request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// Handler for `/metrics`: the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "gateway", operation_id = "metrics",
    summary = "Metrics in the Prometheus text format",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn metrics_handler(State(handle): State<PrometheusHandle>) -> Response {
    flowex_metrics::on_scrape();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// A `/metrics` route bound to `handle`.
pub fn metrics_router<S: Clone + Send + Sync + 'static>(handle: PrometheusHandle) -> Router<S> {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(handle)
}

type CheckFn = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// Named readiness checks (database reachable, engine recovered, Redis…).
#[derive(Clone, Default)]
pub struct HealthChecks {
    checks: Vec<(String, CheckFn)>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for HealthChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HealthChecks")
            .field("checks", &names)
            .finish()
    }
}

impl HealthChecks {
    /// No checks (ready at once).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check. `Err(reason)` means not ready; the reason is logged,
    /// not shown.
    pub fn check<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name.to_string(), Arc::new(move || Box::pin(f()))));
        self
    }

    /// Time limit of each check (default 2 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Runs every check concurrently: `(all ok, name → "ok" | "failed" |
    /// "timeout")`.
    pub async fn run(&self) -> (bool, serde_json::Map<String, serde_json::Value>) {
        let limit = self.timeout.unwrap_or(Duration::from_secs(2));
        let futures = self.checks.iter().map(|(name, f)| {
            let fut = f();
            async move {
                let outcome = match tokio::time::timeout(limit, fut).await {
                    Ok(Ok(())) => "ok",
                    Ok(Err(reason)) => {
                        tracing::warn!(check = %name, %reason, "readiness check failed");
                        "failed"
                    }
                    Err(_) => {
                        tracing::warn!(check = %name, "readiness check timed out");
                        "timeout"
                    }
                };
                (name.clone(), outcome)
            }
        });
        let results = join_all(futures).await;
        let ok = results.iter().all(|(_, o)| *o == "ok");
        let map = results
            .into_iter()
            .map(|(n, o)| (n, serde_json::Value::from(o)))
            .collect();
        (ok, map)
    }
}

async fn join_all<F: Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Checks are few and each has a timeout: poll them together.
    let mut pending: Vec<_> = handles.into_iter().enumerate().collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                done[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(done.into_iter().map(|v| v.expect("polled to completion")));
    out
}

/// The body of `/health/live` and `/health/ready` (OpenAPI schema only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct HealthStatus {
    /// `live`, `ready` or `not_ready`.
    status: String,
    /// `/health/ready` only: each check by name, `ok`, `failed` or `timeout`.
    checks: Option<std::collections::BTreeMap<String, String>>,
}

/// `/health/live`: 200 `{"status":"live"}` while the process serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "gateway", operation_id = "health_live",
    summary = "Liveness: the process serves HTTP",
    responses((status = 200, description = "Alive.", body = HealthStatus,
        example = json!({"status": "live"}))))]
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "live" }))
}

/// `/health/ready`: 200 `{"status":"ready","checks":{…}}` when every check
/// passes, else 503 `{"status":"not_ready","checks":{…}}`.
#[utoipa::path(get, path = "/health/ready", tag = "gateway", operation_id = "health_ready",
    summary = "Readiness: database, engine (and Redis and the services in distributed mode)",
    description = "Runs every readiness check concurrently (2 s each) and reports each by name: `ok`, `failed` or `timeout`.",
    responses(
        (status = 200, description = "Every check passed.", body = HealthStatus,
            example = json!({"status": "ready", "checks": {"database": "ok", "engine": "ok"}})),
        (status = 503, description = "A check failed or timed out.", body = HealthStatus,
            example = json!({"status": "not_ready", "checks": {"database": "ok", "engine": "timeout"}})),
    ))]
pub async fn ready(State(checks): State<Arc<HealthChecks>>) -> Response {
    let (ok, results) = checks.run().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": results,
    });
    let mut res = (status, Json(body)).into_response();
    // The check names and outcomes are safe to show; keep the 503 body.
    res.extensions_mut().insert(crate::error::KeepBody);
    res
}

/// `/health/live` and `/health/ready` with these checks.
pub fn health_router<S: Clone + Send + Sync + 'static>(checks: HealthChecks) -> Router<S> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(Arc::new(checks))
}
