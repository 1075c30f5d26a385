//! Ids from a request, range-checked at the edge.
//!
//! Every id FlowEx stores (users, orders, trades, sessions, withdrawals,
//! journal sequence numbers) is a `BIGINT`, so a valid id is at most
//! 2^63 − 1 even where the type is `u64`. A number above that (or any
//! other text) is the caller's mistake and is refused here with a 4xx,
//! before it could reach the store and come back as a 5xx: on `/api/v3`
//! -1130 naming the parameter ([`crate::Params::id`]), on `/api/v1` each
//! route's own 400 code.

/// The largest id the store holds: `i64::MAX`.
pub const MAX_ID: u64 = i64::MAX as u64;

/// `s` as an id in `0..=MAX_ID` (decimal digits only, no sign).
pub fn parse_id(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v <= MAX_ID)
}

/// Whether an id that arrived typed (a JSON number) fits the store.
pub fn in_range(id: u64) -> bool {
    id <= MAX_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(parse_id("0"), Some(0));
        assert_eq!(parse_id("9223372036854775807"), Some(MAX_ID));
        for bad in [
            "",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "+1",
            " 1",
            "1e3",
            "0x10",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert!(in_range(MAX_ID) && !in_range(MAX_ID + 1));
    }
}
