//! Conversions between Rust values and the portable column types.
//!
//! The `Any` driver only knows `bool`, integers, floats, text and bytes, and
//! SQLite hands a `BOOLEAN` back as an integer; these helpers hide both and
//! turn every mismatch into [`StoreError::Corrupt`] or
//! [`StoreError::OutOfRange`] instead of a panic.

use crate::error::{Result, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A `u64` id or counter as `BIGINT`; above `i64::MAX` is refused.
pub(crate) fn id(what: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange {
        what,
        value: v.to_string(),
    })
}

pub(crate) fn opt_id(what: &'static str, v: Option<u64>) -> Result<Option<i64>> {
    v.map(|v| id(what, v)).transpose()
}

/// An unsigned amount as its `TEXT` column value.
pub(crate) fn amount(v: u64) -> String {
    v.to_string()
}

pub(crate) fn get_i64(row: &AnyRow, col: &'static str) -> Result<i64> {
    row.try_get::<i64, _>(col)
        .map_err(|e| StoreError::corrupt(col, e))
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: &'static str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(|e| StoreError::corrupt(col, e))
}

pub(crate) fn get_u64(row: &AnyRow, col: &'static str) -> Result<u64> {
    let v = get_i64(row, col)?;
    u64::try_from(v).map_err(|_| StoreError::corrupt(col, format!("negative id {v}")))
}

pub(crate) fn get_opt_u64(row: &AnyRow, col: &'static str) -> Result<Option<u64>> {
    match get_opt_i64(row, col)? {
        None => Ok(None),
        Some(v) => u64::try_from(v)
            .map(Some)
            .map_err(|_| StoreError::corrupt(col, format!("negative id {v}"))),
    }
}

pub(crate) fn get_str(row: &AnyRow, col: &'static str) -> Result<String> {
    row.try_get::<String, _>(col)
        .map_err(|e| StoreError::corrupt(col, e))
}

pub(crate) fn get_opt_str(row: &AnyRow, col: &'static str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(|e| StoreError::corrupt(col, e))
}

/// `BOOLEAN`: PostgreSQL answers a bool, SQLite the integer 0 or 1.
pub(crate) fn get_bool(row: &AnyRow, col: &'static str) -> Result<bool> {
    if let Ok(b) = row.try_get::<bool, _>(col) {
        return Ok(b);
    }
    match get_i64(row, col)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::corrupt(col, format!("boolean {other}"))),
    }
}

/// A `TEXT` amount column read back as `u64`, exactly.
pub(crate) fn get_amount(row: &AnyRow, col: &'static str) -> Result<u64> {
    let s = get_str(row, col)?;
    parse_amount(col, &s)
}

pub(crate) fn parse_amount(col: &'static str, s: &str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::corrupt(col, format!("amount {s:?}")));
    }
    s.parse::<u64>()
        .map_err(|e| StoreError::corrupt(col, format!("amount {s:?}: {e}")))
}

/// A signed `TEXT` amount (ledger entries), range ±`u64::MAX`.
pub(crate) fn get_signed(row: &AnyRow, col: &'static str) -> Result<i128> {
    let s = get_str(row, col)?;
    let digits = s.strip_prefix('-').unwrap_or(&s);
    let magnitude = parse_amount(col, digits)?;
    Ok(if s.starts_with('-') {
        -(magnitude as i128)
    } else {
        magnitude as i128
    })
}

/// Lower-case hex, for binary values kept in `TEXT` columns.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

pub(crate) fn hex_decode(col: &'static str, s: &str) -> Result<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(StoreError::corrupt(col, "odd-length hex"));
    }
    b.chunks(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(StoreError::corrupt(col, "non-hex character")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode("x", &hex_encode(&all)).unwrap(), all);
        assert!(hex_decode("x", "abc").is_err());
        assert!(hex_decode("x", "zz").is_err());
    }

    #[test]
    fn amounts_are_exact_and_strict() {
        assert_eq!(parse_amount("x", &amount(u64::MAX)).unwrap(), u64::MAX);
        for bad in ["", "-1", "+1", "1.0", "1e3", " 1", "18446744073709551616"] {
            assert!(parse_amount("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_above_i64_are_refused() {
        assert_eq!(id("id", i64::MAX as u64).unwrap(), i64::MAX);
        assert!(matches!(
            id("id", i64::MAX as u64 + 1),
            Err(StoreError::OutOfRange { .. })
        ));
    }
}
