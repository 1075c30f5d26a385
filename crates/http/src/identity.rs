//! Who is calling, as established by the gateway, and the internal channel
//! that carries it to the services.
//!
//! The gateway authenticates every request (a Bearer access token or a
//! signed API-key request) and attaches an [`Identity`]. In one process
//! (`flowex up`) it is a request extension. Between processes it travels in
//! the `X-FlowEx-Identity` header, next to the shared internal token in
//! `X-FlowEx-Internal-Token`; a service trusts the identity header only
//! after [`internal_channel`] has checked that token, and the gateway
//! strips both headers from every client request ([`strip_internal_headers`]),
//! so a client can never claim an identity by sending the header itself.

use crate::error::{ApiError, ApiFamily};
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use flowex_auth::{Permissions, Role};
use http::request::Parts;
use http::HeaderMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Header carrying the shared internal token between FlowEx processes.
pub const INTERNAL_TOKEN_HEADER: &str = "x-flowex-internal-token";
/// Header carrying the caller's [`Identity`] between FlowEx processes.
pub const IDENTITY_HEADER: &str = "x-flowex-identity";

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A Bearer access token of a login session.
    Session {
        /// The session (refresh-token family) the access token belongs to.
        session_id: String,
    },
    /// A signed request with an API key.
    ApiKey {
        /// The key's id in the store.
        key_id: u64,
        /// What the key may do.
        permissions: Permissions,
    },
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user acting.
    pub user_id: u64,
    /// Their role (admin routes need `Admin`).
    pub role: Role,
    /// How they proved it.
    pub via: Via,
}

impl Identity {
    /// Whether the caller has the admin role.
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }

    /// Whether the caller may do what `needed` names. A login session acts
    /// with every permission of its user (withdrawals still ask for 2FA);
    /// an API key only with those it was given.
    pub fn permits(&self, needed: Permissions) -> bool {
        match &self.via {
            Via::Session { .. } => true,
            Via::ApiKey { permissions, .. } => permissions.contains(needed),
        }
    }

    /// The key per-user rate limits count against.
    pub fn rate_limit_key(&self) -> String {
        match &self.via {
            Via::Session { .. } => format!("user:{}", self.user_id),
            Via::ApiKey { key_id, .. } => format!("key:{key_id}"),
        }
    }

    /// Compact header form: `user=7;role=admin;session=abc` or `user=7;role=user;key=3;perms=READ,TRADE`.
    pub fn to_header(&self) -> String {
        let head = format!("user={};role={}", self.user_id, self.role.as_str());
        match &self.via {
            Via::Session { session_id } => format!("{head};session={session_id}"),
            Via::ApiKey {
                key_id,
                permissions,
            } => format!("{head};key={key_id};perms={permissions}"),
        }
    }

    /// Parses [`Identity::to_header`]; `None` for anything else.
    pub fn from_header(value: &str) -> Option<Identity> {
        let mut fields = std::collections::BTreeMap::new();
        for part in value.split(';') {
            let (k, v) = part.split_once('=')?;
            if fields.insert(k, v).is_some() {
                return None;
            }
        }
        let user_id = fields.get("user")?.parse().ok()?;
        let role = fields.get("role")?.parse().ok()?;
        let via = match (
            fields.get("session"),
            fields.get("key"),
            fields.get("perms"),
        ) {
            (Some(s), None, None) if !s.is_empty() => Via::Session {
                session_id: (*s).to_string(),
            },
            (None, Some(k), Some(p)) => Via::ApiKey {
                key_id: k.parse().ok()?,
                permissions: p.parse().ok()?,
            },
            _ => return None,
        };
        Some(Identity { user_id, role, via })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            ApiError::unauthorized().into_response_for(ApiFamily::for_path(parts.uri.path()))
        })
    }
}

/// An optional caller: public endpoints that say more to a signed-in user.
pub struct MaybeIdentity(pub Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdentity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeIdentity(parts.extensions.get::<Identity>().cloned()))
    }
}

/// The shared secret of the internal channel.
#[derive(Clone)]
pub struct InternalToken(Arc<str>);

impl InternalToken {
    /// Wraps the configured token.
    pub fn new(token: &str) -> Self {
        InternalToken(token.into())
    }

    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }

    /// Adds the token, the identity (if any) and the current trace context
    /// ([`crate::trace_context::inject`]) to a request going to a service.
    pub fn stamp(&self, headers: &mut HeaderMap, identity: Option<&Identity>) {
        strip_internal_headers(headers);
        crate::trace_context::inject(headers);
        if let Ok(v) = self.0.parse() {
            headers.insert(INTERNAL_TOKEN_HEADER, v);
        }
        if let Some(v) = identity.and_then(|i| i.to_header().parse().ok()) {
            headers.insert(IDENTITY_HEADER, v);
        }
    }
}

/// Removes every header of the internal channel a client may have sent.
pub fn strip_internal_headers(headers: &mut HeaderMap) {
    headers.remove(INTERNAL_TOKEN_HEADER);
    headers.remove(IDENTITY_HEADER);
}

/// Middleware of a service running behind the gateway: refuses any request
/// without the internal token (401, constant-time compare), then turns the
/// identity header into an [`Identity`] extension.
pub async fn internal_channel(
    State(token): State<InternalToken>,
    mut req: Request,
    next: Next,
) -> Response {
    let family = ApiFamily::for_path(req.uri().path());
    let presented = req
        .headers()
        .get(INTERNAL_TOKEN_HEADER)
        .map(|v| v.as_bytes().to_vec());
    if !presented.is_some_and(|p| token.matches(&p)) {
        tracing::warn!(
            path = req.uri().path(),
            "request without a valid internal token refused"
        );
        return ApiError::unauthorized().into_response_for(family);
    }
    let identity = match req.headers().get(IDENTITY_HEADER) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(Identity::from_header) {
            Some(i) => Some(i),
            None => return ApiError::unauthorized().into_response_for(family),
        },
    };
    strip_internal_headers(req.headers_mut());
    req.extensions_mut().remove::<Identity>();
    if let Some(i) = identity {
        // The request span (request_id) declares `user_id`: every later
        // log line of this request names the caller.
        tracing::Span::current().record("user_id", i.user_id);
        req.extensions_mut().insert(i);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_identity() -> Identity {
        Identity {
            user_id: 7,
            role: Role::User,
            via: Via::ApiKey {
                key_id: 3,
                permissions: Permissions::DEFAULT,
            },
        }
    }

    #[test]
    fn header_round_trips_and_refuses_junk() {
        let session = Identity {
            user_id: 9,
            role: Role::Admin,
            via: Via::Session {
                session_id: "s1".into(),
            },
        };
        for i in [key_identity(), session] {
            assert_eq!(Identity::from_header(&i.to_header()), Some(i));
        }
        for bad in [
            "",
            "user=7",
            "user=x;role=user;session=a",
            "user=7;role=root;session=a",
            "user=7;role=user;session=a;key=1;perms=READ",
            "user=7;user=8;role=user;session=a",
            "user=7;role=user;session=",
        ] {
            assert_eq!(Identity::from_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn permissions_of_keys_and_sessions() {
        let key = key_identity();
        assert!(key.permits(Permissions::TRADE) && !key.permits(Permissions::WITHDRAW));
        let session = Identity {
            via: Via::Session {
                session_id: "s".into(),
            },
            ..key.clone()
        };
        assert!(session.permits(Permissions::WITHDRAW));
        assert_ne!(key.rate_limit_key(), session.rate_limit_key());
    }
}
