//! One journaled command's events, as they travel on the stream.

use crate::BusError;
use flowex_sequencer::Batch;
use flowex_types::Event;
use serde::{Deserialize, Serialize};

/// Version byte in front of the postcard encoding; an unknown one is refused.
pub const RECORD_VERSION: u8 = 1;

/// The events of the command with journal sequence number `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The command's journal sequence number.
    pub seq: u64,
    /// When the sequencer stamped it (ns since the Unix epoch).
    pub timestamp_ns: u64,
    /// What it did, in order.
    pub events: Vec<Event>,
}

impl EventRecord {
    /// One record per command of a durable batch.
    pub fn from_batch(batch: &Batch) -> impl Iterator<Item = EventRecord> + '_ {
        batch.entries().map(|(e, events)| EventRecord {
            seq: e.seq,
            timestamp_ns: e.timestamp_ns,
            events: events.to_vec(),
        })
    }

    /// `[RECORD_VERSION][postcard(self)]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 48 * self.events.len());
        out.push(RECORD_VERSION);
        // Serialising plain data into a growable Vec cannot fail.
        let _ = postcard::to_io(self, &mut out);
        out
    }

    /// The inverse of [`encode`](Self::encode).
    pub fn decode(bytes: &[u8]) -> Result<EventRecord, BusError> {
        match bytes.split_first() {
            Some((&RECORD_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| BusError::Decode(e.to_string()))
            }
            Some((v, _)) => Err(BusError::Decode(format!("unknown record version {v}"))),
            None => Err(BusError::Decode("empty record".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_types::{AssetId, IdemKey, UserId};

    #[test]
    fn round_trips() {
        let r = EventRecord {
            seq: 7,
            timestamp_ns: 1_700_000_000_000_000_000,
            events: vec![
                Event::Deposited {
                    key: IdemKey::new("k-1").unwrap(),
                    user: UserId(3),
                    asset: AssetId(1),
                    amount: u64::MAX,
                },
                Event::BalanceChanged {
                    user: UserId(3),
                    asset: AssetId(1),
                    available: u64::MAX,
                    locked: 0,
                },
            ],
        };
        let bytes = r.encode();
        assert_eq!(EventRecord::decode(&bytes).unwrap(), r);
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(EventRecord::decode(&other).is_err());
        assert!(EventRecord::decode(&[]).is_err());
        assert!(EventRecord::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
