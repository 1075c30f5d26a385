//! The trading side: durable batches from the sequencer onto the stream.

use crate::RedisConn;
use crate::{regenerate, seq_of_id, BusConfig, BusError, EventRecord};
use flowex_sequencer::{SequencerHandle, SubscriptionEnded};
use redis::streams::StreamRangeReply;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries per Redis pipeline.
const CHUNK: usize = 512;
/// Longest wait between two attempts after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the publisher has done, for readiness checks and metrics.
#[derive(Debug, Default)]
pub struct PublisherStatus {
    published_seq: AtomicU64,
    live: AtomicBool,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl PublisherStatus {
    /// Highest seq known to be in the stream.
    pub fn published_seq(&self) -> u64 {
        self.published_seq.load(Ordering::Acquire)
    }

    /// Whether the publisher has caught up with the journal and follows
    /// the live batches (false while Redis is unreachable or it catches up).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Cycles that ended in an error so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The last error, if the publisher is not live.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_published(&self, seq: u64) {
        self.published_seq.store(seq, Ordering::Release);
        metrics::gauge!("flowex_events_published_seq").set(seq as f64);
    }
}

/// Publishes every durable batch of `handle` to the stream, gap-free and
/// without duplicates (see the crate docs), until the sequencer stops.
/// `journal_dir` is the sequencer's journal, read back to fill gaps.
/// Failures are logged, counted in `status`, and retried with backoff.
pub async fn run_publisher(
    handle: SequencerHandle,
    journal_dir: PathBuf,
    cfg: BusConfig,
    status: Arc<PublisherStatus>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match cycle(&handle, &journal_dir, &cfg, &status).await {
            Ok(()) => {
                status.live.store(false, Ordering::Release);
                tracing::info!("the sequencer stopped; event publisher done");
                return;
            }
            Err(e) => {
                if status.live.swap(false, Ordering::AcqRel) {
                    backoff = Duration::from_millis(100);
                }
                status.failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("flowex_events_publisher_failures_total").increment(1);
                if matches!(e, BusError::Redis(_)) {
                    metrics::counter!("flowex_redis_errors_total", "component" => "event_publisher")
                        .increment(1);
                }
                match &e {
                    BusError::StreamAhead { .. } => tracing::error!(error = %e, "event publisher"),
                    _ => {
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "event publisher")
                    }
                }
                *status.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                if matches!(
                    e,
                    BusError::Sequencer(flowex_sequencer::SequencerError::Stopped)
                ) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One attempt: subscribe, find where the stream ends, fill the gap from
/// the journal, then follow the live batches. Returns `Ok` only when the
/// sequencer stopped.
async fn cycle(
    handle: &SequencerHandle,
    journal_dir: &std::path::Path,
    cfg: &BusConfig,
    status: &PublisherStatus,
) -> Result<(), BusError> {
    // Subscribe first: every batch made durable after this point arrives
    // here, every one before it is at or below `durable` (the sequencer
    // stores the durable seq before it hands the batch to subscribers).
    let mut sub = handle.subscribe()?;
    let mut conn = cfg.connect(Duration::ZERO).await?;
    let mut last = last_in_stream(&mut conn, &cfg.stream).await?;
    let durable = handle.stats().durable_seq;
    if last > durable {
        return Err(BusError::StreamAhead {
            stream: cfg.stream.clone(),
            stream_seq: last,
            journal_seq: durable,
        });
    }
    status.set_published(last);
    if last < durable {
        // What the stream could not hold anyway is not regenerated.
        let from = (last + 1).max(durable.saturating_sub(cfg.max_len) + 1);
        tracing::info!(
            from,
            to = durable,
            "publishing the events the stream is missing, from the journal"
        );
        catch_up(
            &mut conn,
            cfg,
            journal_dir,
            from,
            durable,
            &mut last,
            status,
        )
        .await?;
    }
    status.live.store(true, Ordering::Release);
    *status.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    loop {
        let batch = match sub.recv().await {
            Ok(b) => b,
            Err(SubscriptionEnded::Stopped) => return Ok(()),
            Err(SubscriptionEnded::Lagged) => return Err(BusError::Lagged),
        };
        if batch.last_seq() <= last {
            continue;
        }
        if batch.first_seq() > last + 1 {
            return Err(BusError::Regenerate(format!(
                "live batch starts at seq {} after {last}",
                batch.first_seq()
            )));
        }
        let records: Vec<EventRecord> = EventRecord::from_batch(&batch)
            .filter(|r| r.seq > last)
            .collect();
        publish(&mut conn, cfg, &records, &mut last, status).await?;
    }
}

/// Regenerates `from..=to` on a blocking thread and publishes it in chunks.
async fn catch_up(
    conn: &mut RedisConn,
    cfg: &BusConfig,
    journal_dir: &std::path::Path,
    from: u64,
    to: u64,
    last: &mut u64,
    status: &PublisherStatus,
) -> Result<(), BusError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<EventRecord>>(4);
    let dir = journal_dir.to_path_buf();
    let job = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let result = regenerate(&dir, from, to, |r| {
            chunk.push(r);
            chunk.len() < CHUNK || tx.blocking_send(std::mem::take(&mut chunk)).is_ok()
        });
        if result.is_ok() && !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
        result
    });
    let mut published = Ok(());
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = publish(conn, cfg, &chunk, last, status).await {
            published = Err(e);
            break;
        }
    }
    drop(rx);
    let regenerated = job
        .await
        .map_err(|e| BusError::Regenerate(format!("the regenerating thread failed: {e}")))?;
    published?;
    regenerated?;
    if *last < to {
        return Err(BusError::Regenerate(format!(
            "caught up only to seq {last} of {to}"
        )));
    }
    Ok(())
}

/// `XADD <stream> MAXLEN ~ N <seq>-0 r <record>` for every record after
/// `last`, pipelined; advances `last`.
async fn publish(
    conn: &mut RedisConn,
    cfg: &BusConfig,
    records: &[EventRecord],
    last: &mut u64,
    status: &PublisherStatus,
) -> Result<(), BusError> {
    for chunk in records.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        let mut top = *last;
        let mut n = 0u64;
        for r in chunk.iter().filter(|r| r.seq > *last) {
            pipe.cmd("XADD")
                .arg(&cfg.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(cfg.max_len)
                .arg(format!("{}-0", r.seq))
                .arg("r")
                .arg(r.encode())
                .ignore();
            top = r.seq;
            n += 1;
        }
        if top == *last {
            continue;
        }
        pipe.query_async::<()>(conn).await?;
        metrics::counter!("flowex_events_published_total").increment(n);
        *last = top;
        status.set_published(top);
    }
    Ok(())
}

/// The seq of the newest entry of the stream (0 when empty or absent).
pub(crate) async fn last_in_stream(conn: &mut RedisConn, stream: &str) -> Result<u64, BusError> {
    let reply: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    match reply.ids.first() {
        None => Ok(0),
        Some(entry) => seq_of_id(&entry.id).ok_or_else(|| {
            BusError::Decode(format!(
                "stream {stream} holds entry {} that is not <seq>-0",
                entry.id
            ))
        }),
    }
}
