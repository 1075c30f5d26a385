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
use flowex_http::{ApiError, Identity, Params};
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

/// A parameter's text: strings as they are, numbers and booleans as JSON
/// writes them.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
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

fn rate_limits(limit: u64, count: u64) -> Value {
    json!([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limit, "count": count}])
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
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::internal(e.to_string()))?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(Failure {
            status: status.as_u16(),
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
        let limit = self.api.limiter.limits().ip_weight_per_minute;
        let req: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                let f = Failure {
                    status: 400,
                    error: json!({"code": -1000, "msg": "Invalid JSON: the request must be a JSON object."}),
                };
                return Outcome(vec![frame(&Value::Null, Err(f), rate_limits(limit, 0))]);
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
                return Outcome(vec![frame(&id, Err(e.into()), rate_limits(limit, 0))]);
            }
        };
        let (answer, used, after) = self.dispatch(method, &params).await;
        let mut out = vec![frame(&id, answer, rate_limits(limit, used))];
        out.extend(after);
        Outcome(out)
    }

    /// Charges `weight` to the caller's IP: the weight used this minute.
    async fn charge(&self, weight: u64) -> Result<u64, (Failure, u64)> {
        self.api
            .limiter
            .check_ip(self.ip, weight)
            .await
            .map_err(|(e, used)| (Failure::from(e), used))
    }

    /// The method's answer, the weight used, and messages to send after it.
    async fn dispatch(
        &mut self,
        method: &str,
        params: &Map<String, Value>,
    ) -> (Answer, u64, Vec<String>) {
        let texts = match param_texts(params) {
            Ok(t) => t,
            Err(e) => return (Err(e.into()), 0, Vec::new()),
        };
        let weight = match rest_route(method) {
            Some(r) => {
                let query = rest_params(&texts).map(|p| p.raw_query().to_string()).ok();
                self.api
                    .costs
                    .cost(&r.method, r.path, query.as_deref())
                    .weight
            }
            None => 2,
        };
        let used = match self.charge(weight).await {
            Ok(used) => used,
            Err((f, used)) => return (Err(f), used, Vec::new()),
        };
        let mut after = Vec::new();
        let answer = match method {
            "session.logon" => self.logon(&texts).await,
            "session.status" => Ok(self.status()),
            "session.logout" => {
                self.logon = None;
                Ok(self.status())
            }
            "session.subscriptions" => Ok(self.list()),
            "userDataStream.subscribe" => self.subscribe_logged_on(),
            "userDataStream.subscribe.signature" => self.subscribe_signed(&texts).await,
            "userDataStream.unsubscribe" => self.unsubscribe(&texts, &mut after),
            m => match rest_route(m) {
                Some(route) => self.rest(m, route, &texts).await,
                None => Err(Failure {
                    status: 400,
                    error: json!({"code": -1100, "msg": format!("Unknown method: {m:?}.")}),
                }),
            },
        };
        (answer, used, after)
    }

    /// Who is asking: the request's own signature if it has one, else the
    /// session's logon; -1002 for neither.
    async fn caller(&self, texts: &BTreeMap<String, String>) -> Result<Authed, ApiError> {
        if texts.contains_key("signature") || texts.contains_key("apiKey") {
            return self.verify_signed(texts).await;
        }
        self.logon.clone().ok_or_else(ApiError::unauthorized)
    }

    async fn rest(&mut self, m: &str, route: Route, texts: &BTreeMap<String, String>) -> Answer {
        let who = match route.needs {
            None => None,
            Some(needed) => {
                let who = self.caller(texts).await?;
                if !who.identity.permits(needed) {
                    return Err(ApiError::rejected_api_key().into());
                }
                if route.method == Method::POST && route.path == "/api/v3/order" {
                    let key = who.identity.rate_limit_key();
                    self.api.limiter.check_user(&key, 0, true).await?;
                }
                Some(who.identity)
            }
        };
        let p = rest_params(texts)?;
        call_rest(self.state.clone(), m, who, p).await
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
