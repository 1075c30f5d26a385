//! Turning `Authorization: Bearer <access token>` into an [`Identity`].
//!
//! The gateway authenticates requests and hands services an [`Identity`];
//! this is the Bearer half of that, small enough to reuse: the auth
//! service's tests put it in front of [`crate::router`], and the gateway
//! can use [`identity_from_bearer`] (or the middleware) with a
//! [`Verifier`] built from the public key alone.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use flowex_auth::{JwtError, Verifier};
use flowex_http::{ApiError, ApiFamily, Identity, Via};

/// The identity in a verified access token: `sub` as the user id, `role`,
/// and `sid` as the session. `Err` for anything that does not verify
/// (expired, wrong signature, `alg` other than EdDSA, wrong `iss`/`aud`,
/// malformed) or a `sub` that is not a user id.
pub fn identity_from_bearer(verifier: &Verifier, token: &str) -> Result<Identity, JwtError> {
    let claims = verifier.verify(token)?;
    let user_id =
        crate::error::parse_id(&claims.sub).ok_or(JwtError::Malformed("sub is not a user id"))?;
    Ok(Identity {
        user_id,
        role: claims.role,
        via: Via::Session {
            session_id: claims.sid,
        },
    })
}

/// 401 `invalid_token` with `WWW-Authenticate: Bearer error="invalid_token"`
/// (RFC 6750), in the shape of the request's API family.
pub fn invalid_token_response(family: ApiFamily) -> Response {
    let mut res = ApiError::native(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "The access token is invalid or has expired.",
    )
    .into_response_for(family);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    res
}

/// Middleware: a request with `Authorization: Bearer …` gets the token's
/// [`Identity`] as an extension, or 401 `invalid_token` if the token does
/// not verify. Without the header the request passes unchanged (protected
/// handlers then answer 401 `unauthorized`). Any `Identity` already on the
/// request is dropped first.
pub async fn bearer_identity(
    State(verifier): State<Arc<Verifier>>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().remove::<Identity>();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .map(str::to_string);
    if let Some(token) = token {
        match identity_from_bearer(&verifier, &token) {
            Ok(identity) => {
                req.extensions_mut().insert(identity);
            }
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused");
                return invalid_token_response(ApiFamily::for_path(req.uri().path()));
            }
        }
    }
    next.run(req).await
}
