//! The Binance WebSocket market streams, from market data's own view.
//!
//! Endpoints (the gateway routes them here in both modes):
//! - raw: `/ws/<stream>` — payloads as they are; `/ws` or `/ws/<anything
//!   else>` (ccxt.pro's `/ws/0`) start with no stream, then `SUBSCRIBE`;
//! - the same under `/stream/ws/…` (ccxt.pro treats a URL as spot only
//!   when it contains `/stream`);
//! - combined: `/stream?streams=a/b/c` — each message `{"stream","data"}`.
//!
//! Streams ([`stream`]): `@trade`, `@aggTrade`, `@kline_<interval>`,
//! `@miniTicker`, `!miniTicker@arr`, `@ticker`, `!ticker@arr`,
//! `@bookTicker`, `@avgPrice`, `@depth<5|10|20>[@100ms]`,
//! `@depth[@100ms]`; payloads in [`payload`], fan-out in [`hub`], control
//! messages in [`control`], connection rules in [`conn`]. All limits come
//! from [`WsConfig`] (`websocket.*` settings).

mod conn;
pub mod control;
pub mod hub;
mod payload;
pub mod stream;

use crate::MarketDataState;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use flowex_http::extract::ClientIp;
use hub::Refused;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use stream::Stream;

pub use hub::Hub;

/// The connection rules and limits (`websocket.*` settings).
pub type WsConfig = flowex_config::WebSocketConfig;

/// Largest control message accepted, in bytes.
const MAX_MESSAGE: usize = 64 * 1024;
/// Most streams named in one URL.
const MAX_URL_STREAMS: usize = 1024;

/// The stream endpoints.
pub fn router(state: MarketDataState) -> Router {
    Router::new()
        .route("/ws", get(raw))
        .route("/ws/{*path}", get(raw_path))
        .route("/stream/ws", get(raw))
        .route("/stream/ws/{*path}", get(raw_path))
        .route("/stream", get(combined))
        .with_state(state)
}

async fn raw(
    State(state): State<MarketDataState>,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, ip, ws, Vec::new(), false)
}

async fn raw_path(
    State(state): State<MarketDataState>,
    Path(path): Path<String>,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    // `/ws/<stream>`; any other segment (ccxt.pro's `/ws/0`) starts empty.
    let streams = match Stream::parse(&path) {
        Some(s) => match known(&state, vec![s]) {
            Ok(s) => s,
            Err(r) => return *r,
        },
        None => Vec::new(),
    };
    upgrade(state, ip, ws, streams, false)
}

async fn combined(
    State(state): State<MarketDataState>,
    Query(q): Query<HashMap<String, String>>,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    let names: Vec<&str> = q
        .get("streams")
        .map(|s| s.split('/').filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    if names.len() > MAX_URL_STREAMS.min(state.live().config().max_streams) {
        return bad_request(format!(
            "Invalid request: at most {} streams per connection",
            state.live().config().max_streams
        ));
    }
    let mut streams = Vec::with_capacity(names.len());
    for name in names {
        match Stream::parse(name) {
            Some(s) => streams.push(s),
            None => return bad_request(format!("Invalid request: unknown stream name `{name}`")),
        }
    }
    match known(&state, streams) {
        Ok(streams) => upgrade(state, ip, ws, streams, true),
        Err(r) => *r,
    }
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "code": 2, "msg": msg })),
    )
        .into_response()
}

/// `streams`, or the 400 for one naming an unknown market.
fn known(state: &MarketDataState, streams: Vec<Stream>) -> Result<Vec<Stream>, Box<Response>> {
    let view = state.read();
    match streams
        .iter()
        .find(|s| s.symbol().is_some_and(|sym| view.market(sym).is_none()))
    {
        Some(s) => Err(Box::new(bad_request(format!(
            "Invalid request: unknown symbol in stream `{s}`"
        )))),
        None => Ok(streams),
    }
}

fn upgrade(
    state: MarketDataState,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
    streams: Vec<Stream>,
    combined: bool,
) -> Response {
    let ip = ip.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ClientIp(ip)| ip);
    let hub = state.live().clone();
    let slot = match hub.admit(ip) {
        Ok(slot) => slot,
        Err(Refused::PerIp(max)) => {
            let msg =
                format!("Too many WebSocket connections from this IP address: at most {max}.");
            return refusal(StatusCode::TOO_MANY_REQUESTS, -1003, msg);
        }
        Err(Refused::Total(max)) => {
            let msg =
                format!("Server is at its limit of {max} WebSocket connections; try again later.");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, -1008, msg);
        }
    };
    if hub.claim_ticking() {
        tokio::spawn(ticks(state.clone()));
    }
    ws.max_message_size(MAX_MESSAGE)
        .read_buffer_size(flowex_http::WS_READ_BUFFER)
        .on_upgrade(move |socket| conn::run(socket, state, slot, streams, combined))
}

/// A refused upgrade in Binance's shape. The body is kept as it is: the
/// error layer would otherwise turn a 503 into an opaque internal error.
fn refusal(status: StatusCode, code: i32, msg: String) -> Response {
    let mut res = (status, Json(json!({ "code": code, "msg": msg }))).into_response();
    res.extensions_mut().insert(flowex_http::KeepBody);
    res
}

/// The periodic pushes: one tick every 100 ms until the server stops.
async fn ticks(state: MarketDataState) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = state.live().shutdown_signal();
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = conn::stopped(&mut stop) => return,
        }
        {
            let view = state.read();
            state.live().tick(&view, n);
        }
        n = n.wrapping_add(1);
    }
}

/// Sends `serverShutdown` to every connection and waits (up to `wait`)
/// for them to close: call before stopping the HTTP server.
pub async fn shut_down(state: &MarketDataState, wait: Duration) {
    let hub = state.live();
    hub.shut_down();
    let deadline = tokio::time::Instant::now() + wait;
    while hub.connection_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
