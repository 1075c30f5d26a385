//! The market data methods of the WebSocket API (`depth`, `trades.recent`,
//! `klines`, the tickers …), answered by the market-data service's own REST
//! handlers, so parameters, validation, errors and bodies are those of
//! `/api/v3`: in process in `flowex up` (its router), over the internal
//! channel in distributed mode (trading has no market view of its own).

use axum::body::Body;
use bytes::Bytes;
use flowex_http::ApiError;
use flowex_service::InternalClient;
use tower::ServiceExt;

/// Largest market data answer read (a 5,000-level book is about 300 KiB).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Where the market data methods are answered.
#[derive(Clone)]
pub enum MarketData {
    /// The market-data router of this process ([`MarketData::local`]).
    Local(axum::Router),
    /// The market-data service, over the internal channel.
    Remote(InternalClient),
}

/// A REST answer: its status and body.
pub struct RestAnswer {
    pub status: u16,
    pub body: Bytes,
}

impl MarketData {
    /// Market data's router in this process; its errors take the Binance
    /// shape, as behind the REST stack.
    pub fn local(router: axum::Router) -> MarketData {
        let shaped = router.layer(axum::middleware::from_fn(flowex_http::error_shape));
        MarketData::Local(shaped)
    }

    /// `GET path_and_query` on market data.
    pub async fn get(&self, path_and_query: &str) -> Result<RestAnswer, ApiError> {
        match self {
            MarketData::Local(router) => {
                let req = http::Request::get(path_and_query)
                    .body(Body::empty())
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                let res = match router.clone().oneshot(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                let status = res.status().as_u16();
                let body = axum::body::to_bytes(res.into_body(), MAX_ANSWER)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(RestAnswer { status, body })
            }
            MarketData::Remote(client) => {
                let (status, body) = client.send(http::Method::GET, path_and_query, None).await?;
                if body.len() > MAX_ANSWER {
                    return Err(ApiError::internal("market data answer too large"));
                }
                Ok(RestAnswer {
                    status: status.as_u16(),
                    body,
                })
            }
        }
    }
}
