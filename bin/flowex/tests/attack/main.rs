//! The attack suite: the OWASP API Security Top 10 (2023), one module per
//! item, each attacking a real `flowex up` over loopback HTTP and asserting
//! the exact refusal (status and Binance code or native error code).
//! SECURITY.md maps each item to its module and to the service-level tests
//! that cover the same ground in more depth.

#[path = "../common/mod.rs"]
mod common;

mod api1_bola;
mod api2_authentication;
mod api3_property_level;
mod api4_consumption;
mod api5_function_level;
mod api6_business_flows;
mod api7_8_injection_and_configuration;
mod api9_inventory;

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const PASSWORD: &str = "a long enough passphrase";

/// A server under attack and a client that talks to it.
pub struct Target {
    pub up: common::Up,
    pub c: reqwest::Client,
}

/// A logged-in user: the access token, its refresh token, and an API key
/// with every permission.
#[derive(Clone)]
pub struct User {
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub key: String,
    pub secret: String,
}

/// A response: status, headers and the body parsed as JSON (Null when not).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// `(status, Binance code)` of an `/api/v3` refusal.
    pub fn binance(&self) -> (u16, i64) {
        (self.status, self.body["code"].as_i64().unwrap_or(0))
    }

    /// `(status, error code)` of an `/api/v1` refusal.
    pub fn native(&self) -> (u16, &str) {
        (
            self.status,
            self.body["error"]["code"].as_str().unwrap_or(""),
        )
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

impl Target {
    pub fn start() -> Target {
        Target::start_with(&[])
    }

    /// `flowex up --no-bot` in a fresh data directory with settings `env`.
    pub fn start_with(env: &[(&str, &str)]) -> Target {
        Target {
            up: common::Up::start_fresh_with(&["--no-bot"], env),
            c: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.up.base)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.c.request(method, self.url(path))
    }

    pub async fn send(&self, req: RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// Sends `method path` with a JSON body and, when given, a token.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Answer {
        let mut r = self.req(method, path).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        self.send(r).await
    }

    pub async fn bearer(&self, method: Method, path: &str, token: &str) -> Answer {
        self.send(self.req(method, path).bearer_auth(token)).await
    }

    /// Registers and logs in `email`, and creates a key with every
    /// permission.
    pub async fn user(&self, email: &str) -> User {
        let creds = json!({ "email": email, "password": PASSWORD });
        let a = self
            .json(Method::POST, "/api/v1/auth/register", None, creds.clone())
            .await;
        assert_eq!(a.status, 201, "register {email}: {a}");
        let a = self
            .json(Method::POST, "/api/v1/auth/login", None, creds)
            .await;
        assert_eq!(a.status, 200, "login {email}: {a}");
        let access = a.body["access_token"].as_str().unwrap().to_string();
        let refresh = a.body["refresh_token"].as_str().unwrap().to_string();
        let perms = json!({ "label": "all", "permissions": ["READ", "TRADE", "WITHDRAW"] });
        let k = self
            .json(
                Method::POST,
                "/api/v1/account/api-keys",
                Some(&access),
                perms,
            )
            .await;
        assert_eq!(k.status, 201, "api key {email}: {k}");
        User {
            email: email.to_string(),
            access,
            refresh,
            key: k.body["api_key"].as_str().unwrap().to_string(),
            secret: k.body["secret"].as_str().unwrap().to_string(),
        }
    }

    /// Demo funds of `asset` for `user`.
    pub async fn faucet(&self, user: &User, asset: &str) {
        let a = self
            .json(
                Method::POST,
                "/api/v1/wallet/faucet",
                Some(&user.access),
                json!({ "asset": asset }),
            )
            .await;
        assert_eq!(a.status, 201, "faucet {asset}: {a}");
    }

    /// A request signed with `user`'s key the Binance way: `timestamp`
    /// appended to `query`, the HMAC over query and `body`.
    pub fn signed(
        &self,
        method: Method,
        path: &str,
        user: &User,
        query: &str,
        body: &str,
    ) -> RequestBuilder {
        let sep = if query.is_empty() { "" } else { "&" };
        let query = format!("{query}{sep}timestamp={}", now_ms());
        let signature = sign(&user.secret, &query, body);
        let mut r = self
            .req(method, &format!("{path}?{query}&signature={signature}"))
            .header("X-MBX-APIKEY", &user.key);
        if !body.is_empty() {
            let json = body.starts_with('{');
            let ct = if json {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            };
            r = r.header("content-type", ct).body(body.to_string());
        }
        r
    }

    /// Places a resting LIMIT buy on BTCUSDT (20 USDT, over the minimum
    /// notional) for `user` (who holds USDT);
    /// returns the order's id.
    pub async fn resting_order(&self, user: &User, client_id: &str) -> u64 {
        let body = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000&newClientOrderId={client_id}"
        );
        let a = self
            .send(self.signed(Method::POST, "/api/v3/order", user, "", &body))
            .await;
        assert_eq!(a.status, 200, "order: {a}");
        a.body["orderId"].as_u64().unwrap()
    }
}

pub fn sign(secret: &str, query: &str, body: &str) -> String {
    let mut payload = query.as_bytes().to_vec();
    payload.extend_from_slice(body.as_bytes());
    flowex_auth::sign(secret, &payload)
}
