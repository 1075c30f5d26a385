//! `POST`, `PUT` and `DELETE /api/v3/userDataStream`: the listenKeys of
//! older clients' user data streams (`/ws/<listenKey>`, served by
//! [`crate::ws_api::listen_key`]).
//!
//! The gateway lets these through with an API key and no signature (or a
//! Bearer token). A key lives `websocket.listen_key_ttl_secs` (60 min)
//! after its creation or last keepalive. One live key per API key (per
//! login session for a Bearer token): a repeated `POST` returns the same
//! key and extends it, as Binance does; at most
//! [`MAX_LISTEN_KEYS_PER_USER`] live keys per account.

use crate::ws_api::listen_key::LISTEN_KEY_LEN;
use crate::TradingState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flowex_binance::account::ListenKey;
use flowex_binance::params::ListenKeyParams;
use flowex_binance::{BinanceError, Empty};
use flowex_http::clock::now_ms;
use flowex_http::{ApiError, Identity, Params, Via};
use flowex_kit::store_error;
use flowex_store::{NewListenKey, Opened};
use rand::Rng;

/// Most live listenKeys of one account (one per API key or session).
pub const MAX_LISTEN_KEYS_PER_USER: u64 = 10;

fn fresh_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // ThreadRng is a CSPRNG: a listenKey is the only credential of its stream.
    let mut rng = rand::thread_rng();
    (0..LISTEN_KEY_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What the key was asked with: one live key per holder.
fn holder(who: &Identity) -> String {
    match &who.via {
        Via::ApiKey { key_id, .. } => format!("key:{key_id}"),
        Via::Session { session_id } => format!("session:{session_id}"),
    }
}

/// The key's lifetime in ms, or 503 when the streams are not running.
fn ttl_ms(state: &TradingState) -> Result<i64, ApiError> {
    let api = state
        .ws_api
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("user data streams are not enabled"))?;
    Ok(i64::try_from(api.cfg.listen_key_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

fn too_many_keys() -> ApiError {
    ApiError::binance(
        StatusCode::TOO_MANY_REQUESTS,
        -1003,
        "too_many_listen_keys",
        format!(
            "Too many listenKeys: at most {MAX_LISTEN_KEYS_PER_USER} live per account; close one or let it expire."
        ),
    )
}

/// `POST /api/v3/userDataStream`.
#[utoipa::path(post, path = "/api/v3/userDataStream", tag = "trading",
    summary = "Start a user data stream (USER_STREAM)",
    description = "Returns a listenKey for `/ws/<listenKey>`, live for 60 minutes (`websocket.listen_key_ttl_secs`). The API key's live listenKey, if it has one, is returned again and extended. API key header only, no signature.",
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The listenKey.", body = ListenKey),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key (also: no credentials).", body = BinanceError),
        (status = 429, description = "-1003: the account already holds 10 live listenKeys.", body = BinanceError),
    ))]
pub async fn create(
    State(state): State<TradingState>,
    who: Identity,
) -> Result<Json<ListenKey>, ApiError> {
    let ttl = ttl_ms(&state)?;
    let now = now_ms() as i64;
    let (candidate, holder) = (fresh_key(), holder(&who));
    let new = NewListenKey {
        listen_key: &candidate,
        user_id: who.user_id,
        holder: &holder,
        now,
        expires_at: now.saturating_add(ttl),
        max_per_user: MAX_LISTEN_KEYS_PER_USER,
    };
    match state.store()?.open_listen_key(&new).await {
        Ok(Opened::Created(k) | Opened::Reused(k)) => Ok(Json(ListenKey {
            listen_key: k.listen_key,
        })),
        Ok(Opened::LimitReached) => Err(too_many_keys()),
        Err(e) => Err(store_error(e)),
    }
}

/// `PUT /api/v3/userDataStream`.
#[utoipa::path(put, path = "/api/v3/userDataStream", tag = "trading",
    summary = "Keep a user data stream alive (USER_STREAM)",
    description = "Extends the listenKey to 60 minutes from now. Send it every 30 minutes or so.",
    params(ListenKeyParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "An empty object.", body = Empty),
        (status = 400, description = "-1102 listenKey missing; -1125 unknown, expired or closed listenKey (or another account's).", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key (also: no credentials).", body = BinanceError),
    ))]
pub async fn keepalive(
    State(state): State<TradingState>,
    who: Identity,
    params: Params,
) -> Result<Json<Empty>, ApiError> {
    let key = params.required("listenKey")?;
    let ttl = ttl_ms(&state)?;
    let now = now_ms() as i64;
    let extended = state
        .store()?
        .keep_listen_key_alive(key, who.user_id, now, now.saturating_add(ttl))
        .await
        .map_err(store_error)?;
    if !extended {
        return Err(ApiError::invalid_listen_key());
    }
    Ok(Json(Empty {}))
}

/// `DELETE /api/v3/userDataStream`.
#[utoipa::path(delete, path = "/api/v3/userDataStream", tag = "trading",
    summary = "Close a user data stream (USER_STREAM)",
    description = "Removes the listenKey; its streams are closed.",
    params(ListenKeyParams),
    security(("apiKey" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "An empty object.", body = Empty),
        (status = 400, description = "-1102 listenKey missing; -1125 unknown, expired or closed listenKey (or another account's).", body = BinanceError),
        (status = 401, description = "-2014 malformed API key, -2015 invalid API key (also: no credentials).", body = BinanceError),
    ))]
pub async fn close(
    State(state): State<TradingState>,
    who: Identity,
    params: Params,
) -> Result<Json<Empty>, ApiError> {
    let key = params.required("listenKey")?;
    ttl_ms(&state)?;
    let closed = state
        .store()?
        .close_listen_key(key, who.user_id, now_ms() as i64)
        .await
        .map_err(store_error)?;
    if !closed {
        return Err(ApiError::invalid_listen_key());
    }
    // The caller's own key only (the store checked): its streams here end now.
    if let Some(api) = &state.ws_api {
        api.hub.close_listen_key(key);
    }
    Ok(Json(Empty {}))
}
