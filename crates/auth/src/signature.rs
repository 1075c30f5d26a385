//! Binance-style signed requests: HMAC-SHA256 signatures and timestamps.
//!
//! A signed `/api/v3` request carries `X-MBX-APIKEY`, a `timestamp` (ms) and
//! optionally `recvWindow`, and a `signature` parameter: the lowercase hex
//! HMAC-SHA256, keyed with the API secret, of the raw query string (without
//! the `signature` parameter) immediately followed by the raw request body.
//!
//! The gateway must verify over the bytes it received, never over re-encoded
//! parameters (clients order and encode differently):
//!
//! 1. `split_signature(raw_query)`; if the query has no `signature`, try the
//!    body (python-binance puts it last in a form body) with
//!    `split_signature(body)`. More than one `signature` is refused.
//! 2. `verify_signature(secret, query_without_sig, body, sig)` when the
//!    signature came from the query, or
//!    `verify_signature(secret, raw_query, body_without_sig.as_bytes(), sig)`
//!    when it came from the body.
//! 3. `check_timestamp(timestamp, recv_window, server_now_ms)`.
//!
//! The comparison is constant-time. Binance codes: a missing or bad signature
//! is -1022 ("Signature for this request is not valid."), a timestamp outside
//! the window -1021, a recvWindow over 60000 -1131.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Default `recvWindow` in milliseconds.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;
/// Largest `recvWindow` accepted, in milliseconds.
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;
/// How far ahead of the server clock a timestamp may be, in milliseconds
/// (the request must satisfy `timestamp < server + 1000`).
pub const MAX_AHEAD_MS: u64 = 1_000;

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length")
}

/// Lowercase hex HMAC-SHA256 of `payload` keyed with `secret` (what a client
/// sends as `signature`).
pub fn sign(secret: &str, payload: &[u8]) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(payload);
    hex::encode(m.finalize().into_bytes())
}

/// Whether `signature_hex` is the HMAC-SHA256 of `query_without_signature`
/// followed by `body`, keyed with `secret`. Hex digits may be upper or lower
/// case; anything that is not 64 hex digits is `false`. Constant time in the
/// signature's value.
pub fn verify_signature(
    secret: &str,
    query_without_signature: &str,
    body: &[u8],
    signature_hex: &str,
) -> bool {
    let mut expected = [0u8; 32];
    if signature_hex.len() != 64 || hex::decode_to_slice(signature_hex, &mut expected).is_err() {
        return false;
    }
    let mut m = mac(secret.as_bytes());
    m.update(query_without_signature.as_bytes());
    m.update(body);
    m.verify_slice(&expected).is_ok()
}

/// Removes the `signature=…` parameter from a raw `application/x-www-form-
/// urlencoded` string (a query string or a form body), wherever it is.
/// Returns the rest exactly as received (same order, same encoding, joined
/// by `&` as it was) and the signature value. `None` if there is no
/// `signature` parameter, if it is empty, or if there are several.
pub fn split_signature(raw: &str) -> Option<(String, String)> {
    let mut signature: Option<&str> = None;
    let mut rest: Vec<&str> = Vec::new();
    for part in raw.split('&') {
        match part.split_once('=') {
            Some(("signature", value)) => {
                if signature.is_some() {
                    return None;
                }
                signature = Some(value);
            }
            None if part == "signature" => return None,
            _ => rest.push(part),
        }
    }
    let signature = signature.filter(|s| !s.is_empty())?;
    Some((rest.join("&"), signature.to_string()))
}

/// Why a request's timestamp was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// The timestamp is 1000 ms or more ahead of the server clock (-1021).
    #[error("Timestamp for this request was 1000ms ahead of the server's time.")]
    Ahead,
    /// The request is older than its `recvWindow` (-1021).
    #[error("Timestamp for this request is outside of the recvWindow.")]
    Outside,
    /// `recvWindow` is larger than 60000 ms (-1131).
    #[error("recvWindow must be less than 60000")]
    RecvWindowTooLarge,
}

impl TimestampError {
    /// The Binance error code for this case.
    pub const fn binance_code(&self) -> i32 {
        match self {
            TimestampError::Ahead | TimestampError::Outside => -1021,
            TimestampError::RecvWindowTooLarge => -1131,
        }
    }
}

/// Binance's timestamp rule: with `w = recv_window_ms` (default 5000, at most
/// 60000), accept only if `timestamp < server + 1000` and
/// `server - timestamp <= w`. All values in milliseconds since the epoch.
pub fn check_timestamp(
    timestamp_ms: u64,
    recv_window_ms: Option<u64>,
    server_ms: u64,
) -> Result<(), TimestampError> {
    let window = recv_window_ms.unwrap_or(DEFAULT_RECV_WINDOW_MS);
    if window > MAX_RECV_WINDOW_MS {
        return Err(TimestampError::RecvWindowTooLarge);
    }
    if timestamp_ms >= server_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(TimestampError::Ahead);
    }
    if server_ms.saturating_sub(timestamp_ms) > window {
        return Err(TimestampError::Outside);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const PAYLOAD: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const SIG: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    const QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
    const BODY: &str = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const SIG_MIXED: &str = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";

    #[test]
    fn binance_test_vector() {
        assert_eq!(sign(SECRET, PAYLOAD.as_bytes()), SIG);
        assert!(verify_signature(SECRET, PAYLOAD, b"", SIG));
        assert!(verify_signature(SECRET, "", PAYLOAD.as_bytes(), SIG));
        assert!(verify_signature(SECRET, PAYLOAD, b"", &SIG.to_uppercase()));
    }

    #[test]
    fn binance_query_plus_body_vector() {
        assert!(verify_signature(SECRET, QUERY, BODY.as_bytes(), SIG_MIXED));
        assert_eq!(sign(SECRET, format!("{QUERY}{BODY}").as_bytes()), SIG_MIXED);
        // Not the same as joining with '&'.
        assert!(!verify_signature(
            SECRET,
            &format!("{QUERY}&"),
            BODY.as_bytes(),
            SIG_MIXED
        ));
    }

    #[test]
    fn wrong_secret_payload_or_signature() {
        let wrong = SECRET.replace('N', "M");
        assert!(!verify_signature(&wrong, PAYLOAD, b"", SIG));
        assert!(!verify_signature(
            SECRET,
            &PAYLOAD.replace("0.1", "0.2"),
            b"",
            SIG
        ));
        assert!(!verify_signature(SECRET, PAYLOAD, b"x", SIG));
        let mut bad = SIG.to_string();
        bad.replace_range(0..1, "d");
        assert!(!verify_signature(SECRET, PAYLOAD, b"", &bad));
        for s in [
            "",
            "zz",
            &SIG[..63],
            &format!("{SIG}0"),
            &SIG.replace('c', "g"),
        ] {
            assert!(!verify_signature(SECRET, PAYLOAD, b"", s), "{s:?}");
        }
    }

    #[test]
    fn split_signature_anywhere() {
        let last = format!("{PAYLOAD}&signature={SIG}");
        assert_eq!(
            split_signature(&last),
            Some((PAYLOAD.to_string(), SIG.to_string()))
        );
        let first = format!("signature={SIG}&{PAYLOAD}");
        assert_eq!(
            split_signature(&first),
            Some((PAYLOAD.to_string(), SIG.to_string()))
        );
        let middle = format!("symbol=LTCBTC&side=BUY&signature={SIG}&type=LIMIT");
        assert_eq!(
            split_signature(&middle),
            Some((
                "symbol=LTCBTC&side=BUY&type=LIMIT".to_string(),
                SIG.to_string()
            ))
        );
        let (q, s) = split_signature(&middle).unwrap();
        assert!(!q.contains("signature"));
        assert_eq!(s, SIG);
        // Encoding and order preserved byte for byte.
        let enc = "symbols=%5B%22BTCUSDT%22%5D&timestamp=1&signature=ab&a=b%20c";
        assert_eq!(
            split_signature(enc),
            Some((
                "symbols=%5B%22BTCUSDT%22%5D&timestamp=1&a=b%20c".into(),
                "ab".into()
            ))
        );
        // Only the exact name counts.
        assert_eq!(
            split_signature("xsignature=1&signatures=2&signature=ab"),
            Some(("xsignature=1&signatures=2".into(), "ab".into()))
        );
        assert_eq!(split_signature(PAYLOAD), None);
        assert_eq!(split_signature(""), None);
        assert_eq!(split_signature("a=1&signature="), None);
        assert_eq!(split_signature("a=1&signature"), None);
        assert_eq!(split_signature("signature=ab&a=1&signature=cd"), None);
        assert_eq!(
            split_signature(&format!("signature={SIG}")),
            Some((String::new(), SIG.into()))
        );
    }

    #[test]
    fn split_then_verify_round_trip() {
        let raw = format!("{PAYLOAD}&signature={SIG}");
        let (q, s) = split_signature(&raw).unwrap();
        assert!(verify_signature(SECRET, &q, b"", &s));
        // Signature in a form body, parameters split between query and body.
        let body = format!("{BODY}&signature={SIG_MIXED}");
        let (b, s) = split_signature(&body).unwrap();
        assert!(verify_signature(SECRET, QUERY, b.as_bytes(), &s));
    }

    #[test]
    fn timestamp_windows() {
        let now = 1_499_827_319_559u64;
        assert_eq!(check_timestamp(now, None, now), Ok(()));
        assert_eq!(check_timestamp(now - 5_000, None, now), Ok(()));
        assert_eq!(
            check_timestamp(now - 5_001, None, now),
            Err(TimestampError::Outside)
        );
        assert_eq!(check_timestamp(now + 999, None, now), Ok(()));
        assert_eq!(
            check_timestamp(now + 1_000, None, now),
            Err(TimestampError::Ahead)
        );
        assert_eq!(check_timestamp(now - 60_000, Some(60_000), now), Ok(()));
        assert_eq!(
            check_timestamp(now - 60_001, Some(60_000), now),
            Err(TimestampError::Outside)
        );
        assert_eq!(
            check_timestamp(now, Some(60_001), now),
            Err(TimestampError::RecvWindowTooLarge)
        );
        assert_eq!(check_timestamp(now - 100, Some(100), now), Ok(()));
        assert_eq!(
            check_timestamp(now - 101, Some(100), now),
            Err(TimestampError::Outside)
        );
        assert_eq!(check_timestamp(0, None, now), Err(TimestampError::Outside));
        assert_eq!(
            check_timestamp(u64::MAX, None, now),
            Err(TimestampError::Ahead)
        );
        assert_eq!(check_timestamp(0, None, 0), Ok(()));
        assert_eq!(TimestampError::Outside.binance_code(), -1021);
        assert_eq!(TimestampError::Ahead.binance_code(), -1021);
        assert_eq!(TimestampError::RecvWindowTooLarge.binance_code(), -1131);
        assert_eq!(
            TimestampError::Outside.to_string(),
            "Timestamp for this request is outside of the recvWindow."
        );
    }
}
