//! The requests of one connection: framing, authentication, the session
//! and user data methods, and the REST methods run through the REST
//! handlers themselves (same validation, weights, errors; acknowledged
//! once durable, as they are).

use super::hub::{Kick, UserSlot};
use super::WsApi;
use crate::TradingState;
use axum::extract::State;
use axum::response::IntoResponse;
use flowex_auth::Permissions;
use flowex_http::clock::now_ms;
use flowex_http::{ApiError, Cost, Identity, OrderCounts, Params, RateLimits};
use http::Method;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a request leads to: messages to send, in order.
pub struct Outcome(pub Vec<String>);

/// How a caller proved who they are, kept to check it again.
#[derive(Clone, Debug)]
enum Credential {
    Token(String),
    Key(String),
}

#[derive(Clone, Debug)]
struct Authed {
    identity: Identity,
    credential: Credential,
    since: u64,
}

/// One connection's state.
pub struct Session {
    state: TradingState,
    pub api: Arc<WsApi>,
    conn: u64,
    ip: IpAddr,
    tx: mpsc::Sender<Arc<str>>,
    pub kick: Arc<Kick>,
    connected_since: u64,
    logon: Option<Authed>,
    subscriptions: BTreeMap<u64, Authed>,
    next_subscription: u64,
    users: HashMap<u64, UserSlot>,
}

/// A request's failure: HTTP-like status and Binance's error object.
struct Failure {
    status: u16,
    error: Value,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure {
            status: e.status().as_u16(),
            error: json!({"code": e.binance_code(), "msg": e.binance_msg()}),
        }
    }
}

type Answer = Result<Value, Failure>;

/// Where a method's weight and rules come from: its REST equivalent.
struct Route {
    method: Method,
    path: &'static str,
    /// The API-key permission it needs; `None`: public.
    needs: Option<Permissions>,
}

fn rest_route(method: &str) -> Option<Route> {
    let (m, path, needs) = match method {
        "ping" => (Method::GET, "/api/v3/ping", None),
        "time" => (Method::GET, "/api/v3/time", None),
        "exchangeInfo" => (Method::GET, "/api/v3/exchangeInfo", None),
        "order.place" => (Method::POST, "/api/v3/order", Some(Permissions::TRADE)),
        "order.test" => (Method::POST, "/api/v3/order/test", Some(Permissions::TRADE)),
        "order.status" => (Method::GET, "/api/v3/order", Some(Permissions::READ)),
        "order.cancel" => (Method::DELETE, "/api/v3/order", Some(Permissions::TRADE)),
        "order.cancelReplace" => (
            Method::POST,
            "/api/v3/order/cancelReplace",
            Some(Permissions::TRADE),
        ),
        "openOrders.status" => (Method::GET, "/api/v3/openOrders", Some(Permissions::READ)),
        "openOrders.cancelAll" => (
            Method::DELETE,
            "/api/v3/openOrders",
            Some(Permissions::TRADE),
        ),
        "account.status" => (Method::GET, "/api/v3/account", Some(Permissions::READ)),
        "myTrades" => (Method::GET, "/api/v3/myTrades", Some(Permissions::READ)),
        "allOrders" => (Method::GET, "/api/v3/allOrders", Some(Permissions::READ)),
        _ => return None,
    };
    Some(Route {
        method: m,
        path,
        needs,
    })
}

/// A parameter's text: strings as they are, numbers, booleans and arrays
/// (`symbols`, `permissions`) as JSON writes them, which is what their
/// REST equivalents take.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The REST path of a market data method (answered by market data).
fn market_path(method: &str) -> Option<&'static str> {
    Some(match method {
        "depth" => "/api/v3/depth",
        "trades.recent" => "/api/v3/trades",
        "trades.historical" => "/api/v3/historicalTrades",
        "trades.aggregate" => "/api/v3/aggTrades",
        "klines" => "/api/v3/klines",
        "uiKlines" => "/api/v3/uiKlines",
        "avgPrice" => "/api/v3/avgPrice",
        "ticker.24hr" => "/api/v3/ticker/24hr",
        "ticker.price" => "/api/v3/ticker/price",
        "ticker.book" => "/api/v3/ticker/bookTicker",
        _ => return None,
    })
}

fn param_texts(params: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    params
        .iter()
        .map(|(k, v)| {
            text(v)
                .map(|t| (k.clone(), t))
                .ok_or_else(ApiError::illegal_chars)
        })
        .collect()
}

/// The REST parameters of a request: everything but the credentials.
fn rest_params(texts: &BTreeMap<String, String>) -> Result<Params, ApiError> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in texts {
        if !matches!(k.as_str(), "apiKey" | "signature" | "accessToken") {
            q.append_pair(k, v);
        }
    }
    Params::parse(&q.finish(), bytes::Bytes::new(), false)
}

/// What a reply's `rateLimits` reports: the IP's request weight this
/// minute and, for a new order, the caller's order counts (as Binance).
#[derive(Clone, Copy, Default)]
struct Usage {
    weight: u64,
    orders: Option<OrderCounts>,
}

fn rate_limits(limits: &RateLimits, usage: Usage) -> Value {
    let mut list = Vec::with_capacity(3);
    if let Some(o) = usage.orders {
        list.push(json!({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": limits.orders_per_10s, "count": o.last_10s}));
        list.push(json!({"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": limits.orders_per_day, "count": o.today}));
    }
    list.push(json!({"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limits.ip_weight_per_minute, "count": usage.weight}));
    Value::Array(list)
}

/// The reply frame.
fn frame(id: &Value, answer: Answer, limits: Value) -> String {
    match answer {
        Ok(result) => json!({"id": id, "status": 200, "result": result, "rateLimits": limits}),
        Err(f) => json!({"id": id, "status": f.status, "error": f.error, "rateLimits": limits}),
    }
    .to_string()
}

/// Reads the request's id: an integer, a string of at most 36 characters
/// or null.
fn request_id(req: &Map<String, Value>) -> Result<Value, ApiError> {
    match req.get("id") {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Value::Number(n.clone())),
        Some(Value::String(s)) if s.len() <= 36 => Ok(Value::String(s.clone())),
        Some(_) => Err(ApiError::invalid_parameter("id")),
    }
}

/// An answer turned into JSON: the REST handler's body, or its error
/// (with any `data` it carries, as cancel-replace's).
async fn answer_of<R: IntoResponse>(r: Result<R, ApiError>) -> Answer {
    let response = r?.into_response();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    answer_body(status, &body)
}

fn answer_body(status: u16, body: &[u8]) -> Answer {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::internal(e.to_string()))?;
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(Failure {
            status,
            error: value,
        })
    }
}

impl Session {
    pub fn new(
        state: TradingState,
        api: Arc<WsApi>,
        conn: u64,
        ip: IpAddr,
        tx: mpsc::Sender<Arc<str>>,
        kick: Arc<Kick>,
    ) -> Session {
        Session {
            state,
            api,
            conn,
            ip,
            tx,
            kick,
            connected_since: now_ms(),
            logon: None,
            subscriptions: BTreeMap::new(),
            next_subscription: 0,
            users: HashMap::new(),
        }
    }

    /// Drops every subscription (the connection is closing).
    pub fn clear(&mut self) {
        for id in std::mem::take(&mut self.subscriptions).into_keys() {
            self.api.hub.unsubscribe(self.conn, id);
        }
        self.users.clear();
    }

    /// One request, answered.
    pub async fn handle(&mut self, text: &str) -> Outcome {
        let limits = self.api.limiter.limits();
        let none = || rate_limits(&limits, Usage::default());
        let req: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                let f = Failure {
                    status: 400,
                    error: json!({"code": -1000, "msg": "Invalid JSON: the request must be a JSON object."}),
                };
                return Outcome(vec![frame(&Value::Null, Err(f), none())]);
            }
        };
        let id = match request_id(&req) {
            Ok(id) => id,
            Err(e) => return Outcome(vec![frame(&Value::Null, Err(e.into()), json!([]))]),
        };
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let params = match req.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => {
                let e = ApiError::invalid_parameter("params");
                return Outcome(vec![frame(&id, Err(e.into()), none())]);
            }
        };
        let mut usage = Usage::default();
        let mut after = Vec::new();
        let answer = self.dispatch(method, &params, &mut usage, &mut after).await;
        let mut out = vec![frame(&id, answer, rate_limits(&limits, usage))];
        out.extend(after);
        Outcome(out)
    }

    /// Charges `weight` to the caller's IP (the same counters as REST):
    /// records the weight used this minute in `usage`.
    async fn charge(&self, weight: u64, usage: &mut Usage) -> Result<(), Failure> {
        let charged = self.api.limiter.check_ip(self.ip, weight).await;
        match charged {
            Ok(used) => {
                usage.weight = used;
                Ok(())
            }
            Err((e, used)) => {
                usage.weight = used;
                Err(e.into())
            }
        }
    }

    /// What the method costs: its REST equivalent's weight (2 for the
    /// session and user data methods).
    fn cost(&self, method: &str, texts: &BTreeMap<String, String>) -> Cost {
        let path = match (rest_route(method), market_path(method)) {
            (Some(r), _) => Some((r.method, r.path)),
            (None, Some(path)) => Some((Method::GET, path)),
            (None, None) => None,
        };
        let Some((m, path)) = path else {
            return Cost::weight(2);
        };
        let query = rest_params(texts).map(|p| p.raw_query().to_string()).ok();
        self.api.costs.cost(&m, path, query.as_deref())
    }

    /// The method's answer; the limits it used go to `usage`, messages to
    /// send after the reply to `after`.
    async fn dispatch(
        &mut self,
        method: &str,
        params: &Map<String, Value>,
        usage: &mut Usage,
        after: &mut Vec<String>,
    ) -> Answer {
        let texts = param_texts(params)?;
        let cost = self.cost(method, &texts);
        self.charge(cost.weight, usage).await?;
        match method {
            "session.logon" => self.logon(&texts).await,
            "session.status" => Ok(self.status()),
            "session.logout" => {
                self.logon = None;
                Ok(self.status())
            }
            "session.subscriptions" => Ok(self.list()),
            "userDataStream.subscribe" => self.subscribe_logged_on(),
            "userDataStream.subscribe.signature" => self.subscribe_signed(&texts).await,
            "userDataStream.unsubscribe" => self.unsubscribe(&texts, after),
            m => match (rest_route(m), market_path(m)) {
                (Some(route), _) => self.rest(m, route, cost, &texts, usage).await,
                (None, Some(path)) => self.market(path, &texts).await,
                (None, None) => Err(Failure {
                    status: 400,
                    error: json!({"code": -1100, "msg": format!("Unknown method: {m:?}.")}),
                }),
            },
        }
    }

    /// Who is asking: the request's own signature if it has one, else the
    /// session's logon; -1002 for neither.
    async fn caller(&self, texts: &BTreeMap<String, String>) -> Result<Authed, ApiError> {
        if texts.contains_key("signature") || texts.contains_key("apiKey") {
            return self.verify_signed(texts).await;
        }
        self.logon.clone().ok_or_else(ApiError::unauthorized)
    }

    /// A REST method of trading: the caller is charged as on REST (the
    /// weight per user, and a new order against the order limits).
    async fn rest(
        &mut self,
        m: &str,
        route: Route,
        cost: Cost,
        texts: &BTreeMap<String, String>,
        usage: &mut Usage,
    ) -> Answer {
        let who = match route.needs {
            None => None,
            Some(needed) => {
                let who = self.caller(texts).await?;
                if !who.identity.permits(needed) {
                    return Err(ApiError::rejected_api_key().into());
                }
                let key = who.identity.rate_limit_key();
                let limiter = &self.api.limiter;
                usage.orders = limiter.check_user(&key, cost.weight, cost.order).await?;
                Some(who.identity)
            }
        };
        let p = rest_params(texts)?;
        call_rest(self.state.clone(), m, who, p).await
    }

    /// A market data method: its REST handler's answer.
    async fn market(&self, path: &str, texts: &BTreeMap<String, String>) -> Answer {
        let Some(market) = &self.api.market else {
            let e = ApiError::unavailable("market data is not served on this WebSocket API");
            return Err(e.into());
        };
        let p = rest_params(texts)?;
        let uri = match p.raw_query() {
            "" => path.to_string(),
            q => format!("{path}?{q}"),
        };
        let answer = market.get(&uri).await?;
        answer_body(answer.status, &answer.body)
    }
}

/// Runs the REST handler of method `m`.
async fn call_rest(s: TradingState, m: &str, who: Option<Identity>, p: Params) -> Answer {
    use crate::{history, orders, views};
    let Some(who) = who else {
        return match m {
            "ping" => answer_of(Ok::<_, ApiError>(views::ping().await)).await,
            "time" => answer_of(Ok::<_, ApiError>(views::time().await)).await,
            _ => answer_of(views::exchange_info(State(s), p).await).await,
        };
    };
    match m {
        "order.place" => answer_of(orders::new_order(State(s), who, p).await).await,
        "order.test" => answer_of(orders::test_order(State(s), who, p).await).await,
        "order.status" => answer_of(orders::query_order(State(s), who, p).await).await,
        "order.cancel" => answer_of(orders::cancel_order(State(s), who, p).await).await,
        "order.cancelReplace" => answer_of(orders::cancel_replace(State(s), who, p).await).await,
        "openOrders.status" => answer_of(orders::open_orders(State(s), who, p).await).await,
        "openOrders.cancelAll" => {
            answer_of(orders::cancel_open_orders(State(s), who, p).await).await
        }
        "account.status" => answer_of(views::account(State(s), who, p).await).await,
        "myTrades" => answer_of(history::my_trades(State(s), who, p).await).await,
        _ => answer_of(history::all_orders(State(s), who, p).await).await,
    }
}

mod auth;
mod user_data;
