//! Opaque refresh tokens.
//!
//! A refresh token is `rt_` followed by 32 random bytes in unpadded base64url
//! (46 characters in all). It means nothing by itself: the server keeps only
//! its SHA-256 ([`NewRefreshToken::hash`], [`hash_refresh_token`]) and finds
//! the session by that hash. A plain, unsalted SHA-256 is the right tool
//! here: the input has 256 bits of entropy, so a stolen table of hashes can't
//! be brute-forced, and the lookup stays a single indexed equality.
//!
//! # Rotation and reuse detection (RFC 9700 §4.14.2), done by the service
//!
//! Each login starts a *family* (= a session, the `sid` of its access
//! tokens). Store rows `(hash, family_id, user_id, created_at, expires_at,
//! used_at, revoked_at)`. On `POST /refresh` with token `t`:
//!
//! 1. `h = hash_refresh_token(t)`; look up the row by `h`. None → 401.
//! 2. In one transaction, conditionally mark it used:
//!    `UPDATE … SET used_at = now WHERE hash = h AND used_at IS NULL AND
//!    revoked_at IS NULL AND expires_at > now`.
//! 3. If no row changed and the row was *already used* (or revoked), this is
//!    a replay of a rotated token: someone holds a copy. Revoke the whole
//!    family (every row with that `family_id`, and the session) and answer
//!    401; record it in the audit log.
//! 4. Otherwise issue a new refresh token ([`new_refresh_token`]) in the same
//!    family with the family's absolute expiry (do not extend it forever),
//!    and a new access token with the same `sid`.
//!
//! Logout and "revoke session" set `revoked_at` on the family. Password
//! change revokes every family of the user except, optionally, the current.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::random;
use crate::redact::Secret;

/// Prefix of every refresh token, so that one is recognisable in a leak scan
/// and can't be confused with another kind of credential.
pub const PREFIX: &str = "rt_";

/// A new refresh token: give `token` to the client once, store `hash`.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// The token for the client (`rt_…`).
    pub token: Secret<String>,
    /// SHA-256 of the token, the only thing the server stores.
    pub hash: [u8; 32],
}

/// Makes a new random refresh token and its hash.
pub fn new_refresh_token() -> NewRefreshToken {
    let bytes = Secret::new(random::bytes::<32>());
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes.expose()));
    let hash = hash_refresh_token(&token);
    NewRefreshToken {
        token: Secret::new(token),
        hash,
    }
}

/// SHA-256 of a refresh token as presented by a client, for the lookup.
pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` has the shape of one of our refresh tokens (prefix and
/// length). A cheap filter before the database lookup; not a validity check.
pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == PREFIX.len() + 43
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        let ta = a.token.expose();
        assert!(ta.starts_with("rt_"));
        assert_eq!(ta.len(), 46);
        assert!(looks_like_refresh_token(ta));
        assert_ne!(ta, b.token.expose());
        assert_eq!(hash_refresh_token(ta), a.hash);
        assert_ne!(a.hash, b.hash);
        assert!(!format!("{a:?}").contains(&ta[3..]));
        assert!(!looks_like_refresh_token("rt_short"));
        assert!(!looks_like_refresh_token(&ta.replacen("rt_", "xx_", 1)));
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hex::encode(hash_refresh_token("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
