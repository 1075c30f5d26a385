//! The two route tables of the gateway, in one place: which security class
//! a request needs ([`SECURITY`]) and, in distributed mode, which service
//! serves it ([`UPSTREAMS`]).
//!
//! # Patterns
//!
//! | pattern | matches |
//! |---|---|
//! | `/a/b` | exactly `/a/b` |
//! | `/a/b/**` | `/a/b` and everything below `/a/b/` |
//! | `/a/b*` | every path starting with `/a/b` (`/a/bc`, `/a/b/c`) |
//! | `/a/<listenKey>` | `/a/` and one segment shaped as a listenKey (60 letters and digits) |
//!
//! Both tables are searched top to bottom; the first match wins.

use flowex_auth::Permissions;
use http::Method;

/// Binance's endpoint security types, plus FlowEx's own for `/api/v1`.
///
/// Whatever the class, a valid `Authorization: Bearer` access token is
/// accepted wherever an API key is (the web UI uses Bearer tokens on the
/// `/api/v3` endpoints); a login session acts with all of its user's
/// permissions ([`flowex_http::Identity::permits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Public. Credentials are not required; a valid Bearer token still
    /// attaches the caller's identity (an invalid one is ignored), an API
    /// key header is ignored (python-binance sends it on every request).
    None,
    /// An API key, no signature (`/api/v3/userDataStream`), or a Bearer token.
    UserStream,
    /// A signed request with a `READ` key, or a Bearer token.
    UserData,
    /// A signed request with a `TRADE` key, or a Bearer token.
    Trade,
    /// A signed request with a `WITHDRAW` key, or a Bearer token.
    Withdraw,
    /// A Bearer token of a login session only (account and auth routes).
    Session,
    /// A Bearer token whose role is `admin`; a user gets 403 `forbidden`.
    Admin,
}

impl Security {
    /// The API-key permission this class needs, if any.
    pub fn permission(self) -> Option<Permissions> {
        match self {
            Security::UserData => Some(Permissions::READ),
            Security::Trade => Some(Permissions::TRADE),
            Security::Withdraw => Some(Permissions::WITHDRAW),
            _ => None,
        }
    }

    /// Whether an API-key request of this class must be signed.
    pub fn signed(self) -> bool {
        self.permission().is_some()
    }

    /// Whether an API key (rather than only a Bearer token) is accepted.
    pub fn accepts_api_key(self) -> bool {
        self == Security::UserStream || self.signed()
    }
}

/// A set of HTTP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods(u8);

impl Methods {
    /// GET (and HEAD).
    pub const GET: Methods = Methods(1);
    /// POST.
    pub const POST: Methods = Methods(2);
    /// PUT.
    pub const PUT: Methods = Methods(4);
    /// DELETE.
    pub const DELETE: Methods = Methods(8);
    /// Every method.
    pub const ANY: Methods = Methods(0xff);

    const fn or(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    fn matches(self, method: &Method) -> bool {
        let bit = match *method {
            Method::GET | Method::HEAD => 1,
            Method::POST => 2,
            Method::PUT => 4,
            Method::DELETE => 8,
            _ => 0x80,
        };
        self.0 & bit != 0
    }
}

const GET: Methods = Methods::GET;
const POST: Methods = Methods::POST;
const DELETE: Methods = Methods::DELETE;
const ANY: Methods = Methods::ANY;
const WRITE: Methods = Methods::POST.or(Methods::PUT).or(Methods::DELETE);

/// The pattern segment of a listenKey.
const LISTEN_KEY: &str = "<listenKey>";

/// Whether `path` is a listenKey user data stream (`/ws/<listenKey>`,
/// `/stream/ws/<listenKey>`): trading's, in both modes, though the market
/// streams serve the rest of `/ws/**`.
pub fn is_user_stream(path: &str) -> bool {
    UPSTREAMS
        .iter()
        .any(|(p, _)| p.ends_with(LISTEN_KEY) && matches(p, path))
}

/// Whether `path` matches `pattern` (see the module docs).
pub fn matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix(LISTEN_KEY) {
        path.strip_prefix(prefix)
            .is_some_and(flowex_http::listen_key::is_listen_key)
    } else if let Some(base) = pattern.strip_suffix("/**") {
        path == base
            || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
            || base.is_empty()
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        path.starts_with(prefix)
    } else {
        path == pattern
    }
}

/// The security table: `(methods, pattern, class)`.
///
/// `/api/v3` follows Binance's classification; unknown `/api/v3` paths are
/// public (the service answers 404). Under `/api/v1` everything needs a
/// login session unless listed: a new public `/api/v1` route must be added
/// here, so forgetting it fails closed.
pub const SECURITY: &[(Methods, &str, Security)] = &[
    // ---- Binance Spot API ----
    (WRITE, "/api/v3/userDataStream", Security::UserStream),
    (GET, "/api/v3/order*", Security::UserData), // order, orderList
    (GET, "/api/v3/openOrders", Security::UserData),
    (GET, "/api/v3/openOrderList", Security::UserData),
    (GET, "/api/v3/allOrders", Security::UserData),
    (GET, "/api/v3/allOrderList", Security::UserData),
    (GET, "/api/v3/myTrades", Security::UserData),
    (GET, "/api/v3/myPreventedMatches", Security::UserData),
    (GET, "/api/v3/account*", Security::UserData), // account, account/commission
    (GET, "/api/v3/rateLimit/order", Security::UserData),
    // POST/DELETE order, order/test, order/cancelReplace, order/oco, orderList/*
    (ANY, "/api/v3/order*", Security::Trade),
    (DELETE, "/api/v3/openOrders", Security::Trade),
    (ANY, "/api/v3/**", Security::None),
    // ---- FlowEx native API ----
    (ANY, "/api/v1/admin/**", Security::Admin),
    (POST, "/api/v1/auth/register", Security::None),
    (POST, "/api/v1/auth/login*", Security::None), // login, login/2fa
    (POST, "/api/v1/auth/refresh", Security::None),
    (POST, "/api/v1/auth/logout", Security::None), // carries the refresh token
    (ANY, "/api/v1/auth/**", Security::Session),
    (ANY, "/api/v1/account/**", Security::Session),
    (POST, "/api/v1/wallet/withdraw*", Security::Withdraw),
    (DELETE, "/api/v1/wallet/withdraw*", Security::Withdraw),
    (GET, "/api/v1/wallet/**", Security::UserData),
    (ANY, "/api/v1/wallet/**", Security::Session),
    (ANY, "/api/**", Security::Session),
    // ---- everything else: docs, health, metrics, WebSockets, the web UI ----
    // WebSocket endpoints authenticate inside the protocol (listenKey,
    // signed `userDataStream.subscribe.signature`).
    (ANY, "/**", Security::None),
];

/// The security class of a request.
pub fn security(method: &Method, path: &str) -> Security {
    SECURITY
        .iter()
        .find(|(m, p, _)| m.matches(method) && matches(p, path))
        .map(|(_, _, s)| *s)
        .unwrap_or(Security::None)
}

/// A FlowEx service behind the gateway (distributed mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// Accounts, sessions, 2FA, API keys, the audit log.
    Auth,
    /// Orders, balances, exchange info, user data streams.
    Trading,
    /// Books, trades, klines, tickers, market streams.
    MarketData,
    /// Deposits, withdrawals, admin money operations.
    Wallet,
}

impl Upstream {
    /// All of them.
    pub const ALL: [Upstream; 4] = [
        Upstream::Auth,
        Upstream::Trading,
        Upstream::MarketData,
        Upstream::Wallet,
    ];

    /// The service's name as `flowex serve` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Upstream::Auth => "auth",
            Upstream::Trading => "trading",
            Upstream::MarketData => "market-data",
            Upstream::Wallet => "wallet",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The routing table of distributed mode: `(pattern, service)`. Paths
/// not listed are the gateway's own (`/docs`, `/openapi.json`,
/// `/metrics`, `/health/*`, the web UI) or 404.
pub const UPSTREAMS: &[(&str, Upstream)] = &[
    // auth
    ("/api/v1/auth/**", Upstream::Auth),
    ("/api/v1/account/**", Upstream::Auth),
    ("/api/v1/admin/audit*", Upstream::Auth),
    // trading's admin routes (the engine's configuration); exact or
    // below-a-segment patterns, so `/api/v1/admin/assets/{asset}/…`
    // (withdrawal settings) stays with the wallet
    ("/api/v1/admin/assets", Upstream::Trading),
    ("/api/v1/admin/markets/**", Upstream::Trading),
    ("/api/v1/admin/users/**", Upstream::Trading),
    ("/api/v1/admin/cancel-all", Upstream::Trading),
    // wallet (the other admin routes are money operations)
    ("/api/v1/wallet/**", Upstream::Wallet),
    ("/api/v1/admin/**", Upstream::Wallet),
    // trading
    ("/api/v3/order*", Upstream::Trading), // order, order/test, order/cancelReplace, orderList
    ("/api/v3/openOrder*", Upstream::Trading), // openOrders, openOrderList
    ("/api/v3/allOrder*", Upstream::Trading), // allOrders, allOrderList
    ("/api/v3/myTrades", Upstream::Trading),
    ("/api/v3/myPreventedMatches", Upstream::Trading),
    ("/api/v3/account*", Upstream::Trading),
    ("/api/v3/rateLimit/order", Upstream::Trading),
    ("/api/v3/exchangeInfo", Upstream::Trading),
    ("/api/v3/userDataStream", Upstream::Trading),
    ("/ws-api/**", Upstream::Trading),
    // listenKey user data streams, before the market streams' `/ws/**`
    ("/ws/<listenKey>", Upstream::Trading),
    ("/stream/ws/<listenKey>", Upstream::Trading),
    // market data
    ("/api/v3/depth", Upstream::MarketData),
    ("/api/v3/trades", Upstream::MarketData),
    ("/api/v3/historicalTrades", Upstream::MarketData),
    ("/api/v3/aggTrades", Upstream::MarketData),
    ("/api/v3/klines", Upstream::MarketData),
    ("/api/v3/uiKlines", Upstream::MarketData),
    ("/api/v3/avgPrice", Upstream::MarketData),
    ("/api/v3/ticker*", Upstream::MarketData),
    ("/api/v3/ping", Upstream::MarketData),
    ("/api/v3/time", Upstream::MarketData),
    ("/ws/**", Upstream::MarketData),
    ("/stream/**", Upstream::MarketData),
];

/// The service that serves `path` in distributed mode.
pub fn upstream(path: &str) -> Option<Upstream> {
    UPSTREAMS
        .iter()
        .find(|(p, _)| matches(p, path))
        .map(|(_, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("/ws/**", "/ws"));
        assert!(matches("/ws/**", "/ws/btcusdt@trade"));
        assert!(!matches("/ws/**", "/ws-api/v3"));
        assert!(matches("/api/v3/order*", "/api/v3/orderList"));
        assert!(matches("/api/v3/order*", "/api/v3/order/test"));
        assert!(!matches("/api/v3/order", "/api/v3/order/test"));
        assert!(matches("/**", "/anything/at/all"));
        assert!(matches("/**", "/"));
        let key = "Ab1".repeat(20);
        assert!(matches("/ws/<listenKey>", &format!("/ws/{key}")));
        assert!(!matches("/ws/<listenKey>", &format!("/ws/{key}/x")));
        assert!(!matches("/ws/<listenKey>", "/ws/btcusdt@trade"));
        assert!(is_user_stream(&format!("/stream/ws/{key}")));
        assert!(!is_user_stream("/stream/ws/0"));
        assert!(!is_user_stream(&format!("/ws-api/{key}")));
    }

    #[test]
    fn security_classes() {
        use Security as S;
        let cases = [
            (Method::GET, "/api/v3/depth", S::None),
            (Method::GET, "/api/v3/ping", S::None),
            (Method::POST, "/api/v3/order", S::Trade),
            (Method::DELETE, "/api/v3/order", S::Trade),
            (Method::GET, "/api/v3/order", S::UserData),
            (Method::POST, "/api/v3/order/test", S::Trade),
            (Method::POST, "/api/v3/order/cancelReplace", S::Trade),
            (Method::DELETE, "/api/v3/openOrders", S::Trade),
            (Method::GET, "/api/v3/openOrders", S::UserData),
            (Method::GET, "/api/v3/account", S::UserData),
            (Method::GET, "/api/v3/myTrades", S::UserData),
            (Method::POST, "/api/v3/userDataStream", S::UserStream),
            (Method::PUT, "/api/v3/userDataStream", S::UserStream),
            (Method::DELETE, "/api/v3/userDataStream", S::UserStream),
            (Method::GET, "/api/v1/admin/users", S::Admin),
            (Method::PATCH, "/api/v1/admin/markets/BTCUSDT", S::Admin),
            (Method::PUT, "/api/v1/admin/users/7/fees", S::Admin),
            (Method::DELETE, "/api/v1/admin/users/7/fees", S::Admin),
            (Method::POST, "/api/v1/admin/cancel-all", S::Admin),
            (Method::POST, "/api/v1/auth/login", S::None),
            (Method::GET, "/api/v1/auth/me", S::Session),
            (Method::POST, "/api/v1/account/api-keys", S::Session),
            (Method::POST, "/api/v1/wallet/withdrawals", S::Withdraw),
            (Method::GET, "/api/v1/wallet/withdrawals", S::UserData),
            (Method::POST, "/api/v1/wallet/faucet", S::Session),
            (Method::GET, "/api/v1/unknown", S::Session),
            (Method::GET, "/ws/btcusdt@trade", S::None),
            (Method::GET, "/docs", S::None),
            (Method::GET, "/", S::None),
        ];
        for (m, p, want) in cases {
            assert_eq!(security(&m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn upstream_routing() {
        use Upstream as U;
        let cases = [
            ("/api/v1/auth/login", Some(U::Auth)),
            ("/api/v1/account/api-keys", Some(U::Auth)),
            ("/api/v1/admin/audit", Some(U::Auth)),
            ("/api/v1/admin/users", Some(U::Trading)),
            ("/api/v1/admin/users/7/fees", Some(U::Trading)),
            ("/api/v1/admin/users/7/freeze", Some(U::Trading)),
            ("/api/v1/admin/assets", Some(U::Trading)),
            (
                "/api/v1/admin/assets/BTC/withdrawal-settings",
                Some(U::Wallet),
            ),
            ("/api/v1/admin/assetsX", Some(U::Wallet)),
            ("/api/v1/admin/markets", Some(U::Trading)),
            ("/api/v1/admin/markets/BTCUSDT", Some(U::Trading)),
            ("/api/v1/admin/markets/BTCUSDT/status", Some(U::Trading)),
            ("/api/v1/admin/cancel-all", Some(U::Trading)),
            ("/api/v1/admin/deposits", Some(U::Wallet)),
            ("/api/v1/admin/withdrawals/3/approve", Some(U::Wallet)),
            ("/api/v1/wallet/withdrawals", Some(U::Wallet)),
            ("/api/v3/order", Some(U::Trading)),
            ("/api/v3/order/test", Some(U::Trading)),
            ("/api/v3/openOrders", Some(U::Trading)),
            ("/api/v3/account", Some(U::Trading)),
            ("/api/v3/exchangeInfo", Some(U::Trading)),
            ("/ws-api/v3", Some(U::Trading)),
            ("/api/v3/depth", Some(U::MarketData)),
            ("/api/v3/ticker/24hr", Some(U::MarketData)),
            ("/api/v3/time", Some(U::MarketData)),
            ("/ws/btcusdt@depth", Some(U::MarketData)),
            ("/ws", Some(U::MarketData)),
            ("/ws/0", Some(U::MarketData)),
            (
                "/ws/pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a",
                Some(U::Trading),
            ),
            (
                "/stream/ws/pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a",
                Some(U::Trading),
            ),
            ("/stream/ws/btcusdt@trade", Some(U::MarketData)),
            ("/stream", Some(U::MarketData)),
            ("/api/v3/unknown", None),
            ("/docs", None),
            ("/health/live", None),
        ];
        for (p, want) in cases {
            assert_eq!(upstream(p), want, "{p}");
        }
    }
}
