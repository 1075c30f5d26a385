//! One WebSocket API connection: requests in (one at a time, in order),
//! replies and events out, and the connection rules, each ending in a
//! close frame that says why.

use super::hub::{Kick, Slot};
use super::methods::{Outcome, Session};
use super::WsApi;
use crate::TradingState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Close codes (RFC 6455).
pub(super) const NORMAL: u16 = 1000;
const POLICY: u16 = 1008;
/// How long a close frame may take to go out.
const CLOSE_WRITE: Duration = Duration::from_secs(1);
/// How often the credentials behind a connection are checked again, so a
/// logged-out session or a deleted key stops receiving.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

pub(super) type Sink = SplitSink<WebSocket, Message>;

/// Why the loop ended: a close frame to send, or none (the peer went).
pub struct Ending(pub Option<(u16, String)>);

pub fn close(code: u16, reason: impl Into<String>) -> Ending {
    Ending(Some((code, reason.into())))
}

pub fn policy(reason: impl Into<String>) -> Ending {
    close(POLICY, reason)
}

/// Requests of the last second.
pub(super) struct Rate {
    pub(super) max: usize,
    pub(super) seen: VecDeque<Instant>,
}

impl Rate {
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        while self
            .seen
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.seen.pop_front();
        }
        self.seen.push_back(now);
        self.seen.len() <= self.max
    }
}

/// Sends `msg` unless the hub kicks the connection first (a client that
/// stopped reading leaves the write pending for ever).
pub(super) async fn send(sink: &mut Sink, msg: Message, kick: &Kick) -> Result<(), Ending> {
    tokio::select! {
        r = sink.send(msg) => r.map_err(|_| Ending(None)),
        _ = kick.notify.notified() => Err(slow()),
    }
}

pub(super) fn slow() -> Ending {
    flowex_metrics::ws_slow_consumer();
    policy("slow consumer: the send queue is full")
}

/// Serves one upgraded connection until it ends.
pub async fn run(socket: WebSocket, state: TradingState, api: Arc<WsApi>, slot: Slot, ip: IpAddr) {
    let (tx, rx) = mpsc::channel(api.cfg.send_queue.max(1));
    let kick = Arc::new(Kick::default());
    let mut session = Session::new(state, api.clone(), slot.id, ip, tx, kick);
    let (mut sink, mut source) = socket.split();
    let ending = serve(&mut session, &mut sink, &mut source, rx).await;
    session.clear();
    goodbye(&mut sink, &mut source, ending).await;
    drop(slot);
}

/// Sends the close frame of `ending` (if any) and waits a moment for the
/// peer's.
pub(super) async fn goodbye(sink: &mut Sink, source: &mut SplitStream<WebSocket>, ending: Ending) {
    if let Ending(Some((code, reason))) = ending {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let handshake = async {
            sink.send(Message::Close(Some(frame))).await.ok()?;
            while let Some(Ok(m)) = source.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
            Some(())
        };
        let _ = tokio::time::timeout(CLOSE_WRITE, handshake).await;
    } else {
        // The peer closed: the WebSocket layer queued the close reply;
        // send it, so the client sees a clean close, not a lost socket.
        let _ = tokio::time::timeout(CLOSE_WRITE, sink.close()).await;
    }
}

/// The timers of one connection.
struct Clock {
    ping: tokio::time::Interval,
    recheck: tokio::time::Interval,
    pong_timeout: Duration,
    last_pong: Instant,
}

async fn serve(
    session: &mut Session,
    sink: &mut Sink,
    source: &mut SplitStream<WebSocket>,
    mut rx: mpsc::Receiver<Arc<str>>,
) -> Ending {
    let cfg = session.api.cfg.clone();
    let kick = session.kick.clone();
    let ping_every = Duration::from_secs(cfg.ping_interval_secs.max(1));
    let mut clock = Clock {
        ping: tokio::time::interval_at(Instant::now() + ping_every, ping_every),
        recheck: tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY),
        pong_timeout: Duration::from_secs(cfg.pong_timeout_secs),
        last_pong: Instant::now(),
    };
    let age = tokio::time::sleep(Duration::from_secs(cfg.max_age_secs));
    tokio::pin!(age);
    let mut rate = Rate {
        max: super::MAX_REQUESTS_PER_SEC,
        seen: VecDeque::new(),
    };
    loop {
        let step = tokio::select! {
            biased;
            _ = kick.notify.notified() => Err(slow()),
            frame = rx.recv() => match frame {
                Some(f) => send(sink, Message::Text(f.as_ref().into()), &kick).await,
                None => Err(Ending(None)),
            },
            msg = source.next() => match msg {
                Some(Ok(_)) if !rate.allow(Instant::now()) => Err(policy(format!(
                    "too many requests: at most {} per second", rate.max
                ))),
                Some(Ok(m)) => incoming(m, session, sink, &mut clock.last_pong).await,
                _ => Err(Ending(None)),
            },
            _ = clock.ping.tick() => {
                if clock.last_pong.elapsed() >= clock.pong_timeout {
                    Err(policy(format!("no pong for {} s", clock.pong_timeout.as_secs())))
                } else {
                    send(sink, Message::Ping(Default::default()), &kick).await
                }
            }
            _ = clock.recheck.tick() => recheck(session, sink).await,
            _ = &mut age => Err(close(NORMAL, format!("maximum connection age of {} s reached", cfg.max_age_secs))),
        };
        if let Err(ending) = step {
            return ending;
        }
    }
}

async fn recheck(session: &mut Session, sink: &mut Sink) -> Result<(), Ending> {
    match session.recheck().await {
        Ok(()) => Ok(()),
        Err((notes, reason)) => {
            for note in notes {
                send(sink, Message::Text(note.into()), &session.kick).await?;
            }
            Err(policy(reason))
        }
    }
}

async fn incoming(
    msg: Message,
    session: &mut Session,
    sink: &mut Sink,
    last_pong: &mut Instant,
) -> Result<(), Ending> {
    let text = match msg {
        Message::Text(t) => t.as_str().to_string(),
        Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        Message::Pong(_) => {
            *last_pong = Instant::now();
            return Ok(());
        }
        // Pings are answered by the WebSocket layer itself.
        Message::Ping(_) => return Ok(()),
        Message::Close(_) => return Err(Ending(None)),
    };
    let kick = session.kick.clone();
    let Outcome(replies) = session.handle(&text).await;
    for r in replies {
        send(sink, Message::Text(r.into()), &kick).await?;
    }
    Ok(())
}
