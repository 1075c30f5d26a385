//! Test harness: real servers on 127.0.0.1:0, a real HTTP client, fake
//! services that echo what they received, keys and tokens.

#![allow(dead_code)]

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use flowex_auth::{AccessGrant, IpAllowList, JwtKeys, Permissions, Role, Secret, Verifier};
use flowex_gateway::{GatewayConfig, KeyRecord, MemoryDirectory, MemorySessions};
use flowex_http::{HttpConfig, Identity, RateLimiter, SessionStatus};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub const ISSUER: &str = "flowex";
pub const AUDIENCE: &str = "flowex-api";
pub const INTERNAL_TOKEN: &str = "internal-token-for-tests-0123456789abcdef";

/// Binance's documented test vector (BINANCE_API.md).
pub const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
pub const PAYLOAD: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
pub const SIG: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
pub const VECTOR_TS: u64 = 1499827319559;

/// Keys of the test directory (64 alphanumerics each).
pub const KEY_TRADE: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
pub const KEY_READ: &str = "readONLYreadONLYreadONLYreadONLYreadONLYreadONLYreadONLYreadONLY";
pub const KEY_FAR: &str = "farAWAYfarAWAYfarAWAYfarAWAYfarAWAYfarAWAYfarAWAYfarAWAYfarAWAY1";
pub const KEY_WITHDRAW: &str = "withdrawWITHDRAWwithdrawWITHDRAWwithdrawWITHDRAWwithdrawWITHDRAW";
pub const KEY_UNKNOWN: &str = "unknownUNKNOWNunknownUNKNOWNunknownUNKNOWNunknownUNKNOWNunknown1";

pub fn record(key_id: u64, permissions: Permissions, ip_allow: &str) -> KeyRecord {
    KeyRecord {
        key_id,
        user_id: 7,
        role: Role::User,
        frozen: false,
        permissions,
        ip_allow: IpAllowList::parse_csv(ip_allow).unwrap(),
        secret: Secret::new(SECRET.to_string()),
    }
}

pub fn directory() -> Arc<MemoryDirectory> {
    let d = MemoryDirectory::new();
    d.insert(KEY_TRADE, record(1, Permissions::DEFAULT, ""));
    d.insert(KEY_READ, record(2, Permissions::READ, ""));
    d.insert(KEY_FAR, record(3, Permissions::DEFAULT, "10.0.0.0/8"));
    d.insert(KEY_WITHDRAW, record(4, Permissions::ALL, "127.0.0.1"));
    Arc::new(d)
}

pub fn sign(payload: &str) -> String {
    flowex_auth::sign(SECRET, payload.as_bytes())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------- tokens

/// The session of the test tokens of `user`: `100 + user id` (or `0`, which
/// no directory knows, for a `user` that is not an id).
pub fn session_of(user: &str) -> String {
    user.parse::<u64>().map_or(0, |u| 100 + u).to_string()
}

/// The users the test sessions belong to: 1 (admin), 7 and 8.
const SESSION_USERS: [(u64, Role); 3] = [(1, Role::Admin), (7, Role::User), (8, Role::User)];

/// The live sessions of the test tokens' users.
pub fn sessions() -> Arc<MemorySessions> {
    let d = MemorySessions::new();
    for (user_id, role) in SESSION_USERS {
        d.insert(
            100 + user_id,
            SessionStatus {
                user_id,
                live: true,
                role,
            },
        );
    }
    Arc::new(d)
}

pub struct Tokens {
    pub keys: JwtKeys,
}

impl Tokens {
    pub fn new() -> Self {
        Tokens {
            keys: JwtKeys::generate().unwrap().0,
        }
    }
    pub fn verifier(&self) -> Verifier {
        self.keys.verifier(ISSUER, AUDIENCE)
    }
    pub fn issue(&self, user: &str, role: Role) -> String {
        self.issue_with(user, role, AUDIENCE, now_ms() / 1000)
    }
    pub fn issue_with(&self, user: &str, role: Role, audience: &str, now: u64) -> String {
        let sid = session_of(user);
        let grant = AccessGrant {
            issuer: ISSUER,
            audience,
            user_id: user,
            role,
            session_id: &sid,
        };
        self.keys
            .issue_access_at(&grant, Duration::from_secs(600), now)
            .unwrap()
            .token
            .expose()
            .clone()
    }
    pub fn user(&self) -> String {
        self.issue("7", Role::User)
    }
    pub fn admin(&self) -> String {
        self.issue("1", Role::Admin)
    }
    pub fn expired(&self) -> String {
        self.issue_with("7", Role::User, AUDIENCE, now_ms() / 1000 - 3600)
    }
    pub fn wrong_audience(&self) -> String {
        self.issue_with("7", Role::User, "someone-else", now_ms() / 1000)
    }
    pub fn forged(&self) -> String {
        let t = self.user();
        let (head, sig) = t.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[0] ^= 1;
        format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
    }
    pub fn alg_none(&self) -> String {
        let t = self.issue("1", Role::Admin);
        let payload = t.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{payload}.")
    }
}

// ---------------------------------------------------------------- config

/// A clock the test moves (Unix ms).
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicU64>);

impl TestClock {
    pub fn now() -> Self {
        TestClock(Arc::new(AtomicU64::new(now_ms())))
    }
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst)
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn config(clock: Option<&TestClock>) -> GatewayConfig {
    let base = flowex_config::Config::default();
    let mut cfg = GatewayConfig::from_config(&base);
    cfg.http = HttpConfig {
        request_timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    };
    cfg.web_dir = None;
    cfg.docs_assets_dir = None;
    if let Some(c) = clock {
        let c = c.clone();
        cfg.clock = Some(Arc::new(move || c.get()));
    }
    cfg
}

/// An in-memory limiter whose clock stands still in the middle of a
/// minute, so a test never straddles two windows.
pub fn limits(ip: u64, user: u64, ban_threshold: u64) -> RateLimiter {
    let rl = flowex_config::RateLimitConfig {
        ip_weight_per_minute: ip,
        user_weight_per_minute: user,
        ban_threshold,
        ..Default::default()
    };
    let now = now_ms();
    let mid_minute = now - now % 60_000 + 30_000;
    RateLimiter::in_memory(&rl).with_clock(move || mid_minute)
}

// ---------------------------------------------------------------- servers

pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(flowex_http::serve(listener, app, 1000, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        addr,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        _stop: tx,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    /// Asserts a Binance error body.
    #[track_caller]
    pub fn assert_binance(&self, status: u16, code: i64, msg: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.json(),
            json!({"code": code, "msg": msg}),
            "{}",
            self.text
        );
    }
    /// Asserts a native error body.
    #[track_caller]
    pub fn assert_native(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json()["error"]["code"], code, "{}", self.text);
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    /// A request with the API key header and a form body.
    pub async fn keyed(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        key: &str,
        form: &str,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, self.url(path_and_query))
            .header("X-MBX-APIKEY", key);
        if !form.is_empty() {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_string());
        }
        self.send(req).await
    }
}

// ---------------------------------------------------------------- fake services

/// What a fake service saw, as JSON.
pub async fn echo(service: &'static str, req: Request) -> Value {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let h = |n: &str| {
        parts
            .headers
            .get(n)
            .map(|v| Value::from(v.to_str().unwrap_or("<binary>")))
            .unwrap_or(Value::Null)
    };
    json!({
        "service": service,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "body": String::from_utf8_lossy(&body),
        "identity": parts.extensions.get::<Identity>().map(|i| i.to_header()),
        "identity_header": h("x-flowex-identity"),
        "internal_token": h("x-flowex-internal-token"),
        "request_id": h("x-request-id"),
        "forwarded_for": h("x-forwarded-for"),
        "content_type": h("content-type"),
        "frozen": parts.extensions.get::<flowex_gateway::AccountFrozen>().is_some(),
    })
}

/// An in-process service router (embedded mode) that echoes every
/// request under `/api/`.
pub fn echo_service(name: &'static str) -> Router {
    let handler = move |req: Request| async move { axum::Json(echo(name, req).await) };
    Router::new()
        .route("/api/{*rest}", axum::routing::any(handler))
        .route(
            "/api/v3/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
}

/// A fake upstream service (distributed mode): echoes every request,
/// counts them, answers 503 while `failing`.
pub struct FakeUpstream {
    pub server: Server,
    pub hits: Arc<AtomicUsize>,
    pub failing: Arc<AtomicBool>,
    /// (auth) Every session has ended: `/internal/sessions/*` answers 404.
    pub ended: Arc<AtomicBool>,
}

#[derive(Clone)]
struct FakeState {
    name: &'static str,
    hits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    ended: Arc<AtomicBool>,
}

async fn fake_handler(State(s): State<FakeState>, mut req: Request) -> Response {
    // Session lookups are not counted as hits and do not fail with the service.
    if let Some(id) = req.uri().path().strip_prefix("/internal/sessions/") {
        let token_ok = req
            .headers()
            .get("x-flowex-internal-token")
            .is_some_and(|v| v == INTERNAL_TOKEN);
        if !token_ok {
            return (axum::http::StatusCode::UNAUTHORIZED, "no token").into_response();
        }
        let found = SESSION_USERS
            .iter()
            .find(|(u, _)| (100 + u).to_string() == id && !s.ended.load(Ordering::SeqCst));
        return match found {
            Some((user_id, role)) => axum::Json(SessionStatus {
                user_id: *user_id,
                live: true,
                role: *role,
            })
            .into_response(),
            None => (axum::http::StatusCode::NOT_FOUND, "").into_response(),
        };
    }
    s.hits.fetch_add(1, Ordering::SeqCst);
    if s.failing.load(Ordering::SeqCst) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if req.uri().query().is_some_and(|q| q.contains("sleep=1")) {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if req.headers().contains_key("upgrade") {
        // A raw upgrade: answer 101 and echo bytes, upper-cased.
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let up = on.await.unwrap();
            let mut io = hyper_util::rt::TokioIo::new(up);
            let mut buf = [0u8; 64];
            loop {
                let n = io.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let out = buf[..n].to_ascii_uppercase();
                if io.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
        return Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(axum::body::Body::empty())
            .unwrap();
    }
    if req.uri().path().starts_with("/internal/api-keys/") {
        let token_ok = req
            .headers()
            .get("x-flowex-internal-token")
            .is_some_and(|v| v == INTERNAL_TOKEN);
        if !token_ok {
            return (axum::http::StatusCode::UNAUTHORIZED, "no token").into_response();
        }
        let key = req.uri().path().rsplit('/').next().unwrap();
        return match key {
            KEY_TRADE => axum::Json(json!({
                "key_id": 1, "user_id": 7, "role": "user", "frozen": true,
                "permissions": "READ,TRADE", "ip_allow": "", "secret": SECRET
            }))
            .into_response(),
            _ => (axum::http::StatusCode::NOT_FOUND, "").into_response(),
        };
    }
    axum::Json(echo(s.name, req).await).into_response()
}

pub async fn fake_upstream(name: &'static str) -> FakeUpstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicBool::new(false));
    let state = FakeState {
        name,
        hits: hits.clone(),
        failing: failing.clone(),
        ended: ended.clone(),
    };
    let app = Router::new().fallback(fake_handler).with_state(state);
    FakeUpstream {
        server: start(app).await,
        hits,
        failing,
        ended,
    }
}

/// A loopback address nothing listens on.
pub async fn dead_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}
