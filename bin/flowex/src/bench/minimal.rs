//! `axum-minimal`: the floor `flowex bench http` measures FlowEx against.
//! One route, `POST /api/v3/order`, doing what any signed-order server must
//! and nothing else: FlowEx's own parameter parsing ([`Params`]), the API
//! key looked up in memory, FlowEx's HMAC-SHA256 check and timestamp window
//! ([`flowex_auth::signature`]), the order's fields read and its decimals
//! parsed to integers, and a Binance ACK as JSON. No engine, no journal, no
//! database, no rate limits.

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use axum::{Json, Router};
use flowex_auth::signature::{check_timestamp, split_signature, verify_signature};
use flowex_http::{ApiError, Params};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Scale of the decimals parsed (the demo assets have 8 decimals).
const DECIMALS: u8 = 8;

struct Minimal {
    /// API key → secret.
    keys: HashMap<String, String>,
    next_id: AtomicU64,
}

/// Serves on a free loopback port, printing `axum-minimal is up at URL`.
pub async fn serve(keys: HashMap<String, String>) -> Result<()> {
    let state = Arc::new(Minimal {
        keys,
        next_id: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/api/v3/order", post(order))
        .layer(axum::middleware::from_fn(flowex_http::error_shape))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    println!("axum-minimal is up at http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(flowex_http::shutdown_signal())
        .await
        .context("serving")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn order(
    State(s): State<Arc<Minimal>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let secret = headers
        .get("X-MBX-APIKEY")
        .and_then(|k| k.to_str().ok())
        .and_then(|k| s.keys.get(k))
        .ok_or_else(ApiError::rejected_api_key)?;
    let query = uri.query().unwrap_or("");
    let p = Params::parse(query, body.clone(), true)?;
    let timestamp: u64 = p.parse_required("timestamp")?;
    let recv_window: Option<u64> = p.parse_optional("recvWindow")?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid_signature())?;
    let (rest, sig) =
        split_signature(text).ok_or_else(|| ApiError::mandatory_param("signature"))?;
    if !verify_signature(secret, query, rest.as_bytes(), &sig) {
        return Err(ApiError::invalid_signature());
    }
    check_timestamp(timestamp, recv_window, now_ms())
        .map_err(|_| ApiError::timestamp_outside_recv_window())?;
    let symbol = p.required("symbol")?;
    for name in ["side", "type", "timeInForce"] {
        p.required(name)?;
    }
    for name in ["quantity", "price"] {
        flowex_types::parse_scaled(p.required(name)?, DECIMALS)
            .map_err(|_| ApiError::invalid_parameter(name))?;
    }
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(Json(serde_json::json!({
        "symbol": symbol,
        "orderId": id,
        "orderListId": -1,
        "clientOrderId": format!("minimal-{id}"),
        "transactTime": now_ms(),
    })))
}
