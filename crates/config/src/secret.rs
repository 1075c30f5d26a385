//! Wrappers that keep secrets out of logs, `Debug` output and the printed
//! configuration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What every secret prints as.
pub const REDACTED: &str = "[redacted]";

/// A secret string (token, key material, password).
///
/// `Debug`, `Display` and `Serialize` all print [`REDACTED`]; the only way to
/// read the value is [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Secret bytes (a private key, an AES key). Same rules as [`Secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// The secret bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A connection URL (`postgres://user:password@host/db`, `redis://…`).
///
/// Not a secret as a whole, but it may carry a password: `Display`, `Debug`
/// and `Serialize` replace the password (and any `password=` query
/// parameter) with [`REDACTED`]. [`ConnUrl::expose`] gives the full URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnUrl(String);

impl ConnUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        ConnUrl(url.into())
    }

    /// The full URL, password included. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`postgres`, `sqlite`, `redis`), lowercased.
    pub fn scheme(&self) -> String {
        self.0
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The URL with its password replaced by [`REDACTED`].
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    // userinfo: scheme://user:password@host
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map(|i| auth_start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                let pw_end = auth_start + at;
                out.replace_range(pw_start..pw_end, REDACTED);
            }
        }
    }
    // query parameters that carry passwords
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                    format!("{k}={REDACTED}")
                }
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

impl fmt::Debug for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ConnUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ConnUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ConnUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        let u = ConnUrl::new("postgres://flowex:hunter2@db:5432/flowex?sslmode=require");
        assert_eq!(
            u.redacted(),
            "postgres://flowex:[redacted]@db:5432/flowex?sslmode=require"
        );
        let u = ConnUrl::new("redis://:s3cret@redis:6379/0");
        assert_eq!(u.redacted(), "redis://:[redacted]@redis:6379/0");
        let u = ConnUrl::new("redis+sentinel://:s3cret@s1:26379,s2:26379/flowex/0");
        assert_eq!(
            u.redacted(),
            "redis+sentinel://:[redacted]@s1:26379,s2:26379/flowex/0"
        );
        let u = ConnUrl::new("postgres://db/flowex?user=a&password=zz");
        assert_eq!(
            u.redacted(),
            "postgres://db/flowex?user=a&password=[redacted]"
        );
        let u = ConnUrl::new("sqlite://./data/flowex.db?mode=rwc");
        assert_eq!(u.redacted(), "sqlite://./data/flowex.db?mode=rwc");
        assert!(!format!("{u:?}{u}").contains("hunter2"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("topsecret");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let b = SecretBytes::new(b"topsecret".to_vec());
        assert_eq!(format!("{b:?}"), "[redacted]");
    }
}
