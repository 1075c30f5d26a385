//! Serving a router: connection limits, header-read timeout, client
//! addresses, accept back-off, graceful shutdown.

use crate::connections::{AcceptBackoff, Admission, ConnectionLimits, Slot};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown` resolves, HTTP/1.1 with
/// upgrades (WebSocket): connections held to `limits` (a clear refusal
/// past the total or an address's share, headers within
/// `header_read_timeout`), `TCP_NODELAY`, the peer address available as
/// `ConnectInfo<SocketAddr>` (for [`crate::ClientIp`]), accept errors
/// backed off, and a graceful shutdown that lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: impl Into<ConnectionLimits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let admission = Admission::new(limits.into());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(admission.limits().header_read_timeout);
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut backoff = AcceptBackoff::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tokio::time::sleep(backoff.failed(&e)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        backoff.succeeded();
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                admission.refuse(stream, why);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            http: http.clone(),
            router: router.clone(),
            stop: stop_rx.clone(),
            done: done_rx.clone(),
            slot,
        };
        tokio::spawn(conn.run(stream, peer));
    }
    drop(listener);
    drop(done_rx);
    let _ = stop_tx.send(());
    done_tx.closed().await;
    Ok(())
}

/// One accepted connection and what it needs to be served.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    router: Router,
    stop: watch::Receiver<()>,
    /// Held until the connection ends: [`serve`] waits for every holder.
    done: watch::Receiver<()>,
    slot: Slot,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let service = self.router.map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(Body::new)
        });
        let conn = self
            .http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let finished = tokio::select! {
            r = conn.as_mut() => Some(r),
            _ = self.stop.changed() => None,
        };
        let result = match finished {
            Some(r) => r,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            if e.is_timeout() {
                metrics::counter!("flowex_http_header_timeouts_total").increment(1);
            }
            tracing::trace!("connection from {peer} ended: {e}");
        }
        drop(self.slot);
        drop(self.done);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what Kubernetes and systemd
/// send): the graceful-shutdown future every FlowEx process serves with.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
