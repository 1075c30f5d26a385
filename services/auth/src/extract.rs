//! Request extractors: JSON bodies (flowex_kit's), the caller's address
//! and user agent, and strings that must never be printed.

use flowex_auth::Secret;
use serde::{Deserialize, Deserializer};

/// JSON bodies: the one answer of every service (flowex_kit::body).
pub use flowex_kit::{Json, OptionalJson};

/// A string from a request body that must never be printed (passwords,
/// tokens, codes): `Debug` shows `[redacted]`, the memory is zeroed on drop.
pub struct SecretString(pub Secret<String>);

impl SecretString {
    /// The value.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretString(Secret::new(s)))
    }
}

/// Where a request came from (lockout counters, audit log, session list):
/// the one extractor every service's audit uses.
pub use flowex_kit::RequestMeta;
