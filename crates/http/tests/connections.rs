//! Connection exhaustion over real TCP on loopback: slow clients that
//! never finish their headers are closed, one address cannot take every
//! connection, and past the total a client gets a clear refusal instead of
//! waiting in the backlog.

use axum::routing::get;
use axum::Router;
use flowex_http::ConnectionLimits;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Longest any single step may take before the test calls it a hang (a
/// guard against a stuck test, not a speed assertion).
const HANG: Duration = Duration::from_secs(60);

async fn start(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new().route("/x", get(|| async { "ok" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(flowex_http::serve(listener, app, limits, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends a whole GET and returns everything the server wrote before closing.
async fn get_from(source: IpAddr, to: SocketAddr) -> String {
    let mut s = connect_from(source, to).await;
    s.write_all(b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut s).await
}

async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match tokio::time::timeout(HANG, s.read_to_end(&mut out)).await {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => panic!("the server kept the connection open"),
    }
}

/// A client that starts a request and then sends one header line every
/// 200 ms, never finishing: the trickle that used to hold a connection
/// forever.
fn trickle(mut s: TcpStream) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let _ = s.write_all(b"GET /x HTTP/1.1\r\nhost: t\r\n").await;
        let (mut rd, mut wr) = s.into_split();
        let drip = async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if wr.write_all(b"x-slow: 1\r\n").await.is_err() {
                    return;
                }
            }
        };
        let read = async move {
            let mut out = Vec::new();
            let _ = rd.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        tokio::select! {
            _ = drip => String::new(),
            text = read => text,
        }
    })
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 1000,
        max_per_ip: Some(20),
        header_read_timeout: Duration::from_secs(1),
        exempt: vec![],
    }
}

const ATTACKER: [u8; 4] = [127, 0, 0, 1];
const NEIGHBOUR: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn slow_clients_are_closed_and_a_fresh_client_is_still_served() {
    let (addr, _stop) = start(limits()).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(trickle(connect_from(ATTACKER.into(), addr).await));
    }
    // The address holds its 20 connections: the next one is refused with
    // an answer, not left waiting.
    let refused = get_from(ATTACKER.into(), addr).await;
    assert!(
        refused.starts_with("HTTP/1.1 429 "),
        "over the per-address limit: {refused:?}"
    );
    assert!(
        refused.contains(r#""code":-1003"#) && refused.contains("at most 20"),
        "{refused:?}"
    );
    // Another address is served while the slow ones still trickle.
    let fresh = get_from(NEIGHBOUR.into(), addr).await;
    assert!(fresh.starts_with("HTTP/1.1 200 "), "{fresh:?}");
    assert!(fresh.ends_with("ok"), "{fresh:?}");
    // Every trickling client is closed by the header-read timeout, however
    // often it sends a line.
    for task in slow {
        let text = tokio::time::timeout(HANG, task)
            .await
            .expect("a slow client was never closed")
            .unwrap();
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text:?}"
        );
    }
    // Their slots are back: the address is served again.
    let again = get_from(ATTACKER.into(), addr).await;
    assert!(again.starts_with("HTTP/1.1 200 "), "{again:?}");
}

#[tokio::test]
async fn an_idle_connection_that_never_sends_is_closed() {
    let (addr, _stop) = start(limits()).await;
    let mut idle = connect_from(ATTACKER.into(), addr).await;
    assert_eq!(read_to_close(&mut idle).await, "");
}

#[tokio::test]
async fn past_the_total_a_client_is_refused_clearly() {
    let (addr, _stop) = start(ConnectionLimits {
        max_connections: 3,
        max_per_ip: None,
        header_read_timeout: Duration::from_secs(30),
        exempt: vec![],
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(ATTACKER.into(), addr).await);
    }
    // The three are accepted (a complete request on one of them is served).
    held[0]
        .write_all(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    held[0].read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let refused = get_from(NEIGHBOUR.into(), addr).await;
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused:?}");
    assert!(refused.contains(r#""code":-1008"#), "{refused:?}");
    drop(held);
    // Served again once they are gone (the server notices the closes on
    // its own schedule; retry until it has, bounded by HANG).
    let served = tokio::time::timeout(HANG, async {
        loop {
            let r = get_from(NEIGHBOUR.into(), addr).await;
            if r.starts_with("HTTP/1.1 200 ") {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("capacity never came back");
    assert!(served.ends_with("ok"));
}

#[tokio::test]
async fn exempt_addresses_are_not_capped_per_address() {
    let (addr, _stop) = start(ConnectionLimits {
        max_per_ip: Some(2),
        exempt: vec!["127.0.0.1/32".parse().unwrap()],
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(ATTACKER.into(), addr).await);
    }
    let ok = get_from(ATTACKER.into(), addr).await;
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok:?}");
}
