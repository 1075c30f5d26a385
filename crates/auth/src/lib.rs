//! FlowEx security primitives.
//!
//! Pure functions and small types: no HTTP, no database, no async, no global
//! state beyond a few lazily built constants. Services (auth, gateway) put
//! them together with storage and routing; everything here is testable
//! alone. All randomness comes from the operating system's generator
//! (`getrandom`); a failure of that generator panics, since no safe fallback
//! exists.
//!
//! | module | what | parameters |
//! | --- | --- | --- |
//! | [`password`] | Argon2id hashing, registration policy | m=19456 KiB, t=2, p=1, 16-byte salt, 32-byte hash, PHC string; 10–128 characters, not the e-mail, not a common password |
//! | [`jwt`] | access tokens | Ed25519 (`EdDSA`) only, ttl ≤ 15 min, leeway ≤ 30 s, `iss`/`aud`/`sub`/`exp`/`nbf`/`iat`/`jti`/`role`/`sid` |
//! | [`refresh`] | opaque refresh tokens | `rt_` + 32 random bytes base64url; stored as SHA-256; rotation and reuse detection per RFC 9700 |
//! | [`totp`] | 2FA | RFC 6238, HMAC-SHA1, 6 digits, 30 s, ±1 step, replay refused; 10 backup codes of 80 bits |
//! | [`apikey`] | API keys, secrets at rest | 64+64 alphanumerics; AES-256-GCM, 96-bit random nonce, AAD = API key |
//! | [`signature`] | Binance request signing | HMAC-SHA256 hex over raw query ‖ raw body; recvWindow 5000 default, 60000 max, +1000 ms ahead |
//! | [`permissions`] | authorization data | `READ`/`TRADE`/`WITHDRAW`, `user`/`admin`, CIDR allow-lists |
//! | [`redact`] | keeping secrets out of logs | [`redact::Secret`] prints `[redacted]` and zeroes on drop |
//!
//! # A tour for newcomers
//!
//! **Passwords.** Never stored; only an Argon2id hash, a deliberately slow
//! and memory-hungry function, so that a stolen table costs an attacker
//! ~20 ms and 19 MiB per guess per account. The PHC string keeps the
//! algorithm, parameters and salt next to the hash, so parameters can be
//! raised later ([`password::needs_rehash`]).
//!
//! **Access tokens** are JWTs any service can check with the public key
//! alone. The signature algorithm is fixed by the verifier, never taken from
//! the token: that closes `alg: none` and the HS256/public-key confusion.
//! They live 15 minutes at most because they can't be recalled.
//!
//! **Refresh tokens** are random strings the server looks up (by hash). They
//! are single-use: each refresh returns a new one, and presenting an old one
//! again means it was stolen, so the whole session is revoked.
//!
//! **TOTP** is the 6-digit code of authenticator apps: HMAC of the number of
//! 30-second steps since 1970 under a shared secret. We accept the previous
//! and next step for clock drift and never the same step twice.
//!
//! **API keys** follow Binance: the client signs each request with the
//! secret (HMAC-SHA256) and sends a timestamp; the server recomputes the
//! HMAC over the exact bytes it received and refuses stale requests. The
//! server must therefore be able to read the secret, so it is stored
//! encrypted (AES-256-GCM), bound to its key id.
//!
//! # Errors and HTTP statuses (for service authors)
//!
//! | error | meaning | status / code |
//! | --- | --- | --- |
//! | [`password::PolicyError`] | password refused at registration | 400, message shown to the user |
//! | `verify_password == false` | wrong e-mail or password | 401, one message for both |
//! | [`jwt::JwtError`] from `verify` | any bad token | 401 (`WWW-Authenticate: Bearer`); on `/api/v3`: -2015 or -1002 |
//! | [`jwt::JwtError::InvalidKey`] / `InvalidTtl` at startup | configuration | fail to start |
//! | [`totp::TotpError::Malformed`] | not 6 digits | 400 |
//! | [`totp::TotpError::WrongCode`] / `Replayed` | bad 2FA code | 401 (count toward lockout) |
//! | [`apikey::SealError::Open`] | stored secret unreadable (wrong server key) | 500, alert: never the client's fault |
//! | `is_valid_api_key_format == false` | malformed `X-MBX-APIKEY` | 401, Binance -2014 |
//! | `verify_signature == false` / no signature | bad signature | 400, Binance -1022 |
//! | [`signature::TimestampError`] | stale / future timestamp, recvWindow > 60000 | 400, -1021 / -1131 ([`signature::TimestampError::binance_code`]) |
//! | missing permission, IP not in [`permissions::IpAllowList`] | | 401, Binance -2015; 403 for a user lacking `admin` |
//! | [`permissions::IpListError`], [`permissions::UnknownPermission`] | bad input when creating a key | 400 |
//!
//! # Backend note
//!
//! `jsonwebtoken` is built with its `aws_lc_rs` backend; Ed25519 keys are
//! generated and parsed with `aws-lc-rs` as well. This crate installs the
//! aws-lc provider as jsonwebtoken's process default before first use, so a
//! build where some other crate also enables jsonwebtoken's `rust_crypto`
//! feature still works (with both enabled, jsonwebtoken alone would panic);
//! still, use JWTs only through this crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apikey;
pub mod jwt;
pub mod password;
pub mod permissions;
mod random;
pub mod redact;
pub mod refresh;
pub mod signature;
pub mod totp;
pub mod totp_store;

pub use apikey::{new_api_key, NewApiKey, SealError, SecretBox};
pub use jwt::{AccessClaims, AccessGrant, IssuedAccess, JwtError, JwtKeys, Verifier};
pub use password::{check_policy, hash_password, verify_password, PolicyError};
pub use permissions::{IpAllowList, Permissions, Role};
pub use redact::Secret;
pub use refresh::{hash_refresh_token, new_refresh_token, NewRefreshToken};
pub use signature::{check_timestamp, sign, split_signature, verify_signature, TimestampError};
pub use totp::{TotpError, TotpSecret};
