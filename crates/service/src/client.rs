//! [`EngineClient`]: how a service reaches the engine. In one process
//! (`flowex up`) it is the sequencer handle; in distributed mode it is the
//! trading service's internal API over the internal channel (trading owns
//! the sequencer). Either way a command is answered only once it is
//! durable, with the events it produced.

use flowex_bus::{wire, EventRecord};
use flowex_engine::{Balance, Engine};
use flowex_http::{ApiError, InternalToken};
use flowex_sequencer::{SequencerError, SequencerHandle};
use flowex_types::{AssetConfig, AssetId, Command, MarketConfig, RejectReason, UserId};
use std::sync::Arc;
use std::time::Duration;

/// A balance as a service reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    /// Free, in atomic units.
    pub available: u64,
    /// Held by orders and pending withdrawals.
    pub locked: u64,
}

impl From<Balance> for Holding {
    fn from(b: Balance) -> Self {
        Holding {
            available: b.available,
            locked: b.locked,
        }
    }
}

/// The engine, as a service reaches it.
#[derive(Clone)]
pub enum EngineClient {
    /// In process: the sequencer handle.
    Local(SequencerHandle),
    /// Another process: the trading service's internal API.
    Remote(Arc<RemoteTrading>),
}

impl EngineClient {
    /// The sequencer in this process.
    pub fn local(handle: SequencerHandle) -> Self {
        EngineClient::Local(handle)
    }

    /// The trading service at `base_url` (e.g. `http://trading:8082`),
    /// called with the internal token; each call times out after `timeout`.
    pub fn remote(base_url: &str, token: InternalToken, timeout: Duration) -> Self {
        let service = InternalClient::new("trading", base_url, token, timeout);
        EngineClient::Remote(Arc::new(RemoteTrading { service }))
    }

    /// Every asset the engine knows.
    pub async fn assets(&self) -> Result<Vec<AssetConfig>, ApiError> {
        match self {
            EngineClient::Local(seq) => query(seq, |e| e.assets()).await,
            EngineClient::Remote(r) => Ok(r.get::<wire::Assets>(wire::ASSETS_PATH).await?.assets),
        }
    }

    /// Every market the engine knows.
    pub async fn markets(&self) -> Result<Vec<MarketConfig>, ApiError> {
        match self {
            EngineClient::Local(seq) => query(seq, |e| e.markets()).await,
            EngineClient::Remote(r) => {
                Ok(r.get::<wire::Markets>(wire::MARKETS_PATH).await?.markets)
            }
        }
    }

    /// A user's balances (assets never held are absent).
    pub async fn balances(&self, user: UserId) -> Result<Vec<(AssetId, Holding)>, ApiError> {
        match self {
            EngineClient::Local(seq) => {
                let list = query(seq, move |e| e.balances(user)).await?;
                Ok(list.into_iter().map(|(a, b)| (a, b.into())).collect())
            }
            EngineClient::Remote(r) => {
                let reply: wire::Balances = r.get(&wire::balances_path(user.0)).await?;
                let holding = |b: &wire::BalanceEntry| Holding {
                    available: b.available,
                    locked: b.locked,
                };
                Ok(reply
                    .balances
                    .iter()
                    .map(|b| (b.asset, holding(b)))
                    .collect())
            }
        }
    }

    /// Every account's non-zero balances (the fee account, user 0,
    /// included) and the engine's seq when they were read.
    pub async fn all_balances(&self) -> Result<(u64, Vec<(UserId, AssetId, Holding)>), ApiError> {
        match self {
            EngineClient::Local(seq) => {
                let (at, list) = query(seq, |e| (e.last_seq(), e.all_balances())).await?;
                Ok((
                    at,
                    list.into_iter().map(|(u, a, b)| (u, a, b.into())).collect(),
                ))
            }
            EngineClient::Remote(r) => {
                let reply: wire::AllBalances = r.get(wire::ALL_BALANCES_PATH).await?;
                let holding = |b: &wire::AccountBalance| Holding {
                    available: b.available,
                    locked: b.locked,
                };
                let list = reply.balances.iter();
                let list = list.map(|b| (UserId(b.user_id), b.asset, holding(b)));
                Ok((reply.seq, list.collect()))
            }
        }
    }

    /// Every market's book and the assets and markets, at one seq: what a
    /// market-data view starts from.
    pub async fn market_snapshot(&self) -> Result<wire::MarketSnapshot, ApiError> {
        match self {
            EngineClient::Local(seq) => query(seq, wire::MarketSnapshot::of).await,
            EngineClient::Remote(r) => r.get(wire::MARKET_SNAPSHOT_PATH).await,
        }
    }

    /// Submits a command and waits until it is durable.
    pub async fn submit(&self, command: Command) -> Result<EventRecord, ApiError> {
        match self {
            EngineClient::Local(seq) => {
                let applied = seq.submit(command).await.map_err(sequencer_error)?;
                Ok(EventRecord {
                    seq: applied.seq(),
                    timestamp_ns: applied.timestamp_ns(),
                    events: applied.events().to_vec(),
                })
            }
            EngineClient::Remote(r) => {
                let body = serde_json::to_vec(&command)
                    .map_err(|e| ApiError::internal(format!("encoding a command: {e}")))?;
                r.call(reqwest::Method::POST, wire::COMMANDS_PATH, Some(body))
                    .await
            }
        }
    }
}

async fn query<R: Send + 'static>(
    seq: &SequencerHandle,
    f: impl FnOnce(&Engine) -> R + Send + 'static,
) -> Result<R, ApiError> {
    seq.query(f).await.map_err(sequencer_error)
}

/// The engine's reason, if the command was rejected.
pub fn rejection(record: &EventRecord) -> Option<RejectReason> {
    record.events.iter().find_map(|e| match e {
        flowex_types::Event::Rejected { reason } => Some(*reason),
        _ => None,
    })
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

/// The trading service's internal API.
pub struct RemoteTrading {
    service: InternalClient,
}

impl RemoteTrading {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let (status, bytes) = self.service.send(method, path, body).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::internal(format!("trading service {path}: undecodable answer: {e}"))
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        Err(match status.as_u16() {
            429 => ApiError::server_busy(),
            502..=504 => ApiError::unavailable(format!("trading service {path}: {status} {text}")),
            _ => ApiError::internal(format!("trading service {path}: {status} {text}")),
        })
    }
}

/// Another service's routes over the internal channel: every request
/// carries the internal token (no caller identity), each bounded by a
/// timeout.
#[derive(Clone)]
pub struct InternalClient {
    name: &'static str,
    base: String,
    token: InternalToken,
    client: reqwest::Client,
}

impl InternalClient {
    /// The service `name` at `base_url` (e.g. `http://trading:8082`).
    pub fn new(
        name: &'static str,
        base_url: &str,
        token: InternalToken,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .unwrap_or_default();
        InternalClient {
            name,
            base: base_url.trim_end_matches('/').to_string(),
            token,
            client,
        }
    }

    /// Sends one request to `path_and_query`: the answer's status and body
    /// whatever the status; `Err` (503 -1001) only when the service could
    /// not be reached or did not answer in time.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(reqwest::StatusCode, bytes::Bytes), ApiError> {
        let mut headers = reqwest::header::HeaderMap::new();
        self.token.stamp(&mut headers, None);
        let mut req = self
            .client
            .request(method, format!("{}{path_and_query}", self.base))
            .headers(headers);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let name = self.name;
        let unreachable = |e: reqwest::Error| {
            ApiError::unavailable(format!("{name} service {path_and_query}: {e}"))
        };
        let res = req.send().await.map_err(unreachable)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(unreachable)?;
        Ok((status, bytes))
    }
}
