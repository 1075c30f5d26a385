//! The FlowEx market-data service: the public market data of the Binance
//! Spot API v3 — `depth`, `trades`, `historicalTrades`, `aggTrades`,
//! `klines`, `uiKlines`, `avgPrice`, `ticker/24hr`, `ticker/price`,
//! `ticker/bookTicker` ([`api`]) — plus `ping` and `time`.
//!
//! It answers from its own in-memory [`view::View`], built only from the
//! engine's events ([`feed`]): a snapshot (books with the engine's update
//! ids, configs, assets) exact at a seq, the trade history from SQL, then
//! every event record after that seq, gap-free. In `flowex up` the records
//! come from the sequencer in process ([`feed::follow_sequencer`]); in
//! `flowex serve market-data` ([`serve`]) the snapshot comes from trading's
//! internal API and the records from the Redis stream
//! ([`feed::follow_stream`]). Kline buckets: [`interval`].
//!
//! `flowex serve market-data` serves the API behind
//! [`flowex_http::internal_channel`], `/health/live`, `/health/ready`
//! (database, Redis, feed connected), `/health/events` (`{"last_seq",
//! "records", "gaps", "restarts", "connected"}`: how far the feed got, and
//! how often it started over from a snapshot) and `/metrics`
//! (`flowex_market_data_last_seq`, `flowex_events_gaps_total`).

pub mod api;
pub mod feed;
pub mod interval;
mod serve;
pub mod view;
pub mod ws;

pub use serve::serve;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How far the feed got: the follower's status ([`flowex_bus::FollowStatus`]).
pub type FeedStatus = flowex_bus::FollowStatus;

/// What the market-data handlers share: the view, the feed's progress and
/// (for trades older than the view keeps) the SQL trade history.
#[derive(Clone)]
pub struct MarketDataState {
    feed: Arc<FeedStatus>,
    view: Arc<RwLock<view::View>>,
    store: Option<flowex_store::Store>,
    live: Arc<ws::Hub>,
}

impl Default for MarketDataState {
    fn default() -> Self {
        MarketDataState {
            feed: Arc::new(FeedStatus::new("market-data", 0)),
            view: Arc::default(),
            store: None,
            live: Arc::default(),
        }
    }
}

impl MarketDataState {
    /// A state with an empty view and no SQL history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A state that reads old trades from `store`.
    pub fn with_store(store: flowex_store::Store) -> Self {
        MarketDataState {
            store: Some(store),
            ..Self::default()
        }
    }

    /// This state with the WebSocket streams' limits of `config`.
    pub fn with_websocket(mut self, config: ws::WsConfig) -> Self {
        self.live = Arc::new(ws::Hub::new(config));
        self
    }

    /// The WebSocket streams (the feed hands each applied record to it).
    pub fn live(&self) -> &Arc<ws::Hub> {
        &self.live
    }

    /// The feed's progress.
    pub fn feed(&self) -> &Arc<FeedStatus> {
        &self.feed
    }

    /// The SQL trade history, if any.
    pub fn store(&self) -> Option<&flowex_store::Store> {
        self.store.as_ref()
    }

    /// Reads the view (hold it briefly: the feed waits for it).
    pub fn read(&self) -> RwLockReadGuard<'_, view::View> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, view::View> {
        self.view.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the view (tests, and the feed's start).
    pub fn install(&self, v: view::View) {
        *self.write() = v;
    }
}

/// The public routes, with full paths (behind the gateway): the market
/// data and `ping`/`time`.
pub fn router(state: MarketDataState) -> Router {
    data_router(state)
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
}

/// The market-data routes without `ping`/`time` (which the trading
/// service also serves, for `flowex up` where both are mounted), with
/// the WebSocket streams ([`ws`]).
pub fn data_router(state: MarketDataState) -> Router {
    let streams = ws::router(state.clone());
    Router::new()
        .route("/api/v3/depth", get(api::depth))
        .route("/api/v3/trades", get(api::trades))
        .route("/api/v3/historicalTrades", get(api::historical_trades))
        .route("/api/v3/aggTrades", get(api::agg_trades))
        .route("/api/v3/klines", get(api::klines))
        .route("/api/v3/uiKlines", get(api::ui_klines))
        .route("/api/v3/avgPrice", get(api::avg_price))
        .route("/api/v3/ticker/24hr", get(api::ticker_24hr))
        .route("/api/v3/ticker/price", get(api::ticker_price))
        .route("/api/v3/ticker/bookTicker", get(api::book_ticker))
        .with_state(state)
        .merge(streams)
}

/// The OpenAPI document of [`router`]'s routes; `flowex openapi` merges
/// it with the other services'. (`/health/events` is the service's own
/// probe, not routed by the gateway, and not in the document.)
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            ping,
            time,
            api::depth,
            api::trades,
            api::historical_trades,
            api::agg_trades,
            api::klines,
            api::ui_klines,
            api::avg_price,
            api::ticker_24hr,
            api::ticker_price,
            api::book_ticker
        ),
        components(schemas(flowex_binance::market_data::PublicTrade)),
        tags((name = "market-data", description = "Binance Spot API v3 market data: connectivity, server time, order books, trades, klines and tickers, built from the engine's events.")),
    )]
    struct Doc;

    Doc::openapi()
}

/// `/health/events`: the feed's progress (for probes and operators).
pub fn feed_router(state: MarketDataState) -> Router {
    Router::new()
        .route("/health/events", get(events))
        .with_state(state)
}

/// `GET /api/v3/ping`.
#[utoipa::path(get, path = "/api/v3/ping", tag = "market-data",
    summary = "Test connectivity",
    responses((status = 200, description = "An empty object.", body = flowex_binance::Empty)))]
async fn ping() -> Json<flowex_binance::Empty> {
    Json(flowex_binance::Empty {})
}

/// `GET /api/v3/time`.
#[utoipa::path(get, path = "/api/v3/time", tag = "market-data",
    summary = "Check server time",
    responses((status = 200, description = "The server's clock.", body = flowex_binance::exchange::ServerTime)))]
async fn time() -> Json<flowex_binance::exchange::ServerTime> {
    Json(flowex_binance::exchange::ServerTime {
        server_time: flowex_http::clock::now_ms(),
    })
}

async fn events(State(state): State<MarketDataState>) -> Json<Value> {
    Json(state.feed.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn ping_and_time() {
        let app = router(MarketDataState::new());
        let res = app
            .clone()
            .oneshot(
                axum::http::Request::get("/api/v3/ping")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
        let res = app
            .oneshot(
                axum::http::Request::get("/api/v3/time")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["serverTime"].as_u64().unwrap() > 1_600_000_000_000);
    }
}
