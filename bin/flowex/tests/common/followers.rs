//! The WebSocket clients of the crash tests, each a background task that
//! reconnects by itself when the server goes away (retrying for at most
//! [`RECONNECT_FOR`]), as a market-data client and a trading client would:
//!
//! - [`DepthFollower`]: a local BTCUSDT book kept with Binance's procedure
//!   ("How to manage a local order book correctly"): open
//!   `/ws/btcusdt@depth@100ms` and buffer its `depthUpdate` events, fetch
//!   `GET /api/v3/depth?symbol=BTCUSDT&limit=5000`, drop buffered events
//!   with `u <= lastUpdateId`, the first applied event must have
//!   `U <= lastUpdateId + 1 <= u`, every later one `U` = the previous
//!   `u + 1`; anything else is a gap: a new snapshot, the stream still
//!   buffering. A closed socket: connect again, the whole procedure again.
//! - [`UserFollower`]: one user's listenKey stream (`POST
//!   /api/v3/userDataStream` with `X-MBX-APIKEY`, then `/ws/<listenKey>`),
//!   the same key again after a close, a new one if the old one is refused;
//!   it keeps every `executionReport`.
//!
//! The server's address may change between restarts (`flowex up --port
//! 0`): the clients read it from a [`Base`] the test updates.
#![allow(dead_code)] // each test file uses its own part

use futures_util::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long a client retries to connect before it gives up (and the test
/// fails with what it saw).
pub const RECONNECT_FOR: Duration = Duration::from_secs(120);
/// How long a test waits for a client to catch up.
pub const CATCH_UP: Duration = Duration::from_secs(60);

/// `http://HOST:PORT` of the server now.
#[derive(Clone)]
pub struct Base(Arc<Mutex<String>>);

impl Base {
    pub fn new(base: &str) -> Base {
        Base(Arc::new(Mutex::new(base.to_string())))
    }

    pub fn set(&self, base: &str) {
        *self.0.lock().unwrap() = base.to_string();
    }

    pub fn get(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn ws(&self, path: &str) -> String {
        format!("{}{path}", self.get().replacen("http://", "ws://", 1))
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Why [`connect`] gave up.
enum NoConnection {
    /// 400: the path names nothing (an unknown listenKey).
    Unknown,
    /// [`RECONNECT_FOR`] passed.
    TimedOut(String),
}

/// Connects to `path`, retrying with a growing pause (50 ms to 1 s) for
/// at most [`RECONNECT_FOR`]: refused connections and refused upgrades
/// (503 while a service is away) alike, except a 400.
async fn connect(base: &Base, path: &str) -> Result<Ws, NoConnection> {
    let deadline = Instant::now() + RECONNECT_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match tokio_tungstenite::connect_async(base.ws(path)).await {
            Ok((ws, _)) => return Ok(ws),
            Err(tungstenite::Error::Http(res)) if res.status() == 400 => {
                return Err(NoConnection::Unknown)
            }
            Err(e) if Instant::now() > deadline => {
                return Err(NoConnection::TimedOut(format!(
                    "no connection to {path} for {RECONNECT_FOR:?}: {e}"
                )))
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Reads `ws` into a channel (the buffer) until it closes; the channel
/// then ends. Pings are answered by the reads.
fn pump(ws: Ws) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut ws = ws;
        while let Some(Ok(msg)) = ws.next().await {
            match msg {
                Message::Text(t) => {
                    let v = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    rx
}

type Side = BTreeMap<String, String>;

/// What the depth client has now, and what it went through.
#[derive(Default, Debug)]
pub struct BookState {
    pub bids: Side,
    pub asks: Side,
    /// The update id the book is at.
    pub last: u64,
    /// The book is a snapshot plus the diffs after it (false from a close
    /// or a gap until the next snapshot).
    pub synced: bool,
    pub connects: u64,
    pub closes: u64,
    /// Snapshots fetched (one per connection, one more per gap).
    pub snapshots: u64,
    /// Events that did not continue the book (then: a new snapshot).
    pub gaps: u64,
    /// Events applied.
    pub applied: u64,
    /// Why the client stopped (it could not reconnect).
    pub error: Option<String>,
}

fn apply(side: &mut Side, levels: &Value) {
    for l in levels.as_array().into_iter().flatten() {
        let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
        if q.bytes().all(|b| b == b'0' || b == b'.') {
            side.remove(p);
        } else {
            side.insert(p.to_string(), q.to_string());
        }
    }
}

/// `(lastUpdateId, bids, asks)` of REST depth now, if it answers.
pub async fn rest_depth(http: &reqwest::Client, base: &str) -> Option<(u64, Side, Side)> {
    let url = format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=5000");
    let resp = http.get(url).send().await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    let (mut bids, mut asks) = (Side::new(), Side::new());
    apply(&mut bids, &v["bids"]);
    apply(&mut asks, &v["asks"]);
    Some((v["lastUpdateId"].as_u64()?, bids, asks))
}

/// A local BTCUSDT book following the diff stream (module docs).
pub struct DepthFollower {
    pub state: Arc<Mutex<BookState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DepthFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DepthFollower {
    pub fn start(base: &Base) -> DepthFollower {
        let state = Arc::new(Mutex::new(BookState::default()));
        let task = tokio::spawn(follow_depth(base.clone(), state.clone()));
        DepthFollower { state, task }
    }

    /// Waits until the client has connected `connects` times and holds a
    /// snapshot (so that what changes next must come through the stream).
    pub async fn synced(&self, connects: u64, what: &str) {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            {
                let st = self.state.lock().unwrap();
                assert!(st.error.is_none(), "{what}: depth client: {:?}", st.error);
                if st.connects >= connects && st.synced {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: the depth client did not resync: {} connects (want {connects}), \
                     synced {}",
                    st.connects,
                    st.synced
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the client has connected `connects` times, is synced
    /// and at REST depth's `lastUpdateId` (the stream quiet), then checks
    /// the two books are equal: every price and quantity string.
    pub async fn agrees_with_rest(&self, base: &str, connects: u64, what: &str) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + CATCH_UP;
        loop {
            let rest = rest_depth(&http, base).await;
            {
                let st = self.state.lock().unwrap();
                assert!(st.error.is_none(), "{what}: depth client: {:?}", st.error);
                if let Some((id, bids, asks)) = &rest {
                    if st.connects >= connects && st.synced && st.last == *id {
                        assert_eq!(
                            (&st.bids, &st.asks),
                            (bids, asks),
                            "{what}: the local book at update id {id} is not REST depth's"
                        );
                        return;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: the local book never reached REST depth: client at {} \
                     (synced {}, {} connects, want {connects}), REST at {:?}",
                    st.last,
                    st.synced,
                    st.connects,
                    rest.as_ref().map(|r| r.0)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn report(&self) -> String {
        let st = self.state.lock().unwrap();
        format!(
            "depth client: {} connects, {} closes, {} snapshots, {} gaps, {} diffs applied",
            st.connects, st.closes, st.snapshots, st.gaps, st.applied
        )
    }
}

async fn follow_depth(base: Base, state: Arc<Mutex<BookState>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    loop {
        let ws = match connect(&base, "/ws/btcusdt@depth@100ms").await {
            Ok(ws) => ws,
            Err(NoConnection::TimedOut(e)) => {
                state.lock().unwrap().error = Some(e);
                return;
            }
            Err(NoConnection::Unknown) => {
                state.lock().unwrap().error = Some("btcusdt@depth@100ms refused".into());
                return;
            }
        };
        state.lock().unwrap().connects += 1;
        let mut rx = pump(ws);
        // Until this connection ends: a snapshot, then the diffs after
        // it, again after every gap.
        while sync_once(&http, &base, &mut rx, &state).await {}
        let mut st = state.lock().unwrap();
        st.closes += 1;
        st.synced = false;
    }
}

/// One snapshot and the events after it: true after a gap (take another
/// snapshot), false once the connection ended.
async fn sync_once(
    http: &reqwest::Client,
    base: &Base,
    rx: &mut mpsc::UnboundedReceiver<Value>,
    state: &Mutex<BookState>,
) -> bool {
    let (mut last, bids, asks) = loop {
        if let Some(snapshot) = rest_depth(http, &base.get()).await {
            break snapshot;
        }
        if rx.is_closed() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    {
        let mut st = state.lock().unwrap();
        (st.bids, st.asks, st.last, st.synced) = (bids, asks, last, true);
        st.snapshots += 1;
    }
    let mut first = true;
    while let Some(ev) = rx.recv().await {
        if ev["e"] != "depthUpdate" {
            continue;
        }
        let (from, to) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
        if to <= last {
            continue; // in the snapshot already
        }
        let continues = if first {
            from <= last + 1 && last < to
        } else {
            from == last + 1
        };
        let mut st = state.lock().unwrap();
        if !continues {
            st.gaps += 1;
            st.synced = false;
            return true;
        }
        apply(&mut st.bids, &ev["b"]);
        apply(&mut st.asks, &ev["a"]);
        st.last = to;
        st.applied += 1;
        last = to;
        first = false;
    }
    false
}

/// What the user data client went through, and the `executionReport`s.
#[derive(Default, Debug)]
pub struct UserState {
    pub reports: Vec<Value>,
    pub connects: u64,
    pub closes: u64,
    /// listenKeys obtained (`POST /api/v3/userDataStream`).
    pub keys: u64,
    /// Connections refused with a known key (then: a new key).
    pub refused: u64,
    pub error: Option<String>,
}

/// One user's listenKey stream (module docs).
pub struct UserFollower {
    pub state: Arc<Mutex<UserState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UserFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UserFollower {
    /// Follows the stream of the user of `api_key`.
    pub fn start(base: &Base, api_key: &str) -> UserFollower {
        let state = Arc::new(Mutex::new(UserState::default()));
        let task = tokio::spawn(follow_user(
            base.clone(),
            api_key.to_string(),
            state.clone(),
        ));
        UserFollower { state, task }
    }

    /// Waits until the client has connected `connects` times.
    pub async fn connected(&self, connects: u64, what: &str) {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            {
                let st = self.state.lock().unwrap();
                assert!(
                    st.error.is_none(),
                    "{what}: user data client: {:?}",
                    st.error
                );
                if st.connects >= connects {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: the user data client did not reconnect: {st:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the `executionReport` of order `id` with status `status`.
    pub async fn report_of(&self, id: u64, status: &str, what: &str) -> Value {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            {
                let st = self.state.lock().unwrap();
                let found = st
                    .reports
                    .iter()
                    .find(|r| r["i"].as_u64() == Some(id) && r["X"] == status);
                if let Some(r) = found {
                    return r.clone();
                }
                let of_id: Vec<&Value> = st
                    .reports
                    .iter()
                    .filter(|r| r["i"].as_u64() == Some(id))
                    .collect();
                assert!(
                    Instant::now() < deadline,
                    "{what}: no executionReport {status} of order {id}; of it: {of_id:?}; \
                     client: {} connects, {} closes, {} reports",
                    st.connects,
                    st.closes,
                    st.reports.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn report(&self) -> String {
        let st = self.state.lock().unwrap();
        format!(
            "user data client: {} connects, {} closes, {} listenKeys, {} refused, {} executionReports",
            st.connects,
            st.closes,
            st.keys,
            st.refused,
            st.reports.len()
        )
    }
}

/// A listenKey of `api_key`'s holder, if the server answers.
async fn listen_key(http: &reqwest::Client, base: &Base, api_key: &str) -> Option<String> {
    let resp = http
        .post(format!("{}/api/v3/userDataStream", base.get()))
        .header("X-MBX-APIKEY", api_key)
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    v["listenKey"].as_str().map(str::to_string)
}

async fn follow_user(base: Base, api_key: String, state: Arc<Mutex<UserState>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut key: Option<String> = None;
    let mut deadline = Instant::now() + RECONNECT_FOR;
    loop {
        if Instant::now() > deadline {
            state.lock().unwrap().error = Some(format!("no stream for {RECONNECT_FOR:?}"));
            return;
        }
        let lk = match &key {
            Some(k) => k.clone(),
            None => match listen_key(&http, &base, &api_key).await {
                Some(k) => {
                    state.lock().unwrap().keys += 1;
                    key = Some(k.clone());
                    k
                }
                None => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ws = match connect(&base, &format!("/ws/{lk}")).await {
            Ok(ws) => ws,
            Err(NoConnection::Unknown) => {
                // The key is not known (any more): ask for one again.
                state.lock().unwrap().refused += 1;
                key = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(NoConnection::TimedOut(e)) => {
                state.lock().unwrap().error = Some(e);
                return;
            }
        };
        state.lock().unwrap().connects += 1;
        let mut rx = pump(ws);
        while let Some(ev) = rx.recv().await {
            if ev["e"] == "executionReport" {
                state.lock().unwrap().reports.push(ev);
            }
        }
        state.lock().unwrap().closes += 1;
        deadline = Instant::now() + RECONNECT_FOR;
    }
}
