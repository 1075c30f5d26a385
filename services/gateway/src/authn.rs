//! The authentication middleware: who is calling, and may they call this?
//!
//! See the crate docs for the request path; [`crate::routes::SECURITY`]
//! for the classes.

use crate::directory::{KeyDirectory, KeyRecord};
use crate::routes::{self, Security};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flowex_auth::signature::{check_timestamp, split_signature, verify_signature, TimestampError};
use flowex_auth::{apikey::is_valid_api_key_format, JwtError, Role, Verifier};
use flowex_http::{
    parse_session_id, strip_internal_headers, ApiError, ApiFamily, ClientIp, Identity, Params,
    RateLimitKey, SessionDirectory, Via,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// `X-MBX-APIKEY`.
pub const API_KEY_HEADER: &str = "x-mbx-apikey";

/// Request extension: the API key's owner is frozen. The gateway lets the
/// request through; services that place orders or withdraw refuse it.
/// (In one process only: it does not travel to other processes.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFrozen;

/// State of [`authenticate`].
#[derive(Clone)]
pub struct AuthState {
    verifier: Arc<Verifier>,
    directory: Arc<dyn KeyDirectory>,
    sessions: Arc<dyn SessionDirectory>,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("verifier", &self.verifier)
            .finish()
    }
}

use flowex_http::clock::now_ms;

impl AuthState {
    /// Verifies Bearer tokens with `verifier` and checks their session in
    /// `sessions`; looks keys up in `directory` (wrap it in a
    /// [`crate::CachedDirectory`]).
    pub fn new(
        verifier: Verifier,
        directory: Arc<dyn KeyDirectory>,
        sessions: Arc<dyn SessionDirectory>,
    ) -> Self {
        AuthState {
            verifier: Arc::new(verifier),
            directory,
            sessions,
            clock: Arc::new(now_ms),
        }
    }

    /// Replaces the clock (Unix ms) used for `timestamp` checks.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

/// Middleware: strips client-supplied internal headers, reads the body
/// (within the stack's body limit), authenticates the caller for the
/// route's [`Security`] class and inserts [`Identity`] and
/// [`RateLimitKey`] into the request extensions. Refusals are
/// [`ApiError`]s, rendered in the path's shape by the stack.
pub async fn authenticate(State(state): State<AuthState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    strip_internal_headers(&mut parts.headers);
    parts.extensions.remove::<Identity>();
    parts.extensions.remove::<RateLimitKey>();
    parts.extensions.remove::<AccountFrozen>();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return body_error(e).into_response(),
    };
    let class = routes::security(&parts.method, parts.uri.path());
    match identify(&state, &parts, &body, class).await {
        Ok(Some((identity, frozen))) => {
            tracing::Span::current().record("user_id", identity.user_id);
            parts
                .extensions
                .insert(RateLimitKey(identity.rate_limit_key()));
            parts.extensions.insert(identity);
            if frozen {
                parts.extensions.insert(AccountFrozen);
            }
        }
        Ok(None) => {}
        Err(refusal) => return refusal.into_response(),
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn body_error(e: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::payload_too_large();
        }
        source = err.source();
    }
    ApiError::invalid_data().with_detail(format!("reading the request body: {e}"))
}

/// An error plus, for Bearer failures, a `WWW-Authenticate` challenge.
struct Refusal {
    error: ApiError,
    challenge: Option<&'static str>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            challenge: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut res = self.error.into_response();
        if let Some(c) = self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        res
    }
}

type Outcome = Result<Option<(Identity, bool)>, Refusal>;

async fn identify(state: &AuthState, parts: &Parts, body: &Bytes, class: Security) -> Outcome {
    let family = ApiFamily::for_path(parts.uri.path());
    let bearer = bearer_token(parts);
    if class == Security::None {
        // Public: a valid token of a live session says who is asking,
        // anything else is ignored.
        let Some(token) = bearer else {
            return Ok(None);
        };
        return Ok(bearer_identity(state, token, family)
            .await
            .ok()
            .map(|i| (i, false)));
    }
    if let Some(token) = bearer {
        check_bearer_request(state, parts, body)?;
        let identity = bearer_identity(state, token, family).await?;
        if class == Security::Admin && !identity.is_admin() {
            return Err(ApiError::forbidden().into());
        }
        return Ok(Some((identity, false)));
    }
    let api_key = parts.headers.get(API_KEY_HEADER);
    if !class.accepts_api_key() || api_key.is_none() {
        return Err(match family {
            // Binance answers a signed endpoint without a key like a malformed key.
            ApiFamily::Binance if class.accepts_api_key() => ApiError::bad_api_key_format().into(),
            ApiFamily::Binance => ApiError::rejected_api_key().into(),
            ApiFamily::Native => Refusal {
                error: ApiError::unauthorized(),
                challenge: Some("Bearer"),
            },
        });
    }
    let key = api_key
        .and_then(|v| v.to_str().ok())
        .filter(|k| is_valid_api_key_format(k))
        .ok_or_else(ApiError::bad_api_key_format)?;
    let record = match state.directory.lookup(key).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(ApiError::rejected_api_key().into()),
        Err(e) => return Err(directory_down(e).into()),
    };
    let ip = client_ip(parts);
    if !ip.is_some_and(|ip| record.ip_allow.allows(ip)) {
        tracing::info!(key_id = record.key_id, ip = ?ip, "API key used from an address outside its allow-list");
        return Err(ApiError::rejected_api_key().into());
    }
    if let Some(needed) = class.permission() {
        if !record.permissions.contains(needed) {
            return Err(ApiError::rejected_api_key().into());
        }
    }
    if class.signed() {
        check_signed(state, parts, body, &record)?;
    }
    let identity = Identity {
        user_id: record.user_id,
        role: record.role,
        via: Via::ApiKey {
            key_id: record.key_id,
            permissions: record.permissions,
        },
    };
    Ok(Some((identity, record.frozen)))
}

/// The key directory (the auth service) did not answer: the gateway's 503
/// for a service it cannot reach (-1008 on `/api/v3`, `Retry-After`), the
/// cause in the log only.
fn directory_down(e: crate::error::GatewayError) -> ApiError {
    crate::proxy::service_unavailable(std::time::Duration::from_secs(1)).with_detail(e.to_string())
}

/// A Bearer request needs no key and no signature; one that carries them
/// anyway is refused rather than let through on the token alone, so a
/// request is never accepted while a credential in it is wrong (-2015, as
/// a refused key). A `timestamp` it sends is held to the same window as a
/// signed request's: a value that would be refused there is not ignored.
fn check_bearer_request(state: &AuthState, parts: &Parts, body: &Bytes) -> Result<(), ApiError> {
    let params = Params::parse(
        parts.uri.query().unwrap_or(""),
        body.clone(),
        is_form(parts, body.len()),
    )
    .ok();
    let signature = params
        .as_ref()
        .is_some_and(|p| p.get("signature").is_some());
    if parts.headers.contains_key(API_KEY_HEADER) || signature {
        return Err(ApiError::rejected_api_key()
            .with_detail("a Bearer token together with an API key or a signature"));
    }
    let Some(ts) = params.as_ref().and_then(|p| p.get("timestamp")) else {
        return Ok(());
    };
    let ts: u64 = ts
        .parse()
        .map_err(|_| ApiError::invalid_parameter("timestamp"))?;
    let recv_window = match params.as_ref().and_then(|p| p.get("recvWindow")) {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::invalid_parameter("recvWindow"))?,
        ),
    };
    check_timestamp(ts, recv_window, (state.clock)()).map_err(timestamp_error)
}

fn timestamp_error(e: TimestampError) -> ApiError {
    match e {
        TimestampError::Ahead => ApiError::timestamp_ahead(),
        TimestampError::Outside => ApiError::timestamp_outside_recv_window(),
        TimestampError::RecvWindowTooLarge => ApiError::binance(
            StatusCode::BAD_REQUEST,
            e.binance_code(),
            "invalid_recv_window",
            "recvWindow must be less than 60000",
        ),
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The identity of a Bearer token whose signature, claims and session all
/// hold. The role is `admin` only if the token and the database both say so.
async fn bearer_identity(
    state: &AuthState,
    token: &str,
    family: ApiFamily,
) -> Result<Identity, Refusal> {
    let claims = state
        .verifier
        .verify(token)
        .map_err(|e| token_refusal(family, Some(e)))?;
    let sid = parse_session_id(&claims.sid).ok_or_else(|| token_refusal(family, None))?;
    let mut identity = session_identity(claims).ok_or_else(|| token_refusal(family, None))?;
    let status = state.sessions.session(sid).await.map_err(Refusal::from)?;
    match status {
        Some(s) if s.live && s.user_id == identity.user_id => {
            if !s.role.is_admin() {
                identity.role = Role::User;
            }
            Ok(identity)
        }
        _ => Err(session_ended(family)),
    }
}

/// A token of a session that was logged out, revoked or ended by a
/// password change: 401 `session_revoked` (`/api/v3`: -2015, like any
/// refused credential).
fn session_ended(family: ApiFamily) -> Refusal {
    let error = match family {
        ApiFamily::Binance => ApiError::rejected_api_key(),
        ApiFamily::Native => ApiError::native(
            StatusCode::UNAUTHORIZED,
            "session_revoked",
            "This session has ended. Log in again.",
        ),
    };
    Refusal {
        error: error.with_detail("bearer token of an ended session"),
        challenge: Some("Bearer error=\"invalid_token\", error_description=\"session ended\""),
    }
}

fn session_identity(claims: flowex_auth::AccessClaims) -> Option<Identity> {
    Some(Identity {
        user_id: claims.sub.parse().ok()?,
        role: claims.role,
        via: Via::Session {
            session_id: claims.sid,
        },
    })
}

fn token_refusal(family: ApiFamily, err: Option<JwtError>) -> Refusal {
    let expired = err == Some(JwtError::Expired);
    let error = match family {
        ApiFamily::Binance => ApiError::rejected_api_key(),
        ApiFamily::Native if expired => ApiError::native(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "The access token has expired; refresh it.",
        ),
        ApiFamily::Native => ApiError::unauthorized(),
    };
    Refusal {
        error: error.with_detail(format!("bearer token refused: {err:?}")),
        challenge: Some(if expired {
            "Bearer error=\"invalid_token\", error_description=\"expired\""
        } else {
            "Bearer error=\"invalid_token\""
        }),
    }
}

fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientIp>().map(|c| c.0).or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    })
}

fn is_form(parts: &Parts, body_len: usize) -> bool {
    match parts.headers.get(header::CONTENT_TYPE) {
        Some(ct) => ct.to_str().is_ok_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }),
        None => body_len > 0,
    }
}

/// Binance's SIGNED check: HMAC-SHA256 of the raw query (without
/// `signature`) followed by the raw body, then `timestamp`/`recvWindow`.
fn check_signed(
    state: &AuthState,
    parts: &Parts,
    body: &Bytes,
    record: &KeyRecord,
) -> Result<(), ApiError> {
    let query = parts.uri.query().unwrap_or("");
    let form = is_form(parts, body.len());
    // Decoding also refuses malformed (-1100) and duplicate (-1101)
    // parameters. A JSON body (binance-connector sends an empty one with
    // `Content-Type: application/json`) is not read as parameters.
    let params = Params::parse(query, body.clone(), form)?;
    let timestamp: u64 = params
        .get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::mandatory_param("timestamp"))?;
    let recv_window: Option<u64> = match params.get("recvWindow") {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::invalid_parameter("recvWindow"))?,
        ),
    };
    let secret = record.secret.expose();
    let verified = if let Some((rest, sig)) = split_signature(query) {
        verify_signature(secret, &rest, body, &sig)
    } else if let Some((rest, sig)) = form
        .then(|| std::str::from_utf8(body).ok())
        .flatten()
        .and_then(split_signature)
    {
        verify_signature(secret, query, rest.as_bytes(), &sig)
    } else if params.get("signature").is_some() {
        // Sent, but empty or twice.
        false
    } else {
        return Err(ApiError::mandatory_param("signature"));
    };
    if !verified {
        flowex_metrics::signature_failure("bad_signature");
        return Err(ApiError::invalid_signature());
    }
    check_timestamp(timestamp, recv_window, (state.clock)()).map_err(|e| {
        flowex_metrics::signature_failure("bad_timestamp");
        timestamp_error(e)
    })
}

/// The WebSocket API's questions, answered by the same checks as a
/// request's: a Bearer token's session must be live, a key must exist and
/// admit the caller's address.
impl flowex_http::Credentials for AuthState {
    fn bearer<'a>(
        &'a self,
        token: &'a str,
    ) -> flowex_http::session::BoxFuture<'a, Result<Identity, ApiError>> {
        Box::pin(async move {
            bearer_identity(self, token, ApiFamily::Binance)
                .await
                .map_err(|r| r.error)
        })
    }

    fn api_key<'a>(
        &'a self,
        api_key: &'a str,
        ip: Option<IpAddr>,
    ) -> flowex_http::session::BoxFuture<'a, Result<flowex_http::ApiKeyGrant, ApiError>> {
        Box::pin(async move {
            if !is_valid_api_key_format(api_key) {
                return Err(ApiError::bad_api_key_format());
            }
            let record = match self.directory.lookup(api_key).await {
                Ok(Some(r)) => r,
                Ok(None) => return Err(ApiError::rejected_api_key()),
                Err(e) => return Err(directory_down(e)),
            };
            if !ip.is_some_and(|ip| record.ip_allow.allows(ip)) {
                return Err(ApiError::rejected_api_key());
            }
            Ok(flowex_http::ApiKeyGrant {
                identity: Identity {
                    user_id: record.user_id,
                    role: record.role,
                    via: Via::ApiKey {
                        key_id: record.key_id,
                        permissions: record.permissions,
                    },
                },
                frozen: record.frozen,
                secret: record.secret,
            })
        })
    }
}
