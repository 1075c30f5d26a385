//! Extractors: the client's IP and Binance-style parameters.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The client's IP address.
///
/// The TCP peer, unless the peer is a trusted proxy (configured in
/// `server.trusted_proxies`): then the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy. A client can put
/// anything in that header, so only addresses appended by our own proxies
/// are believed.
///
/// The [`client_ip`] middleware (in [`crate::stack`]) computes it once per
/// request; the extractor reads it, falling back to the TCP peer. The
/// server must be started with connect info (see [`crate::serve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpNet>>);

impl TrustedProxies {
    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client IP for a TCP peer and the `X-Forwarded-For` values.
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.contains(&peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let hop = hop.trim();
            let ip = hop
                .parse::<IpAddr>()
                .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()));
            match ip {
                Ok(ip) => {
                    client = ip;
                    if !self.contains(&ip) {
                        break;
                    }
                }
                // A malformed hop: nothing left of it can be trusted.
                Err(_) => break,
            }
        }
        client
    }
}

fn peer_ip(parts_ext: &http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// Middleware: computes [`ClientIp`] and stores it in the request
/// extensions (for the rate limiter, the extractor and the audit log).
pub async fn client_ip(
    State(trusted): State<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(peer) = peer_ip(req.extensions()) {
        let ip = trusted.resolve(
            peer,
            req.headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        peer_ip(&parts.extensions).map(ClientIp).ok_or_else(|| {
            ApiError::internal("no client address: serve with into_make_service_with_connect_info")
        })
    }
}

/// Most parameters a request may carry.
pub const MAX_PARAMS: usize = 100;

/// Binance-style request parameters.
///
/// Parameters come from the query string and, for
/// `application/x-www-form-urlencoded` bodies (or a non-empty body without
/// a content type), from the body; the query wins when a name is in both.
/// Any other body (binance-connector sends `Content-Type: application/json`
/// with an empty body) is not parsed. A name twice in the query (or twice
/// in the body) is refused with -1101 "Duplicate values for a parameter
/// detected.", like Binance.
///
/// The raw query string and raw body bytes are kept exactly as received,
/// for HMAC signature verification ([`Params::signature_payload`]).
///
/// Getters mark parameters as read, so a handler can refuse unknown extra
/// parameters with -1104 ([`Params::ensure_all_read`]).
#[derive(Debug)]
pub struct Params {
    raw_query: String,
    raw_body: Bytes,
    pairs: Vec<(String, String)>,
    read: Vec<AtomicBool>,
}

impl Params {
    /// Parses parameters from a raw query string and body. `form_body`
    /// says whether the body is form data.
    pub fn parse(raw_query: &str, raw_body: Bytes, form_body: bool) -> Result<Params, ApiError> {
        let mut pairs = decode_form(raw_query.as_bytes())?;
        if has_duplicates(&pairs) {
            return Err(ApiError::duplicate_parameter());
        }
        if form_body && !raw_body.is_empty() {
            let body_pairs = decode_form(&raw_body)?;
            if has_duplicates(&body_pairs) {
                return Err(ApiError::duplicate_parameter());
            }
            for (k, v) in body_pairs {
                if !pairs.iter().any(|(q, _)| *q == k) {
                    pairs.push((k, v));
                }
            }
        }
        if pairs.len() > MAX_PARAMS {
            return Err(ApiError::too_many_parameters());
        }
        let read = pairs.iter().map(|_| AtomicBool::new(false)).collect();
        Ok(Params {
            raw_query: raw_query.to_string(),
            raw_body,
            pairs,
            read,
        })
    }

    /// The query string exactly as received (percent-encoding intact).
    pub fn raw_query(&self) -> &str {
        &self.raw_query
    }

    /// The body exactly as received.
    pub fn raw_body(&self) -> &Bytes {
        &self.raw_body
    }

    /// What Binance signs: the raw query string without its `signature`
    /// parameter, immediately followed by the raw body without its
    /// `signature` parameter. Nothing is re-encoded or reordered.
    pub fn signature_payload(&self) -> Vec<u8> {
        let mut out = strip_param(self.raw_query.as_bytes(), b"signature");
        out.extend_from_slice(&strip_param(&self.raw_body, b"signature"));
        out
    }

    /// All decoded `(name, value)` pairs, query first.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// No parameters at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// A parameter's value, marking it read.
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.pairs.iter().position(|(k, _)| k == name)?;
        self.read[i].store(true, Ordering::Relaxed);
        Some(&self.pairs[i].1)
    }

    /// A mandatory parameter: -1102 if missing or empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::mandatory_param(name)),
        }
    }

    /// An optional parameter: `None` if missing, -1105 if sent empty.
    pub fn optional(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            Some("") => Err(ApiError::param_empty(name)),
            v => Ok(v),
        }
    }

    /// A mandatory parameter parsed with `FromStr`: -1102 if missing,
    /// -1130 if it does not parse.
    pub fn parse_required<T: std::str::FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.required(name)?
            .parse()
            .map_err(|_| ApiError::invalid_parameter(name))
    }

    /// An optional parameter parsed with `FromStr`.
    pub fn parse_optional<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.optional(name)?
            .map(|v| v.parse().map_err(|_| ApiError::invalid_parameter(name)))
            .transpose()
    }

    /// An optional id ([`crate::ids`]): -1130 naming it unless it is a
    /// decimal number from 0 to 2^63 − 1, -1105 if sent empty.
    pub fn id(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.optional(name)?
            .map(|v| crate::ids::parse_id(v).ok_or_else(|| ApiError::invalid_parameter(name)))
            .transpose()
    }

    /// -1104 unless every parameter was read by a getter (call at the end
    /// of a handler that wants Binance's strictness).
    pub fn ensure_all_read(&self) -> Result<(), ApiError> {
        let read = self
            .read
            .iter()
            .filter(|r| r.load(Ordering::Relaxed))
            .count();
        if read == self.pairs.len() {
            Ok(())
        } else {
            Err(ApiError::unread_parameters(read, self.pairs.len()))
        }
    }

    /// Deserialises all parameters into `T` (numbers and booleans are
    /// parsed from their text, as in a form). A missing field gives -1102
    /// naming it; a bad value gives -1130 naming it. Marks all read.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        for r in &self.read {
            r.store(true, Ordering::Relaxed);
        }
        let encoded =
            serde_urlencoded::to_string(&self.pairs).map_err(|_| ApiError::invalid_data())?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            if let Some(field) = msg
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                ApiError::mandatory_param(field)
            } else if path == "." || path.is_empty() {
                ApiError::invalid_data()
            } else {
                ApiError::invalid_parameter(&path)
            }
        })
    }
}

fn has_duplicates(pairs: &[(String, String)]) -> bool {
    pairs
        .iter()
        .enumerate()
        .any(|(i, (k, _))| pairs[..i].iter().any(|(p, _)| p == k))
}

/// Strict `application/x-www-form-urlencoded` decoding: `+` is a space,
/// `%XX` must be two hex digits, the result must be UTF-8 without control
/// characters, and names must not be empty. Empty segments (`a=1&&b=2`)
/// are skipped; a name without `=` has an empty value.
fn decode_form(raw: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for segment in raw.split(|b| *b == b'&') {
        if segment.is_empty() {
            continue;
        }
        if out.len() >= MAX_PARAMS * 2 {
            return Err(ApiError::too_many_parameters());
        }
        let (k, v) = match segment.iter().position(|b| *b == b'=') {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &b""[..]),
        };
        let name = decode_component(k).ok_or_else(ApiError::illegal_chars)?;
        if name.is_empty() {
            return Err(ApiError::illegal_chars());
        }
        let value = decode_component(v)
            .ok_or_else(|| ApiError::illegal_chars_in(&name, "printable UTF-8"))?;
        out.push((name, value));
    }
    Ok(out)
}

fn decode_component(raw: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                bytes.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    let s = String::from_utf8(bytes).ok()?;
    if s.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(s)
}

/// Removes every `name=...` pair from a raw form string, keeping all other
/// bytes as they were.
fn strip_param(raw: &[u8], name: &[u8]) -> Vec<u8> {
    if raw.is_empty() {
        return Vec::new();
    }
    let kept: Vec<&[u8]> = raw
        .split(|b| *b == b'&')
        .filter(|seg| {
            let key = seg.split(|b| *b == b'=').next().unwrap_or(seg);
            key != name
        })
        .collect();
    kept.join(&b'&')
}

fn is_form(parts: &Parts, body_len: usize) -> bool {
    match parts.headers.get(header::CONTENT_TYPE) {
        Some(ct) => ct
            .to_str()
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
            .unwrap_or(false),
        None => body_len > 0,
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let raw_query = parts.uri.query().unwrap_or("").to_string();
        let req = Request::from_parts(parts.clone(), body);
        let raw_body = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::invalid_data().with_detail(rej.body_text())
            }
        })?;
        let form = is_form(&parts, raw_body.len());
        Params::parse(&raw_query, raw_body, form)
    }
}

/// [`Params`] deserialised into `T` (see [`Params::deserialize`]), with the
/// raw parameters kept alongside.
#[derive(Debug)]
pub struct TypedParams<T> {
    /// The typed parameters.
    pub value: T,
    /// The raw parameters (for signatures, unread checks).
    pub params: Params,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for TypedParams<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let params = Params::from_request(req, state).await?;
        let value = params.deserialize()?;
        Ok(TypedParams { value, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str, body: &str) -> Result<Params, ApiError> {
        Params::parse(q, Bytes::from(body.to_string()), true)
    }

    #[test]
    fn decoding_rules() {
        let x = p("a=1&b=x+y%21&c", "").unwrap();
        assert_eq!(x.get("b"), Some("x y!"));
        assert_eq!(x.get("c"), Some(""));
        assert_eq!(p("a=%zz", "").unwrap_err().binance_code(), -1100);
        assert_eq!(p("a=%ff", "").unwrap_err().binance_code(), -1100);
        assert_eq!(p("a=%0a", "").unwrap_err().binance_code(), -1100);
        assert_eq!(p("=1", "").unwrap_err().binance_code(), -1100);
        assert_eq!(p("a=1&a=2", "").unwrap_err().binance_code(), -1101);
        assert_eq!(p("", "a=1&a=2").unwrap_err().binance_code(), -1101);
        let x = p("a=1", "a=2&b=3").unwrap();
        assert_eq!(x.get("a"), Some("1"));
        assert_eq!(x.get("b"), Some("3"));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(p(&many.join("&"), "").unwrap_err().binance_code(), -1101);
    }

    #[test]
    fn signature_payload_strips_only_signature() {
        let x = p("symbol=LTCBTC&timestamp=1&signature=abc", "").unwrap();
        assert_eq!(x.signature_payload(), b"symbol=LTCBTC&timestamp=1");
        let x = p("symbol=LTCBTC", "quantity=1&signature=abc").unwrap();
        assert_eq!(x.signature_payload(), b"symbol=LTCBTCquantity=1");
        let x = p("signature=abc&symbol=%41", "").unwrap();
        assert_eq!(x.signature_payload(), b"symbol=%41");
    }

    #[test]
    fn xff_only_from_trusted_proxies() {
        let t = TrustedProxies(Arc::new(vec!["10.0.0.0/8".parse().unwrap()]));
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        // Untrusted peer: header ignored.
        assert_eq!(t.resolve(client, ["1.2.3.4"].into_iter()), client);
        // Trusted peer: right-most untrusted hop.
        assert_eq!(
            t.resolve(proxy, ["6.6.6.6, 203.0.113.7, 10.0.0.9"].into_iter()),
            client
        );
        // Malformed hop stops the walk at the last good one.
        assert_eq!(t.resolve(proxy, ["garbage"].into_iter()), proxy);
        // No header: the proxy itself.
        assert_eq!(t.resolve(proxy, std::iter::empty()), proxy);
    }
}
