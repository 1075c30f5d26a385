//! One keep-alive HTTP/1.1 connection per simulated connection, and the
//! Binance signing of every request on it.
//!
//! A signed request gets a fresh `timestamp` (and `recvWindow`) when it is
//! built, right before it is sent, and its `signature` is the HMAC-SHA256 of
//! exactly the bytes that go out: the query string for GET and DELETE, the
//! form body for POST (as python-binance sends them).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `recvWindow` of every signed request, in milliseconds.
pub const RECV_WINDOW_MS: u64 = 5_000;

/// An API key and its secret: the demo market maker's type, one signed
/// client's credentials like any other's.
pub use flowex_bot::Credentials;

/// A request before signing: method, path and its parameters
/// (`a=1&b=2`, already percent-encoded where needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    pub path: &'static str,
    pub params: String,
    /// Signed with the trader's key (else a public request).
    pub signed: bool,
}

/// What came back.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer and its body.
    Ok(Bytes),
    /// Refused: the Binance code (`-2010`), else `http-<status>`.
    Refused(String),
    /// No answer: `timeout`, `connect`, `transport`.
    Failed(&'static str),
}

/// The millisecond wall clock, as Binance's `timestamp`.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The request `call` becomes for `creds` (if signed) on `host`.
pub fn build(call: &Call, creds: &Credentials, host: &str) -> Request<Full<Bytes>> {
    let mut params = call.params.clone();
    if call.signed {
        if !params.is_empty() {
            params.push('&');
        }
        params.push_str(&format!(
            "recvWindow={RECV_WINDOW_MS}&timestamp={}",
            now_ms()
        ));
        let signature = flowex_auth::sign(&creds.secret, params.as_bytes());
        params.push_str("&signature=");
        params.push_str(&signature);
    }
    let in_body = call.method == Method::POST;
    let uri = if in_body || params.is_empty() {
        call.path.to_string()
    } else {
        format!("{}?{params}", call.path)
    };
    let mut req = Request::builder()
        .method(call.method.clone())
        .uri(uri)
        .header(header::HOST, host);
    if call.signed {
        req = req.header("X-MBX-APIKEY", &creds.api_key);
    }
    let body = if in_body {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        Bytes::from(params)
    } else {
        Bytes::new()
    };
    req.body(Full::new(body))
        .expect("method, path and headers are valid")
}

/// A keep-alive connection to the server; reconnects after a failure.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `addr` (opened by [`Conn::open`] or on first use).
    pub fn new(addr: SocketAddr, host: &str) -> Conn {
        Conn {
            addr,
            host: host.to_string(),
            sender: None,
        }
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Opens the TCP connection and does the HTTP/1 handshake.
    pub async fn open(&mut self) -> Result<(), &'static str> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|_| "connect")?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| "connect")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends `req` and reads the whole answer within `timeout`.
    pub async fn send(&mut self, req: Request<Full<Bytes>>, timeout: Duration) -> Outcome {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            if let Err(e) = self.open().await {
                return Outcome::Failed(e);
            }
        }
        let sender = self.sender.as_mut().expect("opened above");
        match tokio::time::timeout(timeout, exchange(sender, req)).await {
            Ok(Some((status, body))) => classify(status, body),
            Ok(None) => {
                self.sender = None;
                Outcome::Failed("transport")
            }
            Err(_) => {
                // The answer may still come: this connection is out of step.
                self.sender = None;
                Outcome::Failed("timeout")
            }
        }
    }
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Option<(u16, Bytes)> {
    sender.ready().await.ok()?;
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    code: Option<i64>,
}

fn classify(status: u16, body: Bytes) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Ok(body);
    }
    let code = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|e| e.code);
    Outcome::Refused(match code {
        Some(c) => c.to_string(),
        None => format!("http-{status}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            api_key: "k".into(),
            secret: "s3cr3t".into(),
        }
    }

    #[test]
    fn a_signed_post_signs_exactly_its_body() {
        let call = Call {
            method: Method::POST,
            path: "/api/v3/order",
            params: "symbol=BTCUSDT&side=BUY".into(),
            signed: true,
        };
        let req = build(&call, &creds(), "127.0.0.1:1");
        assert_eq!(req.uri(), "/api/v3/order");
        assert_eq!(req.headers()["X-MBX-APIKEY"], "k");
        let body = req.body().clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(body.collect()).unwrap().to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (signed, sig) = text.rsplit_once("&signature=").unwrap();
        assert!(signed.starts_with("symbol=BTCUSDT&side=BUY&recvWindow=5000&timestamp="));
        assert!(flowex_auth::verify_signature("s3cr3t", signed, b"", sig));
    }

    #[test]
    fn a_signed_get_signs_its_query_and_sends_no_body() {
        let call = Call {
            method: Method::GET,
            path: "/api/v3/account",
            params: String::new(),
            signed: true,
        };
        let req = build(&call, &creds(), "h");
        let query = req.uri().query().unwrap().to_string();
        let (signed, sig) = query.rsplit_once("&signature=").unwrap();
        assert!(signed.starts_with("recvWindow=5000&timestamp="));
        assert!(flowex_auth::verify_signature("s3cr3t", signed, b"", sig));
        assert!(req.headers().get(header::CONTENT_TYPE).is_none());
    }

    #[test]
    fn refusals_carry_the_binance_code_or_the_status() {
        let c = |s, b: &'static str| match classify(s, Bytes::from_static(b.as_bytes())) {
            Outcome::Refused(code) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(c(400, r#"{"code":-2010,"msg":"x"}"#), "-2010");
        assert_eq!(c(503, "busy"), "http-503");
        assert!(matches!(classify(200, Bytes::new()), Outcome::Ok(_)));
    }
}
