//! Signed requests and the session's logon.

use super::{Answer, Authed, Credential, Session};
use flowex_auth::signature::{check_timestamp, verify_signature, TimestampError};
use flowex_http::clock::now_ms;
use flowex_http::ApiError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The signature payload: every parameter but `signature`, sorted by name,
/// `k=v` joined by `&`; also its URL-encoded form (what ccxt signs: the
/// two differ only for values with reserved characters).
fn payloads(texts: &BTreeMap<String, String>) -> (String, String) {
    let mut raw = Vec::new();
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in texts.iter().filter(|(k, _)| k.as_str() != "signature") {
        raw.push(format!("{k}={v}"));
        encoded.append_pair(k, v);
    }
    (raw.join("&"), encoded.finish())
}

fn timestamp_error(e: TimestampError) -> ApiError {
    match e {
        TimestampError::Ahead => ApiError::timestamp_ahead(),
        TimestampError::Outside => ApiError::timestamp_outside_recv_window(),
        TimestampError::RecvWindowTooLarge => ApiError::binance(
            http::StatusCode::BAD_REQUEST,
            e.binance_code(),
            "invalid_recv_window",
            "recvWindow must be less than 60000",
        ),
    }
}

impl Session {
    /// A signed request's caller: the key must exist and admit this
    /// address, the HMAC must match and the timestamp be in its window.
    pub(super) async fn verify_signed(
        &self,
        texts: &BTreeMap<String, String>,
    ) -> Result<Authed, ApiError> {
        let api_key = texts
            .get("apiKey")
            .ok_or_else(|| ApiError::mandatory_param("apiKey"))?;
        let signature = texts
            .get("signature")
            .ok_or_else(|| ApiError::mandatory_param("signature"))?;
        let timestamp: u64 = texts
            .get("timestamp")
            .ok_or_else(|| ApiError::mandatory_param("timestamp"))?
            .parse()
            .map_err(|_| ApiError::invalid_parameter("timestamp"))?;
        let recv_window = texts
            .get("recvWindow")
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|_| ApiError::invalid_parameter("recvWindow"))?;
        let grant = self.api.credentials.api_key(api_key, Some(self.ip)).await?;
        let (raw, encoded) = payloads(texts);
        let secret = grant.secret.expose();
        if !verify_signature(secret, &raw, b"", signature)
            && !verify_signature(secret, &encoded, b"", signature)
        {
            flowex_metrics::signature_failure("bad_signature");
            return Err(ApiError::invalid_signature());
        }
        check_timestamp(timestamp, recv_window, now_ms()).map_err(|e| {
            flowex_metrics::signature_failure("bad_timestamp");
            timestamp_error(e)
        })?;
        Ok(Authed {
            identity: grant.identity,
            credential: Credential::Key(api_key.clone()),
            since: now_ms(),
        })
    }

    /// `session.logon`: an access token (`accessToken`) or a signed request.
    pub(super) async fn logon(&mut self, texts: &BTreeMap<String, String>) -> Answer {
        let authed = match texts.get("accessToken") {
            Some(token) => Authed {
                identity: self.api.credentials.bearer(token).await?,
                credential: Credential::Token(token.clone()),
                since: now_ms(),
            },
            None => self.verify_signed(texts).await?,
        };
        self.hold_user(authed.identity.user_id)?;
        self.logon = Some(authed);
        Ok(self.status())
    }

    /// Counts this connection among its user's (at most
    /// [`super::super::MAX_CONNECTIONS_PER_USER`]).
    pub(super) fn hold_user(&mut self, user: u64) -> Result<(), ApiError> {
        if self.users.contains_key(&user) {
            return Ok(());
        }
        let max = self.api.hub.limits().max_connections_per_user;
        let slot = self.api.hub.admit_user(user).ok_or_else(|| {
            ApiError::binance(
                http::StatusCode::TOO_MANY_REQUESTS,
                -1003,
                "too_many_connections",
                format!("Too many WebSocket API connections of this user: at most {max}."),
            )
        })?;
        self.users.insert(user, slot);
        Ok(())
    }

    /// `session.status` (and the answer of `logon` and `logout`).
    pub(super) fn status(&self) -> Value {
        let key = self.logon.as_ref().and_then(|a| match &a.credential {
            Credential::Key(k) => Some(k.clone()),
            Credential::Token(_) => None,
        });
        json!({
            "apiKey": key,
            "authorizedSince": self.logon.as_ref().map(|a| a.since),
            "connectedSince": self.connected_since,
            "returnRateLimits": true,
            "serverTime": now_ms(),
            "userDataStream": !self.subscriptions.is_empty(),
        })
    }

    /// Whether `a`'s credential still holds: `Err` only for a definite no
    /// (an outage of the auth service is not a revocation).
    async fn still_valid(&self, a: &Authed) -> Result<(), ApiError> {
        let checked = match &a.credential {
            Credential::Token(t) => self.api.credentials.bearer(t).await.map(|_| ()),
            Credential::Key(k) => self
                .api
                .credentials
                .api_key(k, Some(self.ip))
                .await
                .map(|_| ()),
        };
        match checked {
            Err(e) if !e.status().is_server_error() => Err(e),
            _ => Ok(()),
        }
    }

    /// Checks every credential of the connection again. On a revoked one:
    /// the `eventStreamTerminated` notes of its subscriptions and the
    /// close reason.
    pub async fn recheck(&mut self) -> Result<(), (Vec<String>, String)> {
        let mut revoked = self.logon.is_some()
            && match &self.logon {
                Some(a) => self.still_valid(a).await.is_err(),
                None => false,
            };
        for a in self.subscriptions.values() {
            if revoked {
                break;
            }
            revoked = self.still_valid(a).await.is_err();
        }
        if !revoked {
            return Ok(());
        }
        let notes = self.terminate_all();
        self.logon = None;
        Err((
            notes,
            "credentials revoked: the session ended or the API key was deleted".into(),
        ))
    }
}
