//! One connection: its queue of stream messages, its control messages
//! and Binance's connection rules (pings, message rate, age), each ending
//! in a close frame that says why.

use super::control::{Outcome, Session};
use super::hub::{now_ms, Frame, Kick, Listener, Slot};
use super::stream::Stream;
use crate::MarketDataState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
/// How long a close frame may take to go out.
const CLOSE_WRITE: Duration = Duration::from_secs(1);
/// The same for a slow consumer: its close frame waits behind what its
/// socket still holds, and the reason is what tells it why it lost data.
const SLOW_CLOSE_WRITE: Duration = Duration::from_secs(10);

type Sink = SplitSink<WebSocket, Message>;

/// Why the loop ended: a close frame to send, or none (the peer went).
struct Ending(Option<(u16, String)>);

fn close(code: u16, reason: impl Into<String>) -> Ending {
    Ending(Some((code, reason.into())))
}

/// Incoming messages of the last second.
struct Rate {
    max: usize,
    seen: VecDeque<Instant>,
}

impl Rate {
    fn allow(&mut self, now: Instant) -> bool {
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

fn text(frame: &Frame, combined: bool) -> Message {
    let body = if combined {
        format!(r#"{{"stream":"{}","data":{}}}"#, frame.stream, frame.data)
    } else {
        frame.data.clone()
    };
    Message::Text(body.into())
}

/// Sends `msg` unless the hub kicks the connection first (a client that
/// stopped reading leaves the write pending for ever).
async fn send(sink: &mut Sink, msg: Message, kick: &Kick) -> Result<(), Ending> {
    tokio::select! {
        r = sink.send(msg) => r.map_err(|_| Ending(None)),
        _ = kick.notify.notified() => Err(slow(kick)),
    }
}

/// Most queued frames written with one flush.
const WRITE_BATCH: usize = 64;

/// Sends `first` and the frames already queued behind it (up to
/// [`WRITE_BATCH`]) with one flush: usually one `write` for all of them,
/// where a flush per frame cost a system call per message per client.
async fn send_queued(
    sink: &mut Sink,
    first: &Frame,
    rx: &mut mpsc::Receiver<Arc<Frame>>,
    combined: bool,
    kick: &Kick,
) -> Result<(), Ending> {
    let write = async {
        sink.feed(text(first, combined)).await?;
        for _ in 1..WRITE_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            sink.feed(text(&next, combined)).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        r = write => r.map_err(|_| Ending(None)),
        _ = kick.notify.notified() => Err(slow(kick)),
    }
}

fn slow(kick: &Kick) -> Ending {
    kick.slow.store(true, std::sync::atomic::Ordering::Release);
    flowex_metrics::ws_slow_consumer();
    close(POLICY, "slow consumer: the send queue is full")
}

/// Resolves once the server is stopping.
pub(crate) async fn stopped(signal: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

/// Serves one upgraded connection until it ends.
pub async fn run(
    socket: WebSocket,
    state: MarketDataState,
    slot: Slot,
    streams: Vec<Stream>,
    combined: bool,
) {
    let cfg = state.live().config().clone();
    let (tx, rx) = mpsc::channel(cfg.send_queue);
    let kick = Arc::new(Kick::default());
    let listener = Listener {
        id: slot.id,
        tx,
        kick: kick.clone(),
    };
    let mut session = Session::new(state, listener, combined);
    session.add(&streams);
    let (mut sink, mut source) = socket.split();
    let ending = serve(&mut session, &mut sink, &mut source, rx, &cfg).await;
    session.clear();
    if let Ending(Some((code, reason))) = ending {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        // The closing handshake: our close, then the client's (so its
        // reply does not meet a reset socket).
        let handshake = async {
            sink.send(Message::Close(Some(frame))).await.ok()?;
            while let Some(Ok(m)) = source.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
            Some(())
        };
        let slow = kick.slow.load(std::sync::atomic::Ordering::Acquire);
        let grace = if slow { SLOW_CLOSE_WRITE } else { CLOSE_WRITE };
        let _ = tokio::time::timeout(grace, handshake).await;
    } else {
        // The peer closed: the WebSocket layer queued the close reply;
        // send it, so the client sees a clean close, not a lost socket.
        let _ = tokio::time::timeout(CLOSE_WRITE, sink.close()).await;
    }
    drop(slot);
}

/// The connection's loop: stream messages out, control messages in, the
/// rules checked; returns why it ended.
async fn serve(
    session: &mut Session,
    sink: &mut Sink,
    source: &mut SplitStream<WebSocket>,
    mut rx: mpsc::Receiver<Arc<Frame>>,
    cfg: &super::WsConfig,
) -> Ending {
    let kick = session.listener.kick.clone();
    let ping_every = Duration::from_secs(cfg.ping_interval_secs);
    let pong_timeout = Duration::from_secs(cfg.pong_timeout_secs);
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let age = tokio::time::sleep(Duration::from_secs(cfg.max_age_secs));
    tokio::pin!(age);
    let mut shutdown = session.hub().shutdown_signal();
    let mut last_pong = Instant::now();
    let mut rate = Rate {
        max: cfg.max_messages_per_sec as usize,
        seen: VecDeque::new(),
    };
    loop {
        let step = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => {
                let note = format!(r#"{{"e":"serverShutdown","E":{}}}"#, now_ms());
                let _ = send(sink, Message::Text(note.into()), &kick).await;
                Err(close(GOING_AWAY, "server shutting down"))
            }
            _ = kick.notify.notified() => Err(slow(&kick)),
            frame = rx.recv() => match frame {
                Some(f) => send_queued(sink, &f, &mut rx, session.combined, &kick).await,
                None => Err(Ending(None)),
            },
            msg = source.next() => match msg {
                Some(Ok(_)) if !rate.allow(Instant::now()) => {
                    Err(close(POLICY, format!("too many messages: at most {} per second", rate.max)))
                }
                Some(Ok(m)) => incoming(m, session, sink, &kick, &mut last_pong).await,
                _ => Err(Ending(None)),
            },
            _ = ping.tick() => {
                if last_pong.elapsed() >= pong_timeout {
                    Err(close(POLICY, format!("no pong for {} s", pong_timeout.as_secs())))
                } else {
                    send(sink, Message::Ping(Default::default()), &kick).await
                }
            }
            _ = &mut age => Err(close(NORMAL, format!("maximum connection age of {} s reached", cfg.max_age_secs))),
        };
        if let Err(ending) = step {
            return ending;
        }
    }
}

async fn incoming(
    msg: Message,
    session: &mut Session,
    sink: &mut Sink,
    kick: &Kick,
    last_pong: &mut Instant,
) -> Result<(), Ending> {
    let outcome = match msg {
        Message::Text(t) => session.handle(t.as_str()),
        Message::Binary(b) => session.handle(&String::from_utf8_lossy(&b)),
        Message::Pong(_) => {
            *last_pong = Instant::now();
            return Ok(());
        }
        // Pings are answered by the WebSocket layer itself.
        Message::Ping(_) => return Ok(()),
        Message::Close(_) => return Err(Ending(None)),
    };
    match outcome {
        Outcome::Reply(reply) => send(sink, Message::Text(reply.into()), kick).await,
        Outcome::Close(reply, reason) => {
            send(sink, Message::Text(reply.into()), kick).await?;
            Err(close(POLICY, reason))
        }
    }
}
