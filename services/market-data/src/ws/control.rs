//! The control messages of a connection — `SUBSCRIBE`, `UNSUBSCRIBE`,
//! `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` — and Binance's
//! error replies: code 0 unknown property, 1 invalid value type, 2
//! invalid request, 3 invalid JSON.

use super::hub::{Hub, Listener};
use super::stream::Stream;
use crate::MarketDataState;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Longest string id accepted (Binance: 36 characters).
const MAX_STRING_ID: usize = 36;

/// What the connection does with a control message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this reply.
    Reply(String),
    /// Send this reply, then close with this reason.
    Close(String, String),
}

#[derive(Serialize)]
struct Answer<'a> {
    result: Value,
    id: &'a Value,
}

#[derive(Serialize)]
struct Failure<'a> {
    code: u8,
    msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
}

fn failure(code: u8, msg: impl Into<String>, id: Option<&Value>) -> Outcome {
    let body = Failure {
        code,
        msg: msg.into(),
        id,
    };
    Outcome::Reply(serde_json::to_string(&body).unwrap_or_default())
}

fn invalid(msg: &str, id: &Value) -> Outcome {
    failure(2, format!("Invalid request: {msg}"), Some(id))
}

fn answer(result: Value, id: &Value) -> Outcome {
    Outcome::Reply(serde_json::to_string(&Answer { result, id }).unwrap_or_default())
}

/// One connection's subscriptions and properties.
pub struct Session {
    hub: Arc<Hub>,
    state: MarketDataState,
    pub listener: Listener,
    /// In subscription order (`LIST_SUBSCRIPTIONS` answers in it).
    streams: Vec<Stream>,
    pub combined: bool,
}

impl Session {
    pub fn new(state: MarketDataState, listener: Listener, combined: bool) -> Session {
        Session {
            hub: state.live().clone(),
            state,
            listener,
            streams: Vec::new(),
            combined,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Subscribes `streams` (already checked), skipping those held.
    pub fn add(&mut self, streams: &[Stream]) {
        for s in streams {
            if !self.streams.contains(s) {
                self.hub.subscribe(s, &self.listener);
                self.streams.push(s.clone());
            }
        }
    }

    /// Leaves every stream (the connection is ending).
    pub fn clear(&mut self) {
        for s in std::mem::take(&mut self.streams) {
            self.hub.unsubscribe(&s, self.listener.id);
        }
    }

    /// Handles one text message.
    pub fn handle(&mut self, text: &str) -> Outcome {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return failure(3, format!("Invalid JSON: {e}"), None),
        };
        let Value::Object(req) = value else {
            return failure(2, "Invalid request: expected a JSON object", None);
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        if !valid_id(&id) {
            return failure(
                2,
                "Invalid request: request ID must be an unsigned integer",
                None,
            );
        }
        if req
            .keys()
            .any(|k| !matches!(k.as_str(), "method" | "params" | "id"))
        {
            return invalid("too many parameters", &id);
        }
        let method = match req.get("method") {
            Some(Value::String(m)) => m.as_str(),
            Some(_) => return invalid("method must be a string", &id),
            None => return invalid("missing field `method`", &id),
        };
        match method {
            "SUBSCRIBE" => self.subscribe(&req, &id),
            "UNSUBSCRIBE" => self.unsubscribe(&req, &id),
            "LIST_SUBSCRIPTIONS" => {
                let names = self.streams.iter().map(|s| Value::from(s.to_string()));
                answer(Value::Array(names.collect()), &id)
            }
            "SET_PROPERTY" => self.set_property(&req, &id),
            "GET_PROPERTY" => match property(&req, &id) {
                Ok(_) => answer(Value::Bool(self.combined), &id),
                Err(e) => e,
            },
            other => invalid(
                &format!("unknown variant `{other}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"),
                &id,
            ),
        }
    }

    fn subscribe(&mut self, req: &Map<String, Value>, id: &Value) -> Outcome {
        let streams = match stream_params(req, id).and_then(|s| self.known(s, id)) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut after = self.streams.clone();
        for s in &streams {
            if !after.contains(s) {
                after.push(s.clone());
            }
        }
        let max = self.hub.config().max_streams;
        if after.len() > max {
            let msg = format!("too many streams: at most {max} per connection");
            let Outcome::Reply(reply) = invalid(&msg, id) else {
                unreachable!("invalid() replies")
            };
            return Outcome::Close(reply, msg);
        }
        self.add(&streams);
        answer(Value::Null, id)
    }

    fn unsubscribe(&mut self, req: &Map<String, Value>, id: &Value) -> Outcome {
        let streams = match stream_params(req, id) {
            Ok(s) => s,
            Err(e) => return e,
        };
        for s in &streams {
            if let Some(i) = self.streams.iter().position(|held| held == s) {
                self.streams.remove(i);
                self.hub.unsubscribe(s, self.listener.id);
            }
        }
        answer(Value::Null, id)
    }

    fn set_property(&mut self, req: &Map<String, Value>, id: &Value) -> Outcome {
        let params = match property(req, id) {
            Ok(p) => p,
            Err(e) => return e,
        };
        match params.get(1) {
            Some(Value::Bool(b)) if params.len() == 2 => {
                self.combined = *b;
                answer(Value::Null, id)
            }
            _ if params.len() > 2 => invalid("too many parameters", id),
            _ => failure(1, "Invalid value type: expected Boolean", Some(id)),
        }
    }

    /// The streams that name a market this server has (an unknown symbol
    /// would never carry anything: refused, so a typo is seen at once).
    fn known(&self, streams: Vec<Stream>, id: &Value) -> Result<Vec<Stream>, Outcome> {
        let view = self.state.read();
        match streams
            .iter()
            .find(|s| s.symbol().is_some_and(|sym| view.market(sym).is_none()))
        {
            Some(s) => Err(invalid(&format!("unknown symbol in stream `{s}`"), id)),
            None => Ok(streams),
        }
    }
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_u64(),
        Value::String(s) => s.len() <= MAX_STRING_ID,
        _ => false,
    }
}

/// `params` of SUBSCRIBE/UNSUBSCRIBE: an array of stream names.
fn stream_params(req: &Map<String, Value>, id: &Value) -> Result<Vec<Stream>, Outcome> {
    let Some(Value::Array(params)) = req.get("params") else {
        return Err(invalid("params must be an array of stream names", id));
    };
    params
        .iter()
        .map(|p| match p {
            // A listenKey is no market stream; its user data has a URL of
            // its own (trading's). The key is not echoed.
            Value::String(name) if flowex_http::listen_key::is_listen_key(name) => Err(invalid(
                "a listenKey is not a market stream: connect to /ws/<listenKey> for its user data",
                id,
            )),
            Value::String(name) => Stream::parse(name)
                .ok_or_else(|| invalid(&format!("unknown stream name `{name}`"), id)),
            _ => Err(invalid("stream names must be strings", id)),
        })
        .collect()
}

/// `params` of SET_PROPERTY/GET_PROPERTY, whose first item is `combined`.
fn property<'a>(req: &'a Map<String, Value>, id: &Value) -> Result<&'a [Value], Outcome> {
    let params = match req.get("params") {
        Some(Value::Array(p)) => p.as_slice(),
        _ => return Err(invalid("property name must be a string", id)),
    };
    match params.first() {
        Some(Value::String(name)) if name == "combined" => Ok(params),
        Some(Value::String(_)) => Err(failure(0, "Unknown property", Some(id))),
        _ => Err(invalid("property name must be a string", id)),
    }
}
