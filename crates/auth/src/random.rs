//! The operating system's CSPRNG, in the shapes this crate needs.
//!
//! Every random value in this crate comes from `getrandom` (the kernel's
//! `getrandom(2)` on Linux). A failure of the OS generator is not something a
//! caller can recover from or work around safely, so these helpers panic on
//! it, like `rand::rngs::OsRng` does.

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}

/// Fills `buf` with random bytes.
pub(crate) fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// A string of `len` characters drawn uniformly from `alphabet` (at most 256
/// symbols), by rejection sampling so that no symbol is favoured.
pub(crate) fn string_from(alphabet: &[u8], len: usize) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let n = alphabet.len();
    // Largest multiple of n that fits in a byte: bytes at or above it are
    // rejected so that `b % n` is uniform.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        fill(&mut pool);
        for &b in &pool {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % n] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_only_the_alphabet_and_differ() {
        let a = string_from(b"abc", 200);
        assert_eq!(a.len(), 200);
        assert!(a.bytes().all(|b| b"abc".contains(&b)));
        for c in ["a", "b", "c"] {
            assert!(a.contains(c), "all symbols appear in 200 draws");
        }
        assert_ne!(bytes::<16>(), bytes::<16>());
    }
}
