//! Test harness: the auth service on a real loopback server, over a real
//! SQLite file or a real PostgreSQL database, with a controllable clock and
//! captured logs.
//!
//! Each test runs twice (`both_backends!`): on a fresh SQLite file, and on
//! a fresh database of the server named by `FLOWEX_TEST_POSTGRES_URL`
//! (skipped with a notice when unset, a failure when
//! `FLOWEX_REQUIRE_POSTGRES=1`).
//!
//! Two servers share one state: `h.public` is what a client reaches through
//! the gateway in one process ([`flowex_auth_service::router`] behind the
//! `bearer_identity` middleware), `h.internal` is the distributed-mode
//! surface ([`flowex_auth_service::service_router`], behind the internal
//! channel). Both are wrapped in `flowex_http::stack`, with 127.0.0.1 as a
//! trusted proxy so that tests pick a client address with `X-Forwarded-For`.

#![allow(dead_code)]

use axum::middleware::from_fn_with_state;
use axum::Router;
use flowex_auth::{JwtKeys, SecretBox};
use flowex_auth_service::{AuthConfig, AuthState};
use flowex_http::{HttpConfig, InternalToken};
use flowex_store::Store;
use serde_json::{json, Value};
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

pub const INTERNAL_TOKEN: &str = "internal-token-for-tests-0123456789abcdef";
pub const BODY_LIMIT: usize = 16 * 1024;

/// Declares `NAME::sqlite` and `NAME::postgres` tests running `async fn NAME(H)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::on_sqlite(super::$name).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::on_postgres(stringify!($name), super::$name).await
            }
        }
    )*};
}

// ------------------------------------------------------------------ logs

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) a subscriber that records every event
/// of the service at TRACE level, without timestamps.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,sqlx=warn,hyper=off,hyper_util=off,reqwest=off,h2=off,tower=off",
            ))
            .with_ansi(false)
            .without_time()
            .with_writer(move || Capture(writer.clone()))
            .try_init();
        buf
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ clock

/// A clock the test moves by hand (ms since the epoch). It starts at the
/// real time, in the middle of a 30 s TOTP step, so that tokens issued
/// under it verify with the real clock until the test jumps ahead.
#[derive(Clone)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    fn start() -> Clock {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        Clock(Arc::new(AtomicI64::new(real / 30_000 * 30_000 + 10_000)))
    }
    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn now_secs(&self) -> u64 {
        (self.now_ms() / 1000) as u64
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
}

// ------------------------------------------------------------------ servers

pub struct Server {
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(flowex_http::serve(listener, app, 1000, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        _stop: tx,
    }
}

pub fn http_config() -> HttpConfig {
    HttpConfig {
        body_limit_bytes: BODY_LIMIT,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..HttpConfig::default()
    }
}

pub fn test_config() -> AuthConfig {
    AuthConfig {
        issuer: "flowex-test".into(),
        audience: "flowex-api-test".into(),
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(2 * 3600),
        hash_concurrency: 2,
        password_max_age: Some(Duration::from_secs(90 * 86_400)),
        ..AuthConfig::default()
    }
}

/// One test's world.
pub struct H {
    pub state: AuthState,
    pub store: Store,
    pub clock: Clock,
    pub public: Server,
    pub internal: Server,
    pub client: reqwest::Client,
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
    /// The native error code of an error reply.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {:?}", self.text))
            .to_string()
    }
    /// Asserts status and error code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "body: {}",
            self.text
        );
    }
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// A logged-in session's tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: u64,
}

/// A request to send: method, path, body, bearer token, client IP, headers.
pub struct Req<'a> {
    h: &'a H,
    builder: reqwest::RequestBuilder,
}

impl Req<'_> {
    pub fn bearer(mut self, token: &str) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.builder = self.builder.header("x-forwarded-for", ip);
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }
    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/json")
            .body(body.to_string());
        self
    }
    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<String>) -> Self {
        if let Some(ct) = content_type {
            self.builder = self.builder.header("content-type", ct);
        }
        self.builder = self.builder.body(body.into());
        self
    }
    pub async fn send(self) -> Reply {
        let _ = self.h;
        let res = self.builder.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }
}

impl H {
    pub fn req(&self, method: reqwest::Method, path: &str) -> Req<'_> {
        Req {
            h: self,
            builder: self
                .client
                .request(method, format!("{}{}", self.public.base, path)),
        }
    }
    pub fn internal_req(&self, method: reqwest::Method, path: &str) -> Req<'_> {
        Req {
            h: self,
            builder: self
                .client
                .request(method, format!("{}{}", self.internal.base, path)),
        }
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
    }
    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Reply {
        self.req(reqwest::Method::POST, path)
            .bearer(token)
            .json(&body)
            .send()
            .await
    }
    pub async fn get_auth(&self, path: &str, token: &str) -> Reply {
        self.req(reqwest::Method::GET, path)
            .bearer(token)
            .send()
            .await
    }
    pub async fn delete_auth(&self, path: &str, token: &str) -> Reply {
        self.req(reqwest::Method::DELETE, path)
            .bearer(token)
            .send()
            .await
    }

    /// Registers and returns the user id.
    pub async fn register(&self, email: &str, password: &str) -> u64 {
        let r = self
            .post(
                "/api/v1/auth/register",
                json!({ "email": email, "password": password }),
            )
            .await;
        r.expect(201)["user"]["id"].as_u64().unwrap()
    }

    pub async fn login_with(&self, body: Value) -> Reply {
        self.post("/api/v1/auth/login", body).await
    }

    /// Logs in (no 2FA) and returns the tokens.
    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let r = self
            .login_with(json!({ "email": email, "password": password }))
            .await;
        tokens(&r)
    }
}

#[track_caller]
pub fn tokens(r: &Reply) -> Tokens {
    let v = r.expect(200);
    Tokens {
        access: v["access_token"].as_str().unwrap().to_string(),
        refresh: v["refresh_token"].as_str().unwrap().to_string(),
        user_id: v["user"]["id"].as_u64().unwrap(),
    }
}

async fn world(store: Store) -> H {
    capture_logs();
    let clock = Clock::start();
    let (jwt, _) = JwtKeys::generate().unwrap();
    let secret_box = SecretBox::new(*SecretBox::generate_key().expose());
    let c = clock.clone();
    let state = AuthState::new(store.clone(), jwt, secret_box, test_config())
        .unwrap()
        .with_clock(move || c.now_ms());
    let verifier = Arc::new(state.verifier());
    let public = Router::new()
        .merge(flowex_auth_service::router(state.clone()))
        .layer(from_fn_with_state(
            verifier,
            flowex_auth_service::bearer::bearer_identity,
        ))
        .fallback(flowex_http::not_found);
    let public = start(flowex_http::stack(public, &http_config(), None).unwrap()).await;
    let internal =
        flowex_auth_service::service_router(state.clone(), InternalToken::new(INTERNAL_TOKEN))
            .fallback(flowex_http::not_found);
    let internal = start(flowex_http::stack(internal, &http_config(), None).unwrap()).await;
    H {
        state,
        store,
        clock,
        public,
        internal,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    }
}

// ------------------------------------------------------------------ backends

pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(H) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let store = Store::connect(&url).await.expect("connect sqlite");
    store.migrate().await.expect("migrate sqlite");
    body(world(store.clone()).await).await;
    store.close().await;
}

pub async fn on_postgres<F, Fut>(name: &str, body: F)
where
    F: FnOnce(H) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = flowex_testkit::postgres::TestDatabase::create(name).await else {
        return;
    };
    let url = db.url.clone();
    let store = Store::connect(&url).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    let h = world(store.clone()).await;
    // Run the body as its own task so that a failing assertion still lets
    // us drop the database before the panic is passed on.
    let outcome = tokio::spawn(body(h)).await;
    store.close().await;
    db.drop_database().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{name}: test task failed: {e}"),
        }
    }
}
