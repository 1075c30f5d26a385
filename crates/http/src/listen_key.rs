//! The shape of a listenKey (`POST /api/v3/userDataStream`): 60 ASCII
//! letters and digits. The gateway routes `/ws/<listenKey>` to the user
//! data streams by this shape alone; a market stream name never has it (it
//! holds `@` or starts with `!`), nor does ccxt.pro's `/ws/<n>`.

/// A listenKey's length.
pub const LEN: usize = 60;

/// Whether `s` has a listenKey's shape.
pub fn is_listen_key(s: &str) -> bool {
    s.len() == LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert!(is_listen_key(&"aZ9".repeat(20)));
        assert!(!is_listen_key(&"a".repeat(59)));
        assert!(!is_listen_key(&"a".repeat(61)));
        assert!(!is_listen_key(&format!("{}@", "a".repeat(59))));
        assert!(!is_listen_key("btcusdt@trade"));
        assert!(!is_listen_key("0"));
    }
}
