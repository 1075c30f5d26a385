//! Exact conversion between decimal strings and scaled integers.
//!
//! On the wire every amount is a decimal string; inside FlowEx it is an
//! integer count of some smallest unit (10^-scale). Conversion never rounds:
//! a digit that does not fit the scale is an error, not a loss.

use std::fmt::Write;

/// Longest decimal string accepted; longer input is refused before parsing.
pub const MAX_DECIMAL_LEN: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty")]
    Empty,
    #[error("longer than {MAX_DECIMAL_LEN} characters")]
    TooLong,
    #[error("negative values are not allowed")]
    Negative,
    #[error("not a plain decimal number")]
    Malformed,
    #[error("more decimal places than allowed")]
    TooPrecise,
    #[error("value too large")]
    Overflow,
}

/// Parses `s` as a non-negative decimal and returns it in units of 10^-scale.
///
/// Accepts `123`, `123.45`, `0.00100000`. Digits past `scale` must be zero
/// (`"1.2300"` at scale 2 is 123; `"1.234"` is `TooPrecise`). Refuses signs,
/// exponents, `NaN`/`inf`, spaces, and a missing integer or fraction part.
pub fn parse_scaled(s: &str, scale: u8) -> Result<u64, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    if s.len() > MAX_DECIMAL_LEN {
        return Err(DecimalError::TooLong);
    }
    if s.starts_with('-') {
        return Err(DecimalError::Negative);
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalError::Malformed);
    }
    let mut value: u64 = 0;
    let push = |v: u64, digit: u8| -> Result<u64, DecimalError> {
        v.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or(DecimalError::Overflow)
    };
    for d in int_part.bytes() {
        value = push(value, d)?;
    }
    let frac = frac_part.unwrap_or("").as_bytes();
    for i in 0..usize::from(scale) {
        value = push(value, frac.get(i).copied().unwrap_or(b'0'))?;
    }
    if frac.len() > usize::from(scale) && frac[usize::from(scale)..].iter().any(|&d| d != b'0') {
        return Err(DecimalError::TooPrecise);
    }
    Ok(value)
}

/// Formats `value` units of 10^-scale with exactly `scale` decimals: `format_scaled(100000, 8) == "0.00100000"`.
pub fn format_scaled(value: u64, scale: u8) -> String {
    let mut out = String::with_capacity(24);
    write_scaled(&mut out, value, scale);
    out
}

/// Like [`format_scaled`], appending to `out` (avoids an allocation per number when writing JSON).
pub fn write_scaled(out: &mut String, value: u64, scale: u8) {
    write_scaled_wide(out, u128::from(value), scale);
}

/// [`format_scaled`] for sums that may pass `u64` (volumes over many trades).
pub fn format_scaled_wide(value: u128, scale: u8) -> String {
    let mut out = String::with_capacity(32);
    write_scaled_wide(&mut out, value, scale);
    out
}

fn write_scaled_wide(out: &mut String, v: u128, scale: u8) {
    if scale == 0 {
        let _ = write!(out, "{v}");
        return;
    }
    // Scales above 38 do not fit u128; asset decimals stop at 18.
    let pow = 10u128.pow(u32::from(scale.min(38)));
    let _ = write!(
        out,
        "{}.{:0width$}",
        v / pow,
        v % pow,
        width = usize::from(scale)
    );
}

/// 10^exp as u64, or `None` when it does not fit.
pub fn pow10(exp: u8) -> Option<u64> {
    10u64.checked_pow(u32::from(exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(parse_scaled("0.00100000", 8), Ok(100_000));
        assert_eq!(parse_scaled("123", 2), Ok(12_300));
        assert_eq!(parse_scaled("1.2300", 2), Ok(123));
        assert_eq!(parse_scaled("0", 8), Ok(0));
        assert_eq!(parse_scaled("007.5", 1), Ok(75));
        assert_eq!(parse_scaled("18446744073709551615", 0), Ok(u64::MAX));
    }

    #[test]
    fn refuses_everything_else() {
        use DecimalError::*;
        assert_eq!(parse_scaled("", 8), Err(Empty));
        assert_eq!(parse_scaled("-1", 8), Err(Negative));
        assert_eq!(parse_scaled("1.234", 2), Err(TooPrecise));
        assert_eq!(parse_scaled("0.000000001", 8), Err(TooPrecise));
        for bad in [
            "NaN", "nan", "inf", "1e5", "1E5", "+1", " 1", "1 ", "1.", ".5", "1..2", "0x10", "1,5",
            "١",
        ] {
            assert_eq!(parse_scaled(bad, 8), Err(Malformed), "{bad:?}");
        }
        assert_eq!(parse_scaled("18446744073709551616", 0), Err(Overflow));
        assert_eq!(parse_scaled("184467440737.09551616", 8), Err(Overflow));
        assert_eq!(parse_scaled(&"1".repeat(41), 0), Err(TooLong));
    }

    #[test]
    fn formats_with_fixed_scale() {
        assert_eq!(format_scaled(100_000, 8), "0.00100000");
        assert_eq!(format_scaled(12_300, 2), "123.00");
        assert_eq!(format_scaled(7, 0), "7");
        assert_eq!(format_scaled(u64::MAX, 18), "18.446744073709551615");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(v in any::<u64>(), scale in 0u8..=18) {
            prop_assert_eq!(parse_scaled(&format_scaled(v, scale), scale), Ok(v));
        }
    }
}
