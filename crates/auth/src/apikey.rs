//! API keys and encryption of their secrets at rest.
//!
//! # Keys
//!
//! [`new_api_key`] makes a Binance-shaped pair: a 64-character alphanumeric
//! key (public identifier, sent in `X-MBX-APIKEY`) and a 64-character
//! alphanumeric secret (the HMAC key the client signs with, ~381 bits).
//! The secret is shown to the user once.
//!
//! Unlike a password, the server needs the secret itself to check HMAC
//! signatures, so it can't store a hash. It stores the secret encrypted with
//! [`SecretBox`]: AES-256-GCM under a 32-byte server key (from the config or a
//! 0600 file in embedded mode, [`SecretBox::generate_key`]), with the API key
//! string as associated data so that a sealed secret copied onto another
//! key's row fails to open.
//!
//! # Sealed format
//!
//! `0x01 ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`. The
//! leading version byte leaves room for another scheme later. A random 96-bit
//! nonce is safe for up to ~2^32 seals under one key (NIST SP 800-38D); an
//! exchange seals once per API key created, far below that.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;

use crate::random;
use crate::redact::Secret;

/// Length of an API key and of its secret.
pub const API_KEY_LEN: usize = 64;
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A new API key and its secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The public key id (`X-MBX-APIKEY`), 64 alphanumeric characters.
    pub key: String,
    /// The signing secret, 64 alphanumeric characters; shown once.
    pub secret: Secret<String>,
}

/// Makes a new random API key and secret.
pub fn new_api_key() -> NewApiKey {
    NewApiKey {
        key: random::string_from(ALNUM, API_KEY_LEN),
        secret: Secret::new(random::string_from(ALNUM, API_KEY_LEN)),
    }
}

/// Whether `key` has the format of an API key (64 ASCII alphanumerics).
/// Anything else in `X-MBX-APIKEY` is Binance error -2014 ("API-key format
/// invalid.") without a database lookup.
pub fn is_valid_api_key_format(key: &str) -> bool {
    key.len() == API_KEY_LEN && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Why a sealed secret could not be opened, or a key not loaded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Wrong server key, wrong API key (associated data), or the bytes were
    /// altered or truncated. Deliberately one case: say nothing more.
    #[error("sealed secret could not be opened")]
    Open,
    /// The server key is not 32 bytes of base64.
    #[error("encryption key must be 32 bytes, base64-encoded")]
    BadKey,
}

/// AES-256-GCM under a server key, for secrets that must be read back.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    /// A box using `key` (32 bytes). The caller's copy should be dropped or
    /// held in a [`Secret`].
    pub fn new(key: [u8; 32]) -> Self {
        let key = Secret::new(key);
        SecretBox {
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }

    /// A box from a base64-encoded 32-byte key (config form).
    pub fn from_base64(key_b64: &str) -> Result<Self, SealError> {
        let bytes = Secret::new(
            STANDARD
                .decode(key_b64.trim())
                .map_err(|_| SealError::BadKey)?,
        );
        let key: [u8; 32] = bytes
            .expose()
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadKey)?;
        Ok(SecretBox::new(key))
    }

    /// A new random 32-byte key.
    pub fn generate_key() -> Secret<[u8; 32]> {
        Secret::new(random::bytes::<32>())
    }

    /// A new random key, base64-encoded, for a config file or 0600 key file.
    pub fn generate_key_base64() -> Secret<String> {
        Secret::new(STANDARD.encode(Self::generate_key().expose()))
    }

    /// Encrypts `secret`, bound to `api_key` (associated data). Returns the
    /// sealed bytes to store (see the module docs for the layout).
    pub fn seal(&self, api_key: &str, secret: &str) -> Vec<u8> {
        self.seal_bytes(api_key.as_bytes(), secret.as_bytes())
    }

    /// Decrypts what [`SecretBox::seal`] returned for the same `api_key`.
    pub fn open(&self, api_key: &str, sealed: &[u8]) -> Result<Secret<String>, SealError> {
        let bytes = self.open_bytes(api_key.as_bytes(), sealed)?;
        String::from_utf8(bytes.expose_owned())
            .map(Secret::new)
            .map_err(|_| SealError::Open)
    }

    /// [`SecretBox::seal`] for any bytes and any associated data (e.g. a TOTP
    /// secret with `b"totp:<user id>"`).
    pub fn seal_bytes(&self, associated_data: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random::bytes::<NONCE_LEN>();
        let nonce = Nonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    /// [`SecretBox::open`] for any bytes and any associated data.
    pub fn open_bytes(
        &self,
        associated_data: &[u8],
        sealed: &[u8],
    ) -> Result<Secret<Vec<u8>>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(SealError::Open);
        }
        let nonce_bytes: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: associated_data,
                },
            )
            .map(Secret::new)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_look_like_binance_keys() {
        let a = new_api_key();
        let b = new_api_key();
        assert_eq!(a.key.len(), 64);
        assert_eq!(a.secret.expose().len(), 64);
        assert!(is_valid_api_key_format(&a.key));
        assert!(a.secret.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.key, b.key);
        assert_ne!(a.secret.expose(), b.secret.expose());
        assert_ne!(&a.key, a.secret.expose());
        let dbg = format!("{a:?}");
        assert!(dbg.contains(&a.key));
        assert!(!dbg.contains(a.secret.expose().as_str()));
        assert!(!is_valid_api_key_format("short"));
        assert!(!is_valid_api_key_format(&"a".repeat(63)));
        assert!(!is_valid_api_key_format(&format!("{}-", "a".repeat(63))));
    }

    #[test]
    fn seal_open_round_trip() {
        let key = SecretBox::generate_key();
        let sb = SecretBox::new(*key.expose());
        let k = new_api_key();
        let sealed = sb.seal(&k.key, k.secret.expose());
        assert_eq!(sealed.len(), 1 + 12 + 64 + 16);
        assert_eq!(sealed[0], 1);
        assert!(!sealed
            .windows(8)
            .any(|w| w == &k.secret.expose().as_bytes()[..8]));
        assert_eq!(
            sb.open(&k.key, &sealed).unwrap().expose(),
            k.secret.expose()
        );
        // Random nonce: same input, different output.
        assert_ne!(sealed, sb.seal(&k.key, k.secret.expose()));
        assert_eq!(format!("{sb:?}"), "SecretBox([redacted])");
    }

    #[test]
    fn wrong_key_wrong_aad_and_tampering_refused() {
        let sb = SecretBox::new(*SecretBox::generate_key().expose());
        let other = SecretBox::new(*SecretBox::generate_key().expose());
        let k = new_api_key();
        let sealed = sb.seal(&k.key, k.secret.expose());
        assert_eq!(other.open(&k.key, &sealed).err(), Some(SealError::Open));
        // Moved onto another API key's row.
        let k2 = new_api_key();
        assert_eq!(sb.open(&k2.key, &sealed).err(), Some(SealError::Open));
        // Any flipped bit anywhere.
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(sb.open(&k.key, &t).err(), Some(SealError::Open), "byte {i}");
        }
        // Truncated or empty.
        assert_eq!(
            sb.open(&k.key, &sealed[..sealed.len() - 1]).err(),
            Some(SealError::Open)
        );
        assert_eq!(sb.open(&k.key, &[]).err(), Some(SealError::Open));
        assert_eq!(sb.open(&k.key, &sealed[..20]).err(), Some(SealError::Open));
    }

    #[test]
    fn keys_from_base64() {
        let b64 = SecretBox::generate_key_base64();
        let a = SecretBox::from_base64(b64.expose()).unwrap();
        let b = SecretBox::from_base64(&format!(" {}\n", b64.expose())).unwrap();
        let sealed = a.seal_bytes(b"totp:42", b"raw secret bytes");
        assert_eq!(
            b.open_bytes(b"totp:42", &sealed).unwrap().expose(),
            b"raw secret bytes"
        );
        assert_eq!(
            b.open_bytes(b"totp:43", &sealed).err(),
            Some(SealError::Open)
        );
        assert_eq!(
            SecretBox::from_base64("AAAA").err(),
            Some(SealError::BadKey)
        );
        assert_eq!(
            SecretBox::from_base64("not base64!").err(),
            Some(SealError::BadKey)
        );
    }
}
