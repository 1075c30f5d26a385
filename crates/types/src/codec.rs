//! The journal's record format for commands: a fixed header followed by the
//! postcard encoding of the command.
//!
//! ```text
//! +---------+----------+----------------+---------------------+
//! | version | seq (LE) | timestamp (LE) | postcard(Command)   |
//! | u8 = 1  | u64      | u64, ns epoch  | variable            |
//! +---------+----------+----------------+---------------------+
//! ```
//! The version byte lets a later release read old journals; an unknown
//! version is refused, never guessed at.

use crate::command::Command;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u8 = 1;
pub const HEADER_LEN: usize = 17;

/// A command with the sequence number and time the sequencer gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub seq: u64,
    /// Nanoseconds since the Unix epoch, stamped by the sequencer.
    pub timestamp_ns: u64,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("record shorter than its header")]
    Truncated,
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    #[error("undecodable command: {0}")]
    Payload(String),
}

impl Envelope {
    /// Appends the encoded record to `out` (reusing its allocation).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ns.to_le_bytes());
        // Serialising a plain enum into a growable Vec cannot fail.
        let _ = postcard::to_io(&self.command, &mut *out);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
        if bytes.len() < HEADER_LEN {
            return Err(CodecError::Truncated);
        }
        if bytes[0] != FORMAT_VERSION {
            return Err(CodecError::UnknownVersion(bytes[0]));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let (command, rest) = postcard::take_from_bytes::<Command>(&bytes[HEADER_LEN..])
            .map_err(|e| CodecError::Payload(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CodecError::Payload(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok(Envelope {
            seq: word(1),
            timestamp_ns: word(9),
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::*;
    use crate::ids::*;

    fn sample() -> Envelope {
        Envelope {
            seq: 42,
            timestamp_ns: 1_700_000_000_000_000_000,
            command: Command::PlaceOrder(NewOrder {
                user: UserId(7),
                market: MarketId(1),
                side: Side::Sell,
                order_type: OrderType::StopLossLimit,
                tif: TimeInForce::Gtc,
                price: 100,
                qty: OrderQty::Base(5),
                stop_price: 101,
                client_id: Some(ClientOrderId::new("abc-1").unwrap()),
                stp: None,
            }),
        }
    }

    #[test]
    fn round_trips_and_is_compact() {
        let e = sample();
        let bytes = e.encode();
        assert!(bytes.len() < 64, "{} bytes", bytes.len());
        assert_eq!(Envelope::decode(&bytes), Ok(e));
    }

    #[test]
    fn refuses_damaged_records() {
        let bytes = sample().encode();
        assert_eq!(Envelope::decode(&bytes[..10]), Err(CodecError::Truncated));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Envelope::decode(&v2), Err(CodecError::UnknownVersion(2)));
        assert!(matches!(
            Envelope::decode(&bytes[..bytes.len() - 1]),
            Err(CodecError::Payload(_))
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            Envelope::decode(&extra),
            Err(CodecError::Payload(_))
        ));
    }
}
