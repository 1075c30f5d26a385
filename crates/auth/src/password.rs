//! Password hashing (Argon2id) and the registration password policy.
//!
//! # Hashing
//!
//! [`hash_password`] runs Argon2id (RFC 9106) with [`PARAMS`]: 19 MiB of
//! memory (`m=19456` KiB), 2 passes (`t=2`), 1 lane (`p=1`), a fresh random
//! 16-byte salt and a 32-byte output. These are OWASP's minimum recommended
//! settings for Argon2id; one hash costs a few tens of milliseconds and
//! 19 MiB on one core in a release build (several times more in a debug
//! build). Run it on a blocking thread (`tokio::task::spawn_blocking`) and
//! bound how many run at once: 19 MiB each adds up under a login storm. The result is a PHC string,
//! e.g. `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, which carries its own
//! parameters: store it as is (one TEXT column).
//!
//! [`verify_password`] recomputes the hash with the parameters of the stored
//! string and compares in constant time. It accepts only `argon2id` version 19
//! and refuses absurd parameters (see [`MAX_M_COST_KIB`]) so that a corrupted
//! or planted row can't make a login burn gigabytes. When it returns `true`,
//! ask [`needs_rehash`]: if the stored hash is weaker than today's [`PARAMS`],
//! hash the (now known good) password again and store the new string.
//!
//! For an unknown account, call [`verify_dummy`] so that "no such user" takes
//! as long as "wrong password" and the login endpoint doesn't reveal which
//! e-mail addresses are registered.
//!
//! # Policy
//!
//! [`check_policy`] implements the registration rules (NIST SP 800-63B
//! style: length and a block list, no composition rules): 10 to 128
//! characters counted as Unicode scalar values (not bytes), not the e-mail
//! address nor its local part (case-insensitive), and not in the bundled list
//! of common passwords (`data/common-passwords.txt`, compared lowercased).

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use thiserror::Error;

/// Argon2id memory cost in KiB (19 MiB, OWASP's minimum).
pub const M_COST_KIB: u32 = 19_456;
/// Argon2id number of passes.
pub const T_COST: u32 = 2;
/// Argon2id degree of parallelism (lanes).
pub const P_COST: u32 = 1;
/// Length of the Argon2id output in bytes.
pub const OUTPUT_LEN: usize = 32;

/// The parameters [`hash_password`] uses.
pub const PARAMS: (u32, u32, u32) = (M_COST_KIB, T_COST, P_COST);

/// Largest memory cost [`verify_password`] will run (256 MiB): stronger
/// stored hashes are refused rather than risking memory exhaustion.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;
/// Largest pass count [`verify_password`] will run.
pub const MAX_T_COST: u32 = 16;
/// Largest lane count [`verify_password`] will run.
pub const MAX_P_COST: u32 = 16;

/// Shortest password [`check_policy`] accepts, in characters.
pub const MIN_CHARS: usize = 10;
/// Longest password [`check_policy`] accepts, in characters.
pub const MAX_CHARS: usize = 128;
/// Longest input, in bytes, that [`hash_password`] and [`verify_password`]
/// will process (128 characters of 4-byte UTF-8 fit). Longer input is refused
/// before any hashing, so a huge "password" costs nothing.
pub const MAX_BYTES: usize = 512;

const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Why a password could not be hashed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The password is longer than [`MAX_BYTES`] bytes.
    #[error("password is longer than {MAX_BYTES} bytes")]
    TooLong,
    /// Argon2 itself failed (out of memory, RNG failure).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Why a password was refused at registration or password change. The
/// messages are written for the end user.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("password must be at least {min} characters long (it has {actual})")]
    TooShort {
        /// The minimum, [`MIN_CHARS`].
        min: usize,
        /// Characters in the refused password.
        actual: usize,
    },
    /// More than [`MAX_CHARS`] characters.
    #[error("password must be at most {max} characters long (it has {actual})")]
    TooLong {
        /// The maximum, [`MAX_CHARS`].
        max: usize,
        /// Characters in the refused password.
        actual: usize,
    },
    /// The password is the account's e-mail address or its local part.
    #[error("password must not be your e-mail address or its user name")]
    SameAsEmail,
    /// The password is in the list of commonly used passwords.
    #[error("password is too common; choose one that is harder to guess")]
    Common,
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).expect("static Argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with Argon2id ([`PARAMS`]) and a random salt, returning
/// the PHC string to store.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    if password.len() > MAX_BYTES {
        return Err(HashError::TooLong);
    }
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

/// Parameters of an accepted stored hash: only Argon2id v19 within limits.
fn parse_stored(phc: &str) -> Option<(PasswordHash, Params)> {
    let hash = PasswordHash::new(phc).ok()?;
    if hash.algorithm.as_str() != "argon2id" || hash.version != Some(0x13) {
        return None;
    }
    let params = Params::try_from(&hash).ok()?;
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return None;
    }
    Some((hash, params))
}

/// Checks `password` against a stored PHC string, in constant time with
/// respect to the hash. Returns `false` for a wrong password and also for a
/// stored string that is not Argon2id v19, is malformed, or asks for more
/// than the `MAX_*` limits (those cases never succeed, whatever the password).
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Some((hash, params)) = parse_stored(phc) else {
        return false;
    };
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Spends the same time as a [`verify_password`] call with today's
/// parameters, and always returns `false`. Call it when the account does not
/// exist so that response times don't reveal which accounts exist.
pub fn verify_dummy(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY
        .get_or_init(|| hash_password("flowex dummy password for timing").expect("dummy hash"));
    // Same early exits as a real verification (an oversized password is
    // refused as fast for a real account as for a missing one).
    let _ = verify_password(password, phc);
    false
}

/// Whether a stored hash should be replaced: it is not Argon2id v19, or any of
/// its parameters (memory, passes, output length) is weaker than [`PARAMS`].
/// Call after a successful [`verify_password`] and, if `true`, store
/// `hash_password(password)` instead.
pub fn needs_rehash(phc: &str) -> bool {
    match parse_stored(phc) {
        None => true,
        Some((hash, params)) => {
            params.m_cost() < M_COST_KIB
                || params.t_cost() < T_COST
                || hash.hash.map(|h| h.len()).unwrap_or(0) < OUTPUT_LEN
        }
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether `password` is in the bundled list of common passwords
/// (case-insensitive).
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(password.to_lowercase().as_str())
}

/// Checks a new password against the registration policy (see the module
/// documentation). `email` is the account's address, used to refuse the
/// address itself and its local part.
pub fn check_policy(password: &str, email: &str) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyError::TooShort {
            min: MIN_CHARS,
            actual: chars,
        });
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong {
            max: MAX_CHARS,
            actual: chars,
        });
    }
    let lower = password.to_lowercase();
    let email = email.trim().to_lowercase();
    if !email.is_empty() {
        let local = email.split('@').next().unwrap_or("");
        if lower == email || (!local.is_empty() && lower == local) {
            return Err(PolicyError::SameAsEmail);
        }
    }
    if common_passwords().contains(lower.as_str()) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
        // A fresh salt each time.
        assert_ne!(phc, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn hash_uses_owasp_argon2id_params() {
        let phc = hash_password("correct horse battery").unwrap();
        let parts: Vec<&str> = phc.split('$').collect();
        // ["", "argon2id", "v=19", "m=19456,t=2,p=1", salt, hash]
        assert_eq!(parts.len(), 6, "{phc}");
        assert_eq!(parts[1], "argon2id");
        assert_eq!(parts[2], "v=19");
        let mut m = 0;
        let mut t = 0;
        let mut p = 0;
        for kv in parts[3].split(',') {
            let (k, v) = kv.split_once('=').unwrap();
            let v: u32 = v.parse().unwrap();
            match k {
                "m" => m = v,
                "t" => t = v,
                "p" => p = v,
                _ => {}
            }
        }
        assert!(m >= 19_456 && t >= 2 && p >= 1, "{phc}");
        assert_eq!((m, t, p), PARAMS);
        // 16-byte salt and 32-byte hash in unpadded base64.
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
    }

    #[test]
    fn verify_refuses_other_algorithms_and_garbage() {
        let good = hash_password("correct horse battery").unwrap();
        // Same salt/hash relabelled as argon2i / argon2d: refused.
        for alg in ["argon2i", "argon2d", "scrypt", "pbkdf2-sha256"] {
            let forged = good.replacen("argon2id", alg, 1);
            assert!(!verify_password("correct horse battery", &forged), "{alg}");
            assert!(needs_rehash(&forged));
        }
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password("x", "$argon2id$v=19$m=19456,t=2,p=1$"));
        // Absurd memory cost: refused without running.
        let huge = good.replacen("m=19456", "m=4000000", 1);
        assert!(!verify_password("correct horse battery", &huge));
        // Oversized input refused before hashing.
        assert!(!verify_password(&"a".repeat(MAX_BYTES + 1), &good));
        assert_eq!(
            hash_password(&"a".repeat(MAX_BYTES + 1)),
            Err(HashError::TooLong)
        );
    }

    #[test]
    fn weaker_stored_hash_verifies_but_needs_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, Some(32)).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        assert!(verify_password("correct horse battery", &weak));
        assert!(needs_rehash(&weak));
    }

    #[test]
    fn dummy_verification_is_always_false() {
        assert!(!verify_dummy("anything at all"));
        assert!(!verify_dummy(&"é".repeat(1000)));
    }

    #[test]
    fn policy_length_counts_characters() {
        assert_eq!(
            check_policy("short", "a@b.c"),
            Err(PolicyError::TooShort { min: 10, actual: 5 })
        );
        // 9 two-byte characters = 18 bytes but 9 characters: too short.
        assert_eq!(
            check_policy("ééééééééé", "a@b.c"),
            Err(PolicyError::TooShort { min: 10, actual: 9 })
        );
        // 10 four-byte characters: accepted although 40 bytes.
        assert_eq!(check_policy("🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀", "a@b.c"), Ok(()));
        assert_eq!(check_policy(&"x".repeat(128), "a@b.c"), Ok(()));
        assert_eq!(
            check_policy(&"x".repeat(129), "a@b.c"),
            Err(PolicyError::TooLong {
                max: 128,
                actual: 129
            })
        );
        // 128 emoji = 512 bytes: passes policy and can be hashed.
        let emoji = "🦀".repeat(128);
        assert_eq!(check_policy(&emoji, "a@b.c"), Ok(()));
        assert!(hash_password(&emoji).is_ok());
    }

    #[test]
    fn policy_refuses_email_and_local_part() {
        let email = "Alice.Trader@Example.com";
        assert_eq!(
            check_policy("alice.trader@example.com", email),
            Err(PolicyError::SameAsEmail)
        );
        assert_eq!(
            check_policy("ALICE.TRADER", email),
            Err(PolicyError::SameAsEmail)
        );
        assert_eq!(check_policy("alice.trader!2024x", email), Ok(()));
    }

    #[test]
    fn policy_refuses_common_passwords_case_insensitively() {
        for p in [
            "password123!",
            "Password1234",
            "QWERTYUIOP",
            "1234567890",
            "iloveyou123",
            "1q2w3e4r5t",
        ] {
            assert_eq!(check_policy(p, "a@b.c"), Err(PolicyError::Common), "{p}");
            assert!(is_common(p));
        }
        assert_eq!(check_policy("tangerine-otter-57", "a@b.c"), Ok(()));
        assert!(common_passwords().len() >= 1000);
        // Every listed entry is lowercase and long enough to matter.
        for p in common_passwords() {
            assert_eq!(*p, p.to_lowercase());
            assert!(p.chars().count() >= MIN_CHARS, "{p}");
        }
    }

    #[test]
    fn policy_messages_are_clear() {
        let msg = check_policy("short", "a@b.c").unwrap_err().to_string();
        assert_eq!(
            msg,
            "password must be at least 10 characters long (it has 5)"
        );
        assert!(PolicyError::Common.to_string().contains("too common"));
    }
}
