//! How a user's TOTP secrets are kept in `users.totp_secret`, shared by the
//! auth service (enrolment, login) and the wallet (withdrawals need the
//! current code when 2FA is on).
//!
//! The column holds `v1;a=<hex>;p=<hex>`: the *active* secret (`a`, used
//! while 2FA is on) and a *pending* one (`p`, issued by enrolment, active
//! once confirmed), either part optional. Each is the base32 secret sealed
//! with the [`SecretBox`] (AES-256-GCM) under the associated data
//! `totp:<user id>`, so a sealed value copied to another user's row does
//! not open.

use crate::totp::TotpSecret;
use crate::SecretBox;

/// The two slots of `users.totp_secret` (sealed, hex).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Slots {
    /// The secret in use while 2FA is on.
    pub active: Option<String>,
    /// A secret issued by enrolment, active once confirmed.
    pub pending: Option<String>,
}

impl Slots {
    /// Reads the column; anything unreadable is two empty slots.
    pub fn parse(stored: Option<&str>) -> Slots {
        let mut slots = Slots::default();
        let Some(s) = stored else { return slots };
        let mut parts = s.split(';');
        if parts.next() != Some("v1") {
            return slots;
        }
        for part in parts {
            match part.split_once('=') {
                Some(("a", v)) if !v.is_empty() => slots.active = Some(v.to_string()),
                Some(("p", v)) if !v.is_empty() => slots.pending = Some(v.to_string()),
                _ => {}
            }
        }
        slots
    }

    /// The column's text.
    pub fn encode(&self) -> String {
        let mut s = String::from("v1");
        if let Some(a) = &self.active {
            s.push_str(";a=");
            s.push_str(a);
        }
        if let Some(p) = &self.pending {
            s.push_str(";p=");
            s.push_str(p);
        }
        s
    }
}

/// Why a stored secret could not be opened (always a server-side problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The slot is not hex.
    #[error("stored TOTP secret is not hex")]
    NotHex,
    /// The seal does not open with this key for this user.
    #[error("stored TOTP secret does not open (wrong server key?)")]
    Sealed,
    /// The opened bytes are not UTF-8.
    #[error("TOTP secret is not text")]
    NotText,
    /// The opened text is not a base32 secret.
    #[error("stored TOTP secret is invalid")]
    Invalid,
}

fn aad(user_id: u64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

/// Seals `secret` for `user_id`'s row (hex).
pub fn seal(secret_box: &SecretBox, user_id: u64, secret: &TotpSecret) -> String {
    hex::encode(secret_box.seal_bytes(&aad(user_id), secret.to_base32().expose().as_bytes()))
}

/// Opens a slot of `user_id`'s row.
pub fn open(
    secret_box: &SecretBox,
    user_id: u64,
    sealed_hex: &str,
) -> Result<TotpSecret, OpenError> {
    let sealed = hex::decode(sealed_hex).map_err(|_| OpenError::NotHex)?;
    let plain = secret_box
        .open_bytes(&aad(user_id), &sealed)
        .map_err(|_| OpenError::Sealed)?;
    let text = std::str::from_utf8(plain.expose()).map_err(|_| OpenError::NotText)?;
    TotpSecret::from_base32(text).map_err(|_| OpenError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_and_seal_is_bound_to_the_user() {
        let s = Slots {
            active: Some("aa".into()),
            pending: None,
        };
        assert_eq!(Slots::parse(Some(&s.encode())), s);
        assert_eq!(Slots::parse(Some("v2;a=x")), Slots::default());
        let b = SecretBox::new([7u8; 32]);
        let secret = TotpSecret::generate();
        let sealed = seal(&b, 5, &secret);
        assert_eq!(
            open(&b, 5, &sealed).unwrap().to_base32().expose(),
            secret.to_base32().expose()
        );
        assert_eq!(open(&b, 6, &sealed).unwrap_err(), OpenError::Sealed);
        assert_eq!(open(&b, 5, "zz").unwrap_err(), OpenError::NotHex);
    }
}
