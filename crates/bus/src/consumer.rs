//! The reading side: records after a seq, with gap detection.

use crate::RedisConn;
use crate::{seq_of_id, BusConfig, BusError, EventRecord};
use redis::streams::StreamReadReply;
use redis::Value;
use std::time::Duration;

/// Seqs that should have come and did not: the stream was trimmed past
/// the consumer, or history was lost. `expected..found` are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The seq that should have come next.
    pub expected: u64,
    /// The seq that came instead.
    pub found: u64,
}

/// What one [`Consumer::poll`] brought.
#[derive(Debug, Default)]
pub struct Polled {
    /// New records, in seq order (empty when the wait timed out).
    pub records: Vec<EventRecord>,
    /// Missing seqs before the first (or between two) of `records`.
    pub gaps: Vec<Gap>,
}

/// Reads the stream from where it left off.
pub struct Consumer {
    conn: RedisConn,
    stream: String,
    last_seq: u64,
    block: Duration,
    count: usize,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("stream", &self.stream)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer that will read the records after `after_seq` (0: from the
    /// oldest the stream holds). Each poll waits up to `block` for news.
    pub async fn connect(
        cfg: &BusConfig,
        after_seq: u64,
        block: Duration,
    ) -> Result<Consumer, BusError> {
        let conn = cfg.connect(block).await?;
        Ok(Consumer {
            conn,
            stream: cfg.stream.clone(),
            last_seq: after_seq,
            block,
            count: 1024,
        })
    }

    /// The last seq handed out (or given to [`connect`](Self::connect)).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The seq of the newest entry in the stream (0 if none).
    pub async fn stream_head(&mut self) -> Result<u64, BusError> {
        crate::publisher::last_in_stream(&mut self.conn, &self.stream).await
    }

    /// Waits up to the block time for records after [`last_seq`](Self::last_seq)
    /// and returns them (at most 1024), with any gap before them. The
    /// consumer moves past what it returns, gaps included.
    pub async fn poll(&mut self) -> Result<Polled, BusError> {
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(self.count)
            .arg("BLOCK")
            .arg(self.block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(format!("{}-0", self.last_seq))
            .query_async(&mut self.conn)
            .await?;
        let mut polled = Polled::default();
        let Some(reply) = reply else {
            return Ok(polled);
        };
        for key in reply.keys {
            for entry in key.ids {
                let seq = seq_of_id(&entry.id).ok_or_else(|| {
                    BusError::Decode(format!("entry id {} is not <seq>-0", entry.id))
                })?;
                let bytes = match entry.map.get("r") {
                    Some(Value::BulkString(b)) => b.as_slice(),
                    _ => {
                        return Err(BusError::Decode(format!(
                            "entry {} has no record field",
                            entry.id
                        )))
                    }
                };
                let record = EventRecord::decode(bytes)?;
                if record.seq != seq {
                    return Err(BusError::Decode(format!(
                        "entry {} carries the record of seq {}",
                        entry.id, record.seq
                    )));
                }
                if seq <= self.last_seq {
                    continue;
                }
                if seq != self.last_seq + 1 {
                    let gap = Gap {
                        expected: self.last_seq + 1,
                        found: seq,
                    };
                    tracing::warn!(stream = %self.stream, ?gap, "gap in the event stream");
                    metrics::counter!("flowex_events_gaps_total").increment(1);
                    polled.gaps.push(gap);
                }
                self.last_seq = seq;
                polled.records.push(record);
            }
        }
        Ok(polled)
    }
}
