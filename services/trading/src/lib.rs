//! The trading service: owns the sequencer (and so the engine) and serves
//! the order side of the Binance-compatible API: `exchangeInfo`, `order`
//! (new, test, query, cancel), `openOrders`, `account`, and the history
//! (`allOrders`, `myTrades`, closed orders) from the SQL projection that
//! [`projector`] keeps; and the operator's routes under `/api/v1/admin`
//! ([`admin`]: assets, markets, status, fee tiers, freezes, mass cancels).
//!
//! Handlers read the caller from the `Identity` extension that the gateway
//! sets (in one process) or that `internal_channel` restores (behind the
//! gateway). Decimal strings are converted exactly by [`markets`]; every
//! state change is a command submitted to the sequencer and answered once
//! it is durable; reads of open orders and balances are queries on the
//! engine thread, so they see every command already answered
//! (read-your-writes).

pub mod admin;
mod history;
pub mod internal;
pub mod markets;
mod orders;
pub mod projector;
mod serve;
pub mod user_stream;
mod views;
pub mod ws_api;

pub use serve::serve;

use flowex_engine::Engine;
use flowex_http::ApiError;
use flowex_sequencer::{Applied, SequencerError, SequencerHandle};
use flowex_types::Command;
use markets::Directory;
use std::sync::Arc;
use tokio::sync::RwLock;

/// What the trading handlers share.
#[derive(Clone)]
pub struct TradingState {
    seq: SequencerHandle,
    directory: Arc<RwLock<Arc<Directory>>>,
    /// When the directory was last re-read because of an unknown symbol.
    last_miss_refresh: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The limits the gateway enforces, as `exchangeInfo` reports them.
    limits: flowex_config::RateLimitConfig,
    /// The order and trade history (`allOrders`, `myTrades`, closed
    /// orders), once a projector feeds it ([`projector::start`]).
    history: Option<projector::History>,
    /// Serialises admin creations, so two of them never pick the same new id.
    admin_lock: Arc<tokio::sync::Mutex<()>>,
    /// The WebSocket API (`/ws-api/v3`), once started ([`ws_api::start`]).
    ws_api: Option<Arc<ws_api::WsApi>>,
}

impl TradingState {
    pub async fn new(
        seq: SequencerHandle,
        limits: flowex_config::RateLimitConfig,
    ) -> Result<TradingState, ApiError> {
        let state = TradingState {
            seq,
            directory: Arc::default(),
            last_miss_refresh: Arc::default(),
            limits,
            history: None,
            admin_lock: Arc::default(),
            ws_api: None,
        };
        state.refresh_markets().await?;
        Ok(state)
    }

    /// This state with the history endpoints answered from `history`.
    pub fn with_history(mut self, history: projector::History) -> TradingState {
        self.history = Some(history);
        self
    }

    /// This state with the WebSocket API served by `api`.
    fn with_ws_api(mut self, api: Arc<ws_api::WsApi>) -> TradingState {
        self.ws_api = Some(api);
        self
    }

    /// The history, or 503 when no projector runs.
    fn history(&self) -> Result<&projector::History, ApiError> {
        self.history
            .as_ref()
            .ok_or_else(|| ApiError::unavailable("order history is not available"))
    }

    /// The database (audit log, users), or 503 when no projector runs.
    fn store(&self) -> Result<&flowex_store::Store, ApiError> {
        Ok(&self.history()?.store)
    }

    pub fn sequencer(&self) -> &SequencerHandle {
        &self.seq
    }

    /// Re-reads markets and assets from the engine (after an admin change).
    pub async fn refresh_markets(&self) -> Result<Arc<Directory>, ApiError> {
        let dir = Arc::new(self.query(|e: &Engine| Directory::from_engine(e)).await?);
        *self.directory.write().await = dir.clone();
        Ok(dir)
    }

    /// The directory, re-read if `symbol` is not in it (a market created
    /// since) — at most once a second, so a stream of made-up symbols cannot
    /// turn into a stream of engine queries.
    pub async fn directory_for(&self, symbol: Option<&str>) -> Result<Arc<Directory>, ApiError> {
        let dir = self.directory.read().await.clone();
        let Some(s) = symbol.filter(|s| !dir.markets.contains_key(*s)) else {
            return Ok(dir);
        };
        let due = {
            let mut last = self
                .last_miss_refresh
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            return self.refresh_markets().await;
        }
        tracing::debug!(
            symbol = s,
            "unknown symbol; directory refreshed less than a second ago"
        );
        Ok(dir)
    }

    /// The market named by the request's mandatory `symbol` (-1102 when
    /// missing, -1121 when unknown), with the directory it was found in.
    pub async fn market_of(
        &self,
        p: &flowex_http::Params,
    ) -> Result<(Arc<Directory>, markets::MarketInfo), ApiError> {
        let symbol = p.required("symbol")?;
        let dir = self.directory_for(Some(symbol)).await?;
        let m = dir.market(symbol)?.clone();
        Ok((dir, m))
    }

    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        self.seq.query(f).await.map_err(sequencer_error)
    }

    pub async fn submit(&self, command: Command) -> Result<Applied, ApiError> {
        self.seq.submit(command).await.map_err(sequencer_error)
    }
}

fn sequencer_error(e: SequencerError) -> ApiError {
    match e {
        SequencerError::Overloaded => ApiError::server_busy(),
        e @ SequencerError::JournalUnavailable { .. } => {
            ApiError::journal_unavailable(e.to_string())
        }
        other => ApiError::unavailable(other.to_string()),
    }
}

/// The OpenAPI document of [`router`]'s routes, with the security schemes
/// they refer to; `flowex openapi` merges it with the other services'.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use flowex_http::openapi::SecuritySchemes;
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            views::ping,
            views::time,
            views::exchange_info,
            orders::new_order,
            orders::query_order,
            orders::cancel_order,
            orders::test_order,
            orders::cancel_replace,
            orders::open_orders,
            orders::cancel_open_orders,
            history::all_orders,
            history::my_trades,
            views::account,
            views::commission,
            user_stream::create,
            user_stream::keepalive,
            user_stream::close,
            admin::create_asset,
            admin::list_assets,
            admin::create_market,
            admin::list_markets,
            admin::update_market,
            admin::set_status,
            admin::set_fees,
            admin::clear_fees,
            admin::freeze,
            admin::unfreeze,
            admin::list_users,
            admin::cancel_all,
        ),
        // Enums used only by parameters are not collected from the paths.
        components(schemas(
            flowex_binance::Side,
            flowex_binance::OrderType,
            flowex_binance::TimeInForce,
            flowex_binance::NewOrderRespType,
            flowex_binance::SelfTradePreventionMode,
            flowex_binance::OrderStatus,
            flowex_binance::CancelReplaceMode,
        )),
        tags((name = "trading", description = "Binance Spot API v3: exchange information, orders and the account. Parameters go in the query string (or, for POST and DELETE, an `application/x-www-form-urlencoded` body); decimals are strings. Errors are `{\"code\",\"msg\"}` with Binance's codes.")),
        modifiers(&SecuritySchemes),
    )]
    struct Doc;

    Doc::openapi()
}

/// The public, signed and admin routes of this service, with full paths
/// (the listenKey streams are [`ws_api::listen_key::router`], apart: in
/// `flowex up` the market streams own `/ws/*`).
pub fn router(state: TradingState) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v3/ping", get(views::ping))
        .route("/api/v3/time", get(views::time))
        .route("/api/v3/exchangeInfo", get(views::exchange_info))
        .route(
            "/api/v3/order",
            post(orders::new_order)
                .get(orders::query_order)
                .delete(orders::cancel_order),
        )
        .route("/api/v3/order/test", post(orders::test_order))
        .route("/api/v3/order/cancelReplace", post(orders::cancel_replace))
        .route(
            "/api/v3/openOrders",
            get(orders::open_orders).delete(orders::cancel_open_orders),
        )
        .route("/api/v3/allOrders", get(history::all_orders))
        .route("/api/v3/myTrades", get(history::my_trades))
        .route("/api/v3/account", get(views::account))
        .route("/api/v3/account/commission", get(views::commission))
        .route(
            "/api/v3/userDataStream",
            post(user_stream::create)
                .put(user_stream::keepalive)
                .delete(user_stream::close),
        )
        .merge(admin::routes())
        .with_state(state.clone())
        .merge(ws_api::router(state))
}
