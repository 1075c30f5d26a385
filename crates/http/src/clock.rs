//! The one wall clock of the services: milliseconds since the Unix epoch.
//!
//! The engine has no clock (time comes in with each command, from the
//! sequencer); everything at the edge that stamps or compares times
//! (audit rows, rate-limit windows, `timestamp`/`recvWindow`, records)
//! reads this one. Two views of the same instant: `u64` where Binance's
//! wire has unsigned times, `i64` where the store's `BIGINT` columns do.

/// Now, in ms since the Unix epoch (0 for a clock before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`now_ms`] as the store's timestamps hold it.
pub fn now_ms_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_instant_two_views() {
        let (a, b) = (super::now_ms(), super::now_ms_i64());
        assert!(a > 1_600_000_000_000 && b >= a as i64);
    }
}
