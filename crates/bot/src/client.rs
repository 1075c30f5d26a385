//! A minimal Binance-style REST client: public GETs and signed requests
//! (HMAC-SHA256 over the query string, parameters in the query and an empty
//! body, as binance-connector sends them).

use reqwest::{Method, Url};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An API key and its secret.
#[derive(Clone)]
pub struct Credentials {
    pub api_key: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a Binance error body.
    #[error("HTTP {status}: {code} {msg}")]
    Api { status: u16, code: i64, msg: String },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// The Binance error code, if the server sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Binance's -2011 "Unknown order sent.": the order is already gone.
pub const UNKNOWN_ORDER: i64 = -2011;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`),
    /// connecting from `local` when given.
    pub fn new(base: &str, local: Option<std::net::IpAddr>) -> Result<Client, ClientError> {
        let base = Url::parse(base).map_err(|e| ClientError::Decode(format!("base URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .local_address(local)
            .build()?;
        Ok(Client { http, base })
    }

    fn url(&self, path: &str, params: &[(&str, String)]) -> Url {
        let mut url = self.base.join(path).expect("paths are absolute and valid");
        if !params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// An unsigned GET.
    pub async fn public(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        let resp = self.http.get(self.url(path, params)).send().await?;
        decode(resp).await
    }

    /// A signed request: `timestamp` and `recvWindow` added, the query string signed.
    pub async fn signed(
        &self,
        method: Method,
        path: &str,
        creds: &Credentials,
        params: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        let mut all = params.to_vec();
        all.push(("recvWindow", "10000".to_string()));
        all.push(("timestamp", now_ms().to_string()));
        let mut url = self.url(path, &all);
        let signature = flowex_auth::sign(&creds.secret, url.query().unwrap_or("").as_bytes());
        url.query_pairs_mut().append_pair("signature", &signature);
        let resp = self
            .http
            .request(method, url)
            .header("X-MBX-APIKEY", &creds.api_key)
            .send()
            .await?;
        decode(resp).await
    }
}

async fn decode(resp: reqwest::Response) -> Result<Value, ClientError> {
    let status = resp.status();
    let bytes = resp.bytes().await?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Decode(format!("HTTP {status}: {e}")))?;
    if status.is_success() {
        return Ok(body);
    }
    Err(ClientError::Api {
        status: status.as_u16(),
        code: body["code"].as_i64().unwrap_or(0),
        msg: body["msg"].as_str().unwrap_or_default().to_string(),
    })
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
