//! Short-lived access tokens: JWT signed with Ed25519 (`alg: EdDSA`).
//!
//! # Keys
//!
//! The auth service holds one Ed25519 private key as a PKCS#8 PEM file
//! (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey -algorithm ed25519`
//! writes). [`JwtKeys::generate`] makes one for embedded mode: the caller
//! writes the returned PEM to a file with mode 0600 and loads it with
//! [`JwtKeys::from_pem`] on later starts. Every other service only needs the
//! public key ([`JwtKeys::public_pem`], `-----BEGIN PUBLIC KEY-----`) and a
//! [`Verifier`]. Each key has a key id ([`JwtKeys::kid`]): its RFC 7638 JWK
//! thumbprint, put in the token header so that a verifier holding several
//! keys (during a rotation, see [`Verifier::add_key`]) picks the right one.
//!
//! # Tokens
//!
//! [`JwtKeys::issue_access`] signs [`AccessClaims`]: `iss`, `aud`, `sub` (the
//! user id), `iat`, `nbf` (= `iat`), `exp` (`iat` + ttl, ttl at most
//! [`MAX_ACCESS_TTL`] = 15 minutes), `jti` (128 random bits, base64url),
//! `role` (`"user"` / `"admin"`) and `sid` (the session the token belongs to,
//! so that revoking a session can be checked). An access token can't be
//! revoked before it expires except by checking `sid`/`jti` against a deny
//! list: keep the ttl short.
//!
//! # Verification
//!
//! [`Verifier::verify`] accepts only `alg: EdDSA`: the header is read and the
//! algorithm checked *before* anything else, so `alg: none`, `HS256` signed
//! with the public key as an HMAC secret (the classic key-confusion attack),
//! `RS256`, `ES256` … all fail with [`JwtError::AlgorithmNotAllowed`]. It then
//! checks the signature, `iss`, `aud`, `exp` and `nbf` (with a clock leeway of
//! at most [`MAX_LEEWAY_SECS`]), and requires non-empty `sub`, `jti` and
//! `sid`, and a lifetime (`exp - iat`) of at most [`MAX_ACCESS_TTL`].
//! Tokens longer than [`MAX_TOKEN_LEN`] bytes are refused unread. A `crit`
//! header (extensions we don't implement) is refused, as RFC 7515 requires.
//!
//! Every [`JwtError`] from `verify` means "401 Unauthorized"; the variant is
//! for logs and metrics (never log the token itself).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::permissions::Role;
use crate::random;
use crate::redact::Secret;

/// Longest lifetime of an access token: 15 minutes.
pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest clock leeway a [`Verifier`] accepts (30 s); also its default.
pub const MAX_LEEWAY_SECS: u64 = 30;
/// Longest token [`Verifier::verify`] will parse, in bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE {
/// SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Everything that can go wrong issuing or verifying an access token.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` is not this service's audience.
    #[error("token audience not accepted")]
    WrongAudience,
    /// `iss` is not the expected issuer.
    #[error("token issuer not accepted")]
    WrongIssuer,
    /// The signature does not match the token and key.
    #[error("token signature invalid")]
    BadSignature,
    /// The header's `kid` names no key this verifier holds.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The header's `alg` is not `EdDSA` (`none`, `HS256`, `RS256`, …).
    #[error("token algorithm not allowed")]
    AlgorithmNotAllowed,
    /// Not a well-formed token of ours: bad encoding, JSON, missing or empty
    /// claim, too long, lifetime over 15 minutes, `crit` header.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A key (PEM) could not be read or is not Ed25519.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The requested ttl is zero or longer than [`MAX_ACCESS_TTL`].
    #[error("access token ttl must be between 1 s and 15 min")]
    InvalidTtl,
    /// Signing failed (should not happen with a valid key).
    #[error("token signing failed")]
    Signing,
}

/// The claims of a FlowEx access token, as issued and as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer, e.g. `"flowex-auth"`.
    pub iss: String,
    /// Audience, e.g. `"flowex"`.
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before, seconds since the Unix epoch (= `iat`).
    pub nbf: u64,
    /// Unique token id: 128 random bits, base64url.
    pub jti: String,
    /// The user's role.
    pub role: Role,
    /// The session (refresh-token family) this token was issued for.
    pub sid: String,
}

/// What to put in a new access token; the time claims and `jti` are filled in
/// by [`JwtKeys::issue_access`].
#[derive(Debug, Clone, Copy)]
pub struct AccessGrant<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`.
    pub audience: &'a str,
    /// `sub`: the user id (non-empty).
    pub user_id: &'a str,
    /// `role`.
    pub role: Role,
    /// `sid`: the session id (non-empty).
    pub session_id: &'a str,
}

/// A freshly signed access token and the claims inside it.
#[derive(Debug, Clone)]
pub struct IssuedAccess {
    /// The compact JWT to hand to the client (`Authorization: Bearer …`).
    pub token: Secret<String>,
    /// Its claims (for `expires_in`, the audit log, …).
    pub claims: AccessClaims,
}

/// The signing key of the auth service (and its public half).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    public_pem: String,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .field("private_key", &crate::redact::REDACTED)
            .finish()
    }
}

impl JwtKeys {
    /// Loads an Ed25519 private key from PKCS#8 PEM (v1 as written by
    /// OpenSSL, or v2 with the public key).
    pub fn from_pem(private_pem: &str) -> Result<Self, JwtError> {
        ensure_provider();
        let der = Secret::new(
            pem_decode(private_pem, "PRIVATE KEY")
                .ok_or(JwtError::InvalidKey("not a PKCS#8 PEM private key"))?,
        );
        let pair = Ed25519KeyPair::from_pkcs8(der.expose())
            .map_err(|_| JwtError::InvalidKey("not an Ed25519 PKCS#8 private key"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| JwtError::InvalidKey("unexpected Ed25519 public key size"))?;
        Ok(JwtKeys {
            encoding: EncodingKey::from_ed_der(der.expose()),
            decoding: DecodingKey::from_ed_der(&public),
            kid: thumbprint(&public),
            public_pem: public_pem_of(&public),
        })
    }

    /// Generates a new random key. Returns the keys and the private key as
    /// PKCS#8 PEM, which the caller must store (file mode 0600) to keep the
    /// same key across restarts.
    pub fn generate() -> Result<(Self, Secret<String>), JwtError> {
        let pair = Ed25519KeyPair::generate().map_err(|_| JwtError::Signing)?;
        let doc = pair.to_pkcs8v1().map_err(|_| JwtError::Signing)?;
        let pem = Secret::new(pem_encode(doc.as_ref(), "PRIVATE KEY"));
        let keys = JwtKeys::from_pem(pem.expose())?;
        Ok((keys, pem))
    }

    /// The key id (RFC 7638 thumbprint, base64url) written in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), for
    /// [`Verifier::new`] in other services.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// A verifier for tokens signed by this key.
    pub fn verifier(&self, issuer: &str, audience: &str) -> Verifier {
        Verifier::with_key(self.kid.clone(), self.decoding.clone(), issuer, audience)
    }

    /// Signs an access token valid from now for `ttl` (1 s to 15 min).
    pub fn issue_access(
        &self,
        grant: &AccessGrant<'_>,
        ttl: Duration,
    ) -> Result<IssuedAccess, JwtError> {
        self.issue_access_at(grant, ttl, now_unix())
    }

    /// [`JwtKeys::issue_access`] with an explicit clock (seconds since the
    /// Unix epoch), for tests and replays.
    pub fn issue_access_at(
        &self,
        grant: &AccessGrant<'_>,
        ttl: Duration,
        now_unix: u64,
    ) -> Result<IssuedAccess, JwtError> {
        if ttl.as_secs() == 0 || ttl > MAX_ACCESS_TTL {
            return Err(JwtError::InvalidTtl);
        }
        if grant.user_id.is_empty() || grant.session_id.is_empty() {
            return Err(JwtError::Malformed("empty user id or session id"));
        }
        let claims = AccessClaims {
            iss: grant.issuer.to_string(),
            aud: grant.audience.to_string(),
            sub: grant.user_id.to_string(),
            exp: now_unix + ttl.as_secs(),
            iat: now_unix,
            nbf: now_unix,
            jti: URL_SAFE_NO_PAD.encode(random::bytes::<16>()),
            role: grant.role,
            sid: grant.session_id.to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|_| JwtError::Signing)?;
        Ok(IssuedAccess {
            token: Secret::new(token),
            claims,
        })
    }
}

/// Verifies access tokens with one or more public keys, for one issuer and
/// one audience.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<(String, DecodingKey)>,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Verifier")
            .field("kids", &kids)
            .field("leeway", &self.validation.leeway)
            .finish()
    }
}

impl Verifier {
    /// A verifier for tokens signed by the key whose public half is
    /// `public_pem` (SPKI PEM), issued by `issuer` for `audience`.
    pub fn new(public_pem: &str, issuer: &str, audience: &str) -> Result<Self, JwtError> {
        let (kid, key) = parse_public(public_pem)?;
        Ok(Verifier::with_key(kid, key, issuer, audience))
    }

    fn with_key(kid: String, key: DecodingKey, issuer: &str, audience: &str) -> Self {
        ensure_provider();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = MAX_LEEWAY_SECS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Verifier {
            keys: vec![(kid, key)],
            validation,
        }
    }

    /// Also accepts tokens signed by another key (key rotation: add the new
    /// public key everywhere, then switch the signer, then drop the old key
    /// once the longest ttl has passed).
    pub fn add_key(&mut self, public_pem: &str) -> Result<(), JwtError> {
        let (kid, key) = parse_public(public_pem)?;
        if !self.keys.iter().any(|(k, _)| *k == kid) {
            self.keys.push((kid, key));
        }
        Ok(())
    }

    /// Sets the clock leeway for `exp`/`nbf`, capped at [`MAX_LEEWAY_SECS`].
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.validation.leeway = secs.min(MAX_LEEWAY_SECS);
        self
    }

    /// Verifies `token` (the compact JWT, without `Bearer `) against the
    /// current clock and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated parts"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| JwtError::Malformed("header is not base64url"))?;
        let header: serde_json::Value = serde_json::from_slice(&header_json)
            .map_err(|_| JwtError::Malformed("header is not JSON"))?;
        let header = header
            .as_object()
            .ok_or(JwtError::Malformed("header is not a JSON object"))?;
        // The algorithm is pinned: decided here, never by the token.
        match header.get("alg").and_then(|a| a.as_str()) {
            Some("EdDSA") => {}
            _ => return Err(JwtError::AlgorithmNotAllowed),
        }
        if header.contains_key("crit") {
            return Err(JwtError::Malformed("unsupported critical header"));
        }
        if let Some(typ) = header.get("typ") {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(JwtError::Malformed("typ is not JWT"));
            }
        }
        let key = match header.get("kid") {
            Some(kid) => {
                let kid = kid
                    .as_str()
                    .ok_or(JwtError::Malformed("kid is not a string"))?;
                self.keys
                    .iter()
                    .find(|(k, _)| k == kid)
                    .map(|(_, key)| key)
                    .ok_or(JwtError::UnknownKey)?
            }
            None if self.keys.len() == 1 => &self.keys[0].1,
            None => return Err(JwtError::UnknownKey),
        };
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| map_error(e.kind()))?;
        let c = data.claims;
        if c.sub.is_empty() {
            return Err(JwtError::Malformed("empty sub"));
        }
        if c.jti.is_empty() {
            return Err(JwtError::Malformed("empty jti"));
        }
        if c.sid.is_empty() {
            return Err(JwtError::Malformed("empty sid"));
        }
        if c.exp <= c.iat || c.exp - c.iat > MAX_ACCESS_TTL.as_secs() {
            return Err(JwtError::Malformed("lifetime longer than 15 minutes"));
        }
        Ok(c)
    }
}

fn map_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => JwtError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(_) => JwtError::Malformed("missing required claim"),
        ErrorKind::InvalidKeyFormat | ErrorKind::InvalidEddsaKey => {
            JwtError::InvalidKey("verification key rejected")
        }
        _ => JwtError::Malformed("undecodable token"),
    }
}

/// Selects jsonwebtoken's aws-lc backend explicitly, so that signing and
/// verification keep working even if feature unification elsewhere in a
/// build also enables its `rust_crypto` backend (with both enabled and none
/// installed, jsonwebtoken panics). A provider installed earlier by someone
/// else is left in place.
fn ensure_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
    });
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 7638 thumbprint of an Ed25519 public key (members in lexicographic
/// order, no spaces), base64url.
fn thumbprint(public: &[u8; 32]) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
}

fn public_pem_of(public: &[u8; 32]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(public);
    pem_encode(&der, "PUBLIC KEY")
}

fn parse_public(public_pem: &str) -> Result<(String, DecodingKey), JwtError> {
    let der =
        pem_decode(public_pem, "PUBLIC KEY").ok_or(JwtError::InvalidKey("not a PEM public key"))?;
    if der.len() != 44 || der[..12] != ED25519_SPKI_PREFIX {
        return Err(JwtError::InvalidKey("not an Ed25519 public key"));
    }
    let public: [u8; 32] = der[12..].try_into().expect("length checked");
    Ok((thumbprint(&public), DecodingKey::from_ed_der(&public)))
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first `label` block of `pem`.
fn pem_decode(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};

    const ISS: &str = "flowex-auth";
    const AUD: &str = "flowex";

    fn grant() -> AccessGrant<'static> {
        AccessGrant {
            issuer: ISS,
            audience: AUD,
            user_id: "42",
            role: Role::User,
            session_id: "s-1",
        }
    }

    fn ttl() -> Duration {
        Duration::from_secs(600)
    }

    /// Generated once with `openssl genpkey -algorithm ed25519` (PKCS#8 v1).
    const OPENSSL_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINPQzx6Z4ksgzM6G5gpYsNzTE5GKpiJCja/riu2+SdHs
-----END PRIVATE KEY-----
";
    /// `openssl pkey -in key.pem -pubout` of the key above.
    const OPENSSL_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEADQEigKnldTbVZpusroeagUrygomNyc3WlDWPNW2snt0=
-----END PUBLIC KEY-----
";

    #[test]
    fn issue_and_verify() {
        let (keys, pem) = JwtKeys::generate().unwrap();
        assert!(pem.expose().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let issued = keys.issue_access(&grant(), ttl()).unwrap();
        let v = Verifier::new(keys.public_pem(), ISS, AUD).unwrap();
        let c = v.verify(issued.token.expose()).unwrap();
        assert_eq!(c, issued.claims);
        assert_eq!(c.sub, "42");
        assert_eq!(c.sid, "s-1");
        assert_eq!(c.role, Role::User);
        assert_eq!(c.exp - c.iat, 600);
        assert_eq!(c.nbf, c.iat);
        assert_eq!(URL_SAFE_NO_PAD.decode(&c.jti).unwrap().len(), 16);
        // A reloaded key is the same key.
        let again = JwtKeys::from_pem(pem.expose()).unwrap();
        assert_eq!(again.kid(), keys.kid());
        assert_eq!(again.public_pem(), keys.public_pem());
        // jti differs per token.
        let other = keys.issue_access(&grant(), ttl()).unwrap();
        assert_ne!(other.claims.jti, c.jti);
        // The header names the algorithm and the key.
        let header = jsonwebtoken::decode_header(issued.token.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
        // Debug output hides the key and the token.
        assert!(!format!("{keys:?}").contains("PRIVATE"));
        assert!(!format!("{issued:?}").contains(issued.token.expose().as_str()));
    }

    #[test]
    fn openssl_key_loads_and_admin_role_round_trips() {
        let keys = JwtKeys::from_pem(OPENSSL_PEM).unwrap();
        assert_eq!(keys.public_pem(), OPENSSL_PUBLIC_PEM);
        let mut g = grant();
        g.role = Role::Admin;
        let t = keys.issue_access(&g, ttl()).unwrap();
        let c = keys.verifier(ISS, AUD).verify(t.token.expose()).unwrap();
        assert_eq!(c.role, Role::Admin);
        let v = Verifier::new(OPENSSL_PUBLIC_PEM, ISS, AUD).unwrap();
        assert_eq!(v.verify(t.token.expose()).unwrap(), c);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(
            JwtKeys::from_pem("nope"),
            Err(JwtError::InvalidKey(_))
        ));
        assert!(matches!(
            JwtKeys::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(JwtError::InvalidKey(_))
        ));
        assert!(matches!(
            Verifier::new(OPENSSL_PEM, ISS, AUD),
            Err(JwtError::InvalidKey(_))
        ));
        // An SPKI that is not Ed25519 (P-256 prefix).
        let p256 = pem_encode(&[0x30, 0x59, 0x30, 0x13, 0x06, 0x07], "PUBLIC KEY");
        assert!(matches!(
            Verifier::new(&p256, ISS, AUD),
            Err(JwtError::InvalidKey(_))
        ));
    }

    #[test]
    fn ttl_is_bounded() {
        let (keys, _) = JwtKeys::generate().unwrap();
        assert_eq!(
            keys.issue_access(&grant(), Duration::from_secs(15 * 60 + 1))
                .err(),
            Some(JwtError::InvalidTtl)
        );
        assert_eq!(
            keys.issue_access(&grant(), Duration::ZERO).err(),
            Some(JwtError::InvalidTtl)
        );
        assert!(keys.issue_access(&grant(), MAX_ACCESS_TTL).is_ok());
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        let now = now_unix();
        let old = keys.issue_access_at(&grant(), ttl(), now - 3600).unwrap();
        assert_eq!(v.verify(old.token.expose()), Err(JwtError::Expired));
        // Expired 10 s ago: within the default 30 s leeway, outside a 5 s one.
        let just = keys.issue_access_at(&grant(), ttl(), now - 610).unwrap();
        assert!(v.verify(just.token.expose()).is_ok());
        let strict = keys.verifier(ISS, AUD).with_leeway(5);
        assert_eq!(strict.verify(just.token.expose()), Err(JwtError::Expired));
        // Leeway can't be raised past 30 s.
        let lax = keys.verifier(ISS, AUD).with_leeway(3600);
        let long_gone = keys.issue_access_at(&grant(), ttl(), now - 700).unwrap();
        assert_eq!(lax.verify(long_gone.token.expose()), Err(JwtError::Expired));
        let future = keys.issue_access_at(&grant(), ttl(), now + 300).unwrap();
        assert_eq!(v.verify(future.token.expose()), Err(JwtError::NotYetValid));
    }

    #[test]
    fn wrong_audience_and_issuer() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let t = keys.issue_access(&grant(), ttl()).unwrap();
        let t = t.token.expose();
        assert_eq!(
            keys.verifier(ISS, "other-aud").verify(t),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            keys.verifier("someone-else", AUD).verify(t),
            Err(JwtError::WrongIssuer)
        );
    }

    fn split(token: &str) -> (String, String, String) {
        let p: Vec<&str> = token.split('.').collect();
        (p[0].into(), p[1].into(), p[2].into())
    }

    fn claims_json(now: u64) -> serde_json::Value {
        serde_json::json!({
            "iss": ISS, "aud": AUD, "sub": "1", "exp": now + 600, "iat": now,
            "nbf": now, "jti": "abc", "role": "admin", "sid": "s"
        })
    }

    #[test]
    fn tampered_payload_and_signature() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        let t = keys.issue_access(&grant(), ttl()).unwrap();
        let (h, p, s) = split(t.token.expose());
        // Escalate the role in the payload, keep the signature.
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p).unwrap()).unwrap();
        claims["role"] = "admin".into();
        let p2 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert_eq!(
            v.verify(&format!("{h}.{p2}.{s}")),
            Err(JwtError::BadSignature)
        );
        // Flip a bit of the signature.
        let mut sig = URL_SAFE_NO_PAD.decode(&s).unwrap();
        sig[5] ^= 1;
        let s2 = URL_SAFE_NO_PAD.encode(&sig);
        assert_eq!(
            v.verify(&format!("{h}.{p}.{s2}")),
            Err(JwtError::BadSignature)
        );
        // Truncated signature.
        assert_eq!(v.verify(&format!("{h}.{p}.")), Err(JwtError::BadSignature));
    }

    #[test]
    fn alg_none_is_refused() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        let payload = URL_SAFE_NO_PAD.encode(claims_json(now_unix()).to_string());
        for alg in ["none", "None", "NONE", "eddsa", ""] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            assert_eq!(
                v.verify(&format!("{header}.{payload}.")),
                Err(JwtError::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
        assert_eq!(
            v.verify(&format!("{header}.{payload}.")),
            Err(JwtError::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn hs256_with_public_key_as_secret_is_refused() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
            keys.kid()
        ));
        let payload = URL_SAFE_NO_PAD.encode(claims_json(now_unix()).to_string());
        let input = format!("{header}.{payload}");
        for secret in [
            keys.public_pem().as_bytes().to_vec(),
            pem_decode(keys.public_pem(), "PUBLIC KEY").unwrap(),
            pem_decode(keys.public_pem(), "PUBLIC KEY").unwrap()[12..].to_vec(),
        ] {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(input.as_bytes());
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            assert_eq!(
                v.verify(&format!("{input}.{sig}")),
                Err(JwtError::AlgorithmNotAllowed)
            );
        }
        // RS256 / ES256 headers likewise, whatever the signature.
        for alg in ["RS256", "ES256", "PS256", "HS512"] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            assert_eq!(
                v.verify(&format!("{h}.{payload}.AAAA")),
                Err(JwtError::AlgorithmNotAllowed)
            );
        }
    }

    #[test]
    fn token_from_another_key() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let (other, other_pem) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        let t = other.issue_access(&grant(), ttl()).unwrap();
        // Its kid is unknown here.
        assert_eq!(v.verify(t.token.expose()), Err(JwtError::UnknownKey));
        // Signed by the other key but claiming our kid: bad signature.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.kid().to_string());
        let enc = EncodingKey::from_ed_der(&pem_decode(other_pem.expose(), "PRIVATE KEY").unwrap());
        let forged = jsonwebtoken::encode(&header, &claims_json(now_unix()), &enc).unwrap();
        assert_eq!(v.verify(&forged), Err(JwtError::BadSignature));
        // After rotation both keys are accepted.
        let mut rotated = keys.verifier(ISS, AUD);
        rotated.add_key(other.public_pem()).unwrap();
        assert!(rotated.verify(t.token.expose()).is_ok());
        let mine = keys.issue_access(&grant(), ttl()).unwrap();
        assert!(rotated.verify(mine.token.expose()).is_ok());
        // Without a kid and with two keys, the verifier can't choose.
        let no_kid = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims_json(now_unix()),
            &enc,
        )
        .unwrap();
        assert_eq!(rotated.verify(&no_kid), Err(JwtError::UnknownKey));
        // With a single key, a missing kid is fine if the signature is.
        let single = other.verifier(ISS, AUD);
        assert!(single.verify(&no_kid).is_ok());
    }

    #[test]
    fn malformed_tokens() {
        let (keys, _) = JwtKeys::generate().unwrap();
        let v = keys.verifier(ISS, AUD);
        for t in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.AA"] {
            assert!(matches!(v.verify(t), Err(JwtError::Malformed(_))), "{t:?}");
        }
        assert!(matches!(
            v.verify(&"a".repeat(MAX_TOKEN_LEN + 1)),
            Err(JwtError::Malformed(_))
        ));
        // Valid signature but missing / empty claims, or too long a life.
        let (k2, pem2) = JwtKeys::generate().unwrap();
        let v2 = k2.verifier(ISS, AUD);
        let e2 = EncodingKey::from_ed_der(&pem_decode(pem2.expose(), "PRIVATE KEY").unwrap());
        let sign = |c: &serde_json::Value| {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = Some(k2.kid().to_string());
            jsonwebtoken::encode(&h, c, &e2).unwrap()
        };
        let now = now_unix();
        assert!(v2.verify(&sign(&claims_json(now))).is_ok());
        for field in ["sub", "jti", "sid", "exp", "iss", "aud", "nbf"] {
            let mut c = claims_json(now);
            c.as_object_mut().unwrap().remove(field);
            assert!(
                matches!(v2.verify(&sign(&c)), Err(JwtError::Malformed(_))),
                "missing {field}"
            );
        }
        for field in ["sub", "jti", "sid"] {
            let mut c = claims_json(now);
            c[field] = "".into();
            assert!(
                matches!(v2.verify(&sign(&c)), Err(JwtError::Malformed(_))),
                "{field}"
            );
        }
        let mut c = claims_json(now);
        c["exp"] = (now + 86_400).into();
        assert!(matches!(v2.verify(&sign(&c)), Err(JwtError::Malformed(_))));
        let mut c = claims_json(now);
        c["role"] = "root".into();
        assert!(matches!(v2.verify(&sign(&c)), Err(JwtError::Malformed(_))));
        // crit header.
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","kid":"{}","crit":["exp"]}}"#,
            k2.kid()
        ));
        let good = sign(&claims_json(now));
        let (_, p, s) = split(&good);
        assert!(matches!(
            v2.verify(&format!("{header}.{p}.{s}")),
            Err(JwtError::Malformed(_))
        ));
    }
}
