//! Events between FlowEx processes (distributed mode).
//!
//! In one process (`flowex up`) consumers subscribe to the sequencer
//! directly ([`flowex_sequencer::SequencerHandle::subscribe`]). Between
//! processes the trading service publishes the same durable batches to a
//! Redis stream, and the other services read it:
//!
//! ```text
//! trading: sequencer ──subscribe──► Publisher ──XADD <seq>-0──► Redis stream `flowex:events`
//!             │ journal (source of truth)                          │
//!             └──── read_from(last published + 1) on (re)start ────┘
//! market-data / wallet / projector: Consumer ──XREAD after <last seq>-0──► records, gaps
//! ```
//!
//! Every projection (trading's order history, the wallet's ledger, market
//! data's view) is one [`Projection`] on the one [`Follower`], whose
//! [`Source`] is the sequencer in process, the Redis stream, or the journal
//! alone; configuration reaches projections only through the events and
//! the state they start from ([`Catalog`]), never from the live engine.
//!
//! # The stream
//!
//! One entry per journaled command. Its id is `<seq>-0`, the command's
//! journal sequence number, so the stream is ordered and keyed exactly as
//! the journal; its one field `r` holds an [`EventRecord`] (seq, time,
//! the command's events) encoded by [`EventRecord::encode`] (a version byte,
//! then postcard). The stream is capped with `XADD … MAXLEN ~ N`
//! ([`BusConfig::max_len`]): it is a bounded window for consumers to catch
//! up from, not an archive — the journal is the archive.
//!
//! # Publishing: gap-free, no duplicates ([`run_publisher`])
//!
//! Each cycle of the publisher subscribes to the sequencer, reads the last
//! id in the stream (`XREVRANGE … COUNT 1`), regenerates the events of every
//! command between that and the sequencer's durable seq from the journal
//! ([`regenerate`]: snapshot + replay up to the last published seq, then
//! apply the rest collecting events; the engine is deterministic, so they
//! are the events the live engine produced), then publishes the live
//! batches, skipping what was already published. Any failure — Redis down,
//! the subscription dropped for lagging, a pipeline cut half way — ends the
//! cycle; the next one starts over from what Redis actually holds. So a
//! restart of trading, a Redis outage or a slow Redis never leaves a gap or
//! a duplicate in the stream, and nothing waits on Redis: the engine never
//! stalls for a publisher (a lagging subscriber is dropped, then catches up
//! from the journal).
//!
//! The stream may be *ahead* of the journal only if the two belong to
//! different histories (a wiped data directory with the old stream kept):
//! the publisher then refuses to publish and reports it
//! ([`BusError::StreamAhead`]) instead of mixing two histories.
//!
//! # Consuming ([`Consumer`])
//!
//! A consumer remembers the last seq it processed and reads entries after
//! it (`XREAD BLOCK … STREAMS key <seq>-0`), so a restart resumes where it
//! stopped. Seqs are consecutive: a record whose seq is not the previous +
//! 1 (the stream was trimmed past the consumer, or history was lost) is
//! reported as a [`Gap`] with the batch, for the consumer to rebuild its
//! state from a snapshot rather than silently diverge.
//!
//! # Internal wire types ([`wire`])
//!
//! The JSON bodies of the trading service's internal API (commands from the
//! wallet, balance reads) live here too, so that both ends share one type.

mod catalog;
mod consumer;
pub mod follow;
mod publisher;
mod record;
mod regenerate;
pub mod wire;

pub use catalog::{Catalog, CatalogError, MarketAssets};
pub use consumer::{Consumer, Gap, Polled};
pub use flowex_redis::{RedisConn, RedisConnector};
pub use follow::{
    Ended, EventTally, FollowError, FollowReport, FollowStatus, Follower, Projection, Source,
    Start, StartContext,
};
pub use publisher::{run_publisher, PublisherStatus};
pub use record::EventRecord;
pub use regenerate::{engine_at, regenerate};

use std::sync::Arc;
use std::time::Duration;

/// The default stream name.
pub const DEFAULT_STREAM: &str = "flowex:events";
/// Default cap on the stream's length (entries, approximate).
pub const DEFAULT_MAX_LEN: u64 = 1_000_000;

/// Where the events go.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// `redis://host:6379/0` or a Sentinel group
    /// (`redis+sentinel://host:26379,…/MASTER/0`, [`flowex_redis`]).
    pub redis_url: String,
    /// Stream key (default [`DEFAULT_STREAM`]).
    pub stream: String,
    /// `MAXLEN ~` of every `XADD` (default [`DEFAULT_MAX_LEN`]).
    pub max_len: u64,
    /// Bound on each Redis command and connection attempt (default 2 s).
    pub timeout: Duration,
}

impl BusConfig {
    /// Defaults for `redis_url`.
    pub fn new(redis_url: &str) -> Self {
        BusConfig {
            redis_url: redis_url.to_string(),
            stream: DEFAULT_STREAM.to_string(),
            max_len: DEFAULT_MAX_LEN,
            timeout: Duration::from_secs(2),
        }
    }

    /// A connection that reconnects by itself; `extra` is added to the
    /// response timeout (for blocking reads).
    pub(crate) async fn connect(&self, extra: Duration) -> Result<RedisConn, BusError> {
        let connector = RedisConnector::new(&self.redis_url, self.timeout)
            .map_err(BusError::Config)?
            .with_extra_response_time(self.timeout, extra);
        Ok(Arc::new(connector).connect().await?)
    }

    /// One `PING` (readiness checks).
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.connect(Duration::ZERO).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// What can go wrong between the sequencer, the journal and Redis.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis refused or did not answer.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A bad `redis_url`.
    #[error("redis_url: {0}")]
    Config(String),
    /// The sequencer refused a subscription or stopped.
    #[error("sequencer: {0}")]
    Sequencer(#[from] flowex_sequencer::SequencerError),
    /// The subscription fell behind and was dropped (resumed from the journal).
    #[error("the event subscription fell behind; resuming from the journal")]
    Lagged,
    /// Reading the journal back failed.
    #[error("journal: {0}")]
    Journal(#[from] flowex_journal::JournalError),
    /// A stream entry or journal record could not be decoded.
    #[error("undecodable record: {0}")]
    Decode(String),
    /// The stream holds seqs the journal does not: two histories.
    #[error(
        "the stream {stream} ends at seq {stream_seq} but the journal only at {journal_seq}: \
         they belong to different histories; refusing to publish (clear the stream, or point \
         the trading service at the data directory that wrote it)"
    )]
    StreamAhead {
        /// Stream key.
        stream: String,
        /// Last seq in the stream.
        stream_seq: u64,
        /// Last durable seq of the journal.
        journal_seq: u64,
    },
    /// Events between two seqs could not be regenerated (journal pruned).
    #[error("regenerating events: {0}")]
    Regenerate(String),
}

/// The seq of a stream entry id `<seq>-0`.
pub(crate) fn seq_of_id(id: &str) -> Option<u64> {
    let (ms, n) = id.split_once('-')?;
    (n == "0").then_some(())?;
    ms.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn entry_ids() {
        assert_eq!(super::seq_of_id("42-0"), Some(42));
        assert_eq!(super::seq_of_id("42-1"), None);
        assert_eq!(super::seq_of_id("x-0"), None);
        assert_eq!(super::seq_of_id("42"), None);
    }
}
