//! Keeping secrets out of logs.
//!
//! [`Secret<T>`] wraps any value that must never be printed: API secrets,
//! refresh and access tokens, TOTP secrets and `otpauth://` URIs, passwords
//! held in structs, encryption keys. Its `Debug` and `Display` both print
//! `[redacted]`, it implements neither `Serialize` nor `PartialEq` (so it can't
//! slip into a JSON log line or be compared in variable time by accident), and
//! its contents are zeroed when it is dropped.
//!
//! Reading the value is explicit and easy to grep for:
//! [`Secret::expose`].
//!
//! ```
//! use flowex_auth::redact::Secret;
//! let s = Secret::new(String::from("hunter2hunter2"));
//! assert_eq!(format!("{s:?}"), "[redacted]");
//! assert_eq!(s.expose(), "hunter2hunter2");
//! ```

use std::fmt;

use zeroize::Zeroize;

/// The text printed in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// A value that is never printed and is zeroed on drop.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// Borrows the secret value. Every call site is a place where the secret
    /// leaves its wrapper: keep them few and never pass the result to a logger.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize + Clone> Secret<T> {
    /// Returns a copy of the secret value (the copy is not zeroed on drop
    /// unless the caller wraps it again).
    pub fn expose_owned(&self) -> T {
        self.0.clone()
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new(String::from("sup3r-s3cret-value"));
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:#?}"), REDACTED);
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            name: &'static str,
            secret: Secret<String>,
        }
        let h = Holder {
            name: "x",
            secret: s.clone(),
        };
        let printed = format!("{h:?}");
        assert!(!printed.contains("sup3r"), "{printed}");
        assert_eq!(s.expose(), "sup3r-s3cret-value");
        assert_eq!(s.expose_owned(), "sup3r-s3cret-value");
    }

    #[test]
    fn byte_arrays_are_redacted_too() {
        let k = Secret::new([7u8; 32]);
        assert_eq!(format!("{k:?}"), REDACTED);
        assert_eq!(k.expose()[0], 7);
    }
}
