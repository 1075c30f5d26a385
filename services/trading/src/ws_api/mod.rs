//! The Binance WebSocket API (`/ws-api/v3`): requests and their replies,
//! and the user data stream, in trading (the gateway routes `/ws-api/**`
//! here in distributed mode; `flowex up` mounts it in process).
//!
//! - Framing ([`methods`]): request `{"id","method","params"}`; reply
//!   `{"id","status","result"|"error":{"code","msg"},"rateLimits"}`; events
//!   `{"subscriptionId":N,"event":{…}}`.
//! - Authentication happens inside the protocol, checked by the edge's own
//!   guard through [`flowex_http::Credentials`]: `session.logon` with an
//!   access token (the web terminal; its session must be live) or a signed
//!   request (`apiKey`, `timestamp`, `signature` = HMAC-SHA256 of the other
//!   params sorted by name, `k=v&…`), or a signature on each request.
//! - Events ([`events`]): a projection on the follower of the sequencer's
//!   durable batches; the [`hub`] fans them out without ever waiting.
//! - Limits ([`conn`]): connections per IP and in total (the
//!   `websocket.*` settings shared with the market streams), per user
//!   ([`MAX_CONNECTIONS_PER_USER`]), subscriptions per connection
//!   ([`MAX_SUBSCRIPTIONS`]), requests per second ([`MAX_REQUESTS_PER_SEC`]),
//!   the request weight of the REST equivalent per IP and minute, the bounded
//!   send queue (`websocket.send_queue`), server pings and the pong timeout,
//!   the maximum connection age.
//! - The listenKey stream of older clients ([`listen_key`]): `/ws/<listenKey>`
//!   with the same events unwrapped, keys from `POST /api/v3/userDataStream`
//!   (`crate::user_stream`).

mod conn;
pub mod events;
pub mod hub;
pub mod listen_key;
pub mod market;
mod methods;

use crate::TradingState;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowex_bus::{FollowStatus, Follower, Source};
use flowex_http::extract::ClientIp;
use flowex_http::{Credentials, RateLimiter};
use hub::{Hub, HubLimits, Refused};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

/// Most authenticated connections of one user.
pub const MAX_CONNECTIONS_PER_USER: usize = 50;
/// Most user data subscriptions on one connection.
pub const MAX_SUBSCRIPTIONS: usize = 20;
/// Most requests one connection may send per second.
pub const MAX_REQUESTS_PER_SEC: usize = 50;
/// Largest request accepted, in bytes.
const MAX_MESSAGE: usize = 64 * 1024;

/// What the WebSocket API shares between its connections.
pub struct WsApi {
    pub(crate) hub: Arc<Hub>,
    pub(crate) credentials: Arc<dyn Credentials>,
    pub(crate) cfg: flowex_config::WebSocketConfig,
    /// Request weight per IP and user, order counts: the REST limiter
    /// itself, so both APIs draw on one budget, as on Binance.
    pub(crate) limiter: RateLimiter,
    pub(crate) costs: flowex_http::Costs,
    /// Where `depth`, `klines`, the tickers … are answered.
    pub(crate) market: Option<market::MarketData>,
    /// The user data projection's follower.
    pub status: Arc<FollowStatus>,
}

/// What the WebSocket API is built from.
pub struct WsApiParts {
    /// The edge's own guard (tokens, API keys and signatures).
    pub credentials: Arc<dyn Credentials>,
    /// The `websocket.*` settings.
    pub cfg: flowex_config::WebSocketConfig,
    /// The REST API's rate limiter (shared counters).
    pub limiter: RateLimiter,
    /// Market data, for its methods (`None`: they answer 503).
    pub market: Option<market::MarketData>,
}

/// Starts the user data projection on the in-process sequencer and
/// returns `state` with the WebSocket API enabled.
pub fn start(state: TradingState, parts: WsApiParts, journal_dir: PathBuf) -> TradingState {
    let WsApiParts {
        credentials,
        cfg,
        limiter,
        market,
    } = parts;
    let hub = Hub::new(HubLimits {
        max_connections: cfg.max_connections,
        max_connections_per_ip: cfg.max_connections_per_ip,
        max_connections_per_user: MAX_CONNECTIONS_PER_USER,
    });
    let status = Arc::new(FollowStatus::new("user-data", 0));
    let source = Source::sequencer(state.sequencer().clone(), journal_dir);
    let mut follower = Follower::new(source, events::UserEvents::new(hub.clone()), status.clone());
    tokio::spawn(async move {
        let ended = follower.run().await;
        tracing::info!(?ended, "user data streams stopped");
    });
    let api = WsApi {
        hub,
        credentials,
        limiter,
        costs: flowex_http::Costs::binance_spot(),
        market,
        cfg,
        status,
    };
    state.with_ws_api(Arc::new(api))
}

/// `GET /ws-api/v3` (the upgrade).
pub fn router(state: TradingState) -> axum::Router {
    axum::Router::new()
        .route("/ws-api/v3", axum::routing::get(upgrade))
        .with_state(state)
}

async fn upgrade(
    State(state): State<TradingState>,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(api) = state.ws_api.clone() else {
        let body = json!({"code": -1001, "msg": "The WebSocket API is not enabled."});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    let ip = ip.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ClientIp(ip)| ip);
    let slot = match api.hub.admit(ip) {
        Ok(slot) => slot,
        Err(refused) => return refusal(refused),
    };
    ws.max_message_size(MAX_MESSAGE)
        .read_buffer_size(flowex_http::WS_READ_BUFFER)
        .on_upgrade(move |socket| conn::run(socket, state, api, slot, ip))
}

/// The answer to an upgrade the hub refused.
fn refusal(refused: Refused) -> Response {
    match refused {
        Refused::PerIp(max) => {
            let msg =
                format!("Too many WebSocket connections from this IP address: at most {max}.");
            let body = json!({ "code": -1003, "msg": msg });
            (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
        }
        Refused::Total(max) => {
            let msg =
                format!("Server is at its limit of {max} WebSocket connections; try again later.");
            let body = json!({ "code": -1008, "msg": msg });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
