//! Two-factor authentication: TOTP (RFC 6238) and one-time backup codes.
//!
//! # TOTP
//!
//! Parameters are the ones every authenticator app understands: HMAC-SHA1,
//! 6 digits, 30-second steps, a 160-bit random secret ([`TotpSecret::generate`],
//! RFC 4226's recommended size). Enrolment:
//!
//! 1. `let secret = TotpSecret::generate();` store `secret.to_base32()`
//!    (encrypted with [`crate::apikey::SecretBox`], with AAD such as
//!    `"totp:<user id>"`) as *pending*.
//! 2. Show [`TotpSecret::otpauth_uri`] as a QR code ([`qr_svg`]) and as text.
//! 3. The user types a code; [`verify`] it; on success mark 2FA enabled and
//!    store the returned step as `last_used_step`.
//!
//! [`verify`] accepts the code of the current step and of one step either
//! side (clock drift, typing time: ±30 s), and returns the step it matched.
//! Each code may be used once: the service stores the step of the last
//! accepted code per user (`totp_last_step BIGINT NULL`) and passes it back
//! in; a code for a step at or before it is refused as
//! [`TotpError::Replayed`]. Update the column with a conditional write
//! (`… SET totp_last_step = $step WHERE user_id = $u AND
//! (totp_last_step IS NULL OR totp_last_step < $step)`) and treat "0 rows" as
//! a replay, so that two concurrent logins can't both use one code.
//!
//! # Backup codes
//!
//! [`backup_codes`] makes 10 codes such as `7kq3-m9xa-2fbt-0pzw`: 16
//! characters of Crockford base32 (80 bits each, so their unsalted SHA-256
//! can't be brute-forced from a leaked table). Show them once; store only
//! the hashes. When a user types one, [`find_backup_code`] normalizes it
//! (case, dashes, spaces, `i`/`l` → `1`, `o` → `0`) and finds it among the
//! unused hashes in constant time; the service then deletes (or marks used)
//! that hash in the same transaction that logs the user in.

use base64::Engine as _;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use thiserror::Error;
use totp_rs::{Algorithm, Builder, Totp};

use crate::random;
use crate::redact::Secret;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Steps accepted either side of the current one.
pub const SKEW_STEPS: u64 = 1;
/// Size of a generated secret in bytes (160 bits).
pub const SECRET_LEN: usize = 20;
/// Smallest secret accepted when loading one (128 bits, RFC 4226).
pub const MIN_SECRET_LEN: usize = 16;
/// Number of backup codes per set.
pub const BACKUP_CODE_COUNT: usize = 10;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const BACKUP_CODE_CHARS: usize = 16;

/// What can go wrong with TOTP and backup codes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TotpError {
    /// The code is not 6 digits.
    #[error("the code must be 6 digits")]
    Malformed,
    /// The code matches none of the accepted steps.
    #[error("invalid code")]
    WrongCode,
    /// The code is right but its step was already used.
    #[error("this code was already used; wait for the next one")]
    Replayed,
    /// A stored secret is not valid base32 or is shorter than 128 bits.
    #[error("invalid TOTP secret")]
    InvalidSecret,
    /// The issuer or account name is empty or contains `:`.
    #[error("invalid issuer or account name for an otpauth URI: {0}")]
    InvalidLabel(String),
    /// The QR code could not be made (data too long).
    #[error("could not render QR code: {0}")]
    Qr(String),
}

/// A TOTP shared secret. Never printed; zeroed on drop.
#[derive(Debug, Clone)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl TotpSecret {
    /// A new random 160-bit secret.
    pub fn generate() -> Self {
        TotpSecret(Secret::new(random::bytes::<SECRET_LEN>().to_vec()))
    }

    /// From raw bytes (at least [`MIN_SECRET_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(TotpError::InvalidSecret);
        }
        Ok(TotpSecret(Secret::new(bytes.to_vec())))
    }

    /// From the RFC 4648 base32 text of [`TotpSecret::to_base32`] (case,
    /// spaces and `=` padding are tolerated).
    pub fn from_base32(s: &str) -> Result<Self, TotpError> {
        let clean = Secret::new(
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect::<String>(),
        );
        let secret = totp_rs::Secret::try_from_base32(clean.expose())
            .map_err(|_| TotpError::InvalidSecret)?;
        Self::from_bytes(secret.as_bytes())
    }

    /// The secret as unpadded upper-case base32, the storable form (and what
    /// authenticator apps accept when typed by hand).
    pub fn to_base32(&self) -> Secret<String> {
        Secret::new(totp_rs::Secret::from(self.0.expose().as_slice()).to_base32())
    }

    fn totp(&self) -> Totp {
        totp_with(self.0.expose(), DIGITS as u8)
    }

    /// The code for the step containing `now_unix` (for tests and tools).
    pub fn code_at(&self, now_unix: u64) -> String {
        self.totp().generate(now_unix).to_string()
    }

    /// The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER` URI that
    /// authenticator apps scan. It contains the secret.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<Secret<String>, TotpError> {
        for label in [issuer, account] {
            if label.is_empty() || label.contains(':') {
                return Err(TotpError::InvalidLabel(label.to_string()));
            }
        }
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(0)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0.expose().as_slice())
            .with_issuer(Some(issuer))
            .with_account_name(account)
            .build()
            .map_err(|e| TotpError::InvalidLabel(e.to_string()))?;
        totp.to_url()
            .map(Secret::new)
            .map_err(|e| TotpError::InvalidLabel(e.to_string()))
    }
}

fn totp_with(secret: &[u8], digits: u8) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(STEP_SECS)
        .with_secret(secret)
        .build_noncompliant()
}

/// Renders `data` (an `otpauth://` URI) as a standalone SVG QR code (error
/// correction M, quiet zone, at least 200×200). The SVG shows the secret, so
/// it is wrapped like one.
pub fn qr_svg(data: &str) -> Result<Secret<String>, TotpError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| TotpError::Qr(e.to_string()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(Secret::new(image))
}

/// [`qr_svg`] as a `data:image/svg+xml;base64,…` URL, for an `<img src>`.
pub fn qr_svg_data_url(data: &str) -> Result<Secret<String>, TotpError> {
    let svg = qr_svg(data)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(svg.expose());
    Ok(Secret::new(format!("data:image/svg+xml;base64,{b64}")))
}

/// Checks a 6-digit `code` typed at `now_unix` (seconds since the epoch)
/// against `secret`, accepting the current step and one step either side,
/// and refusing any step `<= last_used_step`. Spaces in the code are
/// ignored. Returns the step matched: store it as the new `last_used_step`.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code: String = code.chars().filter(|c| *c != ' ').collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let totp = secret.totp();
    let current = now_unix / STEP_SECS;
    let first = current.saturating_sub(SKEW_STEPS);
    // Compare against every candidate, without an early exit; keep the
    // earliest matching step, and remember whether a match was replayed.
    let mut matched: Option<u64> = None;
    let mut replayed = false;
    for step in first..=current + SKEW_STEPS {
        let expected = totp.generate(step * STEP_SECS).to_string();
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else if matched.is_none() {
                matched = Some(step);
            }
        }
    }
    match matched {
        Some(step) => Ok(step),
        None if replayed => Err(TotpError::Replayed),
        None => Err(TotpError::WrongCode),
    }
}

/// A new set of backup codes: show `codes` once, store `hashes`.
#[derive(Debug, Clone)]
pub struct BackupCodes {
    /// The codes for the user, formatted `xxxx-xxxx-xxxx-xxxx`.
    pub codes: Vec<Secret<String>>,
    /// SHA-256 of each normalized code, same order.
    pub hashes: Vec<[u8; 32]>,
}

/// Makes [`BACKUP_CODE_COUNT`] distinct random backup codes and their hashes.
pub fn backup_codes() -> BackupCodes {
    let mut codes: Vec<Secret<String>> = Vec::with_capacity(BACKUP_CODE_COUNT);
    let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(BACKUP_CODE_COUNT);
    while codes.len() < BACKUP_CODE_COUNT {
        let raw = Secret::new(random::string_from(CROCKFORD, BACKUP_CODE_CHARS));
        let hash = hash_backup_code(raw.expose());
        if hashes.contains(&hash) {
            continue; // 2^-80: never, but cheap to guarantee
        }
        let chunks: Vec<&str> = (0..BACKUP_CODE_CHARS / 4)
            .map(|i| &raw.expose()[i * 4..i * 4 + 4])
            .collect();
        codes.push(Secret::new(chunks.join("-")));
        hashes.push(hash);
    }
    BackupCodes { codes, hashes }
}

fn normalize_backup_code(code: &str) -> Secret<String> {
    Secret::new(
        code.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                'o' => '0',
                other => other,
            })
            .collect(),
    )
}

/// SHA-256 of a backup code after normalization (case, dashes and spaces
/// ignored; `i`/`l` read as `1`, `o` as `0`).
pub fn hash_backup_code(code: &str) -> [u8; 32] {
    Sha256::digest(normalize_backup_code(code).expose().as_bytes()).into()
}

/// The index in `unused_hashes` of the hash of `code`, compared in constant
/// time over the whole slice; `None` if it is not there.
pub fn find_backup_code(code: &str, unused_hashes: &[[u8; 32]]) -> Option<usize> {
    let target = hash_backup_code(code);
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, h) in unused_hashes.iter().enumerate() {
        let eq = h.ct_eq(&target);
        index.conditional_assign(&(i as u64), eq);
        found |= eq;
    }
    if bool::from(found) {
        Some(index as usize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";
    /// RFC 6238 appendix B, SHA1 column: (time, 8-digit code).
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ];

    fn rfc() -> TotpSecret {
        TotpSecret::from_bytes(RFC_SECRET).unwrap()
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let eight = totp_with(RFC_SECRET, 8);
        for (t, code) in RFC_VECTORS {
            assert_eq!(eight.generate(t).to_string(), code, "t={t}");
            // 6 digits: the last 6 of the 8-digit code.
            assert_eq!(rfc().code_at(t), &code[2..], "t={t}");
            assert_eq!(verify(&rfc(), &code[2..], t, None), Ok(t / 30));
        }
    }

    #[test]
    fn one_step_either_side_accepted_two_refused() {
        let s = rfc();
        let t = 1_234_567_890u64;
        let step = t / 30;
        for delta in [-1i64, 0, 1] {
            let code = s.code_at((step as i64 + delta) as u64 * 30);
            assert_eq!(
                verify(&s, &code, t, None),
                Ok((step as i64 + delta) as u64),
                "delta {delta}"
            );
        }
        for delta in [-2i64, 2, 5] {
            let code = s.code_at((step as i64 + delta) as u64 * 30);
            assert_eq!(
                verify(&s, &code, t, None),
                Err(TotpError::WrongCode),
                "delta {delta}"
            );
        }
        // Near the epoch there is no step -1: no underflow.
        assert_eq!(verify(&s, &s.code_at(0), 10, None), Ok(0));
    }

    #[test]
    fn replay_refused() {
        let s = TotpSecret::generate();
        let t = 1_700_000_000u64;
        let code = s.code_at(t);
        let step = verify(&s, &code, t, None).unwrap();
        assert_eq!(verify(&s, &code, t, Some(step)), Err(TotpError::Replayed));
        // Still refused 20 s later (same code, window still covers it).
        assert_eq!(
            verify(&s, &code, t + 20, Some(step)),
            Err(TotpError::Replayed)
        );
        // The previous step's code is refused after a later one was used.
        let prev = s.code_at(t - 30);
        if prev != code {
            assert_eq!(verify(&s, &prev, t, Some(step)), Err(TotpError::Replayed));
        }
        // The next step's code is fine.
        let next = s.code_at(t + 30);
        assert_eq!(verify(&s, &next, t + 30, Some(step)), Ok(step + 1));
    }

    #[test]
    fn malformed_and_wrong_codes() {
        let s = rfc();
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "12-456"] {
            assert_eq!(
                verify(&s, bad, 59, None),
                Err(TotpError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(verify(&s, "287 082", 59, None), Ok(1));
        assert_eq!(verify(&s, "000000", 59, None), Err(TotpError::WrongCode));
    }

    #[test]
    fn secret_round_trips_through_base32() {
        let s = TotpSecret::generate();
        let b32 = s.to_base32();
        assert_eq!(b32.expose().len(), 32);
        let back = TotpSecret::from_base32(b32.expose()).unwrap();
        assert_eq!(back.code_at(1_000_000), s.code_at(1_000_000));
        let lower = TotpSecret::from_base32(&b32.expose().to_lowercase()).unwrap();
        assert_eq!(lower.code_at(42), s.code_at(42));
        assert_eq!(
            rfc().to_base32().expose(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            TotpSecret::from_base32("not base32!").err(),
            Some(TotpError::InvalidSecret)
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV").err(),
            Some(TotpError::InvalidSecret)
        );
        assert_eq!(
            TotpSecret::from_bytes(&[1; 15]).err(),
            Some(TotpError::InvalidSecret)
        );
        assert!(!format!("{s:?}").contains(b32.expose().as_str()));
    }

    #[test]
    fn otpauth_uri_and_qr() {
        let s = rfc();
        let uri = s.otpauth_uri("FlowEx", "alice@example.com").unwrap();
        let u = uri.expose();
        assert!(
            u.starts_with("otpauth://totp/FlowEx:alice%40example.com?"),
            "{u}"
        );
        assert!(u.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{u}");
        assert!(u.contains("issuer=FlowEx"), "{u}");
        assert_eq!(
            s.otpauth_uri("Flow:Ex", "a").err(),
            Some(TotpError::InvalidLabel("Flow:Ex".into()))
        );
        assert!(s.otpauth_uri("FlowEx", "").is_err());
        let svg = qr_svg(u).unwrap();
        assert!(svg.expose().contains("<svg"), "{}", &svg.expose()[..100]);
        assert!(svg.expose().trim_end().ends_with("</svg>"));
        assert_eq!(format!("{svg:?}"), "[redacted]");
        let url = qr_svg_data_url(u).unwrap();
        assert!(url.expose().starts_with("data:image/svg+xml;base64,"));
        assert!(qr_svg(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn backup_codes_unique_hashed_and_found() {
        let set = backup_codes();
        assert_eq!(set.codes.len(), 10);
        assert_eq!(set.hashes.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for (code, hash) in set.codes.iter().zip(&set.hashes) {
            let c = code.expose();
            assert_eq!(c.len(), 19, "{c}");
            assert_eq!(c.matches('-').count(), 3);
            assert!(c.bytes().all(|b| b == b'-' || CROCKFORD.contains(&b)));
            assert_eq!(hash_backup_code(c), *hash);
            assert_ne!(hash.as_slice(), c.as_bytes());
            assert!(seen.insert(c.clone()));
        }
        let unique: std::collections::HashSet<_> = set.hashes.iter().collect();
        assert_eq!(unique.len(), 10);
        // Typed back in another shape.
        let third = set.codes[3].expose().to_uppercase().replace('-', " ");
        assert_eq!(find_backup_code(&third, &set.hashes), Some(3));
        assert_eq!(
            find_backup_code(set.codes[0].expose(), &set.hashes),
            Some(0)
        );
        assert_eq!(find_backup_code("0000-0000-0000-0000", &set.hashes), None);
        assert_eq!(
            find_backup_code(set.codes[0].expose(), &set.hashes[1..]),
            None
        );
        assert_eq!(find_backup_code("anything", &[]), None);
        // Crockford reading of ambiguous letters.
        assert_eq!(
            hash_backup_code("1o1l-0000-0000-0000"),
            hash_backup_code("1011000000000000")
        );
        let two = backup_codes();
        assert!(two.hashes.iter().all(|h| !set.hashes.contains(h)));
    }
}
