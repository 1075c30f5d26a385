//! The credentials check of a WebSocket API request, as a seam.
//!
//! HTTP requests are authenticated by the gateway before any service sees
//! them. A WebSocket API connection authenticates *inside* the protocol
//! (`session.logon`, signed requests), after the upgrade, so the service
//! that serves it (trading) asks the same guard through [`Credentials`]:
//! the gateway's authenticator implements it, in process in `flowex up`,
//! and over the auth service's internal API in distributed mode. A token
//! passes only if its session is live, exactly like a Bearer request; a
//! key only from an address its allow-list admits.

use crate::error::ApiError;
use crate::identity::Identity;
use crate::session::BoxFuture;
use flowex_auth::Secret;
use std::net::IpAddr;

/// An API key that may be used from the caller's address: who owns it,
/// what it may do (in [`Identity::via`]) and the secret its requests are
/// signed with.
#[derive(Debug, Clone)]
pub struct ApiKeyGrant {
    /// The owner, with the key's permissions.
    pub identity: Identity,
    /// The owner's account is frozen (the engine refuses its orders).
    pub frozen: bool,
    /// The HMAC secret its requests are signed with.
    pub secret: Secret<String>,
}

/// What a WebSocket API connection asks the edge's guard.
pub trait Credentials: Send + Sync + 'static {
    /// The identity of an access token whose signature, claims and
    /// session hold (-2015 otherwise).
    fn bearer<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Identity, ApiError>>;

    /// The key `api_key` as usable from `ip`: -2014 for a malformed key,
    /// -2015 for an unknown one or an address outside its allow-list.
    fn api_key<'a>(
        &'a self,
        api_key: &'a str,
        ip: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<ApiKeyGrant, ApiError>>;
}
