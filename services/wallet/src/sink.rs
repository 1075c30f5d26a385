//! Where the wallet's commands and balance reads go: the sequencer in the
//! same process (`flowex up`), or the trading service's internal API over
//! the internal channel (`flowex serve wallet`). Either way a command is
//! answered only once it is durable, with the events it produced.

use flowex_bus::{wire, EventRecord};
use flowex_engine::Engine;
use flowex_http::{ApiError, InternalToken};
use flowex_sequencer::{SequencerError, SequencerHandle};
use flowex_types::{AssetConfig, AssetId, Command, MarketConfig, RejectReason, UserId};
use std::sync::Arc;
use std::time::Duration;

/// A balance as the wallet reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    /// Free, in atomic units.
    pub available: u64,
    /// Held by orders and pending withdrawals.
    pub locked: u64,
}

/// The engine, as the wallet reaches it.
#[derive(Clone)]
pub enum CommandSink {
    /// In process: the sequencer handle.
    Local(SequencerHandle),
    /// Another process: the trading service's internal API.
    Remote(Arc<RemoteTrading>),
}

impl CommandSink {
    /// The trading service at `base_url` (e.g. `http://trading:8082`),
    /// called with the internal token; each call times out after `timeout`.
    pub fn remote(base_url: &str, token: InternalToken, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .unwrap_or_default();
        CommandSink::Remote(Arc::new(RemoteTrading {
            base: base_url.trim_end_matches('/').to_string(),
            token,
            client,
        }))
    }

    /// Every asset the engine knows.
    pub async fn assets(&self) -> Result<Vec<AssetConfig>, ApiError> {
        match self {
            CommandSink::Local(seq) => seq
                .query(|e: &Engine| e.assets())
                .await
                .map_err(sequencer_error),
            CommandSink::Remote(r) => Ok(r
                .call::<wire::Assets>(reqwest::Method::GET, wire::ASSETS_PATH, None)
                .await?
                .assets),
        }
    }

    /// Every market the engine knows.
    pub async fn markets(&self) -> Result<Vec<MarketConfig>, ApiError> {
        match self {
            CommandSink::Local(seq) => seq
                .query(|e: &Engine| e.markets())
                .await
                .map_err(sequencer_error),
            CommandSink::Remote(r) => Ok(r
                .call::<wire::Markets>(reqwest::Method::GET, wire::MARKETS_PATH, None)
                .await?
                .markets),
        }
    }

    /// A user's balances (assets never held are absent).
    pub async fn balances(&self, user: UserId) -> Result<Vec<(AssetId, Holding)>, ApiError> {
        match self {
            CommandSink::Local(seq) => {
                let list = seq
                    .query(move |e: &Engine| e.balances(user))
                    .await
                    .map_err(sequencer_error)?;
                Ok(list
                    .into_iter()
                    .map(|(a, b)| {
                        let h = Holding {
                            available: b.available,
                            locked: b.locked,
                        };
                        (a, h)
                    })
                    .collect())
            }
            CommandSink::Remote(r) => {
                let path = wire::balances_path(user.0);
                let reply: wire::Balances = r.call(reqwest::Method::GET, &path, None).await?;
                Ok(reply
                    .balances
                    .into_iter()
                    .map(|b| {
                        let h = Holding {
                            available: b.available,
                            locked: b.locked,
                        };
                        (b.asset, h)
                    })
                    .collect())
            }
        }
    }

    /// Every account's non-zero balances (the fee account, user 0,
    /// included) and the engine's seq when they were read.
    pub async fn all_balances(&self) -> Result<(u64, Vec<(UserId, AssetId, Holding)>), ApiError> {
        match self {
            CommandSink::Local(seq) => {
                let (at, list) = seq
                    .query(|e: &Engine| (e.last_seq(), e.all_balances()))
                    .await
                    .map_err(sequencer_error)?;
                let holdings = list
                    .into_iter()
                    .map(|(u, a, b)| {
                        let h = Holding {
                            available: b.available,
                            locked: b.locked,
                        };
                        (u, a, h)
                    })
                    .collect();
                Ok((at, holdings))
            }
            CommandSink::Remote(r) => {
                let reply: wire::AllBalances = r
                    .call(reqwest::Method::GET, wire::ALL_BALANCES_PATH, None)
                    .await?;
                let holdings = reply
                    .balances
                    .into_iter()
                    .map(|b| {
                        let h = Holding {
                            available: b.available,
                            locked: b.locked,
                        };
                        (UserId(b.user_id), b.asset, h)
                    })
                    .collect();
                Ok((reply.seq, holdings))
            }
        }
    }

    /// Submits a command and waits until it is durable.
    pub async fn submit(&self, command: Command) -> Result<EventRecord, ApiError> {
        match self {
            CommandSink::Local(seq) => {
                let applied = seq.submit(command).await.map_err(sequencer_error)?;
                Ok(EventRecord {
                    seq: applied.seq(),
                    timestamp_ns: applied.timestamp_ns(),
                    events: applied.events().to_vec(),
                })
            }
            CommandSink::Remote(r) => {
                let body = serde_json::to_vec(&command)
                    .map_err(|e| ApiError::internal(format!("encoding a command: {e}")))?;
                r.call(reqwest::Method::POST, wire::COMMANDS_PATH, Some(body))
                    .await
            }
        }
    }
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
        other => ApiError::unavailable(other.to_string()),
    }
}

/// The trading service's internal API.
pub struct RemoteTrading {
    base: String,
    token: InternalToken,
    client: reqwest::Client,
}

impl RemoteTrading {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let mut headers = reqwest::header::HeaderMap::new();
        self.token.stamp(&mut headers, None);
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .headers(headers);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let res = req
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("trading service {path}: {e}")))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ApiError::unavailable(format!("trading service {path}: {e}")))?;
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
