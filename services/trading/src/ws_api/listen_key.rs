//! The listenKey user data stream of older clients: `/ws/<listenKey>` (and
//! `/stream/ws/<listenKey>`), the user's events exactly as Binance sends
//! them on such a stream, unwrapped: `executionReport`,
//! `outboundAccountPosition`, `balanceUpdate` (from the one projection,
//! [`super::events`]), and `listenKeyExpired` before the server closes a
//! stream whose key expired.
//!
//! Keys live in the database ([`flowex_store::ListenKey`]), so a key made
//! through one instance works on any. A connection reads its key's row at
//! its expiry and every [`RECHECK_EVERY`]: a key closed on another instance
//! ends the stream within that time, one closed here at once
//! ([`super::hub::Hub::close_listen_key`]). Limits: the `websocket.*`
//! connection limits shared with the WebSocket API, at most
//! [`MAX_CONNECTIONS_PER_LISTEN_KEY`] connections per key (per instance),
//! incoming messages at most `websocket.max_messages_per_sec` (they are
//! otherwise ignored), server pings and the pong timeout, the maximum age.

use super::conn::{self, close, policy, send, slow, Ending, Rate, Sink, NORMAL};
use super::hub::{KeySlot, Kick, Slot};
use super::WsApi;
use crate::TradingState;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowex_binance::account::ListenKeyExpired;
use flowex_http::clock::now_ms;
use flowex_http::extract::ClientIp;
use flowex_store::{ListenKey, Store};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde_json::json;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most connections on one listenKey (per instance).
pub const MAX_CONNECTIONS_PER_LISTEN_KEY: usize = 5;
/// How often a connection reads its key again (closed elsewhere?).
pub const RECHECK_EVERY: Duration = Duration::from_secs(10);
pub use flowex_http::listen_key::{is_listen_key, LEN as LISTEN_KEY_LEN};

/// `GET /ws/{listenKey}` and `GET /stream/ws/{listenKey}` (the upgrades).
/// Not part of [`crate::router`]: in `flowex up` the market streams own
/// `/ws/*`, and the gateway sends listenKey-shaped paths here.
pub fn router(state: TradingState) -> axum::Router {
    axum::Router::new()
        .route("/ws/{listen_key}", axum::routing::get(upgrade))
        .route("/stream/ws/{listen_key}", axum::routing::get(upgrade))
        .with_state(state)
}

fn unknown_key() -> Response {
    let body = json!({"code": -1125, "msg": "This listenKey does not exist."});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn upgrade(
    State(state): State<TradingState>,
    uri: Uri,
    ip: Result<ClientIp, flowex_http::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    // The path's last segment, not `Path`: in `flowex up` this router is
    // called from inside the market streams' `/ws/{*path}` route, whose
    // parameter the request still carries.
    let listen_key = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (Some(api), Ok(store)) = (state.ws_api.clone(), state.store()) else {
        let body = json!({"code": -1001, "msg": "User data streams are not enabled."});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    if !is_listen_key(&listen_key) {
        return unknown_key();
    }
    let key = match store.listen_key(&listen_key).await {
        Ok(Some(k)) if k.live_at(now_ms() as i64) => k,
        Ok(_) => return unknown_key(),
        Err(e) => return flowex_kit::store_error(e).into_response(),
    };
    let ip = ip.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ClientIp(ip)| ip);
    let slot = match api.hub.admit(ip) {
        Ok(slot) => slot,
        Err(refused) => return super::refusal(refused),
    };
    let Some(key_slot) =
        api.hub
            .admit_listen_key(&listen_key, slot.id, MAX_CONNECTIONS_PER_LISTEN_KEY)
    else {
        let msg = format!(
            "Too many connections on this listenKey: at most {MAX_CONNECTIONS_PER_LISTEN_KEY}."
        );
        let body = json!({"code": -1003, "msg": msg});
        return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    };
    // Subscribed before the 101 goes out: a client that places an order
    // once connected sees its events.
    let (tx, rx) = mpsc::channel(api.cfg.send_queue.max(1));
    let kick = Arc::new(Kick::default());
    api.hub
        .subscribe_raw(key.user_id, slot.id, tx, kick.clone());
    let stream = Stream {
        api,
        store: store.clone(),
        key,
        _slot: slot,
        key_slot,
    };
    ws.max_message_size(super::MAX_MESSAGE)
        .read_buffer_size(flowex_http::WS_READ_BUFFER)
        .on_upgrade(move |socket| run(socket, stream, rx, kick))
}

/// One listenKey connection's state.
struct Stream {
    api: Arc<WsApi>,
    store: Store,
    key: ListenKey,
    /// Held for the connection's life: its place, and its subscription.
    _slot: Slot,
    key_slot: KeySlot,
}

/// Serves one upgraded connection until it ends; dropping `stream` (its
/// [`Slot`]) ends the subscription.
async fn run(socket: WebSocket, stream: Stream, rx: mpsc::Receiver<Arc<str>>, kick: Arc<Kick>) {
    let (mut sink, mut source) = socket.split();
    let mut stream = stream;
    let ending = serve(&mut stream, &mut sink, &mut source, rx, &kick).await;
    conn::goodbye(&mut sink, &mut source, ending).await;
    drop(stream);
}

/// The time left until `expires_at` (ms since the epoch), from now.
fn until(expires_at: i64) -> Instant {
    let left = u64::try_from(expires_at.saturating_sub(now_ms() as i64)).unwrap_or(0);
    Instant::now() + Duration::from_millis(left)
}

async fn serve(
    stream: &mut Stream,
    sink: &mut Sink,
    source: &mut SplitStream<WebSocket>,
    mut rx: mpsc::Receiver<Arc<str>>,
    kick: &Kick,
) -> Ending {
    let cfg = stream.api.cfg.clone();
    let ping_every = Duration::from_secs(cfg.ping_interval_secs.max(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    let pong_timeout = Duration::from_secs(cfg.pong_timeout_secs);
    let mut last_pong = Instant::now();
    let expiry = tokio::time::sleep_until(until(stream.key.expires_at));
    let age = tokio::time::sleep(Duration::from_secs(cfg.max_age_secs));
    tokio::pin!(expiry, age);
    let mut rate = Rate {
        max: cfg.max_messages_per_sec as usize,
        seen: VecDeque::new(),
    };
    let closed = stream.key_slot.closed.clone();
    loop {
        let step = tokio::select! {
            biased;
            _ = kick.notify.notified() => Err(slow()),
            _ = closed.notified() => Err(close(NORMAL, "listenKey closed")),
            frame = rx.recv() => match frame {
                Some(f) => send(sink, Message::Text(f.as_ref().into()), kick).await,
                None => Err(Ending(None)),
            },
            msg = source.next() => match msg {
                Some(Ok(_)) if !rate.allow(Instant::now()) => Err(policy(format!(
                    "too many messages: at most {} per second", rate.max
                ))),
                Some(Ok(Message::Pong(_))) => {
                    last_pong = Instant::now();
                    Ok(())
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(Ending(None)),
                // Pings are answered by the WebSocket layer; anything else is ignored.
                Some(Ok(_)) => Ok(()),
            },
            _ = ping.tick() => {
                if last_pong.elapsed() >= pong_timeout {
                    Err(policy(format!("no pong for {} s", pong_timeout.as_secs())))
                } else {
                    send(sink, Message::Ping(Default::default()), kick).await
                }
            }
            _ = recheck.tick() => still_open(stream, sink, kick).await,
            _ = &mut expiry => {
                let step = still_open(stream, sink, kick).await;
                expiry.as_mut().reset(until(stream.key.expires_at));
                step
            }
            _ = &mut age => Err(close(NORMAL, format!("maximum connection age of {} s reached", cfg.max_age_secs))),
        };
        if let Err(ending) = step {
            return ending;
        }
    }
}

/// Reads the key again: still live (perhaps extended), closed (gone
/// before its expiry), or expired (`listenKeyExpired`, then the close).
async fn still_open(stream: &mut Stream, sink: &mut Sink, kick: &Kick) -> Result<(), Ending> {
    let now = now_ms() as i64;
    match stream.store.listen_key(&stream.key.listen_key).await {
        Ok(Some(k)) if k.live_at(now) => {
            stream.key = k;
            Ok(())
        }
        Ok(None) if stream.key.live_at(now) => Err(close(NORMAL, "listenKey closed")),
        Ok(_) => {
            let event = ListenKeyExpired::new(&stream.key.listen_key, now as u64);
            let text = serde_json::to_string(&event).unwrap_or_default();
            send(sink, Message::Text(text.into()), kick).await?;
            Err(close(NORMAL, "listenKey expired"))
        }
        Err(e) => {
            // The database is away: keep the stream; the next check decides.
            tracing::warn!(error = %e, "listenKey check failed");
            Ok(())
        }
    }
}
