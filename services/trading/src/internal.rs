//! The trading service's internal API (distributed mode): how the other
//! services reach the engine without a user identity.
//!
//! Mounted only behind [`flowex_http::internal_channel`] (`flowex serve
//! trading`), so only holders of the internal token reach it; the gateway
//! never routes `/internal/*`. The bodies are [`flowex_bus::wire`]'s:
//!
//! - `POST /internal/commands` — a JSON [`Command`] → 200 [`EventRecord`]
//!   (seq, time, events) once the command is durable. Only the commands of
//!   money movement and account administration are accepted (deposits,
//!   withdrawals, fee tiers, freezing) and new assets and markets (`flowex
//!   demo seed` lists the demo markets this way; operators list through the
//!   admin API, audited): orders carry a user's intent and come through the
//!   public API with that user's identity, and changes to a listed market
//!   are the admin API's. Anything else is 403
//!   `command_not_allowed`. An engine rejection is still a 200: the events
//!   say `Rejected` and the caller decides.
//! - `GET /internal/assets` → [`wire::Assets`].
//! - `GET /internal/balances/{user_id}` → [`wire::Balances`].
//! - `GET /internal/markets` → [`wire::Markets`] (`flowex demo seed`
//!   lists what exists before it lists the demo markets).
//! - `GET /internal/balances` → [`wire::AllBalances`] (`flowex admin
//!   reconcile` compares them with the ledger).
//! - `GET /internal/market-snapshot` → [`wire::MarketSnapshot`]: every
//!   market's whole aggregated book with its update id, and the seq it is
//!   exact at (market-data starts from it and follows the event stream
//!   from the next seq).
//!
//! Reads are queries on the engine thread (read-your-writes, like the
//! public API).

use crate::TradingState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use flowex_bus::{wire, EventRecord};
use flowex_engine::Engine;
use flowex_http::ApiError;
use flowex_types::{Command, UserId};

/// Whether other services may submit `command` over the internal API.
pub fn allowed(command: &Command) -> bool {
    matches!(
        command,
        Command::Deposit { .. }
            | Command::Withdraw { .. }
            | Command::WithdrawLock { .. }
            | Command::WithdrawRelease { .. }
            | Command::WithdrawFinalize { .. }
            | Command::SetUserFees { .. }
            | Command::SetUserFrozen { .. }
            | Command::CreateAsset(_)
            | Command::CreateMarket(_)
    )
}

/// The internal routes, with full paths. Mount behind the internal channel only.
pub fn internal_router(state: TradingState) -> Router {
    Router::new()
        .route(wire::COMMANDS_PATH, post(submit))
        .route(wire::ASSETS_PATH, get(assets))
        .route("/internal/balances/{user_id}", get(balances))
        .route(wire::MARKETS_PATH, get(markets))
        .route(wire::ALL_BALANCES_PATH, get(all_balances))
        .route(wire::MARKET_SNAPSHOT_PATH, get(market_snapshot))
        .with_state(state)
}

async fn submit(
    State(state): State<TradingState>,
    Json(command): Json<Command>,
) -> Result<Json<EventRecord>, ApiError> {
    if !allowed(&command) {
        return Err(ApiError::native(
            axum::http::StatusCode::FORBIDDEN,
            "command_not_allowed",
            format!(
                "The {} command is not accepted over the internal API.",
                command.name()
            ),
        ));
    }
    let applied = state.submit(command).await?;
    if matches!(command, Command::CreateAsset(_) | Command::CreateMarket(_)) {
        // exchangeInfo and the order routes read the directory.
        state.refresh_markets().await?;
    }
    tracing::info!(
        command = command.name(),
        seq = applied.seq(),
        "internal command applied"
    );
    Ok(Json(EventRecord {
        seq: applied.seq(),
        timestamp_ns: applied.timestamp_ns(),
        events: applied.events().to_vec(),
    }))
}

async fn assets(State(state): State<TradingState>) -> Result<Json<wire::Assets>, ApiError> {
    let assets = state.query(|e: &Engine| e.assets()).await?;
    Ok(Json(wire::Assets { assets }))
}

async fn market_snapshot(
    State(state): State<TradingState>,
) -> Result<Json<wire::MarketSnapshot>, ApiError> {
    Ok(Json(state.query(wire::MarketSnapshot::of).await?))
}

async fn balances(
    State(state): State<TradingState>,
    Path(user_id): Path<u64>,
) -> Result<Json<wire::Balances>, ApiError> {
    let list = state
        .query(move |e: &Engine| e.balances(UserId(user_id)))
        .await?;
    Ok(Json(wire::Balances {
        user_id,
        balances: list
            .into_iter()
            .map(|(asset, b)| wire::BalanceEntry {
                asset,
                available: b.available,
                locked: b.locked,
            })
            .collect(),
    }))
}

async fn markets(State(state): State<TradingState>) -> Result<Json<wire::Markets>, ApiError> {
    let markets = state.query(|e: &Engine| e.markets()).await?;
    Ok(Json(wire::Markets { markets }))
}

async fn all_balances(
    State(state): State<TradingState>,
) -> Result<Json<wire::AllBalances>, ApiError> {
    let (seq, list) = state
        .query(|e: &Engine| (e.last_seq(), e.all_balances()))
        .await?;
    Ok(Json(wire::AllBalances {
        seq,
        balances: list
            .into_iter()
            .map(|(user, asset, b)| wire::AccountBalance {
                user_id: user.0,
                asset,
                available: b.available,
                locked: b.locked,
            })
            .collect(),
    }))
}
