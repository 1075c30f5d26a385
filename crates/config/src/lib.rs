//! FlowEx's one typed configuration.
//!
//! Every FlowEx process (`flowex up`, `flowex serve NAME`, `flowex config`)
//! starts by building a [`Config`]:
//!
//! 1. built-in defaults (good for `flowex up` on a laptop: embedded mode,
//!    port 8080, data in `./data`);
//! 2. overridden by an optional TOML file;
//! 3. overridden by `FLOWEX_*` environment variables;
//! 4. then validated as a whole ([`Config::validate`]), with every problem
//!    reported at once, each naming its setting.
//!
//! ```
//! use flowex_config::{Config, Mode};
//! let env = [("FLOWEX_PORT", "9000"), ("FLOWEX_SERVER__REQUEST_TIMEOUT_MS", "5000")];
//! let config = Config::load_from(None, env).unwrap();
//! assert_eq!(config.mode, Mode::Embedded);
//! assert_eq!(config.server.port, 9000);
//! assert_eq!(config.server.request_timeout_ms, 5000);
//! // Embedded mode defaults to SQLite in the data directory.
//! assert!(config.database_url.unwrap().expose().starts_with("sqlite://"));
//! ```
//!
//! # Environment variables
//!
//! Any setting can be set as `FLOWEX_` + its path in upper case, with `__`
//! (double underscore) between sections: `server.port` is
//! `FLOWEX_SERVER__PORT`, `rate_limits.orders_per_10s` is
//! `FLOWEX_RATE_LIMITS__ORDERS_PER_10S`, a faucet amount is
//! `FLOWEX_FAUCET__AMOUNTS__BTC=0.5`. Lists are comma separated
//! (`FLOWEX_CORS__ALLOWED_ORIGINS=https://a.example,https://b.example`).
//! Values are converted to the setting's type (number, boolean, list,
//! string). The usual names have short aliases:
//!
//! | variable | setting |
//! |---|---|
//! | `FLOWEX_MODE` | `mode` (`embedded` \| `distributed`) |
//! | `FLOWEX_DATA_DIR` | `data_dir` |
//! | `FLOWEX_BIND` / `FLOWEX_PORT` | `server.bind` / `server.port` |
//! | `FLOWEX_DATABASE_URL` | `database_url` |
//! | `FLOWEX_REDIS_URL` | `redis_url` |
//! | `FLOWEX_INTERNAL_TOKEN` / `FLOWEX_INTERNAL_TOKEN_FILE` | `internal_token` / `secrets.internal_token_file` |
//! | `FLOWEX_JWT_PRIVATE_KEY` / `FLOWEX_JWT_PRIVATE_KEY_FILE` | `secrets.jwt_private_key` / `secrets.jwt_private_key_file` |
//! | `FLOWEX_JWT_PUBLIC_KEY` / `FLOWEX_JWT_PUBLIC_KEY_FILE` | `secrets.jwt_public_key` / `secrets.jwt_public_key_file` |
//! | `FLOWEX_SECRET_BOX_KEY` / `FLOWEX_SECRET_BOX_KEY_FILE` | `secrets.secret_box_key` / `secrets.secret_box_key_file` |
//! | `FLOWEX_CORS_ORIGINS` | `cors.allowed_origins` |
//! | `FLOWEX_LOG_LEVEL` / `FLOWEX_LOG_JSON` | `log.level` / `log.json` |
//! | `FLOWEX_OTLP_ENDPOINT` | `log.otlp_endpoint` (OpenTelemetry tracing, off when unset) |
//!
//! `FLOWEX_` is reserved for configuration: an unknown `FLOWEX_*` variable
//! is an error (a typo must not silently fall back to a default).
//! `FLOWEX_CONFIG` (the file path, read by the CLI) is the one exception.
//!
//! # Secrets
//!
//! Secret values are [`Secret`]s: they print as `[redacted]` in `Debug`,
//! `Display` and [`Config::redacted`] (what `flowex config` shows).
//! Connection URLs ([`ConnUrl`]) print with their password redacted.
//! [`Config::load_secrets`] gives the process its [`Secrets`]: in embedded
//! mode generated on first start into `<data_dir>/secrets/` (files 0600,
//! see [`ensure_embedded_secrets`]); in distributed mode read only from the
//! environment or operator-provided files, never generated. Secret files
//! readable by group or others are refused.

#![warn(missing_docs)]

mod env;
mod secret;
mod secrets;

pub use secret::{ConnUrl, Secret, SecretBytes, REDACTED};
pub use secrets::{
    ensure_embedded_secrets, from_hex, parse_secret_box_key, random_bytes, read_secret_file,
    read_secret_text, to_hex, Secrets, SecretsError, INTERNAL_TOKEN_FILE, JWT_PRIVATE_KEY_FILE,
    SECRET_BOX_KEY_FILE,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Longest lifetime of an access token (15 minutes), enforced.
pub const MAX_ACCESS_TTL_SECS: u64 = 15 * 60;

/// How FlowEx runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `flowex up`: everything in one process, SQLite, in-process bus,
    /// in-memory caches and rate limits, secrets generated in `data_dir`.
    #[default]
    Embedded,
    /// `flowex serve NAME`: one service per process, PostgreSQL, Redis,
    /// secrets from the environment.
    Distributed,
}

/// The whole configuration. See the crate docs for how it is loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Embedded (one process) or distributed (one service per process).
    pub mode: Mode,
    /// Where embedded mode keeps its SQLite file, journal and secrets.
    pub data_dir: PathBuf,
    /// SQL database. Embedded default: `sqlite://<data_dir>/flowex.db?mode=rwc`.
    /// Required (PostgreSQL) in distributed mode.
    pub database_url: Option<ConnUrl>,
    /// Redis (event fan-out, shared rate limits). Required in distributed
    /// mode. `redis://[:password@]host:6379/0`, or a Sentinel group:
    /// `redis+sentinel://[:password@]sentinel:26379[,…]/MASTER[/DB]`.
    pub redis_url: Option<ConnUrl>,
    /// Secret shared by the services to authenticate internal calls.
    /// Embedded mode generates one; distributed mode requires it (here or
    /// via `secrets.internal_token_file`), at least 32 characters.
    pub internal_token: Option<Secret>,
    /// The HTTP server.
    pub server: ServerConfig,
    /// Service addresses for distributed mode.
    pub services: ServicesConfig,
    /// Access and refresh tokens.
    pub jwt: JwtConfig,
    /// Account security policy.
    pub auth: AuthPolicyConfig,
    /// Key material, by value or by file path.
    pub secrets: SecretsConfig,
    /// Request weight and order rate limits.
    pub rate_limits: RateLimitConfig,
    /// Cross-origin requests.
    pub cors: CorsConfig,
    /// Test-funds faucet (embedded mode only).
    pub faucet: FaucetConfig,
    /// Demo market-making bot.
    pub bot: BotConfig,
    /// Logging.
    pub log: LogConfig,
    /// The `flowex admin …` commands that call the admin API.
    pub admin_cli: AdminCliConfig,
    /// The WebSocket market streams (`/ws`, `/stream`).
    pub websocket: WebSocketConfig,
    /// The trading core's journal.
    pub journal: JournalSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Embedded,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            internal_token: None,
            server: ServerConfig::default(),
            services: ServicesConfig::default(),
            jwt: JwtConfig::default(),
            auth: AuthPolicyConfig::default(),
            secrets: SecretsConfig::default(),
            rate_limits: RateLimitConfig::default(),
            cors: CorsConfig::default(),
            faucet: FaucetConfig::default(),
            bot: BotConfig::default(),
            log: LogConfig::default(),
            admin_cli: AdminCliConfig::default(),
            websocket: WebSocketConfig::default(),
            journal: JournalSettings::default(),
        }
    }
}

/// The HTTP server of this process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind (default `127.0.0.1`; use `0.0.0.0` in containers).
    pub bind: IpAddr,
    /// Port (default 8080; 0 picks a free port, for tests).
    pub port: u16,
    /// Largest accepted request body for the API, in bytes (default 64 KiB).
    pub body_limit_bytes: usize,
    /// Per-request timeout in milliseconds (default 10 000).
    pub request_timeout_ms: u64,
    /// Most requests handled at once; more are refused with 503 (default 10 000).
    pub max_concurrent_requests: usize,
    /// Most open client connections (default 20 000). Past it a new client
    /// is answered 503 (-1008) and closed. Capped at start to the process's
    /// open-file limit minus a reserve for files, the database and refusals.
    pub max_connections: usize,
    /// Most open connections from one TCP peer address where clients connect
    /// (the gateway, `flowex up`); past it 429 (-1003) and closed (default
    /// 500). `trusted_proxies` are not capped. Must be at least
    /// `websocket.max_connections_per_ip`.
    pub max_connections_per_ip: usize,
    /// Time a client has to send a request's complete headers, from the
    /// connection's start or the end of its previous request (default
    /// 10 000 ms). Slow or idle connections are closed when it runs out.
    pub header_read_timeout_ms: u64,
    /// The server is reached over TLS (directly or via a TLS-terminating
    /// proxy): enables `Strict-Transport-Security`.
    pub tls: bool,
    /// `Content-Security-Policy` sent with HTML (web UI) responses.
    pub csp: String,
    /// Proxies whose `X-Forwarded-For` is trusted (CIDR or single
    /// addresses). Empty (the default): the client IP is the TCP peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How long the gateway keeps an idle pooled connection to a service. The
/// services close idle connections after `server.header_read_timeout_ms`,
/// which validation keeps above this, so the gateway never picks a
/// connection the service is closing.
pub const GATEWAY_POOL_IDLE_SECS: u64 = 5;
/// Shortest `server.header_read_timeout_ms` (see [`GATEWAY_POOL_IDLE_SECS`]).
pub const MIN_HEADER_READ_TIMEOUT_MS: u64 = 6_000;

impl ServerConfig {
    /// `header_read_timeout_ms` as a duration.
    pub fn header_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.header_read_timeout_ms)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            max_concurrent_requests: 10_000,
            max_connections: 20_000,
            max_connections_per_ip: 500,
            header_read_timeout_ms: 10_000,
            tls: false,
            // What the web UI needs and no more: its own scripts, styles
            // (inline ones too: the chart library styles its canvas
            // elements), images and data: URLs (the 2FA QR code), and
            // connections to its own origin only (REST and WebSocket: CSP 3
            // 'self' covers ws:/wss: of the same host).
            csp: "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                  img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                  frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
                .into(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// One service's internal address and own port (distributed mode).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceEndpoint {
    /// Base URL other services use to reach it, e.g. `http://trading:8082`.
    pub url: String,
    /// Port it listens on when run alone (`flowex serve NAME`).
    pub port: u16,
}

impl ServiceEndpoint {
    fn local(port: u16) -> Self {
        ServiceEndpoint {
            url: format!("http://127.0.0.1:{port}"),
            port,
        }
    }
}

/// The five services' addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// API gateway (default port 8080).
    pub gateway: ServiceEndpoint,
    /// Auth service (8081).
    pub auth: ServiceEndpoint,
    /// Trading service (8082).
    pub trading: ServiceEndpoint,
    /// Market-data service (8083).
    pub market_data: ServiceEndpoint,
    /// Wallet service (8084).
    pub wallet: ServiceEndpoint,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            gateway: ServiceEndpoint::local(8080),
            auth: ServiceEndpoint::local(8081),
            trading: ServiceEndpoint::local(8082),
            market_data: ServiceEndpoint::local(8083),
            wallet: ServiceEndpoint::local(8084),
        }
    }
}

impl ServicesConfig {
    /// `(name, endpoint)` for each service, names as `flowex serve` spells them.
    pub fn all(&self) -> [(&'static str, &ServiceEndpoint); 5] {
        [
            ("gateway", &self.gateway),
            ("auth", &self.auth),
            ("trading", &self.trading),
            ("market-data", &self.market_data),
            ("wallet", &self.wallet),
        ]
    }
}

/// Tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// `iss` of issued tokens, checked on verification.
    pub issuer: String,
    /// `aud` of issued tokens, checked on verification.
    pub audience: String,
    /// Access token lifetime in seconds (default 900; at most 900).
    pub access_ttl_secs: u64,
    /// Refresh token lifetime in seconds (default 30 days).
    pub refresh_ttl_secs: u64,
    /// Live sessions (refresh-token families) per user, 1 to 1000 (default
    /// 10). A login past it ends the user's oldest sessions, as exchanges
    /// do: the person holding the password can always sign in.
    pub max_sessions_per_user: u32,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: "flowex".into(),
            audience: "flowex-api".into(),
            access_ttl_secs: MAX_ACCESS_TTL_SECS,
            refresh_ttl_secs: 30 * 24 * 3600,
            max_sessions_per_user: 10,
        }
    }
}

/// The longest password age `auth.password_max_age_days` allows (10 years).
pub const MAX_PASSWORD_AGE_DAYS: u32 = 3650;

/// Account security policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthPolicyConfig {
    /// Password rotation: a login with a password older than this many days
    /// must set a new one (`new_password`; until then 403
    /// `password_expired`). 0 (the default) turns it off; at most 3650.
    pub password_max_age_days: u32,
    /// Distributed mode: how long a gateway replica (and trading's
    /// WebSocket API) trusts a looked-up API key, in milliseconds (default
    /// 30 000). Invalidations on Redis pub/sub end a deleted key at once;
    /// this bounds it when they cannot arrive (Redis down). 1 to 3 600 000.
    pub key_cache_ttl_ms: u64,
    /// Distributed mode: the same for a session check (default 5 000),
    /// 1 to 3 600 000.
    pub session_cache_ttl_ms: u64,
}

impl Default for AuthPolicyConfig {
    fn default() -> Self {
        AuthPolicyConfig {
            password_max_age_days: 0,
            key_cache_ttl_ms: 30_000,
            session_cache_ttl_ms: 5_000,
        }
    }
}

/// Key material. Each secret is given by value or by file, not both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File holding the internal token (alternative to `internal_token`).
    pub internal_token_file: Option<PathBuf>,
    /// JWT Ed25519 private key (PEM), by value.
    pub jwt_private_key: Option<Secret>,
    /// JWT Ed25519 private key, by file (mode 0600 or stricter).
    pub jwt_private_key_file: Option<PathBuf>,
    /// JWT public key (PEM), for services that only verify tokens.
    pub jwt_public_key: Option<String>,
    /// JWT public key, by file.
    pub jwt_public_key_file: Option<PathBuf>,
    /// AES-256 key for API-key secrets at rest: 64 hex characters.
    pub secret_box_key: Option<Secret>,
    /// The same, by file (64 hex characters or 32 raw bytes; mode 0600).
    pub secret_box_key_file: Option<PathBuf>,
}

/// Rate limits (Binance-style: request weight per minute, order counts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Request weight one IP may use per minute (default 6000, as Binance).
    pub ip_weight_per_minute: u64,
    /// Request weight one user or API key may use per minute (default 6000).
    pub user_weight_per_minute: u64,
    /// New orders one user may place per 10 seconds (default 100).
    pub orders_per_10s: u64,
    /// New orders one user may place per day (default 200 000).
    pub orders_per_day: u64,
    /// Requests an IP may still send in a window after being refused with
    /// 429 before it is banned (418) until the window ends (default 20).
    pub ban_threshold: u64,
    /// Accounts one IP may register per hour (default 30): each is a new
    /// account, and in `flowex up` a claim on demo funds.
    pub registrations_per_ip_per_hour: u64,
    /// Faucet claims one IP may make per hour (default 120: one per demo
    /// asset for each of 30 accounts).
    pub faucet_claims_per_ip_per_hour: u64,
    /// Most keys (IPs, users) the in-memory store tracks (default 100 000).
    pub max_tracked_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            ip_weight_per_minute: 6000,
            user_weight_per_minute: 6000,
            orders_per_10s: 100,
            orders_per_day: 200_000,
            ban_threshold: 20,
            registrations_per_ip_per_hour: 30,
            faucet_claims_per_ip_per_hour: 120,
            max_tracked_keys: 100_000,
        }
    }
}

/// Cross-origin requests from browsers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins (`https://app.example.com`). Empty: no cross-origin
    /// access (the web UI is served from the same origin). `*` allows any
    /// origin and is refused together with `allow_credentials`.
    pub allowed_origins: Vec<String>,
    /// Allow credentials (cookies) on cross-origin requests (default false).
    pub allow_credentials: bool,
}

/// Faucet handing out test funds. Only in embedded mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FaucetConfig {
    /// Unset: on in embedded mode, off in distributed mode. `true` in
    /// distributed mode is refused.
    pub enabled: Option<bool>,
    /// Amount per claim by asset, as exact decimal strings (`BTC = "0.5"`).
    /// Empty: the seeding code's own amounts.
    pub amounts: BTreeMap<String, String>,
    /// Claims per user per day (default 10).
    pub daily_cap: u32,
}

impl Default for FaucetConfig {
    fn default() -> Self {
        FaucetConfig {
            enabled: None,
            amounts: BTreeMap::new(),
            daily_cap: 10,
        }
    }
}

/// The trading core's journal (`flowex up`, `flowex serve trading`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSettings {
    /// `fsync` (default): a command is acknowledged once its batch is on
    /// disk (group commit). `none`: the journal never waits for the disk, so
    /// a crash or power loss can lose acknowledged orders; for benchmarks
    /// only (`flowex bench http` measures what the fsync costs with it).
    pub durability: JournalDurability,
}

/// Whether the journal waits for the disk.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JournalDurability {
    /// fdatasync once per batch.
    #[default]
    Fsync,
    /// No syncs: unsafe, benchmarks only.
    None,
}

/// Demo market-making bot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// Unset: on in embedded mode, off in distributed mode.
    pub enabled: Option<bool>,
}

/// The `flowex admin …` commands that are clients of the admin API
/// (markets, fees, freezes…): where they connect and as whom. Flags
/// (`--server`, `--email`) win over these.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminCliConfig {
    /// Base URL of the server (`http(s)://host:port`). Unset: this
    /// configuration's own server, `http://127.0.0.1:<server.port>` in
    /// embedded mode, `services.gateway.url` in distributed mode.
    pub server: Option<String>,
    /// The admin's e-mail address.
    pub email: Option<String>,
    /// The admin's password (`FLOWEX_ADMIN_CLI__PASSWORD`). Unset: read
    /// from standard input; never taken from the command line.
    pub password: Option<Secret>,
}

/// The WebSocket market streams: Binance's connection rules, and the
/// limits that keep one client from costing the others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Most WebSocket connections this process holds (default 12 000).
    pub max_connections: usize,
    /// Most WebSocket connections from one IP address (default 300).
    pub max_connections_per_ip: usize,
    /// Most streams one connection may subscribe (default 1024, as Binance).
    pub max_streams: usize,
    /// Most messages a client may send per second (default 5, as Binance).
    pub max_messages_per_sec: u32,
    /// Messages queued for one connection; a client that falls this far
    /// behind is disconnected (default 1024).
    pub send_queue: usize,
    /// Seconds between the server's pings (default 20, as Binance).
    pub ping_interval_secs: u64,
    /// Seconds without a pong before the server closes (default 60).
    pub pong_timeout_secs: u64,
    /// Seconds a connection may live (default 86 400: 24 h, as Binance).
    pub max_age_secs: u64,
    /// Seconds a listenKey (`POST /api/v3/userDataStream`) lives after its
    /// creation or last keepalive (default 3 600: 60 min, as Binance).
    pub listen_key_ttl_secs: u64,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_connections: 12_000,
            max_connections_per_ip: 300,
            max_streams: 1024,
            max_messages_per_sec: 5,
            send_queue: 1024,
            ping_interval_secs: 20,
            pong_timeout_secs: 60,
            max_age_secs: 24 * 60 * 60,
            listen_key_ttl_secs: 60 * 60,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `flowex=debug,tower_http=warn`).
    pub level: String,
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
    /// Where spans go over OTLP/HTTP protobuf, e.g.
    /// `http://jaeger-collector:4318/v1/traces` (Jaeger, an OpenTelemetry
    /// collector). Unset (the default): no tracing export, and log lines
    /// carry no `trace_id`.
    pub otlp_endpoint: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
            otlp_endpoint: None,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("configuration file {path} is not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A `FLOWEX_*` variable is unknown or has the wrong type.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A setting has the wrong type or is unknown.
    #[error("setting `{path}`{source_hint}: {message}")]
    Setting {
        /// Dotted path of the setting.
        path: String,
        /// ` (from FLOWEX_X)` when the value came from the environment.
        source_hint: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration is well-formed but not acceptable.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// Secrets could not be read or generated.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl Config {
    /// Loads from the optional TOML file and the process environment, then
    /// validates. This is what binaries call.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads from the optional TOML file and the given environment (tests
    /// pass their own instead of mutating the process environment), then
    /// fills mode-dependent defaults and validates.
    pub fn load_from<K, V>(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        let from_env = env::apply(&mut tree, env)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(tree))
            .map_err(|e| {
                let path = e.path().to_string();
                let source_hint = from_env
                    .iter()
                    .find(|(p, _)| path == *p || path.starts_with(&format!("{p}.")))
                    .map(|(_, var)| format!(" (from {var})"))
                    .unwrap_or_default();
                ConfigError::Setting {
                    path,
                    source_hint,
                    message: e.into_inner().message().trim().to_string(),
                }
            })?;
        config.fill_defaults();
        config.validate()?;
        Ok(config)
    }

    /// Mode-dependent defaults: the embedded SQLite URL, upper-case faucet
    /// asset codes.
    fn fill_defaults(&mut self) {
        if self.mode == Mode::Embedded && self.database_url.is_none() {
            let file = self.data_dir.join("flowex.db");
            self.database_url = Some(ConnUrl::new(format!(
                "sqlite://{}?mode=rwc",
                file.display()
            )));
        }
        self.faucet.amounts = std::mem::take(&mut self.faucet.amounts)
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect();
    }

    /// Whether the faucet runs (explicit setting, else on in embedded mode).
    pub fn faucet_enabled(&self) -> bool {
        self.faucet.enabled.unwrap_or(self.mode == Mode::Embedded)
    }

    /// Whether the demo bot runs (explicit setting, else on in embedded mode).
    pub fn bot_enabled(&self) -> bool {
        self.bot.enabled.unwrap_or(self.mode == Mode::Embedded)
    }

    /// The request timeout as a `Duration`.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.server.request_timeout_ms)
    }

    /// Checks the configuration as a whole and lists every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        self.check_server(&mut errors);
        self.check_jwt(&mut errors);
        self.check_limits(&mut errors);
        self.check_demo_and_log(&mut errors);
        self.check_secrets(&mut errors);
        if self.mode == Mode::Distributed {
            self.check_distributed(&mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }

    /// `server.*` and `admin_cli.server`.
    fn check_server(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        let s = &self.server;
        if s.body_limit_bytes < 1024 {
            err(format!(
                "server.body_limit_bytes is {}; it must be at least 1024",
                s.body_limit_bytes
            ));
        }
        if !(100..=300_000).contains(&s.request_timeout_ms) {
            err(format!(
                "server.request_timeout_ms is {}; it must be between 100 and 300000",
                s.request_timeout_ms
            ));
        }
        if s.max_concurrent_requests == 0 {
            err("server.max_concurrent_requests must be at least 1".into());
        }
        if s.max_connections == 0 {
            err("server.max_connections must be at least 1".into());
        }
        let w = &self.websocket;
        if s.max_connections_per_ip < w.max_connections_per_ip {
            err(format!(
                "server.max_connections_per_ip is {}; it must be at least websocket.max_connections_per_ip ({}), since every WebSocket is an HTTP connection first",
                s.max_connections_per_ip, w.max_connections_per_ip
            ));
        }
        if !(MIN_HEADER_READ_TIMEOUT_MS..=300_000).contains(&s.header_read_timeout_ms) {
            err(format!(
                "server.header_read_timeout_ms is {}; it must be between {MIN_HEADER_READ_TIMEOUT_MS} and 300000 (above the gateway's {} s pool idle time, so its idle connections are never closed under it)",
                s.header_read_timeout_ms, GATEWAY_POOL_IDLE_SECS
            ));
        }
        if w.max_connections == 0 || w.max_connections_per_ip == 0 || w.max_streams == 0 {
            err("websocket.max_connections, max_connections_per_ip and max_streams must be at least 1".into());
        }
        if w.max_messages_per_sec == 0 || w.send_queue == 0 {
            err("websocket.max_messages_per_sec and send_queue must be at least 1".into());
        }
        if w.ping_interval_secs == 0
            || w.pong_timeout_secs <= w.ping_interval_secs
            || w.max_age_secs == 0
        {
            err(format!(
                "websocket.ping_interval_secs ({}) must be at least 1 and below pong_timeout_secs ({}); max_age_secs at least 1",
                w.ping_interval_secs, w.pong_timeout_secs
            ));
        }
        if w.listen_key_ttl_secs == 0 {
            err("websocket.listen_key_ttl_secs must be at least 1".into());
        }
        if let Some(url) = &self.admin_cli.server {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                err(format!(
                    "admin_cli.server is {url:?}; it must be an http:// or https:// URL"
                ));
            }
        }
    }

    /// `jwt.*`.
    fn check_jwt(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        if self.jwt.access_ttl_secs == 0 || self.jwt.access_ttl_secs > MAX_ACCESS_TTL_SECS {
            err(format!(
                "jwt.access_ttl_secs is {}; access tokens must live between 1 and {MAX_ACCESS_TTL_SECS} seconds (15 minutes)",
                self.jwt.access_ttl_secs
            ));
        }
        if self.jwt.refresh_ttl_secs <= self.jwt.access_ttl_secs {
            err("jwt.refresh_ttl_secs must be longer than jwt.access_ttl_secs".into());
        }
        if !(1..=1000).contains(&self.jwt.max_sessions_per_user) {
            err(format!(
                "jwt.max_sessions_per_user is {}; allow between 1 and 1000 sessions per user",
                self.jwt.max_sessions_per_user
            ));
        }
        if self.jwt.issuer.trim().is_empty() || self.jwt.audience.trim().is_empty() {
            err("jwt.issuer and jwt.audience must not be empty".into());
        }
        for (name, ms) in [
            ("key_cache_ttl_ms", self.auth.key_cache_ttl_ms),
            ("session_cache_ttl_ms", self.auth.session_cache_ttl_ms),
        ] {
            if !(1..=3_600_000).contains(&ms) {
                err(format!(
                    "auth.{name} is {ms}; it must be between 1 and 3600000"
                ));
            }
        }
        if self.auth.password_max_age_days > MAX_PASSWORD_AGE_DAYS {
            err(format!(
                "auth.password_max_age_days is {}; at most {MAX_PASSWORD_AGE_DAYS} (0 turns rotation off)",
                self.auth.password_max_age_days
            ));
        }
    }

    /// `rate_limits.*` and `cors.*`.
    fn check_limits(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        let rl = &self.rate_limits;
        for (name, v) in [
            ("ip_weight_per_minute", rl.ip_weight_per_minute),
            ("user_weight_per_minute", rl.user_weight_per_minute),
            ("orders_per_10s", rl.orders_per_10s),
            ("orders_per_day", rl.orders_per_day),
            ("ban_threshold", rl.ban_threshold),
            ("max_tracked_keys", rl.max_tracked_keys as u64),
        ] {
            if v == 0 {
                err(format!("rate_limits.{name} must be at least 1"));
            }
        }
        for origin in &self.cors.allowed_origins {
            if origin == "*" {
                if self.cors.allow_credentials {
                    err("cors.allowed_origins contains \"*\" while cors.allow_credentials is true: browsers forbid it and it would expose user sessions to any site; list the origins".into());
                }
            } else if !valid_origin(origin) {
                err(format!(
                    "cors.allowed_origins: {origin:?} is not an origin like https://app.example.com (scheme, host, optional port, no path)"
                ));
            }
        }
    }

    /// `faucet.*` and `log.*`.
    fn check_demo_and_log(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        for (asset, amount) in &self.faucet.amounts {
            if !valid_decimal(amount) {
                err(format!(
                    "faucet.amounts.{asset} is {amount:?}; write a positive decimal string like \"0.5\""
                ));
            }
        }
        if self.faucet.daily_cap == 0 {
            err("faucet.daily_cap must be at least 1".into());
        }
        if self.log.level.trim().is_empty() {
            err("log.level must not be empty".into());
        }
        if let Some(url) = &self.log.otlp_endpoint {
            let host = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
                err(format!(
                    "log.otlp_endpoint is {url:?}; write an http(s) URL like \"http://jaeger-collector:4318/v1/traces\""
                ));
            }
        }
    }

    /// Secrets: one source each, and the right shape.
    fn check_secrets(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        let sec = &self.secrets;
        if self.internal_token.is_some() && sec.internal_token_file.is_some() {
            err("internal_token and secrets.internal_token_file are both set; keep one".into());
        }
        if sec.jwt_private_key.is_some() && sec.jwt_private_key_file.is_some() {
            err(
                "secrets.jwt_private_key and secrets.jwt_private_key_file are both set; keep one"
                    .into(),
            );
        }
        if sec.jwt_public_key.is_some() && sec.jwt_public_key_file.is_some() {
            err(
                "secrets.jwt_public_key and secrets.jwt_public_key_file are both set; keep one"
                    .into(),
            );
        }
        if sec.secret_box_key.is_some() && sec.secret_box_key_file.is_some() {
            err(
                "secrets.secret_box_key and secrets.secret_box_key_file are both set; keep one"
                    .into(),
            );
        }
        if let Some(key) = &sec.secret_box_key {
            if parse_secret_box_key(key.expose().as_bytes()).is_err() {
                err("secrets.secret_box_key must be 64 hex characters (32 bytes)".into());
            }
        }
        if let Some(token) = &self.internal_token {
            if token.expose().len() < 32 {
                err("internal_token must be at least 32 characters".into());
            }
        }
    }

    /// What the distributed mode needs besides the rest.
    fn check_distributed(&self, errors: &mut Vec<String>) {
        let mut err = |m: String| errors.push(m);
        match &self.database_url {
            None => err("distributed mode needs database_url (FLOWEX_DATABASE_URL), a PostgreSQL URL".into()),
            Some(url) if !matches!(url.scheme().as_str(), "postgres" | "postgresql") => err(format!(
                "distributed mode needs a PostgreSQL database_url; {} is not one (several processes cannot share SQLite)",
                url.redacted()
            )),
            Some(_) => {}
        }
        if self.redis_url.is_none() {
            err("distributed mode needs redis_url (FLOWEX_REDIS_URL)".into());
        }
        if self.internal_token.is_none() && self.secrets.internal_token_file.is_none() {
            err("distributed mode needs internal_token (FLOWEX_INTERNAL_TOKEN) or secrets.internal_token_file; secrets are never generated in production".into());
        }
        if self.faucet.enabled == Some(true) {
            err("faucet.enabled is true in distributed mode: the faucet creates money and exists only in embedded mode".into());
        }
        for (name, ep) in self.services.all() {
            if !(ep.url.starts_with("http://") || ep.url.starts_with("https://")) {
                err(format!(
                    "services.{}.url is {:?}; it must start with http:// or https://",
                    name.replace('-', "_"),
                    ep.url
                ));
            }
        }
    }

    /// The effective configuration as TOML with every secret replaced by
    /// `[redacted]` and passwords removed from URLs. Backs `flowex config`.
    pub fn redacted(&self) -> String {
        // Secret and ConnUrl serialise redacted, so nothing secret can reach
        // this string.
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The process's secrets: generated on first start in embedded mode
    /// (see [`ensure_embedded_secrets`]; values set in the configuration
    /// win), read from the configuration only in distributed mode.
    /// `jwt_keygen` encodes a fresh Ed25519 private key; it is called only
    /// when embedded mode has none yet.
    pub fn load_secrets(
        &self,
        jwt_keygen: impl FnOnce() -> Vec<u8>,
    ) -> Result<Secrets, ConfigError> {
        let sec = &self.secrets;
        let mut secrets = match self.mode {
            Mode::Embedded => ensure_embedded_secrets(&self.data_dir, jwt_keygen)?,
            Mode::Distributed => Secrets {
                internal_token: Secret::new(String::new()),
                secret_box_key: None,
                jwt_private_key: None,
                jwt_public_key: None,
            },
        };
        if let Some(t) = &self.internal_token {
            secrets.internal_token = t.clone();
        } else if let Some(path) = &sec.internal_token_file {
            let token = read_secret_text(path)?;
            if token.len() < 32 {
                return Err(ConfigError::Invalid(vec![format!(
                    "the internal token in {} must be at least 32 characters",
                    path.display()
                )]));
            }
            secrets.internal_token = Secret::new(token);
        }
        if secrets.internal_token.expose().is_empty() {
            return Err(SecretsError::Missing(
                "internal_token (FLOWEX_INTERNAL_TOKEN) or secrets.internal_token_file",
            )
            .into());
        }
        if let Some(k) = &sec.jwt_private_key {
            secrets.jwt_private_key = Some(SecretBytes::new(k.expose().as_bytes().to_vec()));
        } else if let Some(path) = &sec.jwt_private_key_file {
            secrets.jwt_private_key = Some(SecretBytes::new(read_secret_file(path)?));
        }
        if let Some(k) = &sec.jwt_public_key {
            secrets.jwt_public_key = Some(k.as_bytes().to_vec());
        } else if let Some(path) = &sec.jwt_public_key_file {
            let bytes = std::fs::read(path).map_err(|source| SecretsError::Io {
                action: "cannot read",
                path: path.clone(),
                source,
            })?;
            secrets.jwt_public_key = Some(bytes);
        }
        if let Some(k) = &sec.secret_box_key {
            secrets.secret_box_key = Some(parse_secret_box_key(k.expose().as_bytes())?);
        } else if let Some(path) = &sec.secret_box_key_file {
            secrets.secret_box_key = Some(parse_secret_box_key(&read_secret_file(path)?)?);
        }
        Ok(secrets)
    }
}

impl fmt::Display for Config {
    /// Same as [`Config::redacted`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    if scheme != "http" && scheme != "https" {
        return false;
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return false;
    }
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if !rest.ends_with(']') => {
            if port.parse::<u16>().is_err() {
                return false;
            }
            h
        }
        _ => rest,
    };
    !host.is_empty()
}

fn valid_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    !int.is_empty()
        && digits(int)
        && digits(frac)
        && !(s.contains('.') && frac.is_empty())
        && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_origins() {
        assert!(valid_decimal("0.5"));
        assert!(valid_decimal("100"));
        assert!(!valid_decimal("0"));
        assert!(!valid_decimal("1."));
        assert!(!valid_decimal(".5"));
        assert!(!valid_decimal("1e3"));
        assert!(!valid_decimal("-1"));
        assert!(valid_origin("https://app.example.com"));
        assert!(valid_origin("http://localhost:5173"));
        assert!(valid_origin("http://[::1]:5173"));
        assert!(!valid_origin("https://app.example.com/"));
        assert!(!valid_origin("app.example.com"));
        assert!(!valid_origin("https://a.example:99999"));
    }
}
