//! A WebSocket client of the tests: the next JSON message, or the next
//! one that satisfies a test, each within [`WAIT`].

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest a test waits for one message.
pub const WAIT: Duration = Duration::from_secs(20);

/// The next text message as JSON (pings are answered by the client).
pub async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a good frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Messages until one satisfies `want` (the others skipped).
pub async fn next_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = next(ws).await;
        if want(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never came; last {v}");
    }
}

/// Sends `v` as a text message.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Sends a WebSocket API request and reads its reply (events before it
/// are skipped).
pub async fn request(ws: &mut Ws, v: Value) -> Value {
    let id = v["id"].clone();
    send(ws, v).await;
    next_where(ws, |m| m.get("status").is_some() && m["id"] == id).await
}
